//! Declared change freezes and break-glass grants on SQLite.

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
use rusqlite::{Row, params};

use crate::SqliteStore;
use crate::rows::{self, ms, opt_ms};
use crate::tx::SqliteTx;

const FREEZE_COLUMNS: &str =
    "id, starts_at, ends_at, services, reason, created_by, created_at, ended_at";

fn freeze(row: &Row<'_>) -> Result<Freeze> {
    let services: String = rows::get(row, "services")?;
    let services: Vec<String> = serde_json::from_str(&services).map_err(StoreError::backend)?;
    Ok(Freeze {
        id: rows::get(row, "id")?,
        starts_at: rows::ts(row, "starts_at")?,
        ends_at: rows::ts(row, "ends_at")?,
        services: services
            .iter()
            .map(|s| Name::parse(s).map_err(StoreError::backend))
            .collect::<Result<_>>()?,
        reason: rows::get(row, "reason")?,
        created_by: rows::get(row, "created_by")?,
        created_at: rows::ts(row, "created_at")?,
        ended_at: rows::opt_ts(row, "ended_at")?,
    })
}

const GRANT_COLUMNS: &str = "id, incident, user_handle, role, reason, requested_at, duration_ms, \
     granted_at, approved_by, ended_at, end_reason";

fn grant(row: &Row<'_>) -> Result<Grant> {
    let role: String = rows::get(row, "role")?;
    Ok(Grant {
        id: rows::get(row, "id")?,
        incident: IncidentNumber(rows::get(row, "incident")?),
        user: rows::name_at(row, "user_handle")?,
        role: role.parse::<AccessRole>().map_err(StoreError::backend)?,
        reason: rows::get(row, "reason")?,
        requested_at: rows::ts(row, "requested_at")?,
        duration: SignedDuration::from_millis(rows::get(row, "duration_ms")?),
        granted_at: rows::opt_ts(row, "granted_at")?,
        approved_by: rows::get(row, "approved_by")?,
        ended_at: rows::opt_ts(row, "ended_at")?,
        end_reason: rows::get(row, "end_reason")?,
    })
}

const RUN_COLUMNS: &str = "id, incident, runbook, action, requested_by, params, shown, status, \
     requested_at, approve_by, approved_by, started_at, finished_at, heartbeat_at, exit_code, \
     output, error, break_glass";

fn run(row: &Row<'_>) -> Result<ActionRun> {
    let params: String = rows::get(row, "params")?;
    let shown: String = rows::get(row, "shown")?;
    let status: String = rows::get(row, "status")?;
    Ok(ActionRun {
        id: rows::get(row, "id")?,
        incident: IncidentNumber(rows::get(row, "incident")?),
        runbook: rows::get(row, "runbook")?,
        action: rows::get(row, "action")?,
        requested_by: rows::get(row, "requested_by")?,
        params: serde_json::from_str(&params).map_err(StoreError::backend)?,
        shown: codec::shown_from_json(&shown)?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(format!("unknown run status {status:?}")))?,
        requested_at: rows::ts(row, "requested_at")?,
        approve_by: rows::opt_ts(row, "approve_by")?,
        approved_by: rows::get(row, "approved_by")?,
        started_at: rows::opt_ts(row, "started_at")?,
        finished_at: rows::opt_ts(row, "finished_at")?,
        heartbeat_at: rows::opt_ts(row, "heartbeat_at")?,
        exit_code: rows::get(row, "exit_code")?,
        output: rows::get(row, "output")?,
        error: rows::get(row, "error")?,
        break_glass: rows::get(row, "break_glass")?,
    })
}

fn names(services: &[Name]) -> Result<String> {
    serde_json::to_string(&services.iter().map(Name::as_str).collect::<Vec<_>>())
        .map_err(StoreError::backend)
}

#[async_trait]
impl StabilizeWrites for SqliteTx<'_> {
    async fn create_freeze(&mut self, f: &Freeze) -> Result<Freeze> {
        let id = rows::one(
            self.conn(),
            "INSERT INTO freezes (starts_at, ends_at, services, reason, created_by, created_at, \
             ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            params![
                ms(f.starts_at),
                ms(f.ends_at),
                names(&f.services)?,
                f.reason,
                f.created_by,
                ms(f.created_at),
                opt_ms(f.ended_at)
            ],
            |r| rows::get(r, "id"),
        )?
        .ok_or_else(|| StoreError::backend("a new freeze got no id"))?;
        self.changed(Change::Directory(Topic::Freezes));
        Ok(Freeze { id, ..f.clone() })
    }

    async fn lock_freeze(&mut self, id: i64) -> Result<Option<Freeze>> {
        let sql = format!("SELECT {FREEZE_COLUMNS} FROM freezes WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], freeze)
    }

    async fn end_freeze(&mut self, id: i64, at: Timestamp) -> Result<()> {
        if self.exec(
            "UPDATE freezes SET ended_at = ?2 WHERE id = ?1",
            params![id, ms(at)],
        )? == 0
        {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Freezes));
        Ok(())
    }

    async fn create_grant(&mut self, g: &Grant) -> Result<Grant> {
        let id = rows::one(
            self.conn(),
            "INSERT INTO break_glass_grants (incident, user_handle, role, reason, requested_at, \
             duration_ms, granted_at, approved_by, ended_at, end_reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
            params![
                g.incident.0,
                g.user.as_str(),
                g.role.as_str(),
                g.reason,
                ms(g.requested_at),
                g.duration.as_millis() as i64,
                opt_ms(g.granted_at),
                g.approved_by,
                opt_ms(g.ended_at),
                g.end_reason
            ],
            |r| rows::get(r, "id"),
        )?
        .ok_or_else(|| StoreError::backend("a new grant got no id"))?;
        self.changed(Change::Directory(Topic::Grants));
        Ok(Grant { id, ..g.clone() })
    }

    async fn lock_grant(&mut self, id: i64) -> Result<Option<Grant>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM break_glass_grants WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], grant)
    }

    async fn save_grant(&mut self, g: &Grant) -> Result<()> {
        if self.exec(
            "UPDATE break_glass_grants SET granted_at = ?2, approved_by = ?3, ended_at = ?4, \
             end_reason = ?5 WHERE id = ?1",
            params![
                g.id,
                opt_ms(g.granted_at),
                g.approved_by,
                opt_ms(g.ended_at),
                g.end_reason
            ],
        )? == 0
        {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Grants));
        Ok(())
    }

    async fn lock_open_grants(&mut self, incident: IncidentNumber) -> Result<Vec<Grant>> {
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM break_glass_grants \
             WHERE incident = ?1 AND ended_at IS NULL ORDER BY id"
        );
        rows::all(self.conn(), &sql, [incident.0], grant)
    }

    async fn create_run(&mut self, r: &ActionRun) -> Result<ActionRun> {
        let params = serde_json::to_string(&r.params).map_err(StoreError::backend)?;
        let id = rows::one(
            self.conn(),
            "INSERT INTO action_runs (incident, runbook, action, requested_by, params, shown, \
             status, requested_at, approve_by, approved_by, started_at, finished_at, \
             heartbeat_at, exit_code, output, error, break_glass) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             RETURNING id",
            params![
                r.incident.0,
                r.runbook,
                r.action,
                r.requested_by,
                params,
                codec::shown_to_json(&r.shown),
                r.status.as_str(),
                ms(r.requested_at),
                opt_ms(r.approve_by),
                r.approved_by,
                opt_ms(r.started_at),
                opt_ms(r.finished_at),
                opt_ms(r.heartbeat_at),
                r.exit_code,
                r.output,
                r.error,
                r.break_glass
            ],
            |row| rows::get(row, "id"),
        )?
        .ok_or_else(|| StoreError::backend("a new action run got no id"))?;
        self.changed(Change::Incident { number: r.incident });
        Ok(ActionRun { id, ..r.clone() })
    }

    async fn lock_run(&mut self, id: i64) -> Result<Option<ActionRun>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM action_runs WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], run)
    }

    async fn save_run(&mut self, r: &ActionRun) -> Result<()> {
        if self.exec(
            "UPDATE action_runs SET status = ?2, approved_by = ?3, started_at = ?4, \
             finished_at = ?5, heartbeat_at = ?6, exit_code = ?7, output = ?8, error = ?9 \
             WHERE id = ?1",
            params![
                r.id,
                r.status.as_str(),
                r.approved_by,
                opt_ms(r.started_at),
                opt_ms(r.finished_at),
                opt_ms(r.heartbeat_at),
                r.exit_code,
                r.output,
                r.error
            ],
        )? == 0
        {
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
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM action_runs WHERE incident = ?1 AND action = ?2 \
             AND status IN ('pending_approval', 'running') ORDER BY id"
        );
        rows::all(self.conn(), &sql, params![incident.0, action], run)
    }

    async fn lock_waiting_runs(&mut self, incident: IncidentNumber) -> Result<Vec<ActionRun>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM action_runs WHERE incident = ?1 \
             AND status = 'pending_approval' ORDER BY id"
        );
        rows::all(self.conn(), &sql, [incident.0], run)
    }

    async fn put_runbook(&mut self, r: &RunbookRecord) -> Result<bool> {
        let existed: bool = rows::one(
            self.conn(),
            "SELECT 1 AS one FROM runbooks WHERE name = ?1",
            [r.runbook.name.as_str()],
            |_| Ok(true),
        )?
        .unwrap_or(false);
        self.exec(
            "INSERT INTO runbooks (name, definition, created_by, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO UPDATE SET \
             definition = excluded.definition, updated_at = excluded.updated_at",
            params![
                r.runbook.name.as_str(),
                codec::runbook_to_json(&r.runbook),
                r.created_by,
                ms(r.created_at),
                ms(r.updated_at)
            ],
        )?;
        self.changed(Change::Directory(Topic::Runbooks));
        Ok(!existed)
    }

    async fn delete_runbook(&mut self, name: &str) -> Result<()> {
        if self.exec("DELETE FROM runbooks WHERE name = ?1", [name])? == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Runbooks));
        Ok(())
    }
}

fn runbook_record(row: &Row<'_>) -> Result<RunbookRecord> {
    let definition: String = rows::get(row, "definition")?;
    Ok(RunbookRecord {
        runbook: codec::runbook_from_json(&definition)?,
        created_by: rows::get(row, "created_by")?,
        created_at: rows::ts(row, "created_at")?,
        updated_at: rows::ts(row, "updated_at")?,
    })
}

#[async_trait]
impl StabilizeStore for SqliteStore {
    async fn list_freezes(&self, after: Timestamp) -> Result<Vec<Freeze>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {FREEZE_COLUMNS} FROM freezes \
                 WHERE ends_at > ?1 AND (ended_at IS NULL OR ended_at > ?1) \
                 ORDER BY starts_at, id"
            );
            rows::all(conn, &sql, [ms(after)], freeze)
        })
        .await
    }

    async fn get_grant(&self, id: i64) -> Result<Option<Grant>> {
        self.read(move |conn| {
            let sql = format!("SELECT {GRANT_COLUMNS} FROM break_glass_grants WHERE id = ?1");
            rows::one(conn, &sql, [id], grant)
        })
        .await
    }

    async fn live_grants(&self, after: Timestamp) -> Result<Vec<Grant>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {GRANT_COLUMNS} FROM break_glass_grants \
                 WHERE ended_at IS NULL AND (granted_at IS NULL OR granted_at + duration_ms > ?1) \
                 ORDER BY id"
            );
            rows::all(conn, &sql, [ms(after)], grant)
        })
        .await
    }

    async fn incident_grants(&self, incident: IncidentNumber) -> Result<Vec<Grant>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {GRANT_COLUMNS} FROM break_glass_grants WHERE incident = ?1 ORDER BY id"
            );
            rows::all(conn, &sql, [incident.0], grant)
        })
        .await
    }

    async fn get_run(&self, id: i64) -> Result<Option<ActionRun>> {
        self.read(move |conn| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM action_runs WHERE id = ?1");
            rows::one(conn, &sql, [id], run)
        })
        .await
    }

    async fn incident_runs(&self, incident: IncidentNumber) -> Result<Vec<ActionRun>> {
        self.read(move |conn| {
            let sql =
                format!("SELECT {RUN_COLUMNS} FROM action_runs WHERE incident = ?1 ORDER BY id");
            rows::all(conn, &sql, [incident.0], run)
        })
        .await
    }

    async fn list_runbooks(&self) -> Result<Vec<RunbookRecord>> {
        self.read(|conn| {
            rows::all(
                conn,
                "SELECT name, definition, created_by, created_at, updated_at FROM runbooks \
                 ORDER BY name",
                [],
                runbook_record,
            )
        })
        .await
    }

    async fn stale_runs(&self, before: Timestamp, now: Timestamp) -> Result<Vec<ActionRun>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM action_runs WHERE \
                 (status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?1)) \
                 OR (status = 'pending_approval' AND approve_by <= ?2) ORDER BY id"
            );
            rows::all(conn, &sql, params![ms(before), ms(now)], run)
        })
        .await
    }
}
