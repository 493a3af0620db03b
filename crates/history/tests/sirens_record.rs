//! The real record: every file of Vadimkin's dataset reads with no unexplained reject, and the
//! full official record imports once, however often it is imported.

use std::path::PathBuf;

use tryvoga_core::Registry;
use tryvoga_history::sirens::Kind;
use tryvoga_history::{import, read_sirens};
use tryvoga_store::{Access, HistoryQuery, Store};

fn sirens_dir() -> PathBuf {
    let shared = std::env::var_os("TRYVOGA_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("data/vadimkin-air-raid-sirens");
    assert!(
        dir.join("official_data_en.csv").is_file(),
        "the shared data is missing: expected {}; set TRYVOGA_SHARED to the shared folder",
        dir.display()
    );
    dir
}

/// Data rows of a file counted with no CSV parser: lines that are not the header.
fn data_lines(path: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(path).expect("readable file");
    text.lines().skip(1).filter(|l| !l.is_empty()).count() as u64
}

#[test]
fn every_file_reads_with_no_unexplained_reject() {
    let dir = sirens_dir();
    for name in [
        "official_data_en.csv",
        "official_data_uk.csv",
        "full_data.csv",
        "volunteer_data_en.csv",
        "volunteer_data_uk.csv",
        "oblasts_only.csv",
    ] {
        let path = dir.join(name);
        let data = read_sirens(&path, Registry::embedded(), &mut |_| {}).expect(name);
        assert_eq!(
            data.records,
            data_lines(&path),
            "{name}: every line is a record"
        );
        assert!(
            data.skipped.is_empty(),
            "{name}: skipped rows: {:?}",
            &data.skipped[..data.skipped.len().min(5)]
        );
        assert_eq!(data.rows.len() as u64, data.records, "{name}");
        // The one known defect of the official files is the row with oblast and raion swapped.
        let expected_notes = usize::from(name.starts_with("official_data"));
        assert_eq!(data.notes.len(), expected_notes, "{name}: {:?}", data.notes);
        let expected_kind = if name.contains("volunteer") || name == "oblasts_only.csv" {
            Kind::Volunteer
        } else {
            Kind::Official
        };
        assert_eq!(data.kind, expected_kind, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_record_imports_whole_and_only_once() {
    let path = sirens_dir().join("official_data_en.csv");
    let data = read_sirens(&path, Registry::embedded(), &mut |_| {}).expect("readable");
    assert_eq!(data.records, 43_031);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let store = Store::open(
        &db,
        Registry::embedded(),
        Access::Exclusive,
        Box::new(|_, _| {}),
    )
    .unwrap();
    let first = import(&store, &data, &mut |_| {}).await.unwrap();
    assert_eq!(first.imported as u64, data.records);
    assert!(first.accounted());
    assert_eq!(first.notes.len(), 1);
    assert_eq!(first.notes[0].line, 18);

    // The Ukrainian file is the same record, shorter: nothing new.
    let uk = read_sirens(
        &sirens_dir().join("official_data_uk.csv"),
        Registry::embedded(),
        &mut |_| {},
    )
    .unwrap();
    let second = import(&store, &uk, &mut |_| {}).await.unwrap();
    assert_eq!(second.imported, 0, "the uk file repeats the en one");
    assert_eq!(second.already.len() as u64, uk.records);
    let again = import(&store, &data, &mut |_| {}).await.unwrap();
    assert_eq!(again.imported, 0);

    let every = HistoryQuery {
        limit: usize::MAX >> 2,
        ..HistoryQuery::default()
    };
    let alerts = store.queries().history(&every).unwrap().0.len() as u64;
    assert_eq!(alerts, data.records);
    assert_eq!(store.queries().head().unwrap().0, data.records);
    assert_eq!(
        store.queries().imported_counts().unwrap(),
        vec![("vadimkin/official".to_string(), data.records)]
    );
    assert_eq!(store.state().active().count(), 0);
}
