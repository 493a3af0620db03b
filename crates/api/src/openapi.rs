//! The OpenAPI 3.1 document of the native API, served at `GET /api/v1/openapi.json`. It is
//! built from the code, not written by hand: every handler carries its `#[utoipa::path]`
//! (method, path, parameters, body, the statuses it answers), the types it reads and writes
//! derive their schemas (`ToSchema`, `IntoParams`; the core's, the store's and the history's
//! behind their `openapi` feature), and this module gathers them into one document with the
//! bearer-token scheme and the error shape every refusal takes. The streams, which the edge
//! serves, are described here with their media types, as functions that only carry the
//! annotation. `.ci/steps/45-schemathesis.sh` checks a live server against the document.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every refusal: `{"error":{"code","message",...}}`. A status's codes are stable words
/// (`bad_request`, `unauthorized`, `forbidden`, `not_found`, `unknown_region`,
/// `ambiguous_region`, `conflict`, `already_ended`, `invalid`, `malformed_json`,
/// `body_too_large`, `idempotency_key_reused`, `storage_unavailable`, ...).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What was refused and why. Some refusals add members: `candidates` (the regions an unknown
/// or ambiguous name could have meant), `alert` (the alert already active), `field`.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// A region given as input: its id (a number or a numeric string), KATOTTG code, ISO 3166-2
/// code, or a name in Ukrainian or English.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RegionInput {
    Id(u32),
    Text(String),
}

/// `GET /.well-known/tryvoga-key`: the Ed25519 key every event and CAP message is signed with.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
    /// How an event's `sig` is made.
    event_signature: String,
    /// How a CAP message's signature is made.
    cap_signature: String,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct SigningKey {
    /// `ed25519`.
    alg: String,
    key_id: String,
    /// The raw key, base64url without padding.
    public_key: String,
    public_key_pem: String,
}

/// The query of both streams.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct StreamParams {
    /// Resume after this sequence number (`Last-Event-ID` wins when both are sent).
    after: Option<u64>,
    /// Only events about these regions (ids, codes or names, comma-separated); a region
    /// matches itself, its ancestors and its descendants.
    regions: Option<String>,
    /// Only alerts of these types, comma-separated.
    types: Option<String>,
}

/// The log as Server-Sent Events: `id:` the sequence, `event:` the kind, `data:` the event's
/// JSON; a heartbeat comment every 15 s. Served by the edge's front door.
#[utoipa::path(
    get, path = "/api/v1/stream", tag = "streams",
    security((), ("bearer" = [])),
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this sequence number."),
    ),
    responses(
        (status = 200, description = "The stream, until the client leaves or falls a ring behind (`dropped`, with `resume_after`).", content_type = "text/event-stream", body = String),
        (status = 400, description = "A malformed or unknown query parameter, a bad position or type, or an ambiguous region.", body = ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = ErrorBody),
        (status = 422, description = "An unknown alert type.", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn stream() {}

/// The same stream over WebSocket: one text message per event.
#[utoipa::path(
    get, path = "/api/v1/ws", tag = "streams",
    security((), ("bearer" = [])),
    params(StreamParams),
    responses(
        (status = 101, description = "Upgraded to a WebSocket that carries the stream."),
        (status = 400, description = "A bad query (as the stream), or a malformed handshake.", body = ErrorBody),
        (status = 426, description = "Not a WebSocket handshake: no `Upgrade: websocket` or `Sec-WebSocket-Key`.", body = ErrorBody),
        (status = 401, description = "Reads are private and no live token was sent.", body = ErrorBody),
        (status = 404, description = "No such region (with `candidates`).", body = ErrorBody),
        (status = 422, description = "An unknown alert type.", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn websocket() {}

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document of the native API.", content_type = "application/json", body = Object))
)]
pub async fn document() -> Response {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        ApiDoc::openapi().to_json().unwrap_or_else(|e| {
            format!("{{\"error\":{{\"code\":\"internal\",\"message\":\"{e}\"}}}}")
        })
    });
    let mut r = JSON.as_str().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The document, for tests and tools.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token made by `tryvoga token create` or `POST /api/v1/tokens` \
                         (`tv_…`). Commands need an issuer or admin token; reads need one \
                         only when the operator made them private.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tryvoga native API",
        description = "Real-time air-raid alerts: raise, end and cancel alerts, read the record, \
                       follow the log. Errors are `{\"error\":{\"code\",\"message\",...}}` with a \
                       4xx status; a client never causes a 5xx (503 is the record being \
                       unavailable, with nothing changed). Time is UTC, RFC 3339."
    ),
    modifiers(&BearerToken),
    paths(
        crate::alerts::start,
        crate::history::list,
        crate::alerts::active,
        crate::alerts::get_one,
        crate::alerts::update,
        crate::alerts::end,
        crate::alerts::cancel,
        crate::cap::message,
        crate::cap::atom,
        crate::regions::list,
        crate::regions::one,
        crate::history::stats,
        crate::history::monthly_svg,
        crate::history::heatmap_svg,
        crate::history::oblasts_svg,
        crate::events::events,
        crate::admin::create_token,
        crate::admin::list_tokens,
        crate::admin::revoke_token,
        crate::admin::audit,
        crate::webhooks::create,
        crate::webhooks::list,
        crate::webhooks::get_one,
        crate::webhooks::delete,
        crate::webhooks::dead_letters,
        crate::reports::list,
        crate::reports::post_report,
        crate::reports::nights,
        crate::reports::post_threat,
        crate::reports::nights_svg,
        crate::pages::whoami::whoami,
        crate::ops::healthz,
        crate::ops::metrics,
        crate::public_key,
        stream,
        websocket,
        document,
    ),
    components(schemas(ErrorBody, ErrorDetail, RegionInput, tryvoga_core::Event)),
    tags(
        (name = "alerts", description = "Raise, change, end and cancel alerts; the active set."),
        (name = "history", description = "The record for analysts."),
        (name = "regions", description = "The registry of oblasts, raions and hromadas."),
        (name = "events", description = "The log itself."),
        (name = "streams", description = "The log as it happens."),
        (name = "reports", description = "Attack reports and threat notices read from official texts."),
        (name = "charts", description = "Charts as SVG."),
        (name = "webhooks", description = "Signed deliveries of the log."),
        (name = "cap", description = "CAP 1.2 messages and their Atom feed."),
        (name = "admin", description = "Tokens and the audit trail."),
        (name = "ops", description = "Health, metrics, keys and this document."),
    )
)]
struct ApiDoc;
