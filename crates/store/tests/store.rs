//! The store's contract: durable, gapless, idempotent, audited, and the state it restores on
//! open equals the fold of its log.

use std::sync::{Arc, Mutex};

use tryvoga_core::{
    Actor, AlertId, AlertStatus, AlertType, Command, Event, RegionId, Registry, Role, State,
};
use tryvoga_store::{Access, CommandError, NewToken, Store};

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

fn open(path: &std::path::Path) -> (Store, Arc<Mutex<Vec<Event>>>) {
    let published = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&published);
    let store = Store::open(
        path,
        Registry::embedded(),
        Access::Exclusive,
        Box::new(move |events, _| sink.lock().unwrap().extend_from_slice(events)),
    )
    .expect("open store");
    (store, published)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_durable_gapless_and_restored_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (store, published) = open(&path);
    let mut handles = Vec::new();
    for region in [14u32, 31] {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.command(admin(), start(region), None).await
        }));
    }
    for h in handles {
        h.await.unwrap().expect("accepted");
    }
    let ended = store
        .command(admin(), Command::EndAlert { id: AlertId(1) }, None)
        .await
        .expect("end accepted");
    assert_eq!(ended.event.seq, 3);
    assert_eq!(
        published.lock().unwrap().len(),
        3,
        "every commit is published"
    );
    let before = store.state();
    drop(store);

    let (store, _) = open(&path);
    let events = store.queries().events_after(0, 100).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    let parsed: Vec<Event> = events
        .iter()
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect();
    assert_eq!(*store.state(), State::fold(&parsed));
    assert_eq!(*store.state(), *before);
    assert_eq!(store.state().active().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_returns_the_first_answer_and_refuses_a_different_request() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(&dir.path().join("t.db"));
    let first = store
        .command(admin(), start(14), Some("k1".into()))
        .await
        .unwrap();
    let again = store
        .command(admin(), start(14), Some("k1".into()))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(first.event, again.event);
    let other = store.command(admin(), start(31), Some("k1".into())).await;
    assert!(matches!(other, Err(CommandError::KeyReused(_))));
    let events = store.queries().events_after(0, 100).unwrap();
    assert_eq!(events.len(), 1, "a replay appends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_audited_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(&dir.path().join("t.db"));
    let issuer = Actor {
        name: "kyiv-duty".into(),
        role: Role::Issuer,
        scope: vec![RegionId(14)],
    };
    let lviv = 27;
    let refused = store.command(issuer.clone(), start(lviv), None).await;
    assert!(matches!(refused, Err(CommandError::Refused(_))));
    store
        .command(issuer.clone(), start(14), None)
        .await
        .unwrap();
    let conflict = store.command(issuer, start(14), None).await;
    assert!(matches!(conflict, Err(CommandError::Refused(_))));
    let audit = store.queries().audit(10).unwrap();
    let codes: Vec<&str> = audit.iter().rev().map(|a| a.code.as_str()).collect();
    assert_eq!(codes, vec!["forbidden", "ok", "conflict"]);
    assert!(
        audit
            .iter()
            .all(|a| a.token.as_deref() == Some("kyiv-duty"))
    );
    assert_eq!(store.queries().head().unwrap().0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_stored_hashed_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (store, _) = open(&path);
    let (info, secret) = store
        .create_token(NewToken {
            name: "kyiv-duty".into(),
            role: Role::Issuer,
            regions: vec![RegionId(14), RegionId(31)],
        })
        .await
        .unwrap();
    assert_eq!(info.role, Role::Issuer);
    let (_, actor) = store.authenticate(&secret).unwrap().expect("valid token");
    assert_eq!(actor.scope, vec![RegionId(14), RegionId(31)]);
    assert!(store.authenticate("tv_wrong").unwrap().is_none());
    let raw = std::fs::read(&path).unwrap();
    let needle = secret.as_bytes();
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "the secret itself is never written"
    );
    assert!(store.revoke_token("kyiv-duty").await.unwrap());
    assert!(store.authenticate(&secret).unwrap().is_none());
    assert!(!store.revoke_token("kyiv-duty").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_exclusive_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (_store, _) = open(&path);
    let second = Store::open(
        &path,
        Registry::embedded(),
        Access::Exclusive,
        Box::new(|_, _| {}),
    );
    assert!(second.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_commits_and_stay_gapless() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(&dir.path().join("t.db"));
    let ids: Vec<u32> = Registry::embedded()
        .regions()
        .map(|r| r.id.0)
        .take(200)
        .collect();
    let mut handles = Vec::new();
    for id in ids.iter().copied() {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.command(admin(), start(id), None).await
        }));
    }
    let mut seqs = Vec::new();
    for h in handles {
        seqs.push(h.await.unwrap().unwrap().event.seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=ids.len() as u64).collect::<Vec<_>>());
}
