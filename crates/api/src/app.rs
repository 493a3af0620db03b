//! The shared application state every handler sees, and the helpers handlers use to reach it:
//! authentication, JSON bodies, blocking reads, commands, the audit of refusals.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use tryvoga_bus::{BoxFuture, EventSource};
use tryvoga_core::{Actor, Command, Registry, Role};
use tryvoga_edge::gate::Grant;
use tryvoga_edge::{Edge, ReadGate};
use tryvoga_outputs::Outputs;
use tryvoga_store::{Accepted, AnswerCache, AuditEntry, Queries, Store, StoreError};

use crate::error::{ApiError, from_command, from_store};

pub struct App {
    pub store: Store,
    pub registry: &'static Registry,
    /// The log as the rooms follow it: its head and when it last changed.
    pub source: Arc<dyn EventSource>,
    /// The stream fan-out, for its counters.
    pub edge: Arc<Edge>,
    /// Webhooks, CAP, MQTT and the event signing key.
    pub outputs: Arc<Outputs>,
    pub started: Instant,
    /// Who may read.
    pub reads: Reads,
    /// Answers built once per state: the active alerts.
    pub read_cache: AnswerCache,
}

pub type SharedApp = Arc<App>;

/// Who may read: everyone, or only holders of a live token when the operator made reads
/// private. The stream fan-out asks the same question through [`ReadGate`].
#[derive(Clone)]
pub struct Reads {
    pub store: Store,
    pub public: bool,
    /// The streams open under each token, ended when it is revoked.
    pub grants: Arc<crate::grants::Grants>,
}

impl Reads {
    /// The actor behind the request's bearer token.
    pub async fn actor(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        let secret = bearer(headers).ok_or_else(|| {
            ApiError::unauthorized("this needs a token: send Authorization: Bearer <token>")
        })?;
        if let Some((_, actor)) = self.store.authenticate_remembered(secret) {
            return Ok(actor);
        }
        let (store, secret) = (self.store.clone(), secret.to_string());
        let found = tokio::task::spawn_blocking(move || store.authenticate(&secret))
            .await
            .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
            .map_err(from_store)?;
        found
            .map(|(_, actor)| actor)
            .ok_or_else(|| ApiError::unauthorized("the token is unknown or revoked"))
    }

    /// Reads must carry a reader token when the operator has made them private.
    pub async fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.public {
            return Ok(());
        }
        self.actor(headers).await.map(|_| ())
    }
}

impl ReadGate for Reads {
    fn check<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<Grant, ApiError>> {
        Box::pin(async move {
            if self.public {
                return Ok(Grant::lasting());
            }
            self.actor(headers).await?;
            let secret = bearer(headers).unwrap_or_default();
            Ok(self
                .grants
                .grant(tryvoga_store::tokens::hash(secret), &self.store))
        })
    }
}

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

impl App {
    /// Runs a blocking read of the record.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Queries) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let queries = Arc::clone(self.store.queries());
        tokio::task::spawn_blocking(move || f(queries.as_ref()))
            .await
            .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
            .map_err(from_store)
    }

    /// Decides and records a command; answers once the event is durable.
    pub async fn command(
        &self,
        actor: Actor,
        command: Command,
        idempotency_key: Option<String>,
    ) -> Result<Accepted, ApiError> {
        self.store
            .command(actor, command, idempotency_key)
            .await
            .map_err(from_command)
    }

    /// The actor behind the request's bearer token. Refusals of commands are audited by the
    /// caller, which knows the action.
    pub async fn actor(&self, headers: &HeaderMap) -> Result<Actor, ApiError> {
        self.reads.actor(headers).await
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
                self.refuse(None, action, None, &e).await;
                return Err(e);
            }
        };
        if !need.contains(&actor.role) {
            let e =
                ApiError::forbidden(format!("a {} token may not {action}", actor.role.as_str()));
            self.refuse(Some(&actor), action, None, &e).await;
            return Err(e);
        }
        Ok(actor)
    }

    /// Writes a refusal that happened before the core saw the command into the audit trail.
    pub async fn refuse(
        &self,
        actor: Option<&Actor>,
        action: &str,
        request: Option<&[u8]>,
        e: &ApiError,
    ) {
        self.store
            .audit(AuditEntry {
                token: actor.map(|a| a.name.clone()),
                action: action.to_string(),
                request: request
                    .map(|r| String::from_utf8_lossy(&r[..r.len().min(4096)]).into_owned()),
                code: e.code.to_string(),
                reason: e.message.clone(),
            })
            .await;
    }

    /// Reads must carry a reader token when the operator has made them private.
    pub async fn check_read(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        self.reads.check(headers).await
    }
}

pub use tryvoga_edge::gate::bearer;

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
