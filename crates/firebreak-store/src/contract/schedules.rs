//! Contract checks of on-call schedules and their overrides: a definition round-trips through
//! the store exactly, names are unique, overrides come back in the order they were added and
//! only where they overlap the range asked for, and removing a schedule removes its overrides.

use firebreak_domain::schedule::{
    Every, Layer, Override, Restriction, Rotation, Schedule, WeekdayKey,
};
use jiff::civil::{date, time};

use super::{assert_client_safe, at, commit, name};
use crate::feed::{Change, Topic};
use crate::{OverrideRecord, ScheduleRecord, Store, StoreError, transact};

fn definition(n: &str, tz: &str, members: &[&str]) -> Schedule {
    Schedule::new(
        name(n),
        tz,
        vec![
            Layer {
                name: "week".into(),
                members: members.iter().map(|m| name(m)).collect(),
                rotation: Rotation {
                    every: Every::Days(7),
                    start: date(2026, 3, 23).at(9, 0, 0, 0),
                },
                restrict: vec![],
            },
            Layer {
                name: "office hours".into(),
                members: vec![name("carol")],
                rotation: Rotation {
                    every: Every::parse("12h").expect("12h"),
                    start: date(2026, 3, 23).at(9, 30, 15, 0),
                },
                restrict: vec![Restriction {
                    days: [1, 2, 3, 4, 5].into_iter().map(WeekdayKey).collect(),
                    from: time(9, 0, 0, 0),
                    to: time(17, 30, 0, 0),
                }],
            },
        ],
    )
    .expect("a valid schedule")
}

fn record(n: &str, members: &[&str], from_config: bool) -> ScheduleRecord {
    ScheduleRecord {
        schedule: definition(n, "Europe/Berlin", members),
        from_config,
        created_at: at(1),
        updated_at: at(1),
    }
}

fn cover(schedule: &str, id: &str, user: &str, from: i64, to: i64) -> OverrideRecord {
    OverrideRecord {
        schedule: name(schedule),
        cover: Override {
            id: id.into(),
            user: name(user),
            start: at(from),
            end: at(to),
        },
        created_at: at(5),
        created_by: "user:alice".into(),
    }
}

async fn write<S: Store>(
    store: &S,
    f: impl for<'t> FnOnce(
        &'t mut (dyn crate::Tx + 't),
    ) -> futures_util::future::BoxFuture<'t, crate::Result<()>>
    + Send
    + 'static,
) -> crate::Result<()> {
    transact(store, f).await
}

async fn read_back<S: Store>(store: &S, n: &str) -> ScheduleRecord {
    store
        .get_schedule(&name(n))
        .await
        .expect("get_schedule")
        .unwrap_or_else(|| panic!("schedule {n} is stored"))
}

/// Create, duplicate is `Conflict`, get and list by name, replace, delete.
pub async fn schedules_round_trip<S: Store>(store: &S) {
    let primary = record("primary", &["alice", "bob"], false);
    let stored = primary.clone();
    commit(store, "create", move |tx| {
        Box::pin(async move { tx.create_schedule(&stored).await })
    })
    .await;
    assert_eq!(
        store.get_schedule(&name("primary")).await.expect("get"),
        Some(primary.clone()),
        "a schedule reads back exactly as written"
    );
    let again = primary.clone();
    match write(store, move |tx| {
        Box::pin(async move { tx.create_schedule(&again).await })
    })
    .await
    {
        Err(StoreError::Conflict(m)) => {
            assert_client_safe(&m);
            assert!(
                m.contains("primary"),
                "the conflict names the schedule: {m}"
            );
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let secondary = record("db-oncall", &["dave"], false);
    let stored = secondary.clone();
    commit(store, "create", move |tx| {
        Box::pin(async move { tx.create_schedule(&stored).await })
    })
    .await;
    let names: Vec<String> = store
        .list_schedules()
        .await
        .expect("list")
        .iter()
        .map(|s| s.schedule.name.to_string())
        .collect();
    assert_eq!(names, ["db-oncall", "primary"], "listed by name");

    let mut changed = record("primary", &["bob", "alice", "erin"], false);
    changed.schedule = definition("primary", "America/New_York", &["bob", "alice", "erin"]);
    changed.updated_at = at(9);
    let stored = changed.clone();
    commit(store, "replace", move |tx| {
        Box::pin(async move { tx.replace_schedule(&stored).await })
    })
    .await;
    let got = read_back(store, "primary").await;
    assert_eq!(got.schedule, changed.schedule);
    assert_eq!((got.created_at, got.updated_at), (at(1), at(9)));
    let missing = record("nope", &["x"], false);
    assert!(matches!(
        write(store, move |tx| Box::pin(async move {
            tx.replace_schedule(&missing).await
        }))
        .await,
        Err(StoreError::NotFound)
    ));
    commit(store, "delete", |tx| {
        Box::pin(async move { tx.delete_schedule(&name("db-oncall")).await })
    })
    .await;
    assert_eq!(
        store.get_schedule(&name("db-oncall")).await.expect("get"),
        None
    );
    assert!(matches!(
        write(store, |tx| Box::pin(async move {
            tx.delete_schedule(&name("db-oncall")).await
        }))
        .await,
        Err(StoreError::NotFound)
    ));
}

/// Overrides: added in order, read back where they overlap the range, removed by id, refused
/// for an unknown schedule, and gone with their schedule.
pub async fn overrides_add_list_remove<S: Store>(store: &S) {
    let primary = record("primary", &["alice", "bob"], false);
    commit(store, "create", move |tx| {
        Box::pin(async move { tx.create_schedule(&primary).await })
    })
    .await;
    let late = cover("primary", "ovr_b", "carol", 500, 900);
    let early = cover("primary", "ovr_a", "dave", 100, 600);
    let (l, e) = (late.clone(), early.clone());
    commit(store, "add", move |tx| {
        Box::pin(async move {
            tx.add_override(&l).await?;
            tx.add_override(&e).await
        })
    })
    .await;
    let all = store
        .overrides_of(&name("primary"), at(0), at(1_000))
        .await
        .expect("overrides_of");
    assert_eq!(
        all,
        vec![late.clone(), early.clone()],
        "in the order they were added"
    );
    let touching = store
        .overrides_of(&name("primary"), at(600), at(700))
        .await
        .expect("overrides_of");
    assert_eq!(
        touching,
        vec![late.clone()],
        "only those overlapping the range"
    );
    assert!(
        store
            .overrides_of(&name("primary"), at(900), at(950))
            .await
            .expect("overrides_of")
            .is_empty(),
        "an override ending where the range starts does not overlap it"
    );
    let dup = cover("primary", "ovr_a", "erin", 0, 10);
    assert!(matches!(
        write(store, move |tx| Box::pin(async move {
            tx.add_override(&dup).await
        }))
        .await,
        Err(StoreError::Conflict(_))
    ));
    let orphan = cover("nope", "ovr_c", "erin", 0, 10);
    assert!(matches!(
        write(store, move |tx| Box::pin(async move {
            tx.add_override(&orphan).await
        }))
        .await,
        Err(StoreError::NotFound)
    ));
    let removed = transact(store, |tx| {
        Box::pin(async move { tx.remove_override(&name("primary"), "ovr_b").await })
    })
    .await
    .expect("remove");
    assert_eq!(removed, late);
    assert!(matches!(
        transact(store, |tx| Box::pin(async move {
            tx.remove_override(&name("primary"), "ovr_b").await
        }))
        .await,
        Err(StoreError::NotFound)
    ));
    commit(store, "delete", |tx| {
        Box::pin(async move { tx.delete_schedule(&name("primary")).await })
    })
    .await;
    assert!(
        store
            .overrides_of(&name("primary"), at(0), at(1_000))
            .await
            .expect("overrides_of")
            .is_empty(),
        "a removed schedule takes its overrides with it"
    );
}

/// The config file's schedules are upserted and marked; nothing is deleted; `updated_at` moves
/// only when the definition changed; every schedule write publishes its topic.
pub async fn sync_schedules_upserts_and_publishes<S: Store>(store: &S) {
    let mut rx = store.feed().subscribe();
    let api = record("api-made", &["alice"], false);
    commit(store, "create", move |tx| {
        Box::pin(async move { tx.create_schedule(&api).await })
    })
    .await;
    let committed = rx.recv().await.expect("a commit");
    assert!(
        committed
            .changes
            .contains(&Change::Directory(Topic::Schedules))
    );
    let first = record("primary", &["alice", "bob"], true);
    commit(store, "sync", move |tx| {
        Box::pin(async move { tx.sync_schedules(vec![first]).await })
    })
    .await;
    let mut same = record("primary", &["alice", "bob"], true);
    same.updated_at = at(50);
    commit(store, "sync again", move |tx| {
        Box::pin(async move { tx.sync_schedules(vec![same]).await })
    })
    .await;
    let got = read_back(store, "primary").await;
    assert!(got.from_config);
    assert_eq!(
        got.updated_at,
        at(1),
        "an unchanged definition keeps updated_at"
    );
    let mut changed = record("primary", &["bob"], true);
    changed.updated_at = at(60);
    commit(store, "sync changed", move |tx| {
        Box::pin(async move { tx.sync_schedules(vec![changed]).await })
    })
    .await;
    let got = read_back(store, "primary").await;
    assert_eq!(got.updated_at, at(60));
    assert_eq!(got.schedule.layers[0].members, vec![name("bob")]);
    assert_eq!(
        store.list_schedules().await.expect("list").len(),
        2,
        "nothing deleted"
    );
}
