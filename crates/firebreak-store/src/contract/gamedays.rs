//! Game days and drills: game day records round-trip, finish with their card and list by time;
//! a game day's alerts are found by it with their drill mark; and a service's open incident is
//! looked up apart for drills and real alerts, so the two never group.

use firebreak_domain::IncidentNumber;
use firebreak_domain::gameday::{self, Facts, GameDaySpec, Targets};
use jiff::SignedDuration;

use super::{alert, at, commit, create, name, upsert};
use crate::{GameDayRecord, Store, StoreError, transact};

fn record(n: &str, started: i64) -> GameDayRecord {
    GameDayRecord {
        id: 0,
        name: n.into(),
        service: name("checkout"),
        severity: "SEV2".into(),
        targets: Targets {
            response_time: true,
            acknowledged_within: Some(SignedDuration::from_mins(5)),
            mitigated_within: Some(SignedDuration::from_mins(30)),
            postmortem_drafted: true,
            ..Targets::default()
        },
        started_by: "alice".into(),
        started_at: at(started),
        finished_at: None,
        card: None,
        incident: None,
    }
}

async fn add<S: Store + ?Sized>(store: &S, g: GameDayRecord) -> GameDayRecord {
    commit(store, "create game day", move |tx| {
        Box::pin(async move { tx.create_gameday(&g).await })
    })
    .await
}

/// A game day is stored with its targets, read back, finished once with its score card and
/// incident, and listed newest first within a range; finishing an unknown one is `NotFound`.
pub async fn gamedays_round_trip_finish_and_list<S: Store>(store: &S) {
    let first = add(store, record("Failed deploy", 0)).await;
    let second = add(store, record("Database failover", 60_000)).await;
    assert!(first.id > 0 && second.id != first.id);
    assert_eq!(
        store.get_gameday(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_gameday(999_999).await.unwrap(), None);

    let spec = GameDaySpec {
        name: first.name.clone(),
        service: "checkout".into(),
        severity: "SEV2".into(),
        respond_within: Some(SignedDuration::from_mins(15)),
        targets: first.targets.clone(),
    };
    let facts = Facts {
        started_at: first.started_at,
        first_alert: Some(at(1_000)),
        first_ack: Some(at(61_000)),
        ..Facts::default()
    };
    let card = gameday::score(&spec, &facts, at(120_000), true);
    let (id, c) = (first.id, card.clone());
    let locked = commit(store, "finish game day", move |tx| {
        Box::pin(async move {
            let locked = tx.lock_gameday(id).await?;
            tx.finish_gameday(id, at(120_000), &c, Some(IncidentNumber(7)))
                .await?;
            Ok(locked)
        })
    })
    .await;
    assert_eq!(locked, Some(first.clone()));
    let finished = store.get_gameday(first.id).await.unwrap().unwrap();
    assert_eq!(finished.finished_at, Some(at(120_000)));
    assert_eq!(finished.card.as_ref(), Some(&card));
    assert_eq!(finished.incident, Some(IncidentNumber(7)));
    assert_eq!(card.passed(), 2, "response time and acknowledged passed");

    let gone = transact(store, move |tx| {
        Box::pin(async move { tx.finish_gameday(999_999, at(0), &card, None).await })
    })
    .await;
    assert!(matches!(gone, Err(StoreError::NotFound)), "{gone:?}");

    let all = store.list_gamedays(None, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![second.id, first.id]
    );
    let early = store
        .list_gamedays(Some(at(0)), Some(at(60_000)), 10)
        .await
        .unwrap();
    assert_eq!(
        early.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![first.id]
    );
    assert_eq!(store.list_gamedays(None, None, 1).await.unwrap().len(), 1);
}

/// A game day's alerts are read by its id with their drill mark; a drill alert with the same
/// key as a real one is a different key, and each alert reads back as stored.
pub async fn gameday_alerts_are_drills_of_their_game_day<S: Store>(store: &S) {
    let g = add(store, record("Slow dependency", 0)).await;
    let real = alert("i1", "checkout", "latency", at(1_000));
    let mut drill = alert("i1", "checkout", "drill:gameday-1:latency", at(2_000));
    drill.drill = true;
    drill.gameday = Some(g.id);
    let mut plain = alert("i1", "checkout", "drill:latency", at(3_000));
    plain.drill = true;
    let stored = upsert(store, vec![real, drill.clone(), plain]).await;
    assert!(stored.iter().all(|u| u.opened), "three keys, three alerts");
    let found = store.gameday_alerts(g.id).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].drill);
    assert_eq!(found[0].gameday, Some(g.id));
    assert_eq!(found[0].dedup_key, drill.dedup_key);
    let again = store.get_alert(found[0].id).await.unwrap().unwrap();
    assert!(again.drill);
    assert!(store.gameday_alerts(g.id + 1).await.unwrap().is_empty());
}

/// A service's open drill incident is found only when drills ask, and its real one only when
/// real alerts ask: drills and real alerts never group together.
pub async fn open_incidents_keep_drills_apart<S: Store>(store: &S) {
    let real = create(store, "Real outage", "SEV2", &["checkout"], false).await;
    let drill = create(store, "Rehearsal", "SEV2", &["checkout"], true).await;
    let ask = |drill: bool| {
        commit(store, "open_incidents", move |tx| {
            Box::pin(async move { tx.open_incidents(&[name("checkout")], drill).await })
        })
    };
    let for_real = ask(false).await;
    assert_eq!(for_real.len(), 1);
    assert_eq!(for_real[0].number, real.number);
    let for_drill = ask(true).await;
    assert_eq!(for_drill.len(), 1);
    assert_eq!(for_drill[0].number, drill.number);
}
