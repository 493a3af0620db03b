//! Who may open a stream, and for how long. The rule (public reads, or a reader token) belongs
//! to the API, which knows the tokens; the edge only asks, so that it needs nothing of the
//! record behind it. A stream opened with a token holds a [`Grant`] that the API withdraws
//! when the token is revoked, and the stream then ends: a revoked reader must not go on
//! receiving what it was let in to read.

use axum::http::{HeaderMap, header};
use tokio::sync::watch;
use tryvoga_bus::BoxFuture;

use crate::error::ApiError;

pub trait ReadGate: Send + Sync + 'static {
    /// The grant to read the stream when a request with these headers may; the refusal to
    /// send if not.
    fn check<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<Grant, ApiError>>;
}

/// Everyone may read: for tests, benchmarks and a server whose reads are public.
pub struct Open;

impl ReadGate for Open {
    fn check<'a>(&'a self, _: &'a HeaderMap) -> BoxFuture<'a, Result<Grant, ApiError>> {
        Box::pin(async { Ok(Grant::lasting()) })
    }
}

/// A stream's right to go on: lasting (public reads), or held while its token is live. Every
/// stream of one token shares one channel, so a grant costs a subscriber a pointer.
#[derive(Clone)]
pub struct Grant(Option<watch::Receiver<bool>>);

impl Grant {
    /// A grant nothing withdraws.
    pub fn lasting() -> Grant {
        Grant(None)
    }

    /// A grant withdrawn when `true` is sent on the channel.
    pub fn until_withdrawn(withdrawn: watch::Receiver<bool>) -> Grant {
        Grant(Some(withdrawn))
    }

    /// Resolves once the grant is withdrawn; never, for a lasting one.
    pub async fn withdrawn(&mut self) {
        let Some(rx) = &mut self.0 else {
            return std::future::pending().await;
        };
        loop {
            if *rx.borrow_and_update() {
                return;
            }
            if rx.changed().await.is_err() {
                // The sender is gone only when the server is: nothing will withdraw it now.
                return std::future::pending().await;
            }
        }
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
