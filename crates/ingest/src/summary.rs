//! The Air Force's attack summaries (t.me/kpszsu): what was launched, what was shot down or
//! suppressed, hits and debris locations per weapon model and class, launch areas, main
//! directions, the period ("У ніч на 02 липня (з 18:00 01 липня)" or "Протягом дня 28 серпня
//! (із 6.30 по 19.00)"), clarification posts, and headline totals checked against the lists.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Europe::Kyiv;
use regex::Regex;

use crate::channel::kyiv_to_utc;
use tryvoga_core::report::{AttackReport, Evidence, InfraKind, TargetRegion};

use crate::model::Extraction;
use crate::numbers::parse_phrase;
use crate::places::{RegionLookup, en_name, uk_oblast_mentions};
use crate::text::{mask_parentheses, sentences};
use crate::weapons::{CountRole, scan, tokenize};
use crate::{numbers, tally};

/// Whether the text reads like an Air Force summary.
pub fn looks_like_summary(text: &str) -> bool {
    let l = text.to_lowercase();
    (l.contains("противник атакував") || l.contains("ворог атакував"))
        || (l.contains("збито/подавлено") && (l.contains("бпла") || l.contains("ракет")))
        || (l.contains("протиповітряною обороною") && l.contains("збито"))
}

const MONTHS: &[&str] = &[
    "січня",
    "лютого",
    "березня",
    "квітня",
    "травня",
    "червня",
    "липня",
    "серпня",
    "вересня",
    "жовтня",
    "листопада",
    "грудня",
];

fn month(word: &str) -> Option<u32> {
    let w = word.to_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == w)
        .and_then(|i| u32::try_from(i + 1).ok())
}

static NIGHT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)у\s+ніч\s+на\s+(\d{1,2})\s+([а-яіїєґ]+)(?:\s*\(\s*з\s+(\d{1,2})[:.](\d{2})\s+(\d{1,2})\s+([а-яіїєґ]+)\s*\))?")
        .expect("static regex")
});
static DAY_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)протягом\s+дня\s+(\d{1,2})\s+([а-яіїєґ]+)(?:\s*\(\s*із?\s+(\d{1,2})[:.](\d{2})\s+(?:по|до)\s+(\d{1,2})[:.](\d{2})\s*\))?")
        .expect("static regex")
});
static AS_OF_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)станом\s+на\s+(\d{1,2})[:.](\d{2})").expect("static regex"));
static HIT_LOC_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)влучання[^.\n]*?\bна\s*(\d+|[а-яіїєґ']+)\s+локаці").expect("static regex")
});
static DEBRIS_LOC_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)падіння\s+(?:уламків|збитих)[^.\n]*?\bна\s*(\d+|[а-яіїєґ']+)")
        .expect("static regex")
});
static FROM_DIRECTIONS_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)із\s+напрямків\s*:?\s*([^\n]+)").expect("static regex"));
static LAUNCH_SITE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)райони?\s+пуску?і?в?\s*[–—-]?\s*([^)]+)\)").expect("static regex")
});
static FROM_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|\s)(?:із|з)\s+((?:ТОТ|акваторі|повітрян|Курськ|Брянськ|Бєлгородськ|Воронезьк|Ростовськ|Криму|Новоросійськ|Орл|Каспійськ|Азовськ|Чорного)[^,;\n(]*?)(?:,|;|\n|$|\s+та\s|\s+а\s+також)")
        .expect("static regex")
});
static KILLED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:загинул[аи]?|загинуло|загиблих)\s*[:\-–]?\s*(\d+|[а-яіїєґ']+)|(\d+|[а-яіїєґ']+)\s+(?:людей|людини|осіб|особи|цивільних)?\s*загинул").expect("static regex")
});
static INJURED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:поранено|постраждали|травмовано|постраждалих)\s*[:\-–]?\s*(\d+|[а-яіїєґ']+)|(\d+|[а-яіїєґ']+)\s+(?:людей|людини|осіб|особи|цивільних)?\s*(?:поранено|постраждали|дістали поранення)").expect("static regex")
});

fn number_word(s: &str) -> Option<u32> {
    parse_phrase(&[s]).map(|(v, _)| v)
}

/// Which year a day-and-month without a year belongs to: the one that puts it closest before
/// (or just after) the reference time.
fn date_near(day: u32, month: u32, reference: DateTime<Utc>) -> Option<NaiveDate> {
    let r = reference.with_timezone(&Kyiv).date_naive();
    [r.year(), r.year() - 1, r.year() + 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day))
        .min_by_key(|d| (*d - r).num_days().abs())
}

fn at(date: NaiveDate, h: u32, m: u32) -> Option<DateTime<Utc>> {
    kyiv_to_utc(date.and_time(NaiveTime::from_hms_opt(h, m, 0)?))
}

fn period(text: &str, reference: Option<DateTime<Utc>>, report: &mut AttackReport) {
    let Some(reference) = reference else { return };
    let as_of = AS_OF_RE
        .captures(text)
        .and_then(|c| Some((c[1].parse::<u32>().ok()?, c[2].parse::<u32>().ok()?)));
    if let Some(c) = NIGHT_RE.captures(text) {
        let (Some(d), Some(m)) = (c[1].parse().ok(), month(&c[2])) else {
            return;
        };
        let Some(night) = date_near(d, m, reference) else {
            return;
        };
        let start = match (c.get(3), c.get(4), c.get(5), c.get(6)) {
            (Some(h), Some(mi), Some(sd), Some(sm)) => {
                let sday = sd.as_str().parse().ok().zip(month(sm.as_str()));
                sday.and_then(|(sd, sm)| {
                    let date = NaiveDate::from_ymd_opt(night.year(), sm, sd)
                        .filter(|d| *d <= night)
                        .or_else(|| NaiveDate::from_ymd_opt(night.year() - 1, sm, sd))?;
                    at(date, h.as_str().parse().ok()?, mi.as_str().parse().ok()?)
                })
            }
            _ => at(night - Duration::days(1), 18, 0),
        };
        report.period.start = start;
        report.period.end = as_of.and_then(|(h, m)| at(night, h, m));
    } else if let Some(c) = DAY_RE.captures(text) {
        let (Some(d), Some(m)) = (c[1].parse().ok(), month(&c[2])) else {
            return;
        };
        let Some(day) = date_near(d, m, reference) else {
            return;
        };
        let hm = |a: usize, b: usize| -> Option<(u32, u32)> {
            Some((
                c.get(a)?.as_str().parse().ok()?,
                c.get(b)?.as_str().parse().ok()?,
            ))
        };
        report.period.start = hm(3, 4).and_then(|(h, m)| at(day, h, m));
        report.period.end = hm(5, 6).or(as_of).and_then(|(h, m)| at(day, h, m));
    }
}

fn clean_area(s: &str) -> Option<String> {
    let t = s.trim().trim_matches(|c: char| {
        c == '.' || c == ',' || c == '–' || c == '-' || c == '—' || c.is_whitespace()
    });
    (t.chars().count() >= 3).then(|| t.to_string())
}

fn launch_areas(text: &str, launch_sentences: &[(usize, usize)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for &(s, e) in launch_sentences {
        let sent = &text[s..e];
        for c in LAUNCH_SITE_RE.captures_iter(sent) {
            if let Some(a) = clean_area(&c[1]) {
                push(a);
            }
        }
        let masked = mask_parentheses(sent);
        for c in FROM_RE.captures_iter(&masked) {
            if let Some(a) = clean_area(&c[1]) {
                push(a);
            }
        }
        if let Some(c) = FROM_DIRECTIONS_RE.captures(&masked) {
            for item in c[1].split([',', ';']) {
                if let Some(a) = clean_area(item)
                    && a != "рф"
                {
                    push(a);
                }
            }
        }
    }
    out
}

fn infrastructure(lower: &str) -> Vec<InfraKind> {
    let mut out = Vec::new();
    let mut add = |k| {
        if !out.contains(&k) {
            out.push(k);
        }
    };
    if [
        "енергетич",
        "енергетик",
        "енергооб",
        "енергосистем",
        "підстанц",
        "генеруюч",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        add(InfraKind::Energy);
    }
    if lower.contains("газов") || lower.contains("газотранспорт") {
        add(InfraKind::Gas);
    }
    if lower.contains("нафто") || lower.contains("нафтобаз") {
        add(InfraKind::Oil);
    }
    if lower.contains("житлов") || lower.contains("багатоквартир") {
        add(InfraKind::Residential);
    }
    if lower.contains("залізнич") || lower.contains("портов") {
        add(InfraKind::Transport);
    }
    if lower.contains("водопостач") || lower.contains("водоканал") {
        add(InfraKind::Water);
    }
    out
}

/// Reads one summary into one report (RU → UA). `reference` (the posting time, or now) fixes
/// the year of the period; without it the period stays null.
pub fn read_summary(
    text: &str,
    _lookup: &dyn RegionLookup,
    reference: Option<DateTime<Utc>>,
) -> Extraction {
    let mut report = AttackReport::new("RU", "UA");
    let masked = mask_parentheses(text);
    let spans = sentences(&masked);
    let lower = text.to_lowercase();

    // Headline: the first line, when it tallies what was shot down.
    let first_line_end = text.find('\n').unwrap_or(text.len());
    let headline = &masked[..first_line_end];
    let headline_is_tally = headline.to_lowercase().contains("збито");

    let mut carry: Option<CountRole> = None;
    let mut launch_sentences = Vec::new();
    for &(s, e) in &spans {
        let sent = &masked[s..e];
        let toks = tokenize(sent);
        let mut mentions = scan(sent, &toks);
        let bullet = sent.trim_start().starts_with(['-', '•', '–']);
        if bullet {
            for m in mentions.iter_mut().filter(|m| m.role.is_none()) {
                m.role = carry;
            }
        }
        if mentions.iter().any(|m| m.role == Some(CountRole::Launched))
            || (bullet && carry == Some(CountRole::Launched))
            || sent.to_lowercase().contains("атакував")
        {
            launch_sentences.push((s, e));
        }
        if sent.trim_end().ends_with(':') {
            carry = crate::weapons::sentence_role(&toks);
        } else if !bullet {
            carry = None;
        }
        let in_headline = s < first_line_end;
        if in_headline && headline_is_tally {
            let lowered = sent.to_lowercase();
            let sum: u32 = mentions.iter().filter_map(|m| m.count).sum();
            let targets = lowered.contains("ціл");
            let total = if targets {
                numbers_in(&lowered).first().copied()
            } else if mentions.is_empty() {
                None
            } else {
                Some(sum)
            };
            report.headline_destroyed = total;
        }
        if !mentions.is_empty() {
            report.evidence.push(Evidence {
                text: text[s..e].to_string(),
                start: s,
                end: e,
            });
        }
        for m in &mentions {
            tally::add(&mut report.weapons, m);
        }
    }
    tally::sort(&mut report.weapons);

    period(text, reference, &mut report);
    report.hit_locations = HIT_LOC_RE.captures(text).and_then(|c| number_word(&c[1]));
    report.debris_locations = DEBRIS_LOC_RE
        .captures(text)
        .and_then(|c| number_word(&c[1]));
    report.launch_areas = launch_areas(text, &launch_sentences);

    // Main directions: "Основний напрямок удару - Одещина", "у бік столиці".
    for &(s, e) in &spans {
        let sent = &text[s..e];
        let l = sent.to_lowercase();
        let directional = (l.contains("напрям") && !l.contains("із напрямків"))
            || l.contains("у бік")
            || l.contains("в бік")
            || l.contains("спрямував");
        if !directional {
            continue;
        }
        for (_, _, id) in uk_oblast_mentions(sent) {
            if !report.regions.iter().any(|r| r.id == Some(id)) {
                report.regions.push(TargetRegion {
                    id: Some(id),
                    name: en_name(id),
                    country: "UA".into(),
                });
            }
        }
    }

    if let Some(c) = KILLED_RE.captures(text) {
        report.casualties.killed = c.get(1).or(c.get(2)).and_then(|m| number_word(m.as_str()));
    }
    if let Some(c) = INJURED_RE.captures(text) {
        report.casualties.injured = c.get(1).or(c.get(2)).and_then(|m| number_word(m.as_str()));
    }
    report.infrastructure = infrastructure(&lower);

    let opening = lower.chars().take(200).collect::<String>();
    if opening.contains("уточнен") || opening.contains("оновлен") {
        report.flags.push("clarification".into());
    }
    if let Some(h) = report.headline_destroyed {
        let listed = report.total_destroyed();
        if h != listed {
            report.flags.push("headline_total_mismatch".into());
        }
    }
    let mut out = Extraction::default();
    if !report.weapons.is_empty() {
        out.reports.push(report);
    }
    out
}

/// All counts written as digits or words in a lower-cased sentence, in order.
fn numbers_in(lower: &str) -> Vec<u32> {
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some((v, used)) = numbers::parse_phrase(&words[i..]) {
            out.push(v);
            i += used;
        } else {
            i += 1;
        }
    }
    out
}
