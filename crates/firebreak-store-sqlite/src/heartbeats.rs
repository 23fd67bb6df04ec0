//! Heartbeats on SQLite.

use async_trait::async_trait;
use firebreak_domain::heartbeat::{Heartbeat, HeartbeatState};
use firebreak_store::feed::Topic;
use firebreak_store::{Change, HeartbeatStore, HeartbeatWrites, Result, StoreError};
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Row, params};

use crate::SqliteStore;
use crate::rows::{self, ms, opt_ms};
use crate::tx::SqliteTx;

const COLUMNS: &str = "id, name, service, period_ms, grace_ms, key_hint, state, last_ping, \
     due_at, down_since, reason, created_by, created_at";

fn heartbeat(row: &Row<'_>) -> Result<Heartbeat> {
    let state: String = rows::get(row, "state")?;
    Ok(Heartbeat {
        id: rows::get(row, "id")?,
        name: rows::name_at(row, "name")?,
        service: rows::name_at(row, "service")?,
        period: SignedDuration::from_millis(rows::get(row, "period_ms")?),
        grace: SignedDuration::from_millis(rows::get(row, "grace_ms")?),
        key_hint: rows::get(row, "key_hint")?,
        state: HeartbeatState::parse(&state)
            .ok_or_else(|| StoreError::backend(format!("unknown heartbeat state {state:?}")))?,
        last_ping: rows::opt_ts(row, "last_ping")?,
        due_at: rows::opt_ts(row, "due_at")?,
        down_since: rows::opt_ts(row, "down_since")?,
        reason: rows::get(row, "reason")?,
        created_by: rows::get(row, "created_by")?,
        created_at: rows::ts(row, "created_at")?,
    })
}

#[async_trait]
impl HeartbeatWrites for SqliteTx<'_> {
    async fn create_heartbeat(&mut self, h: &Heartbeat, key_hash: &str) -> Result<Heartbeat> {
        let name = h.name.clone();
        self.exec_unique(
            "INSERT INTO heartbeats (name, service, period_ms, grace_ms, key_hash, key_hint, \
             state, last_ping, due_at, down_since, reason, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                h.name.as_str(),
                h.service.as_str(),
                h.period.as_millis() as i64,
                h.grace.as_millis() as i64,
                key_hash,
                h.key_hint,
                h.state.as_str(),
                opt_ms(h.last_ping),
                opt_ms(h.due_at),
                opt_ms(h.down_since),
                h.reason,
                h.created_by,
                ms(h.created_at)
            ],
            || format!("a heartbeat named `{name}` already exists"),
        )?;
        let id = self.conn().last_insert_rowid();
        self.changed(Change::Directory(Topic::Heartbeats));
        Ok(Heartbeat { id, ..h.clone() })
    }

    async fn lock_heartbeat(&mut self, id: i64) -> Result<Option<Heartbeat>> {
        let sql = format!("SELECT {COLUMNS} FROM heartbeats WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], heartbeat)
    }

    async fn save_heartbeat(&mut self, h: &Heartbeat) -> Result<()> {
        let saved = self.exec(
            "UPDATE heartbeats SET state = ?2, last_ping = ?3, due_at = ?4, down_since = ?5, \
             reason = ?6 WHERE id = ?1",
            params![
                h.id,
                h.state.as_str(),
                opt_ms(h.last_ping),
                opt_ms(h.due_at),
                opt_ms(h.down_since),
                h.reason
            ],
        )?;
        if saved == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_heartbeat(&mut self, id: i64) -> Result<()> {
        if self.exec("DELETE FROM heartbeats WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Heartbeats));
        Ok(())
    }
}

#[async_trait]
impl HeartbeatStore for SqliteStore {
    async fn list_heartbeats(&self) -> Result<Vec<Heartbeat>> {
        self.read(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM heartbeats ORDER BY name");
            rows::all(conn, &sql, [], heartbeat)
        })
        .await
    }

    async fn get_heartbeat(&self, id: i64) -> Result<Option<Heartbeat>> {
        self.read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM heartbeats WHERE id = ?1");
            rows::one(conn, &sql, [id], heartbeat)
        })
        .await
    }

    async fn heartbeat_by_key(&self, key_hash: &str) -> Result<Option<Heartbeat>> {
        let key_hash = key_hash.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM heartbeats WHERE key_hash = ?1");
            rows::one(conn, &sql, [key_hash], heartbeat)
        })
        .await
    }

    async fn overdue_heartbeats(&self, now: Timestamp, limit: u32) -> Result<Vec<Heartbeat>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM heartbeats WHERE state = 'up' AND due_at <= ?1 \
                 ORDER BY due_at, id LIMIT ?2"
            );
            rows::all(conn, &sql, params![ms(now), limit], heartbeat)
        })
        .await
    }

    async fn next_heartbeat_due(&self) -> Result<Option<Timestamp>> {
        self.read(|conn| {
            let due: Option<i64> = rows::one(
                conn,
                "SELECT min(due_at) AS due FROM heartbeats WHERE state = 'up'",
                [],
                |r| rows::get(r, "due"),
            )?
            .flatten();
            due.map(|d| Timestamp::from_millisecond(d).map_err(StoreError::backend))
                .transpose()
        })
        .await
    }
}
