//! Contract checks of one outbox message's life: enqueue (a duplicate idempotency key is
//! skipped), claim under a lease, complete, retry, fail, the attempts recorded on the way, an
//! expired lease passing to another owner, release, and redelivery.

use jiff::{SignedDuration, Timestamp};

use super::{at, commit, expect_conflict, expect_not_found, message};
use crate::{
    Attempt, Lease, Message, MessageStatus, NewMessage, Outcome, Store, StoreWrites, transact,
};

pub(super) fn lease(owner: &str, until: Timestamp) -> Lease {
    Lease {
        owner: owner.into(),
        until,
    }
}

/// An attempt that started at `ms` and took 10 ms.
pub(super) fn attempt(ms: i64, status_code: Option<u16>, error: Option<&str>) -> Attempt {
    Attempt {
        at: at(ms),
        status_code,
        error: error.map(str::to_string),
        duration_ms: 10,
    }
}

fn delivered(ms: i64) -> Attempt {
    attempt(ms, Some(200), None)
}

/// The message as `enqueue` must store it.
fn pending(id: i64, new: &NewMessage) -> Message {
    Message {
        id,
        kind: new.kind.clone(),
        subject: new.subject.clone(),
        idempotency_key: new.idempotency_key.clone(),
        payload: new.payload.clone(),
        status: MessageStatus::Pending,
        due_at: new.due_at,
        deadline_at: new.deadline_at,
        attempts: 0,
        lease_owner: None,
        last_error: None,
        created_at: new.created_at,
        finished_at: None,
    }
}

/// The message with `key` among the webhook messages of `subject`.
pub(super) async fn find<S: Store + ?Sized>(store: &S, subject: &str, key: &str) -> Message {
    store
        .list_messages("webhook", subject, None, 1_000)
        .await
        .expect("list_messages")
        .items
        .into_iter()
        .find(|m| m.idempotency_key == key)
        .unwrap_or_else(|| panic!("message {key} of {subject} is listed"))
}

pub(super) async fn get<S: Store + ?Sized>(store: &S, id: i64) -> Message {
    store
        .get_message(id)
        .await
        .expect("get_message")
        .unwrap_or_else(|| panic!("message {id} exists"))
}

/// Asserts `message` finished with `status` when `attempt` ended (its start, or its start plus
/// its duration: the store may take either).
pub(super) fn assert_finished(message: &Message, status: MessageStatus, attempt: &Attempt) {
    assert_eq!(message.status, status, "message {} status", message.id);
    let end = attempt.at + SignedDuration::from_millis(attempt.duration_ms);
    assert!(
        message
            .finished_at
            .is_some_and(|t| attempt.at <= t && t <= end),
        "message {} records when it finished ({:?}), from its last attempt ({:?})",
        message.id,
        message.finished_at,
        attempt.at
    );
}

/// Enqueue adds messages and skips a duplicate idempotency key; `claim_due` takes only due
/// messages, marks them `Sending` under the lease (attempts 1, due again when the lease ends)
/// and never twice while the lease runs; `complete` by another owner changes nothing, by the
/// holder delivers the message and records the attempt.
pub async fn outbox_message_lifecycle<S: Store>(store: &S) {
    let now = message("wh_1", "m-now", at(0));
    let later = message("wh_1", "m-later", at(600_000));
    assert_eq!(
        store
            .enqueue(vec![now.clone(), later.clone(), now.clone()])
            .await
            .expect("enqueue"),
        2,
        "a message whose idempotency key is already there is skipped"
    );
    let mut dup = later.clone();
    dup.payload = "another body".into();
    dup.due_at = at(1);
    assert_eq!(
        store.enqueue(vec![dup]).await.expect("enqueue"),
        0,
        "a key already stored is skipped"
    );
    let now_id = find(store, "wh_1", "m-now").await.id;
    let later_id = find(store, "wh_1", "m-later").await.id;
    assert_ne!(now_id, later_id);
    assert_eq!(
        get(store, now_id).await,
        pending(now_id, &now),
        "enqueue stores every field; a new message is pending with no attempts"
    );
    assert_eq!(
        get(store, later_id).await,
        pending(later_id, &later),
        "a skipped duplicate changes nothing"
    );
    assert_eq!(
        store
            .get_message(later_id + 1000)
            .await
            .expect("get_message"),
        None
    );

    let a = lease("worker-a", at(60_000));
    let claimed = store
        .claim_due(at(0), a.clone(), 10)
        .await
        .expect("claim_due");
    let mut sending = pending(now_id, &now);
    sending.status = MessageStatus::Sending;
    sending.attempts = 1;
    sending.lease_owner = Some("worker-a".into());
    sending.due_at = a.until;
    assert_eq!(
        claimed,
        vec![sending.clone()],
        "claim_due takes only the due message, under the lease, counting the attempt"
    );
    assert_eq!(get(store, now_id).await, sending, "the claim is stored");
    assert!(
        store
            .claim_due(at(0), lease("worker-b", at(60_000)), 10)
            .await
            .expect("claim_due")
            .is_empty(),
        "a message is not claimed again while its lease runs"
    );

    let ok = delivered(1_000);
    assert!(
        !store
            .complete(now_id, "worker-b", ok.clone())
            .await
            .expect("complete"),
        "complete by an owner that does not hold the message is refused"
    );
    assert_eq!(
        get(store, now_id).await,
        sending,
        "a refused complete changes nothing"
    );
    assert!(
        store
            .attempts_of(&[now_id])
            .await
            .expect("attempts_of")
            .is_empty(),
        "a refused complete records no attempt"
    );
    assert!(
        store
            .complete(now_id, "worker-a", ok.clone())
            .await
            .expect("complete"),
        "complete by the holder"
    );
    assert_finished(&get(store, now_id).await, MessageStatus::Delivered, &ok);
    assert_eq!(
        store.attempts_of(&[now_id]).await.expect("attempts_of"),
        vec![(now_id, ok.clone())],
        "the attempt is recorded with its status, error and duration"
    );
    assert!(
        !store
            .complete(now_id, "worker-a", delivered(2_000))
            .await
            .expect("complete"),
        "a delivered message is no longer held"
    );

    assert!(
        store
            .claim_due(at(599_999), a.clone(), 10)
            .await
            .expect("claim_due")
            .is_empty(),
        "a delivered message is not claimed, a future one not before it is due"
    );
    let claimed = store
        .claim_due(at(600_000), lease("worker-a", at(660_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(
        claimed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![later_id],
        "a message is due exactly at its due time"
    );
}

/// `retry_at` by the holder makes a message pending again, due at the given time and not
/// before, keeping the error; `fail` makes it `Failed` (or `Dead`); both refuse another owner;
/// `claim_due` answers soonest due first; every attempt is listed, oldest first.
pub async fn outbox_retry_fail_and_attempts<S: Store>(store: &S) {
    store
        .enqueue(vec![
            message("wh_1", "m1", at(0)),
            message("wh_1", "m2", at(-1_000)),
            message("wh_1", "m3", at(-2_000)),
        ])
        .await
        .expect("enqueue");
    let claimed = store
        .claim_due(at(0), lease("worker-a", at(30_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(
        claimed
            .iter()
            .map(|m| m.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        vec!["m3", "m2", "m1"],
        "claim_due answers soonest due first"
    );
    let (m3, m2, m1) = (claimed[0].id, claimed[1].id, claimed[2].id);

    let unavailable = attempt(1_000, Some(503), Some("service unavailable"));
    assert!(
        !store
            .retry_at(m1, "worker-b", at(100_000), unavailable.clone())
            .await
            .expect("retry_at"),
        "retry_at by another owner is refused"
    );
    assert_eq!(get(store, m1).await, claimed[2], "and changes nothing");
    assert!(
        store
            .retry_at(m1, "worker-a", at(100_000), unavailable.clone())
            .await
            .expect("retry_at"),
        "retry_at by the holder"
    );
    let waiting = get(store, m1).await;
    assert_eq!(
        (
            waiting.status,
            waiting.due_at,
            waiting.attempts,
            waiting.last_error.as_deref(),
            waiting.finished_at
        ),
        (
            MessageStatus::Pending,
            at(100_000),
            1,
            Some("service unavailable"),
            None
        ),
        "a retried message waits for its new due time, keeping the error"
    );

    let refused = attempt(2_000, Some(410), Some("gone"));
    assert!(
        !store
            .fail(m2, "worker-b", false, refused.clone())
            .await
            .expect("fail"),
        "fail by another owner is refused"
    );
    assert!(
        store
            .fail(m2, "worker-a", false, refused.clone())
            .await
            .expect("fail")
    );
    let expired = attempt(3_000, None, Some("deadline passed"));
    assert!(
        store
            .fail(m3, "worker-a", true, expired.clone())
            .await
            .expect("fail")
    );
    assert_finished(&get(store, m2).await, MessageStatus::Failed, &refused);
    assert_finished(&get(store, m3).await, MessageStatus::Dead, &expired);

    assert!(
        store
            .claim_due(at(99_999), lease("worker-a", at(200_000)), 10)
            .await
            .expect("claim_due")
            .is_empty(),
        "a retried message is not claimed before its new due time"
    );
    let again = store
        .claim_due(at(100_000), lease("worker-a", at(200_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(
        again.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
        vec![(m1, 2)],
        "claimable at its new due time, counting a second attempt"
    );
    let bad = attempt(100_500, Some(400), Some("bad request"));
    assert!(
        store
            .fail(m1, "worker-a", false, bad.clone())
            .await
            .expect("fail")
    );
    let failed = get(store, m1).await;
    assert_finished(&failed, MessageStatus::Failed, &bad);
    assert_eq!(failed.last_error.as_deref(), Some("bad request"));

    let attempts = store.attempts_of(&[m1, m2, m3]).await.expect("attempts_of");
    let of = |id: i64| -> Vec<Attempt> {
        attempts
            .iter()
            .filter(|(m, _)| *m == id)
            .map(|(_, a)| a.clone())
            .collect()
    };
    assert_eq!(
        of(m1),
        vec![unavailable, bad],
        "attempts oldest first, with status code, error and duration"
    );
    assert_eq!(of(m2), vec![refused]);
    assert_eq!(of(m3), vec![expired]);
    assert_eq!(attempts.len(), 4, "no other attempt is listed");
    assert!(
        store
            .attempts_of(&[])
            .await
            .expect("attempts_of")
            .is_empty()
    );
    assert!(
        store
            .claim_due(at(10_000_000), lease("worker-a", at(20_000_000)), 10)
            .await
            .expect("claim_due")
            .is_empty(),
        "finished messages are never claimed"
    );
}

/// A lease that ends at T keeps the message until T; at T another owner claims it, and from
/// then on the first owner's complete, retry and fail are refused and change nothing.
pub async fn expired_lease_passes_to_another_owner<S: Store>(store: &S) {
    store
        .enqueue(vec![message("wh_1", "m", at(0))])
        .await
        .expect("enqueue");
    let first = store
        .claim_due(at(0), lease("worker-a", at(100_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(first.len(), 1);
    let id = first[0].id;
    assert!(
        store
            .claim_due(at(99_999), lease("worker-b", at(200_000)), 10)
            .await
            .expect("claim_due")
            .is_empty(),
        "not claimable before the lease ends"
    );
    let taken = store
        .claim_due(at(100_000), lease("worker-b", at(200_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(
        taken.len(),
        1,
        "claimable by another owner once the lease ends"
    );
    let taken = taken[0].clone();
    assert_eq!(
        (
            taken.id,
            taken.status,
            taken.lease_owner.as_deref(),
            taken.attempts,
            taken.due_at
        ),
        (id, MessageStatus::Sending, Some("worker-b"), 2, at(200_000)),
        "the new owner holds it under its own lease, counting a second attempt"
    );
    assert!(
        !store
            .complete(id, "worker-a", delivered(100_001))
            .await
            .expect("complete"),
        "the first owner's complete is refused"
    );
    assert!(
        !store
            .retry_at(
                id,
                "worker-a",
                at(150_000),
                attempt(100_002, Some(503), None)
            )
            .await
            .expect("retry_at"),
        "the first owner's retry is refused"
    );
    assert!(
        !store
            .fail(id, "worker-a", false, attempt(100_003, Some(400), None))
            .await
            .expect("fail"),
        "the first owner's fail is refused"
    );
    assert_eq!(get(store, id).await, taken, "refusals change nothing");
    assert!(
        store
            .attempts_of(&[id])
            .await
            .expect("attempts_of")
            .is_empty(),
        "refusals record no attempt"
    );
    let ok = delivered(100_010);
    assert!(
        store
            .complete(id, "worker-b", ok.clone())
            .await
            .expect("complete"),
        "the new owner completes it"
    );
    assert_finished(&get(store, id).await, MessageStatus::Delivered, &ok);
}

/// `release(owner)` makes every message the owner holds pending and due at once, and no other
/// owner's; they can be claimed again at once.
pub async fn release_hands_messages_back<S: Store>(store: &S) {
    store
        .enqueue(vec![
            message("wh_1", "r1", at(0)),
            message("wh_1", "r2", at(0)),
            message("wh_1", "r3", at(0)),
        ])
        .await
        .expect("enqueue");
    let held_by_c = store
        .claim_due(at(0), lease("worker-c", at(100_000)), 2)
        .await
        .expect("claim_due");
    assert_eq!(held_by_c.len(), 2, "claim_due takes at most `limit`");
    let held_by_d = store
        .claim_due(at(0), lease("worker-d", at(100_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(held_by_d.len(), 1);
    assert_eq!(
        store.release("nobody", at(5_000)).await.expect("release"),
        0,
        "an owner that holds nothing releases nothing"
    );
    assert_eq!(
        store.release("worker-c", at(5_000)).await.expect("release"),
        2,
        "release counts what it gave back"
    );
    for m in &held_by_c {
        let back = get(store, m.id).await;
        assert_eq!(
            (back.status, back.due_at),
            (MessageStatus::Pending, at(5_000)),
            "a released message is pending and due at once"
        );
    }
    assert_eq!(
        get(store, held_by_d[0].id).await,
        held_by_d[0],
        "another owner's message stays held"
    );
    assert!(
        store
            .claim_due(at(4_999), lease("worker-e", at(100_000)), 10)
            .await
            .expect("claim_due")
            .is_empty(),
        "released messages are due from the release on"
    );
    let mut again: Vec<(i64, i64)> = store
        .claim_due(at(5_000), lease("worker-e", at(100_000)), 10)
        .await
        .expect("claim_due")
        .iter()
        .map(|m| (m.id, m.attempts))
        .collect();
    again.sort_unstable();
    let mut expected: Vec<(i64, i64)> = held_by_c.iter().map(|m| (m.id, 2)).collect();
    expected.sort_unstable();
    assert_eq!(
        again, expected,
        "released messages are claimed again, counting a second attempt"
    );
    assert!(
        !store
            .complete(held_by_c[0].id, "worker-c", delivered(6_000))
            .await
            .expect("complete"),
        "the releasing owner no longer holds them"
    );
}

/// `tidy_outbox` runs beside held and finished messages and changes none of them: a delivered
/// message stays delivered, a held one stays held, and a pending one is claimed after it.
pub async fn tidy_outbox_keeps_every_message<S: Store>(store: &S) {
    store
        .enqueue(vec![
            message("wh_1", "t1", at(0)),
            message("wh_1", "t2", at(0)),
            message("wh_1", "t3", at(0)),
        ])
        .await
        .expect("enqueue");
    let held = store
        .claim_due(at(0), lease("worker-t", at(100_000)), 2)
        .await
        .expect("claim_due");
    assert_eq!(held.len(), 2);
    assert!(
        store
            .complete(held[0].id, "worker-t", delivered(1_000))
            .await
            .expect("complete")
    );
    let before = [get(store, held[0].id).await, get(store, held[1].id).await];
    store.tidy_outbox().await.expect("tidy_outbox");
    store.tidy_outbox().await.expect("tidy_outbox, twice");
    assert_eq!(
        [get(store, held[0].id).await, get(store, held[1].id).await],
        before,
        "tidying changes no message"
    );
    let rest = store
        .claim_due(at(2_000), lease("worker-u", at(100_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(
        rest.iter()
            .map(|m| m.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        ["t3"],
        "the pending message is claimed after tidying, and only it"
    );
}

/// `redeliver` puts a failed (or dead) message back: pending, due at the given time with the
/// new deadline, same idempotency key and payload. While a message is being sent it is
/// `Conflict`; an unknown id is `NotFound`.
pub async fn redeliver_requeues_a_finished_message<S: Store>(store: &S) {
    let original = message("wh_1", "again", at(0));
    store
        .enqueue(vec![original.clone(), message("wh_1", "dead", at(0))])
        .await
        .expect("enqueue");
    let claimed = store
        .claim_due(at(0), lease("worker-a", at(60_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(claimed.len(), 2);
    let id = find(store, "wh_1", "again").await.id;
    let dead = find(store, "wh_1", "dead").await.id;
    assert!(
        store
            .fail(id, "worker-a", false, attempt(1_000, Some(400), Some("no")))
            .await
            .expect("fail")
    );
    assert!(
        store
            .fail(dead, "worker-a", true, attempt(1_000, None, Some("late")))
            .await
            .expect("fail")
    );
    let back = commit(store, "redeliver", move |tx| {
        Box::pin(async move { tx.redeliver(id, at(50_000), at(500_000)).await })
    })
    .await;
    assert_eq!(
        (
            back.id,
            back.status,
            back.due_at,
            back.deadline_at,
            back.finished_at
        ),
        (id, MessageStatus::Pending, at(50_000), at(500_000), None),
        "a redelivered message is pending, due when asked, with the new deadline"
    );
    assert_eq!(
        (
            back.idempotency_key.as_str(),
            back.payload.as_str(),
            back.kind.as_str(),
            back.subject.as_str()
        ),
        (
            original.idempotency_key.as_str(),
            original.payload.as_str(),
            "webhook",
            "wh_1"
        ),
        "redelivery keeps the idempotency key and the payload"
    );
    assert_eq!(
        get(store, id).await,
        back,
        "redeliver returns what it stored"
    );
    let revived = commit(store, "redeliver a dead message", move |tx| {
        Box::pin(async move { tx.redeliver(dead, at(70_000), at(500_000)).await })
    })
    .await;
    assert_eq!(revived.status, MessageStatus::Pending, "a dead message too");

    assert!(
        store
            .claim_due(at(49_999), lease("worker-a", at(100_000)), 10)
            .await
            .expect("claim_due")
            .is_empty(),
        "not claimable before its new due time"
    );
    let claimed = store
        .claim_due(at(50_000), lease("worker-a", at(100_000)), 10)
        .await
        .expect("claim_due");
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
    expect_conflict(
        transact(store, move |tx| {
            Box::pin(async move { tx.redeliver(id, at(80_000), at(500_000)).await })
        })
        .await,
        "redeliver of a message being sent",
    );
    expect_not_found(
        transact(store, |tx| {
            Box::pin(async move { tx.redeliver(999_999, at(0), at(500_000)).await })
        })
        .await,
        "redeliver of an unknown message",
    );
}

/// `settle_all` records a batch of outcomes in one unit of work, each as `complete`,
/// `retry_at` or `fail` would, and says for each whether the owner still held it; a message
/// another owner holds is left alone.
pub async fn settle_all_records_each_outcome<S: Store>(store: &S) {
    let keys = ["s1", "s2", "s3", "s4", "s5"];
    store
        .enqueue(keys.iter().map(|k| message("wh_1", k, at(0))).collect())
        .await
        .expect("enqueue");
    let mine = store
        .claim_due(at(0), lease("worker-a", at(60_000)), 4)
        .await
        .expect("claim_due");
    assert_eq!(mine.len(), 4);
    let theirs = store
        .claim_due(at(0), lease("worker-b", at(60_000)), 4)
        .await
        .expect("claim_due");
    assert_eq!(theirs.len(), 1);
    let outcomes = vec![
        (mine[0].id, Outcome::Delivered, delivered(1_000)),
        (
            mine[1].id,
            Outcome::RetryAt(at(9_000)),
            attempt(1_000, Some(503), Some("503 Service Unavailable")),
        ),
        (
            mine[2].id,
            Outcome::Failed,
            attempt(1_000, Some(410), Some("410 Gone")),
        ),
        (
            mine[3].id,
            Outcome::Dead,
            attempt(1_000, None, Some("timed out")),
        ),
        (theirs[0].id, Outcome::Delivered, delivered(1_000)),
    ];
    let batch = outcomes.clone();
    let held = transact(store, move |tx| {
        Box::pin(async move { tx.settle_all("worker-a", &batch).await })
    })
    .await
    .expect("settle_all");
    assert_eq!(held, vec![true, true, true, true, false]);
    assert_finished(
        &get(store, mine[0].id).await,
        MessageStatus::Delivered,
        &outcomes[0].2,
    );
    let retried = get(store, mine[1].id).await;
    assert_eq!(
        (retried.status, retried.due_at, retried.lease_owner.clone()),
        (MessageStatus::Pending, at(9_000), None),
        "a retry is pending at its time, held by nobody"
    );
    assert_eq!(
        retried.last_error.as_deref(),
        Some("503 Service Unavailable")
    );
    assert_finished(
        &get(store, mine[2].id).await,
        MessageStatus::Failed,
        &outcomes[2].2,
    );
    assert_finished(
        &get(store, mine[3].id).await,
        MessageStatus::Dead,
        &outcomes[3].2,
    );
    assert_eq!(
        get(store, theirs[0].id).await,
        theirs[0],
        "another owner's message is not touched"
    );
    let ids: Vec<i64> = outcomes.iter().map(|(id, _, _)| *id).collect();
    let mut recorded = store.attempts_of(&ids).await.expect("attempts_of");
    recorded.sort_by_key(|(id, _)| *id);
    let mut expected: Vec<(i64, Attempt)> = outcomes[..4]
        .iter()
        .map(|(id, _, a)| (*id, a.clone()))
        .collect();
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(
        recorded, expected,
        "one attempt per settled message, none for the other"
    );
    let nothing = transact(store, |tx| {
        Box::pin(async move { tx.settle_all("worker-a", &[]).await })
    })
    .await
    .expect("settle_all");
    assert!(nothing.is_empty());
}
