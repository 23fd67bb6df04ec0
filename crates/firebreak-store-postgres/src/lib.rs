//! The PostgreSQL backend of the Firebreak store. [`PostgresStore`] implements every trait of
//! `firebreak-store` on a `sqlx` connection pool, and several Firebreak instances may share one
//! database (one schema):
//!
//! - every write is a unit of work run by the [`committer`], which merges concurrent units into
//!   shared transactions, each unit in its own savepoint;
//! - units that must not interleave take explicit locks (`FOR UPDATE` rows, transaction-scoped
//!   advisory locks), and the outbox is claimed with `FOR UPDATE SKIP LOCKED`;
//! - each commit is announced with `pg_notify` in the same transaction, and every instance
//!   re-publishes what the others committed on its own feed ([`listen`]).
//!
//! The schema lives in embedded SQL migrations, applied by [`PostgresStore::migrate`]; the
//! timeline and the audit log are made append-only by database triggers, so not even a stray
//! `UPDATE` can rewrite history. One file per aggregate holds its reads and writes:
//! [`incidents`], [`alerts`] (with [`integrations`] and [`rules`]), [`directory`] and [`outbox`].
//!
//! With the database down, every call answers `Unavailable` within about two seconds: the pool
//! waits at most [`ACQUIRE_TIMEOUT`] for a connection, including connecting.

mod accounts;
mod alerts;
mod checks;
pub mod committer;
mod customer_reports;
mod directory;
mod error;
mod gamedays;
mod heartbeats;
mod incidents;
mod integrations;
mod listen;
mod outbox;
mod paging;
mod review;
mod rows;
mod rules;
mod schedules;
mod stabilize;
mod status;
#[cfg(feature = "testing")]
pub mod testing;
mod tx;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use firebreak_store::{ChangeFeed, Health, Result, Store, StoreError, Work};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use committer::Committer;
use error::db;
use listen::Channel;

/// The schema, in order: `(version, name, SQL)`. Each is applied once, in its own transaction.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "alerts", include_str!("../migrations/0002_alerts.sql")),
    (3, "spine", include_str!("../migrations/0003_spine.sql")),
    (
        4,
        "schedules",
        include_str!("../migrations/0004_schedules.sql"),
    ),
    (5, "paging", include_str!("../migrations/0005_paging.sql")),
    (
        6,
        "status_page",
        include_str!("../migrations/0006_status_page.sql"),
    ),
    (
        7,
        "scheduled_maintenance",
        include_str!("../migrations/0007_scheduled_maintenance.sql"),
    ),
    (
        8,
        "subscribers",
        include_str!("../migrations/0008_subscribers.sql"),
    ),
    (
        9,
        "stabilize",
        include_str!("../migrations/0009_stabilize.sql"),
    ),
    (
        10,
        "actions",
        include_str!("../migrations/0010_actions.sql"),
    ),
    (
        11,
        "runbooks",
        include_str!("../migrations/0011_runbooks.sql"),
    ),
    (
        12,
        "accounts",
        include_str!("../migrations/0012_accounts.sql"),
    ),
    (
        13,
        "sign_in_pruning",
        include_str!("../migrations/0013_sign_in_pruning.sql"),
    ),
    (14, "review", include_str!("../migrations/0014_review.sql")),
    (
        15,
        "report_indexes",
        include_str!("../migrations/0015_report_indexes.sql"),
    ),
    // Versions need not follow each other: every version not yet recorded is applied.
    (
        16,
        "heartbeats",
        include_str!("../migrations/0016_heartbeats.sql"),
    ),
    (
        17,
        "customer_reports",
        include_str!("../migrations/0017_customer_reports.sql"),
    ),
    (
        19,
        "active_escalations",
        include_str!("../migrations/0019_active_escalations.sql"),
    ),
    (20, "checks", include_str!("../migrations/0020_checks.sql")),
    (
        21,
        "gamedays",
        include_str!("../migrations/0021_gamedays.sql"),
    ),
    (
        22,
        "incident_suspects",
        include_str!("../migrations/0022_incident_suspects.sql"),
    ),
    (
        23,
        "drill_deploys",
        include_str!("../migrations/0023_drill_deploys.sql"),
    ),
    (
        24,
        "deploy_days",
        include_str!("../migrations/0024_deploy_days.sql"),
    ),
    (
        25,
        "suspect_details",
        include_str!("../migrations/0025_suspect_details.sql"),
    ),
    (
        26,
        "rollbacks_by_incident",
        include_str!("../migrations/0026_rollbacks_by_incident.sql"),
    ),
];

/// How many connections the pool keeps at most.
const MAX_CONNECTIONS: u32 = 16;
/// How long a call waits for a connection, connecting included, before it is `Unavailable`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the first connection at start waits for PostgreSQL to answer: a busy server
/// takes longer than one request should wait, and nothing is waiting on it yet. A server
/// that refuses the connection fails at once.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `close` lets queued writes finish.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A Firebreak store on PostgreSQL, optionally confined to one schema. Cheap to clone; the
/// committer and the listener stop when the last clone is dropped or [`Store::close`] is called.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
    feed: ChangeFeed,
    committer: Committer,
    background: Arc<Background>,
}

/// The store's tasks, stopped when the last handle goes.
struct Background {
    committer: Committer,
    stop: CancellationToken,
    listener: Mutex<Option<JoinHandle<()>>>,
    listener_pool: PgPool,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.committer.close();
        self.stop.cancel();
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn options(url: &str) -> Result<PgConnectOptions> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| StoreError::backend(format!("the PostgreSQL URL is not usable: {e}")))?;
    // Firebreak's queries are short index walks; PostgreSQL's JIT compiler would spend tens of
    // milliseconds compiling the reports' longer ones for nothing, so it is off for these
    // connections.
    let options = options.options([("jit", "off")]);
    // Named, so operators can tell Firebreak's connections apart; a name in the URL wins.
    if options.get_application_name().is_some() {
        return Ok(options);
    }
    Ok(options.application_name("firebreak"))
}

/// Pool settings every store uses: fail fast when the database is away, and never test a
/// connection before handing it out (a dead one fails on first use and is dropped).
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
}

impl PostgresStore {
    /// Connects to `url` with the server's default `search_path`.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let options = options(url)?;
        let pool = pool_options()
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(db)?;
        Self::start(pool, options, None, schema.as_deref().unwrap_or("public")).await
    }

    /// Connects to `url` and keeps every table in `schema`, creating the schema if missing.
    /// Every pooled connection gets `search_path` set to it.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<PostgresStore> {
        if !valid_schema_name(schema) {
            return Err(StoreError::backend(format!(
                "`{schema}` is not a usable schema name: use 1 to 63 lowercase letters, digits or '_', starting with a letter or '_'"
            )));
        }
        let options = options(url)?;
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| StoreError::unavailable("PostgreSQL did not answer in time"))?
            .map_err(db)?;
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        match sqlx::query(AssertSqlSafe(create)).execute(&mut conn).await {
            Ok(_) => {}
            // Two instances creating the schema at the same moment: the other one won.
            Err(e) if matches!(error::sqlstate(&e).as_deref(), Some("23505" | "42P06")) => {}
            Err(e) => return Err(db(e)),
        }
        conn.close().await.map_err(db)?;

        let path = format!("SET search_path TO \"{schema}\"");
        let pool = pool_options()
            .after_connect(move |conn, _meta| {
                let set = path.clone();
                Box::pin(async move {
                    sqlx::query(AssertSqlSafe(set)).execute(conn).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        Self::start(pool, options, Some(schema.into()), schema).await
    }

    /// Starts the committer and the listener on `pool`.
    async fn start(
        pool: PgPool,
        options: PgConnectOptions,
        schema: Option<Arc<str>>,
        channel_schema: &str,
    ) -> Result<PostgresStore> {
        let feed = ChangeFeed::new();
        let channel = Arc::new(Channel::new(channel_schema));
        let committer = Committer::spawn(pool.clone(), feed.clone(), channel.clone());
        let listener_pool = pool_options()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        let stop = CancellationToken::new();
        let (ready, listening) = tokio::sync::oneshot::channel();
        let listener = listen::spawn(
            listener_pool.clone(),
            channel,
            feed.clone(),
            stop.clone(),
            ready,
        );
        // Other instances' commits are heard from the moment the store is returned, unless the
        // listener cannot connect yet (it keeps trying).
        let _ = tokio::time::timeout(2 * ACQUIRE_TIMEOUT, listening).await;
        Ok(PostgresStore {
            pool,
            schema,
            feed,
            committer: committer.clone(),
            background: Arc::new(Background {
                committer,
                stop,
                listener: Mutex::new(Some(listener)),
                listener_pool,
            }),
        })
    }

    /// The schema this store is confined to, if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Applies the embedded migrations that have not been applied yet. Safe to run from several
    /// instances at once: each migration runs in a transaction holding an advisory lock.
    pub async fn migrate(&self) -> Result<()> {
        let mut newly = Vec::new();
        for (version, name, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await.map_err(db)?;
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext('firebreak-migrate:' || current_schema()))",
            )
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at BIGINT NOT NULL
                )",
            )
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let applied: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
            )
            .bind(version)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if applied {
                tx.rollback().await.map_err(db)?;
                continue;
            }
            sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(|e| {
                StoreError::backend(format!("migration {version} ({name}) failed: {e}"))
            })?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT)",
            )
            .bind(version)
            .bind(*name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            tracing::debug!(version, name, "applied PostgreSQL migration");
            newly.push(*version);
        }
        // One line, not one per migration (see the SQLite store).
        if let (Some(first), Some(last)) = (newly.first(), newly.last()) {
            tracing::info!(
                migrations = newly.len(),
                from = first,
                to = last,
                "brought the PostgreSQL schema up to date"
            );
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        crate::incidents::chain_unhashed_audit(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Stops this store, drops its schema and everything in it, and closes the pool. Does
    /// nothing to the database if the store has no schema of its own.
    pub async fn drop_schema(&self) -> Result<()> {
        self.stop_work().await;
        let dropped = match &self.schema {
            Some(schema) => sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
            )))
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db),
            None => Ok(()),
        };
        self.close_pools().await;
        dropped
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Lets queued writes finish, then stops the committer and the listener.
    async fn stop_work(&self) {
        self.committer.close();
        self.committer.stopped(CLOSE_WAIT).await;
        self.background.stop.cancel();
        let listener = self
            .background
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(listener) = listener {
            let _ = tokio::time::timeout(CLOSE_WAIT, listener).await;
        }
    }

    async fn close_pools(&self) {
        self.background.listener_pool.close().await;
        if tokio::time::timeout(CLOSE_WAIT, self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("some PostgreSQL connections were still in use when the store closed");
        }
    }
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[async_trait]
impl Store for PostgresStore {
    async fn run(&self, rows: usize, work: Work) -> Result<()> {
        self.committer.run(rows, work).await
    }

    fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    fn health(&self) -> Health {
        Health {
            writer_alive: self.committer.alive(),
            writer_restarts: self.committer.restarts(),
            queue_wait_ms: self.committer.queue_wait().as_millis() as u64,
        }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn close(&self) {
        self.stop_work().await;
        self.close_pools().await;
    }
}
