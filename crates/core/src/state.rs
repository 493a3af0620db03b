//! The state machine: the set of active alerts as the fold of the event log, the decisions on
//! commands against it, and the status of every region derived from it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertId, AlertLevel, AlertStatus, AlertType, Origin};
use crate::command::{Actor, Command, MAX_TEXT_CHARS, Refusal};
use crate::event::{Event, EventBody};
use crate::region::{RegionId, Registry};
use crate::situation::Situation;

/// A region's status for one alert type: the A/P/N of the IoT strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing on the region, its ancestors or descendants.
    None,
    /// An alert on some descendant only.
    Partial,
    /// An alert on the region itself or on an ancestor.
    Active,
}

impl Status {
    pub fn letter(self) -> char {
        match self {
            Status::Active => 'A',
            Status::Partial => 'P',
            Status::None => 'N',
        }
    }
}

/// At most one active alert per region, type and status: a drill never blocks a real alert.
type AlertKey = (RegionId, AlertType, AlertStatus);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    active: BTreeMap<AlertId, Alert>,
    by_key: HashMap<AlertKey, AlertId>,
    next_alert_id: u64,
    last_seq: u64,
    /// Threats, pre-alerts, power restrictions and times to shelter.
    situation: Situation,
}

impl State {
    pub fn new() -> State {
        State {
            next_alert_id: 1,
            ..State::default()
        }
    }

    /// Rebuilds the state from the log.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
        let mut state = State::new();
        for e in events {
            state.apply(e);
        }
        state
    }

    /// Rebuilds the state from a snapshot: the active alerts, the highest alert id ever given
    /// and the last sequence number. Equal to the fold of the log that produced the snapshot.
    pub fn restore(active: Vec<Alert>, max_alert_id: u64, last_seq: u64) -> State {
        let mut state = State::new();
        state.last_seq = last_seq;
        state.next_alert_id = max_alert_id + 1;
        for alert in active {
            state.next_alert_id = state.next_alert_id.max(alert.id.0 + 1);
            state.by_key.insert(key(&alert), alert.id);
            state.active.insert(alert.id, alert);
        }
        state
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn next_alert_id(&self) -> AlertId {
        AlertId(self.next_alert_id)
    }

    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    pub fn active_alert(&self, id: AlertId) -> Option<&Alert> {
        self.active.get(&id)
    }

    /// The threats, pre-alerts, power restrictions and times to shelter.
    pub fn situation(&self) -> &Situation {
        &self.situation
    }

    /// Whether an actual alert is on `region`, an ancestor or a descendant of it.
    pub fn alerted(&self, registry: &Registry, region: RegionId) -> bool {
        self.active
            .values()
            .any(|a| a.status.is_actual() && registry.related(a.region.id, region))
    }

    /// The commands that record what has ended by itself at `now` (see
    /// [`Situation::due`]); the server's housekeeping sends them as an admin.
    pub fn due(&self, registry: &Registry, now: DateTime<Utc>) -> Vec<Command> {
        self.situation.due(&|r| self.alerted(registry, r), now)
    }

    /// Applies an event that the log holds. Events are facts: applying never fails.
    pub fn apply(&mut self, event: &Event) {
        self.last_seq = self.last_seq.max(event.seq);
        match &event.body {
            EventBody::AlertStarted { alert } | EventBody::AlertUpdated { alert } => {
                self.next_alert_id = self.next_alert_id.max(alert.id.0 + 1);
                if alert.is_active() {
                    self.by_key.insert(key(alert), alert.id);
                    self.active.insert(alert.id, alert.clone());
                } else {
                    // A historical alert arrives already ended: it only advances the ids.
                    self.remove(alert.id);
                }
            }
            EventBody::AlertEnded { alert } | EventBody::AlertCancelled { alert } => {
                self.next_alert_id = self.next_alert_id.max(alert.id.0 + 1);
                self.remove(alert.id);
            }
            EventBody::ReportAttack { .. } => {}
            other => self.situation.apply(other),
        }
    }

    fn remove(&mut self, id: AlertId) {
        if let Some(old) = self.active.remove(&id) {
            let k = key(&old);
            if self.by_key.get(&k) == Some(&id) {
                self.by_key.remove(&k);
            }
        }
    }

    /// Decides a command: the event it produces, or why it is refused. `seq` is the sequence
    /// number the event will carry and `now` the time of the decision.
    pub fn decide(
        &self,
        registry: &Registry,
        actor: &Actor,
        command: &Command,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<Event, Refusal> {
        self.decide_as(registry, actor, command, Origin::Live, seq, now)
    }

    /// As [`State::decide`], for a command that does not come from a person now: an alert it
    /// starts carries `origin`, so that every output can tell a replayed record from a live one.
    /// The rules are the same whatever the origin.
    pub fn decide_as(
        &self,
        registry: &Registry,
        actor: &Actor,
        command: &Command,
        origin: Origin,
        seq: u64,
        now: DateTime<Utc>,
    ) -> Result<Event, Refusal> {
        let body = match command {
            Command::StartAlert {
                region,
                alert_type,
                level,
                status,
                note,
            } => {
                let region = registry
                    .get(*region)
                    .ok_or_else(|| Refusal::NotFound(format!("no region has id {region}")))?;
                if !actor.may_issue_for(registry, region.id) {
                    return Err(Refusal::Forbidden(format!(
                        "token {:?} may not issue alerts for {} ({})",
                        actor.name, region.name_en, region.id
                    )));
                }
                check_text("note", note.as_deref())?;
                if let Some(existing) = self
                    .by_key
                    .get(&(region.id, *alert_type, *status))
                    .and_then(|id| self.active.get(id))
                {
                    return Err(Refusal::Conflict {
                        message: format!(
                            "{} already has an active {} alert ({})",
                            region.name_en, alert_type, existing.id
                        ),
                        alert: Box::new(existing.clone()),
                    });
                }
                EventBody::AlertStarted {
                    alert: Alert {
                        id: AlertId(self.next_alert_id),
                        region: region.to_ref(),
                        alert_type: *alert_type,
                        level: *level,
                        status: *status,
                        started_at: now,
                        ended_at: None,
                        cancelled: false,
                        cancel_reason: None,
                        note: note.clone(),
                        issuer: Some(actor.name.clone()),
                        seq,
                        origin,
                    },
                }
            }
            Command::UpdateAlert { id, level, note } => {
                let current = self.alert_to_change(registry, actor, *id)?;
                if let Some(n) = note {
                    check_text("note", n.as_deref())?;
                }
                let mut alert = current.clone();
                if let Some(l) = level {
                    alert.level = *l;
                }
                if let Some(n) = note {
                    alert.note.clone_from(n);
                }
                if alert == *current {
                    return Err(Refusal::Invalid(
                        "the update changes nothing: give a new level or note".into(),
                    ));
                }
                alert.seq = seq;
                EventBody::AlertUpdated { alert }
            }
            Command::EndAlert { id } => {
                let mut alert = self.alert_to_change(registry, actor, *id)?.clone();
                alert.ended_at = Some(now.max(alert.started_at));
                alert.seq = seq;
                EventBody::AlertEnded { alert }
            }
            Command::CancelAlert { id, reason } => {
                if reason.trim().is_empty() {
                    return Err(Refusal::Invalid(
                        "a cancellation needs a reason: say why the alert was false".into(),
                    ));
                }
                check_text("reason", Some(reason))?;
                let mut alert = self.alert_to_change(registry, actor, *id)?.clone();
                alert.ended_at = Some(now.max(alert.started_at));
                alert.cancelled = true;
                alert.cancel_reason = Some(reason.trim().to_string());
                alert.seq = seq;
                EventBody::AlertCancelled { alert }
            }
            Command::ReportAttack { report } => crate::report::decide_report(actor, report)?,
            Command::ReportThreat { threat } => crate::report::decide_threat(actor, threat)?,
            other => self
                .situation
                .decide(
                    registry,
                    actor,
                    other,
                    &|r| self.alerted(registry, r),
                    seq,
                    now,
                )
                .unwrap_or_else(|| Err(Refusal::Invalid("the command is not known".into())))?,
        };
        Ok(Event {
            seq,
            at: now,
            issuer: Some(actor.name.clone()),
            body,
            sig: None,
        })
    }

    fn alert_to_change(
        &self,
        registry: &Registry,
        actor: &Actor,
        id: AlertId,
    ) -> Result<&Alert, Refusal> {
        let Some(alert) = self.active.get(&id) else {
            return Err(if id.0 > 0 && id.0 < self.next_alert_id {
                Refusal::Ended(format!("alert {id} has already ended"))
            } else {
                Refusal::NotFound(format!("no alert has id {id}"))
            });
        };
        if !actor.may_issue_for(registry, alert.region.id) {
            return Err(Refusal::Forbidden(format!(
                "token {:?} may not change alerts for {} ({})",
                actor.name, alert.region.name_en, alert.region.id
            )));
        }
        Ok(alert)
    }

    /// The status of every region that is not `none`, for actual alerts passing `filter`, with
    /// the most severe level among the alerts that make it so.
    pub fn statuses(
        &self,
        registry: &Registry,
        filter: impl Fn(&Alert) -> bool,
    ) -> HashMap<RegionId, (Status, Option<AlertLevel>)> {
        let mut out: HashMap<RegionId, (Status, Option<AlertLevel>)> = HashMap::new();
        let mut mark = |id: RegionId, status: Status, level: Option<AlertLevel>| {
            let entry = out.entry(id).or_insert((Status::None, None));
            if status > entry.0 {
                *entry = (status, level);
            } else if status == entry.0 {
                entry.1 = more_severe(entry.1, level);
            }
        };
        for alert in self.active.values() {
            if !alert.status.is_actual() || !filter(alert) {
                continue;
            }
            let id = alert.region.id;
            mark(id, Status::Active, alert.level);
            for d in registry.descendants(id) {
                mark(d, Status::Active, alert.level);
            }
            for a in registry.ancestors(id) {
                mark(a, Status::Partial, alert.level);
            }
        }
        out
    }

    /// The status of one region for actual alerts passing `filter`.
    pub fn status_of(
        &self,
        registry: &Registry,
        region: RegionId,
        filter: impl Fn(&Alert) -> bool,
    ) -> Status {
        let mut status = Status::None;
        for alert in self.active.values() {
            if !alert.status.is_actual() || !filter(alert) {
                continue;
            }
            if registry.is_within(region, alert.region.id) {
                return Status::Active;
            }
            if registry.is_within(alert.region.id, region) {
                status = Status::Partial;
            }
        }
        status
    }
}

fn key(alert: &Alert) -> AlertKey {
    (alert.region.id, alert.alert_type, alert.status)
}

fn more_severe(a: Option<AlertLevel>, b: Option<AlertLevel>) -> Option<AlertLevel> {
    match (a, b) {
        (Some(AlertLevel::Red), _) | (_, Some(AlertLevel::Red)) => Some(AlertLevel::Red),
        (Some(x), _) | (None, Some(x)) => Some(x),
        (None, None) => None,
    }
}

fn check_text(field: &str, text: Option<&str>) -> Result<(), Refusal> {
    match text {
        Some(t) if t.chars().count() > MAX_TEXT_CHARS => Err(Refusal::Invalid(format!(
            "{field} is longer than {MAX_TEXT_CHARS} characters"
        ))),
        _ => Ok(()),
    }
}
