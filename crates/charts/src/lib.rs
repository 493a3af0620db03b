//! Charts of the alert record, drawn the same way for the command line (SVG or PNG files) and
//! the server (SVG for the web pages): hours under alert per month for a region, a heat map of
//! alert starts by weekday and hour, and oblasts ranked by hours under alert.
//!
//! The figures come from `tryvoga_core::stats`; this crate only draws. Text is laid out with
//! DejaVu Sans, compiled in (fonts/, Bitstream Vera licence), so that a PNG renders the same on
//! a machine with no fonts installed and no network.

mod nights;

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChartError {
    #[error("the chart could not be drawn: {0}")]
    Draw(String),
    #[error("the bundled font could not be loaded")]
    Font,
    #[error("{0}")]
    Empty(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// The format a file name asks for by its extension.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Svg => "image/svg+xml",
            Format::Png => "image/png",
        }
    }
}

/// A bar split in time the whole region was under alert and time only part of it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub hours: f64,
    pub partial_hours: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Hours under alert per month (bars in time order).
    Monthly { title: String, months: Vec<Bar> },
    /// Alert starts by weekday (rows, Monday first) and hour of day (columns), Kyiv time.
    Heatmap {
        title: String,
        counts: Vec<Vec<u64>>,
    },
    /// Regions ranked by hours under alert, largest first.
    Ranking { title: String, bars: Vec<Bar> },
    /// Weapons launched and destroyed per night, in date order.
    Nights {
        title: String,
        nights: Vec<nights::NightBar>,
    },
}

pub use nights::NightBar;

const WIDTH: u32 = 960;
const WHOLE: RGBColor = RGBColor(196, 30, 36);
const PART: RGBColor = RGBColor(242, 164, 120);
const INK: RGBColor = RGBColor(40, 40, 40);
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Chart {
    fn size(&self) -> (u32, u32) {
        match self {
            Chart::Monthly { .. } => (WIDTH, 480),
            Chart::Heatmap { .. } => (WIDTH, 400),
            Chart::Ranking { bars, .. } => (WIDTH, 90 + 24 * bars.len().max(1) as u32),
            Chart::Nights { .. } => (WIDTH, 480),
        }
    }
}

/// Draws a chart as SVG text or PNG bytes.
pub fn render(chart: &Chart, format: Format) -> Result<Vec<u8>, ChartError> {
    font()?;
    let (w, h) = chart.size();
    match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                draw(&root, chart)?;
                root.present().map_err(draw_error)?;
            }
            Ok(svg.into_bytes())
        }
        Format::Png => {
            let mut pixels = vec![0u8; (w * h * 3) as usize];
            {
                let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
                draw(&root, chart)?;
                root.present().map_err(draw_error)?;
            }
            encode_png(&pixels, w, h)
        }
    }
}

fn font() -> Result<(), ChartError> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let ok = *LOADED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

fn draw_error<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError::Draw(format!("{e:?}"))
}

fn encode_png(pixels: &[u8], w: u32, h: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(draw_error)?;
        writer.write_image_data(pixels).map_err(draw_error)?;
    }
    Ok(out)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> Result<(), ChartError> {
    root.fill(&WHITE).map_err(draw_error)?;
    match chart {
        Chart::Monthly { title, months } => monthly(root, title, months),
        Chart::Heatmap { title, counts } => heatmap(root, title, counts),
        Chart::Ranking { title, bars } => ranking(root, title, bars),
        Chart::Nights { title, nights } => nights::draw(root, title, nights),
    }
}

/// A scale's top: a little above the largest value, never zero.
fn top(bars: &[Bar]) -> f64 {
    let max = bars
        .iter()
        .map(|b| b.hours + b.partial_hours)
        .fold(0.0, f64::max);
    if max > 0.0 { max * 1.08 } else { 1.0 }
}

fn monthly<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    months: &[Bar],
) -> Result<(), ChartError> {
    if months.is_empty() {
        return Err(ChartError::Empty("no months in the period".into()));
    }
    let n = months.len();
    // Month names need about 50 px: label every k-th month so that they never overlap.
    let every = n.div_ceil(16).max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20).into_font().color(&INK))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..top(months))
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < n && i % every == 0 => months[*i].label.clone(),
            _ => String::new(),
        })
        .y_desc("hours under alert")
        .label_style((FAMILY, 12).into_font().color(&INK))
        .draw()
        .map_err(draw_error)?;
    chart
        .draw_series(months.iter().enumerate().flat_map(|(i, m)| {
            let x0 = || SegmentValue::Exact(i);
            let x1 = || SegmentValue::Exact(i + 1);
            let mut whole = Rectangle::new([(x0(), 0.0), (x1(), m.hours)], WHOLE.filled());
            whole.set_margin(0, 0, 2, 2);
            let mut part = Rectangle::new(
                [(x0(), m.hours), (x1(), m.hours + m.partial_hours)],
                PART.filled(),
            );
            part.set_margin(0, 0, 2, 2);
            [whole, part]
        }))
        .map_err(draw_error)?
        .label("whole region")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], WHOLE.filled()));
    chart
        .draw_series(std::iter::empty::<Rectangle<(SegmentValue<usize>, f64)>>())
        .map_err(draw_error)?
        .label("part of it")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], PART.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(INK)
        .background_style(WHITE.mix(0.9))
        .label_font((FAMILY, 12).into_font().color(&INK))
        .draw()
        .map_err(draw_error)?;
    Ok(())
}

fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    counts: &[Vec<u64>],
) -> Result<(), ChartError> {
    let max = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    let caption = format!("{title} (darkest: {max})");
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FAMILY, 20).into_font().color(&INK))
        .margin(16)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d((0..24usize).into_segmented(), (0..7usize).into_segmented())
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(24)
        .y_labels(7)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(h) if *h < 24 => format!("{h:02}"),
            _ => String::new(),
        })
        // Monday on top: row r from the bottom is weekday 6 - r.
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(r) if *r < 7 => WEEKDAYS[6 - r].to_string(),
            _ => String::new(),
        })
        .x_desc("hour of day (Kyiv)")
        .label_style((FAMILY, 12).into_font().color(&INK))
        .draw()
        .map_err(draw_error)?;
    let mut cells = Vec::with_capacity(7 * 24);
    for (day, row) in counts.iter().enumerate().take(7) {
        for (hour, &n) in row.iter().enumerate().take(24) {
            let t = n as f64 / max as f64;
            // From near-white to the alert red, by the share of the busiest cell.
            let mix = |lo: u8, hi: u8| (lo as f64 + (hi as f64 - lo as f64) * t).round() as u8;
            let colour = RGBColor(mix(250, WHOLE.0), mix(246, WHOLE.1), mix(240, WHOLE.2));
            let r = 6 - day;
            let mut cell = Rectangle::new(
                [
                    (SegmentValue::Exact(hour), SegmentValue::Exact(r)),
                    (SegmentValue::Exact(hour + 1), SegmentValue::Exact(r + 1)),
                ],
                colour.filled(),
            );
            cell.set_margin(1, 1, 1, 1);
            cells.push(cell);
        }
    }
    chart.draw_series(cells).map_err(draw_error)?;
    Ok(())
}

fn ranking<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bars: &[Bar],
) -> Result<(), ChartError> {
    if bars.is_empty() {
        return Err(ChartError::Empty("nothing to rank".into()));
    }
    let n = bars.len();
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20).into_font().color(&INK))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(200)
        .build_cartesian_2d(0.0..top(bars), (0..n).into_segmented())
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        // The largest on top: row r from the bottom is bar n - 1 - r.
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(r) if *r < n => bars[n - 1 - r].label.clone(),
            _ => String::new(),
        })
        .x_desc("hours under alert")
        .label_style((FAMILY, 12).into_font().color(&INK))
        .draw()
        .map_err(draw_error)?;
    chart
        .draw_series(bars.iter().enumerate().flat_map(|(i, b)| {
            let r = n - 1 - i;
            let y0 = || SegmentValue::Exact(r);
            let y1 = || SegmentValue::Exact(r + 1);
            let mut whole = Rectangle::new([(0.0, y0()), (b.hours, y1())], WHOLE.filled());
            whole.set_margin(3, 3, 0, 0);
            let mut part = Rectangle::new(
                [(b.hours, y0()), (b.hours + b.partial_hours, y1())],
                PART.filled(),
            );
            part.set_margin(3, 3, 0, 0);
            [whole, part]
        }))
        .map_err(draw_error)?
        .label("whole oblast")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], WHOLE.filled()));
    chart
        .draw_series(std::iter::empty::<Rectangle<(f64, SegmentValue<usize>)>>())
        .map_err(draw_error)?
        .label("part of it")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], PART.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(INK)
        .background_style(WHITE.mix(0.9))
        .label_font((FAMILY, 12).into_font().color(&INK))
        .draw()
        .map_err(draw_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn months() -> Vec<Bar> {
        (1..=12)
            .map(|m| Bar {
                label: format!("2023-{m:02}"),
                hours: m as f64 * 3.0,
                partial_hours: 1.5,
            })
            .collect()
    }

    #[test]
    fn every_chart_renders_as_svg_with_its_text_and_as_png() {
        let charts = [
            Chart::Monthly {
                title: "Hours under alert per month — Kyiv".into(),
                months: months(),
            },
            Chart::Heatmap {
                title: "Alert starts — Kyiv".into(),
                counts: (0..7)
                    .map(|d| (0..24).map(|h| (d * h) as u64).collect())
                    .collect(),
            },
            Chart::Ranking {
                title: "Oblasts by hours under alert".into(),
                bars: months(),
            },
        ];
        for chart in &charts {
            let svg = String::from_utf8(render(chart, Format::Svg).unwrap()).unwrap();
            assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
            assert!(svg.contains("<text"), "labels are drawn");
            let png = render(chart, Format::Png).unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        }
        let svg = String::from_utf8(render(&charts[0], Format::Svg).unwrap()).unwrap();
        assert!(svg.contains("2023-01"));
    }

    #[test]
    fn text_reaches_the_png_pixels() {
        // The same chart with and without a title differs in the title's pixels only if the
        // bundled font actually draws glyphs.
        let with = render(
            &Chart::Monthly {
                title: "Title".into(),
                months: months(),
            },
            Format::Png,
        )
        .unwrap();
        let without = render(
            &Chart::Monthly {
                title: String::new(),
                months: months(),
            },
            Format::Png,
        )
        .unwrap();
        assert_ne!(with, without);
    }

    #[test]
    fn an_empty_chart_is_an_error_not_a_panic() {
        let e = render(
            &Chart::Monthly {
                title: "x".into(),
                months: Vec::new(),
            },
            Format::Svg,
        );
        assert!(matches!(e, Err(ChartError::Empty(_))));
    }
}
