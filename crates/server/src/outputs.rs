//! The outputs beyond the streams (issue 7): what the operator configures for them and the
//! state they share. Each output follows the same log by sequence: [`crate::cap`] (CAP 1.2
//! and Atom), [`crate::webhooks`] (signed, durable deliveries), [`crate::mqtt`] (retained
//! region statuses, Home Assistant discovery); [`crate::signing`] signs every event, so the
//! SSE and WebSocket streams of [`crate::subscriber`] carry signatures too.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::SharedApp;
use crate::signing::EventKey;

/// What the operator chose for the outputs.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// The event signing key; `None`: `<db>.ed25519`, made on first start.
    pub signing_key: Option<PathBuf>,
    /// CAP `<sender>`: who the messages come from.
    pub cap_sender: String,
    pub webhooks: crate::webhooks::Retry,
    /// The operator's MQTT broker, if any.
    pub mqtt: Option<crate::mqtt::MqttOptions>,
}

impl Default for OutputOptions {
    fn default() -> OutputOptions {
        OutputOptions {
            signing_key: None,
            cap_sender: "tryvoga@localhost".into(),
            webhooks: crate::webhooks::Retry::default(),
            mqtt: None,
        }
    }
}

/// Run-time state of the outputs, held by the [`crate::App`].
pub struct Outputs {
    pub options: OutputOptions,
    pub key: Arc<EventKey>,
    /// Woken when a native webhook is added or removed.
    pub webhooks_changed: tokio::sync::Notify,
}

impl Outputs {
    pub fn new(options: OutputOptions, key: Arc<EventKey>) -> Outputs {
        Outputs {
            options,
            key,
            webhooks_changed: tokio::sync::Notify::new(),
        }
    }
}

/// The routes of the outputs; merged into the native router.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/.well-known/tryvoga-key", get(public_key))
        .route("/feeds/cap.atom", get(crate::cap::atom))
        .route("/api/v1/alerts/{id}/cap", get(crate::cap::message))
        .route(
            "/api/v1/webhooks",
            post(crate::webhooks::create).get(crate::webhooks::list),
        )
        .route(
            "/api/v1/webhooks/{id}",
            get(crate::webhooks::get_one).delete(crate::webhooks::delete),
        )
        .route(
            "/api/v1/webhooks/{id}/dead-letters",
            get(crate::webhooks::dead_letters),
        )
}

/// Starts what runs beside the routes: webhook deliveries and the MQTT publisher.
pub fn start(app: &SharedApp) {
    crate::webhooks::start(app);
    crate::mqtt::start(app);
}

async fn public_key(State(app): State<SharedApp>) -> Response {
    axum::Json(app.outputs.key.public_document()).into_response()
}
