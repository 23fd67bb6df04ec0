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

use firebreak_domain::IncidentNumber;
use firebreak_outbound::delivery::{self as verdicts, RetryPolicy};
use firebreak_outbound::signing;
use firebreak_store::{
    Attempt, Lease, Message, Outcome, Priority, StoreError, StoreWrites, TimelineDraft,
};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Firebreak;
use crate::events::{WEBHOOK, WebhookPayload};

/// Messages sent at the same time by one worker.
pub const IN_FLIGHT: usize = 64;
/// Messages one worker holds at a time: claimed and not yet recorded. Claiming more than it
/// sends at once lets one claim feed the senders for a while when the database is busy.
pub const HELD: usize = 512;
/// The longest one attempt to deliver an event webhook may take (the outbound client's total
/// timeout).
const WEBHOOK_ATTEMPT: SignedDuration = SignedDuration::from_secs(10);
/// What a lease allows beyond the longest attempt, for recording its outcome.
const RECORD_MARGIN: SignedDuration = SignedDuration::from_secs(20);

/// How long a claim holds a message: the longest one attempt may take (10 s for a webhook,
/// `paging.attempt_timeout` for a page) plus 20 s to record the outcome; 30 s by default.
/// It is also how long a page that a dead instance was sending waits before another instance
/// (or the restarted one) sends it again.
pub fn lease(app: &Firebreak) -> SignedDuration {
    app.paging.attempt_timeout.max(WEBHOOK_ATTEMPT) + RECORD_MARGIN
}
/// Outcomes waiting to be recorded before sends wait for the recorder.
pub const RECORD_QUEUE: usize = 1024;
/// The most outcomes recorded in one unit of work.
const RECORD_BATCH: usize = 256;
/// Outcomes recorded between two tidy-ups of the outbox
/// ([`firebreak_store::OutboxStore::tidy_outbox`]): on PostgreSQL each leaves dead row
/// versions behind, and a burst's worth of them slowed claims tenfold.
const TIDY_EVERY: usize = 10_000;
/// How long, at shutdown, sends already started may take to finish.
const DRAIN: Duration = Duration::from_secs(5);
/// The longest the worker sleeps without looking, in case a wake-up was missed.
const IDLE_LOOK: SignedDuration = SignedDuration::from_secs(30);
/// The least time between two claims, and how long the recorder gathers outcomes. Under load
/// one claim then takes everything that fell due meanwhile, and one unit of work records many
/// outcomes, instead of a claim and a record per message competing with ingest for the
/// database. A quiet worker claims at once: the gap only counts from its last claim.
const GATHER: Duration = Duration::from_millis(5);

/// A failed attempt that took this long rests its receiver (event webhooks only): the
/// subscription's other deliveries are rescheduled without being tried until the failed one's
/// retry, instead of each holding a sending place for as long.
const SLOW_FAILURE: Duration = Duration::from_secs(1);

/// What one attempt decided.
struct Settled {
    message: Message,
    attempt: Attempt,
    next: Outcome,
}

/// Runs the outbox worker until `cancel`; then lets started sends finish briefly and gives back
/// every message it still holds.
///
/// The worker has two lanes, each claiming and sending on its own: one for pages and
/// escalation timers, one for bulk work (event webhooks, chat posts, subscriber email). A
/// receiver that hangs, or a backlog of thousands of webhooks, fills only the bulk lane's
/// places, so a page is claimed and sent as soon as it is due.
///
/// A lane holds up to [`HELD`] claimed messages and sends up to [`IN_FLIGHT`] of them at
/// once; the outcomes of both go to one recorder, which writes whatever has gathered as one
/// unit of work. A held place frees once its outcome is queued for the recorder, so a busy
/// database slows the recording, not the sending; the queue is bounded ([`RECORD_QUEUE`]), so
/// sends wait when recording falls that far behind.
pub async fn run(app: Firebreak, owner: String, cancel: CancellationToken) {
    let (outcomes, queued) = mpsc::channel::<Settled>(RECORD_QUEUE);
    let recorder = tokio::spawn(record_all(app.clone(), owner.clone(), queued));
    tokio::join!(
        lane(&app, &owner, &[Priority::Page], outcomes.clone(), &cancel),
        lane(&app, &owner, &[Priority::Bulk], outcomes.clone(), &cancel),
    );
    drop(outcomes);
    let _ = tokio::time::timeout(DRAIN, recorder).await;
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

/// One lane of the worker: claims due messages of `priorities` only and sends them, until
/// `cancel`; then gives its started sends a moment to finish.
async fn lane(
    app: &Firebreak,
    owner: &str,
    priorities: &'static [Priority],
    outcomes: mpsc::Sender<Settled>,
    cancel: &CancellationToken,
) {
    let mut feed = app.store.feed().subscribe();
    let slots = Arc::new(Semaphore::new(HELD));
    let senders = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut sending: JoinSet<()> = JoinSet::new();
    let mut last_claim = std::time::Instant::now() - GATHER;
    let lease_for = lease(app);
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
            if let Some(gap) = GATHER.checked_sub(last_claim.elapsed()) {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(gap) => {}
                }
            }
            last_claim = std::time::Instant::now();
            let free = slots.available_permits();
            let now = app.clock.now();
            let lease = Lease {
                owner: owner.to_string(),
                until: now + lease_for,
            };
            match app
                .store
                .claim_due_of(priorities, now, lease, free as u32)
                .await
            {
                Ok(messages) => {
                    claimed_full = messages.len() == free;
                    claimed_none = messages.is_empty();
                    for message in messages {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let (app, outcomes, senders) =
                            (app.clone(), outcomes.clone(), senders.clone());
                        // An event webhook first waits for its subscription's share of the
                        // sending places: one hanging receiver cannot take them all.
                        let gate =
                            (message.kind == WEBHOOK).then(|| app.events.gate(&message.subject));
                        sending.spawn(async move {
                            let settled = {
                                let _share = match gate {
                                    Some(gate) => match gate.acquire_owned().await {
                                        Ok(share) => Some(share),
                                        Err(_) => return,
                                    },
                                    None => None,
                                };
                                let Ok(_sender) = senders.acquire_owned().await else {
                                    return;
                                };
                                send(&app, message).await
                            };
                            // If the recorder is gone (shutdown), the lease runs out or the
                            // release gives the message back, and it is sent again.
                            let _ = outcomes.send(settled).await;
                            drop(permit);
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
        let mut wake_at = match app.store.next_due_of(priorities).await {
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
                    // To the store's whole milliseconds: a due time kept to the nanosecond
                    // would wake the worker after the stored one, which is what it claims by.
                    Ok(c) => match c.outbox_due().map(whole_millis) {
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
    // Shutdown: started sends get a moment and their outcomes are recorded; the rest go back
    // to the queue for another instance or the next start.
    let _ = tokio::time::timeout(DRAIN, async {
        while sending.join_next().await.is_some() {}
    })
    .await;
    sending.abort_all();
}

/// `t` cut down to whole milliseconds, as the stores keep due times.
fn whole_millis(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

/// Sends one claimed message and says what happened. A message given up on says why in its
/// last error: the answer alone (a 503) would not tell the reader that no retry is coming.
async fn send(app: &Firebreak, message: Message) -> Settled {
    let mut settled = send_once(app, message).await;
    if settled.next == Outcome::Dead {
        let why = "gave up: a next try would come after the delivery's deadline (give_up_after in outbound.retry, or in paging.retry for pages)";
        settled.attempt.error = Some(match settled.attempt.error.take() {
            Some(e) if !e.is_empty() => format!("{e}; {why}"),
            _ => why.to_string(),
        });
    }
    settled
}

/// Sends one claimed message once.
async fn send_once(app: &Firebreak, message: Message) -> Settled {
    match message.kind.as_str() {
        WEBHOOK => send_webhook(app, message).await,
        crate::paging::PAGE => {
            let (attempt, next) = app.send_page(&message).await;
            Settled {
                message,
                attempt,
                next,
            }
        }
        crate::subscribers::MAIL | crate::subscribers::HOOK | crate::subscribers::CONFIRM => {
            let (attempt, next) = match message.kind.as_str() {
                crate::subscribers::MAIL => app.send_subscriber_mail(&message).await,
                crate::subscribers::CONFIRM => app.send_confirmation(&message).await,
                _ => app.send_subscriber_hook(&message).await,
            };
            Settled {
                message,
                attempt,
                next,
            }
        }
        crate::subscribers::FANOUT | crate::subscribers::SUBSCRIBE => {
            let started = std::time::Instant::now();
            let (next, error) = if message.kind == crate::subscribers::FANOUT {
                app.fan_out(&message).await
            } else {
                app.take_subscription(&message).await
            };
            Settled {
                attempt: Attempt {
                    at: app.clock.now(),
                    status_code: None,
                    error,
                    duration_ms: started.elapsed().as_millis() as i64,
                },
                next,
                message,
            }
        }
        crate::comms::CHAT | crate::comms::STAKEHOLDER_MAIL => {
            let (attempt, next) = if message.kind == crate::comms::CHAT {
                app.send_chat(&message).await
            } else {
                app.send_stakeholder_mail(&message).await
            };
            Settled {
                message,
                attempt,
                next,
            }
        }
        crate::paging::ESCALATION
        | crate::paging::reminders::REMINDER
        | crate::stabilize::GRANT_EXPIRY
        | crate::review::DRAFT => {
            let started = std::time::Instant::now();
            let next = match message.kind.as_str() {
                crate::paging::ESCALATION => app.fire_timer(&message).await,
                crate::stabilize::GRANT_EXPIRY => app.fire_grant_expiry(&message).await,
                crate::review::DRAFT => app.fire_postmortem_draft(&message).await,
                _ => app.fire_reminder(&message).await,
            };
            Settled {
                attempt: Attempt {
                    at: app.clock.now(),
                    status_code: None,
                    error: None,
                    duration_ms: started.elapsed().as_millis() as i64,
                },
                next,
                message,
            }
        }
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
                next: Outcome::RetryAt(now + SignedDuration::from_mins(1)),
                message,
            }
        }
    }
}

/// Records outcomes as they come, each gathering as one unit of work, until every sender
/// has gone.
async fn record_all(app: Firebreak, owner: String, mut queued: mpsc::Receiver<Settled>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    let mut since_tidy = 0usize;
    let mut tidying: Option<tokio::task::JoinHandle<()>> = None;
    while queued.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        since_tidy += batch.len();
        if since_tidy >= TIDY_EVERY && tidying.as_ref().is_none_or(|t| t.is_finished()) {
            since_tidy = 0;
            let app = app.clone();
            tidying = Some(tokio::spawn(async move { tidy(&app).await }));
        }
        if batch.len() < RECORD_BATCH {
            // Let the sends in flight finish too, and record them all in one unit.
            tokio::time::sleep(GATHER).await;
            while batch.len() < RECORD_BATCH {
                match queued.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
        }
        record(&app, &owner, std::mem::take(&mut batch)).await;
    }
    // Shutting down: a tidy-up still running is left for the next one.
    if let Some(t) = tidying {
        t.abort();
    }
}

/// Clears away what the finished messages left behind in the store (`tidy_outbox`), logging
/// how long it took.
async fn tidy(app: &Firebreak) {
    let started = std::time::Instant::now();
    match app.store.tidy_outbox().await {
        Ok(()) => tracing::debug!(
            took_ms = started.elapsed().as_millis() as u64,
            "tidied the outbox"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not tidy the outbox; claims may slow down until the database vacuums it")
        }
    }
}

/// Records a batch of outcomes in one unit of work. If that fails, each is tried on its own,
/// so one bad row does not hold back the others; one that still cannot be recorded is sent
/// again when its lease ends.
async fn record(app: &Firebreak, owner: &str, batch: Vec<Settled>) {
    let rows: Arc<Vec<(i64, Outcome, Attempt)>> = Arc::new(
        batch
            .iter()
            .map(|s| (s.message.id, s.next, s.attempt.clone()))
            .collect(),
    );
    let together = settle_all(app, owner, rows.clone()).await;
    let held: Vec<Result<bool, StoreError>> = match together {
        Ok(held) => held.into_iter().map(Ok).collect(),
        Err(e) if rows.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::warn!(error = %e, outcomes = rows.len(), "could not record outbox attempts together; recording them one by one");
            let mut each = Vec::with_capacity(rows.len());
            for row in rows.iter() {
                let one = settle_all(app, owner, Arc::new(vec![row.clone()])).await;
                each.push(one.map(|held| held.first().copied().unwrap_or(false)));
            }
            each
        }
    };
    // A subscription's health follows its latest outcome in the batch.
    let mut health: Vec<(&str, bool, Timestamp)> = Vec::new();
    let mut held_pages = Vec::new();
    for (settled, result) in batch.iter().zip(held) {
        held_pages.push(matches!(result, Ok(true)));
        let id = settled.message.id;
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
        if settled.message.kind == WEBHOOK {
            let delivered = matches!(settled.next, Outcome::Delivered);
            let subject = settled.message.subject.as_str();
            match health.iter_mut().find(|(s, _, _)| *s == subject) {
                Some(h) => *h = (subject, delivered, settled.attempt.at),
                None => health.push((subject, delivered, settled.attempt.at)),
            }
        }
    }
    app.note_page_outcomes(&batch, &held_pages).await;
    for (subscription, delivered, at) in health {
        if let Err(e) = app.note_delivery_health(subscription, delivered, at).await {
            tracing::warn!(webhook = %subscription, error = %e, "could not update a webhook subscription's health");
        }
    }
}

impl Firebreak {
    /// Writes on each incident's timeline what became of its pages that reached an end
    /// (delivered, refused, or given up), in one unit of work.
    async fn note_page_outcomes(&self, batch: &[Settled], held: &[bool]) {
        let mut notes: Vec<(IncidentNumber, TimelineDraft)> = Vec::new();
        for (settled, held) in batch.iter().zip(held) {
            if !*held || settled.message.kind != crate::paging::PAGE {
                continue;
            }
            let Some((number, event)) = crate::paging::page_outcome_event(
                &settled.message,
                settled.next,
                settled.attempt.error.as_deref(),
            ) else {
                continue;
            };
            notes.push((
                number,
                TimelineDraft {
                    at: settled.attempt.at,
                    actor: firebreak_domain::Actor::system().0,
                    event,
                },
            ));
        }
        if notes.is_empty() {
            return;
        }
        let notes = Arc::new(notes);
        let result = self
            .write(notes.len(), move || {
                let notes = notes.clone();
                move |tx| {
                    Box::pin(async move {
                        for (number, draft) in notes.iter() {
                            match tx.append_timeline(*number, vec![draft.clone()]).await {
                                Ok(_) | Err(StoreError::NotFound) => {}
                                Err(e) => return Err(e),
                            }
                        }
                        Ok(())
                    })
                }
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not write page deliveries on incident timelines");
        }
    }
}

/// Writes outcomes in one unit of work: whether this claimer still held each message.
async fn settle_all(
    app: &Firebreak,
    owner: &str,
    rows: Arc<Vec<(i64, Outcome, Attempt)>>,
) -> Result<Vec<bool>, StoreError> {
    let owner = owner.to_string();
    app.write(rows.len(), move || {
        let (rows, owner) = (rows.clone(), owner.clone());
        move |tx| Box::pin(async move { tx.settle_all(&owner, &rows).await })
    })
    .await
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
        next: Outcome::Failed,
    };
    let Ok(payload) = WebhookPayload::from_stored(&message.payload) else {
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
    if let Some((until, why)) = app.events.resting(&subscription.id, now) {
        // Not tried: the receiver failed slowly moments ago. Its backlog moves on at once, so
        // it holds no sending place that other subscriptions' deliveries are waiting for.
        let wait = Duration::try_from(until - now).unwrap_or(Duration::ZERO);
        let next = app.next_after(
            &message,
            now,
            verdicts::Verdict::RetryLater {
                after: Some(wait),
                reason: why.clone(),
            },
        );
        return Settled {
            message,
            attempt: Attempt {
                at: now,
                status_code: None,
                error: Some(format!(
                    "not sent: the receiver failed on another delivery moments ago ({why}); \
                     deliveries to it wait until {until}"
                )),
                duration_ms: 0,
            },
            next,
        };
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
    // The deadline counts from the first attempt, or from a person's redelivery.
    let verdict = verdicts::classify(&answer);
    let slow = recorded.duration >= SLOW_FAILURE;
    let next = app.next_after(&message, app.clock.now(), verdict);
    match next {
        Outcome::Delivered => app.events.wake(&subscription.id),
        Outcome::RetryAt(at) if slow => app.events.rest(
            &subscription.id,
            at,
            attempt
                .error
                .clone()
                .unwrap_or_else(|| format!("no answer for {} ms", attempt.duration_ms)),
        ),
        _ => {}
    }
    Settled {
        message,
        attempt,
        next,
    }
}

pub(crate) fn retry_policy(app: &Firebreak) -> RetryPolicy {
    let r = app.events.retry;
    let std = |d: SignedDuration| Duration::try_from(d).unwrap_or(Duration::ZERO);
    RetryPolicy {
        first_delay: std(r.first_delay),
        max_delay: std(r.max_delay),
        give_up_after: std(r.give_up_after),
    }
}
