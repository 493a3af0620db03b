//! The native HTTP API (v1) as DESIGN.md specifies it: routes and their handlers.

pub mod admin;
pub mod alerts;
pub mod history;
pub mod ops;
pub mod regions;
pub mod reports;
pub mod stream;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use crate::app::{BODY_LIMIT, SharedApp};
use crate::error::ApiError;

pub fn router(app: SharedApp) -> Router {
    Router::new()
        .route("/api/v1/alerts", post(alerts::start).get(history::list))
        .route("/api/v1/alerts/active", get(alerts::active))
        .route(
            "/api/v1/alerts/{id}",
            get(crate::cap::alert_or_cap).patch(alerts::update),
        )
        .route("/api/v1/alerts/{id}/end", post(alerts::end))
        .route("/api/v1/alerts/{id}/cancel", post(alerts::cancel))
        .route("/api/v1/regions", get(regions::list))
        .route("/api/v1/regions/{region}", get(regions::one))
        .route("/api/v1/events", get(stream::events))
        .route("/api/v1/stream", get(stream::stream))
        .route(
            "/api/v1/tokens",
            post(admin::create_token).get(admin::list_tokens),
        )
        .route("/api/v1/tokens/{name}", delete(admin::revoke_token))
        .route("/api/v1/audit", get(admin::audit))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .merge(history::routes())
        .merge(reports::routes())
        .merge(crate::pages::routes())
        .merge(crate::compat::routes())
        .merge(crate::outputs::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}
