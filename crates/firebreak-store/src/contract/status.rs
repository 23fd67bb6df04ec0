//! Contract checks of the status page: components (round trip, a taken name is `Conflict`,
//! saving a status set by hand, removal, syncing from the file keeps what people set), an
//! incident's public name, and status updates read back from the timeline by time.

use std::collections::BTreeMap;

use firebreak_domain::status_page::{
    Audience, Component, ComponentStatus, PublicMaintenance, PublicStatus, StatusUpdate,
    Subscriber, SubscriberKind,
};
use firebreak_domain::{Incident, TimelineEvent};

use super::{assert_client_safe, at, commit, create, drafts, name};
use crate::{Store, StoreError, transact};

fn component(n: &str, services: &[&str], position: u32, from_config: bool) -> Component {
    Component {
        id: format!("id{}", n.to_lowercase()),
        name: n.into(),
        description: Some(format!("what {n} does")),
        group: Some("Shop".into()),
        services: services.iter().map(|s| name(s)).collect(),
        position,
        manual: None,
        from_config,
        created_at: at(1),
        updated_at: at(1),
    }
}

pub async fn status_components_round_trip<S: Store>(store: &S) {
    let checkout = component("Checkout", &["checkout", "payments"], 2, false);
    let mut search = component("Search", &[], 1, false);
    search.group = None;
    search.description = None;
    for c in [checkout.clone(), search.clone()] {
        commit(store, "create_component", move |tx| {
            Box::pin(async move { tx.create_component(&c).await })
        })
        .await;
    }
    assert_eq!(
        store.list_components().await.expect("list"),
        vec![search.clone(), checkout.clone()],
        "components read back as written, in page order"
    );
    let mut again = component("Checkout", &[], 3, false);
    again.id = "another".into();
    match transact(store, move |tx| {
        Box::pin(async move { tx.create_component(&again).await })
    })
    .await
    {
        Err(StoreError::Conflict(m)) => {
            assert_client_safe(&m);
            assert!(
                m.contains("Checkout"),
                "the conflict names the component: {m}"
            );
        }
        other => panic!("expected Conflict, got {other:?}"),
    }

    let id = checkout.id.clone();
    let saved = commit(store, "lock and save a component", move |tx| {
        Box::pin(async move {
            let mut c = tx.lock_component(&id).await?.expect("the component");
            c.manual = Some(ComponentStatus::PartialOutage);
            c.updated_at = at(9);
            tx.save_component(&c).await?;
            Ok(c)
        })
    })
    .await;
    let listed = store.list_components().await.expect("list");
    assert_eq!(listed[1], saved, "a status set by hand is kept");
    assert_eq!(listed[1].created_at, at(1));

    let missing = component("Gone", &[], 1, false);
    match transact(store, move |tx| {
        Box::pin(async move { tx.save_component(&missing).await })
    })
    .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("saving a missing component: expected NotFound, got {other:?}"),
    }
    let id = search.id.clone();
    let removed = commit(store, "delete_component", move |tx| {
        Box::pin(async move { tx.delete_component(&id).await })
    })
    .await;
    assert_eq!(removed, search);
    let id = search.id.clone();
    match transact(store, move |tx| {
        Box::pin(async move { tx.delete_component(&id).await.map(|_| ()) })
    })
    .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("deleting twice: expected NotFound, got {other:?}"),
    }
    assert_eq!(store.list_components().await.expect("list").len(), 1);
}

pub async fn sync_components_keeps_what_people_set<S: Store>(store: &S) {
    let api = component("Api", &["api"], 5, false);
    let old = component("Old", &[], 1, true);
    for c in [api.clone(), old.clone()] {
        commit(store, "create_component", move |tx| {
            Box::pin(async move { tx.create_component(&c).await })
        })
        .await;
    }
    let id = api.id.clone();
    commit(store, "set Api by hand", move |tx| {
        Box::pin(async move {
            let mut c = tx.lock_component(&id).await?.expect("Api");
            c.manual = Some(ComponentStatus::MajorOutage);
            tx.save_component(&c).await
        })
    })
    .await;
    let mut file_api = component("Api", &["api", "gateway"], 1, true);
    file_api.updated_at = at(20);
    let mut web = component("Web", &["web"], 2, true);
    web.updated_at = at(20);
    web.created_at = at(20);
    let synced = vec![file_api.clone(), web.clone()];
    commit(store, "sync_components", move |tx| {
        Box::pin(async move { tx.sync_components(synced).await })
    })
    .await;
    let got = store.list_components().await.expect("list");
    assert_eq!(
        got.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Api", "Web"],
        "the file's components, in its order; one it no longer names is gone"
    );
    assert_eq!(
        got[0].services, file_api.services,
        "the file's services win"
    );
    assert!(got[0].from_config);
    assert_eq!(
        got[0].manual,
        Some(ComponentStatus::MajorOutage),
        "a status set by hand survives a sync"
    );
    assert_eq!(got[0].created_at, at(1), "a sync keeps created_at");
    assert_eq!(got[1], web);
    // The same file again changes nothing, not even updated_at.
    let mut later = vec![file_api, web];
    for c in &mut later {
        c.updated_at = at(40);
    }
    commit(store, "sync_components again", move |tx| {
        Box::pin(async move { tx.sync_components(later).await })
    })
    .await;
    let again = store.list_components().await.expect("list");
    assert_eq!(again, got, "syncing the same file again changes nothing");
}

pub async fn status_updates_and_public_title_round_trip<S: Store>(store: &S) {
    let incident = create(store, "Database on fire", "SEV1", &["checkout"], false).await;
    let number = incident.number;
    let update = |audience, status, body: &str| StatusUpdate {
        audience,
        status,
        body: body.into(),
        components: if audience == Audience::Public {
            BTreeMap::from([("Checkout".to_string(), ComponentStatus::MajorOutage)])
        } else {
            BTreeMap::new()
        },
        notify: audience == Audience::Public,
    };
    let first = update(
        Audience::Public,
        Some(PublicStatus::Investigating),
        "Checkout fails.",
    );
    let inside = update(
        Audience::Internal,
        None,
        "DB primary is down; failing over.",
    );
    let events = vec![
        TimelineEvent::StatusUpdate(first.clone()),
        TimelineEvent::StatusUpdate(inside.clone()),
    ];
    commit(store, "post status updates", move |tx| {
        Box::pin(async move {
            let mut i: Incident = tx.lock_incident(number).await?.expect("incident");
            let edits = i
                .set_public_title("Checkout problems", at(5))
                .expect("title");
            let mut written = drafts(edits, at(5));
            written.extend(drafts(events, at(5)));
            tx.update_incident(&i, written).await?;
            Ok(())
        })
    })
    .await;
    let stored = store
        .get_incident(number)
        .await
        .expect("get")
        .expect("incident");
    assert_eq!(stored.public_title.as_deref(), Some("Checkout problems"));
    let other = create(store, "Unrelated", "SEV3", &[], false).await;
    let _ = other;
    let found = store.status_updates_since(at(0)).await.expect("updates");
    assert_eq!(
        found.len(),
        2,
        "both updates, and no other timeline entry: {found:?}"
    );
    assert!(found.iter().all(|(n, _)| *n == number));
    assert_eq!(found[0].1.event, TimelineEvent::StatusUpdate(first));
    assert_eq!(found[1].1.event, TimelineEvent::StatusUpdate(inside));
    assert!(
        store
            .status_updates_since(at(6))
            .await
            .expect("updates")
            .is_empty(),
        "only updates at or after the given time"
    );
}

pub async fn scheduled_maintenance_round_trips<S: Store>(store: &S) {
    let m = |name: &str, starts: i64, ends: i64| PublicMaintenance {
        id: 0,
        name: name.into(),
        body: format!("{name}: expect short pauses"),
        components: vec!["Checkout".into(), "Search & Browse".into()],
        starts_at: at(starts),
        ends_at: at(ends),
        created_by: "alice".into(),
        created_at: at(0),
    };
    let (later, sooner) = (m("Later", 5_000, 9_000), m("Sooner", 1_000, 3_000));
    let mut ids = Vec::new();
    for x in [later.clone(), sooner.clone()] {
        ids.push(
            commit(store, "create_scheduled_maintenance", move |tx| {
                Box::pin(async move { tx.create_scheduled_maintenance(&x).await })
            })
            .await,
        );
    }
    assert_ne!(ids[0], ids[1], "each maintenance gets its own id");
    let listed = store
        .list_scheduled_maintenances(at(0))
        .await
        .expect("list");
    assert_eq!(
        listed,
        vec![
            PublicMaintenance {
                id: ids[1],
                ..sooner.clone()
            },
            PublicMaintenance {
                id: ids[0],
                ..later.clone()
            },
        ],
        "read back as written, soonest first"
    );
    assert_eq!(
        store
            .list_scheduled_maintenances(at(3_000))
            .await
            .expect("list")
            .len(),
        1,
        "one that ended is left out"
    );
    let id = ids[0];
    commit(store, "end a maintenance early", move |tx| {
        Box::pin(async move {
            let mut x = tx
                .lock_scheduled_maintenance(id)
                .await?
                .expect("maintenance");
            x.ends_at = at(6_000);
            tx.save_scheduled_maintenance_span(&x).await
        })
    })
    .await;
    let got = store
        .list_scheduled_maintenances(at(5_500))
        .await
        .expect("list");
    assert_eq!(got[0].ends_at, at(6_000));
    let missing = PublicMaintenance {
        id: 999_999,
        ..sooner
    };
    match transact(store, move |tx| {
        Box::pin(async move { tx.save_scheduled_maintenance_span(&missing).await })
    })
    .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("saving a missing maintenance: expected NotFound, got {other:?}"),
    }
}

pub async fn subscribers_round_trip<S: Store>(store: &S) {
    let sub = |id: &str, kind, target: &str, components: Option<Vec<String>>| Subscriber {
        id: id.into(),
        kind,
        target: target.into(),
        secret: (kind == SubscriberKind::Webhook).then(|| "whsec_c2VjcmV0".to_string()),
        components,
        token_hash: format!("hash-{id}"),
        created_at: at(1),
        confirmed_at: None,
        last_mailed_at: Some(at(1)),
    };
    let ann = sub("sub_a", SubscriberKind::Email, "ann@example.com", None);
    let hook = sub(
        "sub_b",
        SubscriberKind::Webhook,
        "https://hooks.example.com/status",
        Some(vec!["Checkout".into()]),
    );
    for s in [ann.clone(), hook.clone()] {
        commit(store, "create_subscriber", move |tx| {
            Box::pin(async move { tx.create_subscriber(&s).await })
        })
        .await;
    }
    assert_eq!(
        store.list_subscribers().await.expect("list"),
        vec![ann.clone(), hook.clone()],
        "subscribers read back as written"
    );
    let again = sub("sub_c", SubscriberKind::Email, "ann@example.com", None);
    match transact(store, move |tx| {
        Box::pin(async move { tx.create_subscriber(&again).await })
    })
    .await
    {
        Err(StoreError::Conflict(m)) => assert_client_safe(&m),
        other => panic!("a second subscription of one address: expected Conflict, got {other:?}"),
    }
    let confirmed = commit(store, "confirm by token", |tx| {
        Box::pin(async move {
            let mut s = tx
                .lock_subscriber_by_token("hash-sub_a")
                .await?
                .expect("by token");
            s.confirmed_at = Some(at(5));
            s.last_mailed_at = Some(at(4));
            s.token_hash = "hash-new".into();
            s.components = Some(vec!["Checkout".into(), "API".into()]);
            tx.save_subscriber(&s).await?;
            let by_address = tx
                .lock_subscriber(SubscriberKind::Email, "ann@example.com")
                .await?;
            assert_eq!(by_address.as_ref(), Some(&s), "found by address too");
            assert!(
                tx.lock_subscriber(SubscriberKind::Webhook, "ann@example.com")
                    .await?
                    .is_none(),
                "the kind is part of the address"
            );
            Ok(s)
        })
    })
    .await;
    assert_eq!(store.list_subscribers().await.expect("list")[0], confirmed);
    assert_eq!(
        store.get_subscriber("sub_a").await.expect("get"),
        Some(confirmed.clone())
    );
    assert_eq!(store.get_subscriber("nobody").await.expect("get"), None);
    let removed = commit(store, "delete_subscriber", |tx| {
        Box::pin(async move { tx.delete_subscriber("sub_b").await })
    })
    .await;
    assert_eq!(removed, hook);
    match transact(store, |tx| {
        Box::pin(async move { tx.delete_subscriber("sub_b").await.map(|_| ()) })
    })
    .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("deleting twice: expected NotFound, got {other:?}"),
    }
    assert_eq!(store.list_subscribers().await.expect("list").len(), 1);

    // Unconfirmed addresses go once their last confirmation email is old; confirmed ones and
    // webhooks stay whatever their age.
    let pending = |id: &str, target: &str, mailed: Option<i64>, created: i64| Subscriber {
        created_at: at(created),
        last_mailed_at: mailed.map(at),
        ..sub(id, SubscriberKind::Email, target, None)
    };
    let old = pending("sub_old", "old@example.com", Some(10), 10);
    let remailed = pending("sub_remailed", "remailed@example.com", Some(900), 10);
    let never_mailed = pending("sub_never", "never@example.com", None, 20);
    let unconfirmed_hook = Subscriber {
        created_at: at(10),
        confirmed_at: None,
        ..sub(
            "sub_hook2",
            SubscriberKind::Webhook,
            "https://hooks.example.com/other",
            None,
        )
    };
    for s in [
        old,
        remailed.clone(),
        never_mailed,
        unconfirmed_hook.clone(),
    ] {
        commit(store, "create_subscriber", move |tx| {
            Box::pin(async move { tx.create_subscriber(&s).await })
        })
        .await;
    }
    let purged = commit(store, "purge_unconfirmed_subscribers", |tx| {
        Box::pin(async move { tx.purge_unconfirmed_subscribers(at(500)).await })
    })
    .await;
    assert_eq!(
        purged, 2,
        "the old pending address and the one never mailed"
    );
    let left: Vec<String> = store
        .list_subscribers()
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    for id in ["sub_a", "sub_remailed", "sub_hook2"] {
        assert!(left.contains(&id.to_string()), "{id} stays: {left:?}");
    }
    assert_eq!(left.len(), 3, "{left:?}");
    let again = commit(store, "purge again", |tx| {
        Box::pin(async move { tx.purge_unconfirmed_subscribers(at(500)).await })
    })
    .await;
    assert_eq!(again, 0, "nothing more to purge");
}
