//! Heartbeats: round trips, unique names, lookup by key hash, what the watcher reads, and two
//! watchers taking one overdue heartbeat down once between them.

use std::sync::Arc;

use firebreak_domain::heartbeat::{Beat, Heartbeat, HeartbeatState};
use jiff::SignedDuration;

use super::{at, commit, name};
use crate::feed::Topic;
use crate::{Change, Store, StoreError, transact};

fn heartbeat(n: &str) -> Heartbeat {
    Heartbeat::new(
        name(n),
        name("db"),
        SignedDuration::from_hours(1),
        SignedDuration::from_mins(5),
        "wxyz".into(),
        "alice".into(),
        at(0),
    )
    .expect("valid heartbeat")
}

async fn add<S: Store + ?Sized>(store: &S, n: &str, hash: &str) -> Heartbeat {
    let (h, hash) = (heartbeat(n), hash.to_string());
    commit(store, "create heartbeat", move |tx| {
        Box::pin(async move { tx.create_heartbeat(&h, &hash).await })
    })
    .await
}

/// A heartbeat is stored, found by id and by its key's hash, listed by name, saved as it goes
/// up and down, and deleted; a taken name is a `Conflict` that stores nothing.
pub async fn heartbeats_round_trip<S: Store>(store: &S) {
    let mut feed = store.feed().subscribe();
    let backup = add(store, "backup", "hash-b").await;
    assert!(backup.id > 0);
    let committed = feed.recv().await.expect("the create is published");
    assert!(
        committed
            .changes
            .contains(&Change::Directory(Topic::Heartbeats))
    );
    let cron = add(store, "cron", "hash-c").await;
    assert_eq!(
        store.get_heartbeat(backup.id).await.unwrap(),
        Some(backup.clone())
    );
    assert_eq!(
        store.heartbeat_by_key("hash-c").await.unwrap(),
        Some(cron.clone())
    );
    assert_eq!(store.heartbeat_by_key("nope").await.unwrap(), None);

    let taken = heartbeat("backup");
    let again = transact(store, move |tx| {
        Box::pin(async move { tx.create_heartbeat(&taken, "hash-x").await })
    })
    .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.heartbeat_by_key("hash-x").await.unwrap(), None);

    // Up, then down, then saved and read back whole.
    let Beat::Quiet(up) = backup.ping(at(1_000)) else {
        panic!("first ping")
    };
    let saved = up.clone();
    commit(store, "ping", move |tx| {
        Box::pin(async move {
            let locked = tx.lock_heartbeat(saved.id).await?.expect("there");
            assert_eq!(locked.state, HeartbeatState::New);
            tx.save_heartbeat(&saved).await
        })
    })
    .await;
    assert_eq!(store.get_heartbeat(up.id).await.unwrap(), Some(up.clone()));
    let Beat::Down(down) = up.fail(at(2_000), Some("disk full".into())) else {
        panic!("fail")
    };
    let saved = down.clone();
    commit(store, "fail", move |tx| {
        Box::pin(async move { tx.save_heartbeat(&saved).await })
    })
    .await;
    let listed = store.list_heartbeats().await.unwrap();
    assert_eq!(listed, vec![down.clone(), cron.clone()], "by name");

    let gone = cron.id;
    commit(store, "delete", move |tx| {
        Box::pin(async move { tx.delete_heartbeat(gone).await })
    })
    .await;
    assert_eq!(store.get_heartbeat(gone).await.unwrap(), None);
    let missing = transact(store, move |tx| {
        Box::pin(async move { tx.delete_heartbeat(gone).await })
    })
    .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let ghost = Heartbeat { id: gone, ..down };
    let missing = transact(store, move |tx| {
        Box::pin(async move { tx.save_heartbeat(&ghost).await })
    })
    .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

/// The watcher's reads: only heartbeats that are up and due, soonest first, and the soonest
/// due time of those up.
pub async fn overdue_heartbeats_are_those_up_and_due<S: Store>(store: &S) {
    assert_eq!(store.next_heartbeat_due().await.unwrap(), None);
    let fresh = add(store, "fresh", "h1").await;
    let late = add(store, "late", "h2").await;
    let later = add(store, "later", "h3").await;
    let mut saved = Vec::new();
    for (h, pinged) in [(&late, 0), (&later, 60_000)] {
        let Beat::Quiet(up) = h.ping(at(pinged)) else {
            panic!("ping")
        };
        saved.push(up);
    }
    let ups = saved.clone();
    commit(store, "pings", move |tx| {
        Box::pin(async move {
            for h in &ups {
                tx.save_heartbeat(h).await?;
            }
            Ok(())
        })
    })
    .await;
    let due = saved[0].due_at.unwrap();
    assert_eq!(store.next_heartbeat_due().await.unwrap(), Some(due));
    assert!(
        store
            .overdue_heartbeats(due - SignedDuration::from_millis(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let overdue = store.overdue_heartbeats(at(100_000_000), 10).await.unwrap();
    let names: Vec<_> = overdue.iter().map(|h| h.name.to_string()).collect();
    assert_eq!(
        names,
        ["late", "later"],
        "soonest due first; never the new one"
    );
    assert_eq!(
        store
            .overdue_heartbeats(at(100_000_000), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(fresh.state, HeartbeatState::New);
}

/// Two watchers find the same overdue heartbeat; each locks it and looks again, so it goes
/// down once.
pub async fn concurrent_watchers_take_a_heartbeat_down_once<S: Store + 'static>(store: Arc<S>) {
    let h = add(&*store, "watchdog", "hw").await;
    let Beat::Quiet(up) = h.ping(at(0)) else {
        panic!("ping")
    };
    let saved = up.clone();
    commit(&*store, "ping", move |tx| {
        Box::pin(async move { tx.save_heartbeat(&saved).await })
    })
    .await;
    let now = at(10_000_000);
    let tasks = (0..4).map(|_| {
        let store = store.clone();
        let id = up.id;
        tokio::spawn(async move {
            transact(&*store, move |tx| {
                Box::pin(async move {
                    let locked = tx.lock_heartbeat(id).await?.expect("there");
                    match locked.check(now) {
                        Beat::Down(down) => {
                            tx.save_heartbeat(&down).await?;
                            Ok(1)
                        }
                        _ => Ok(0),
                    }
                })
            })
            .await
        })
    });
    let mut downs = 0;
    for t in tasks {
        downs += t.await.expect("task").expect("unit of work");
    }
    assert_eq!(downs, 1, "exactly one watcher took it down");
    let stored = store.get_heartbeat(up.id).await.unwrap().unwrap();
    assert_eq!(stored.state, HeartbeatState::Down);
}
