//! The PostgreSQL backend of the Firebreak store. [`PostgresStore`] implements every trait of
//! `firebreak-store` on a `sqlx` connection pool. The schema lives in embedded SQL migrations,
//! applied by [`PostgresStore::migrate`]; the timeline and the audit log are made append-only by
//! database triggers, so not even a stray `UPDATE` can rewrite history.

mod alerts;
mod directory;
mod incidents;
mod rows;
mod tokens;

use std::sync::Arc;

use async_trait::async_trait;
use firebreak_store::{AuditDraft, AuditEntry, AuditStore, Page, Result, Store, StoreError};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Row};

/// The embedded migrations, in order. Each is applied once, in its own transaction.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "alerts", include_str!("../migrations/0002_alerts.sql")),
];

/// How many connections the pool keeps at most.
const MAX_CONNECTIONS: u32 = 16;

/// A Firebreak store on PostgreSQL, optionally confined to one schema.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` with the server's default `search_path`.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect(url)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(PostgresStore { pool, schema: None })
    }

    /// Connects to `url` and keeps every table in `schema`, creating the schema if missing.
    /// Every pooled connection gets `search_path` set to it.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<PostgresStore> {
        if !valid_schema_name(schema) {
            return Err(StoreError::Backend(format!(
                "`{schema}` is not a usable schema name: use 1 to 63 lowercase letters, digits or '_', starting with a letter or '_'"
            )));
        }
        let mut conn = PgConnection::connect(url)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        match sqlx::query(AssertSqlSafe(create)).execute(&mut conn).await {
            Ok(_) => {}
            // Two instances creating the schema at the same moment: the other one won.
            Err(e) if is_code(&e, "23505") || is_code(&e, "42P06") => {}
            Err(e) => return Err(backend(e)),
        }
        conn.close().await.map_err(backend)?;

        let schema: Arc<str> = schema.into();
        let path = schema.clone();
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .after_connect(move |conn, _meta| {
                let set = format!("SET search_path TO \"{path}\"");
                Box::pin(async move {
                    sqlx::query(AssertSqlSafe(set)).execute(conn).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(PostgresStore {
            pool,
            schema: Some(schema),
        })
    }

    /// The schema this store is confined to, if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Applies the embedded migrations that have not been applied yet. Safe to run from several
    /// instances at once: each migration runs in a transaction holding an advisory lock.
    pub async fn migrate(&self) -> Result<()> {
        for (version, name, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext('firebreak-migrate:' || current_schema()))",
            )
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at BIGINT NOT NULL
                )",
            )
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let applied: bool =
                sqlx::query("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)")
                    .bind(version)
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(backend)?;
            if applied {
                tx.rollback().await.map_err(backend)?;
                continue;
            }
            sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(|e| {
                StoreError::Backend(format!("migration {version} ({name}) failed: {e}"))
            })?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT)",
            )
            .bind(version)
            .bind(*name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            tracing::info!(version, name, "applied PostgreSQL migration");
        }
        Ok(())
    }

    /// Drops this store's schema and everything in it, then closes the pool.
    /// Does nothing to the database if the store has no schema of its own.
    pub async fn drop_schema(&self) -> Result<()> {
        if let Some(schema) = &self.schema {
            let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            sqlx::query(AssertSqlSafe(drop))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        }
        self.pool.close().await;
        Ok(())
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
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

fn is_code(e: &sqlx::Error, code: &str) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == code)
}

/// Any database failure, for logs.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Maps a failed write: unique violations become a `Conflict` with a message a person can act
/// on (never SQL text); everything else is a backend failure.
pub(crate) fn write_error(e: sqlx::Error) -> StoreError {
    conflict_or_backend(e, "")
}

/// Like [`write_error`], naming `subject` (the name, handle or id written) in the message.
pub(crate) fn write_error_for(subject: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| conflict_or_backend(e, subject)
}

fn conflict_or_backend(e: sqlx::Error, subject: &str) -> StoreError {
    if !is_code(&e, "23505") {
        return backend(e);
    }
    let constraint = e
        .as_database_error()
        .and_then(|d| d.constraint())
        .unwrap_or("");
    let message = match constraint {
        "services_pkey" => format!("a service named `{subject}` already exists"),
        "users_pkey" => format!("a user with the handle `{subject}` already exists"),
        "tokens_pkey" => format!("a token with the id `{subject}` already exists"),
        "tokens_hash_key" => "a token with that secret already exists".to_string(),
        "incidents_pkey" => "an incident with that number already exists".to_string(),
        "integrations_pkey" => format!("an integration with the id `{subject}` already exists"),
        "integrations_service_name_key" => {
            format!("the service already has an integration named `{subject}`")
        }
        "integration_keys_pkey" => {
            format!("an integration key with the id `{subject}` already exists")
        }
        "integration_keys_hash_key" => {
            "an integration key with that secret already exists".to_string()
        }
        "alerts_open_dedup" => {
            format!("an unresolved alert with the dedup key `{subject}` already exists")
        }
        _ => "that record already exists".to_string(),
    };
    StoreError::Conflict(message)
}

/// Records an audit entry inside the caller's transaction.
pub(crate) async fn insert_audit(conn: &mut PgConnection, audit: &AuditDraft) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor, action, target, at, source) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&audit.actor)
    .bind(&audit.action)
    .bind(&audit.target)
    .bind(audit.at.as_millisecond())
    .bind(audit.source.as_deref())
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Page<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, actor, action, target, at, source FROM audit_log
             WHERE ($1::BIGINT IS NULL OR id < $1)
             ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut items = rows.iter().map(rows::audit).collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |a| a.id);
        Ok(Page { items, next })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
