//! The committer: merges concurrent units of work into shared transactions (group commit).
//!
//! Callers queue units of work; [`COMMITTERS`] tasks take them in batches of at most
//! [`MAX_ROWS`] rows (as the callers estimate them) and [`MAX_JOBS`] jobs. A task acquires a
//! connection, runs `BEGIN`, and runs each job inside its own savepoint, so a job that fails
//! rolls back alone: closing one savepoint and opening the next is one round trip. If the
//! surviving jobs changed anything other instances must hear of, the task sends `pg_notify` in
//! the same transaction, then `COMMIT`s.
//! Only after the commit does it publish the changes on the local feed and answer the jobs, so a
//! caller never hears of success for a write that is not durable.
//!
//! A batch that fails as a whole (the connection is lost, the commit fails) is rolled back and
//! every job in it gets the batch's error kind: `Unavailable` for connection trouble,
//! `Retryable` for a serialization failure or deadlock, which the engine runs again. A job that
//! panics is rolled back to its savepoint and answered with an error; the batch carries on.
//!
//! Overload: a new job is refused with `Unavailable` when the oldest queued job has waited more
//! than [`SHED_AFTER`], so latency stays bounded instead of growing without end.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firebreak_store::{AuditDraft, Change, ChangeFeed, Committed, Result, StoreError, Work};
use futures_util::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, raw_sql};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::error::{self, db, same_kind};
use crate::listen::Channel;
use crate::tx::PgTx;

/// Tasks committing batches side by side.
pub const COMMITTERS: usize = 4;
/// A batch holds at most this many rows (as the callers estimate them).
pub const MAX_ROWS: usize = 2_000;
/// ... and at most this many jobs. Each job that writes takes a subtransaction id, and a
/// transaction with more than 64 of them overflows PostgreSQL's per-backend cache, which slows
/// every other session's snapshots while it runs.
pub const MAX_JOBS: usize = 64;
/// A write that would wait behind one queued longer than this is refused as overload.
pub const SHED_AFTER: Duration = Duration::from_secs(2);
/// Times a batch tries to open its transaction: after a restart of the server, the pool's idle
/// connections are dead and each fails on first use (and is closed), so a batch tries the next
/// one, at worst until the pool opens a new connection.
const BEGIN_ATTEMPTS: usize = crate::MAX_CONNECTIONS as usize + 1;
/// `pg_notify` refuses payloads of 8000 bytes or more; longer change lists are split.
const NOTIFY_CHUNK: usize = 7_000;

struct Job {
    rows: usize,
    work: Work,
    enqueued: Instant,
    reply: oneshot::Sender<Result<()>>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Notify,
    /// Committer tasks still running.
    running: AtomicUsize,
    /// Panics recovered from (a unit of work's, or a batch's own).
    restarts: AtomicU64,
    pool: PgPool,
    feed: ChangeFeed,
    channel: Arc<Channel>,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle for queueing units of work. Cheap to clone.
#[derive(Clone)]
pub struct Committer {
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Committer {
    /// Starts the committer tasks on the current runtime.
    pub(crate) fn spawn(pool: PgPool, feed: ChangeFeed, channel: Arc<Channel>) -> Committer {
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            ready: Notify::new(),
            running: AtomicUsize::new(COMMITTERS),
            restarts: AtomicU64::new(0),
            pool,
            feed,
            channel,
        });
        let tasks = (0..COMMITTERS)
            .map(|_| tokio::spawn(serve(shared.clone())))
            .collect();
        Committer {
            shared,
            tasks: Arc::new(Mutex::new(tasks)),
        }
    }

    /// Runs `work` in the next batch and waits until that batch has committed.
    pub async fn run(&self, rows: usize, work: Work) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = self.shared.queue();
            if queue.closed || self.shared.running.load(Ordering::SeqCst) == 0 {
                return Err(StoreError::unavailable(
                    "the PostgreSQL committer has stopped; no write can be made",
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
        self.shared.ready.notify_one();
        answer.await.map_err(|_| {
            StoreError::unavailable("the PostgreSQL committer stopped before answering this write")
        })?
    }

    /// True while some committer task runs.
    pub fn alive(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst) > 0
    }

    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::SeqCst)
    }

    /// How long the oldest queued write has waited.
    pub fn queue_wait(&self) -> Duration {
        self.shared
            .queue()
            .jobs
            .front()
            .map(|j| j.enqueued.elapsed())
            .unwrap_or_default()
    }

    /// Stops taking work; what is queued still runs, then the tasks stop.
    pub fn close(&self) {
        self.shared.queue().closed = true;
        self.shared.ready.notify_waiters();
    }

    /// Waits up to `limit` for the tasks to finish what is queued and stop.
    pub async fn stopped(&self, limit: Duration) {
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!(
                "the PostgreSQL committer did not finish its queued writes in time; closing anyway"
            );
        }
    }
}

/// Counts a committer task as stopped when it ends, however it ends.
struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last task is gone: anyone still queued hears that nothing will run.
            let mut queue = self.0.queue();
            queue.closed = true;
            for job in queue.jobs.drain(..) {
                let _ = job.reply.send(Err(StoreError::unavailable(
                    "the PostgreSQL committer stopped before running this write",
                )));
            }
        }
    }
}

async fn serve(shared: Arc<Shared>) {
    let _running = Running(shared.clone());
    while let Some(batch) = next_batch(&shared).await {
        let outcome = AssertUnwindSafe(run_batch(&shared, batch))
            .catch_unwind()
            .await;
        if outcome.is_err() {
            shared.restarts.fetch_add(1, Ordering::SeqCst);
            tracing::error!(
                "a PostgreSQL write batch panicked; its connection was closed and the committer carries on"
            );
        }
    }
}

/// Takes the next batch: waits for the first job, then adds queued jobs while the batch stays
/// under [`MAX_ROWS`] and [`MAX_JOBS`]. `None` when closed and drained.
async fn next_batch(shared: &Shared) -> Option<Vec<Job>> {
    loop {
        let mut notified = pin!(shared.ready.notified());
        notified.as_mut().enable();
        {
            let mut queue = shared.queue();
            if !queue.jobs.is_empty() {
                let mut batch = Vec::new();
                let mut rows = 0;
                while let Some(job) = queue.jobs.front() {
                    if !batch.is_empty() && (rows + job.rows > MAX_ROWS || batch.len() == MAX_JOBS)
                    {
                        break;
                    }
                    rows += job.rows;
                    batch.extend(queue.jobs.pop_front());
                }
                if !queue.jobs.is_empty() {
                    // More is waiting: let another committer take it.
                    shared.ready.notify_one();
                }
                return Some(batch);
            }
            if queue.closed {
                return None;
            }
        }
        notified.await;
    }
}

/// A pooled connection with a transaction open. Dropped before [`Open::finish`] (a panic, or a
/// failure it could not roll back), the connection is closed, never returned to the pool with
/// the transaction still open.
struct Open(Option<PoolConnection<Postgres>>);

impl Open {
    fn conn(&mut self) -> &mut PgConnection {
        self.0
            .as_mut()
            .expect("an open transaction has its connection")
    }

    /// The transaction is over: the connection goes back to the pool.
    fn finish(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(mut conn) = self.0.take() {
            conn.close_on_drop();
        }
    }
}

/// Acquires a connection and opens the transaction with the first job's savepoint.
async fn begin(pool: &PgPool) -> Result<Open> {
    let mut attempt = 1;
    loop {
        let conn = pool.acquire().await.map_err(db)?;
        let mut open = Open(Some(conn));
        match raw_sql("BEGIN; SAVEPOINT j").execute(open.conn()).await {
            Ok(_) => return Ok(open),
            Err(e) if attempt < BEGIN_ATTEMPTS && error::kind(&e) == error::Kind::Unavailable => {
                tracing::debug!(error = %e, "a pooled PostgreSQL connection was dead; trying another");
                attempt += 1;
            }
            Err(e) => return Err(db(e)),
        }
    }
}

/// What one job left once it ran: its result, and the changes to publish if the batch commits.
struct Ran {
    reply: oneshot::Sender<Result<()>>,
    result: Result<()>,
    changes: Vec<Change>,
    audits: Vec<AuditDraft>,
}

impl Ran {
    /// The job's work is undone: it reports `why` unless it already failed, and publishes nothing.
    fn undone(&mut self, why: &str) {
        if self.result.is_ok() {
            self.result = Err(StoreError::backend(why.to_string()));
        }
        self.changes.clear();
        self.audits.clear();
    }
}

async fn run_batch(shared: &Shared, batch: Vec<Job>) {
    let mut open = match begin(&shared.pool).await {
        Ok(open) => open,
        Err(e) => {
            // The callers hear `Unavailable` and report it; one line each here would flood the
            // log for as long as the database is away.
            tracing::debug!(error = %e, jobs = batch.len(), "could not open a PostgreSQL write transaction");
            for job in batch {
                let _ = job.reply.send(Err(same_kind(&e)));
            }
            return;
        }
    };
    let total = batch.len();
    let mut ran: Vec<Ran> = Vec::with_capacity(total);
    let mut failed: Option<StoreError> = None;
    let mut jobs = batch.into_iter();
    for job in jobs.by_ref() {
        let more = ran.len() + 1 < total;
        let (result, changes, audits) = run_job(open.conn(), job.work, shared).await;
        let mut r = Ran {
            reply: job.reply,
            result,
            changes,
            audits,
        };
        // The last savepoint stays open: closing it goes with the commit.
        if more {
            match close_savepoint(open.conn(), r.result.is_ok(), true).await {
                Ok(true) => {}
                Ok(false) => r.undone(CARRIED_ON),
                Err(e) => failed = Some(e),
            }
        }
        ran.push(r);
        if failed.is_some() {
            break;
        }
    }
    let outcome = match failed {
        Some(e) => Err(e),
        None => commit(open.conn(), &mut ran, &shared.channel).await,
    };
    match outcome {
        Ok(()) => {
            open.finish();
            let mut changes = Vec::new();
            for r in &mut ran {
                if r.result.is_ok() {
                    changes.append(&mut r.changes);
                }
            }
            shared.feed.publish(Committed {
                changes,
                remote: false,
            });
            for r in ran {
                let _ = r.reply.send(r.result);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = total, "a PostgreSQL write batch did not commit");
            if raw_sql("ROLLBACK").execute(open.conn()).await.is_ok() {
                open.finish();
            }
            for r in ran {
                let _ = r.reply.send(Err(same_kind(&e)));
            }
            for job in jobs {
                let _ = job.reply.send(Err(same_kind(&e)));
            }
        }
    }
}

/// Why a job that returned `Ok` is rolled back anyway: one of its statements failed, which
/// aborts the rest of its savepoint, and it carried on.
const CARRIED_ON: &str =
    "a statement of this unit of work failed and it carried on; its writes were rolled back";

/// Runs one job's work against the open transaction, catching a panic.
async fn run_job(
    conn: &mut PgConnection,
    work: Work,
    shared: &Shared,
) -> (Result<()>, Vec<Change>, Vec<AuditDraft>) {
    let mut tx = PgTx::new(conn);
    let outcome = AssertUnwindSafe(async { work(&mut tx).await })
        .catch_unwind()
        .await;
    let (changes, audits) = tx.into_parts();
    match outcome {
        Ok(result) => (result, changes, audits),
        Err(_) => {
            shared.restarts.fetch_add(1, Ordering::SeqCst);
            tracing::error!(
                "a unit of work panicked in the PostgreSQL committer; it was rolled back and the batch carries on"
            );
            (
                Err(StoreError::backend(
                    "the write failed inside Firebreak and was rolled back",
                )),
                vec![],
                vec![],
            )
        }
    }
}

/// Ends the current job's savepoint, keeping its work if `keep`, and opens the next one if
/// `more`, in one round trip. Returns whether the work was kept: a job whose savepoint is aborted
/// (a statement failed and it carried on) is rolled back even when it asked to keep it.
async fn close_savepoint(conn: &mut PgConnection, keep: bool, more: bool) -> Result<bool> {
    if keep {
        let sql = if more {
            "RELEASE SAVEPOINT j; SAVEPOINT j"
        } else {
            "RELEASE SAVEPOINT j"
        };
        match raw_sql(sql).execute(&mut *conn).await {
            Ok(_) => return Ok(true),
            Err(e) if in_failed_transaction(&e) => {}
            Err(e) => return Err(db(e)),
        }
    }
    let sql = if more {
        "ROLLBACK TO SAVEPOINT j; RELEASE SAVEPOINT j; SAVEPOINT j"
    } else {
        "ROLLBACK TO SAVEPOINT j; RELEASE SAVEPOINT j"
    };
    raw_sql(sql).execute(conn).await.map_err(db)?;
    Ok(false)
}

fn in_failed_transaction(e: &sqlx::Error) -> bool {
    error::sqlstate(e).as_deref() == Some("25P02")
}

/// The surviving jobs' audit records, chained and inserted in job order.
async fn chain_audits(conn: &mut PgConnection, ran: &[Ran]) -> Result<()> {
    let audits: Vec<&AuditDraft> = ran
        .iter()
        .filter(|r| r.result.is_ok())
        .flat_map(|r| r.audits.iter())
        .collect();
    crate::incidents::chain_audits(conn, &audits).await
}

/// Closes the last job's savepoint, appends the surviving jobs' audit records to the chain,
/// tells other instances what they changed, and commits. On the common path (the last job
/// kept, nothing audited, nothing to tell) that is one round trip.
async fn commit(conn: &mut PgConnection, ran: &mut [Ran], channel: &Channel) -> Result<()> {
    let last_ok = ran.last().is_some_and(|r| r.result.is_ok());
    if last_ok {
        // Inside the last savepoint: what is written there is kept when it is released. If the
        // audit insert fails there, the last job is rolled back with it and the rest go on.
        let audited = match chain_audits(conn, ran).await {
            Ok(()) => true,
            Err(e @ StoreError::Backend(_)) => {
                tracing::warn!(error = %e, "appending to the audit chain failed; the batch's last write is rolled back");
                false
            }
            Err(e) => return Err(e),
        };
        let kept = audited
            && match notice(ran, channel) {
                None => true,
                Some(payloads) => match notify(conn, channel, &payloads).await {
                    Ok(()) => true,
                    Err(e) if in_failed_transaction(&e) => false,
                    Err(e) => return Err(db(e)),
                },
            };
        if kept {
            match raw_sql("RELEASE SAVEPOINT j; COMMIT")
                .execute(&mut *conn)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if in_failed_transaction(&e) => {}
                Err(e) => return Err(db(e)),
            }
        }
    }
    close_savepoint(conn, false, false).await?;
    if let Some(last) = ran.last_mut() {
        last.undone(CARRIED_ON);
    }
    chain_audits(conn, ran).await?;
    if let Some(payloads) = notice(ran, channel) {
        notify(conn, channel, &payloads).await.map_err(db)?;
    }
    raw_sql("COMMIT").execute(conn).await.map_err(db)?;
    Ok(())
}

/// The notifications that tell other instances what the surviving jobs changed, each under
/// `pg_notify`'s size limit, or `None` when nothing leaves the process.
fn notice(ran: &[Ran], channel: &Channel) -> Option<Vec<String>> {
    let changes: Vec<Change> = ran
        .iter()
        .filter(|r| r.result.is_ok())
        .flat_map(|r| r.changes.iter().cloned())
        .collect();
    let wire = Committed {
        changes,
        remote: false,
    }
    .to_wire()?;
    Some(
        chunks(&wire, NOTIFY_CHUNK)
            .map(|c| channel.payload(c))
            .collect(),
    )
}

/// `wire` split at spaces into pieces of at most about `limit` bytes.
fn chunks(wire: &str, limit: usize) -> impl Iterator<Item = &str> {
    let mut rest = wire;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() <= limit {
            return Some(std::mem::take(&mut rest));
        }
        let cut = rest[..limit].rfind(' ').unwrap_or(limit);
        let (head, tail) = rest.split_at(cut);
        rest = tail.trim_start();
        Some(head)
    })
}

async fn notify(
    conn: &mut PgConnection,
    channel: &Channel,
    payloads: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::TEXT[]) AS p")
        .bind(channel.name())
        .bind(payloads)
        .execute(conn)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn long_change_lists_split_at_spaces_under_the_limit() {
        let wire = (1..=3000)
            .map(|n| format!("i{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let pieces: Vec<&str> = chunks(&wire, 7_000).collect();
        assert!(pieces.len() > 1);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= 7_000 && !p.starts_with(' '))
        );
        assert_eq!(pieces.join(" "), wire);
        assert_eq!(chunks("i1 i2", 7_000).collect::<Vec<_>>(), vec!["i1 i2"]);
        assert_eq!(chunks("", 7_000).count(), 0);
    }
}
