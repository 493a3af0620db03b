//! The reader of Vadimkin's siren datasets (github.com/Vadimkin/ukrainian-air-raid-sirens-dataset,
//! MIT): the official record (`official_data_{en,uk}.csv`, `full_data.csv`, columns
//! `oblast,raion,hromada,level,started_at,finished_at[,source]`) and the oblast-only volunteer
//! record (`volunteer_data_{en,uk}.csv`, `oblasts_only.csv`, columns
//! `region,started_at,finished_at,naive`). Times are UTC.
//!
//! Every row becomes a past alert or a skip with its line and reason; nothing is dropped
//! silently. Known quirks are handled and reported as notes: a row with oblast and raion
//! swapped is imported with the swap undone, and naive volunteer rows (no all-clear seen, the
//! end set to start + 30 min by the dataset) keep a note saying so.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use tryvoga_core::{AlertType, Level, RegionId, Registry, ResolveError};
use tryvoga_store::HistoricalAlert;

#[derive(Debug, thiserror::Error)]
pub enum SirensError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: line 1: the header is {found:?}; expected the official columns \
         (oblast,raion,hromada,level,started_at,finished_at[,source]) or the volunteer ones \
         (region,started_at,finished_at,naive)"
    )]
    Header { path: String, found: String },
    #[error("{path}: {message}")]
    Csv { path: String, message: String },
}

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub line: u64,
    pub reason: String,
}

/// A row taken in spite of a known defect, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Oblast, raion and hromada alerts from the state alert system.
    Official,
    /// Oblast alerts collected by volunteers from the eTryvoga channel.
    Volunteer,
}

/// A dataset file, read.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The file name, as errors and the import keys name it.
    pub file: String,
    /// What record the file holds, e.g. `vadimkin/official`. The English and Ukrainian files of
    /// one record share it, so importing both adds each alert once.
    pub source: String,
    pub kind: Kind,
    /// Data rows in the file (the header left out).
    pub records: u64,
    pub rows: Vec<HistoricalAlert>,
    pub skipped: Vec<Skip>,
    pub notes: Vec<Note>,
}

/// The end the volunteer dataset gives an alert whose all-clear was never seen.
const NAIVE_NOTE: &str =
    "no all-clear was seen; the dataset sets the end 30 minutes after the start";

/// Reads a dataset file; `progress` is told how many bytes have been read so far.
pub fn read_sirens(
    path: &Path,
    registry: &Registry,
    progress: &mut dyn FnMut(u64),
) -> Result<Dataset, SirensError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let bytes = std::fs::read(path).map_err(|source| SirensError::Io {
        path: path.display().to_string(),
        source,
    })?;
    read_sirens_from(&bytes, &file_name, registry, progress)
}

/// As [`read_sirens`], from the bytes of a file; `file` names it in messages.
pub fn read_sirens_from(
    input: &[u8],
    file: &str,
    registry: &Registry,
    progress: &mut dyn FnMut(u64),
) -> Result<Dataset, SirensError> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(input);
    let mut lines = LineCounter::new(input);
    let header = csv
        .headers()
        .map_err(|e| SirensError::Csv {
            path: file.to_string(),
            message: e.to_string(),
        })?
        .clone();
    let names: Vec<&str> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}'))
        .collect();
    let columns = Columns::find(&names).ok_or_else(|| SirensError::Header {
        path: file.to_string(),
        found: names.join(","),
    })?;
    let kind = match columns {
        Columns::Official { .. } => Kind::Official,
        Columns::Volunteer { .. } => Kind::Volunteer,
    };
    let mut data = Dataset {
        file: file.to_string(),
        source: String::new(),
        kind,
        records: 0,
        rows: Vec::new(),
        skipped: Vec::new(),
        notes: Vec::new(),
    };
    let mut sources: HashMap<String, u64> = HashMap::new();
    let mut resolver = Resolver::new(registry);
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken record (bad UTF-8, say) is one skipped row, not a failed file.
                let Some(pos) = e.position() else {
                    return Err(SirensError::Csv {
                        path: file.to_string(),
                        message: e.to_string(),
                    });
                };
                let line = lines.line_at(pos.byte());
                data.records += 1;
                data.skipped.push(Skip {
                    line,
                    reason: format!("unreadable record: {e}"),
                });
                continue;
            }
        }
        data.records += 1;
        // The csv crate's own line count is off after CRLF line ends, which the published
        // files use; lines are counted from the byte offset instead.
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        if data.records.is_multiple_of(4096) {
            progress(record.position().map_or(0, |p| p.byte()));
        }
        if record.len() != names.len() {
            data.skipped.push(Skip {
                line,
                reason: format!(
                    "{} fields where the header has {}",
                    record.len(),
                    names.len()
                ),
            });
            continue;
        }
        match columns.row(&record, &mut resolver) {
            Ok(parsed) => {
                if let Some(message) = parsed.note {
                    data.notes.push(Note { line, message });
                }
                if let Some(s) = parsed.source {
                    *sources.entry(s).or_default() += 1;
                }
                data.rows.push(HistoricalAlert {
                    line,
                    region: parsed.region,
                    alert_type: AlertType::AirRaid,
                    started_at: parsed.started,
                    ended_at: parsed.ended,
                    note: parsed.alert_note,
                });
            }
            Err(reason) => data.skipped.push(Skip { line, reason }),
        }
    }
    progress(csv.position().byte());
    // The file's own `source` column names the record when it has one (always `official` in
    // the published files); otherwise the layout does.
    let dominant = sources.into_iter().max_by_key(|(_, n)| *n).map(|(s, _)| s);
    data.source = match (dominant, kind) {
        (Some(s), _) => format!("vadimkin/{s}"),
        (None, Kind::Official) => "vadimkin/official".into(),
        (None, Kind::Volunteer) => "vadimkin/volunteer".into(),
    };
    Ok(data)
}

/// Line numbers (1-based) of byte offsets, for offsets that only grow.
struct LineCounter<'a> {
    input: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(input: &'a [u8]) -> LineCounter<'a> {
        LineCounter {
            input,
            offset: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, byte: u64) -> u64 {
        let mut to = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        // After a CRLF the reader places the next record at the LF; the record starts after it.
        while to < self.input.len() && matches!(self.input[to], b'\r' | b'\n') {
            to += 1;
        }
        if to > self.offset {
            self.line += self.input[self.offset..to]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.offset = to;
        }
        self.line
    }
}

enum Columns {
    Official {
        oblast: usize,
        raion: usize,
        hromada: usize,
        level: usize,
        started: usize,
        finished: usize,
        source: Option<usize>,
    },
    Volunteer {
        region: usize,
        started: usize,
        finished: usize,
        naive: Option<usize>,
    },
}

struct Parsed {
    region: RegionId,
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    source: Option<String>,
    note: Option<String>,
    alert_note: Option<String>,
}

impl Columns {
    fn find(names: &[&str]) -> Option<Columns> {
        let at = |n: &str| names.iter().position(|h| h.eq_ignore_ascii_case(n));
        if let (
            Some(oblast),
            Some(raion),
            Some(hromada),
            Some(level),
            Some(started),
            Some(finished),
        ) = (
            at("oblast"),
            at("raion"),
            at("hromada"),
            at("level"),
            at("started_at"),
            at("finished_at"),
        ) {
            return Some(Columns::Official {
                oblast,
                raion,
                hromada,
                level,
                started,
                finished,
                source: at("source"),
            });
        }
        Some(Columns::Volunteer {
            region: at("region")?,
            started: at("started_at")?,
            finished: at("finished_at")?,
            naive: at("naive"),
        })
    }

    fn row(&self, r: &csv::StringRecord, resolver: &mut Resolver<'_>) -> Result<Parsed, String> {
        let field = |i: usize| r.get(i).unwrap_or("").trim();
        match *self {
            Columns::Official {
                oblast,
                raion,
                hromada,
                level,
                started,
                finished,
                source,
            } => {
                let (started, ended) = span(field(started), field(finished))?;
                let (region, note) =
                    resolver.official(field(oblast), field(raion), field(hromada), field(level))?;
                Ok(Parsed {
                    region,
                    started,
                    ended,
                    source: source
                        .map(|i| field(i).to_string())
                        .filter(|s| !s.is_empty()),
                    note,
                    alert_note: None,
                })
            }
            Columns::Volunteer {
                region,
                started,
                finished,
                naive,
            } => {
                let (started, ended) = span(field(started), field(finished))?;
                let region = resolver.oblast(field(region), "region")?;
                let naive = match naive.map(field) {
                    None | Some("") | Some("False") | Some("false") => false,
                    Some("True") | Some("true") => true,
                    Some(other) => {
                        return Err(format!("naive must be True or False, not {other:?}"));
                    }
                };
                Ok(Parsed {
                    region,
                    started,
                    ended,
                    source: None,
                    note: None,
                    alert_note: naive.then(|| NAIVE_NOTE.to_string()),
                })
            }
        }
    }
}

fn span(started: &str, finished: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let s = time("started_at", started)?;
    let f = time("finished_at", finished)?;
    if f < s {
        return Err(format!(
            "finished_at {finished} is before started_at {started}"
        ));
    }
    Ok((s, f))
}

/// `2022-03-15 16:10:34+00:00`, as the dataset writes times; RFC 3339 proper is taken too.
fn time(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    if text.is_empty() {
        return Err(format!("{field} is empty"));
    }
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{field} {text:?} is not a time like 2022-03-15 16:10:34+00:00"))
}

/// Oblast, raion, hromada and level as a row of the official record gives them.
type OfficialKey = (String, String, String, String);

/// Names to regions, remembered: the 43k rows of the official record name about 2,000 places.
struct Resolver<'r> {
    registry: &'r Registry,
    official: HashMap<OfficialKey, Result<(RegionId, Option<String>), String>>,
    oblasts: HashMap<String, Result<RegionId, String>>,
}

impl<'r> Resolver<'r> {
    fn new(registry: &'r Registry) -> Resolver<'r> {
        Resolver {
            registry,
            official: HashMap::new(),
            oblasts: HashMap::new(),
        }
    }

    fn oblast(&mut self, name: &str, field: &str) -> Result<RegionId, String> {
        if let Some(r) = self.oblasts.get(name) {
            return r.clone();
        }
        let r = self.find(name, None, Level::Oblast, field);
        self.oblasts.insert(name.to_string(), r.clone());
        r
    }

    fn official(
        &mut self,
        oblast: &str,
        raion: &str,
        hromada: &str,
        level: &str,
    ) -> Result<(RegionId, Option<String>), String> {
        let key = (
            oblast.to_string(),
            raion.to_string(),
            hromada.to_string(),
            level.to_string(),
        );
        if let Some(r) = self.official.get(&key) {
            return r.clone();
        }
        let r = self.resolve_official(oblast, raion, hromada, level);
        self.official.insert(key, r.clone());
        r
    }

    fn resolve_official(
        &mut self,
        oblast: &str,
        raion: &str,
        hromada: &str,
        level: &str,
    ) -> Result<(RegionId, Option<String>), String> {
        let level = match level {
            "oblast" => Level::Oblast,
            "raion" => Level::Raion,
            "hromada" => Level::Hromada,
            other => {
                return Err(format!(
                    "level must be oblast, raion or hromada, not {other:?}"
                ));
            }
        };
        let (oblast_id, raion, note) = match self.oblast(oblast, "oblast") {
            Ok(id) => (id, raion, None),
            Err(first) => {
                // The record has a row with oblast and raion swapped; undo it only when the
                // swapped reading resolves cleanly.
                let swapped = self.oblast(raion, "raion").ok().and_then(|o| {
                    self.find(oblast, Some(o), Level::Raion, "oblast")
                        .ok()
                        .map(|_| o)
                });
                match swapped {
                    Some(o) => (
                        o,
                        oblast,
                        Some(format!(
                            "oblast and raion are swapped in the file (oblast {oblast:?}, raion \
                             {raion:?}); imported as oblast {raion:?}, raion {oblast:?}"
                        )),
                    ),
                    None => return Err(first),
                }
            }
        };
        let filled = (!raion.is_empty(), !hromada.is_empty());
        let expected = match level {
            Level::Oblast => (false, false),
            Level::Raion => (true, false),
            Level::Hromada => (true, true),
        };
        if filled != expected {
            return Err(format!(
                "level is {} but raion is {} and hromada is {}",
                level.as_str(),
                if filled.0 { "given" } else { "empty" },
                if filled.1 { "given" } else { "empty" }
            ));
        }
        let region = match level {
            Level::Oblast => oblast_id,
            Level::Raion => self.find(raion, Some(oblast_id), Level::Raion, "raion")?,
            Level::Hromada => {
                let raion_id = self.find(raion, Some(oblast_id), Level::Raion, "raion")?;
                self.find(hromada, Some(raion_id), Level::Hromada, "hromada")?
            }
        };
        Ok((region, note))
    }

    fn find(
        &self,
        name: &str,
        within: Option<RegionId>,
        level: Level,
        field: &str,
    ) -> Result<RegionId, String> {
        if name.is_empty() {
            return Err(format!("{field} is empty"));
        }
        let inside = within
            .and_then(|w| self.registry.get(w))
            .map(|w| format!(" in {}", w.name_en))
            .unwrap_or_default();
        match self.registry.resolve_within(name, within) {
            Ok(r) if r.level == level => Ok(r.id),
            Ok(r) => Err(format!(
                "{field} {name:?}{inside} is a {} ({}), not a {}",
                r.level.as_str(),
                r.id,
                level.as_str()
            )),
            Err(e @ ResolveError::Unknown { .. }) | Err(e @ ResolveError::Ambiguous { .. }) => {
                let candidates: Vec<String> = e
                    .candidates()
                    .iter()
                    .take(3)
                    .map(|c| format!("{} ({})", c.name_en, c.id))
                    .collect();
                let mut msg = format!("{field}{inside}: {e}");
                if !candidates.is_empty() {
                    msg.push_str(&format!("; did you mean {}", candidates.join(", ")));
                }
                Err(msg)
            }
        }
    }
}

#[cfg(test)]
#[path = "sirens_tests.rs"]
mod tests;
