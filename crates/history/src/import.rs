//! Writing a dataset into the record: in large chunks, each one transaction made durable
//! before the next is sent, so that 43k rows take a handful of fsyncs.

use tryvoga_store::{ImportChunk, Store, StoreError};

use crate::sirens::{Dataset, Note, Skip};

/// Rows per transaction: big enough that fsyncs do not dominate, small enough that a live
/// command queued behind a chunk waits well under a second.
pub const CHUNK_ROWS: usize = 8192;

#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub file: String,
    pub source: String,
    /// Data rows in the file.
    pub records: u64,
    pub imported: usize,
    /// Lines whose alert the record already holds from this source.
    pub already: Vec<u64>,
    pub skipped: Vec<Skip>,
    pub notes: Vec<Note>,
}

impl ImportSummary {
    /// Every row is accounted for: imported, already there, or skipped with a reason.
    pub fn accounted(&self) -> bool {
        self.imported as u64 + self.already.len() as u64 + self.skipped.len() as u64 == self.records
    }
}

/// Imports a dataset; `progress` is told how many rows have been written or found present.
pub async fn import(
    store: &Store,
    data: &Dataset,
    progress: &mut dyn FnMut(usize),
) -> Result<ImportSummary, StoreError> {
    let mut summary = ImportSummary {
        file: data.file.clone(),
        source: data.source.clone(),
        records: data.records,
        skipped: data.skipped.clone(),
        notes: data.notes.clone(),
        ..ImportSummary::default()
    };
    let mut done = 0;
    for rows in data.rows.chunks(CHUNK_ROWS) {
        let report = store
            .import_history(ImportChunk {
                source: data.source.clone(),
                file: data.file.clone(),
                rows: rows.to_vec(),
            })
            .await?;
        summary.imported += report.imported;
        summary
            .already
            .extend(report.already.iter().map(|(line, _)| *line));
        done += rows.len();
        progress(done);
    }
    Ok(summary)
}

/// Consecutive line numbers folded into ranges, for a summary that stays short when a whole
/// file was already imported: `2-43032, 43040`.
pub fn line_ranges(lines: &[u64]) -> String {
    let mut sorted = lines.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::line_ranges;

    #[test]
    fn ranges_fold_consecutive_lines() {
        assert_eq!(line_ranges(&[5, 2, 3, 4, 9]), "2-5, 9");
        assert_eq!(line_ranges(&[]), "");
    }
}
