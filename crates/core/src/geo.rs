//! Where regions lie: the centroid of every oblast (and the cities Kyiv and Sevastopol),
//! computed once from the embedded boundaries (`data/oblasts.geojson`, ODbL, OpenStreetMap), a
//! raion's or hromada's taken from its oblast, and the great-circle distance between two
//! regions. Only estimates are built on this (a threat's arrival window): a centroid is not where
//! a drone or missile will arrive.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::region::{RegionId, Registry};

static GEOJSON: &str = include_str!("../../../data/oblasts.geojson");

/// Mean Earth radius, km (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0;

#[derive(Deserialize)]
struct Doc {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    properties: Props,
    geometry: Geometry,
}

#[derive(Deserialize)]
struct Props {
    id: u32,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "coordinates")]
enum Geometry {
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

/// A point as (longitude, latitude) in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lon: f64,
    pub lat: f64,
}

static CENTROIDS: LazyLock<HashMap<RegionId, Point>> = LazyLock::new(|| {
    // The embedded file is checked by a test, so an empty table here is a build defect that the
    // test names; at run time it only means no estimates.
    let Ok(doc) = serde_json::from_str::<Doc>(GEOJSON) else {
        return HashMap::new();
    };
    doc.features
        .into_iter()
        .filter_map(|f| {
            let rings: Vec<Vec<[f64; 2]>> = match f.geometry {
                Geometry::Polygon(mut p) => p.drain(..1).collect(),
                Geometry::MultiPolygon(ps) => ps
                    .into_iter()
                    .filter_map(|mut p| (!p.is_empty()).then(|| p.swap_remove(0)))
                    .collect(),
            };
            centroid(&rings).map(|c| (RegionId(f.properties.id), c))
        })
        .collect()
});

/// The area-weighted centroid of outer rings, in the plane of longitude and latitude (the error
/// of that at Ukraine's size is a few kilometres, far below what the estimate can promise).
fn centroid(rings: &[Vec<[f64; 2]>]) -> Option<Point> {
    let (mut area, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for ring in rings {
        for w in ring.windows(2) {
            let ([x0, y0], [x1, y1]) = (w[0], w[1]);
            let cross = x0 * y1 - x1 * y0;
            area += cross;
            cx += (x0 + x1) * cross;
            cy += (y0 + y1) * cross;
        }
    }
    if area.abs() < 1e-12 {
        return None;
    }
    Some(Point {
        lon: cx / (3.0 * area),
        lat: cy / (3.0 * area),
    })
}

/// The centroid of a region's oblast (the region's own for an oblast or a city of that level).
pub fn centroid_of(registry: &Registry, region: RegionId) -> Option<Point> {
    let oblast = registry.get(region)?.oblast;
    CENTROIDS
        .get(&region)
        .or_else(|| CENTROIDS.get(&oblast))
        .copied()
}

/// Great-circle distance (haversine), km.
pub fn distance_km(a: Point, b: Point) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
}

/// The distance between two regions' centroids, km; `None` where either has no geometry.
pub fn region_distance_km(registry: &Registry, a: RegionId, b: RegionId) -> Option<f64> {
    Some(distance_km(
        centroid_of(registry, a)?,
        centroid_of(registry, b)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oblast_has_a_centroid_and_distances_are_plausible() {
        let registry = Registry::embedded();
        for o in registry.oblasts() {
            assert!(centroid_of(registry, o.id).is_some(), "{}", o.name_en);
        }
        let id = |n: &str| registry.resolve(n).unwrap().id;
        // Chernihiv Oblast's centroid to Kyiv Oblast's: about 130 km; Kyiv to Lviv about 470.
        let d = region_distance_km(registry, id("Чернігівська область"), id("Київська область"))
            .unwrap();
        assert!((80.0..200.0).contains(&d), "{d}");
        let d = region_distance_km(registry, id("Київ"), id("Львівська область")).unwrap();
        assert!((400.0..560.0).contains(&d), "{d}");
    }
}
