//! Contract checks of the outbox as a queue: the delivery log's listing, the figures and the
//! next due time workers sleep until, purging finished messages, and claimers racing without
//! delivering any message twice.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;

use super::outbox::{assert_finished, attempt, find, get, lease};
use super::{at, commit, message};
use crate::{Message, MessageStatus, NewMessage, OutboxStats, Store, StoreWrites};

/// `list_messages(kind, subject)` lists only that kind and subject, newest first, and paging
/// with `before` visits every message once.
pub async fn list_messages_newest_first_and_pages<S: Store>(store: &S) {
    // One enqueue per message, so ids ascend in this order.
    for i in 0..7 {
        store
            .enqueue(vec![message("wh_1", &format!("l{i}"), at(i))])
            .await
            .expect("enqueue");
    }
    let mut email = message("wh_1", "e0", at(0));
    email.kind = "email".into();
    store
        .enqueue(vec![
            message("wh_2", "o0", at(0)),
            message("wh_2", "o1", at(0)),
            email,
        ])
        .await
        .expect("enqueue");

    let all = store
        .list_messages("webhook", "wh_1", None, 100)
        .await
        .expect("list_messages");
    assert_eq!(all.next, None, "no cursor when nothing follows");
    assert_eq!(
        all.items
            .iter()
            .map(|m| m.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        vec!["l6", "l5", "l4", "l3", "l2", "l1", "l0"],
        "only that kind and subject, newest first"
    );
    assert!(
        all.items.windows(2).all(|w| w[0].id > w[1].id),
        "ids descend"
    );
    let newest_first: Vec<i64> = all.items.iter().map(|m| m.id).collect();
    for limit in [1u32, 2, 3, 7, 8] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = store
                .list_messages("webhook", "wh_1", cursor, limit)
                .await
                .expect("list_messages");
            assert!(page.items.len() <= limit as usize);
            seen.extend(page.items.iter().map(|m| m.id));
            pages += 1;
            assert!(pages <= 20, "message pagination does not end");
            match page.next {
                Some(next) => {
                    assert_eq!(
                        Some(next),
                        page.items.last().map(|m| m.id),
                        "next is the last id"
                    );
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(
            seen, newest_first,
            "limit {limit}: every message once, newest first"
        );
        assert_eq!(
            pages,
            newest_first.len().div_ceil(limit as usize),
            "limit {limit}: no empty last page"
        );
    }
    let count = |kind: &'static str, subject: &'static str| async move {
        store
            .list_messages(kind, subject, None, 100)
            .await
            .expect("list_messages")
            .items
            .len()
    };
    assert_eq!(count("webhook", "wh_2").await, 2, "another subject");
    assert_eq!(count("email", "wh_1").await, 1, "another kind");
    assert_eq!(count("webhook", "nobody").await, 0, "an unknown subject");

    // Many subjects in one read: that kind only, by id, each message once.
    let about = |subjects: &'static [&'static str]| async move {
        let subjects: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
        store
            .messages_about("webhook", &subjects)
            .await
            .expect("messages_about")
            .iter()
            .map(|m| m.idempotency_key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        about(&["wh_2", "wh_1", "nobody", "wh_1"]).await,
        vec!["l0", "l1", "l2", "l3", "l4", "l5", "l6", "o0", "o1"]
    );
    assert_eq!(about(&["wh_2"]).await, vec!["o0", "o1"]);
    assert!(about(&[]).await.is_empty());
}

fn stats_of(stats: &[OutboxStats], kind: &str) -> Option<OutboxStats> {
    stats.iter().find(|s| s.kind == kind).cloned()
}

/// `outbox_stats(now)` gives per kind the unfinished messages, how many of them are due and
/// not being sent, and the oldest due time among those; `next_due` is the earliest instant a
/// pending message is due or a lease ends, and `None` once every message is finished.
pub async fn outbox_stats_and_next_due<S: Store>(store: &S) {
    assert_eq!(
        store.next_due().await.expect("next_due"),
        None,
        "an empty outbox"
    );
    assert!(
        store
            .outbox_stats(at(0))
            .await
            .expect("outbox_stats")
            .iter()
            .all(|s| s.depth == 0),
        "an empty outbox has no depth"
    );
    let worker = lease("worker-a", at(1_000_000));
    store
        .enqueue(vec![message("wh_1", "done", at(-30_000))])
        .await
        .expect("enqueue");
    let done = store
        .claim_due(at(-30_000), worker.clone(), 10)
        .await
        .expect("claim_due");
    assert_eq!(done.len(), 1);
    assert!(
        store
            .complete(done[0].id, "worker-a", attempt(-29_000, Some(200), None))
            .await
            .expect("complete")
    );
    store
        .enqueue(vec![message("wh_1", "sending", at(-10_000))])
        .await
        .expect("enqueue");
    let sending = store
        .claim_due(at(-10_000), worker.clone(), 10)
        .await
        .expect("claim_due");
    assert_eq!(sending.len(), 1, "only the new message is due");
    let mut email = message("wh_1", "mail", at(50_000));
    email.kind = "email".into();
    store
        .enqueue(vec![
            message("wh_1", "p1", at(0)),
            message("wh_1", "p2", at(5_000)),
            message("wh_1", "p3", at(100_000)),
            email,
        ])
        .await
        .expect("enqueue");

    assert_eq!(
        store.next_due().await.expect("next_due"),
        Some(at(0)),
        "the earliest due time of the waiting messages"
    );
    let stats = store.outbox_stats(at(10_000)).await.expect("outbox_stats");
    assert_eq!(
        stats_of(&stats, "webhook"),
        Some(OutboxStats {
            kind: "webhook".into(),
            depth: 4,
            overdue: 2,
            oldest_due: Some(at(0)),
        }),
        "webhook: three pending and one sending; two due and not being sent: {stats:?}"
    );
    assert_eq!(
        stats_of(&stats, "email"),
        Some(OutboxStats {
            kind: "email".into(),
            depth: 1,
            overdue: 0,
            oldest_due: None,
        }),
        "email: one message, not yet due: {stats:?}"
    );

    let rest = store
        .claim_due(at(100_000), lease("worker-a", at(200_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(rest.len(), 4, "every pending message of either kind is due");
    assert_eq!(
        store.next_due().await.expect("next_due"),
        Some(at(200_000)),
        "a message being sent can next be claimed when its lease ends"
    );
    for m in rest.iter().chain(&sending) {
        assert!(
            store
                .complete(m.id, "worker-a", attempt(150_000, Some(200), None))
                .await
                .expect("complete")
        );
    }
    assert_eq!(
        store.next_due().await.expect("next_due"),
        None,
        "nothing waits once every message is finished"
    );
    assert!(
        store
            .outbox_stats(at(10_000))
            .await
            .expect("outbox_stats")
            .iter()
            .all(|s| s.depth == 0 && s.overdue == 0 && s.oldest_due.is_none()),
        "finished messages are not counted"
    );
}

/// `purge_finished(before)` forgets delivered, failed and dead messages that finished before
/// `before`, and nothing else.
pub async fn purge_finished_removes_only_old_finished<S: Store>(store: &S) {
    let keys = ["a", "b", "c", "d", "e"];
    store
        .enqueue(keys.iter().map(|k| message("wh_1", k, at(0))).collect())
        .await
        .expect("enqueue");
    let claimed = store
        .claim_due(at(0), lease("worker-a", at(1_000_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(claimed.len(), 5);
    let mut id = std::collections::BTreeMap::new();
    for k in keys {
        id.insert(k, find(store, "wh_1", k).await.id);
    }
    let early_ok = attempt(1_000, Some(200), None);
    let early_refused = attempt(2_000, Some(410), Some("gone"));
    let late_dead = attempt(8_000, None, Some("deadline passed"));
    let late_ok = attempt(9_000, Some(200), None);
    assert!(
        store
            .complete(id["a"], "worker-a", early_ok.clone())
            .await
            .expect("complete")
    );
    assert!(
        store
            .fail(id["b"], "worker-a", false, early_refused.clone())
            .await
            .expect("fail")
    );
    assert!(
        store
            .fail(id["c"], "worker-a", true, late_dead.clone())
            .await
            .expect("fail")
    );
    assert!(
        store
            .complete(id["d"], "worker-a", late_ok.clone())
            .await
            .expect("complete")
    );
    assert_finished(&get(store, id["c"]).await, MessageStatus::Dead, &late_dead);
    store
        .enqueue(vec![message("wh_1", "f", at(0))])
        .await
        .expect("enqueue");
    let f = find(store, "wh_1", "f").await.id;

    let purged = commit(store, "purge_finished", |tx| {
        Box::pin(async move { tx.purge_finished(at(5_000)).await })
    })
    .await;
    assert_eq!(
        purged, 2,
        "the delivered and the failed message finished early"
    );
    for (mid, kept) in [
        (id["a"], false),
        (id["b"], false),
        (id["c"], true),
        (id["d"], true),
        (id["e"], true),
        (f, true),
    ] {
        assert_eq!(
            store.get_message(mid).await.expect("get_message").is_some(),
            kept,
            "message {mid}: only finished messages that finished before `before` go"
        );
    }
    let purged = commit(store, "purge_finished later", |tx| {
        Box::pin(async move { tx.purge_finished(at(100_000)).await })
    })
    .await;
    assert_eq!(purged, 2, "the dead and the late delivered message");
    assert_eq!(
        get(store, id["e"]).await.status,
        MessageStatus::Sending,
        "a message being sent is never purged"
    );
    assert_eq!(
        get(store, f).await.status,
        MessageStatus::Pending,
        "a pending message is never purged"
    );
}

/// `claimers` tasks claim `subject`'s 200 due messages in a loop, 7 at a time, until nothing
/// is left; returns everything they claimed.
async fn race<S: Store + 'static>(
    store: &Arc<S>,
    claimers: usize,
    subject: &str,
    now: Timestamp,
) -> Vec<(String, Message)> {
    let batch: Vec<NewMessage> = (0..200)
        .map(|i| message(subject, &format!("{subject}-{i}"), now))
        .collect();
    assert_eq!(
        store.enqueue(batch).await.expect("enqueue"),
        200,
        "200 messages enqueued"
    );
    let tasks: Vec<_> = (0..claimers)
        .map(|c| {
            let store = store.clone();
            tokio::spawn(async move {
                let owner = format!("claimer-{c}");
                let mut claimed = Vec::new();
                loop {
                    let got = store
                        .claim_due(now, lease(&owner, at(10_000_000)), 7)
                        .await
                        .expect("a racing claim must not fail");
                    if got.is_empty() {
                        break;
                    }
                    assert!(got.len() <= 7, "claim_due takes at most `limit`");
                    claimed.extend(got.into_iter().map(|m| (owner.clone(), m)));
                }
                claimed
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("claimer task"));
    }
    all
}

fn assert_each_claimed_once(claimed: &[(String, Message)], subject: &str, claimers: usize) {
    let ids: BTreeSet<i64> = claimed.iter().map(|(_, m)| m.id).collect();
    assert_eq!(
        (claimed.len(), ids.len()),
        (200, 200),
        "{claimers} claimers: every message claimed exactly once"
    );
    for (owner, m) in claimed {
        assert_eq!(
            (
                m.subject.as_str(),
                m.status,
                m.attempts,
                m.lease_owner.as_deref()
            ),
            (subject, MessageStatus::Sending, 1, Some(owner.as_str())),
            "{claimers} claimers: message {} was claimed once, by the claimer that got it",
            m.id
        );
    }
}

/// Two, then eight, claimers race over 200 due messages: every message is claimed exactly
/// once, so none is delivered twice.
pub async fn claimers_race_without_double_delivery<S: Store + 'static>(store: Arc<S>) {
    let two = race(&store, 2, "race-2", at(0)).await;
    assert_each_claimed_once(&two, "race-2", 2);
    // The first 200 are held until far later, so only the new ones are due.
    let eight = race(&store, 8, "race-8", at(1_000)).await;
    assert_each_claimed_once(&eight, "race-8", 8);
    assert!(
        store
            .claim_due(at(1_000), lease("late", at(10_000_000)), 1_000)
            .await
            .expect("claim_due")
            .is_empty(),
        "nothing is left to claim"
    );
}
