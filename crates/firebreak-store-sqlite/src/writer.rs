//! The group-commit writer: one SQLite connection owned by one dedicated thread. Callers queue
//! units of work; the thread takes the oldest, adds more while the batch stays under
//! [`MAX_ROWS`] rows, and runs them all in one `BEGIN IMMEDIATE` transaction, each inside its
//! own `SAVEPOINT` so one failing unit rolls back alone. Each unit runs synchronously on this
//! thread against prepared statements: no hand-off to another thread per statement. Results
//! are handed back, and the change feed is told, only after `COMMIT` succeeds, so a caller
//! never sees success for a write that is not durable.
//!
//! Supervision: a unit of work that panics is rolled back to its savepoint and answered with an
//! error, and the batch carries on; if the thread's loop itself dies, the thread reopens its
//! connection and starts again. Both are logged at error level and counted in
//! [`WriterState::restarts`]. If it cannot start again, [`WriterState::alive`] turns false and
//! `/readyz` fails.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use firebreak_store::{Change, ChangeFeed, Committed, Result, StoreError, Work};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::tx::SqliteTx;

/// A batch holds at most this many rows (as the callers estimate them).
pub const MAX_ROWS: usize = 2_000;
/// The histogram of how many units of work each commit carried.
pub const GROUP_SIZE: &str = "firebreak_sqlite_writer_group_size";
/// Its buckets: powers of two up to what [`MAX_ROWS`] allows.
pub const GROUP_SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
];

/// Gives [`GROUP_SIZE`] its help text on the process's metrics recorder.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        GROUP_SIZE,
        metrics::Unit::Count,
        "How many units of work one SQLite commit carried (the writer groups concurrent \
         writes into one transaction)."
    );
}
/// A write that would wait behind one queued longer than this is refused as overload, so
/// latency stays bounded instead of growing without end.
pub const SHED_AFTER: Duration = Duration::from_secs(2);

struct Job {
    rows: usize,
    work: Work,
    enqueued: Instant,
    reply: oneshot::Sender<Result<()>>,
}

/// What the writer's callers and `/readyz` can see of it.
#[derive(Default)]
pub struct WriterState {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// False once the thread has stopped for good.
    pub alive: AtomicBool,
    /// Panics recovered from (a unit of work's, or the loop's own).
    pub restarts: AtomicU64,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl WriterState {
    /// How long the oldest queued write has waited.
    pub fn queue_wait(&self) -> Duration {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue
            .jobs
            .front()
            .map(|j| j.enqueued.elapsed())
            .unwrap_or_default()
    }
}

/// A handle for queueing work on the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    state: Arc<WriterState>,
}

/// Opens a connection for the writer; called again if the thread must start over.
pub type Open = Box<dyn Fn() -> Result<Connection> + Send>;
/// Called on the writer thread after each commit.
pub type AfterCommit = Box<dyn Fn() + Send>;

impl Writer {
    /// Starts the writer thread on `conn`. `reopen` makes a new connection if the thread's loop
    /// dies and must start over.
    /// `after_commit` runs on the writer thread after each commit (it must not block).
    pub fn spawn(
        conn: Connection,
        reopen: Open,
        feed: ChangeFeed,
        path: PathBuf,
        after_commit: AfterCommit,
    ) -> Writer {
        let state = Arc::new(WriterState::default());
        state.alive.store(true, Ordering::SeqCst);
        let thread_state = state.clone();
        let spawned = std::thread::Builder::new()
            .name("firebreak-sqlite-writer".into())
            .spawn(move || supervise(conn, reopen, thread_state, feed, path, after_commit));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the SQLite writer thread");
            state.alive.store(false, Ordering::SeqCst);
        }
        Writer { state }
    }

    pub fn state(&self) -> &WriterState {
        &self.state
    }

    /// Runs `work` in the next batch and waits until that batch has committed.
    pub async fn write(&self, rows: usize, work: Work) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = self.state.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.closed || !self.state.alive.load(Ordering::SeqCst) {
                return Err(StoreError::unavailable(
                    "the SQLite writer has stopped; no write can be made",
                ));
            }
            if let Some(oldest) = queue.jobs.front() {
                let waited = oldest.enqueued.elapsed();
                if waited > SHED_AFTER {
                    return Err(StoreError::unavailable(format!(
                        "the write queue is backed up (the oldest write has waited {} ms)",
                        waited.as_millis()
                    )));
                }
            }
            queue.jobs.push_back(Job {
                rows: rows.max(1),
                work,
                enqueued: Instant::now(),
                reply,
            });
        }
        self.state.ready.notify_one();
        answer.await.map_err(|_| {
            StoreError::unavailable("the SQLite writer stopped before answering this write")
        })?
    }

    /// Stops taking work; what is queued still runs.
    pub fn close(&self) {
        self.state
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .closed = true;
        self.state.ready.notify_all();
    }
}

/// Runs the writer loop, starting it again with a new connection if it dies.
fn supervise(
    conn: Connection,
    reopen: Open,
    state: Arc<WriterState>,
    feed: ChangeFeed,
    path: PathBuf,
    after_commit: AfterCommit,
) {
    let mut conn = Some(conn);
    loop {
        let current = match conn.take() {
            Some(c) => c,
            None => match reopen() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(),
                        "the SQLite writer could not reopen its database; writes are stopped and /readyz fails");
                    break;
                }
            },
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run(current, &state, &feed, &after_commit)
        }));
        match outcome {
            Ok(()) => break, // closed
            Err(_) => {
                state.restarts.fetch_add(1, Ordering::SeqCst);
                tracing::error!(
                    "the SQLite writer's loop panicked; it is starting again on a new connection"
                );
            }
        }
    }
    state.alive.store(false, Ordering::SeqCst);
    // Anyone still queued hears that nothing will run.
    let mut queue = state.queue.lock().unwrap_or_else(|p| p.into_inner());
    queue.closed = true;
    for job in queue.jobs.drain(..) {
        let _ = job.reply.send(Err(StoreError::unavailable(
            "the SQLite writer stopped before running this write",
        )));
    }
}

/// Takes the next batch: waits for the first job, then adds queued jobs while the batch stays
/// under [`MAX_ROWS`]. `None` when closed and drained.
fn next_batch(state: &WriterState) -> Option<Vec<Job>> {
    let mut queue = state.queue.lock().unwrap_or_else(|p| p.into_inner());
    while queue.jobs.is_empty() {
        if queue.closed {
            return None;
        }
        queue = state.ready.wait(queue).unwrap_or_else(|p| p.into_inner());
    }
    let mut batch = Vec::new();
    let mut rows = 0;
    while let Some(job) = queue.jobs.front() {
        if !batch.is_empty() && rows + job.rows > MAX_ROWS {
            break;
        }
        rows += job.rows;
        batch.extend(queue.jobs.pop_front());
    }
    Some(batch)
}

fn run(mut conn: Connection, state: &WriterState, feed: &ChangeFeed, after_commit: &AfterCommit) {
    while let Some(batch) = next_batch(state) {
        run_batch(&mut conn, batch, state, feed);
        after_commit();
    }
}

/// Polls a unit of work once. Its handle never waits on anything, so one poll finishes it; a
/// unit that is still pending awaited something else, which is a bug.
fn finish<F: std::future::Future<Output = Result<()>>>(fut: F) -> Result<()> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(StoreError::backend(
            "a unit of work awaited something other than its transaction handle",
        )),
    }
}

/// What one job left once it ran: its result, and the changes to publish if the batch commits.
struct Ran {
    reply: oneshot::Sender<Result<()>>,
    result: Result<()>,
    changes: Vec<Change>,
}

fn run_batch(conn: &mut Connection, batch: Vec<Job>, state: &WriterState, feed: &ChangeFeed) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = crate::rows::db(e);
        tracing::error!(error = %err, "could not begin a SQLite write transaction");
        for job in batch {
            let _ = job.reply.send(Err(retry_later(&err)));
        }
        return;
    }
    let mut ran = Vec::with_capacity(batch.len());
    for job in batch {
        ran.push(run_job(conn, job, state));
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            metrics::histogram!(GROUP_SIZE).record(ran.len() as f64);
            let mut changes = Vec::new();
            for r in &mut ran {
                if r.result.is_ok() {
                    changes.append(&mut r.changes);
                }
            }
            feed.publish(Committed {
                changes,
                remote: false,
            });
            for r in ran {
                let _ = r.reply.send(r.result);
            }
        }
        Err(e) => {
            let err = crate::rows::db(e);
            tracing::error!(error = %err, jobs = ran.len(), "a SQLite write batch did not commit");
            let _ = conn.execute_batch("ROLLBACK");
            for r in ran {
                let _ = r.reply.send(Err(retry_later(&err)));
            }
        }
    }
}

/// Runs one statement from the prepared-statement cache (the savepoints around every job).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The error a job gets when its batch failed for reasons not its own.
fn retry_later(cause: &StoreError) -> StoreError {
    match cause {
        StoreError::Unavailable(_) => StoreError::unavailable(cause.to_string()),
        _ => StoreError::Retryable(cause.to_string().into()),
    }
}

fn run_job(conn: &mut Connection, job: Job, state: &WriterState) -> Ran {
    let Job { work, reply, .. } = job;
    if let Err(e) = run_cached(conn, "SAVEPOINT job") {
        return Ran {
            reply,
            result: Err(crate::rows::db(e)),
            changes: vec![],
        };
    }
    let mut changes = Vec::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut tx = SqliteTx::new(conn);
        let result = finish(work(&mut tx));
        (result, tx.into_changes())
    }));
    let result = match outcome {
        Ok((result, c)) => {
            changes = c;
            result
        }
        Err(_) => {
            state.restarts.fetch_add(1, Ordering::SeqCst);
            tracing::error!(
                "a unit of work panicked on the SQLite writer; it was rolled back and the writer carries on"
            );
            Err(StoreError::backend(
                "the write failed inside Firebreak and was rolled back",
            ))
        }
    };
    let closed = if result.is_ok() {
        run_cached(conn, "RELEASE job")
    } else {
        conn.execute_batch("ROLLBACK TO job; RELEASE job")
    };
    if let Err(e) = closed {
        return Ran {
            reply,
            result: Err(crate::rows::db(e)),
            changes: vec![],
        };
    }
    Ran {
        reply,
        result,
        changes,
    }
}
