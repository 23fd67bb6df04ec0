//! Heartbeats on PostgreSQL. The watcher takes each overdue heartbeat with `FOR UPDATE` and
//! looks again under the lock, so two instances never take one down twice.

use async_trait::async_trait;
use firebreak_domain::heartbeat::{Heartbeat, HeartbeatState};
use firebreak_store::feed::Topic;
use firebreak_store::{Change, HeartbeatStore, HeartbeatWrites, Result, StoreError};
use jiff::{SignedDuration, Timestamp};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, get, ms_opt};
use crate::tx::PgTx;

const COLUMNS: &str = "id, name, service, period_ms, grace_ms, key_hint, state, last_ping, \
     due_at, down_since, reason, created_by, created_at";

fn heartbeat(row: &PgRow) -> Result<Heartbeat> {
    let state: String = get(row, "state")?;
    Ok(Heartbeat {
        id: get(row, "id")?,
        name: rows::name(&get::<String>(row, "name")?)?,
        service: rows::name(&get::<String>(row, "service")?)?,
        period: SignedDuration::from_millis(get(row, "period_ms")?),
        grace: SignedDuration::from_millis(get(row, "grace_ms")?),
        key_hint: get(row, "key_hint")?,
        state: HeartbeatState::parse(&state)
            .ok_or_else(|| StoreError::backend(format!("unknown heartbeat state {state:?}")))?,
        last_ping: rows::ts_opt(get(row, "last_ping")?)?,
        due_at: rows::ts_opt(get(row, "due_at")?)?,
        down_since: rows::ts_opt(get(row, "down_since")?)?,
        reason: get(row, "reason")?,
        created_by: get(row, "created_by")?,
        created_at: rows::ts(get(row, "created_at")?)?,
    })
}

#[async_trait]
impl HeartbeatWrites for PgTx<'_> {
    async fn create_heartbeat(&mut self, h: &Heartbeat, key_hash: &str) -> Result<Heartbeat> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO heartbeats (name, service, period_ms, grace_ms, key_hash, key_hint, \
             state, last_ping, due_at, down_since, reason, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(h.name.as_str())
        .bind(h.service.as_str())
        .bind(h.period.as_millis() as i64)
        .bind(h.grace.as_millis() as i64)
        .bind(key_hash)
        .bind(&h.key_hint)
        .bind(h.state.as_str())
        .bind(ms_opt(h.last_ping))
        .bind(ms_opt(h.due_at))
        .bind(ms_opt(h.down_since))
        .bind(h.reason.as_deref())
        .bind(&h.created_by)
        .bind(h.created_at.as_millisecond())
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?;
        let id = id.ok_or_else(|| {
            StoreError::Conflict(format!("a heartbeat named `{}` already exists", h.name))
        })?;
        self.changed(Change::Directory(Topic::Heartbeats));
        Ok(Heartbeat { id, ..h.clone() })
    }

    async fn lock_heartbeat(&mut self, id: i64) -> Result<Option<Heartbeat>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM heartbeats WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| heartbeat(&r))
        .transpose()
    }

    async fn save_heartbeat(&mut self, h: &Heartbeat) -> Result<()> {
        let done = sqlx::query(
            "UPDATE heartbeats SET state = $2, last_ping = $3, due_at = $4, down_since = $5, \
             reason = $6 WHERE id = $1",
        )
        .bind(h.id)
        .bind(h.state.as_str())
        .bind(ms_opt(h.last_ping))
        .bind(ms_opt(h.due_at))
        .bind(ms_opt(h.down_since))
        .bind(h.reason.as_deref())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        rows::found(done.rows_affected())
    }

    async fn delete_heartbeat(&mut self, id: i64) -> Result<()> {
        let done = sqlx::query("DELETE FROM heartbeats WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        rows::found(done.rows_affected())?;
        self.changed(Change::Directory(Topic::Heartbeats));
        Ok(())
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl PostgresStore {
    /// The heartbeat `query` finds, if any.
    async fn one_heartbeat(&self, query: PgQuery<'_>) -> Result<Option<Heartbeat>> {
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| heartbeat(&r))
            .transpose()
    }
}

#[async_trait]
impl HeartbeatStore for PostgresStore {
    async fn list_heartbeats(&self) -> Result<Vec<Heartbeat>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM heartbeats ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(heartbeat)
        .collect()
    }

    async fn get_heartbeat(&self, id: i64) -> Result<Option<Heartbeat>> {
        let sql = format!("SELECT {COLUMNS} FROM heartbeats WHERE id = $1");
        self.one_heartbeat(sqlx::query(AssertSqlSafe(sql)).bind(id))
            .await
    }

    async fn heartbeat_by_key(&self, key_hash: &str) -> Result<Option<Heartbeat>> {
        let sql = format!("SELECT {COLUMNS} FROM heartbeats WHERE key_hash = $1");
        self.one_heartbeat(sqlx::query(AssertSqlSafe(sql)).bind(key_hash.to_string()))
            .await
    }

    async fn overdue_heartbeats(&self, now: Timestamp, limit: u32) -> Result<Vec<Heartbeat>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM heartbeats WHERE state = 'up' AND due_at <= $1 \
             ORDER BY due_at, id LIMIT $2"
        )))
        .bind(now.as_millisecond())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(heartbeat)
        .collect()
    }

    async fn next_heartbeat_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> =
            sqlx::query_scalar("SELECT min(due_at) FROM heartbeats WHERE state = 'up'")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        rows::ts_opt(due)
    }
}
