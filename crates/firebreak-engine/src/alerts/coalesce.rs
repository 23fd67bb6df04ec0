//! Concurrent ingest requests share one unit of work.
//!
//! A sender that posts one alert per request (PagerDuty Events, Opsgenie, Grafana with a
//! single rule) would otherwise cost one unit of work per alert: its own savepoint, its own
//! read of the services' open incidents, its own upsert and its own outbox insert. Instead,
//! each request joins a queue, and a driver takes every request queued so far (up to
//! [`MAX_EVENTS`] events) into one unit of work: one read of open incidents, one multi-row
//! upsert per run of distinct keys, one insert of the outbox messages. Each request is
//! answered with its own outcomes after that commit, so "accepted means stored" holds for each.
//!
//! At most [`DRIVERS`] units are in flight, so that while one commits the next is gathering.
//! A request is never split across units, and requests keep their queue order inside a unit.
//! If a shared unit fails for a reason that is not transient (a conflict, a bug), each of its
//! requests is run again alone, so one bad request cannot fail the others. Transient failures
//! (the database is down or overloaded) are the same for every request and are answered as such.

use std::collections::VecDeque;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use firebreak_store::{IngestOutcome, Result as StoreResult, StoreError, Tx};
use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::ingest::{Noted, Planned, store_events};
use crate::Firebreak;

/// Units of ingest work in flight at once.
pub const DRIVERS: usize = 4;
/// A shared unit takes requests until it holds this many events (a larger request goes alone).
pub const MAX_EVENTS: usize = 1_000;

/// One request waiting for its unit of work.
struct Waiting {
    planned: Vec<Planned>,
    note: Option<Noted>,
    reply: oneshot::Sender<StoreResult<Vec<IngestOutcome>>>,
}

/// Requests waiting to be stored, and the right to drive a unit.
pub struct IngestQueue {
    waiting: Mutex<VecDeque<Waiting>>,
    drivers: Arc<Semaphore>,
}

impl Default for IngestQueue {
    fn default() -> Self {
        IngestQueue {
            waiting: Mutex::default(),
            drivers: Arc::new(Semaphore::new(DRIVERS)),
        }
    }
}

impl IngestQueue {
    fn waiting(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The requests for the next unit: every one queued, in order, up to [`MAX_EVENTS`]
    /// events (always at least one request, if any is queued).
    fn take(&self) -> Vec<Waiting> {
        let mut waiting = self.waiting();
        let mut events = 0;
        let mut out = Vec::new();
        while let Some(next) = waiting.front() {
            if !out.is_empty() && events + next.planned.len() > MAX_EVENTS {
                break;
            }
            events += next.planned.len();
            out.extend(waiting.pop_front());
        }
        out
    }
}

/// The requests of one unit of work, their events side by side.
struct Batch {
    planned: Vec<Planned>,
    /// Per request: which of `planned` are its events, and its note.
    parts: Vec<(Range<usize>, Option<Noted>)>,
}

impl Batch {
    fn new(
        waiting: Vec<Waiting>,
    ) -> (Batch, Vec<oneshot::Sender<StoreResult<Vec<IngestOutcome>>>>) {
        let mut planned = Vec::new();
        let mut parts = Vec::with_capacity(waiting.len());
        let mut replies = Vec::with_capacity(waiting.len());
        for w in waiting {
            let start = planned.len();
            planned.extend(w.planned);
            parts.push((start..planned.len(), w.note));
            replies.push(w.reply);
        }
        (Batch { planned, parts }, replies)
    }

    /// The events of requests `parts`.
    fn events(&self, parts: &Range<usize>) -> Range<usize> {
        match (
            self.parts.get(parts.start),
            self.parts.get(parts.end.wrapping_sub(1)),
        ) {
            (Some(first), Some(last)) if parts.start < parts.end => first.0.start..last.0.end,
            _ => 0..0,
        }
    }

    /// Stores the requests `parts` in `tx`: their events in order, then what each noted
    /// request did. Returns the outcomes of all of them, in order.
    async fn store(
        &self,
        tx: &mut (dyn Tx + '_),
        parts: Range<usize>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        let events = self.events(&parts);
        let offset = events.start;
        let out = store_events(tx, &self.planned[events]).await?;
        for (range, note) in &self.parts[parts] {
            if let Some(note) = note {
                let mine = &out[range.start - offset..range.end - offset];
                note.record(tx, mine).await?;
            }
        }
        Ok(out)
    }
}

impl Firebreak {
    /// Stores one request's routed events, sharing a unit of work with the requests queued
    /// beside it, and answers after that unit commits.
    pub(super) async fn coalesce(
        &self,
        planned: Vec<Planned>,
        note: Option<Noted>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        let (reply, answer) = oneshot::channel();
        self.ingest_queue.waiting().push_back(Waiting {
            planned,
            note,
            reply,
        });
        if let Ok(permit) = self.ingest_queue.drivers.clone().try_acquire_owned() {
            // The driver runs on its own task: a request whose client goes away must not
            // strand the requests that share its unit.
            tokio::spawn(self.clone().drive(permit));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::unavailable(
                "the unit of work holding this request stopped before it committed",
            ))
        })
    }

    /// Runs units of queued requests until the queue is empty.
    async fn drive(self, mut permit: OwnedSemaphorePermit) {
        loop {
            let waiting = self.ingest_queue.take();
            if waiting.is_empty() {
                drop(permit);
                // A request queued just before the permit was given back found no free
                // driver; pick it up here.
                if self.ingest_queue.waiting().is_empty() {
                    return;
                }
                match self.ingest_queue.drivers.clone().try_acquire_owned() {
                    Ok(p) => {
                        permit = p;
                        continue;
                    }
                    Err(_) => return,
                }
            }
            // A panic here would drop the replies (their requests get a 503) but must not
            // stop this driver: the requests queued behind it would wait for the next arrival.
            if AssertUnwindSafe(self.run_batch(waiting))
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!(
                    "a shared ingest unit panicked; its requests were answered with an error"
                );
            }
        }
    }

    async fn run_batch(&self, waiting: Vec<Waiting>) {
        let (batch, replies) = Batch::new(waiting);
        let batch = Arc::new(batch);
        let all = 0..batch.parts.len();
        match self.store_parts(&batch, all).await {
            Ok(out) => {
                let mut out = out.into_iter();
                for ((range, _), reply) in batch.parts.iter().zip(replies) {
                    let _ = reply.send(Ok(out.by_ref().take(range.len()).collect()));
                }
            }
            Err(e) if batch.parts.len() > 1 && !e.is_transient() => {
                tracing::debug!(error = %e, requests = batch.parts.len(), "a shared ingest unit failed; storing its requests one by one");
                for (i, reply) in replies.into_iter().enumerate() {
                    let _ = reply.send(self.store_parts(&batch, i..i + 1).await);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(duplicate(&e)));
                }
            }
        }
    }

    async fn store_parts(
        &self,
        batch: &Arc<Batch>,
        parts: Range<usize>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        let rows = batch.events(&parts).len().max(1);
        self.write(rows, || {
            let (batch, parts) = (batch.clone(), parts.clone());
            move |tx| Box::pin(async move { batch.store(tx, parts).await })
        })
        .await
    }
}

/// The same kind of failure, for each request that shared a unit.
fn duplicate(e: &StoreError) -> StoreError {
    let text = e.to_string();
    match e {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Unavailable(_) => StoreError::unavailable(text),
        StoreError::Retryable(_) => StoreError::Retryable(text.into()),
        StoreError::Backend(_) => StoreError::backend(text),
    }
}
