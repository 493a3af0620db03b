//! The analysts' API: history pages by cursor in JSON and CSV, descendants on request, region
//! statistics, and the charts as SVG; bad input is a 4xx naming the fault.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use tryvoga::server::{Options, SharedServer};
use tryvoga_core::{AlertType, RegionId, Registry};
use tryvoga_store::{HistoricalAlert, ImportChunk};

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 3, day, hour, 0, 0)
        .single()
        .expect("valid")
}

async fn app_with_history() -> (tempfile::TempDir, SharedServer) {
    let dir = tempfile::tempdir().unwrap();
    let app = tryvoga::server::open(
        &dir.path().join("t.db"),
        Registry::embedded(),
        Options::default(),
    )
    .unwrap();
    let registry = Registry::embedded();
    let kyiv_oblast = registry.resolve("Kyivska oblast").unwrap().id;
    let raion = registry.children(kyiv_oblast)[0];
    let row = |line, region, day, h0, h1| HistoricalAlert {
        line,
        region,
        alert_type: AlertType::AirRaid,
        started_at: at(day, h0),
        ended_at: at(day, h1),
        note: None,
    };
    app.store
        .import_history(ImportChunk {
            source: "test/official".into(),
            file: "t.csv".into(),
            rows: vec![
                row(2, RegionId(31), 1, 10, 11),
                row(3, RegionId(31), 2, 10, 12),
                row(4, RegionId(31), 3, 10, 13),
                row(5, kyiv_oblast, 1, 9, 10),
                row(6, raion, 4, 9, 10),
            ],
        })
        .await
        .unwrap();
    (dir, app)
}

async fn get(
    app: &SharedServer,
    uri: &str,
    accept: Option<&str>,
) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    let mut req = Request::get(uri);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let resp = app
        .router()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, body, headers)
}

async fn json(app: &SharedServer, uri: &str) -> (StatusCode, Value) {
    let (status, body, _) = get(app, uri, None).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_by_cursor_newest_first() {
    let (_dir, app) = app_with_history().await;
    let (status, page) = json(&app, "/api/v1/alerts?region=31&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let starts: Vec<&str> = page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["started_at"].as_str().unwrap())
        .collect();
    assert_eq!(starts, ["2023-03-03T10:00:00Z", "2023-03-02T10:00:00Z"]);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, page2) = json(
        &app,
        &format!("/api/v1/alerts?region=31&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(page2["alerts"].as_array().unwrap().len(), 1);
    assert!(page2["next_cursor"].is_null());
    assert_eq!(page2["alerts"][0]["origin"], "import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descendants_are_included_on_request_and_time_filters_apply() {
    let (_dir, app) = app_with_history().await;
    let (_, own) = json(&app, "/api/v1/alerts?region=Kyivska%20oblast").await;
    assert_eq!(own["alerts"].as_array().unwrap().len(), 1);
    let (_, all) = json(
        &app,
        "/api/v1/alerts?region=Kyivska%20oblast&include=descendants",
    )
    .await;
    assert_eq!(all["alerts"].as_array().unwrap().len(), 2);
    let (_, window) = json(
        &app,
        "/api/v1/alerts?from=2023-03-02T11:00:00Z&to=2023-03-03T00:00:00Z",
    )
    .await;
    assert_eq!(window["alerts"].as_array().unwrap().len(), 1, "{window}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_by_accept_header_or_format_with_a_link_to_the_next_page() {
    let (_dir, app) = app_with_history().await;
    let (status, body, headers) =
        get(&app, "/api/v1/alerts?region=31&limit=2", Some("text/csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,region_id,"));
    assert_eq!(lines.len(), 3);
    assert!(lines[1].contains(",2023-03-03T10:00:00+00:00,2023-03-03T13:00:00+00:00,10800,"));
    let link = headers[header::LINK].to_str().unwrap();
    assert!(
        link.contains("rel=\"next\"") && link.contains("cursor="),
        "{link}"
    );
    let (_, body, _) = get(&app, "/api/v1/alerts?region=31&format=csv", None).await;
    assert_eq!(String::from_utf8(body).unwrap().lines().count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_cells_never_become_spreadsheet_formulas() {
    let (_dir, app) = app_with_history().await;
    let notes = [
        "=HYPERLINK(\"http://evil.example/\",\"click\")",
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1",
    ];
    let rows = notes
        .iter()
        .enumerate()
        .map(|(i, note)| HistoricalAlert {
            line: 10 + i as u64,
            region: RegionId(14),
            alert_type: AlertType::AirRaid,
            started_at: at(10 + i as u32, 10),
            ended_at: at(10 + i as u32, 11),
            note: Some((*note).to_string()),
        })
        .collect();
    app.store
        .import_history(ImportChunk {
            source: "test/hostile".into(),
            file: "hostile.csv".into(),
            rows,
        })
        .await
        .unwrap();
    let (status, body, _) = get(&app, "/api/v1/alerts?region=14&format=csv", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(body.as_slice());
    let header = reader.headers().unwrap().clone();
    let note_at = header.iter().position(|h| h == "note").unwrap();
    let mut seen = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        for cell in record.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet would run: {cell:?}"
            );
        }
        seen.push(record[note_at].to_string());
    }
    for note in notes {
        assert!(
            seen.contains(&format!("'{note}")),
            "{note:?} not exported as text: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_own_alerts_and_merge_time_under_alert() {
    let (_dir, app) = app_with_history().await;
    let (status, s) = json(
        &app,
        "/api/v1/regions/31/stats?from=2023-03-01&to=2023-04-01",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!(s["region"]["id"], 31);
    assert_eq!(s["count"], 3);
    assert_eq!(s["total_seconds"], 6 * 3600);
    assert_eq!(s["median_seconds"], 2 * 3600);
    assert_eq!(s["longest_seconds"], 3 * 3600);
    assert_eq!(
        s["by_hour"][12], 3,
        "10:00 UTC is 12:00 in Kyiv in March before DST"
    );
    // A raion of Kyiv oblast: its own none, its oblast's hour, as time under alert.
    let raion = Registry::embedded()
        .children(Registry::embedded().resolve("Kyivska oblast").unwrap().id)[0];
    let (_, r) = json(
        &app,
        &format!("/api/v1/regions/{raion}/stats?from=2023-03-01&to=2023-04-01"),
    )
    .await;
    assert_eq!(r["count"], 1);
    assert_eq!(r["under_alert_seconds"], 2 * 3600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_are_svg() {
    let (_dir, app) = app_with_history().await;
    for uri in [
        "/api/v1/regions/31/charts/monthly.svg?from=2023-01-01&to=2023-06-01",
        "/api/v1/charts/heatmap.svg?region=31&from=2023-01-01&to=2023-06-01",
        "/api/v1/charts/heatmap.svg?from=2023-01-01&to=2023-06-01",
        "/api/v1/charts/oblasts.svg?from=2023-01-01&to=2023-06-01",
    ] {
        let (status, body, headers) = get(&app, uri, None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
        assert!(body.starts_with(b"<svg"), "{uri}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_that_names_the_fault() {
    let (_dir, app) = app_with_history().await;
    for (uri, needle) in [
        ("/api/v1/alerts?cursor=bogus", "cursor"),
        ("/api/v1/alerts?limit=0", "limit"),
        ("/api/v1/alerts?include=everything&region=31", "include"),
        ("/api/v1/alerts?include=descendants", "region"),
        ("/api/v1/alerts?format=xml", "format"),
        ("/api/v1/alerts?type=tornado", "type"),
        ("/api/v1/alerts?from=yesterday", "from"),
        (
            "/api/v1/regions/31/stats?from=2024-01-01&to=2023-01-01",
            "before",
        ),
        ("/api/v1/regions/Atlantis/stats", "Atlantis"),
        ("/api/v1/charts/oblasts.svg?bogus=1", "bogus"),
    ] {
        let (status, body) = json(&app, uri).await;
        assert!(status.is_client_error(), "{uri}: {status}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(needle), "{uri}: {message}");
    }
}
