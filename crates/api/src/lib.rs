//! The native HTTP API (v1) and the embedded pages: each handler parses a request, turns it
//! into a core `Command` or a query of the record, and maps the answer back; no rule lives
//! here (the core decides) and no SQL (reads go through the store's query traits). Also the
//! endpoints of the outputs that are configured or read over HTTP: native webhooks, CAP
//! messages and their feed, the event signing key.

pub mod admin;
pub mod alerts;
pub mod app;
mod body;
pub mod cap;
pub mod error;
pub mod events;
pub mod grants;
pub mod history;
pub mod housekeeping;
pub mod ops;
pub mod pages;
pub mod query;
pub mod regions;
pub mod replica;
pub mod reports;
pub mod situation;
pub mod webhooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

pub use app::{App, Reads, SharedApp};
pub use error::ApiError;

use app::BODY_LIMIT;

/// Every route of the native API and the pages, with the app as their state.
pub fn routes(app: SharedApp) -> Router {
    Router::new()
        .route("/api/v1/alerts", post(alerts::start).get(history::list))
        .route("/api/v1/alerts/active", get(alerts::active))
        .route(
            "/api/v1/alerts/{id}",
            get(cap::alert_or_cap).patch(alerts::update),
        )
        .route("/api/v1/alerts/{id}/end", post(alerts::end))
        .route("/api/v1/alerts/{id}/cancel", post(alerts::cancel))
        .route("/api/v1/alerts/{id}/cap", get(cap::message))
        .route("/feeds/cap.atom", get(cap::atom))
        .route("/api/v1/regions", get(regions::list))
        .route("/api/v1/regions/{region}", get(regions::one))
        .route("/api/v1/events", get(events::events))
        .route(
            "/api/v1/tokens",
            post(admin::create_token).get(admin::list_tokens),
        )
        .route("/api/v1/tokens/{name}", delete(admin::revoke_token))
        .route("/api/v1/audit", get(admin::audit))
        .route(
            "/api/v1/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route(
            "/api/v1/webhooks/{id}",
            get(webhooks::get_one).delete(webhooks::delete),
        )
        .route(
            "/api/v1/webhooks/{id}/dead-letters",
            get(webhooks::dead_letters),
        )
        .route("/.well-known/tryvoga-key", get(public_key))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .merge(history::routes())
        .merge(reports::routes())
        .merge(situation::routes())
        .merge(pages::routes())
        .with_state(app)
}

/// The whole router around `routes` (the native API merged with the compatibility APIs and
/// the edge's fall-back streams): the JSON answers for no such endpoint and a method an
/// endpoint does not take, and the body limit and deadline every endpoint shares.
pub fn finish(routes: Router) -> Router {
    routes
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(body::within_deadline))
}

async fn public_key(State(app): State<SharedApp>) -> Response {
    axum::Json(app.outputs.key.public_document()).into_response()
}
