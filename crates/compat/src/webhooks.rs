//! ukrainealarm-style webhook registration: `POST`/`PATCH`/`DELETE /api/v3/webhook` with
//! `{"webHookUrl"}`, one webhook per token as that API keeps one per key, and the public key
//! deliveries are signed with, at `/webhook-public.pem` (ukrainealarm's own path) and, with its
//! id, at `/api/v3/webhook/keys`. The deliveries are `tryvoga_outputs::ukrainealarm`'s.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tryvoga_outputs::ukrainealarm::Signer;
use tryvoga_store::OutputWrite;

use crate::{Api, Refused, Shared, WebhookDesk, authorize, client_addr};

/// The record's writer and outputs: these routes are mounted only where there is one.
fn desk(app: &Shared) -> Result<&WebhookDesk, Refused> {
    app.desk.as_ref().ok_or_else(|| {
        Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhooks are registered with a serve node",
        )
    })
}

/// The signing key, read from the record or made on first use.
async fn signer(app: &Shared) -> Result<Arc<Signer>, Refused> {
    tryvoga_outputs::ukrainealarm::signer(&desk(app)?.outputs)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "no webhook signing key");
            Refused::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        })
}

pub async fn public_pem(State(app): State<Shared>) -> Result<Response, Refused> {
    let s = signer(&app).await?;
    let mut r = s.public_pem.clone().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    Ok(r)
}

pub async fn keys(State(app): State<Shared>) -> Result<Response, Refused> {
    let s = signer(&app).await?;
    Ok(axum::Json(json!({ "keys": [{
        "keyId": s.key_id,
        "algorithm": "rsa-sha256",
        "publicKey": s.public_pem,
    }]}))
    .into_response())
}

#[derive(Deserialize)]
struct WebHookModel {
    #[serde(rename = "webHookUrl")]
    web_hook_url: Option<String>,
}

/// The longest webhook address accepted.
const MAX_URL: usize = 2048;

/// The webhook's URL from the body, normalised, once its host resolves only to addresses a
/// webhook may be delivered to (`tryvoga_outputs::targets`): 422 otherwise.
async fn checked_url(app: &Shared, body: Result<Bytes, BytesRejection>) -> Result<String, Refused> {
    let url = parse_url(body)?;
    let desk = desk(app)?;
    let parsed = url::Url::parse(&url)
        .map_err(|e| Refused::new(StatusCode::BAD_REQUEST, format!("webHookUrl: {e}")))?;
    desk.outputs
        .options
        .webhook_targets
        .check_url(&parsed)
        .await
        .map_err(|e| Refused::new(StatusCode::UNPROCESSABLE_ENTITY, format!("webHookUrl: {e}")))
}

fn parse_url(body: Result<Bytes, BytesRejection>) -> Result<String, Refused> {
    let bytes = body.map_err(|e| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {e}"),
        )
    })?;
    let model: WebHookModel = serde_json::from_slice(&bytes).map_err(|e| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"webHookUrl\": \"https://...\"}}: {e}"),
        )
    })?;
    let text = model
        .web_hook_url
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Refused::new(StatusCode::BAD_REQUEST, "webHookUrl is required"))?;
    if text.len() > MAX_URL {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            format!("webHookUrl is longer than {MAX_URL} characters"),
        ));
    }
    let url = url::Url::parse(&text).map_err(|e| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("webHookUrl is not a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "webHookUrl must be an http or https URL with a host",
        ));
    }
    Ok(url.to_string())
}

/// The key a webhook belongs to: ukrainealarm keeps one webhook per key, so registration
/// needs one even when the API's reads are public.
pub struct Owner(String);

impl FromRequestParts<Shared> for Owner {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Owner, Refused> {
        let addr = client_addr(&parts.extensions);
        let caller = authorize(
            app,
            Api::UkraineAlarm,
            &parts.headers,
            parts.uri.query(),
            addr,
            true,
        )
        .await?;
        caller.token.map(Owner).ok_or_else(|| {
            Refused::new(
                StatusCode::UNAUTHORIZED,
                "a webhook belongs to a key: send one",
            )
        })
    }
}

/// Registers the caller's webhook; a second registration moves it, keeping its position.
/// Answers 200 with an empty body, as ukrainealarm does.
pub async fn subscribe(
    State(app): State<Shared>,
    Owner(token): Owner,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refused> {
    let url = checked_url(&app, body).await?;
    // A new webhook hears what happens from now on, not the whole past.
    let from = app.source.head();
    let desk = desk(&app)?;
    desk.store
        .output(OutputWrite::RegisterCompatWebhook {
            token,
            url,
            at: Utc::now(),
            from_seq: from,
        })
        .await?;
    desk.outputs.compat_webhooks_changed.notify_waiters();
    Ok(StatusCode::OK.into_response())
}

pub async fn update(
    State(app): State<Shared>,
    Owner(token): Owner,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refused> {
    let url = checked_url(&app, body).await?;
    let desk = desk(&app)?;
    let changed = desk
        .store
        .output(OutputWrite::MoveCompatWebhook {
            token,
            url,
            at: Utc::now(),
        })
        .await?;
    if changed == 0 {
        return Err(Refused::new(
            StatusCode::NOT_FOUND,
            "no webhook is registered for this key; POST one first",
        ));
    }
    desk.outputs.compat_webhooks_changed.notify_waiters();
    Ok(StatusCode::OK.into_response())
}

/// Removes the caller's webhook; removing none is not an error.
pub async fn unsubscribe(
    State(app): State<Shared>,
    Owner(token): Owner,
) -> Result<Response, Refused> {
    let desk = desk(&app)?;
    desk.store
        .output(OutputWrite::RemoveCompatWebhook { token })
        .await?;
    desk.outputs.compat_webhooks_changed.notify_waiters();
    Ok(StatusCode::OK.into_response())
}
