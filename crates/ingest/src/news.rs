//! English news articles and live blogs: boilerplate stripped (donation appeals, sign-up and
//! comment prompts), live-blog entries split at their author + timestamp lines, entries repeated
//! across captures dropped, then attack reports (attacker, target, per-class counts, regions,
//! casualties, infrastructure), power-supply restrictions and threat notices read from what is
//! left.
//!
//! Longer than most files, on purpose: the reader is one pass over an article's sentences
//! whose carried context (the attack being described, the regions named so far, the capture a
//! live-blog entry came from) every step reads and updates; the phrase-level work is already
//! in `weapons`, `numbers` and `places`.
//!
//! Counts come only from weapon phrases (see [`crate::weapons`]); sentences about weapons
//! promised, delivered or produced, and running totals ("this year", "since the start"), give no
//! counts.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use regex::Regex;

use tryvoga_core::report::{
    Action, AttackReport, Evidence, InfraKind, NamedRegion, Threat, ThreatKind, WeaponClass,
};

use crate::model::{Extraction, PowerReading, PowerReadingKind};
use crate::numbers::parse_phrase;
use crate::places::{EnMention, RegionLookup, en_mentions};
use crate::tally;
use crate::text::{mask_parentheses, sentences};
use crate::weapons::{CountRole, Mention, scan_in_context, tokenize};

/// Whether the text is English prose (rather than a Ukrainian summary or channel message).
pub fn looks_like_news(text: &str) -> bool {
    let mut latin = 0usize;
    let mut cyrillic = 0usize;
    for c in text.chars().take(20_000) {
        if c.is_ascii_alphabetic() {
            latin += 1;
        } else if ('\u{0400}'..='\u{04ff}').contains(&c) {
            cyrillic += 1;
        }
    }
    latin > cyrillic * 2
}

const BOILERPLATE: &[&str] = &[
    "your support",
    "donation",
    "donate",
    "paywall",
    "afford",
    "we need reporters",
    "is trusted by",
    "is on the ground when the story",
    "stay up to date with notifications",
    "notifications can be managed",
    "join our commenting forum",
    "join thought-provoking conversations",
    "thank you for registering",
    "please refresh",
    "sign up",
    "subscribe",
    "newsletter",
    "log in to",
    "already have an account",
    "advertisement",
    "read more:",
    "click here",
    "most read",
    "share this article",
    "follow us",
];

fn is_boilerplate(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    if matches!(
        l.as_str(),
        "comments" | "comment" | "liveupdated" | "live updated" | "live" | "show latest updates"
    ) {
        return true;
    }
    BOILERPLATE.iter().any(|b| l.contains(b))
}

static AUTHOR_LINE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<author>[^\d\n]{0,80}?)\s*(?P<day>\d{1,2})\s+(?P<month>January|February|March|April|May|June|July|August|September|October|November|December)\s+(?P<year>\d{4})\s+(?P<h>\d{1,2})[:.](?P<m>\d{2})\s*(?P<tz>GMT|BST|UTC|CET|CEST|EET|EEST)?\s*$")
        .expect("static regex")
});
static TIME_LINE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:updated\s+|posted\s+)?(?:at\s+)?(?P<h>\d{1,2})[:.](?P<m>\d{2})\s*(?P<tz>GMT|BST|UTC|CET|CEST|EET|EEST)?\s*$")
        .expect("static regex")
});
static DATELINE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<day>\d{1,2})\s+(?P<month>January|February|March|April|May|June|July|August|September|October|November|December)\s+(?P<year>\d{4})(?:\s+(?P<h>\d{1,2})[:.](?P<m>\d{2})\s*(?P<tz>GMT|BST|UTC|CET|CEST|EET|EEST)?)?")
        .expect("static regex")
});

fn month_en(m: &str) -> Option<u32> {
    const M: &[&str] = &[
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    M.iter()
        .position(|x| *x == m.to_lowercase())
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn tz_offset_hours(tz: Option<&str>) -> i64 {
    match tz {
        Some("BST" | "CET") => 1,
        Some("CEST" | "EET") => 2,
        Some("EEST") => 3,
        _ => 0,
    }
}

fn stamp(date: NaiveDate, h: u32, m: u32, tz: Option<&str>) -> Option<DateTime<Utc>> {
    let t = date.and_time(NaiveTime::from_hms_opt(h, m, 0)?);
    Some(t.and_utc() - Duration::hours(tz_offset_hours(tz)))
}

/// One live-blog entry (or the whole article when there are no entry lines), as the paragraphs
/// of one document it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub doc: usize,
    /// Byte spans of the entry's paragraphs in its document.
    pub paragraphs: Vec<(usize, usize)>,
    pub author: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// Splits a document into entries, dropping boilerplate lines. The author + timestamp line of
/// a live blog closes the entry above it.
pub fn entries(doc: usize, text: &str) -> Vec<Entry> {
    let dateline = DATELINE_RE.captures(text).and_then(|c| {
        let d = NaiveDate::from_ymd_opt(
            c["year"].parse().ok()?,
            month_en(&c["month"])?,
            c["day"].parse().ok()?,
        )?;
        Some((d, c.name("tz").map(|t| t.as_str().to_string())))
    });
    let mut out = Vec::new();
    let mut current: Vec<(usize, usize)> = Vec::new();
    let mut offset = 0usize;
    for raw in text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let lead = raw.len() - raw.trim_start().len();
        let span = (start + lead, start + lead + line.len());
        if let Some(c) = AUTHOR_LINE_RE.captures(line) {
            let at = (|| {
                let d = NaiveDate::from_ymd_opt(
                    c["year"].parse().ok()?,
                    month_en(&c["month"])?,
                    c["day"].parse().ok()?,
                )?;
                let tz = c.name("tz").map(|t| t.as_str());
                stamp(d, c["h"].parse().ok()?, c["m"].parse().ok()?, tz)
            })();
            let author = c["author"].trim().trim_end_matches([',', '|', '-']).trim();
            out.push(Entry {
                doc,
                paragraphs: std::mem::take(&mut current),
                author: (!author.is_empty()).then(|| author.to_string()),
                at,
            });
            continue;
        }
        if let Some(c) = TIME_LINE_RE.captures(line) {
            let at = dateline.as_ref().and_then(|(d, tz)| {
                let tz = c.name("tz").map(|t| t.as_str()).or(tz.as_deref());
                stamp(*d, c["h"].parse().ok()?, c["m"].parse().ok()?, tz)
            });
            out.push(Entry {
                doc,
                paragraphs: std::mem::take(&mut current),
                author: None,
                at,
            });
            continue;
        }
        if is_boilerplate(line) {
            continue;
        }
        current.push(span);
    }
    if !current.is_empty() {
        out.push(Entry {
            doc,
            paragraphs: current,
            author: None,
            at: None,
        });
    }
    out.retain(|e| !e.paragraphs.is_empty());
    out
}

fn norm_para(p: &str) -> String {
    p.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .replace(['’', '‘'], "'")
}

const TARGET_WORDS: &[&str] = &[
    "targeted",
    "targeting",
    "attack on",
    "attacks on",
    "attack against",
    "strike on",
    "strikes on",
    "struck",
    "blasts",
    "explosions",
    "shelling",
    "shelled",
    "bombard",
    "drone attack",
    "missile attack",
    "were hit",
    "was hit",
    "hit by",
    "attacked",
    " over ",
    " hit ",
    "damaged",
    "killing",
    "injuring",
];

const SUPPLY_WORDS: &[&str] = &[
    "deliver",
    "supplied",
    "supply",
    "supplies",
    "promise",
    "pledge",
    "provide",
    "package",
    "aid ",
    "produce",
    "production",
    "manufactur",
    "stockpil",
    "purchase",
    "order",
    "transfer",
    "donat",
    "send ",
    "sent ",
    "sending",
    "receive",
    "buy",
    "bought",
    "arsenal",
    "inventory",
];

const RUNNING_TOTAL: &[&str] = &[
    "this month",
    "this year",
    "last month",
    "last week",
    "this week",
    "per month",
    "a month",
    "each month",
    "every month",
    "since the start",
    "since the beginning",
    "since february 2022",
    "since 2022",
    "so far this",
    "in total",
    "full-scale invasion",
];

const POWER_WORDS: &[&str] = &[
    "power supply",
    "electricity supply",
    "electricity supplies",
    "power outage",
    "blackout",
    "outage schedule",
    "scheduled outage",
    "emergency outage",
    "limit power",
    "limits on electricity",
    "limit electricity",
    "restrictions would apply",
    "power cuts",
    "grid operator",
];

fn infra_kinds(lower: &str) -> Vec<InfraKind> {
    let mut out = Vec::new();
    let mut add = |k: InfraKind| {
        if !out.contains(&k) {
            out.push(k);
        }
    };
    let has = |ws: &[&str]| ws.iter().any(|w| lower.contains(w));
    if has(&["nuclear power plant", "nuclear plant", "npp"]) {
        add(InfraKind::Nuclear);
    }
    if has(&[
        "energy infrastructure",
        "energy facilit",
        "power plant",
        "power station",
        "substation",
        "power grid",
        "thermal power",
        "hydroelectric",
        "energy system",
        "power line",
    ]) && !lower.contains("nuclear power plant")
    {
        add(InfraKind::Energy);
    }
    if has(&[
        "oil refinery",
        "oil depot",
        "refinery",
        "fuel depot",
        "oil terminal",
    ]) {
        add(InfraKind::Oil);
    }
    if has(&[
        "gas production",
        "gas facilit",
        "gas infrastructure",
        "gas pipeline",
        "gas storage",
    ]) {
        add(InfraKind::Gas);
    }
    if has(&["water supply", "dam ", "water pumping", "water treatment"]) {
        add(InfraKind::Water);
    }
    if has(&[
        "railway",
        "rail ",
        "port ",
        "port infrastructure",
        "bridge",
        "airport",
    ]) {
        add(InfraKind::Transport);
    }
    if has(&[
        "residential",
        "apartment",
        "high-rise",
        "houses",
        "homes",
        "private house",
    ]) {
        add(InfraKind::Residential);
    }
    if has(&["factory", "industrial", "enterprise", "plant producing"]) {
        add(InfraKind::Industrial);
    }
    out
}

const DAMAGE_WORDS: &[&str] = &[
    " hit",
    "struck",
    "damag",
    "destroyed",
    "targeted",
    "attack on",
    "attacks on",
    "strike on",
    "strikes on",
    "against",
    "caught fire",
    "fire broke out",
    "ablaze",
];

static CASUALTY_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:killing|killed|injuring|injured|wounding|wounded)\s+(?:at least\s+|more than\s+|about\s+|some\s+)?(\S+)|\b(?:at least\s+|more than\s+|about\s+|some\s+)?(\S+)\s+(?:\w+\s+){0,2}?(?:people|civilians|persons|residents|children|others)?\s*(?:were|was|have been|had been|are|being)?\s*(killed|dead|died|injured|wounded|hurt)\b")
        .expect("static regex")
});

fn casualty_counts(sentence: &str) -> (Option<u32>, Option<u32>) {
    let l = sentence.to_lowercase();
    if [
        "soldier",
        "troops",
        "servicemen",
        "casualties",
        "losses",
        "military personnel",
    ]
    .iter()
    .any(|w| l.contains(w))
    {
        return (None, None);
    }
    let mut killed = None;
    let mut injured = None;
    for c in CASUALTY_RE.captures_iter(sentence) {
        let whole = c
            .get(0)
            .map(|m| m.as_str().to_lowercase())
            .unwrap_or_default();
        let num = c.get(1).or(c.get(2)).map(|m| {
            m.as_str()
                .trim_matches(|ch: char| !ch.is_alphanumeric())
                .to_string()
        });
        let Some(n) = num.and_then(|n| parse_phrase(&[n.as_str()]).map(|(v, _)| v)) else {
            continue;
        };
        let is_killed = whole.contains("kill") || whole.contains("dead") || whole.contains("died");
        let slot = if is_killed { &mut killed } else { &mut injured };
        *slot = Some(slot.map_or(n, |o: u32| o.max(n)));
    }
    (killed, injured)
}

/// Who attacks whom in a sentence: Ukraine's weapons or an attack by Ukraine on Russian
/// places make it UA → RU; otherwise the war's usual direction, RU → UA.
fn direction(
    sentence: &str,
    lower: &str,
    places: &[EnMention],
    mentions: &[Mention],
) -> (&'static str, &'static str) {
    const UA_MARKERS: &[&str] = &[
        "ukrainian drone",
        "ukrainian missile",
        "ukrainian uav",
        "ukrainian attack drone",
        "ukrainian long-range",
        "atacms",
        "storm shadow",
        "ukraine launched",
        "ukraine attacked",
        "ukraine struck",
        "kyiv launched",
        "attacked by ukraine",
        "ukrainian forces launched",
        "ukrainian strike",
    ];
    const RU_MARKERS: &[&str] = &[
        "russia launched",
        "russia attacked",
        "russia fired",
        "russia struck",
        "russian drone",
        "russian missile",
        "russian forces",
        "russian attack",
        "russian strike",
        "moscow launched",
        "the enemy",
    ];
    if UA_MARKERS.iter().any(|w| lower.contains(w)) {
        return ("UA", "RU");
    }
    if RU_MARKERS.iter().any(|w| lower.contains(w)) {
        return ("RU", "UA");
    }
    // Otherwise the places decide: Russian ones named as targets (not as "from") and no
    // Ukrainian one.
    let foreign_target = places.iter().any(|p| {
        let before = sentence[..p.start].trim_end().to_lowercase();
        p.region.country == "RU" && !before.ends_with("from") && !before.ends_with("from the")
    });
    let ukrainian_place = places.iter().any(|p| p.region.country == "UA");
    if foreign_target && !ukrainian_place && !mentions.is_empty() {
        ("UA", "RU")
    } else {
        ("RU", "UA")
    }
}

static THREAT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(rocket|missile|drone|ballistic|cruise|shahed)\w*\s+(?:is\s+)?(?:in|over|from)\s+(.+?)\s+(?:heading|headed|moving|flying)\s+(?:for|to|towards|toward)\s+(.+?)(?:[!.,”\x22]|$)")
        .expect("static regex")
});

fn threat_kind(word: &str) -> ThreatKind {
    match word.to_lowercase().as_str() {
        w if w.starts_with("ballistic") => ThreatKind::BallisticMissile,
        w if w.starts_with("cruise") => ThreatKind::CruiseMissile,
        w if w.starts_with("drone") || w.starts_with("shahed") => ThreatKind::Drone,
        _ => ThreatKind::Missile,
    }
}

fn region_ref(m: &EnMention) -> Option<NamedRegion> {
    Some(NamedRegion {
        id: Some(m.region.id?),
        name: m.region.name.clone(),
    })
}

/// Reads one article or live-blog capture.
pub fn read_news(text: &str, lookup: &dyn RegionLookup) -> Extraction {
    read_news_documents(&[text], lookup)
}

/// Reads several documents (e.g. successive captures of one live blog) together: an entry or
/// paragraph repeated in a later capture is read once, and the attack they describe comes out
/// as one report, not one per capture.
pub fn read_news_documents(docs: &[&str], _lookup: &dyn RegionLookup) -> Extraction {
    let mut seen: HashSet<String> = HashSet::new();
    let mut kept: Vec<Entry> = Vec::new();
    for (i, text) in docs.iter().enumerate() {
        for mut e in entries(i, text) {
            e.paragraphs
                .retain(|&(s, t)| seen.insert(norm_para(&text[s..t])));
            if !e.paragraphs.is_empty() {
                kept.push(e);
            }
        }
    }

    let mut out = Extraction::default();
    let mut reports: Vec<AttackReport> = Vec::new();
    let report_for = |attacker: &str, target: &str, reports: &mut Vec<AttackReport>| -> usize {
        if let Some(i) = reports
            .iter()
            .position(|r| r.attacker == attacker && r.target == target)
        {
            return i;
        }
        reports.push(AttackReport::new(attacker, target));
        reports.len() - 1
    };

    for entry in &kept {
        let text = docs[entry.doc];
        let entry_lower: String = entry
            .paragraphs
            .iter()
            .map(|&(s, e)| text[s..e].to_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        let power_entry = POWER_WORDS.iter().any(|w| entry_lower.contains(w));
        let mut power_regions: Vec<NamedRegion> = Vec::new();
        let mut consumers: Vec<String> = Vec::new();
        let mut power_evidence = Vec::new();
        let mut power_kind = PowerReadingKind::ConsumptionLimits;
        let mut last_weapon: Option<(WeaponClass, Vec<&'static str>)> = None;
        for &(ps, pe) in &entry.paragraphs {
            let para = &text[ps..pe];
            let masked = mask_parentheses(para);
            for (ss, se) in sentences(&masked) {
                let sent = &para[ss..se];
                let lower = sent.to_lowercase().replace('’', "'");
                let abs = (ps + ss, ps + se);
                let places = en_mentions(sent);

                if power_entry
                    && POWER_WORDS
                        .iter()
                        .chain(["restriction", "limit", "outage"].iter())
                        .any(|w| lower.contains(w))
                    && !lower.contains("last time")
                {
                    for p in &places {
                        if let Some(r) = region_ref(p)
                            && !power_regions.contains(&r)
                        {
                            power_regions.push(r);
                        }
                    }
                    if lower.contains("business") || lower.contains("industrial consumers") {
                        push_unique(&mut consumers, "business");
                    }
                    if lower.contains("household") {
                        push_unique(&mut consumers, "household");
                    }
                    if lower.contains("scheduled")
                        || lower.contains("schedule")
                        || lower.contains("rolling")
                    {
                        power_kind = PowerReadingKind::ScheduledOutages;
                    } else if lower.contains("emergency") {
                        power_kind = PowerReadingKind::EmergencyOutages;
                    }
                    power_evidence.push(Evidence {
                        text: sent.to_string(),
                        start: abs.0,
                        end: abs.1,
                    });
                }

                // Threat notices quoted from the Air Force.
                if let Some(c) = THREAT_RE.captures(sent) {
                    let from = c
                        .get(2)
                        .and_then(|m| en_mentions(m.as_str()).first().and_then(region_ref));
                    let towards = c
                        .get(3)
                        .and_then(|m| en_mentions(m.as_str()).first().and_then(region_ref));
                    if from.is_some() || towards.is_some() {
                        out.threats.push(Threat {
                            kind: threat_kind(&c[1]),
                            action: Action::Start,
                            count: None,
                            model: None,
                            from_region: from,
                            towards_region: towards,
                            at: entry.at,
                            text: sent.to_string(),
                        });
                    }
                }

                let masked_sent = mask_parentheses(sent);
                let toks = tokenize(&masked_sent);
                let mut mentions = scan_in_context(&masked_sent, &toks, last_weapon.clone());
                if let Some(m) = mentions.last() {
                    last_weapon = Some((m.class, m.models.clone()));
                }
                let supply = SUPPLY_WORDS.iter().any(|w| lower.contains(w));
                let running = RUNNING_TOTAL.iter().any(|w| lower.contains(w));
                if supply {
                    mentions.retain(|m| !matches!(m.role, None | Some(CountRole::Launched)));
                }
                if running {
                    mentions.clear();
                }
                let attack_context =
                    !mentions.is_empty() || TARGET_WORDS.iter().any(|w| lower.contains(w));
                if !attack_context {
                    continue;
                }
                let (attacker, target) = direction(sent, &lower, &places, &mentions);
                let idx = report_for(attacker, target, &mut reports);
                let report = &mut reports[idx];
                let counted = mentions
                    .iter()
                    .any(|m| m.count.is_some() && m.role.is_some());
                for m in &mentions {
                    tally::add(&mut report.weapons, m);
                }
                if counted {
                    report.evidence.push(Evidence {
                        text: sent.to_string(),
                        start: abs.0,
                        end: abs.1,
                    });
                }
                // "launched from Russia's Kursk region": where from, not a target.
                for p in &places {
                    let before = sent[..p.start].trim_end().to_lowercase();
                    if p.region.country != target
                        && (before.ends_with("from") || before.ends_with("from the"))
                        && !report.launch_areas.contains(&p.region.name)
                    {
                        report.launch_areas.push(p.region.name.clone());
                    }
                }
                if TARGET_WORDS.iter().any(|w| lower.contains(w)) && !power_entry {
                    for p in &places {
                        if p.region.country == target && !report.regions.contains(&p.region) {
                            report.regions.push(p.region.clone());
                        }
                    }
                }
                if DAMAGE_WORDS.iter().any(|w| lower.contains(w)) {
                    for k in infra_kinds(&lower) {
                        if !report.infrastructure.contains(&k) {
                            report.infrastructure.push(k);
                        }
                    }
                }
                if target == "UA" {
                    let (k, i) = casualty_counts(sent);
                    if let Some(k) = k {
                        report.casualties.killed =
                            Some(report.casualties.killed.map_or(k, |o| o.max(k)));
                    }
                    if let Some(i) = i {
                        report.casualties.injured =
                            Some(report.casualties.injured.map_or(i, |o| o.max(i)));
                    }
                }
            }
        }
        if power_entry && (!power_regions.is_empty() || !power_evidence.is_empty()) {
            let dup = out
                .power
                .iter()
                .any(|p| p.regions == power_regions && p.kind == power_kind);
            if !dup {
                out.power.push(PowerReading {
                    regions: power_regions,
                    kind: power_kind,
                    start: entry.at,
                    end: None,
                    consumers,
                    evidence: power_evidence,
                });
            }
        }
    }
    // A report needs a weapon: a sentence about an attack long past with no weapon in it
    // ("Kursk, the region attacked by Ukraine in August") is not a report.
    for mut r in reports {
        if r.weapons.iter().any(|w| w.class.is_some()) {
            tally::sort(&mut r.weapons);
            drop_generic_missile_if_specific(&mut r);
            out.reports.push(r);
        }
    }
    out
}

/// "missiles" without a type or count, once typed missiles are known, adds nothing.
fn drop_generic_missile_if_specific(r: &mut AttackReport) {
    let typed = r.weapons.iter().any(|w| {
        w.class
            .is_some_and(|c| c.is_missile() && c != WeaponClass::Missile)
    });
    if typed {
        r.weapons.retain(|w| {
            !(w.class == Some(WeaponClass::Missile)
                && w.launched.is_none()
                && w.destroyed.is_none()
                && w.suppressed.is_none()
                && w.left_airspace.is_none()
                && w.hit.is_none())
        });
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}
