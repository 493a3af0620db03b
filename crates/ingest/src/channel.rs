//! The official alert channel (@air_alert_ua): 🔴 alert, 🟢 all-clear, 🟡 partial all-clear with
//! the regions still under alert, artillery, radiation and chemical danger, the 2026 threat
//! notices (КАБ, attack drones, ballistic), and the rebuilding of alert intervals from a run of
//! messages.
//!
//! Longer than most files, on purpose: the message grammar, the intervals rebuilt from the
//! messages and their comparison with the official record are one vocabulary of
//! announcements and are read and changed together; the tests are in `channel_tests.rs`.
//!
//! Time: the text carries Kyiv `HH:MM`; exports carry the full local time and (from mid-2022)
//! the UTC epoch. The epoch wins when present, because local time is ambiguous in the autumn
//! DST hour.

use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Kyiv;
use regex::Regex;
use serde::{Deserialize, Serialize};

use tryvoga_core::AlertType;
use tryvoga_core::names::fold_name;
use tryvoga_core::region::Region;
use tryvoga_core::report::{Action, NamedRegion, Threat, ThreatKind};

use crate::model::{AlertChange, Extraction};
use crate::places::{RegionLookup, named};

/// One channel message, from an export line or bare text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub id: Option<i64>,
    pub text: String,
    /// Kyiv local time of posting, as exports give it.
    pub date_local: Option<NaiveDateTime>,
    /// UTC epoch seconds of posting.
    pub date_unixtime: Option<i64>,
    /// When the message was seen (e.g. a scrape's `fetched_at`): dates a message that carries
    /// only its `HH:MM`.
    pub seen_at: Option<DateTime<Utc>>,
}

impl Message {
    pub fn from_text(text: &str) -> Self {
        Message {
            text: text.to_string(),
            ..Message::default()
        }
    }

    /// Reads one JSON line of an export: `{"id","date_local","date_unixtime","text"}`; also
    /// accepts `posted_at` (RFC 3339) and `seq`. `None` when the line is not such an object.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        let obj = value.as_object()?;
        let text = obj.get("text")?.as_str()?.to_string();
        let id = obj
            .get("id")
            .and_then(|v| v.as_i64())
            .or_else(|| obj.get("seq").and_then(|v| v.as_i64()));
        let date_local = obj
            .get("date_local")
            .and_then(|v| v.as_str())
            .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok());
        let date_unixtime = obj
            .get("date_unixtime")
            .and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .or_else(|| {
                obj.get("posted_at")
                    .and_then(|v| v.as_str())
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| d.timestamp())
            });
        // "2026-08-08T13:10Z (approx, per source docstring)"
        let seen_at = obj
            .get("fetched_at")
            .and_then(|v| v.as_str())
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|d| d.to_utc())
                    .ok()
                    .or_else(|| {
                        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%MZ")
                            .ok()
                            .map(|n| n.and_utc())
                    })
            });
        Some(Message {
            id,
            text,
            date_local,
            date_unixtime,
            seen_at,
        })
    }

    /// When the message was posted, in UTC, if the input said.
    pub fn posted(&self) -> Option<DateTime<Utc>> {
        if let Some(t) = self.date_unixtime {
            return DateTime::from_timestamp(t, 0);
        }
        let local = self.date_local?;
        kyiv_to_utc(local)
    }
}

/// Reads a JSON-lines export (one message object per line, as [`Message::from_json`] accepts).
/// Lines that are not such objects are skipped and counted.
pub fn parse_export(jsonl: &str) -> (Vec<Message>, usize) {
    let mut skipped = 0;
    let mut out = Vec::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| Message::from_json(&v))
        {
            Some(m) => out.push(m),
            None => skipped += 1,
        }
    }
    (out, skipped)
}

/// Kyiv wall-clock time → UTC. In the autumn hour that occurs twice the earlier reading is
/// taken; a spring-forward time that does not exist is read an hour later.
pub fn kyiv_to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match Kyiv.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        chrono::LocalResult::None => Kyiv
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

static TIME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^\p{L}\d]*?(\d{1,2}):(\d{2})").expect("static regex"));
static IN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:тривог[аи]|артобстрілу|небезпеки|небезпека|боїв|авіабомб|бомб|БпЛА|загрози|ракет)\s+(?:в|у)\s+(.+?)[.!]*\s*$")
        .expect("static regex")
});
static NOW_IN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)Зараз\s+(?:у|в)\s+(.+?)\s+(?:артилерійський обстріл|радіаційна небезпека|хімічна небезпека|вуличні бої|загроза)")
        .expect("static regex")
});

/// What a message announces, before regions are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announcement {
    Alert(AlertType, Action),
    Threat(ThreatKind, Action),
    Other,
}

fn classify(text: &str) -> Announcement {
    let lower = text.to_lowercase();
    let first = lower.lines().next().unwrap_or("");
    let all_clear = first.contains("відбій");
    let action = if all_clear {
        Action::End
    } else {
        Action::Start
    };
    let alert = |t| Announcement::Alert(t, action);
    if lower.contains("артобстріл") || lower.contains("артилерійськ") {
        return alert(AlertType::ArtilleryShelling);
    }
    if lower.contains("радіаційн") {
        return alert(AlertType::Nuclear);
    }
    if lower.contains("хімічн") {
        return alert(AlertType::Chemical);
    }
    if lower.contains("вуличн") && lower.contains("бо") {
        return alert(AlertType::UrbanFights);
    }
    if first.contains("повітряна тривога")
        || first.contains("відбій тривоги")
        || first.contains("відбій повітряної тривоги")
    {
        return alert(AlertType::AirRaid);
    }
    let threat = threat_kind(&lower);
    if let Some(k) = threat
        && (lower.contains("загроза")
            || lower.contains("загрози")
            || lower.contains("атака")
            || lower.contains("рух")
            || lower.contains("увага")
            || lower.contains("ціл")
            || lower.contains("напрям")
            || lower.contains("курс"))
    {
        return Announcement::Threat(k, action);
    }
    Announcement::Other
}

fn threat_kind(lower: &str) -> Option<ThreatKind> {
    if lower.contains("каб") || lower.contains("авіабомб") || lower.contains("авіаційних бомб")
    {
        return Some(ThreatKind::GuidedBomb);
    }
    if lower.contains("балістик") || lower.contains("балістичн") || lower.contains("швидкісн")
    {
        return Some(ThreatKind::BallisticMissile);
    }
    if lower.contains("крилат") {
        return Some(ThreatKind::CruiseMissile);
    }
    if lower.contains("бпла")
        || lower.contains("дрон")
        || lower.contains("безпілотн")
        || lower.contains("шахед")
        || lower.contains("молні")
    {
        return Some(ThreatKind::Drone);
    }
    if lower.contains("ракет") {
        return Some(ThreatKind::Missile);
    }
    if lower.contains("авіаці") || lower.contains("літак") {
        return Some(ThreatKind::Aircraft);
    }
    None
}

fn hashtags(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter(|w| w.starts_with('#') && w.len() > 1)
        .map(|w| w.trim_start_matches('#'))
        .collect()
}

/// Keeps the oblasts recently named so a hromada name several oblasts share ("Олександрівська
/// територіальна громада") can be read as the one in the oblast the channel is busy with.
#[derive(Debug, Default, Clone)]
pub struct Context {
    recent: VecDeque<(i64, u32)>,
    /// Shared names already placed with certainty (by a 🟡 list naming the oblast).
    learned: HashMap<String, u32>,
    /// Messages per oblast so far: the last resort is the busier oblast.
    seen: HashMap<u32, u32>,
    /// (time, oblast) of every unambiguous mention in the run, when known in advance.
    timeline: Vec<(i64, u32)>,
}

impl Context {
    fn note(&mut self, at: Option<i64>, oblast: u32) {
        *self.seen.entry(oblast).or_default() += 1;
        self.recent.push_back((at.unwrap_or(0), oblast));
        if self.recent.len() > 32 {
            self.recent.pop_front();
        }
    }

    /// A context that also knows, for a whole run of messages, when each oblast was named
    /// unambiguously, so a shared name can be placed by the messages after it too (the
    /// channel often names the oblast a few minutes later).
    pub fn with_timeline(messages: &[Message], lookup: &dyn RegionLookup) -> Self {
        let mut scratch = Context::default();
        let mut timeline = Vec::new();
        for m in messages {
            let Some(at) = m.posted().map(|t| t.timestamp()) else {
                continue;
            };
            let ex = read_message(m, lookup, &mut scratch, None);
            for r in ex
                .alerts
                .iter()
                .map(|a| &a.region)
                .chain(ex.threats.iter().filter_map(|t| t.towards_region.as_ref()))
            {
                if let Some(p) = r.id.and_then(|id| lookup.place(id))
                    && lookup.find(&p.name_uk).len() == 1
                {
                    timeline.push((at, p.oblast.0));
                }
            }
        }
        timeline.sort_unstable();
        Context {
            timeline,
            ..Context::default()
        }
    }

    fn pick<'r>(&self, candidates: &[&'r Region], at: Option<i64>) -> Option<&'r Region> {
        if let Some(now) = at
            && !self.timeline.is_empty()
        {
            // The nearest unambiguous mention of a candidate's oblast, before or after.
            const WINDOW: i64 = 1800;
            let lo = self.timeline.partition_point(|&(t, _)| t < now - WINDOW);
            let hi = self.timeline.partition_point(|&(t, _)| t <= now + WINDOW);
            let best = self.timeline[lo..hi]
                .iter()
                .filter(|(_, o)| candidates.iter().any(|p| p.oblast.0 == *o))
                .min_by_key(|(t, _)| (t - now).abs());
            if let Some(&(_, o)) = best {
                return candidates.iter().find(|p| p.oblast.0 == o).copied();
            }
        }
        for &(t, o) in self.recent.iter().rev() {
            if let (Some(now), true) = (at, t != 0)
                && (now - t).abs() > 3600
            {
                break;
            }
            if let Some(p) = candidates.iter().find(|p| p.oblast.0 == o) {
                return Some(p);
            }
        }
        None
    }
}

fn resolve_in<'r>(
    lookup: &'r dyn RegionLookup,
    ctx: &mut Context,
    name: &str,
    oblast: Option<u32>,
    at: Option<i64>,
) -> Option<&'r Region> {
    let found = lookup.find(name);
    if found.len() <= 1 {
        return found.into_iter().next();
    }
    if let Some(o) = oblast {
        let mut inside: Vec<&Region> = found.iter().filter(|p| p.oblast.0 == o).copied().collect();
        if inside.len() == 1 {
            ctx.learned.insert(fold_name(name), o);
            return inside.pop();
        }
    }
    if let Some(p) = ctx.pick(&found, at) {
        return Some(p);
    }
    if let Some(o) = ctx.learned.get(&fold_name(name))
        && let Some(p) = found.iter().find(|p| p.oblast.0 == *o)
    {
        return Some(p);
    }
    found
        .into_iter()
        .max_by_key(|p| ctx.seen.get(&p.oblast.0).copied().unwrap_or(0))
}

fn region_ref(place: Option<&Region>, written: &str) -> NamedRegion {
    match place {
        Some(p) => named(p),
        None => NamedRegion {
            id: None,
            name: written.trim().to_string(),
        },
    }
}

fn is_test_region(name: &str) -> bool {
    let n = fold_name(name);
    n.contains("тестов") || n.split(' ').any(|w| w == "тест" || w == "test")
}

/// Reads one message. `reference` supplies the date when the message itself has none (bare
/// text); without either, `at` is null and only the printed `HH:MM` is kept.
pub fn read_message(
    msg: &Message,
    lookup: &dyn RegionLookup,
    ctx: &mut Context,
    reference: Option<DateTime<Utc>>,
) -> Extraction {
    let mut out = Extraction::default();
    let text = msg.text.trim();
    let first = text.lines().next().unwrap_or("");
    let time_local = TIME_RE
        .captures(first)
        .map(|c| format!("{:0>2}:{}", &c[1], &c[2]));
    let at = msg.posted().or_else(|| {
        let t = time_local.as_deref()?;
        let time = NaiveTime::parse_from_str(t, "%H:%M").ok()?;
        let reference = msg.seen_at.or(reference)?;
        let date: NaiveDate = reference.with_timezone(&Kyiv).date_naive();
        let same_day = kyiv_to_utc(date.and_time(time))?;
        // A message is not from the future: 23:55 read at 00:05 was posted the day before.
        if same_day > reference + chrono::Duration::minutes(10) {
            kyiv_to_utc(date.pred_opt()?.and_time(time))
        } else {
            Some(same_day)
        }
    });
    let ts = at.map(|t| t.timestamp());

    let announcement = classify(text);
    if announcement == Announcement::Other {
        return out;
    }

    // The 🟡 list: "Зверніть увагу, тривога ще триває у:\n- X\n- Y".
    let mut still_active_names: Vec<&str> = Vec::new();
    let mut in_list = false;
    for line in text.lines().skip(1) {
        let l = line.trim();
        if l.to_lowercase().contains("ще триває") {
            in_list = true;
            continue;
        }
        if in_list {
            if let Some(rest) = l.strip_prefix('-').or_else(|| l.strip_prefix('•')) {
                still_active_names.push(rest.trim());
            } else if !l.is_empty() {
                in_list = false;
            }
        }
    }
    let still_active: Vec<(Option<&Region>, &str)> = still_active_names
        .iter()
        .map(|n| (resolve_in(lookup, ctx, n, None, ts), *n))
        .collect();
    let list_oblast = still_active.iter().find_map(|(p, _)| p.map(|p| p.oblast.0));

    // The place: "… в X" on the first line, "Зараз у X …" below it, or the hashtag.
    let tags = hashtags(text);
    let mut written: Option<String> = IN_RE
        .captures(first)
        .map(|c| c[1].trim().to_string())
        .filter(|s| !s.is_empty());
    if written.is_none() {
        written = NOW_IN_RE.captures(text).map(|c| c[1].trim().to_string());
    }
    let mut place = written
        .as_deref()
        .and_then(|w| resolve_in(lookup, ctx, w, list_oblast, ts));
    if place.is_none() {
        for t in tags.iter().rev() {
            if let Some(p) = resolve_in(lookup, ctx, t, list_oblast, ts) {
                place = Some(p);
                written.get_or_insert_with(|| t.replace('_', " "));
                break;
            }
        }
    }
    let written = written
        .or_else(|| tags.last().map(|t| t.replace('_', " ")))
        .unwrap_or_default();
    if let Some(p) = place {
        ctx.note(ts, p.oblast.0);
    }
    let test = is_test_region(&written) || tags.iter().any(|t| is_test_region(t));
    if written.is_empty() && !test {
        return out;
    }
    let region = region_ref(place, &written);

    match announcement {
        Announcement::Alert(alert_type, action) => out.alerts.push(AlertChange {
            region,
            alert_type,
            action,
            at,
            time_local,
            level: None,
            test,
            still_active: still_active
                .iter()
                .map(|(p, n)| region_ref(*p, n))
                .collect(),
            message_id: msg.id,
        }),
        Announcement::Threat(kind, action) => {
            let lower = text.to_lowercase();
            let model = if lower.contains("молні") {
                Some("Molniya".to_string())
            } else if lower.contains("шахед") || lower.contains("shahed") {
                Some("Shahed".to_string())
            } else {
                None
            };
            out.threats.push(Threat {
                kind,
                action,
                count: None,
                model,
                from_region: None,
                towards_region: Some(region),
                at,
                text: text.to_string(),
            })
        }
        Announcement::Other => {}
    }
    out
}

/// Reads a run of messages in order (the order matters for resolving shared hromada names).
pub fn read_messages(
    messages: &[Message],
    lookup: &dyn RegionLookup,
    reference: Option<DateTime<Utc>>,
) -> Extraction {
    let mut ctx = Context::with_timeline(messages, lookup);
    let mut out = Extraction::default();
    for m in messages {
        out.extend(read_message(m, lookup, &mut ctx, reference));
    }
    out
}

/// An alert on one region from its 🔴 to its 🟢/🟡.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelInterval {
    pub region: NamedRegion,
    #[serde(rename = "type")]
    pub alert_type: AlertType,
    pub start: DateTime<Utc>,
    /// Null when no all-clear followed (export ended, or a second 🔴 for the same region came
    /// first).
    pub end: Option<DateTime<Utc>>,
    pub test: bool,
    pub start_message: Option<i64>,
    pub end_message: Option<i64>,
}

fn region_key(r: &NamedRegion) -> String {
    match r.id {
        Some(id) => id.to_string(),
        None => fold_name(&r.name),
    }
}

/// Pairs each 🔴 with the next 🟢/🟡 for the same region and type. Messages without a time are
/// skipped; messages must be in posting order.
pub fn rebuild_intervals(messages: &[Message], lookup: &dyn RegionLookup) -> Vec<ChannelInterval> {
    let mut ctx = Context::with_timeline(messages, lookup);
    let mut open: HashMap<(String, AlertType), ChannelInterval> = HashMap::new();
    let mut done = Vec::new();
    for m in messages {
        let ex = read_message(m, lookup, &mut ctx, None);
        for a in ex.alerts {
            let Some(at) = a.at else { continue };
            let key = (region_key(&a.region), a.alert_type);
            match a.action {
                Action::Start => {
                    let iv = ChannelInterval {
                        region: a.region,
                        alert_type: a.alert_type,
                        start: at,
                        end: None,
                        test: a.test,
                        start_message: a.message_id,
                        end_message: None,
                    };
                    if let Some(prev) = open.insert(key, iv) {
                        done.push(prev);
                    }
                }
                Action::End => {
                    if let Some(mut iv) = open.remove(&key) {
                        iv.end = Some(at);
                        iv.end_message = a.message_id;
                        done.push(iv);
                    }
                }
            }
        }
    }
    done.extend(open.into_values());
    done.sort_by(|a, b| a.start.cmp(&b.start).then(a.region.id.cmp(&b.region.id)));
    done
}

/// One interval of a reference record (e.g. the official dataset) to check against.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordInterval {
    /// The region's id, when the record's names resolved.
    pub region: Option<u32>,
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// Why a record interval found no rebuilt interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unmatched {
    /// Outside the time the export covers, or inside a run of missing message ids.
    ExportGap,
    /// The record's region names did not resolve to an id.
    RecordRegionUnknown,
    /// A 🔴 for the region exists, but more than 60 s from the record's start.
    StartTimeDiffers,
    /// The message names a hromada several oblasts have ("Покровська територіальна громада")
    /// without saying which, and the reader placed it in another oblast than the record did.
    AmbiguousName,
    /// No message within 60 s names this region; messages around that time name others.
    RegionNotInMessages,
}

/// The result of checking rebuilt intervals against a record.
#[derive(Debug, Clone, Default)]
pub struct MatchReport {
    pub total: usize,
    pub matched: usize,
    pub unmatched: Vec<(RecordInterval, Unmatched)>,
}

impl MatchReport {
    pub fn count(&self, why: Unmatched) -> usize {
        self.unmatched.iter().filter(|(_, w)| *w == why).count()
    }

    /// Matched share among record intervals whose time the export covers.
    pub fn covered_ratio(&self) -> f64 {
        let covered = self.total - self.count(Unmatched::ExportGap);
        if covered == 0 {
            return 1.0;
        }
        self.matched as f64 / covered as f64
    }
}

/// Checks each record interval for a rebuilt one on the same region starting within
/// `tolerance_s`, and explains every miss. `messages` is the export the intervals were rebuilt
/// from; its message ids show where messages are missing.
pub fn compare_with_record(
    rebuilt: &[ChannelInterval],
    record: &[RecordInterval],
    messages: &[Message],
    lookup: &dyn RegionLookup,
    tolerance_s: i64,
) -> MatchReport {
    let mut starts: HashMap<u32, Vec<i64>> = HashMap::new();
    let mut by_name: HashMap<String, Vec<i64>> = HashMap::new();
    for iv in rebuilt {
        if let Some(id) = iv.region.id {
            starts.entry(id).or_default().push(iv.start.timestamp());
        }
        by_name
            .entry(fold_name(&iv.region.name))
            .or_default()
            .push(iv.start.timestamp());
    }
    for v in starts.values_mut().chain(by_name.values_mut()) {
        v.sort_unstable();
    }
    let near = |list: &[i64], t: i64, tol: i64| {
        let i = list.partition_point(|&s| s < t - tol);
        list.get(i).is_some_and(|&s| s <= t + tol)
    };
    // (time, id) of every dated message, to find id gaps around a time.
    let mut stamps: Vec<(i64, i64)> = messages
        .iter()
        .filter_map(|m| Some((m.posted()?.timestamp(), m.id.unwrap_or(0))))
        .collect();
    stamps.sort_unstable();
    // Inside the window, or between it and its neighbours, a jump in message ids means
    // messages the export lacks.
    let in_gap = |t: i64| -> bool {
        let lo = stamps.partition_point(|&(s, _)| s < t - tolerance_s);
        let hi = stamps.partition_point(|&(s, _)| s <= t + tolerance_s);
        if lo == 0 || hi >= stamps.len() {
            return true;
        }
        stamps[lo - 1..=hi].windows(2).any(|w| w[1].1 - w[0].1 > 1)
    };
    let mut report = MatchReport {
        total: record.len(),
        ..MatchReport::default()
    };
    for r in record {
        let t = r.start.timestamp();
        let Some(id) = r.region else {
            report
                .unmatched
                .push((r.clone(), Unmatched::RecordRegionUnknown));
            continue;
        };
        let list = starts.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        if near(list, t, tolerance_s) {
            report.matched += 1;
            continue;
        }
        let shared_name = lookup.place(id).and_then(|p| {
            let n = fold_name(&p.name_uk);
            (lookup.find(&p.name_uk).len() > 1).then_some(n)
        });
        let why = if in_gap(t) {
            Unmatched::ExportGap
        } else if shared_name
            .and_then(|n| by_name.get(&n))
            .is_some_and(|l| near(l, t, tolerance_s))
        {
            Unmatched::AmbiguousName
        } else if near(list, t, 6 * 3600) {
            Unmatched::StartTimeDiffers
        } else {
            Unmatched::RegionNotInMessages
        };
        report.unmatched.push((r.clone(), why));
    }
    report
}

#[cfg(test)]
#[path = "channel_tests.rs"]
mod tests;
