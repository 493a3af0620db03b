//! The shared application state every handler sees, and the helpers handlers use to reach it:
//! authentication, JSON bodies, blocking reads.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use tryvoga_core::{Actor, Registry, Role};
use tryvoga_store::{AuditEntry, Store, StoreError};

use crate::error::ApiError;
use crate::hub::Hub;

pub struct App {
    pub store: Store,
    pub registry: &'static Registry,
    pub hub: Arc<Hub>,
    pub started: Instant,
    /// Reads need a token too when false.
    pub public_reads: bool,
    /// State of the alerts.in.ua and ukrainealarm compatibility APIs.
    pub compat: crate::compat::Compat,
    /// WebSocket, CAP, webhooks, MQTT and the event signing key.
    pub outputs: crate::outputs::Outputs,
    /// Answers built once per state: the active alerts, the IoT strings.
    pub read_cache: crate::readcache::ReadCache,
}

pub type SharedApp = Arc<App>;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

impl App {
    /// Runs a blocking read on the store's read pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// The actor behind the request's bearer token. Refusals of commands are audited by the
    /// caller, which knows the action.
    pub async fn actor(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        let secret = bearer(headers).ok_or_else(|| {
            ApiError::unauthorized("this needs a token: send Authorization: Bearer <token>")
        })?;
        if let Some((_, actor)) = self.store.authenticate_remembered(secret) {
            return Ok(actor);
        }
        let secret = secret.to_string();
        let found = self.read(move |s| s.authenticate(&secret)).await?;
        found
            .map(|(_, actor)| actor)
            .ok_or_else(|| ApiError::unauthorized("the token is unknown or revoked"))
    }

    /// As [`App::actor`], but every refusal is written to the audit trail under `action`.
    pub async fn audited_actor(
        &self,
        headers: &HeaderMap,
        action: &str,
        need: &[Role],
    ) -> Result<Actor, ApiError> {
        let actor = match self.actor(headers).await {
            Ok(a) => a,
            Err(e) => {
                self.refuse(None, action, None, &e);
                return Err(e);
            }
        };
        if !need.contains(&actor.role) {
            let e =
                ApiError::forbidden(format!("a {} token may not {action}", actor.role.as_str()));
            self.refuse(Some(&actor), action, None, &e);
            return Err(e);
        }
        Ok(actor)
    }

    /// Writes a refusal that happened before the core saw the command into the audit trail.
    pub fn refuse(
        &self,
        actor: Option<&Actor>,
        action: &str,
        request: Option<&[u8]>,
        e: &ApiError,
    ) {
        self.store.audit(AuditEntry {
            token: actor.map(|a| a.name.clone()),
            action: action.to_string(),
            request: request.map(|r| String::from_utf8_lossy(&r[..r.len().min(4096)]).into_owned()),
            code: e.code.to_string(),
            reason: e.message.clone(),
        });
    }

    /// Reads must carry a reader token when the operator has made them private.
    pub async fn check_read(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.public_reads {
            return Ok(());
        }
        self.actor(headers).await.map(|_| ())
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// The body as bytes, or a JSON error for one that is too large or unreadable.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {BODY_LIMIT} bytes"),
            )
        } else {
            ApiError::bad_request(format!("the request body could not be read: {rejection}"))
        }
    })
}

/// Parses a JSON body, naming the line, column or field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request needs a JSON body"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let code = if e.is_data() {
            "invalid"
        } else {
            "malformed_json"
        };
        let status = if e.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, code, format!("request body: {e}"))
    })
}
