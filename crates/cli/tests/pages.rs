//! The web pages as HTTP sees them: content types, ETags and 304s, versioned assets, the map
//! inlined, unknown regions and files, and `GET /api/v1/whoami` for each role. (What the pages
//! do in a browser is tested by .ci/steps/50-browser.sh.)

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use tryvoga::server::{Options, SharedServer};
use tryvoga_core::{Actor, AlertLevel, AlertStatus, AlertType, Command, RegionId, Registry, Role};
use tryvoga_store::NewToken;

fn app() -> (tempfile::TempDir, SharedServer) {
    let dir = tempfile::tempdir().unwrap();
    let app = tryvoga::server::open(
        &dir.path().join("t.db"),
        Registry::embedded(),
        Options::default(),
    )
    .unwrap();
    (dir, app)
}

async fn get(
    app: &SharedServer,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .router()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[tokio::test]
async fn map_page_is_html_with_every_region_and_revalidates_by_etag() {
    let (_dir, app) = app();
    let (status, headers, body) = get(&app, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let html = text(&body);
    assert_eq!(html.matches("<path class=\"rg\" data-region=").count(), 27);
    assert_eq!(html.matches("data-status=\"none\"").count(), 27);
    assert!(html.contains("OpenStreetMap") && html.contains("ODbL"));
    // Nothing is loaded from elsewhere: the only URL is the SVG namespace.
    let elsewhere = html.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !elsewhere.contains("http://")
            && !elsewhere.contains("https://")
            && !elsewhere.contains("//cdn")
    );
    assert!(body.len() < 60_000, "{} bytes", body.len());

    let etag = headers[header::ETAG].to_str().unwrap().to_string();
    let (status, _, body) = get(&app, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
}

#[tokio::test]
async fn assets_are_versioned_typed_and_cached() {
    let (_dir, app) = app();
    let (_, _, body) = get(&app, "/console", &[]).await;
    let html = text(&body);
    let start = html
        .find("/static/console.js?v=")
        .expect("versioned script link");
    let link = &html[start..html[start..].find('"').unwrap() + start];
    let (status, headers, js) = get(&app, link, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(text(&js).contains("whoami"));
    // Without (or with a stale) version the file must be revalidated.
    let (_, headers, _) = get(&app, "/static/console.js?v=00000000", &[]).await;
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let (_, headers, _) = get(&app, "/static/style.css", &[]).await;
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    let (_, headers, _) = get(&app, "/favicon.ico", &[]).await;
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    let (status, _, body) = get(&app, "/static/../Cargo.toml", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{}", text(&body));
    let (status, _, body) = get(&app, "/static/nothing.js", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "not_found");
}

#[tokio::test]
async fn region_pages_and_the_compact_registry() {
    let (_dir, app) = app();
    for (uri, want) in [
        ("/region/14", StatusCode::OK),
        ("/region/UA-63", StatusCode::OK),
        ("/region/Lviv%20Oblast", StatusCode::OK),
        ("/region/nowhere-at-all", StatusCode::NOT_FOUND),
        ("/history", StatusCode::OK),
        ("/console", StatusCode::OK),
    ] {
        let (status, headers, _) = get(&app, uri, &[]).await;
        assert_eq!(status, want, "{uri}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{uri}"
        );
    }
    let (status, _, body) = get(&app, "/static/regions.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let rows = v["regions"].as_array().unwrap();
    assert_eq!(rows.len(), Registry::embedded().len());
    let kyiv = rows.iter().find(|r| r[0] == 14).unwrap();
    assert_eq!(kyiv[1], "o");
    assert_eq!(kyiv[4], "Kyiv Oblast");
}

#[tokio::test]
async fn whoami_tells_each_token_its_name_role_and_scope() {
    let (_dir, app) = app();
    let token = |name: &str, role, regions: Vec<RegionId>| {
        let app = app.clone();
        let name = name.to_string();
        async move {
            app.store
                .create_token(NewToken {
                    name,
                    role,
                    regions,
                })
                .await
                .unwrap()
                .1
        }
    };
    let issuer = token("duty-kyiv", Role::Issuer, vec![RegionId(14), RegionId(22)]).await;
    let admin = token("root", Role::Admin, vec![]).await;
    let reader = token("bot", Role::Reader, vec![]).await;

    let (status, _, body) = get(&app, "/api/v1/whoami", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", text(&body));
    let (status, _, _) = get(&app, "/api/v1/whoami", &[("authorization", "Bearer nope")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let who = |secret: String| {
        let app = app.clone();
        async move {
            let auth = format!("Bearer {secret}");
            let (status, _, body) = get(&app, "/api/v1/whoami", &[("authorization", &auth)]).await;
            assert_eq!(status, StatusCode::OK, "{}", text(&body));
            serde_json::from_slice::<Value>(&body).unwrap()
        }
    };
    let v = who(issuer).await;
    assert_eq!(v["name"], "duty-kyiv");
    assert_eq!(v["role"], "issuer");
    assert_eq!(v["all_regions"], false);
    let ids: Vec<u64> = v["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![14, 22]);
    assert_eq!(v["regions"][0]["name_en"], "Kyiv Oblast");
    assert_eq!(v["regions"][0]["level"], "oblast");

    let v = who(admin).await;
    assert_eq!(v["role"], "admin");
    assert_eq!(v["all_regions"], true);
    assert_eq!(v["regions"].as_array().unwrap().len(), 27);

    let v = who(reader).await;
    assert_eq!(v["role"], "reader");
    assert_eq!(v["regions"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn map_page_is_drawn_with_the_status_of_the_moment() {
    let (_dir, app) = app();
    let (_, headers, _) = get(&app, "/", &[]).await;
    let before = headers[header::ETAG].to_str().unwrap().to_string();
    let admin = Actor {
        name: "t".into(),
        role: Role::Admin,
        scope: vec![],
    };
    let registry = Registry::embedded();
    let raion = registry.children(RegionId(19))[0];
    for (region, level, status) in [
        (RegionId(18), Some(AlertLevel::Yellow), AlertStatus::Actual),
        (raion, None, AlertStatus::Actual),
        (RegionId(24), None, AlertStatus::Exercise),
    ] {
        app.store
            .command(
                admin.clone(),
                Command::StartAlert {
                    region,
                    alert_type: AlertType::AirRaid,
                    level,
                    status,
                    note: None,
                },
                None,
            )
            .await
            .unwrap();
    }
    let (status, headers, body) = get(&app, "/", &[("if-none-match", &before)]).await;
    assert_eq!(status, StatusCode::OK, "a new event changes the page");
    assert_ne!(headers[header::ETAG].to_str().unwrap(), before);
    let html = text(&body);
    assert!(html.contains("data-region=\"18\" data-status=\"active\" data-level=\"yellow\""));
    assert!(html.contains("data-region=\"19\" data-status=\"partial\" data-level=\"red\""));
    assert!(
        html.contains("data-region=\"24\" data-status=\"none\""),
        "exercises stay off the public map"
    );
    assert_eq!(html.matches("data-status=\"none\"").count(), 25);
}
