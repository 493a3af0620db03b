//! How the record's failures reach a client: the JSON error shape is the edge's
//! ([`tryvoga_edge::ApiError`], one shape for every HTTP answer); this maps the store's errors
//! and refused commands onto it. A storage failure is a 503 that says nothing was changed,
//! never a 500 with the database's words.

use axum::http::StatusCode;
pub use tryvoga_edge::ApiError;
use tryvoga_store::{CommandError, StoreError};

pub fn from_store(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(m) => ApiError::invalid(m),
        StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        other => {
            tracing::error!(error = %other, "storage failure");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the record could not be read or written; nothing was changed",
            )
        }
    }
}

pub fn from_command(e: CommandError) -> ApiError {
    match e {
        CommandError::Refused(r) => r.into(),
        CommandError::KeyReused(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            e.to_string(),
        ),
        CommandError::Store(s) => from_store(s),
    }
}
