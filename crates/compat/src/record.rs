//! Where the compatibility APIs read from, so that the same handlers answer on a serve node
//! and on a stateless edge. A serve node reads its own record ([`Store`]). An edge has the
//! state replica it folds from the stream, which also knows when each active alert and each
//! region last changed, so the active sets and IoT strings need no database at all; tokens
//! and the history answers need the record, which an edge reads only when given one
//! (`tryvoga edge --db`). Without it an edge serves these APIs only when they are public, and
//! answers history with a clear 503.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use tryvoga_bus::BoxFuture;
use tryvoga_core::{Alert, RegionId, State};
use tryvoga_edge::replica::Replica;
use tryvoga_store::{Reader, SharedQueries, Store, StoreError, tokens};

use crate::Refused;

/// What a presented secret turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// A live token, by name.
    Live(String),
    Revoked,
    Unknown,
}

/// Active alerts, each with when it last changed.
pub type ActiveAlerts = Vec<(Alert, DateTime<Utc>)>;

/// The record as these APIs need it.
pub trait Record: Send + Sync + 'static {
    fn state(&self) -> Arc<State>;
    /// The active actual alerts, each with when it last changed, from one state.
    fn active_alerts(&self) -> BoxFuture<'_, Result<ActiveAlerts, Refused>>;
    /// When an actual alert on any of `regions` last changed.
    fn last_actual_change(
        &self,
        regions: Vec<RegionId>,
    ) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, Refused>>;
    /// The record's reads, where this process has the record.
    fn queries(&self) -> Option<&SharedQueries>;
    /// Blocking: what `secret` is.
    fn check_token(&self, secret: &str) -> Result<TokenCheck, Refused>;
}

/// Runs a blocking read of `queries` off the runtime's threads.
pub(crate) async fn read<T: Send + 'static>(
    queries: Option<&SharedQueries>,
    f: impl FnOnce(&dyn tryvoga_store::Queries) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Refused> {
    let Some(queries) = queries.map(Arc::clone) else {
        return Err(no_record());
    };
    tokio::task::spawn_blocking(move || f(queries.as_ref()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a read task of a compatibility API failed");
            Refused::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the record could not be read; try again",
            )
        })?
        .map_err(Refused::from)
}

fn no_record() -> Refused {
    Refused::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "this edge serves no history: it was started without the record (--db); ask a serve node",
    )
}

fn token_check(
    live: Option<tokens::TokenInfo>,
    queries: &SharedQueries,
    secret: &str,
) -> Result<TokenCheck, StoreError> {
    if let Some(info) = live {
        return Ok(TokenCheck::Live(info.name));
    }
    Ok(if queries.token_revoked(&tokens::hash(secret))? {
        TokenCheck::Revoked
    } else {
        TokenCheck::Unknown
    })
}

impl Record for Store {
    fn state(&self) -> Arc<State> {
        Store::state(self)
    }

    fn active_alerts(&self) -> BoxFuture<'_, Result<ActiveAlerts, Refused>> {
        Box::pin(async move {
            let alerts: Vec<Alert> = Store::state(self)
                .active()
                .filter(|a| a.status.is_actual())
                .cloned()
                .collect();
            let seqs: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
            let times = read(Some(self.queries()), move |q| q.event_times(&seqs)).await?;
            Ok(alerts
                .into_iter()
                .map(|a| {
                    let t = times.get(&a.seq).copied().unwrap_or(a.started_at);
                    (a, t)
                })
                .collect())
        })
    }

    fn last_actual_change(
        &self,
        regions: Vec<RegionId>,
    ) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, Refused>> {
        Box::pin(read(Some(self.queries()), move |q| {
            q.last_actual_change(&regions)
        }))
    }

    fn queries(&self) -> Option<&SharedQueries> {
        Some(Store::queries(self))
    }

    fn check_token(&self, secret: &str) -> Result<TokenCheck, Refused> {
        let live = self.authenticate(secret)?.map(|(info, _)| info);
        Ok(token_check(live, self.queries(), secret)?)
    }
}

/// An edge's record: its replica of the state, and the record itself when it was given one.
pub struct ReplicaRecord {
    pub replica: Arc<Replica>,
    pub reader: Option<Reader>,
}

impl ReplicaRecord {
    fn ready(&self) -> Result<(), Refused> {
        if self.replica.ready() {
            Ok(())
        } else {
            Err(Refused::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this edge is still reading the log; try again in a moment",
            ))
        }
    }
}

impl Record for ReplicaRecord {
    fn state(&self) -> Arc<State> {
        Arc::clone(&self.replica.view().state)
    }

    fn active_alerts(&self) -> BoxFuture<'_, Result<ActiveAlerts, Refused>> {
        Box::pin(async move {
            self.ready()?;
            let view = self.replica.view();
            Ok(view
                .state
                .active()
                .filter(|a| a.status.is_actual())
                .map(|a| {
                    let t = view.changed.get(&a.id).copied().unwrap_or(a.started_at);
                    (a.clone(), t)
                })
                .collect())
        })
    }

    fn last_actual_change(
        &self,
        regions: Vec<RegionId>,
    ) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, Refused>> {
        Box::pin(async move {
            self.ready()?;
            Ok(self.replica.view().last_actual_change(&regions))
        })
    }

    fn queries(&self) -> Option<&SharedQueries> {
        self.reader.as_ref().map(Reader::queries)
    }

    fn check_token(&self, secret: &str) -> Result<TokenCheck, Refused> {
        let Some(reader) = &self.reader else {
            return Err(Refused::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this edge checks no tokens: it was started without the record (--db)",
            ));
        };
        let live = reader.authenticate(secret)?;
        Ok(token_check(live, reader.queries(), secret)?)
    }
}
