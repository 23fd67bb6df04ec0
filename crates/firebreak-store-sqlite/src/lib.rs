//! The SQLite backend of the Firebreak store: one database file in WAL mode with
//! `synchronous=FULL`, so every acknowledged write is durable. Writes run on one dedicated
//! writer thread that commits them in groups ([`writer`]); reads use a few query-only
//! connections ([`readers`]). Both talk to SQLite through `rusqlite`, synchronously and with
//! cached prepared statements (see `docs/adr/0008-sqlite-writer-thread-on-rusqlite.md`).
//!
//! The schema lives in `migrations/` and is embedded in the binary; [`MIGRATIONS`] lists it so
//! other backends can mirror the table design. One file per aggregate holds its reads and
//! writes: [`incidents`], [`alerts`], [`directory`] and [`outbox`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_store::{ChangeFeed, Health, Result, Store, StoreError, Work};
use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags};

mod accounts;
mod alerts;
mod checkpoint;
mod checks;
mod customer_reports;
mod directory;
mod gamedays;
mod heartbeats;
mod incidents;
mod outbox;
mod paging;
mod readers;
mod review;
mod rows;
mod schedules;
mod stabilize;
mod status;
mod tx;
pub mod writer;

use readers::Readers;
use writer::Writer;

/// The schema, in order: `(version, SQL)`. Each is applied once, recorded in `schema_migrations`.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_alerts.sql")),
    (3, include_str!("../migrations/0003_spine.sql")),
    (4, include_str!("../migrations/0004_schedules.sql")),
    (5, include_str!("../migrations/0005_paging.sql")),
    (6, include_str!("../migrations/0006_status_page.sql")),
    (
        7,
        include_str!("../migrations/0007_scheduled_maintenance.sql"),
    ),
    (8, include_str!("../migrations/0008_subscribers.sql")),
    (9, include_str!("../migrations/0009_stabilize.sql")),
    (10, include_str!("../migrations/0010_actions.sql")),
    (11, include_str!("../migrations/0011_runbooks.sql")),
    (12, include_str!("../migrations/0012_accounts.sql")),
    (13, include_str!("../migrations/0013_sign_in_pruning.sql")),
    (14, include_str!("../migrations/0014_review.sql")),
    (15, include_str!("../migrations/0015_report_indexes.sql")),
    // Versions need not follow each other: every version not yet recorded is applied.
    (16, include_str!("../migrations/0016_heartbeats.sql")),
    (17, include_str!("../migrations/0017_customer_reports.sql")),
    (
        19,
        include_str!("../migrations/0019_active_escalations.sql"),
    ),
    (20, include_str!("../migrations/0020_checks.sql")),
    (21, include_str!("../migrations/0021_gamedays.sql")),
    (22, include_str!("../migrations/0022_incident_suspects.sql")),
    (23, include_str!("../migrations/0023_drill_deploys.sql")),
    (24, include_str!("../migrations/0024_deploy_days.sql")),
    (25, include_str!("../migrations/0025_suspect_details.sql")),
    (
        26,
        include_str!("../migrations/0026_rollbacks_by_incident.sql"),
    ),
];

/// How long a connection waits for a lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of the database file each reader maps (256 MiB).
const READER_MMAP: i64 = 256 << 20;
/// Read connections kept open.
const READERS: usize = 4;
/// Prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 128;

/// The Firebreak store on one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<PathBuf>,
    writer: Writer,
    checkpointer: Arc<checkpoint::Checkpointer>,
    readers: Arc<Readers>,
    feed: ChangeFeed,
}

fn connect(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(rows::db)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(rows::db)?;
    Ok(conn)
}

fn open_writer(path: &Path) -> Result<Connection> {
    let conn = connect(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(rows::db)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(rows::db)?;
    // The writer keeps SQLite's default page cache (2,000 KiB). A 64 MiB cache held 70 MiB
    // more with 100,000 open alerts and ingested no faster: pages it misses come from the
    // system's file cache (docs/benchmarks.md, "Memory at 100,000 open alerts, again").
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(rows::db)?;
    // Checkpoints run on their own thread (`checkpoint`); the writer's is a backstop.
    conn.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)
        .map_err(rows::db)?;
    Ok(conn)
}

/// The checkpointer's connection: it reads and writes the file, but makes no transactions.
fn open_checkpointer(path: &Path) -> Result<Connection> {
    connect(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = connect(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "query_only", "ON")
        .map_err(rows::db)?;
    // Readers map the database file instead of copying each page they read out of the
    // system's cache: a report reads tens of MiB, and under writes a reader's own page cache
    // is dropped whenever the database changed, while the mapping stays. Pages still in the
    // write-ahead log are read as before.
    conn.pragma_update(None, "mmap_size", READER_MMAP)
        .map_err(rows::db)?;
    Ok(conn)
}

/// Applies every migration in [`MIGRATIONS`] not yet recorded in `schema_migrations`, in one
/// transaction.
fn apply_migrations(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(rows::db)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(rows::db)?;
    let mut applied = Vec::new();
    for &(version, sql) in MIGRATIONS {
        let done: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )
            .map_err(rows::db)?;
        if done {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|e| StoreError::backend(format!("sqlite migration {version} failed: {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (version, Timestamp::now().as_millisecond()),
        )
        .map_err(rows::db)?;
        tracing::debug!(version, "applied SQLite migration");
        applied.push(version);
    }
    crate::incidents::chain_unhashed_audit(&tx)?;
    tx.commit().map_err(rows::db)?;
    // One line, not one per migration: on a first start the admin token printed next must
    // not scroll away.
    if let (Some(first), Some(last)) = (applied.first(), applied.last()) {
        tracing::info!(
            migrations = applied.len(),
            from = first,
            to = last,
            "brought the SQLite schema up to date"
        );
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let path: PathBuf = path.to_path_buf();
        let opening = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let mut conn = open_writer(&opening)?;
            apply_migrations(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(StoreError::backend)??;
        let feed = ChangeFeed::new();
        let checkpoint_path = path.clone();
        let checkpointer = Arc::new(checkpoint::Checkpointer::start(path.clone(), move || {
            open_checkpointer(&checkpoint_path)
        }));
        let reopen_path = path.clone();
        let after_commit = checkpointer.clone();
        let writer = Writer::spawn(
            conn,
            Box::new(move || open_writer(&reopen_path)),
            feed.clone(),
            path.clone(),
            Box::new(move || after_commit.committed()),
        );
        let path = path.clone();
        let reader_path = path.clone();
        let readers = Arc::new(Readers::new(
            READERS,
            Arc::new(move || open_reader(&reader_path)),
        ));
        Ok(SqliteStore {
            path: Arc::new(path),
            writer,
            checkpointer,
            readers,
            feed,
        })
    }

    /// Applies any embedded migrations the database does not have yet. Safe while the store
    /// is running: the migration takes the write lock like any write.
    pub async fn migrate(&self) -> Result<()> {
        let path = self.path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut conn = open_writer(&path)?;
            apply_migrations(&mut conn)
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// Makes the next unit of work panic on the writer thread, to prove the writer recovers
    /// and says so. For tests only.
    #[doc(hidden)]
    pub async fn panic_in_writer(&self) -> Result<()> {
        self.writer
            .write(
                1,
                Box::new(|_tx| {
                    Box::pin(async move {
                        let asked = true;
                        if asked {
                            panic!("a test asked the SQLite writer to panic");
                        }
                        Ok(())
                    })
                }),
            )
            .await
    }

    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.readers.read(f).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn run(&self, rows: usize, work: Work) -> Result<()> {
        self.writer.write(rows, work).await
    }

    fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    async fn ping(&self) -> Result<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(rows::db))
            .await
    }

    fn health(&self) -> Health {
        let state = self.writer.state();
        Health {
            writer_alive: state.alive.load(Ordering::SeqCst),
            writer_restarts: state.restarts.load(Ordering::SeqCst),
            queue_wait_ms: state.queue_wait().as_millis() as u64,
        }
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn close(&self) {
        self.writer.close();
        let state = self.writer.state();
        // Queued writes finish; then the thread stops.
        for _ in 0..100 {
            if !state.alive.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let checkpointer = self.checkpointer.clone();
        let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        self.readers.close();
    }
}
