//! The crates.io client of alerts.in.ua, `ralertsinua-http` 0.5.2, unmodified and given only
//! Tryvoga's base URL, reads back what the native API raised: active alerts, the oblast IoT
//! string, one oblast's status and the history; its cache is answered with 304.
//!
//! Two things of that client are checked as they are rather than worked around: it cannot
//! parse `location_type: "raion"` (which alerts.in.ua itself sends for raion alerts), and its
//! oblast table names positions 1 and 2 Vinnytsia and Volyn the wrong way round while keeping
//! the right uids, so statuses are looked up by uid.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use ralertsinua_http::{AlertsInUaApi, AlertsInUaClient, ApiError};
use ralertsinua_models::{AlertStatus, AlertType, LocationType};
use serde_json::{Value, json};
use tryvoga_compat::CompatOptions;
use tryvoga_core::{AlertType as Type, Registry, Role};
use tryvoga_store::NewToken;

type Seen = Arc<Mutex<Vec<(String, u16)>>>;

struct Server {
    url: String,
    admin: String,
    reader: String,
    app: tryvoga::server::SharedServer,
    seen: Seen,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Server {
    /// A live server on a loopback port; every response status is recorded by path.
    async fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = tryvoga::server::Options {
            public_reads: true,
            compat: CompatOptions::default(),
            ..Default::default()
        };
        let app = tryvoga::server::open(&dir.path().join("t.db"), Registry::embedded(), options)
            .expect("open");
        let token = |name: &str, role| NewToken {
            name: name.into(),
            role,
            regions: Vec::new(),
        };
        let (_, admin) = app
            .store
            .create_token(token("admin", Role::Admin))
            .await
            .expect("admin");
        let (_, reader) = app
            .store
            .create_token(token("reader", Role::Reader))
            .await
            .expect("reader");
        let seen: Seen = Arc::default();
        let record = Arc::clone(&seen);
        let router = app
            .router()
            .layer(middleware::from_fn(move |req: Request, next: Next| {
                let record = Arc::clone(&record);
                async move {
                    let path = req.uri().path().to_string();
                    let response = next.run(req).await;
                    if let Ok(mut s) = record.lock() {
                        s.push((path, response.status().as_u16()));
                    }
                    response
                }
            }));
        app.start();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Server {
            url,
            admin,
            reader,
            app,
            seen,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Raises an alert through the native HTTP API.
    async fn raise(&self, body: Value) -> u64 {
        let r = self
            .http
            .post(format!("{}/api/v1/alerts", self.url))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 201);
        r.json::<Value>().await.expect("json")["id"]
            .as_u64()
            .expect("id")
    }

    async fn end(&self, id: u64) {
        let r = self
            .http
            .post(format!("{}/api/v1/alerts/{id}/end", self.url))
            .bearer_auth(&self.admin)
            .send()
            .await
            .expect("end");
        assert_eq!(r.status().as_u16(), 200);
    }

    fn client(&self) -> AlertsInUaClient {
        AlertsInUaClient::new(&self.url, &self.reader)
    }

    /// The oblast string as the core derives it, in the registry's official order.
    fn expected_oblasts(&self) -> String {
        let state = self.app.store.state();
        let registry = self.app.registry;
        registry
            .oblast_order()
            .iter()
            .map(|&id| {
                state
                    .status_of(registry, id, |a| a.alert_type == Type::AirRaid)
                    .letter()
            })
            .collect()
    }

    fn statuses_of(&self, path: &str) -> Vec<u16> {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        seen.into_iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| s)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ralertsinua_reads_what_the_native_api_raised() {
    let server = Server::start().await;
    let kharkiv = server
        .raise(json!({"region": 22, "type": "air_raid", "level": "red", "note": "ballistic"}))
        .await;
    let kyiv = server
        .raise(json!({"region": 31, "type": "air_raid", "level": "yellow"}))
        .await;
    let city = server
        .raise(json!({"region": 564, "type": "artillery_shelling"}))
        .await;
    let drill = server
        .raise(json!({"region": 18, "type": "air_raid", "status": "exercise"}))
        .await;
    let client = server.client();

    let alerts = client.get_active_alerts().await.expect("active alerts");
    let mut ids: Vec<u64> = alerts.iter().map(|a| a.id as u64).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![kharkiv, kyiv, city],
        "drill {drill} stays off the public API"
    );
    let k = &alerts.get_alerts_by_location_uid(22)[0];
    assert_eq!(k.location_title, "Харківська область");
    assert_eq!(k.location_type, LocationType::Oblast);
    assert_eq!(k.location_oblast_uid, 22);
    assert_eq!(k.alert_type, AlertType::AirRaid);
    assert_eq!(k.notes.as_deref(), Some("ballistic"));
    assert_eq!(k.finished_at, None);
    assert!(k.updated_at >= k.started_at);
    let c = &alerts.get_alerts_by_location_uid(564)[0];
    assert_eq!(
        (c.location_type.clone(), c.location_oblast_uid),
        (LocationType::City, 12)
    );
    assert_eq!(alerts.get_artillery_shelling_alerts().len(), 1);
    assert_eq!(
        alerts.get_alerts_by_location_type(LocationType::City).len(),
        2
    );

    let oblasts = client
        .get_air_raid_alert_statuses_by_location()
        .await
        .expect("oblast statuses");
    assert_eq!(oblasts.raw_data(), server.expected_oblasts());
    assert_eq!(oblasts.len(), 27);
    let status = |uid| oblasts.get_by_location_uid(uid).map(|s| s.status().clone());
    assert_eq!(status(22), Some(AlertStatus::A));
    assert_eq!(status(31), Some(AlertStatus::A));
    assert_eq!(
        status(12),
        Some(AlertStatus::N),
        "shelling is not an air raid"
    );
    assert_eq!(
        status(18),
        Some(AlertStatus::N),
        "a drill is not an air raid"
    );

    assert_eq!(
        client.get_air_raid_alert_status(&22).await.expect("22"),
        "A"
    );
    assert_eq!(client.get_air_raid_alert_status(&4).await.expect("4"), "N");

    // A raion alert: the IoT answers follow it, but ralertsinua 0.5.2 knows no "raion"
    // location type and fails on the alert list that alerts.in.ua would send just the same.
    let raion = server
        .raise(json!({"region": 36, "type": "air_raid"}))
        .await;
    assert_eq!(client.get_air_raid_alert_status(&4).await.expect("4"), "P");
    let parsed = server.client().get_active_alerts().await;
    assert!(matches!(parsed, Err(ApiError::ParseJson(_))), "{parsed:?}");
    server.end(raion).await;

    // History under ralertsinua's `locations/` path: the ended alert, finished.
    server.end(kharkiv).await;
    let history = client
        .get_alerts_history(&22, "week_ago")
        .await
        .expect("history");
    let ended = history
        .iter()
        .find(|a| a.id as u64 == kharkiv)
        .expect("the ended alert is in the history");
    assert!(ended.finished_at.is_some());
    assert!(history.iter().all(|a| a.location_oblast_uid == 22));

    // The cache: once the second of the last change is over, a repeat is answered 304.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let fresh = server.client();
    let first = fresh.get_active_alerts().await.expect("first");
    let second = fresh.get_active_alerts().await.expect("second");
    assert_eq!(first, second);
    let statuses = server.statuses_of("/v1/alerts/active.json");
    assert_eq!(&statuses[statuses.len() - 2..], &[200, 304], "{statuses:?}");
}
