//! The single writer: one thread owns the log's write half and the authoritative state, takes
//! requests from a queue, decides a whole queue's worth against a copy of the state, and
//! appends the result as one batch (group commit). A request is answered only after its batch
//! is durable; a batch that fails to append answers every request in it with the error and
//! leaves the state as it was. What a batch has decided so far is visible to the requests
//! after it in the same batch (a retried idempotency key, a report read twice, an import row
//! repeated), so the backend is asked only about what is already durable.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{mpsc, oneshot};
use tryvoga_core::{Actor, AlertId, Command, Event, Origin, Refusal, Registry, Role, State};

use crate::history::{ImportChunk, ImportReport};
use crate::log::{
    Applied, AuditRow, Batch, EventLog, IdempotencyRow, ImportKey, ImportedRow, Recorded,
    TokenWrite,
};
use crate::outputs::OutputWrite;
use crate::token_cache::TokenCache;
use crate::tokens::{self, TokenInfo};
use crate::{StoreError, from_ms, ms};

/// How many queued requests one batch takes at most.
const MAX_BATCH: usize = 1024;

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
    /// A change to the outputs' tables, written in the batch so that it shares the single
    /// writer and its durability. Answered with the rows it changed.
    Output {
        write: OutputWrite,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Nothing to write: another node may have appended, and this one's state and followers
    /// should hear of it.
    Sync,
}

/// Receives every batch of committed events, in order, with the state after them.
pub type Publisher = Box<dyn FnMut(&[Event], &Arc<State>) + Send>;

/// Signs an event as it is appended, returning its `sig`. Signing in the writer puts the
/// signature into the stored payload, so every later reader and wire format carries it.
pub type Sealer = Box<dyn Fn(&Event) -> String + Send>;

pub(crate) struct Writer<L> {
    pub log: L,
    pub state: Arc<State>,
    pub shared: Arc<RwLock<Arc<State>>>,
    pub registry: &'static Registry,
    pub publish: Publisher,
    pub sealer: Option<Sealer>,
    pub tokens: Arc<TokenCache>,
}

/// A reply waiting for its batch to be durable.
enum Pending {
    Command(
        oneshot::Sender<Result<Accepted, CommandError>>,
        Result<Accepted, CommandError>,
    ),
    Import(
        oneshot::Sender<Result<ImportReport, StoreError>>,
        Result<ImportReport, StoreError>,
    ),
    /// The token as it will be once written; its id comes from the append.
    Token(
        oneshot::Sender<Result<(TokenInfo, String), StoreError>>,
        Result<(TokenInfo, String, usize), StoreError>,
    ),
    Revoke(oneshot::Sender<Result<bool, StoreError>>, usize),
    Output(oneshot::Sender<Result<u64, StoreError>>, usize),
    None,
}

/// Where in the batch each thing decided so far sits, so that a later request of the same
/// batch finds it. An entry is trusted only while the batch still holds what it points at:
/// a request that failed half-way is cut back out of the batch, and its entries go stale.
#[derive(Default)]
pub(crate) struct Overlay {
    idempotency: HashMap<(String, String), usize>,
    recorded: HashMap<(Recorded, String), usize>,
    imported: HashMap<ImportKey, usize>,
    tokens: HashMap<String, usize>,
}

/// One request being decided into the batch.
pub(crate) struct Decider<'a, L> {
    pub log: &'a mut L,
    pub registry: &'static Registry,
    pub state: &'a mut State,
    pub batch: &'a mut Batch,
    pub overlay: &'a mut Overlay,
    pub sealer: Option<&'a Sealer>,
}

impl<L: EventLog> Writer<L> {
    pub fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        while let Some(first) = rx.blocking_recv() {
            let mut requests = vec![first];
            while requests.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => requests.push(r),
                    Err(_) => break,
                }
            }
            self.commit(requests);
        }
    }

    fn commit(&mut self, requests: Vec<Request>) {
        match self.log.begin(self.state.last_seq()) {
            Ok(others) if !others.is_empty() => self.fold_in(&others),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "the log could not be read before a batch; its requests are answered with an error");
                for request in requests {
                    refuse(request, &e);
                }
                return;
            }
        }
        let mut working = (*self.state).clone();
        let mut batch = Batch::default();
        let mut overlay = Overlay::default();
        // The log keeps milliseconds; deciding on the same precision keeps the state equal to
        // what a restart reads back.
        let now = Utc::now().trunc_subsecs(3);
        let mut pending = Vec::with_capacity(requests.len());
        for request in requests {
            let mut decider = Decider {
                log: &mut self.log,
                registry: self.registry,
                state: &mut working,
                batch: &mut batch,
                overlay: &mut overlay,
                sealer: self.sealer.as_ref(),
            };
            pending.push(decider.handle(request, now));
        }
        let applied = if batch.is_empty() {
            self.log.abandon();
            Ok(Applied::default())
        } else {
            self.log.append(&batch)
        };
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "the batch could not be written; its requests are answered with an error");
                for p in pending {
                    reply_error(p, &e);
                }
                return;
            }
        };
        let revoked = pending
            .iter()
            .any(|p| matches!(p, Pending::Revoke(_, i) if applied.tokens.get(*i).is_some_and(|&n| n > 0)));
        if revoked {
            // Before anyone hears of it, and even if the revoking request has gone away.
            self.tokens.revoked();
        }
        self.state = Arc::new(working);
        if let Ok(mut shared) = self.shared.write() {
            *shared = Arc::clone(&self.state);
        }
        if !batch.events.is_empty() {
            (self.publish)(&batch.events, &self.state);
        }
        for p in pending {
            answer(p, &applied);
        }
    }
}

impl<L: EventLog> Writer<L> {
    /// Brings the state up to events other writers appended, and tells the followers.
    fn fold_in(&mut self, others: &[Event]) {
        let mut state = (*self.state).clone();
        for event in others {
            state.apply(event);
        }
        self.state = Arc::new(state);
        if let Ok(mut shared) = self.shared.write() {
            *shared = Arc::clone(&self.state);
        }
        (self.publish)(others, &self.state);
    }
}

/// Answers a request that never reached deciding with the error that stopped it.
fn refuse(request: Request, e: &StoreError) {
    match request {
        Request::Command { reply, .. } => drop(reply.send(Err(e.duplicate().into()))),
        Request::ImportHistory { reply, .. } => drop(reply.send(Err(e.duplicate()))),
        Request::CreateToken { reply, .. } => drop(reply.send(Err(e.duplicate()))),
        Request::RevokeToken { reply, .. } => drop(reply.send(Err(e.duplicate()))),
        Request::Output { reply, .. } => drop(reply.send(Err(e.duplicate()))),
        Request::Audit(entry) => {
            tracing::error!(action = %entry.action, code = %entry.code, "an audit entry was lost: the log could not be written");
        }
        Request::Sync => {}
    }
}

fn answer(p: Pending, applied: &Applied) {
    let missing = || StoreError::Corrupt("the backend did not say what a write came to".into());
    match p {
        Pending::Command(tx, r) => drop(tx.send(r)),
        Pending::Import(tx, r) => drop(tx.send(r)),
        Pending::Token(tx, r) => drop(tx.send(r.and_then(|(mut info, secret, i)| {
            info.id = *applied.tokens.get(i).ok_or_else(missing)?;
            Ok((info, secret))
        }))),
        Pending::Revoke(tx, i) => {
            drop(tx.send(applied.tokens.get(i).map(|&n| n > 0).ok_or_else(missing)))
        }
        Pending::Output(tx, i) => {
            drop(tx.send(applied.outputs.get(i).copied().ok_or_else(missing)))
        }
        Pending::None => {}
    }
}

fn reply_error(p: Pending, e: &StoreError) {
    match p {
        Pending::Command(tx, _) => drop(tx.send(Err(e.duplicate().into()))),
        Pending::Import(tx, _) => drop(tx.send(Err(e.duplicate()))),
        Pending::Token(tx, _) => drop(tx.send(Err(e.duplicate()))),
        Pending::Revoke(tx, _) => drop(tx.send(Err(e.duplicate()))),
        Pending::Output(tx, _) => drop(tx.send(Err(e.duplicate()))),
        Pending::None => {}
    }
}

impl<L: EventLog> Decider<'_, L> {
    fn handle(&mut self, request: Request, now: DateTime<Utc>) -> Pending {
        match request {
            Request::Command {
                actor,
                command,
                idempotency_key,
                reply,
                origin,
            } => {
                let mark = self.batch.mark();
                let result = self.command(&actor, &command, origin, idempotency_key, now);
                if result.is_err() {
                    self.batch.truncate(&mark);
                }
                let refusal_code = match &result {
                    Err(CommandError::Refused(r)) => Some(r.code()),
                    Err(CommandError::KeyReused(_)) => Some("key_reused"),
                    _ => None,
                };
                if let (Some(code), Err(err)) = (refusal_code, &result) {
                    self.audit(
                        now,
                        AuditEntry {
                            token: Some(actor.name.clone()),
                            action: command_name(&command).to_string(),
                            request: serde_json::to_string(&command).ok(),
                            code: code.to_string(),
                            reason: err.to_string(),
                        },
                        None,
                    );
                }
                Pending::Command(reply, result)
            }
            Request::ImportHistory { chunk, reply } => {
                // A failed chunk is taken back whole, so the ids and sequence numbers it took
                // are given back too.
                let (before, mark) = (self.state.clone(), self.batch.mark());
                let result = self.import(&chunk, now);
                if result.is_err() {
                    *self.state = before;
                    self.batch.truncate(&mark);
                }
                Pending::Import(reply, result)
            }
            Request::Audit(entry) => {
                self.audit(now, entry, None);
                Pending::None
            }
            Request::CreateToken { token, reply } => {
                Pending::Token(reply, self.create_token(&token, now))
            }
            Request::RevokeToken { name, reply } => {
                self.batch.tokens.push(TokenWrite::Revoke { name, at: now });
                Pending::Revoke(reply, self.batch.tokens.len() - 1)
            }
            Request::Output { write, reply } => {
                self.batch.outputs.push(write);
                Pending::Output(reply, self.batch.outputs.len() - 1)
            }
            Request::Sync => Pending::None,
        }
    }

    fn command(
        &mut self,
        actor: &Actor,
        command: &Command,
        origin: Origin,
        idempotency_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Accepted, CommandError> {
        let request = serde_json::to_string(command).map_err(StoreError::from)?;
        let fingerprint = tokens::hash(&request);
        if let Some(key) = &idempotency_key
            && let Some((earlier, seq)) = self.idempotency(&actor.name, key)?
        {
            if earlier != fingerprint {
                return Err(CommandError::KeyReused(key.clone()));
            }
            return Ok(Accepted {
                event: self.event(seq)?,
                replayed: true,
            });
        }
        let seq = self.state.last_seq() + 1;
        let event = self
            .state
            .decide_as(self.registry, actor, command, origin, seq, now)?;
        // The same text read twice is one report: answer with the one already recorded.
        if let Some((what, key)) = recorded_id(&event)
            && let Some(seq) = self.recorded(what, key)?
        {
            return Ok(Accepted {
                event: self.event(seq)?,
                replayed: true,
            });
        }
        if let Some(key) = idempotency_key {
            self.overlay.idempotency.insert(
                (actor.name.clone(), key.clone()),
                self.batch.idempotency.len(),
            );
            self.batch.idempotency.push(IdempotencyRow {
                token: actor.name.clone(),
                key,
                fingerprint,
                seq,
            });
        }
        self.audit(
            now,
            AuditEntry {
                token: Some(actor.name.clone()),
                action: command_name(command).to_string(),
                request: Some(request),
                code: "ok".into(),
                reason: event.kind().to_string(),
            },
            Some(seq),
        );
        if let Some((what, key)) = recorded_id(&event) {
            self.overlay
                .recorded
                .insert((what, key.to_string()), self.batch.events.len());
        }
        let event = self.append(event);
        Ok(Accepted {
            event,
            replayed: false,
        })
    }

    /// Seals an event, applies it to the state and puts it in the batch.
    pub(crate) fn append(&mut self, mut event: Event) -> Event {
        if let Some(seal) = self.sealer {
            event.sig = Some(seal(&event));
        }
        self.state.apply(&event);
        self.batch.events.push(event.clone());
        event
    }

    fn audit(&mut self, at: DateTime<Utc>, entry: AuditEntry, seq: Option<u64>) {
        self.batch.audit.push(AuditRow { at, entry, seq });
    }

    /// The event at `seq`, from this batch or from the log.
    fn event(&mut self, seq: u64) -> Result<Event, StoreError> {
        if let Ok(i) = self.batch.events.binary_search_by_key(&seq, |e| e.seq) {
            return Ok(self.batch.events[i].clone());
        }
        self.log
            .event(seq)?
            .ok_or_else(|| StoreError::Corrupt(format!("an answer points at missing event {seq}")))
    }

    fn idempotency(&mut self, token: &str, key: &str) -> Result<Option<(String, u64)>, StoreError> {
        let here = (token.to_string(), key.to_string());
        if let Some(row) = self
            .overlay
            .idempotency
            .get(&here)
            .and_then(|&i| self.batch.idempotency.get(i))
            .filter(|r| r.token == token && r.key == key)
        {
            return Ok(Some((row.fingerprint.clone(), row.seq)));
        }
        self.log.idempotency(token, key)
    }

    fn recorded(&mut self, what: Recorded, key: &str) -> Result<Option<u64>, StoreError> {
        if let Some(event) = self
            .overlay
            .recorded
            .get(&(what, key.to_string()))
            .and_then(|&i| self.batch.events.get(i))
            .filter(|e| recorded_id(e) == Some((what, key)))
        {
            return Ok(Some(event.seq));
        }
        self.log.recorded(what, key)
    }

    pub(crate) fn imported(&mut self, key: &ImportKey) -> Result<Option<AlertId>, StoreError> {
        if let Some(row) = self
            .overlay
            .imported
            .get(key)
            .and_then(|&i| self.batch.imported.get(i))
            .filter(|r| &r.key == key)
        {
            return Ok(Some(row.alert));
        }
        self.log.imported(key)
    }

    pub(crate) fn imported_now(&mut self, row: ImportedRow) {
        self.overlay
            .imported
            .insert(row.key.clone(), self.batch.imported.len());
        self.batch.imported.push(row);
    }

    fn token_named(&mut self, name: &str) -> Result<bool, StoreError> {
        let here = self
            .overlay
            .tokens
            .get(name)
            .and_then(|&i| self.batch.tokens.get(i))
            .is_some_and(|t| matches!(t, TokenWrite::Create { name: n, .. } if n == name));
        Ok(here || self.log.token_named(name)?)
    }

    fn create_token(
        &mut self,
        token: &NewToken,
        now: DateTime<Utc>,
    ) -> Result<(TokenInfo, String, usize), StoreError> {
        let name = token.name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "a token name must be 1 to 100 printable characters".into(),
            ));
        }
        if self.token_named(name)? {
            return Err(StoreError::Conflict(format!(
                "a token named {name:?} already exists"
            )));
        }
        if matches!(token.role, Role::Issuer | Role::Grid) && token.regions.is_empty() {
            return Err(StoreError::Invalid(
                "an issuer or grid token needs at least one region".into(),
            ));
        }
        let secret = tokens::generate().map_err(|e| StoreError::Invalid(e.to_string()))?;
        let index = self.batch.tokens.len();
        self.overlay.tokens.insert(name.to_string(), index);
        self.batch.tokens.push(TokenWrite::Create {
            name: name.to_string(),
            hash: tokens::hash(&secret),
            role: token.role,
            regions: token.regions.clone(),
            at: now,
        });
        let info = TokenInfo {
            id: 0,
            name: name.to_string(),
            role: token.role,
            regions: token.regions.clone(),
            created_at: from_ms(ms(now)),
            revoked_at: None,
        };
        Ok((info, secret, index))
    }
}

/// The content key an event recorded a report or threat under.
fn recorded_id(event: &Event) -> Option<(Recorded, &str)> {
    let what = match &event.body {
        tryvoga_core::EventBody::ReportAttack { .. } => Recorded::Report,
        tryvoga_core::EventBody::ThreatReported { .. } => Recorded::Threat,
        _ => return None,
    };
    Some((what, event.body.content_key()?))
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::StartAlert { .. } => "start_alert",
        Command::UpdateAlert { .. } => "update_alert",
        Command::EndAlert { .. } => "end_alert",
        Command::CancelAlert { .. } => "cancel_alert",
        Command::ReportAttack { .. } => "report_attack",
        Command::ReportThreat { .. } => "report_threat",
        Command::RaiseThreat { .. } => "raise_threat",
        Command::ClearThreat { .. } => "clear_threat",
        Command::StartPrealert { .. } => "start_prealert",
        Command::EndPrealert { .. } => "end_prealert",
        Command::StartPower { .. } => "start_power",
        Command::UpdatePower { .. } => "update_power",
        Command::EndPower { .. } => "end_power",
        Command::SetTimeToShelter { .. } => "set_time_to_shelter",
    }
}
