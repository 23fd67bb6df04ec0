//! Game days on PostgreSQL.

use async_trait::async_trait;
use firebreak_domain::gameday::ScoreCard;
use firebreak_domain::{Alert, IncidentNumber};
use firebreak_store::codec;
use firebreak_store::{GameDayRecord, GameDayStore, GameDayWrites, Result};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, ALERT_COLUMNS, get, ms_opt};
use crate::tx::PgTx;

const COLUMNS: &str = "id, name, service, severity, targets, started_by, started_at, \
     finished_at, card, incident";

fn gameday(row: &PgRow) -> Result<GameDayRecord> {
    let card: Option<String> = get(row, "card")?;
    let incident: Option<i64> = get(row, "incident")?;
    Ok(GameDayRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        service: rows::name(&get::<String>(row, "service")?)?,
        severity: get(row, "severity")?,
        targets: codec::targets_from(&get::<String>(row, "targets")?)?,
        started_by: get(row, "started_by")?,
        started_at: rows::ts(get(row, "started_at")?)?,
        finished_at: rows::ts_opt(get(row, "finished_at")?)?,
        card: codec::card_from(card.as_deref())?,
        incident: incident.map(IncidentNumber),
    })
}

#[async_trait]
impl GameDayWrites for PgTx<'_> {
    async fn create_gameday(&mut self, g: &GameDayRecord) -> Result<GameDayRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO gamedays (name, service, severity, targets, started_by, started_at, \
             finished_at, card, passed, total, incident) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&g.name)
        .bind(g.service.as_str())
        .bind(&g.severity)
        .bind(codec::targets_json(&g.targets))
        .bind(&g.started_by)
        .bind(g.started_at.as_millisecond())
        .bind(ms_opt(g.finished_at))
        .bind(g.card.as_ref().map(codec::card_json))
        .bind(g.card.as_ref().map(|c| c.passed() as i32))
        .bind(g.card.as_ref().map(|c| c.total() as i32))
        .bind(g.incident.map(|n| n.0))
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(GameDayRecord { id, ..g.clone() })
    }

    async fn lock_gameday(&mut self, id: i64) -> Result<Option<GameDayRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gamedays WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| gameday(&r))
        .transpose()
    }

    async fn finish_gameday(
        &mut self,
        id: i64,
        at: Timestamp,
        card: &ScoreCard,
        incident: Option<IncidentNumber>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE gamedays SET finished_at = $2, card = $3, passed = $4, total = $5, \
             incident = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(at.as_millisecond())
        .bind(codec::card_json(card))
        .bind(card.passed() as i32)
        .bind(card.total() as i32)
        .bind(incident.map(|n| n.0))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        rows::found(done.rows_affected())
    }
}

#[async_trait]
impl GameDayStore for PostgresStore {
    async fn get_gameday(&self, id: i64) -> Result<Option<GameDayRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gamedays WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| gameday(&r))
        .transpose()
    }

    async fn list_gamedays(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<GameDayRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gamedays WHERE ($1::BIGINT IS NULL OR started_at >= $1) \
             AND ($2::BIGINT IS NULL OR started_at < $2) ORDER BY started_at DESC, id DESC LIMIT $3"
        )))
        .bind(ms_opt(from))
        .bind(ms_opt(to))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(gameday)
        .collect()
    }

    async fn gameday_alerts(&self, id: i64) -> Result<Vec<Alert>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE gameday = $1 ORDER BY id"
        )))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(rows::alert)
        .collect()
    }
}
