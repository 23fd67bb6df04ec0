//! Game days on SQLite.

use async_trait::async_trait;
use firebreak_domain::gameday::ScoreCard;
use firebreak_domain::{Alert, IncidentNumber};
use firebreak_store::codec;
use firebreak_store::{GameDayRecord, GameDayStore, GameDayWrites, Result, StoreError};
use jiff::Timestamp;
use rusqlite::{Row, params};

use crate::SqliteStore;
use crate::rows::{self, ALERT_COLUMNS, ms, opt_ms};
use crate::tx::SqliteTx;

const COLUMNS: &str = "id, name, service, severity, targets, started_by, started_at, \
     finished_at, card, incident";

fn gameday(row: &Row<'_>) -> Result<GameDayRecord> {
    let card: Option<String> = rows::get(row, "card")?;
    let incident: Option<i64> = rows::get(row, "incident")?;
    Ok(GameDayRecord {
        id: rows::get(row, "id")?,
        name: rows::get(row, "name")?,
        service: rows::name_at(row, "service")?,
        severity: rows::get(row, "severity")?,
        targets: codec::targets_from(&rows::get::<String>(row, "targets")?)?,
        started_by: rows::get(row, "started_by")?,
        started_at: rows::ts(row, "started_at")?,
        finished_at: rows::opt_ts(row, "finished_at")?,
        card: codec::card_from(card.as_deref())?,
        incident: incident.map(IncidentNumber),
    })
}

#[async_trait]
impl GameDayWrites for SqliteTx<'_> {
    async fn create_gameday(&mut self, g: &GameDayRecord) -> Result<GameDayRecord> {
        self.exec(
            "INSERT INTO gamedays (name, service, severity, targets, started_by, started_at, \
             finished_at, card, passed, total, incident) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                g.name,
                g.service.as_str(),
                g.severity,
                codec::targets_json(&g.targets),
                g.started_by,
                ms(g.started_at),
                opt_ms(g.finished_at),
                g.card.as_ref().map(codec::card_json),
                g.card.as_ref().map(|c| c.passed() as i64),
                g.card.as_ref().map(|c| c.total() as i64),
                g.incident.map(|n| n.0),
            ],
        )?;
        let id = self.conn().last_insert_rowid();
        Ok(GameDayRecord { id, ..g.clone() })
    }

    async fn lock_gameday(&mut self, id: i64) -> Result<Option<GameDayRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM gamedays WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], gameday)
    }

    async fn finish_gameday(
        &mut self,
        id: i64,
        at: Timestamp,
        card: &ScoreCard,
        incident: Option<IncidentNumber>,
    ) -> Result<()> {
        let saved = self.exec(
            "UPDATE gamedays SET finished_at = ?2, card = ?3, passed = ?4, total = ?5, \
             incident = ?6 WHERE id = ?1",
            params![
                id,
                ms(at),
                codec::card_json(card),
                card.passed() as i64,
                card.total() as i64,
                incident.map(|n| n.0),
            ],
        )?;
        if saved == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl GameDayStore for SqliteStore {
    async fn get_gameday(&self, id: i64) -> Result<Option<GameDayRecord>> {
        self.read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM gamedays WHERE id = ?1");
            rows::one(conn, &sql, [id], gameday)
        })
        .await
    }

    async fn list_gamedays(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<GameDayRecord>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM gamedays WHERE (?1 IS NULL OR started_at >= ?1) \
                 AND (?2 IS NULL OR started_at < ?2) ORDER BY started_at DESC, id DESC LIMIT ?3"
            );
            rows::all(
                conn,
                &sql,
                params![opt_ms(from), opt_ms(to), limit],
                gameday,
            )
        })
        .await
    }

    async fn gameday_alerts(&self, id: i64) -> Result<Vec<Alert>> {
        self.read(move |conn| {
            let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE gameday = ?1 ORDER BY id");
            rows::all(conn, &sql, [id], rows::alert)
        })
        .await
    }
}
