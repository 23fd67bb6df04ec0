//! Declared change freezes and break-glass grants on PostgreSQL.

use async_trait::async_trait;
use firebreak_domain::action::{ActionRun, RunStatus};
use firebreak_domain::break_glass::Grant;
use firebreak_domain::freeze::Freeze;
use firebreak_domain::{AccessRole, IncidentNumber, Name};
use firebreak_store::feed::Topic;
use firebreak_store::{
    Change, Result, RunbookRecord, StabilizeStore, StabilizeWrites, StoreError, codec,
};
use jiff::{SignedDuration, Timestamp};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, get, ms_opt};
use crate::tx::PgTx;

const FREEZE_COLUMNS: &str =
    "id, starts_at, ends_at, services, reason, created_by, created_at, ended_at";

fn freeze(row: &PgRow) -> Result<Freeze> {
    let services: String = get(row, "services")?;
    let services: Vec<String> = serde_json::from_str(&services).map_err(StoreError::backend)?;
    Ok(Freeze {
        id: get(row, "id")?,
        starts_at: rows::ts(get(row, "starts_at")?)?,
        ends_at: rows::ts(get(row, "ends_at")?)?,
        services: services
            .iter()
            .map(|s| rows::name(s))
            .collect::<Result<_>>()?,
        reason: get(row, "reason")?,
        created_by: get(row, "created_by")?,
        created_at: rows::ts(get(row, "created_at")?)?,
        ended_at: rows::ts_opt(get(row, "ended_at")?)?,
    })
}

const GRANT_COLUMNS: &str = "id, incident, user_handle, role, reason, requested_at, duration_ms, \
     granted_at, approved_by, ended_at, end_reason";

fn grant(row: &PgRow) -> Result<Grant> {
    let role: String = get(row, "role")?;
    Ok(Grant {
        id: get(row, "id")?,
        incident: IncidentNumber(get(row, "incident")?),
        user: rows::name(&get::<String>(row, "user_handle")?)?,
        role: role.parse::<AccessRole>().map_err(StoreError::backend)?,
        reason: get(row, "reason")?,
        requested_at: rows::ts(get(row, "requested_at")?)?,
        duration: SignedDuration::from_millis(get(row, "duration_ms")?),
        granted_at: rows::ts_opt(get(row, "granted_at")?)?,
        approved_by: get(row, "approved_by")?,
        ended_at: rows::ts_opt(get(row, "ended_at")?)?,
        end_reason: get(row, "end_reason")?,
    })
}

const RUN_COLUMNS: &str = "id, incident, runbook, action, requested_by, params, shown, status, \
     requested_at, approve_by, approved_by, started_at, finished_at, heartbeat_at, exit_code, \
     output, error, break_glass";

fn run(row: &PgRow) -> Result<ActionRun> {
    let params: String = get(row, "params")?;
    let shown: String = get(row, "shown")?;
    let status: String = get(row, "status")?;
    Ok(ActionRun {
        id: get(row, "id")?,
        incident: IncidentNumber(get(row, "incident")?),
        runbook: get(row, "runbook")?,
        action: get(row, "action")?,
        requested_by: get(row, "requested_by")?,
        params: serde_json::from_str(&params).map_err(StoreError::backend)?,
        shown: codec::shown_from_json(&shown)?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(format!("unknown run status {status:?}")))?,
        requested_at: rows::ts(get(row, "requested_at")?)?,
        approve_by: rows::ts_opt(get(row, "approve_by")?)?,
        approved_by: get(row, "approved_by")?,
        started_at: rows::ts_opt(get(row, "started_at")?)?,
        finished_at: rows::ts_opt(get(row, "finished_at")?)?,
        heartbeat_at: rows::ts_opt(get(row, "heartbeat_at")?)?,
        exit_code: get(row, "exit_code")?,
        output: get(row, "output")?,
        error: get(row, "error")?,
        break_glass: get(row, "break_glass")?,
    })
}

fn names(services: &[Name]) -> Result<String> {
    serde_json::to_string(&services.iter().map(Name::as_str).collect::<Vec<_>>())
        .map_err(StoreError::backend)
}

#[async_trait]
impl StabilizeWrites for PgTx<'_> {
    async fn create_freeze(&mut self, f: &Freeze) -> Result<Freeze> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO freezes (starts_at, ends_at, services, reason, created_by, created_at, \
             ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(f.starts_at.as_millisecond())
        .bind(f.ends_at.as_millisecond())
        .bind(names(&f.services)?)
        .bind(&f.reason)
        .bind(&f.created_by)
        .bind(f.created_at.as_millisecond())
        .bind(ms_opt(f.ended_at))
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Directory(Topic::Freezes));
        Ok(Freeze { id, ..f.clone() })
    }

    async fn lock_freeze(&mut self, id: i64) -> Result<Option<Freeze>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {FREEZE_COLUMNS} FROM freezes WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| freeze(&r))
        .transpose()
    }

    async fn end_freeze(&mut self, id: i64, at: Timestamp) -> Result<()> {
        let done = sqlx::query("UPDATE freezes SET ended_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at.as_millisecond())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Freezes));
        Ok(())
    }

    async fn create_grant(&mut self, g: &Grant) -> Result<Grant> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO break_glass_grants (incident, user_handle, role, reason, requested_at, \
             duration_ms, granted_at, approved_by, ended_at, end_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(g.incident.0)
        .bind(g.user.as_str())
        .bind(g.role.as_str())
        .bind(&g.reason)
        .bind(g.requested_at.as_millisecond())
        .bind(g.duration.as_millis() as i64)
        .bind(ms_opt(g.granted_at))
        .bind(g.approved_by.as_deref())
        .bind(ms_opt(g.ended_at))
        .bind(g.end_reason.as_deref())
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Directory(Topic::Grants));
        Ok(Grant { id, ..g.clone() })
    }

    async fn lock_grant(&mut self, id: i64) -> Result<Option<Grant>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM break_glass_grants WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| grant(&r))
        .transpose()
    }

    async fn save_grant(&mut self, g: &Grant) -> Result<()> {
        let done = sqlx::query(
            "UPDATE break_glass_grants SET granted_at = $2, approved_by = $3, ended_at = $4, \
             end_reason = $5 WHERE id = $1",
        )
        .bind(g.id)
        .bind(ms_opt(g.granted_at))
        .bind(g.approved_by.as_deref())
        .bind(ms_opt(g.ended_at))
        .bind(g.end_reason.as_deref())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Grants));
        Ok(())
    }

    async fn lock_open_grants(&mut self, incident: IncidentNumber) -> Result<Vec<Grant>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM break_glass_grants \
             WHERE incident = $1 AND ended_at IS NULL ORDER BY id FOR UPDATE"
        )))
        .bind(incident.0)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?
        .iter()
        .map(grant)
        .collect()
    }

    async fn create_run(&mut self, r: &ActionRun) -> Result<ActionRun> {
        let params = serde_json::to_string(&r.params).map_err(StoreError::backend)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO action_runs (incident, runbook, action, requested_by, params, shown, \
             status, requested_at, approve_by, approved_by, started_at, finished_at, \
             heartbeat_at, exit_code, output, error, break_glass) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             RETURNING id",
        )
        .bind(r.incident.0)
        .bind(&r.runbook)
        .bind(&r.action)
        .bind(&r.requested_by)
        .bind(params)
        .bind(codec::shown_to_json(&r.shown))
        .bind(r.status.as_str())
        .bind(r.requested_at.as_millisecond())
        .bind(ms_opt(r.approve_by))
        .bind(r.approved_by.as_deref())
        .bind(ms_opt(r.started_at))
        .bind(ms_opt(r.finished_at))
        .bind(ms_opt(r.heartbeat_at))
        .bind(r.exit_code)
        .bind(&r.output)
        .bind(r.error.as_deref())
        .bind(r.break_glass)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Incident { number: r.incident });
        Ok(ActionRun { id, ..r.clone() })
    }

    async fn lock_run(&mut self, id: i64) -> Result<Option<ActionRun>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM action_runs WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| run(&r))
        .transpose()
    }

    async fn save_run(&mut self, r: &ActionRun) -> Result<()> {
        let done = sqlx::query(
            "UPDATE action_runs SET status = $2, approved_by = $3, started_at = $4, \
             finished_at = $5, heartbeat_at = $6, exit_code = $7, output = $8, error = $9 \
             WHERE id = $1",
        )
        .bind(r.id)
        .bind(r.status.as_str())
        .bind(r.approved_by.as_deref())
        .bind(ms_opt(r.started_at))
        .bind(ms_opt(r.finished_at))
        .bind(ms_opt(r.heartbeat_at))
        .bind(r.exit_code)
        .bind(&r.output)
        .bind(r.error.as_deref())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Incident { number: r.incident });
        Ok(())
    }

    async fn lock_open_runs(
        &mut self,
        incident: IncidentNumber,
        action: &str,
    ) -> Result<Vec<ActionRun>> {
        // The incident's row is the lock: two requests for the same action queue on it.
        sqlx::query("SELECT number FROM incidents WHERE number = $1 FOR UPDATE")
            .bind(incident.0)
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM action_runs WHERE incident = $1 AND action = $2 \
             AND status IN ('pending_approval', 'running') ORDER BY id FOR UPDATE"
        )))
        .bind(incident.0)
        .bind(action)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?
        .iter()
        .map(run)
        .collect()
    }

    async fn lock_waiting_runs(&mut self, incident: IncidentNumber) -> Result<Vec<ActionRun>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM action_runs WHERE incident = $1 \
             AND status = 'pending_approval' ORDER BY id FOR UPDATE"
        )))
        .bind(incident.0)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?
        .iter()
        .map(run)
        .collect()
    }

    async fn put_runbook(&mut self, r: &RunbookRecord) -> Result<bool> {
        // `xmax = 0` only for a row this statement inserted.
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO runbooks (name, definition, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
             definition = EXCLUDED.definition, updated_at = EXCLUDED.updated_at \
             RETURNING (xmax = 0)",
        )
        .bind(r.runbook.name.as_str())
        .bind(codec::runbook_to_json(&r.runbook))
        .bind(&r.created_by)
        .bind(r.created_at.as_millisecond())
        .bind(r.updated_at.as_millisecond())
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Directory(Topic::Runbooks));
        Ok(inserted)
    }

    async fn delete_runbook(&mut self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM runbooks WHERE name = $1")
            .bind(name)
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Runbooks));
        Ok(())
    }
}

fn runbook_record(row: &PgRow) -> Result<RunbookRecord> {
    let definition: String = get(row, "definition")?;
    Ok(RunbookRecord {
        runbook: codec::runbook_from_json(&definition)?,
        created_by: get(row, "created_by")?,
        created_at: rows::ts(get(row, "created_at")?)?,
        updated_at: rows::ts(get(row, "updated_at")?)?,
    })
}

#[async_trait]
impl StabilizeStore for PostgresStore {
    async fn list_freezes(&self, after: Timestamp) -> Result<Vec<Freeze>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {FREEZE_COLUMNS} FROM freezes \
             WHERE ends_at > $1 AND (ended_at IS NULL OR ended_at > $1) ORDER BY starts_at, id"
        )))
        .bind(after.as_millisecond())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(freeze)
        .collect()
    }

    async fn get_grant(&self, id: i64) -> Result<Option<Grant>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM break_glass_grants WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| grant(&r))
        .transpose()
    }

    async fn live_grants(&self, after: Timestamp) -> Result<Vec<Grant>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM break_glass_grants \
             WHERE ended_at IS NULL AND (granted_at IS NULL OR granted_at + duration_ms > $1) \
             ORDER BY id"
        )))
        .bind(after.as_millisecond())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(grant)
        .collect()
    }

    async fn incident_grants(&self, incident: IncidentNumber) -> Result<Vec<Grant>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM break_glass_grants WHERE incident = $1 ORDER BY id"
        )))
        .bind(incident.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(grant)
        .collect()
    }

    async fn get_run(&self, id: i64) -> Result<Option<ActionRun>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM action_runs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| run(&r))
        .transpose()
    }

    async fn incident_runs(&self, incident: IncidentNumber) -> Result<Vec<ActionRun>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM action_runs WHERE incident = $1 ORDER BY id"
        )))
        .bind(incident.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(run)
        .collect()
    }

    async fn list_runbooks(&self) -> Result<Vec<RunbookRecord>> {
        sqlx::query(
            "SELECT name, definition, created_by, created_at, updated_at FROM runbooks ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(runbook_record)
        .collect()
    }

    async fn stale_runs(&self, before: Timestamp, now: Timestamp) -> Result<Vec<ActionRun>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM action_runs WHERE \
             (status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < $1)) \
             OR (status = 'pending_approval' AND approve_by <= $2) ORDER BY id"
        )))
        .bind(before.as_millisecond())
        .bind(now.as_millisecond())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(run)
        .collect()
    }
}
