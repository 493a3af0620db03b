//! The oblast map as inline SVG, projected once from `data/oblasts.geojson` (embedded): every
//! top-level unit is one `<path data-region data-status>` so pages can colour it without a
//! map library, tiles or a network beyond this server.

use std::fmt::Write;

use serde_json::Value;

/// The boundaries, © OpenStreetMap contributors, ODbL 1.0 (see data/SOURCES.md).
pub const GEOJSON: &str = include_str!("../../../../data/oblasts.geojson");

/// Width of the SVG viewBox; the height follows from the projection.
const WIDTH: f64 = 1000.0;
const PAD: f64 = 8.0;

/// Cities drawn last, over the oblasts that surround them.
const ON_TOP: &[u64] = &[31, 30];

struct Feature {
    id: u64,
    iso: String,
    name_uk: String,
    name_en: String,
    /// Polygons, each a list of rings of (lon, lat).
    polygons: Vec<Vec<Vec<(f64, f64)>>>,
}

fn ring(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .map(|pts| {
            pts.iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn polygon(v: &Value) -> Vec<Vec<(f64, f64)>> {
    v.as_array()
        .map(|rings| rings.iter().map(ring).collect())
        .unwrap_or_default()
}

fn features(geojson: &str) -> Vec<Feature> {
    let doc: Value = serde_json::from_str(geojson).expect("embedded oblasts.geojson is JSON");
    let mut out = Vec::new();
    for f in doc["features"].as_array().into_iter().flatten() {
        let p = &f["properties"];
        let g = &f["geometry"];
        let polygons = match g["type"].as_str() {
            Some("Polygon") => vec![polygon(&g["coordinates"])],
            Some("MultiPolygon") => g["coordinates"]
                .as_array()
                .map(|ps| ps.iter().map(polygon).collect())
                .unwrap_or_default(),
            _ => continue,
        };
        let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        out.push(Feature {
            id: p["id"].as_u64().unwrap_or_default(),
            iso: text("iso"),
            name_uk: text("name_uk"),
            name_en: text("name_en"),
            polygons,
        });
    }
    out.sort_by_key(|f| (ON_TOP.contains(&f.id), f.id));
    out
}

/// An equirectangular projection scaled by the cosine of the middle latitude: at Ukraine's
/// size and latitude the shapes come out as people know them.
struct Projection {
    lon0: f64,
    lat1: f64,
    kx: f64,
    k: f64,
    height: f64,
}

impl Projection {
    fn fit(features: &[Feature]) -> Projection {
        let (mut lon0, mut lon1, mut lat0, mut lat1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (lon, lat) in features
            .iter()
            .flat_map(|f| f.polygons.iter().flatten().flatten())
        {
            lon0 = lon0.min(*lon);
            lon1 = lon1.max(*lon);
            lat0 = lat0.min(*lat);
            lat1 = lat1.max(*lat);
        }
        let kx = ((lat0 + lat1) / 2.0).to_radians().cos();
        let k = (WIDTH - 2.0 * PAD) / ((lon1 - lon0) * kx);
        let height = (lat1 - lat0) * k + 2.0 * PAD;
        Projection {
            lon0,
            lat1,
            kx,
            k,
            height,
        }
    }

    fn xy(&self, (lon, lat): (f64, f64)) -> (f64, f64) {
        (
            PAD + (lon - self.lon0) * self.kx * self.k,
            PAD + (self.lat1 - lat) * self.k,
        )
    }
}

fn num(out: &mut String, v: f64) {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        let _ = write!(out, "{}", r as i64);
    } else {
        let _ = write!(out, "{r:.1}");
    }
}

fn path_data(p: &Projection, f: &Feature) -> String {
    let mut d = String::new();
    for rings in &f.polygons {
        for ring in rings {
            let mut last = None;
            for (i, &pt) in ring.iter().enumerate() {
                let (x, y) = p.xy(pt);
                let key = ((x * 10.0).round() as i64, (y * 10.0).round() as i64);
                if last == Some(key) {
                    continue;
                }
                last = Some(key);
                d.push(if i == 0 { 'M' } else { ' ' });
                num(&mut d, x);
                d.push(' ');
                num(&mut d, y);
            }
            d.push('Z');
        }
    }
    d
}

/// Where a label goes: the area centroid of the largest ring.
fn label_point(p: &Projection, f: &Feature) -> (f64, f64) {
    let mut best = (0.0, (0.0, 0.0));
    for ring in f.polygons.iter().filter_map(|rings| rings.first()) {
        let pts: Vec<(f64, f64)> = ring.iter().map(|&q| p.xy(q)).collect();
        let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
        for w in pts.windows(2) {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            let c = x0 * y1 - x1 * y0;
            a += c;
            cx += (x0 + x1) * c;
            cy += (y0 + y1) * c;
        }
        if a.abs() > best.0 {
            best = (a.abs(), (cx / (3.0 * a), cy / (3.0 * a)));
        }
    }
    best.1
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The `<svg>` element: hatch patterns for `partial`, one path per region, and labels.
pub fn svg() -> String {
    let features = features(GEOJSON);
    let p = Projection::fit(&features);
    let h = p.height.ceil();
    let mut out = String::with_capacity(GEOJSON.len());
    let _ = write!(
        out,
        "<svg id=\"map\" class=\"map\" viewBox=\"0 0 {WIDTH} {h}\" role=\"group\" \
         aria-labelledby=\"map-title\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"map-title\">Мапа тривог / Alert map</title><defs>"
    );
    for (name, colour) in [
        ("hatch", "#d32f2f"),
        ("hatch-red", "#d32f2f"),
        ("hatch-yellow", "#e0a100"),
        ("hatch-sel", "#1565c0"),
    ] {
        let _ = write!(
            out,
            "<pattern id=\"{name}\" width=\"9\" height=\"9\" patternUnits=\"userSpaceOnUse\" \
             patternTransform=\"rotate(45)\"><rect width=\"9\" height=\"9\" fill=\"#fbe9e7\"/>\
             <rect width=\"4\" height=\"9\" fill=\"{colour}\"/></pattern>"
        );
    }
    out.push_str("</defs><g class=\"regions\">");
    for f in &features {
        let _ = write!(
            out,
            "<path class=\"rg\" data-region=\"{id}\" data-status=\"none\" data-iso=\"{iso}\" \
             data-name-uk=\"{uk}\" data-name-en=\"{en}\" tabindex=\"0\" aria-label=\"{uk}\" \
             d=\"{d}\"/>",
            id = f.id,
            iso = escape(&f.iso),
            uk = escape(&f.name_uk),
            en = escape(&f.name_en),
            d = path_data(&p, f),
        );
    }
    out.push_str("</g><g class=\"labels\" aria-hidden=\"true\">");
    for f in &features {
        // Sevastopol is too small to carry a label; Kyiv's sits just beside the city.
        if f.id == 30 {
            continue;
        }
        let (mut x, mut y) = label_point(&p, f);
        if f.id == 14 {
            y += 28.0;
        }
        if f.id == 31 {
            x += 4.0;
            y -= 8.0;
        }
        out.push_str("<text class=\"lbl\" data-for=\"");
        let _ = write!(out, "{}\" x=\"", f.id);
        num(&mut out, x);
        out.push_str("\" y=\"");
        num(&mut out, y);
        let _ = write!(out, "\">{}</text>", escape(&short_uk(&f.name_uk)));
    }
    out.push_str("</g></svg>");
    out
}

/// "Київська область" → "Київська", "м. Севастополь" → "Севастополь" (Kyiv city keeps "м."), "Автономна Республіка Крим" → "Крим".
fn short_uk(name: &str) -> String {
    if name.starts_with("м. Київ") {
        return name.to_string();
    }
    let n = name.trim_start_matches("м. ").trim_end_matches(" область");
    n.strip_prefix("Автономна Республіка ")
        .unwrap_or(n)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_is_drawn_once_with_its_attributes() {
        let s = svg();
        assert_eq!(s.matches("<path class=\"rg\"").count(), 27);
        for id in [3, 14, 29, 30, 31] {
            assert_eq!(s.matches(&format!("data-region=\"{id}\"")).count(), 1);
        }
        assert!(s.matches("data-status=\"none\"").count() == 27);
        assert!(!s.contains("NaN"));
        // Kyiv city is drawn after (over) Kyiv Oblast.
        assert!(s.find("data-region=\"31\"") > s.find("data-region=\"14\""));
        assert!(s.len() < 60_000, "map is {} bytes", s.len());
    }

    #[test]
    fn projection_keeps_ukraine_inside_the_viewbox() {
        let f = features(GEOJSON);
        let p = Projection::fit(&f);
        for pt in f.iter().flat_map(|f| f.polygons.iter().flatten().flatten()) {
            let (x, y) = p.xy(*pt);
            assert!((0.0..=WIDTH).contains(&x) && (0.0..=p.height).contains(&y));
        }
        assert!(p.height > 500.0 && p.height < 800.0);
    }
}
