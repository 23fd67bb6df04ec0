//! The group-commit writer: one SQLite connection owned by one task. Callers send jobs over a
//! channel; the task takes the first waiting job, drains up to [`MAX_BATCH`] more, and runs them
//! all in one `BEGIN IMMEDIATE` transaction, each inside its own `SAVEPOINT` so one failing job
//! rolls back alone. Results are handed back only after `COMMIT` succeeds, so a caller never
//! sees success for a write that is not durable.

use futures_util::future::BoxFuture;
use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

use firebreak_store::{Result, StoreError};

/// The most jobs committed together.
pub const MAX_BATCH: usize = 256;

/// A unit of work run on the writer connection inside a transaction.
pub type WriteFn<T> =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send>;

trait Job: Send {
    /// Runs the work and keeps its result until the batch commits.
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool>;
    /// Sends the kept result (the batch committed).
    fn finish(self: Box<Self>);
    /// Sends `err` instead (the batch failed).
    fn fail(self: Box<Self>, err: StoreError);
}

struct TypedJob<T> {
    work: Option<WriteFn<T>>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let work = self.work.take().expect("a job runs once");
            let result = work(conn).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>) {
        let result = self
            .result
            .unwrap_or_else(|| Err(StoreError::Backend("write job did not run".into())));
        let _ = self.reply.send(result);
    }

    fn fail(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

/// A handle for sending work to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer task on `conn`.
    pub fn spawn(conn: SqliteConnection) -> Writer {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(conn, rx));
        Writer { jobs: tx }
    }

    /// Runs `work` in the next batch and waits until that batch is committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = TypedJob {
            work: Some(Box::new(work)),
            result: None,
            reply,
        };
        self.jobs
            .send(Box::new(job))
            .await
            .map_err(|_| StoreError::Backend("the sqlite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the sqlite writer dropped a job".into()))?
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<()> {
    sqlx::raw_sql(sql)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(StoreError::backend)
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Box<dyn Job>>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = run_batch(&mut conn, &mut batch).await {
            tracing::error!(error = %e, jobs = batch.len(), "sqlite write batch failed");
            let _ = exec(&mut conn, "ROLLBACK").await;
            for job in batch.drain(..) {
                job.fail(StoreError::Backend(e.to_string()));
            }
        } else {
            for job in batch.drain(..) {
                job.finish();
            }
        }
    }
}

/// Runs every job of `batch` in one transaction. An `Err` means the transaction did not commit.
/// Each job runs inside its own savepoint; closing one savepoint and opening the next (or
/// committing) go to SQLite as one round trip.
async fn run_batch(conn: &mut SqliteConnection, batch: &mut [Box<dyn Job>]) -> Result<()> {
    exec(conn, "BEGIN IMMEDIATE; SAVEPOINT job").await?;
    let last = batch.len().saturating_sub(1);
    for (i, job) in batch.iter_mut().enumerate() {
        let ok = job.run(conn).await;
        let next = match (ok, i == last) {
            (true, false) => "RELEASE job; SAVEPOINT job",
            (true, true) => "RELEASE job; COMMIT",
            (false, false) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
            (false, true) => "ROLLBACK TO job; RELEASE job; COMMIT",
        };
        exec(conn, next).await?;
    }
    Ok(())
}
