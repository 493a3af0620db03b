//! The one JSON shape every HTTP refusal of tryvoga takes, `{"error":{"code","message",...}}`,
//! with the status each code maps to: the front door answers a bad stream request in it, and
//! the API rooms answer theirs. Every refusal of client input is a 4xx; 5xx is kept for our own
//! failures.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tryvoga_core::{Refusal, ResolveError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields merged into the error object (candidates, the conflicting alert...).
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn with(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let (Some(Value::Object(extra)), Some(obj)) = (&self.details, error.as_object_mut()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> ApiError {
        let candidates = serde_json::to_value(e.candidates()).unwrap_or(Value::Null);
        let (status, code) = match e {
            ResolveError::Unknown { .. } => (StatusCode::NOT_FOUND, "unknown_region"),
            ResolveError::Ambiguous { .. } => (StatusCode::BAD_REQUEST, "ambiguous_region"),
        };
        ApiError::new(status, code, e.to_string()).with(json!({ "candidates": candidates }))
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        match r {
            Refusal::Forbidden(m) => ApiError::forbidden(m),
            Refusal::NotFound(m) => ApiError::not_found(m),
            Refusal::Ended(m) => ApiError::new(StatusCode::CONFLICT, "already_ended", m),
            Refusal::Invalid(m) => ApiError::invalid(m),
            Refusal::Conflict { message, alert } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
                    .with(json!({ "alert": alert }))
            }
        }
    }
}
