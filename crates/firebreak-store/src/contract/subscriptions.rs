//! Contract checks of outgoing-webhook subscriptions: create, list, delete, their health, and
//! a secret that round-trips but never shows in `Debug`.

use super::{at, commit, expect_conflict, expect_not_found};
use crate::{Store, StoreError, Subscription, transact};

pub(super) fn subscription(id: &str, created: i64) -> Subscription {
    Subscription {
        id: id.into(),
        url: format!("https://hooks.example/{id}?team=ops&x=\"1\""),
        events: vec!["incident.declared".into(), "incident.resolved".into()],
        description: Some(format!("ops hook {id}")),
        secret: format!("whsec_{id}c2VjcmV0LXNlY3JldA=="),
        created_by: "alice".into(),
        created_at: at(created),
        failing_since: None,
        disabled_at: None,
        disabled_reason: None,
    }
}

async fn create<S: Store + ?Sized>(store: &S, subscription: Subscription) {
    commit(store, "create_subscription", move |tx| {
        Box::pin(async move { tx.create_subscription(&subscription).await })
    })
    .await;
}

/// Subscriptions: create, list oldest first with every field (the secret included), a
/// duplicate id is `Conflict`, delete, and deleting an unknown one is `NotFound`. `Debug`
/// never shows the secret.
pub async fn subscriptions_create_list_delete<S: Store>(store: &S) {
    assert!(
        store
            .list_subscriptions()
            .await
            .expect("list_subscriptions")
            .is_empty()
    );
    let b = subscription("wh_b", 1);
    let mut a = subscription("wh_a", 2);
    a.description = None;
    a.events = vec!["*".into()];
    create(store, b.clone()).await;
    create(store, a.clone()).await;
    let listed = store
        .list_subscriptions()
        .await
        .expect("list_subscriptions");
    assert_eq!(
        listed,
        vec![b.clone(), a.clone()],
        "every field round-trips, the secret included; oldest first"
    );
    for s in &listed {
        let shown = format!("{s:?}");
        assert!(
            !shown.contains(&s.secret) && !shown.contains("whsec_"),
            "Debug of a subscription shows its secret: {shown}"
        );
    }

    let mut again = subscription("wh_b", 3);
    again.url = "https://elsewhere.example/".into();
    expect_conflict(
        transact(store, move |tx| {
            Box::pin(async move { tx.create_subscription(&again).await })
        })
        .await,
        "a second subscription with the same id",
    );
    assert_eq!(
        store.list_subscriptions().await.expect("list"),
        vec![b, a.clone()],
        "a refused create changes nothing"
    );

    commit(store, "delete_subscription", |tx| {
        Box::pin(async move { tx.delete_subscription("wh_b").await })
    })
    .await;
    assert_eq!(
        store.list_subscriptions().await.expect("list"),
        vec![a],
        "a deleted subscription is gone"
    );
    for id in ["wh_b", "wh_zz"] {
        expect_not_found(
            transact(store, move |tx| {
                Box::pin(async move { tx.delete_subscription(id).await })
            })
            .await,
            "deleting a subscription that does not exist",
        );
    }
}

/// `lock_subscription` reads a subscription (or `None`); `save_subscription_health` stores
/// `failing_since`, `disabled_at` and `disabled_reason`, and clears them again.
pub async fn subscription_health_round_trips<S: Store>(store: &S) {
    let original = subscription("wh_a", 1);
    create(store, original.clone()).await;
    let (locked, unknown) = commit(store, "lock_subscription", |tx| {
        Box::pin(async move {
            Ok((
                tx.lock_subscription("wh_a").await?,
                tx.lock_subscription("wh_zz").await?,
            ))
        })
    })
    .await;
    assert_eq!(
        locked,
        Some(original.clone()),
        "lock_subscription reads every field"
    );
    assert_eq!(unknown, None, "lock_subscription of an unknown id");

    let steps: [(Option<i64>, Option<i64>, Option<&'static str>); 3] = [
        (Some(10), None, None),
        (Some(10), Some(20), Some("every delivery failed for 3 days")),
        (None, None, None),
    ];
    for (failing, disabled, reason) in steps {
        let saved = commit(store, "save_subscription_health", move |tx| {
            Box::pin(async move {
                let mut s = tx
                    .lock_subscription("wh_a")
                    .await?
                    .ok_or(StoreError::NotFound)?;
                s.failing_since = failing.map(at);
                s.disabled_at = disabled.map(at);
                s.disabled_reason = reason.map(str::to_string);
                tx.save_subscription_health(&s).await?;
                Ok(s)
            })
        })
        .await;
        let mut expected = original.clone();
        expected.failing_since = failing.map(at);
        expected.disabled_at = disabled.map(at);
        expected.disabled_reason = reason.map(str::to_string);
        assert_eq!(saved, expected);
        assert_eq!(
            store.list_subscriptions().await.expect("list"),
            vec![expected],
            "health round-trips: failing since {failing:?}, disabled at {disabled:?}"
        );
    }
}
