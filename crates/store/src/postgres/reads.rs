//! PostgreSQL reads of the log, the alerts, tokens and the audit trail, on pooled
//! connections. Lists are passed as arrays (`= ANY($n)`), so each query is one statement
//! whatever a request filters on.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use postgres::Client;
use postgres::types::ToSql;
use tryvoga_bus::StoredEvent;
use tryvoga_core::{Alert, AlertId, AlertType, Event, RegionId, Role};

use super::{PgQueries, seq};
use crate::queries::{
    AlertQueries, AuditQueries, AuditRecord, Cursor, HistoryQuery, LogQueries, Span, TokenQueries,
};
use crate::tokens::TokenInfo;
use crate::{StoreError, from_ms, ms};

/// Active alerts as the materialised table has them; the state is rebuilt from them on open.
pub(crate) fn active_alerts(c: &mut Client) -> Result<Vec<Alert>, StoreError> {
    c.query(
        "SELECT json FROM alerts WHERE ended_ms IS NULL ORDER BY id",
        &[],
    )?
    .iter()
    .map(|r| serde_json::from_str(r.get(0)).map_err(StoreError::from))
    .collect()
}

/// The events that make the state's threats, pre-alerts, power restrictions and times to
/// shelter, oldest first: folded on open, beside the materialised alerts.
pub(crate) fn situation_events(c: &mut Client) -> Result<Vec<tryvoga_core::Event>, StoreError> {
    let kinds: Vec<String> = tryvoga_core::event::SITUATION_KINDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    c.query(
        "SELECT payload FROM events WHERE kind = ANY($1) ORDER BY seq",
        &[&kinds],
    )?
    .iter()
    .map(|r| serde_json::from_str(r.get(0)).map_err(StoreError::from))
    .collect()
}

pub(crate) fn max_alert_id(c: &mut Client) -> Result<u64, StoreError> {
    let id: Option<i64> = c.query_one("SELECT MAX(id) FROM alerts", &[])?.get(0);
    Ok(seq(id.unwrap_or(0)))
}

fn region(id: i64) -> RegionId {
    RegionId(u32::try_from(id).unwrap_or_default())
}

fn type_words(types: &[AlertType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}

fn region_ids(regions: &[RegionId]) -> Vec<i64> {
    regions.iter().map(|r| i64::from(r.0)).collect()
}

impl LogQueries for PgQueries {
    fn events_of_kinds(
        &self,
        kinds: &[&str],
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        self.with(|c| {
            let rows = c.query(
                "SELECT seq, kind, region_id, payload FROM events
                 WHERE kind = ANY($1) AND seq < $2 ORDER BY seq DESC LIMIT $3",
                &[&kinds, &before, &(limit.min(i64::MAX as usize) as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| StoredEvent {
                    seq: seq(r.get(0)),
                    kind: r.get(1),
                    region: r.get::<_, Option<i64>>(2).map(region),
                    payload: r.get(3),
                })
                .collect())
        })
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT seq, kind, region_id, payload FROM events WHERE seq > $1
                 ORDER BY seq LIMIT $2",
                &[&(after as i64), &(limit.min(i64::MAX as usize) as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| StoredEvent {
                    seq: seq(r.get(0)),
                    kind: r.get(1),
                    region: r.get::<_, Option<i64>>(2).map(region),
                    payload: r.get(3),
                })
                .collect())
        })
    }

    fn head(&self) -> Result<(u64, i64), StoreError> {
        self.with(|c| {
            let row = c.query_one(
                "SELECT h.seq, (SELECT at_ms FROM events WHERE seq = h.seq)
                 FROM log_head h WHERE h.id = 1",
                &[],
            )?;
            Ok((seq(row.get(0)), row.get::<_, Option<i64>>(1).unwrap_or(0)))
        })
    }

    fn event_times(&self, seqs: &[u64]) -> Result<HashMap<u64, DateTime<Utc>>, StoreError> {
        let wanted: Vec<i64> = seqs.iter().map(|&s| s as i64).collect();
        self.with(|c| {
            let rows = c.query(
                "SELECT seq, at_ms FROM events WHERE seq = ANY($1)",
                &[&wanted],
            )?;
            Ok(rows
                .iter()
                .map(|r| (seq(r.get(0)), from_ms(r.get(1))))
                .collect())
        })
    }

    fn alert_events(&self, alert: AlertId) -> Result<Vec<Event>, StoreError> {
        self.with(|c| {
            c.query(
                "SELECT payload FROM events WHERE alert_id = $1 ORDER BY seq",
                &[&(alert.0 as i64)],
            )?
            .iter()
            .map(|r| serde_json::from_str(r.get(0)).map_err(StoreError::from))
            .collect()
        })
    }
}

impl AlertQueries for PgQueries {
    fn alert(&self, id: AlertId) -> Result<Option<Alert>, StoreError> {
        self.with(|c| {
            c.query_opt("SELECT json FROM alerts WHERE id = $1", &[&(id.0 as i64)])?
                .map(|r| serde_json::from_str(r.get(0)).map_err(StoreError::from))
                .transpose()
        })
    }

    fn history(&self, q: &HistoryQuery) -> Result<(Vec<Alert>, Option<Cursor>), StoreError> {
        let regions = q.regions.as_deref().map(region_ids);
        let types = q.types.as_deref().map(type_words);
        let status = q.status.map(|s| s.as_str());
        let to = q.to.map(ms);
        let from = q.from.map(ms);
        let after_ms = q.after.map(|c| c.started_ms);
        let after_id = q.after.map(|c| c.id as i64);
        let limit = q.limit.min(i64::MAX as usize) as i64;
        let params: [&(dyn ToSql + Sync); 8] = [
            &regions, &types, &status, &to, &from, &after_ms, &after_id, &limit,
        ];
        self.with(|c| {
            let rows = c.query(
                "SELECT json, started_ms, id FROM alerts
                 WHERE ($1::bigint[] IS NULL OR region_id = ANY($1))
                   AND ($2::text[] IS NULL OR type = ANY($2))
                   AND ($3::text IS NULL OR status = $3)
                   AND ($4::bigint IS NULL OR started_ms < $4)
                   AND ($5::bigint IS NULL OR ended_ms IS NULL OR ended_ms > $5)
                   AND ($6::bigint IS NULL OR started_ms < $6 OR (started_ms = $6 AND id < $7))
                 ORDER BY started_ms DESC, id DESC LIMIT $8",
                &params,
            )?;
            let mut alerts = Vec::with_capacity(rows.len());
            let mut last = None;
            for r in &rows {
                alerts.push(serde_json::from_str(r.get(0))?);
                last = Some(Cursor {
                    started_ms: r.get(1),
                    id: seq(r.get(2)),
                });
            }
            let next = if alerts.len() == q.limit { last } else { None };
            Ok((alerts, next))
        })
    }

    fn spans(
        &self,
        oblast: Option<RegionId>,
        types: Option<&[AlertType]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Span>, StoreError> {
        let oblast = oblast.map(|o| i64::from(o.0));
        let types = types.map(type_words);
        self.with(|c| {
            let rows = c.query(
                "SELECT region_id, started_ms, ended_ms FROM alerts
                 WHERE status = 'actual' AND started_ms < $1 AND (ended_ms IS NULL OR ended_ms > $2)
                   AND ($3::bigint IS NULL OR oblast_id = $3)
                   AND ($4::text[] IS NULL OR type = ANY($4))",
                &[&ms(to), &ms(from), &oblast, &types],
            )?;
            Ok(rows
                .iter()
                .map(|r| Span {
                    region: region(r.get(0)),
                    started_ms: r.get(1),
                    ended_ms: r.get(2),
                })
                .collect())
        })
    }

    fn last_actual_change(
        &self,
        regions: &[RegionId],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        if regions.is_empty() {
            return Ok(None);
        }
        let ids = region_ids(regions);
        self.with(|c| {
            let ms: Option<i64> = c
                .query_one(
                    "SELECT MAX(e.at_ms) FROM alerts a JOIN events e ON e.seq = a.seq
                     WHERE a.status = 'actual' AND a.region_id = ANY($1)",
                    &[&ids],
                )?
                .get(0);
            Ok(ms.map(from_ms))
        })
    }

    fn ended_since(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<AlertId>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT id FROM alerts WHERE ended_ms >= $1 AND origin != 'import'
                 ORDER BY ended_ms DESC LIMIT $2",
                &[&ms(since), &(limit.min(i64::MAX as usize) as i64)],
            )?;
            Ok(rows.iter().map(|r| AlertId(seq(r.get(0)))).collect())
        })
    }

    fn imported_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT source, COUNT(*) FROM imported GROUP BY source ORDER BY source",
                &[],
            )?;
            Ok(rows.iter().map(|r| (r.get(0), seq(r.get(1)))).collect())
        })
    }
}

const TOKEN_COLUMNS: &str = "id, name, role, scope, created_ms, revoked_ms";

fn token_row(r: &postgres::Row) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: r.get(0),
        name: r.get(1),
        role: r
            .get::<_, &str>(2)
            .parse::<Role>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        regions: serde_json::from_str(r.get(3))?,
        created_at: from_ms(r.get(4)),
        revoked_at: r.get::<_, Option<i64>>(5).map(from_ms),
    })
}

impl TokenQueries for PgQueries {
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 AND revoked_ms IS NULL"
                ),
                &[&hash],
            )?
            .as_ref()
            .map(token_row)
            .transpose()
        })
    }

    fn token_revoked(&self, hash: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT 1 FROM tokens WHERE hash = $1 AND revoked_ms IS NOT NULL",
                &[&hash],
            )?
            .is_some())
        })
    }

    fn token_by_name(&self, name: &str) -> Result<Option<TokenInfo>, StoreError> {
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE name = $1"),
                &[&name],
            )?
            .as_ref()
            .map(token_row)
            .transpose()
        })
    }

    fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.with(|c| {
            c.query(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"),
                &[],
            )?
            .iter()
            .map(token_row)
            .collect()
        })
    }

    fn token_count(&self) -> Result<u64, StoreError> {
        self.with(|c| Ok(seq(c.query_one("SELECT COUNT(*) FROM tokens", &[])?.get(0))))
    }
}

impl AuditQueries for PgQueries {
    fn audit(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT id, at_ms, token, action, request, outcome, code, reason, seq
                 FROM audit ORDER BY id DESC LIMIT $1",
                &[&(limit.min(i64::MAX as usize) as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| AuditRecord {
                    id: r.get(0),
                    at: from_ms(r.get(1)),
                    token: r.get(2),
                    action: r.get(3),
                    request: r.get(4),
                    outcome: r.get(5),
                    code: r.get(6),
                    reason: r.get(7),
                    seq: r.get(8),
                })
                .collect())
        })
    }
}
