//! The outbox worker: claims due messages under a lease, sends each, and records what happened.
//!
//! **Delivery rule: at least once, never zero.** A message is sent only after the unit of work
//! that enqueued it committed. A message that was being sent when its process died keeps its
//! lease until the lease expires and is then claimed again and sent again with the same
//! idempotency key (a webhook's `webhook-id`), so a receiver that dedups sees it once. Every
//! answer goes through one classification ([`firebreak_outbound::delivery::classify`]):
//! delivered, retried with backoff until the message's deadline (then dead), or failed at once.
//!
//! The worker wakes on the change feed (something was enqueued or rescheduled) and at the next
//! due time by the injected clock, never by polling.

use std::sync::Arc;
use std::time::Duration;

use firebreak_outbound::delivery::{self as verdicts, RetryPolicy, Verdict};
use firebreak_outbound::signing;
use firebreak_store::{Attempt, Lease, Message, StoreWrites};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Firebreak;
use crate::events::{WEBHOOK, WebhookPayload};

/// Messages sent at the same time by one worker.
pub const IN_FLIGHT: usize = 64;
/// How long a claim holds a message: far longer than one attempt may take.
pub const LEASE: SignedDuration = SignedDuration::from_secs(60);
/// How long, at shutdown, sends already started may take to finish.
const DRAIN: Duration = Duration::from_secs(5);
/// The longest the worker sleeps without looking, in case a wake-up was missed.
const IDLE_LOOK: SignedDuration = SignedDuration::from_secs(30);

/// What one attempt decided.
struct Settled {
    message: Message,
    attempt: Attempt,
    next: Next,
}

enum Next {
    Delivered,
    RetryAt(Timestamp),
    Failed,
    Dead,
}

/// Runs the outbox worker until `cancel`; then lets started sends finish briefly and gives back
/// every message it still holds.
pub async fn run(app: Firebreak, owner: String, cancel: CancellationToken) {
    let mut feed = app.store.feed().subscribe();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut sending: JoinSet<()> = JoinSet::new();
    'work: loop {
        if cancel.is_cancelled() {
            break;
        }
        // Reap finished sends so the set does not grow.
        while sending.try_join_next().is_some() {}
        let free = slots.available_permits();
        let mut claimed_full = false;
        let mut claimed_none = true;
        if free > 0 {
            let now = app.clock.now();
            let lease = Lease {
                owner: owner.clone(),
                until: now + LEASE,
            };
            match app.store.claim_due(now, lease, free as u32).await {
                Ok(messages) => {
                    claimed_full = messages.len() == free;
                    claimed_none = messages.is_empty();
                    for message in messages {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let (app, owner) = (app.clone(), owner.clone());
                        sending.spawn(async move {
                            let _permit = permit;
                            deliver(&app, &owner, message).await;
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim outbox messages; trying again shortly");
                    // Real time, not the clock: the database needs a moment, whatever the clock says.
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            }
        }
        if claimed_full {
            // More may be due: look again as soon as a slot frees.
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = slots.clone().acquire_owned() => continue,
            }
        }
        // Nothing more is due now: sleep until the next due time, or until the feed says
        // something became due. Other commits (every ingested alert) do not cost a claim.
        let mut wake_at = match app.store.next_due().await {
            Ok(Some(due)) => due.min(app.clock.now() + IDLE_LOOK),
            Ok(None) => app.clock.now() + IDLE_LOOK,
            Err(_) => app.clock.now() + SignedDuration::from_secs(1),
        };
        if claimed_none && free > 0 && wake_at <= app.clock.now() {
            // Due but not claimable (another claimer holds it for a moment): do not spin.
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
            }
        }
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break 'work,
                _ = app.clock.sleep_until(wake_at) => break,
                changed = feed.recv() => match changed {
                    Ok(c) => match c.outbox_due() {
                        Some(due) if due <= app.clock.now() => break,
                        Some(due) => wake_at = wake_at.min(due),
                        None => {}
                    },
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => break 'work,
                },
            }
        }
    }
    // Shutdown: started sends get a moment; the rest go back to the queue for another
    // instance or the next start.
    let _ = tokio::time::timeout(DRAIN, async {
        while sending.join_next().await.is_some() {}
    })
    .await;
    sending.abort_all();
    match app.store.release(&owner, app.clock.now()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            messages = n,
            "gave back outbox messages still held at shutdown"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not give back held outbox messages; they are claimable again once their lease ends")
        }
    }
}

/// Sends one claimed message and records the outcome.
async fn deliver(app: &Firebreak, owner: &str, message: Message) {
    let settled = match message.kind.as_str() {
        WEBHOOK => send_webhook(app, message).await,
        other => {
            // A kind this version cannot send (a newer instance wrote it): leave it to one that can.
            let now = app.clock.now();
            tracing::warn!(
                kind = other,
                id = message.id,
                "no sender for this outbox message kind; leaving it for another instance"
            );
            Settled {
                attempt: Attempt {
                    at: now,
                    status_code: None,
                    error: Some(format!("this Firebreak cannot send `{other}` messages")),
                    duration_ms: 0,
                },
                next: Next::RetryAt(now + SignedDuration::from_mins(1)),
                message,
            }
        }
    };
    record(app, owner, settled).await;
}

async fn record(app: &Firebreak, owner: &str, settled: Settled) {
    let Settled {
        message,
        attempt,
        next,
    } = settled;
    let id = message.id;
    let delivered = matches!(next, Next::Delivered);
    let result = match next {
        Next::Delivered => app.store.complete(id, owner, attempt.clone()).await,
        Next::RetryAt(at) => app.store.retry_at(id, owner, at, attempt.clone()).await,
        Next::Failed => app.store.fail(id, owner, false, attempt.clone()).await,
        Next::Dead => app.store.fail(id, owner, true, attempt.clone()).await,
    };
    match result {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            id,
            "an outbox message's lease ran out while it was being sent; another claim has it"
        ),
        Err(e) => {
            tracing::warn!(id, error = %e, "could not record an outbox attempt; the message will be sent again when its lease ends")
        }
    }
    if message.kind == WEBHOOK
        && let Err(e) = app
            .note_delivery_health(&message.subject, delivered, attempt.at)
            .await
    {
        tracing::warn!(webhook = %message.subject, error = %e, "could not update a webhook subscription's health");
    }
}

/// Signs and posts one webhook delivery.
async fn send_webhook(app: &Firebreak, message: Message) -> Settled {
    let now = app.clock.now();
    let fail = |reason: String, message: Message| Settled {
        message,
        attempt: Attempt {
            at: now,
            status_code: None,
            error: Some(reason),
            duration_ms: 0,
        },
        next: Next::Failed,
    };
    let Ok(payload) = serde_json::from_str::<WebhookPayload>(&message.payload) else {
        return fail("the stored delivery is unreadable".into(), message);
    };
    let subscriptions = app.events.subscriptions();
    let Some(subscription) = subscriptions.iter().find(|s| s.id == message.subject) else {
        return fail("the subscription was removed".into(), message);
    };
    if subscription.disabled_at.is_some() {
        return fail(
            format!(
                "the subscription is disabled: {}",
                subscription
                    .disabled_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ),
            message,
        );
    }
    let headers = match signing::headers(
        &[subscription.secret.as_str()],
        &payload.id,
        now.as_second(),
        payload.body.as_bytes(),
    ) {
        Ok(mut h) => {
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            h
        }
        Err(e) => return fail(format!("could not sign the delivery: {e}"), message),
    };
    let answer = app
        .outbound
        .post(&subscription.url, &headers, payload.body.into_bytes())
        .await;
    let recorded = verdicts::Attempt::record(now, &answer);
    let attempt = Attempt {
        at: now,
        status_code: recorded.status.map(|s| s.as_u16()),
        error: recorded.error,
        duration_ms: recorded.duration.as_millis() as i64,
    };
    let next = match verdicts::classify(&answer) {
        Verdict::Delivered => Next::Delivered,
        Verdict::Failed { .. } => Next::Failed,
        Verdict::RetryLater { after, .. } => {
            let policy = retry_policy(app);
            let attempts = u32::try_from(message.attempts).unwrap_or(u32::MAX);
            // The deadline counts from the first attempt, or from a person's redelivery.
            let first = message.deadline_at - app.events.retry.give_up_after;
            match policy.next_attempt(attempts, after, first, now) {
                Some(at) if at <= message.deadline_at => Next::RetryAt(at),
                _ => Next::Dead,
            }
        }
    };
    Settled {
        message,
        attempt,
        next,
    }
}

fn retry_policy(app: &Firebreak) -> RetryPolicy {
    let r = app.events.retry;
    let std = |d: SignedDuration| Duration::try_from(d).unwrap_or(Duration::ZERO);
    RetryPolicy {
        first_delay: std(r.first_delay),
        max_delay: std(r.max_delay),
        give_up_after: std(r.give_up_after),
    }
}
