//! The record's contract (`suite`) on the PostgreSQL backend, against a real server started
//! for the test in a temporary directory.

mod suite;

use std::sync::Arc;

use suite::Backend;
use tryvoga_store::postgres::{self, PgLog, scratch::ScratchCluster};

#[test]
fn the_postgres_backend_keeps_the_records_contract() {
    let cluster = Arc::new(ScratchCluster::start().expect("a PostgreSQL server for the test"));
    let next = std::sync::atomic::AtomicU32::new(0);
    let fresh = || -> Backend<PgLog> {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = cluster.database(&format!("suite_{n}")).expect("database");
        let (log, queries) = postgres::open(&url).expect("open");
        let queries = Arc::new(queries);
        Backend {
            log,
            queries: Arc::clone(&queries) as _,
            leases: queries,
            _keep: Box::new(Arc::clone(&cluster)),
        }
    };
    suite::run(&fresh);
}

mod nodes {
    //! Several writers on one PostgreSQL log, as several `serve` nodes are.

    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use tryvoga_core::{Actor, AlertStatus, AlertType, Command, Event, RegionId, Registry, Role};
    use tryvoga_store::log::{Batch, EventLog};
    use tryvoga_store::postgres::{self, scratch::ScratchCluster};
    use tryvoga_store::{Access, Store, StoreError};

    fn admin() -> Actor {
        Actor {
            name: "admin".into(),
            role: Role::Admin,
            scope: vec![],
        }
    }

    fn start(region: u32) -> Command {
        Command::StartAlert {
            region: RegionId(region),
            alert_type: AlertType::AirRaid,
            level: None,
            status: AlertStatus::Actual,
            note: None,
        }
    }

    type Heard = Arc<Mutex<Vec<Event>>>;

    fn node(url: &str) -> (Store, Heard) {
        let heard: Heard = Arc::default();
        let sink = Arc::clone(&heard);
        let store = Store::open(
            std::path::Path::new(url),
            Registry::embedded(),
            Access::Exclusive,
            Box::new(move |events, _| sink.lock().unwrap().extend_from_slice(events)),
        )
        .expect("open a node");
        (store, heard)
    }

    #[test]
    fn a_writer_folds_in_what_another_appended_and_a_stale_batch_is_refused() {
        let cluster = ScratchCluster::start().expect("PostgreSQL");
        let url = cluster.database("two_logs").unwrap();
        let (mut a, _) = postgres::open(&url).unwrap();
        let (mut b, _) = postgres::open(&url).unwrap();
        let mut state_a = a.restore().unwrap();
        let mut state_b = b.restore().unwrap();
        assert!(a.begin(0).unwrap().is_empty());
        let now = chrono::Utc::now();
        let e1 = state_a
            .decide_as(
                Registry::embedded(),
                &admin(),
                &start(31),
                Default::default(),
                1,
                now,
            )
            .unwrap();
        state_a.apply(&e1);
        a.append(&Batch {
            events: vec![e1.clone()],
            ..Batch::default()
        })
        .unwrap();

        // B decided nothing yet: its stale idea of the log is refused whole...
        let stale = state_b
            .decide_as(
                Registry::embedded(),
                &admin(),
                &start(27),
                Default::default(),
                1,
                now,
            )
            .unwrap();
        let refused = b.append(&Batch {
            events: vec![stale],
            ..Batch::default()
        });
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        // ...and once it begins a batch it hears A's event and continues after it.
        let others = b.begin(state_b.last_seq()).unwrap();
        assert_eq!(others, vec![e1]);
        for e in &others {
            state_b.apply(e);
        }
        let e2 = state_b
            .decide_as(
                Registry::embedded(),
                &admin(),
                &start(27),
                Default::default(),
                2,
                now,
            )
            .unwrap();
        b.append(&Batch {
            events: vec![e2.clone()],
            ..Batch::default()
        })
        .unwrap();
        assert_eq!(a.begin(1).unwrap(), vec![e2]);
        a.abandon();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_keep_one_gapless_log_and_hear_each_other() {
        let cluster = ScratchCluster::start().expect("PostgreSQL");
        let url = cluster.database("nodes").unwrap();
        let (one, heard_one) = node(&url);
        let (two, heard_two) = node(&url);
        let mut tasks = Vec::new();
        for i in 0..40u32 {
            let store = if i % 2 == 0 { one.clone() } else { two.clone() };
            // Distinct regions: every start is accepted, whichever node decides it.
            let region = Registry::embedded().regions().nth(i as usize).unwrap().id;
            tasks.push(tokio::spawn(async move {
                store.command(admin(), start(region.0), None).await
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("accepted");
        }
        // An idle node still hears of the other's events, through the database.
        let deadline = Instant::now() + Duration::from_secs(5);
        while (heard_one.lock().unwrap().len() < 40 || heard_two.lock().unwrap().len() < 40)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for heard in [&heard_one, &heard_two] {
            let seqs: Vec<u64> = heard.lock().unwrap().iter().map(|e| e.seq).collect();
            assert_eq!(
                seqs,
                (1..=40).collect::<Vec<_>>(),
                "every event, once, in order"
            );
        }
        assert_eq!(one.state().active().count(), 40);
        assert_eq!(two.state().active().count(), 40);
        let stored = one.queries().events_after(0, 100).unwrap();
        assert_eq!(stored.len(), 40);

        // A key used on one node is answered with its first answer on the other.
        let first = one
            .command(
                admin(),
                Command::EndAlert {
                    id: tryvoga_core::AlertId(3),
                },
                Some("k-1".into()),
            )
            .await
            .unwrap();
        let again = two
            .command(
                admin(),
                Command::EndAlert {
                    id: tryvoga_core::AlertId(3),
                },
                Some("k-1".into()),
            )
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.event, first.event);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_database_that_went_away_is_an_error_then_serves_again() {
        let cluster = ScratchCluster::start().expect("PostgreSQL");
        let url = cluster.database("restart").unwrap();
        let (store, _) = node(&url);
        store.command(admin(), start(31), None).await.unwrap();
        cluster.stop_immediate().unwrap();
        let began = Instant::now();
        let down = store.command(admin(), start(27), None).await;
        assert!(down.is_err(), "a command with no database is not accepted");
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{:?}",
            began.elapsed()
        );
        cluster.resume().unwrap();
        let back = store
            .command(admin(), start(27), None)
            .await
            .expect("served again");
        assert_eq!(back.event.seq, 2, "nothing was written while it was down");
    }
}
