//! Launched against destroyed, night by night: two bars side by side per night, so that the
//! gap between them (what got through, or was lost to electronic warfare) reads at a glance.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{ChartError, FAMILY, INK, draw_error};

/// One night's totals over every weapon class.
#[derive(Debug, Clone, PartialEq)]
pub struct NightBar {
    /// The Kyiv date the night began, e.g. `2024-11-13`.
    pub label: String,
    pub launched: f64,
    pub destroyed: f64,
}

const LAUNCHED: RGBColor = RGBColor(120, 120, 130);
const DESTROYED: RGBColor = RGBColor(30, 90, 170);

pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    nights: &[NightBar],
) -> Result<(), ChartError> {
    if nights.is_empty() {
        return Err(ChartError::Empty("no reports in the period".into()));
    }
    let n = nights.len();
    let max = nights
        .iter()
        .map(|b| b.launched.max(b.destroyed))
        .fold(0.0, f64::max);
    let top = if max > 0.0 { max * 1.08 } else { 1.0 };
    // Dates need about 70 px: label every k-th night so that they never overlap.
    let every = n.div_ceil(12).max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20).into_font().color(&INK))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..top)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < n && i % every == 0 => nights[*i].label.clone(),
            _ => String::new(),
        })
        .y_desc("weapons")
        .label_style((FAMILY, 12).into_font().color(&INK))
        .draw()
        .map_err(draw_error)?;
    // Each night's slot holds the two bars side by side: margins in pixels split it in half.
    // A segmented 0..n axis has n + 1 slots (the last one closes the axis).
    let slot = chart.plotting_area().dim_in_pixel().0 as usize / (n + 1);
    let half = (slot / 2) as u32;
    let gap = (slot / 8).clamp(1, 12) as u32;
    let bar = |i: usize, left: bool, value: f64, colour: RGBColor| {
        let mut r = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), value),
            ],
            colour.filled(),
        );
        if left {
            r.set_margin(0, 0, gap, half);
        } else {
            r.set_margin(0, 0, half, gap);
        }
        r
    };
    chart
        .draw_series(
            nights
                .iter()
                .enumerate()
                .map(|(i, b)| bar(i, true, b.launched, LAUNCHED)),
        )
        .map_err(draw_error)?
        .label("launched")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], LAUNCHED.filled()));
    chart
        .draw_series(
            nights
                .iter()
                .enumerate()
                .map(|(i, b)| bar(i, false, b.destroyed, DESTROYED)),
        )
        .map_err(draw_error)?
        .label("destroyed")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], DESTROYED.filled()));
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

#[cfg(test)]
mod tests {
    use crate::{Chart, Format, NightBar, render};

    #[test]
    fn nights_render_with_their_dates() {
        let chart = Chart::Nights {
            title: "Launched and destroyed per night".into(),
            nights: (1..=5)
                .map(|d| NightBar {
                    label: format!("2024-11-{d:02}"),
                    launched: 40.0 + d as f64,
                    destroyed: 30.0,
                })
                .collect(),
        };
        let svg = String::from_utf8(render(&chart, Format::Svg).unwrap()).unwrap();
        assert!(svg.contains("2024-11-01"), "dates are labelled");
        assert!(svg.contains("launched"));
        let png = render(&chart, Format::Png).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        let empty = Chart::Nights {
            title: "x".into(),
            nights: Vec::new(),
        };
        assert!(render(&empty, Format::Svg).is_err());
    }
}
