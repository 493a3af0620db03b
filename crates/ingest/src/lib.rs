//! Readers of official texts: the alert channel's messages, the Air Force's attack summaries and
//! English news / live blogs. Text in, alerts, threats, attack reports and power restrictions out;
//! no network and no I/O.
//!
//! Entry points: [`read_text`] (one document, kind given or detected) and [`read_documents`]
//! (several documents read together, e.g. successive captures of one live blog, with repeated
//! entries and attacks read once). A document may also be a JSON-lines export (one object with a
//! `text` field per line, as the channel and summary exports are); its records are read in order,
//! each with its own posting time.
//!
//! ```
//! use tryvoga_ingest::{Gazetteer, Kind, Options, read_text_with};
//!
//! let text = "🔴 18:10 Повітряна тривога в Вінницька область\n#Вінницька_область";
//! let ex = read_text_with(text, Kind::Auto, Gazetteer::embedded(), &Options::default());
//! assert_eq!(ex.alerts[0].region.id, Some(4));
//! // `serde_json::to_string(&ex)` is the `{"alerts","threats","reports","power"}` object.
//! ```
//!
//! For `tryvoga import channel`: [`channel::parse_export`] then [`channel::rebuild_intervals`].

pub mod channel;
pub mod model;
pub mod news;
pub mod numbers;
pub mod places;
pub mod summary;
pub mod tally;
pub mod text;
pub mod weapons;

use std::str::FromStr;

use chrono::{DateTime, Utc};

pub use model::Extraction;
pub use places::{Gazetteer, RegionLookup};

use channel::Message;

/// What kind of text a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Decide from the text.
    Auto,
    News,
    Summary,
    Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}: expected auto, news, summary or channel")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Kind::Auto),
            "news" => Ok(Kind::News),
            "summary" => Ok(Kind::Summary),
            "channel" => Ok(Kind::Channel),
            other => Err(UnknownKind(other.to_string())),
        }
    }
}

/// Settings a reader cannot learn from the text itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// "Now", or when the document was published: supplies the date of a channel message that
    /// has only `HH:MM`, and the year of a summary's period. Without it those stay null. The
    /// library never reads the clock; the CLI passes the current time.
    pub reference: Option<DateTime<Utc>>,
}

const CHANNEL_MARKERS: &[char] = &['🔴', '🟢', '🟡', '🟠', '🚨', '⚠', '🟣', '⚪'];

fn looks_like_channel(text: &str) -> bool {
    let t = text.trim_start();
    let l = t.to_lowercase();
    t.starts_with(CHANNEL_MARKERS)
        || l.contains("повітряна тривога")
        || l.contains("відбій тривоги")
        || l.contains("загроза артобстрілу")
}

/// The kind of a document, decided from its text.
pub fn detect(text: &str) -> Kind {
    if summary::looks_like_summary(text) {
        Kind::Summary
    } else if looks_like_channel(text) {
        Kind::Channel
    } else if news::looks_like_news(text) {
        Kind::News
    } else {
        // Ukrainian text that is neither: the summary reader finds what counts it can.
        Kind::Summary
    }
}

/// JSON-lines records (`{"text": ..., "date_local"/"date_unixtime"/"posted_at": ...}`), when
/// every non-empty line is one.
fn json_records(text: &str) -> Option<Vec<Message>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        out.push(Message::from_json(&v)?);
    }
    (!out.is_empty()).then_some(out)
}

/// Plain text holding several channel messages: each starts at a line opening with a marker.
fn split_channel_messages(text: &str) -> Vec<Message> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with(CHANNEL_MARKERS) || out.is_empty() {
            out.push(String::new());
        }
        if let Some(cur) = out.last_mut() {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    out.into_iter()
        .filter(|m| !m.trim().is_empty())
        .map(|m| Message::from_text(m.trim()))
        .collect()
}

/// Reads one document; `kind` may be [`Kind::Auto`].
pub fn read_text(text: &str, kind: Kind, regions: &dyn RegionLookup) -> Extraction {
    read_documents(&[text], kind, regions, &Options::default())
}

/// [`read_text`] with a reference time.
pub fn read_text_with(
    text: &str,
    kind: Kind,
    regions: &dyn RegionLookup,
    options: &Options,
) -> Extraction {
    read_documents(&[text], kind, regions, options)
}

/// Reads several documents together. News documents are merged (entries repeated across
/// captures read once, one report per attack); channel messages are read in order (so a 🟡
/// list or an earlier message can place a hromada name several oblasts share); identical
/// summaries count once.
pub fn read_documents(
    docs: &[&str],
    kind: Kind,
    regions: &dyn RegionLookup,
    options: &Options,
) -> Extraction {
    // Unfold JSON-lines exports into records with their own times.
    let mut records: Vec<(Kind, Message)> = Vec::new();
    for doc in docs {
        match json_records(doc) {
            Some(msgs) => {
                for m in msgs {
                    let k = if kind == Kind::Auto {
                        detect(&m.text)
                    } else {
                        kind
                    };
                    records.push((k, m));
                }
            }
            None => {
                let k = if kind == Kind::Auto {
                    detect(doc)
                } else {
                    kind
                };
                if k == Kind::Channel {
                    for m in split_channel_messages(doc) {
                        records.push((k, m));
                    }
                } else {
                    records.push((k, Message::from_text(doc)));
                }
            }
        }
    }

    let mut out = Extraction::default();
    let channel: Vec<Message> = records
        .iter()
        .filter(|(k, _)| *k == Kind::Channel)
        .map(|(_, m)| m.clone())
        .collect();
    if !channel.is_empty() {
        out.extend(channel::read_messages(&channel, regions, options.reference));
    }
    let mut seen_summaries = std::collections::HashSet::new();
    for (k, m) in &records {
        if *k == Kind::Summary
            && seen_summaries.insert(m.text.split_whitespace().collect::<String>())
        {
            let reference = m.posted().or(options.reference);
            out.extend(summary::read_summary(&m.text, regions, reference));
        }
    }
    let news_docs: Vec<&str> = records
        .iter()
        .filter(|(k, _)| *k == Kind::News)
        .map(|(_, m)| m.text.as_str())
        .collect();
    if !news_docs.is_empty() {
        out.extend(news::read_news_documents(&news_docs, regions));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds() {
        assert_eq!(
            detect("🔴 18:10 Повітряна тривога в Вінницька область"),
            Kind::Channel
        );
        assert_eq!(
            detect("У ніч на 24 червня противник атакував 101 ударним БпЛА"),
            Kind::Summary
        );
        assert_eq!(
            detect("Russia launched 90 drones at Ukraine overnight."),
            Kind::News
        );
        assert_eq!("Summary".parse::<Kind>(), Ok(Kind::Summary));
        assert!("poem".parse::<Kind>().is_err());
    }

    #[test]
    fn reads_pasted_channel_messages_and_jsonl() {
        let g = Gazetteer::top_level();
        let ex = read_text(
            "🔴 18:10 Повітряна тривога в Вінницька область\n#Вінницька_область\n🟢 18:50 Відбій тривоги в Вінницька область.\n#Вінницька_область",
            Kind::Auto,
            &g,
        );
        assert_eq!(ex.alerts.len(), 2);
        let jsonl = r#"{"id": 7, "date_local": "2022-03-15T18:10:34", "date_unixtime": null, "text": "🔴 18:10 Повітряна тривога в Вінницька область\nПройдіть в укриття.\n#Вінницька_область"}"#;
        let ex = read_text(jsonl, Kind::Auto, &g);
        assert_eq!(
            ex.alerts[0].at.map(|t| t.to_rfc3339()),
            Some("2022-03-15T16:10:34+00:00".to_string())
        );
    }
}
