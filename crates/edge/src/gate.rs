//! Who may open a stream. The rule (public reads, or a reader token) belongs to the API, which
//! knows the tokens; the edge only asks, so that it needs nothing of the record behind it.

use axum::http::{HeaderMap, header};
use tryvoga_bus::BoxFuture;

use crate::error::ApiError;

pub trait ReadGate: Send + Sync + 'static {
    /// `Ok` when a request with these headers may read the stream; the refusal to send if not.
    fn check<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<(), ApiError>>;
}

/// Everyone may read: for tests, benchmarks and a server whose reads are public.
pub struct Open;

impl ReadGate for Open {
    fn check<'a>(&'a self, _: &'a HeaderMap) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}
