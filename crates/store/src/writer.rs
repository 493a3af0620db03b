//! The single writer: one thread owns the read-write connection and the authoritative state,
//! takes requests from a queue, and commits them in batches (group commit). A request is
//! answered only after the transaction holding it is on disk.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::{mpsc, oneshot};
use tryvoga_core::{Actor, Command, Event, Origin, Refusal, Registry, Role, State};

use crate::history::{ImportChunk, ImportReport};
use crate::tokens::{self, TokenInfo};
use crate::{StoreError, ms};

/// How many queued requests one transaction takes at most.
const MAX_BATCH: usize = 1024;
/// Prepared statements the writer keeps: every statement of the command path is prepared
/// once and reused, so that SQLite does not parse it again for each request.
const STATEMENT_CACHE: usize = 64;

/// A command refused before it reached the core (bad token, malformed body...), for the audit.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub token: Option<String>,
    pub action: String,
    pub request: Option<String>,
    pub code: String,
    pub reason: String,
}

#[derive(Debug)]
pub struct Accepted {
    pub event: Event,
    /// True when an earlier request with the same idempotency key is being answered again.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("idempotency key {0:?} was already used for a different request")]
    KeyReused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub regions: Vec<tryvoga_core::RegionId>,
}

pub(crate) enum Request {
    Command {
        actor: Actor,
        command: Command,
        idempotency_key: Option<String>,
        reply: oneshot::Sender<Result<Accepted, CommandError>>,
        origin: Origin,
    },
    Audit(AuditEntry),
    ImportHistory {
        chunk: ImportChunk,
        reply: oneshot::Sender<Result<ImportReport, StoreError>>,
    },
    CreateToken {
        token: NewToken,
        reply: oneshot::Sender<Result<(TokenInfo, String), StoreError>>,
    },
    RevokeToken {
        name: String,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// A write to a table beside the log (webhook positions, signing keys...), run in the
    /// batch's transaction so that it shares the single writer and its durability.
    Write {
        run: WriteFn,
        reply: oneshot::Sender<Result<Written, StoreError>>,
    },
}

pub(crate) type Written = Box<dyn std::any::Any + Send>;
pub(crate) type WriteFn = Box<dyn FnOnce(&Connection) -> Result<Written, StoreError> + Send>;

/// Receives every batch of committed events, in order, with the state after them.
pub type Publisher = Box<dyn FnMut(&[Event], &Arc<State>) + Send>;

/// Signs an event as it is appended, returning its `sig`. Signing in the writer puts the
/// signature into the stored payload, so every later reader and wire format carries it.
pub type Sealer = Box<dyn Fn(&Event) -> String + Send>;

pub(crate) fn seal(sealer: Option<&Sealer>, event: &mut Event) {
    if let Some(sealer) = sealer {
        event.sig = Some(sealer(event));
    }
}

pub(crate) struct Writer {
    pub conn: Connection,
    pub state: Arc<State>,
    pub shared: Arc<RwLock<Arc<State>>>,
    pub registry: &'static Registry,
    pub publish: Publisher,
    pub sealer: Option<Sealer>,
    /// Tokens the server remembers; forgotten after a revocation commits.
    pub tokens: Arc<crate::token_cache::TokenCache>,
}

/// A reply waiting for its transaction to commit.
enum Pending {
    Command(
        oneshot::Sender<Result<Accepted, CommandError>>,
        Result<Accepted, CommandError>,
    ),
    Token(
        oneshot::Sender<Result<(TokenInfo, String), StoreError>>,
        Result<(TokenInfo, String), StoreError>,
    ),
    Revoke(
        oneshot::Sender<Result<bool, StoreError>>,
        Result<bool, StoreError>,
    ),
    Write(
        oneshot::Sender<Result<Written, StoreError>>,
        Result<Written, StoreError>,
    ),
    Import(
        oneshot::Sender<Result<ImportReport, StoreError>>,
        Result<ImportReport, StoreError>,
    ),
    None,
}

impl Writer {
    pub fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        self.conn
            .set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&mut self, batch: Vec<Request>) {
        let mut working = (*self.state).clone();
        let mut events = Vec::new();
        let tx = match self.conn.transaction() {
            Ok(tx) => tx,
            Err(e) => return fail_all(batch, &StoreError::from(e)),
        };
        let mut pending = Vec::with_capacity(batch.len());
        for request in batch {
            pending.push(handle(
                &tx,
                self.registry,
                &mut working,
                &mut events,
                request,
                self.sealer.as_ref(),
            ));
        }
        if let Err(e) = tx.commit() {
            let e = StoreError::from(e);
            tracing::error!(error = %e, "commit failed; the batch is answered with an error");
            for p in pending {
                reply_error(p, &e);
            }
            return;
        }
        if pending
            .iter()
            .any(|p| matches!(p, Pending::Revoke(_, Ok(true))))
        {
            // Before anyone hears of it, and even if the revoking request has gone away.
            self.tokens.revoked();
        }
        self.state = Arc::new(working);
        if let Ok(mut shared) = self.shared.write() {
            *shared = Arc::clone(&self.state);
        }
        if !events.is_empty() {
            (self.publish)(&events, &self.state);
        }
        for p in pending {
            match p {
                Pending::Command(tx, r) => drop(tx.send(r)),
                Pending::Token(tx, r) => drop(tx.send(r)),
                Pending::Revoke(tx, r) => drop(tx.send(r)),
                Pending::Write(tx, r) => drop(tx.send(r)),
                Pending::Import(tx, r) => drop(tx.send(r)),
                Pending::None => {}
            }
        }
    }
}

fn fail_all(batch: Vec<Request>, e: &StoreError) {
    for request in batch {
        match request {
            Request::Command { reply, .. } => drop(reply.send(Err(e.duplicate().into()))),
            Request::CreateToken { reply, .. } => drop(reply.send(Err(e.duplicate()))),
            Request::RevokeToken { reply, .. } => drop(reply.send(Err(e.duplicate()))),
            Request::Write { reply, .. } => drop(reply.send(Err(e.duplicate()))),
            Request::ImportHistory { reply, .. } => drop(reply.send(Err(e.duplicate()))),
            Request::Audit(_) => {}
        }
    }
}

fn reply_error(p: Pending, e: &StoreError) {
    match p {
        Pending::Command(tx, _) => drop(tx.send(Err(e.duplicate().into()))),
        Pending::Token(tx, _) => drop(tx.send(Err(e.duplicate()))),
        Pending::Revoke(tx, _) => drop(tx.send(Err(e.duplicate()))),
        Pending::Write(tx, _) => drop(tx.send(Err(e.duplicate()))),
        Pending::Import(tx, _) => drop(tx.send(Err(e.duplicate()))),
        Pending::None => {}
    }
}

/// Runs one request inside its own savepoint, so that a failure undoes only that request.
fn handle(
    tx: &Transaction<'_>,
    registry: &Registry,
    state: &mut State,
    events: &mut Vec<Event>,
    request: Request,
    sealer: Option<&Sealer>,
) -> Pending {
    // The log keeps milliseconds; deciding on the same precision keeps the state equal to
    // what a restart reads back.
    let now = Utc::now().trunc_subsecs(3);
    match request {
        Request::Command {
            actor,
            command,
            idempotency_key,
            reply,
            origin,
        } => {
            let result = in_savepoint(tx, |sp| {
                run_command(
                    sp,
                    registry,
                    state,
                    &actor,
                    &command,
                    origin,
                    idempotency_key,
                    now,
                    sealer,
                )
            });
            // A refusal rolled its savepoint back; its audit entry is written after that.
            let refusal_code = match &result {
                Err(CommandError::Refused(r)) => Some(r.code()),
                Err(CommandError::KeyReused(_)) => Some("key_reused"),
                _ => None,
            };
            if let (Some(code), Err(err)) = (refusal_code, &result) {
                let entry = AuditEntry {
                    token: Some(actor.name.clone()),
                    action: command_name(&command).to_string(),
                    request: serde_json::to_string(&command).ok(),
                    code: code.to_string(),
                    reason: err.to_string(),
                };
                if let Err(e) = audit(tx, now, &entry, None) {
                    tracing::error!(error = %e, "could not write an audit entry");
                }
            }
            if let Ok(Accepted {
                event,
                replayed: false,
            }) = &result
            {
                events.push(event.clone());
            }
            Pending::Command(reply, result)
        }
        Request::ImportHistory { chunk, reply } => {
            // A failed chunk rolls back whole, so the ids and sequence numbers it took are
            // given back too.
            let before = (state.clone(), events.len());
            let result = in_savepoint(tx, |sp| {
                crate::history::import_chunk(sp, registry, state, &chunk, now, events, sealer)
            });
            if result.is_err() {
                *state = before.0;
                events.truncate(before.1);
            }
            Pending::Import(reply, result)
        }
        Request::Audit(entry) => {
            if let Err(e) = audit(tx, now, &entry, None) {
                tracing::error!(error = %e, "could not write an audit entry");
            }
            Pending::None
        }
        Request::CreateToken { token, reply } => {
            let result = in_savepoint(tx, |sp| create_token(sp, &token, now));
            Pending::Token(reply, result)
        }
        Request::RevokeToken { name, reply } => {
            let result = in_savepoint(tx, |sp| {
                Ok(sp.execute(
                    "UPDATE tokens SET revoked_ms = ?1 WHERE name = ?2 AND revoked_ms IS NULL",
                    params![ms(now), name],
                )? > 0)
            });
            Pending::Revoke(reply, result)
        }
        Request::Write { run, reply } => Pending::Write(reply, in_savepoint(tx, run)),
    }
}

fn in_savepoint<T, E: From<StoreError>>(
    tx: &Transaction<'_>,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    let run = |sql: &str| -> Result<(), StoreError> {
        tx.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    run("SAVEPOINT request").map_err(E::from)?;
    let result = f(tx);
    if result.is_err() {
        run("ROLLBACK TO request").map_err(E::from)?;
    }
    run("RELEASE request").map_err(E::from)?;
    result
}

#[allow(clippy::too_many_arguments)] // each is a distinct input of one decision
fn run_command(
    conn: &Connection,
    registry: &Registry,
    state: &mut State,
    actor: &Actor,
    command: &Command,
    origin: Origin,
    idempotency_key: Option<String>,
    now: DateTime<Utc>,
    sealer: Option<&Sealer>,
) -> Result<Accepted, CommandError> {
    let request = serde_json::to_string(command).map_err(StoreError::from)?;
    if let Some(key) = &idempotency_key {
        let fingerprint = tokens::hash(&request);
        let earlier: Option<(String, i64)> = conn
            .prepare_cached(
                "SELECT fingerprint, seq FROM idempotency WHERE token = ?1 AND key = ?2",
            )
            .and_then(|mut s| s.query_row(params![actor.name, key], |r| Ok((r.get(0)?, r.get(1)?))))
            .optional()
            .map_err(StoreError::from)?;
        if let Some((earlier_fingerprint, seq)) = earlier {
            if earlier_fingerprint != fingerprint {
                return Err(CommandError::KeyReused(key.clone()));
            }
            let event = crate::queries::event_at(conn, seq as u64)?.ok_or(StoreError::Corrupt(
                format!("idempotency key points at missing event {seq}"),
            ))?;
            return Ok(Accepted {
                event,
                replayed: true,
            });
        }
    }
    let seq = state.last_seq() + 1;
    let mut event = state.decide_as(registry, actor, command, origin, seq, now)?;
    // The same text read twice is one report: answer with the one already recorded.
    if let Some(seq) = crate::reports::recorded(conn, &event.body)? {
        let event = crate::queries::event_at(conn, seq)?.ok_or(StoreError::Corrupt(format!(
            "a recorded report points at missing event {seq}"
        )))?;
        return Ok(Accepted {
            event,
            replayed: true,
        });
    }
    seal(sealer, &mut event);
    append(conn, &event)?;
    if let Some(key) = &idempotency_key {
        conn.prepare_cached(
            "INSERT INTO idempotency (token, key, fingerprint, seq) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute(params![actor.name, key, tokens::hash(&request), seq as i64]))
        .map_err(StoreError::from)?;
    }
    audit(
        conn,
        now,
        &AuditEntry {
            token: Some(actor.name.clone()),
            action: command_name(command).to_string(),
            request: Some(request),
            code: "ok".into(),
            reason: event.kind().to_string(),
        },
        Some(seq),
    )?;
    state.apply(&event);
    Ok(Accepted {
        event,
        replayed: false,
    })
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::StartAlert { .. } => "start_alert",
        Command::UpdateAlert { .. } => "update_alert",
        Command::EndAlert { .. } => "end_alert",
        Command::CancelAlert { .. } => "cancel_alert",
        Command::ReportAttack { .. } => "report_attack",
        Command::ReportThreat { .. } => "report_threat",
    }
}

/// Appends an event to the log and brings the materialised alerts table in line with it.
pub(crate) fn append(conn: &Connection, event: &Event) -> Result<(), StoreError> {
    let payload = serde_json::to_string(event)?;
    conn.prepare_cached(
        "INSERT INTO events (seq, at_ms, kind, issuer, region_id, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event.seq as i64,
        ms(event.at),
        event.kind(),
        event.issuer,
        event.body.region().map(|r| r.0),
        payload
    ])?;
    if let Some(alert) = event.body.alert() {
        conn.prepare_cached(
            "INSERT INTO alerts (id, region_id, oblast_id, type, level, status, started_ms,
                                 ended_ms, cancelled, origin, seq, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (id) DO UPDATE SET level = excluded.level, ended_ms = excluded.ended_ms,
                 cancelled = excluded.cancelled, seq = excluded.seq, json = excluded.json",
        )?
        .execute(params![
            alert.id.0 as i64,
            alert.region.id.0,
            alert.region.oblast_id.0,
            alert.alert_type.as_str(),
            alert.level.map(|l| l.as_str()),
            alert.status.as_str(),
            ms(alert.started_at),
            alert.ended_at.map(ms),
            alert.cancelled,
            serde_json::to_value(alert.origin)?
                .as_str()
                .unwrap_or("live"),
            event.seq as i64,
            serde_json::to_string(alert)?
        ])?;
    }
    crate::reports::materialise(conn, event)?;
    Ok(())
}

fn audit(
    conn: &Connection,
    now: DateTime<Utc>,
    entry: &AuditEntry,
    seq: Option<u64>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit (at_ms, token, action, request, outcome, code, reason, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        ms(now),
        entry.token,
        entry.action,
        entry.request,
        if entry.code == "ok" {
            "accepted"
        } else {
            "refused"
        },
        entry.code,
        entry.reason,
        seq.map(|s| s as i64)
    ])?;
    Ok(())
}

fn create_token(
    conn: &Connection,
    token: &NewToken,
    now: DateTime<Utc>,
) -> Result<(TokenInfo, String), StoreError> {
    let name = token.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "a token name must be 1 to 100 printable characters".into(),
        ));
    }
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM tokens WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?;
    if exists {
        return Err(StoreError::Conflict(format!(
            "a token named {name:?} already exists"
        )));
    }
    if token.role == Role::Issuer && token.regions.is_empty() {
        return Err(StoreError::Invalid(
            "an issuer token needs at least one region".into(),
        ));
    }
    let secret = tokens::generate().map_err(|e| StoreError::Invalid(e.to_string()))?;
    let scope = serde_json::to_string(&token.regions)?;
    conn.execute(
        "INSERT INTO tokens (name, hash, role, scope, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            name,
            tokens::hash(&secret),
            token.role.as_str(),
            scope,
            ms(now)
        ],
    )?;
    let info = TokenInfo {
        id: conn.last_insert_rowid(),
        name: name.to_string(),
        role: token.role,
        regions: token.regions.clone(),
        created_at: crate::from_ms(ms(now)),
        revoked_at: None,
    };
    Ok((info, secret))
}
