//! The PostgreSQL [`EventLog`]: one connection, owned by a node's writer thread. A batch is
//! one transaction that holds the `log_head` row lock from [`EventLog::begin`] (where the
//! events other nodes appended meanwhile are handed back to be folded into this node's
//! state) to the commit in [`EventLog::append`]. Statements of the command path are prepared
//! once per connection. A connection that fails is dropped and made again on the next batch;
//! whatever a lost commit did or did not write, the next `begin` reads it back from the log.

use std::collections::HashMap;
use std::time::Duration;

use fallible_iterator::FallibleIterator;
use postgres::{Client, Statement};
use tryvoga_core::{AlertId, Event, State};

use super::{Connector, reads, reports, seq};
use crate::log::{Applied, Batch, EventLog, ImportKey, LogWatch, Recorded, TokenWrite};
use crate::{StoreError, ms};

/// The channel every commit notifies, so that idle nodes hear of new events at once.
pub(crate) const CHANNEL: &str = "tryvoga_log";

pub struct PgLog {
    connector: Connector,
    client: Option<Client>,
    prepared: HashMap<&'static str, Statement>,
    /// Whether a transaction holding the head lock is open.
    open: bool,
}

impl PgLog {
    pub(crate) fn new(connector: Connector, client: Client) -> PgLog {
        PgLog {
            connector,
            client: Some(client),
            prepared: HashMap::new(),
            open: false,
        }
    }

    /// A live connection, made again if the last one failed.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.prepared.clear();
            self.open = false;
            self.client = Some(self.connector.connect()?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Corrupt("no connection".into()))
    }

    /// Runs `f` on the connection; after a failure, takes back an open transaction (or drops
    /// a broken connection) so that the next batch starts clean.
    fn run<T: Send>(
        &mut self,
        f: impl FnOnce(&mut Client, &mut Prepared<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        // The writer thread is outside any runtime; opening a store from async code is not.
        super::off_runtime(|| self.run_here(f))
    }

    fn run_here<T>(
        &mut self,
        f: impl FnOnce(&mut Client, &mut Prepared<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.client()?;
        let (Some(client), prepared) = (self.client.as_mut(), &mut self.prepared) else {
            return Err(StoreError::Corrupt("no connection".into()));
        };
        let result = f(client, &mut Prepared(prepared));
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn reset(&mut self) {
        if let Some(client) = self.client.as_mut() {
            let rolled_back = !self.open || client.batch_execute("ROLLBACK").is_ok();
            if !rolled_back || client.is_closed() {
                self.client = None;
                self.prepared.clear();
            }
        }
        self.open = false;
    }

    /// Opens the batch's transaction and takes the head lock: the log's last seq.
    fn lock_head(&mut self) -> Result<u64, StoreError> {
        // Open before BEGIN is sent: if anything after it fails, `reset` rolls back.
        self.open = true;
        let head = self.run(|c, p| {
            c.batch_execute("BEGIN")?;
            let s = p.get(c, "SELECT seq FROM log_head WHERE id = 1 FOR UPDATE")?;
            let row = c.query_one(&s, &[])?;
            Ok(seq(row.get(0)))
        });
        self.open = head.is_ok();
        head
    }
}

impl Drop for PgLog {
    fn drop(&mut self) {
        // Closing a client blocks on its runtime.
        let client = self.client.take();
        super::off_runtime(move || drop(client));
    }
}

/// The statements a connection has prepared.
pub(crate) struct Prepared<'a>(&'a mut HashMap<&'static str, Statement>);

impl Prepared<'_> {
    pub(crate) fn get(
        &mut self,
        c: &mut Client,
        sql: &'static str,
    ) -> Result<Statement, StoreError> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = c.prepare(sql)?;
        self.0.insert(sql, s.clone());
        Ok(s)
    }
}

impl EventLog for PgLog {
    fn restore(&mut self) -> Result<State, StoreError> {
        self.run(|c, _| {
            let head: i64 = c
                .query_one("SELECT seq FROM log_head WHERE id = 1", &[])?
                .get(0);
            let mut state =
                State::restore(reads::active_alerts(c)?, reads::max_alert_id(c)?, seq(head));
            for event in reads::situation_events(c)? {
                state.apply(&event);
            }
            Ok(state)
        })
    }

    fn newest_signature(&mut self) -> Result<Option<String>, StoreError> {
        let payload: Option<String> = self.run(|c, _| {
            Ok(c.query_opt(
                "SELECT payload FROM events WHERE strpos(payload, '\"sig\":') > 0
                 ORDER BY seq DESC LIMIT 1",
                &[],
            )?
            .map(|r| r.get(0)))
        })?;
        let Some(payload) = payload else {
            return Ok(None);
        };
        let event: Event = serde_json::from_str(&payload)?;
        Ok(event.sig)
    }

    fn event(&mut self, at: u64) -> Result<Option<Event>, StoreError> {
        self.run(|c, p| {
            let s = p.get(c, "SELECT payload FROM events WHERE seq = $1")?;
            c.query_opt(&s, &[&(at as i64)])?
                .map(|r| serde_json::from_str(r.get(0)).map_err(StoreError::from))
                .transpose()
        })
    }

    fn idempotency(&mut self, token: &str, key: &str) -> Result<Option<(String, u64)>, StoreError> {
        self.run(|c, p| {
            let s = p.get(
                c,
                "SELECT fingerprint, seq FROM idempotency WHERE token = $1 AND key = $2",
            )?;
            Ok(c.query_opt(&s, &[&token, &key])?
                .map(|r| (r.get(0), seq(r.get(1)))))
        })
    }

    fn recorded(&mut self, what: Recorded, key: &str) -> Result<Option<u64>, StoreError> {
        self.run(|c, p| reports::recorded(c, p, what, key))
    }

    fn imported(&mut self, key: &ImportKey) -> Result<Option<AlertId>, StoreError> {
        self.run(|c, p| {
            let s = p.get(
                c,
                "SELECT alert_id FROM imported
                 WHERE source = $1 AND region_id = $2 AND type = $3 AND started_ms = $4",
            )?;
            let row = c.query_opt(
                &s,
                &[
                    &key.source,
                    &i64::from(key.region.0),
                    &key.alert_type.as_str(),
                    &key.started_ms,
                ],
            )?;
            Ok(row.map(|r| AlertId(seq(r.get(0)))))
        })
    }

    fn token_named(&mut self, name: &str) -> Result<bool, StoreError> {
        self.run(|c, _| {
            Ok(c.query_one(
                "SELECT EXISTS (SELECT 1 FROM tokens WHERE name = $1)",
                &[&name],
            )?
            .get(0))
        })
    }

    fn begin(&mut self, after: u64) -> Result<Vec<Event>, StoreError> {
        let head = self.lock_head()?;
        if head <= after {
            return Ok(Vec::new());
        }
        self.run(|c, p| {
            let s = p.get(
                c,
                "SELECT seq, payload FROM events WHERE seq > $1 ORDER BY seq",
            )?;
            let mut out = Vec::new();
            for row in c.query(&s, &[&(after as i64)])? {
                let event: Event = serde_json::from_str(row.get(1))?;
                if event.seq != after + 1 + out.len() as u64 || event.seq != seq(row.get(0)) {
                    return Err(StoreError::Corrupt(format!(
                        "the log has a gap before seq {}",
                        event.seq
                    )));
                }
                out.push(event);
            }
            if out.last().map(|e| e.seq) != Some(head) {
                return Err(StoreError::Corrupt(format!(
                    "the log's head says {head} but its events end at {}",
                    out.last().map_or(after, |e| e.seq)
                )));
            }
            Ok(out)
        })
    }

    fn abandon(&mut self) {
        if self.open {
            self.reset();
        }
    }

    fn watcher(&mut self) -> Result<Option<Box<dyn LogWatch>>, StoreError> {
        Ok(Some(Box::new(PgWatch {
            connector: self.connector.clone(),
            client: None,
        })))
    }

    fn append(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
        let head = if self.open {
            None
        } else {
            Some(self.lock_head()?)
        };
        self.run(|c, p| {
            let head = match head {
                Some(h) => h,
                None => seq(c.query_one("SELECT seq FROM log_head WHERE id = 1", &[])?.get(0)),
            };
            if let Some(first) = batch.events.first()
                && first.seq != head + 1
            {
                return Err(StoreError::Conflict(format!(
                    "the batch starts at seq {} but the log is at {head}",
                    first.seq
                )));
            }
            for event in &batch.events {
                append_event(c, p, event)?;
            }
            for row in &batch.idempotency {
                let s = p.get(
                    c,
                    "INSERT INTO idempotency (token, key, fingerprint, seq) VALUES ($1, $2, $3, $4)",
                )?;
                c.execute(&s, &[&row.token, &row.key, &row.fingerprint, &(row.seq as i64)])?;
            }
            for row in &batch.imported {
                let s = p.get(
                    c,
                    "INSERT INTO imported (source, region_id, type, started_ms, alert_id, file, line)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )?;
                c.execute(
                    &s,
                    &[
                        &row.key.source,
                        &i64::from(row.key.region.0),
                        &row.key.alert_type.as_str(),
                        &row.key.started_ms,
                        &(row.alert.0 as i64),
                        &row.file,
                        &(row.line as i64),
                    ],
                )?;
            }
            for row in &batch.audit {
                let e = &row.entry;
                let s = p.get(
                    c,
                    "INSERT INTO audit (at_ms, token, action, request, outcome, code, reason, seq)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )?;
                let outcome = if e.code == "ok" { "accepted" } else { "refused" };
                c.execute(
                    &s,
                    &[
                        &ms(row.at),
                        &e.token,
                        &e.action,
                        &e.request,
                        &outcome,
                        &e.code,
                        &e.reason,
                        &row.seq.map(|s| s as i64),
                    ],
                )?;
            }
            let mut applied = Applied::default();
            for write in &batch.tokens {
                applied.tokens.push(token_write(c, write)?);
            }
            for write in &batch.outputs {
                applied.outputs.push(super::outputs::write(c, write)?);
            }
            if let Some(last) = batch.events.last() {
                let s = p.get(c, "UPDATE log_head SET seq = $1 WHERE id = 1")?;
                c.execute(&s, &[&(last.seq as i64)])?;
                let s = p.get(c, "SELECT pg_notify($1, $2)")?;
                c.execute(&s, &[&CHANNEL, &last.seq.to_string()])?;
            }
            c.batch_execute("COMMIT")?;
            Ok(applied)
        })
        .inspect(|_| self.open = false)
    }
}

/// Appends an event to the log and brings the materialised tables in line with it.
fn append_event(c: &mut Client, p: &mut Prepared<'_>, event: &Event) -> Result<(), StoreError> {
    let payload = serde_json::to_string(event)?;
    let s = p.get(
        c,
        "INSERT INTO events (seq, at_ms, kind, issuer, region_id, alert_id, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )?;
    let alert = event.body.alert();
    c.execute(
        &s,
        &[
            &(event.seq as i64),
            &ms(event.at),
            &event.kind(),
            &event.issuer,
            &event.body.region().map(|r| i64::from(r.0)),
            &alert.map(|a| a.id.0 as i64),
            &payload,
        ],
    )?;
    if let Some(alert) = alert {
        let s = p.get(
            c,
            "INSERT INTO alerts (id, region_id, oblast_id, type, level, status, started_ms,
                                 ended_ms, cancelled, origin, seq, json)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (id) DO UPDATE SET level = excluded.level, ended_ms = excluded.ended_ms,
                 cancelled = excluded.cancelled, seq = excluded.seq, json = excluded.json",
        )?;
        let origin = serde_json::to_value(alert.origin)?;
        c.execute(
            &s,
            &[
                &(alert.id.0 as i64),
                &i64::from(alert.region.id.0),
                &i64::from(alert.region.oblast_id.0),
                &alert.alert_type.as_str(),
                &alert.level.map(|l| l.as_str()),
                &alert.status.as_str(),
                &ms(alert.started_at),
                &alert.ended_at.map(ms),
                &alert.cancelled,
                &origin.as_str().unwrap_or("live"),
                &(event.seq as i64),
                &serde_json::to_string(alert)?,
            ],
        )?;
    }
    reports::materialise(c, p, event)
}

fn token_write(c: &mut Client, write: &TokenWrite) -> Result<i64, StoreError> {
    match write {
        TokenWrite::Create {
            name,
            hash,
            role,
            regions,
            at,
        } => Ok(c
            .query_one(
                "INSERT INTO tokens (name, hash, role, scope, created_ms)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    name,
                    hash,
                    &role.as_str(),
                    &serde_json::to_string(regions)?,
                    &ms(*at),
                ],
            )?
            .get(0)),
        TokenWrite::Revoke { name, at } => Ok(c.execute(
            "UPDATE tokens SET revoked_ms = $1 WHERE name = $2 AND revoked_ms IS NULL",
            &[&ms(*at), name],
        )? as i64),
    }
}

/// Waits for other nodes' commits on a connection of its own that LISTENs to the log's
/// channel; a lost connection is made again on the next wait.
pub struct PgWatch {
    connector: Connector,
    client: Option<Client>,
}

impl LogWatch for PgWatch {
    fn wait(&mut self, timeout: Duration) {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = self.connector.connect().ok().and_then(|mut c| {
                c.batch_execute(&format!("LISTEN {CHANNEL}"))
                    .ok()
                    .map(|()| c)
            });
        }
        let Some(client) = self.client.as_mut() else {
            std::thread::sleep(timeout);
            return;
        };
        let heard = client
            .notifications()
            .timeout_iter(timeout)
            .next()
            .map(|n| n.is_some());
        let lost = match heard {
            Ok(true) => {
                // One wake-up for everything already heard.
                while let Ok(Some(_)) = client.notifications().iter().next() {}
                false
            }
            Ok(false) => false,
            Err(_) => true,
        };
        if lost {
            self.client = None;
        }
    }
}
