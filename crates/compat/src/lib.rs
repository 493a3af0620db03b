//! Drop-in compatibility with the two APIs that thousands of LED maps, bots, widgets and home
//! hubs already speak: alerts.in.ua (v1, and the v2 IoT strings with levels) and
//! api.ukrainealarm.com (v3, with signed webhooks). A client works against Tryvoga by changing
//! only its base URL. Shapes were reconstructed from the public client packages and docs.
//!
//! Only `actual` alerts ever appear here: drills stay on the native API. Tokens are Tryvoga
//! tokens of any role; the operator may serve either API without tokens (`--compat-public`)
//! and give each client a budget of requests a minute (`--compat-rate-limit`).
//!
//! alerts.in.ua (token as `Authorization: Bearer` or `?token=`; 401 unknown, 403 revoked,
//! 429 over budget, each `{"message"}`; `Last-Modified` on every answer, 304 on
//! `If-Modified-Since`):
//! - `GET /v1/alerts/active.json`
//! - `GET /v1/regions/{uid}/alerts/{day_ago|week_ago|month_ago}.json` (also `/v1/locations/...`)
//! - `GET /v1/iot/active_air_raid_alerts_by_oblast.json`: 27 letters A/P/N, official order
//! - `GET /v1/iot/active_air_raid_alerts/{uid}.json`: one letter
//! - `GET /v1/iot/active_air_raid_alerts.json`: a letter at every uid, spaces between
//! - the same three under `/v2/iot/` with `R`/`Y` for active red/yellow
//!
//! api.ukrainealarm.com (raw key in `Authorization`):
//! - `GET /api/v3/alerts`, `/api/v3/alerts/{regionId}`, `/api/v3/alerts/status`,
//!   `/api/v3/alerts/regionHistory?regionId=`, `/api/v3/regions`
//! - `POST`/`PATCH`/`DELETE /api/v3/webhook` with `{"webHookUrl"}`
//! - `GET /webhook-public.pem` and `GET /api/v3/webhook/keys`: the key deliveries are signed with
//!
//! This room is a thin mapping: every answer is built from the core's state and the store's
//! queries, every refusal comes from the shared preamble below ([`Admitted`]), and the
//! deliveries of the webhooks registered here are `tryvoga_outputs::ukrainealarm`'s.

pub mod alerts_in_ua;
pub mod rate_limit;
pub mod record;
pub mod ukrainealarm;
pub mod webhooks;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tryvoga_bus::EventSource;
use tryvoga_core::{Alert, Registry};
use tryvoga_edge::ApiError;
use tryvoga_edge::gate::bearer;
use tryvoga_outputs::Outputs;
use tryvoga_store::{AnswerCache, Queries, Store, StoreError};

use crate::record::{Record, TokenCheck};

/// What the operator chose for the compatibility APIs.
#[derive(Debug, Clone, Default)]
pub struct CompatOptions {
    /// Serve the alerts.in.ua API without a token.
    pub public_alerts_in_ua: bool,
    /// Serve the ukrainealarm API without a key (webhook registration still needs one).
    pub public_ukrainealarm: bool,
    /// Requests per minute per client (token, or address when none is sent); 0: no limit.
    pub rate_limit_per_minute: u32,
}

/// What the compatibility APIs serve from.
pub struct Compat {
    pub options: CompatOptions,
    pub limiter: rate_limit::Limiter,
    pub record: Arc<dyn Record>,
    pub registry: &'static Registry,
    pub source: Arc<dyn EventSource>,
    /// Where ukrainealarm webhooks are registered: only a serve node, which writes the record
    /// and runs the deliveries, has one.
    pub desk: Option<WebhookDesk>,
    /// Answers built once per state: the IoT strings.
    pub read_cache: AnswerCache,
}

/// The record's writer and the outputs, for webhook registration and its signing key.
pub struct WebhookDesk {
    pub store: Store,
    /// The ukrainealarm webhooks' signing key and the signal that their set changed.
    pub outputs: Arc<Outputs>,
}

pub type Shared = Arc<Compat>;

impl Compat {
    /// The APIs of a serve node, over its record.
    pub fn new(
        options: CompatOptions,
        store: Store,
        registry: &'static Registry,
        source: Arc<dyn EventSource>,
        outputs: Arc<Outputs>,
    ) -> Shared {
        Compat::over(
            options,
            Arc::new(store.clone()),
            registry,
            source,
            Some(WebhookDesk { store, outputs }),
        )
    }

    /// The APIs over any record: an edge's replica has no webhook desk.
    pub fn over(
        options: CompatOptions,
        record: Arc<dyn Record>,
        registry: &'static Registry,
        source: Arc<dyn EventSource>,
        desk: Option<WebhookDesk>,
    ) -> Shared {
        Arc::new(Compat {
            limiter: rate_limit::Limiter::new(options.rate_limit_per_minute),
            options,
            record,
            registry,
            source,
            desk,
            read_cache: AnswerCache::default(),
        })
    }

    /// Runs a blocking read of the record.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Queries) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Refused> {
        record::read(self.record.queries(), f).await
    }

    /// The active actual alerts, each with when it last changed.
    pub async fn active_alerts(&self) -> Result<Vec<(Alert, DateTime<Utc>)>, Refused> {
        self.record.active_alerts().await
    }
}

/// Every compatibility route, with their state.
pub fn routes(compat: Shared) -> Router {
    let mut routes = alerts_in_ua::routes().merge(ukrainealarm::routes());
    if compat.desk.is_some() {
        routes = routes.merge(ukrainealarm::webhook_routes());
    }
    routes.with_state(compat)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    AlertsInUa,
    UkraineAlarm,
}

/// Why a request was turned away, before it reached a handler's work.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl Refused {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Refused {
        Refused {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Refused {
        Refused::new(e.status, e.message)
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Refused {
        tracing::error!(error = %e, "storage failure on a compatibility API");
        Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the record could not be read; try again",
        )
    }
}

/// Both APIs answer errors as `{"message": ...}`: the alerts.in.ua clients print that field.
impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(json!({ "message": self.message }))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Who is asking. `token` is the Tryvoga token's name when one was presented and checked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: Option<String>,
}

/// The secret a client of `api` presents: alerts.in.ua sends `Bearer` or `?token=`,
/// ukrainealarm the raw key in `Authorization` (a `Bearer` prefix is tolerated).
fn presented_secret(api: Api, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(t) = bearer(headers) {
        return Some(t.to_string());
    }
    if api == Api::UkraineAlarm {
        let raw = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
        return (!raw.is_empty()).then(|| raw.to_string());
    }
    query_param(query, "token").filter(|t| !t.is_empty())
}

pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn client_addr(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// Checks the caller of `api`: a live token unless the API is public (401 unknown, 403
/// revoked), then the request budget (429). `need_token` forces a token even when public.
pub async fn authorize(
    app: &Shared,
    api: Api,
    headers: &HeaderMap,
    query: Option<&str>,
    addr: Option<IpAddr>,
    need_token: bool,
) -> Result<Caller, Refused> {
    let public = match api {
        Api::AlertsInUa => app.options.public_alerts_in_ua,
        Api::UkraineAlarm => app.options.public_ukrainealarm,
    };
    let caller = if public && !need_token {
        // A public API ignores tokens altogether: a device configured with its alerts.in.ua
        // token must keep working when pointed here.
        Caller { token: None }
    } else {
        let hint = match api {
            Api::AlertsInUa => "send Authorization: Bearer <token> or ?token=<token>",
            Api::UkraineAlarm => "send the key in the Authorization header",
        };
        let Some(secret) = presented_secret(api, headers, query) else {
            return Err(Refused::new(
                StatusCode::UNAUTHORIZED,
                format!("Unauthorized: this API needs a token; {hint}"),
            ));
        };
        let record = Arc::clone(&app.record);
        let found = tokio::task::spawn_blocking(move || record.check_token(&secret))
            .await
            .map_err(|e| Refused::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))??;
        match found {
            TokenCheck::Live(name) => Caller { token: Some(name) },
            TokenCheck::Revoked => {
                return Err(Refused::new(
                    StatusCode::FORBIDDEN,
                    "Forbidden: this token has been revoked",
                ));
            }
            TokenCheck::Unknown => {
                return Err(Refused::new(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized: the token is unknown",
                ));
            }
        }
    };
    let client = match (&caller.token, addr) {
        (Some(t), _) => format!("token:{t}"),
        (None, Some(ip)) => format!("addr:{ip}"),
        (None, None) => "addr:unknown".to_string(),
    };
    if let Err(wait) = app.limiter.check(&client, Utc::now().timestamp()) {
        let mut refused = Refused::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many requests: at most {} a minute; retry in {wait} s",
                app.options.rate_limit_per_minute
            ),
        );
        refused.retry_after = Some(wait);
        return Err(refused);
    }
    Ok(caller)
}

/// When the data last changed, in whole seconds as HTTP dates go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The second of the last event.
    pub event: i64,
    /// The second sent as `Last-Modified`: the event's, or one before it while that second is
    /// still running, so that a copy made then never matches a change later in that second.
    pub header: i64,
}

impl Stamp {
    pub fn at(last_event_ms: i64, now_secs: i64) -> Stamp {
        let event = last_event_ms.div_euclid(1000);
        let header = if event >= now_secs {
            event.min(now_secs) - 1
        } else {
            event
        };
        Stamp { event, header }
    }
}

/// The stamp for answers built from the state now. Read it before the state: the state is
/// then at least as new as the stamp.
pub fn last_modified(app: &Shared) -> Stamp {
    Stamp::at(app.source.last_event_ms(), Utc::now().timestamp())
}

pub fn http_date(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `If-Modified-Since`, leniently: some clients send the date in quotes, or an empty value.
pub fn if_modified_since(headers: &HeaderMap) -> Option<i64> {
    let raw = headers.get(header::IF_MODIFIED_SINCE)?.to_str().ok()?;
    let text = raw.trim().trim_matches('"').trim();
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|t| t.timestamp())
}

/// 304 when the client's copy already holds the last event.
pub fn not_modified(headers: &HeaderMap, stamp: Stamp) -> Option<Response> {
    let since = if_modified_since(headers)?;
    (since >= stamp.event).then(|| {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        set_last_modified(&mut r, stamp);
        r
    })
}

pub fn set_last_modified(response: &mut Response, stamp: Stamp) {
    if let Ok(v) = HeaderValue::from_str(&http_date(stamp.header)) {
        response.headers_mut().insert(header::LAST_MODIFIED, v);
    }
}

/// A JSON answer carrying `Last-Modified` (the ralertsinua client fails without it).
pub fn json_answer(value: &serde_json::Value, last_modified: Stamp) -> Response {
    let mut r = axum::Json(value).into_response();
    set_last_modified(&mut r, last_modified);
    r
}

/// One of the two APIs, as a type, for [`Admitted`].
pub trait Surface: Send + Sync + 'static {
    const API: Api;
}

pub struct AlertsInUa;
pub struct UkraineAlarm;

impl Surface for AlertsInUa {
    const API: Api = Api::AlertsInUa;
}

impl Surface for UkraineAlarm {
    const API: Api = Api::UkraineAlarm;
}

/// A request that passed the preamble every endpoint of `A` starts with: the caller (a token
/// unless the API is public, then the request budget) and, when `CONDITIONAL`, the client's
/// copy (`If-Modified-Since`: a copy that already holds the last event is answered 304 here).
/// A handler that takes it holds nothing but its own work.
pub struct Admitted<A, const CONDITIONAL: bool = true> {
    pub caller: Caller,
    /// The `Last-Modified` to answer with, read before the state the answer is built from.
    pub stamp: Stamp,
    pub query: Option<String>,
    api: std::marker::PhantomData<A>,
}

impl<A: Surface, const CONDITIONAL: bool> FromRequestParts<Shared> for Admitted<A, CONDITIONAL> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Response> {
        let stamp = last_modified(app);
        let query = parts.uri.query().map(str::to_string);
        let addr = client_addr(&parts.extensions);
        let caller = authorize(app, A::API, &parts.headers, query.as_deref(), addr, false)
            .await
            .map_err(IntoResponse::into_response)?;
        if CONDITIONAL && let Some(fresh) = not_modified(&parts.headers, stamp) {
            return Err(fresh);
        }
        Ok(Admitted {
            caller,
            stamp,
            query,
            api: std::marker::PhantomData,
        })
    }
}

/// When the record last changed, for `meta.last_updated_at`-like fields: the last event, or
/// now for an empty record.
pub fn last_updated(app: &Shared) -> DateTime<Utc> {
    match app.source.last_event_ms() {
        0 => Utc::now(),
        ms => Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_made_in_the_second_of_a_change_never_matches_a_later_change_in_it() {
        // Copy made at second 100, after an event at 100.5 s.
        let copy = Stamp::at(100_500, 100);
        assert_eq!(copy.header, 99);
        // Another event at 100.9 s: the copy's date is older than the event's second.
        let later = Stamp::at(100_900, 100);
        assert!(copy.header < later.event);
        // A copy made after the second ended carries it and matches while nothing changes.
        let settled = Stamp::at(100_900, 101);
        assert_eq!(settled.header, 100);
        assert!(settled.header >= Stamp::at(100_900, 105).event);
    }

    #[test]
    fn dates_round_trip_and_quoted_or_empty_ones_are_tolerated() {
        let t = 1_715_710_698;
        let text = http_date(t);
        assert_eq!(text, "Tue, 14 May 2024 18:18:18 GMT");
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&text).unwrap(),
        );
        assert_eq!(if_modified_since(&h), Some(t));
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&format!("\"{text}\"")).unwrap(),
        );
        assert_eq!(if_modified_since(&h), Some(t));
        h.insert(header::IF_MODIFIED_SINCE, HeaderValue::from_static(""));
        assert_eq!(if_modified_since(&h), None);
    }
}
