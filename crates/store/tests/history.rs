//! Imported history: durable, idempotent per source, logged as already-ended alerts that leave
//! the live state alone, and read back in time order a page at a time.

use chrono::{DateTime, TimeZone, Utc};
use tryvoga_core::{AlertType, Event, Origin, RegionId, Registry, State};
use tryvoga_store::{Access, Cursor, HistoricalAlert, HistoryQuery, ImportChunk, Store};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 1, 1, h, m, 0)
        .single()
        .expect("valid time")
}

fn row(line: u64, region: u32, start: (u32, u32), end: (u32, u32)) -> HistoricalAlert {
    HistoricalAlert {
        line,
        region: RegionId(region),
        alert_type: AlertType::AirRaid,
        started_at: at(start.0, start.1),
        ended_at: at(end.0, end.1),
        note: None,
    }
}

fn chunk(source: &str, rows: Vec<HistoricalAlert>) -> ImportChunk {
    ImportChunk {
        source: source.into(),
        file: "test.csv".into(),
        rows,
    }
}

fn open(path: &std::path::Path) -> Store {
    Store::open(
        path,
        Registry::embedded(),
        Access::Exclusive,
        Box::new(|_, _| {}),
    )
    .expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_logged_as_history_and_a_second_run_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = open(&path);
    let rows = vec![
        row(2, 31, (1, 0), (2, 0)),
        row(3, 14, (1, 30), (1, 45)),
        row(4, 31, (3, 0), (3, 10)),
    ];
    let first = store
        .import_history(chunk("test/official", rows.clone()))
        .await
        .unwrap();
    assert_eq!(first.imported, 3);
    assert!(first.already.is_empty());
    assert_eq!(
        store.state().active().count(),
        0,
        "past alerts are not active"
    );
    assert_eq!(store.state().last_seq(), 3);

    let again = store
        .import_history(chunk("test/official", rows.clone()))
        .await
        .unwrap();
    assert_eq!(again.imported, 0);
    assert_eq!(
        again.already.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    // Another source may hold the same alert: its own record, its own keys.
    let other = store
        .import_history(chunk("test/volunteer", rows[..1].to_vec()))
        .await
        .unwrap();
    assert_eq!(other.imported, 1);
    drop(store);

    let store = open(&path);
    let events = store.queries().events_after(0, 100).unwrap();
    assert_eq!(events.len(), 4);
    let parsed: Vec<Event> = events
        .iter()
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect();
    assert!(parsed.iter().all(|e| {
        e.kind() == "alert.started"
            && e.body
                .alert()
                .is_some_and(|a| a.origin == Origin::Import && !a.is_active())
    }));
    assert_eq!(*store.state(), State::fold(&parsed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_rolls_back_its_whole_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("t.db"));
    let bad = chunk(
        "test/official",
        vec![row(2, 31, (1, 0), (2, 0)), row(3, 999_999, (1, 0), (2, 0))],
    );
    let err = store.import_history(bad).await.unwrap_err();
    assert!(err.to_string().contains("test.csv line 3"), "{err}");
    assert_eq!(store.queries().head().unwrap().0, 0);
    assert_eq!(store.state().last_seq(), 0);
    let ok = store
        .import_history(chunk("test/official", vec![row(2, 31, (1, 0), (2, 0))]))
        .await
        .unwrap();
    assert_eq!(ok.imported, 1);
    assert_eq!(store.state().last_seq(), 1, "no sequence number was lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_run_newest_first_and_spans_clip_to_the_oblast() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("t.db"));
    // Imported out of time order, as a second dataset would be.
    let rows = vec![
        row(2, 31, (5, 0), (6, 0)),
        row(3, 31, (1, 0), (2, 0)),
        row(4, 31, (3, 0), (4, 0)),
        row(5, 14, (3, 0), (4, 0)),
    ];
    store
        .import_history(chunk("test/official", rows))
        .await
        .unwrap();
    let mut q = HistoryQuery {
        regions: Some(vec![RegionId(31)]),
        limit: 2,
        ..HistoryQuery::default()
    };
    let (page1, next) = store.queries().history(&q).unwrap();
    let starts: Vec<_> = page1.iter().map(|a| a.started_at).collect();
    assert_eq!(starts, vec![at(5, 0), at(3, 0)]);
    let next = next.expect("a full page has a next cursor");
    assert_eq!(Cursor::decode(&next.encode()), Some(next));
    q.after = Some(next);
    let (page2, next) = store.queries().history(&q).unwrap();
    assert_eq!(
        page2.iter().map(|a| a.started_at).collect::<Vec<_>>(),
        vec![at(1, 0)]
    );
    assert!(next.is_none());

    let spans = store
        .queries()
        .spans(Some(RegionId(31)), None, at(1, 30), at(3, 30))
        .unwrap();
    assert_eq!(
        spans.len(),
        2,
        "the alerts under way in the window: {spans:?}"
    );
}
