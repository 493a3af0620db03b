//! The web pages: the live map (`/`), a region's page (`/region/{region}`), history playback
//! (`/history`) and the issuer console (`/console`), with their scripts and styles. Everything
//! is embedded in the binary and served from memory with an ETag; scripts and styles are
//! linked with a content hash so a browser may keep them for a year. No CDN, no tiles.

mod map;
pub(crate) mod whoami;

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Value, json};
use tryvoga_core::{Level, Registry, Status};

use crate::app::SharedApp;

/// The routes of the pages and of `GET /api/v1/whoami`, to merge into the API router.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/region/{region}", get(region))
        .route("/history", get(history))
        .route("/console", get(console))
        .route("/static/regions.json", get(regions))
        .route("/static/{file}", get(asset))
        .route("/favicon.ico", get(favicon))
        .route("/api/v1/whoami", get(whoami::whoami))
}

pub struct Asset {
    pub body: Bytes,
    pub content_type: &'static str,
    pub etag: String,
}

impl Asset {
    fn new(body: impl Into<Bytes>, content_type: &'static str) -> Asset {
        let body = body.into();
        let etag = format!("\"{:016x}\"", fnv1a(&body));
        Asset {
            body,
            content_type,
            etag,
        }
    }

    /// The hash that versions the asset's URL.
    fn version(&self) -> &str {
        &self.etag[1..9]
    }

    fn respond(&self, headers: &HeaderMap, status: StatusCode, cache: &'static str) -> Response {
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim() == self.etag || t.trim() == "*")
            });
        let mut r = if fresh && status == StatusCode::OK {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = (status, self.body.clone()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            r
        };
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        if self.content_type.starts_with("text/html") {
            // Scripts and styles come from this server only; nothing may frame the console.
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                     script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                     base-uri 'none'; form-action 'self'",
                ),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        r
    }
}

/// FNV-1a, 64 bits: enough to tell versions of our own files apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Scripts, styles and images, by the name they have under `/static/`.
static STATIC: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    let files: [(&str, &'static str, &str); 7] = [
        ("style.css", include_str!("../../../../web/style.css"), CSS),
        ("common.js", include_str!("../../../../web/common.js"), JS),
        ("map.js", include_str!("../../../../web/map.js"), JS),
        ("region.js", include_str!("../../../../web/region.js"), JS),
        ("history.js", include_str!("../../../../web/history.js"), JS),
        ("console.js", include_str!("../../../../web/console.js"), JS),
        (
            "favicon.svg",
            include_str!("../../../../web/favicon.svg"),
            SVG,
        ),
    ];
    files
        .into_iter()
        .map(|(name, body, ct)| (name, Asset::new(body, ct)))
        .collect()
});

/// The HTML pages, with the map inlined and every `/static/` link versioned.
static PAGES: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    let svg = map::svg();
    let pages: [(&str, &str); 4] = [
        ("index", include_str!("../../../../web/index.html")),
        ("region", include_str!("../../../../web/region.html")),
        ("history", include_str!("../../../../web/history.html")),
        ("console", include_str!("../../../../web/console.html")),
    ];
    pages
        .into_iter()
        .map(|(name, template)| (name, Asset::new(render(template, &svg), HTML)))
        .collect()
});

fn render(template: &str, svg: &str) -> String {
    let mut html = template.replace("<!--MAP-->", svg);
    for (name, asset) in STATIC.iter() {
        html = html.replace(
            &format!("\"/static/{name}\""),
            &format!("\"/static/{name}?v={}\"", asset.version()),
        );
    }
    html
}

const PAGE_CACHE: &str = "no-cache";
const VERSIONED: &str = "public, max-age=31536000, immutable";

fn page(name: &str, headers: &HeaderMap, status: StatusCode) -> Response {
    match PAGES.get(name) {
        Some(a) => a.respond(headers, status, PAGE_CACHE),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The map page with the status of the moment already drawn in, so the first paint is right
/// (and a browser without JavaScript still sees which oblasts are under alert); the script
/// then follows the stream from the same position.
async fn index(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
    let Some(base) = PAGES.get("index") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let state = app.store.state();
    let statuses = state.statuses(app.registry, |_| true);
    let mut html = String::from_utf8_lossy(&base.body).into_owned();
    for oblast in app.registry.oblasts() {
        let Some(&(status, level)) = statuses.get(&oblast.id) else {
            continue;
        };
        let word = match status {
            Status::Active => "active",
            Status::Partial => "partial",
            Status::None => continue,
        };
        // An alert without a level is drawn as red, as the script does.
        let level = level.map_or("red", |l| l.as_str());
        html = html.replacen(
            &format!("data-region=\"{}\" data-status=\"none\"", oblast.id),
            &format!(
                "data-region=\"{}\" data-status=\"{word}\" data-level=\"{level}\"",
                oblast.id
            ),
            1,
        );
    }
    let mut page = Asset::new(html, HTML);
    page.etag = format!("\"{}-{}\"", &base.etag[1..17], state.last_seq());
    page.respond(&headers, StatusCode::OK, PAGE_CACHE)
}

async fn history(headers: HeaderMap) -> Response {
    page("history", &headers, StatusCode::OK)
}

async fn console(headers: HeaderMap) -> Response {
    page("console", &headers, StatusCode::OK)
}

/// A region's page. The region may be named as the API accepts it; an unknown one still gets
/// the page (which says so) with a 404 status.
async fn region(
    State(app): State<SharedApp>,
    Path(region): Path<String>,
    headers: HeaderMap,
) -> Response {
    let status = if app.registry.resolve(&region).is_ok() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    page("region", &headers, status)
}

async fn asset(Path(file): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    match STATIC.get(file.as_str()) {
        Some(a) => {
            let versioned = q.is_some_and(|q| q.contains(&format!("v={}", a.version())));
            a.respond(
                &headers,
                StatusCode::OK,
                if versioned { VERSIONED } else { PAGE_CACHE },
            )
        }
        None => {
            crate::error::ApiError::not_found(format!("no file /static/{file}")).into_response()
        }
    }
}

async fn favicon(headers: HeaderMap) -> Response {
    STATIC["favicon.svg"].respond(&headers, StatusCode::OK, "public, max-age=86400")
}

/// Every region as `[id, level, parent, name_uk, name_en]` (level `o`, `r` or `h`): what the
/// console needs to search and count regions, at a third of the size of `/api/v1/regions`.
async fn regions(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
    static COMPACT: OnceLock<Asset> = OnceLock::new();
    COMPACT
        .get_or_init(|| Asset::new(compact_regions(app.registry), "application/json"))
        .respond(&headers, StatusCode::OK, PAGE_CACHE)
}

fn compact_regions(registry: &Registry) -> Vec<u8> {
    let rows: Vec<Value> = registry
        .regions()
        .map(|r| {
            let level = match r.level {
                Level::Oblast => "o",
                Level::Raion => "r",
                Level::Hromada => "h",
            };
            json!([r.id, level, r.parent, r.name_uk, r.name_en])
        })
        .collect();
    serde_json::to_vec(&json!({ "regions": rows })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_link_versioned_assets_and_carry_the_map() {
        for name in ["index", "history", "console"] {
            let html = std::str::from_utf8(&PAGES[name].body).unwrap().to_string();
            assert!(html.contains("data-region=\"14\""), "{name} has no map");
            assert!(html.contains("/static/common.js?v="), "{name}");
            assert!(!html.contains("<!--MAP-->"));
        }
        let index = &PAGES["index"].body;
        assert!(
            String::from_utf8_lossy(index).contains("OpenStreetMap"),
            "the map page credits OSM"
        );
        let total: usize = index.len()
            + ["style.css", "common.js", "map.js", "favicon.svg"]
                .iter()
                .map(|n| STATIC[n].body.len())
                .sum::<usize>();
        assert!(total < 300_000, "map page is {total} bytes");
    }

    #[test]
    fn compact_regions_cover_the_registry() {
        let registry = Registry::embedded();
        let v: Value = serde_json::from_slice(&compact_regions(registry)).unwrap();
        assert_eq!(v["regions"].as_array().unwrap().len(), registry.len());
    }
}
