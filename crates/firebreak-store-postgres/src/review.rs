//! Postmortems, action items and the reports' reads on PostgreSQL.

use async_trait::async_trait;
use firebreak_domain::action_item::{ActionItem, ItemStatus};
use firebreak_domain::postmortem::{PostmortemStatus, Section};
use firebreak_domain::{IncidentNumber, Name};
use firebreak_store::feed::Topic;
use firebreak_store::review::ROLLBACK_LEAD;
use firebreak_store::{
    ActionItemFilter, Change, DeployFailureRow, DeployLink, Dismissal, IncidentRow, ItemRow, Page,
    PostmortemRecord, Result, ReviewStore, ReviewWrites, Revision, StoreError,
};
use firebreak_store::{DaySplit, span_counts};
use futures_util::TryStreamExt;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;
use std::collections::{BTreeMap, HashMap};

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, get, get_at, ms_opt};
use crate::tx::PgTx;

const POSTMORTEM_COLUMNS: &str = "number, status, version, sections, dismissed, created_at, \
     updated_at, updated_by, published_at";

fn status(s: &str) -> Result<PostmortemStatus> {
    PostmortemStatus::parse(s)
        .ok_or_else(|| StoreError::backend(format!("unknown postmortem status {s:?}")))
}

fn sections_json(sections: &[Section]) -> Result<String> {
    serde_json::to_string(sections).map_err(StoreError::backend)
}

fn sections_of(row: &PgRow) -> Result<Vec<Section>> {
    let text: String = get(row, "sections")?;
    serde_json::from_str(&text).map_err(StoreError::backend)
}

fn postmortem(row: &PgRow) -> Result<PostmortemRecord> {
    let dismissed: String = get(row, "dismissed")?;
    Ok(PostmortemRecord {
        number: IncidentNumber(get(row, "number")?),
        status: status(&get::<String>(row, "status")?)?,
        version: get(row, "version")?,
        sections: sections_of(row)?,
        dismissed: serde_json::from_str::<Vec<Dismissal>>(&dismissed)
            .map_err(StoreError::backend)?,
        created_at: rows::ts(get(row, "created_at")?)?,
        updated_at: rows::ts(get(row, "updated_at")?)?,
        updated_by: get(row, "updated_by")?,
        published_at: rows::ts_opt(get(row, "published_at")?)?,
    })
}

const ITEM_COLUMNS: &str = "id, incident, title, owner, due, ticket_url, status, reason, \
     created_at, created_by, updated_at, closed_at, reminded_on, version";

fn date(s: &str) -> Result<Date> {
    s.parse::<Date>()
        .map_err(|e| StoreError::backend(format!("bad stored date {s:?}: {e}")))
}

fn item(row: &PgRow) -> Result<ActionItem> {
    let status: String = get(row, "status")?;
    Ok(ActionItem {
        id: get(row, "id")?,
        incident: get::<Option<i64>>(row, "incident")?.map(IncidentNumber),
        title: get(row, "title")?,
        owner: rows::name(&get::<String>(row, "owner")?)?,
        due: date(&get::<String>(row, "due")?)?,
        ticket_url: get(row, "ticket_url")?,
        status: ItemStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(format!("unknown item status {status:?}")))?,
        reason: get(row, "reason")?,
        created_at: rows::ts(get(row, "created_at")?)?,
        created_by: get(row, "created_by")?,
        updated_at: rows::ts(get(row, "updated_at")?)?,
        closed_at: rows::ts_opt(get(row, "closed_at")?)?,
        reminded_on: get::<Option<String>>(row, "reminded_on")?
            .map(|d| date(&d))
            .transpose()?,
        version: get(row, "version")?,
    })
}

impl PgTx<'_> {
    async fn revision(&mut self, p: &PostmortemRecord, actor: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO postmortem_revisions (number, version, at, actor, status, sections) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.number.0)
        .bind(p.version)
        .bind(p.updated_at.as_millisecond())
        .bind(actor)
        .bind(p.status.as_str())
        .bind(sections_json(&p.sections)?)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The stored version of a row, checked against the one a save expects.
    fn check_version(stored: Option<i64>, expected: i64, what: &str) -> Result<()> {
        match stored {
            None => Err(StoreError::NotFound),
            Some(v) if v != expected => Err(StoreError::Conflict(format!(
                "{what} changed since version {expected}; it is at version {v}"
            ))),
            Some(_) => Ok(()),
        }
    }
}

#[async_trait]
impl ReviewWrites for PgTx<'_> {
    async fn create_postmortem(&mut self, p: &PostmortemRecord) -> Result<()> {
        let dismissed = serde_json::to_string(&p.dismissed).map_err(StoreError::backend)?;
        let added = sqlx::query(
            "INSERT INTO postmortems (number, status, version, sections, dismissed, created_at, \
             updated_at, updated_by, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT DO NOTHING",
        )
        .bind(p.number.0)
        .bind(p.status.as_str())
        .bind(p.version)
        .bind(sections_json(&p.sections)?)
        .bind(dismissed)
        .bind(p.created_at.as_millisecond())
        .bind(p.updated_at.as_millisecond())
        .bind(&p.updated_by)
        .bind(ms_opt(p.published_at))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(format!(
                "{} already has a postmortem",
                p.number
            )));
        }
        self.revision(p, &p.updated_by).await?;
        self.changed(Change::Incident { number: p.number });
        Ok(())
    }

    async fn lock_postmortem(
        &mut self,
        number: IncidentNumber,
    ) -> Result<Option<PostmortemRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {POSTMORTEM_COLUMNS} FROM postmortems WHERE number = $1 FOR UPDATE"
        )))
        .bind(number.0)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| postmortem(&r))
        .transpose()
    }

    async fn save_postmortem(&mut self, p: &PostmortemRecord, actor: &str) -> Result<()> {
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM postmortems WHERE number = $1 FOR UPDATE")
                .bind(p.number.0)
                .fetch_optional(&mut *self.conn)
                .await
                .map_err(db)?;
        Self::check_version(
            stored,
            p.version - 1,
            &format!("the postmortem of {}", p.number),
        )?;
        let dismissed = serde_json::to_string(&p.dismissed).map_err(StoreError::backend)?;
        sqlx::query(
            "UPDATE postmortems SET status = $2, version = $3, sections = $4, dismissed = $5, \
             updated_at = $6, updated_by = $7, published_at = $8 WHERE number = $1",
        )
        .bind(p.number.0)
        .bind(p.status.as_str())
        .bind(p.version)
        .bind(sections_json(&p.sections)?)
        .bind(dismissed)
        .bind(p.updated_at.as_millisecond())
        .bind(&p.updated_by)
        .bind(ms_opt(p.published_at))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        self.revision(p, actor).await?;
        self.changed(Change::Incident { number: p.number });
        Ok(())
    }

    async fn note_postmortem_reminder(
        &mut self,
        number: IncidentNumber,
        at: Timestamp,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO postmortem_reminders (number, at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(number.0)
        .bind(at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected()
            == 1)
    }

    async fn create_action_item(&mut self, i: &ActionItem) -> Result<ActionItem> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO action_items (incident, title, owner, due, ticket_url, status, reason, \
             created_at, created_by, updated_at, closed_at, reminded_on, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(i.incident.map(|n| n.0))
        .bind(&i.title)
        .bind(i.owner.as_str())
        .bind(i.due.to_string())
        .bind(i.ticket_url.as_deref())
        .bind(i.status.as_str())
        .bind(i.reason.as_deref())
        .bind(i.created_at.as_millisecond())
        .bind(&i.created_by)
        .bind(i.updated_at.as_millisecond())
        .bind(ms_opt(i.closed_at))
        .bind(i.reminded_on.map(|d| d.to_string()))
        .bind(i.version)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Directory(Topic::ActionItems));
        if let Some(number) = i.incident {
            self.changed(Change::Incident { number });
        }
        Ok(ActionItem { id, ..i.clone() })
    }

    async fn lock_action_item(&mut self, id: i64) -> Result<Option<ActionItem>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM action_items WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| item(&r))
        .transpose()
    }

    async fn save_action_item(&mut self, i: &ActionItem) -> Result<()> {
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM action_items WHERE id = $1 FOR UPDATE")
                .bind(i.id)
                .fetch_optional(&mut *self.conn)
                .await
                .map_err(db)?;
        Self::check_version(stored, i.version - 1, &format!("action item {}", i.id))?;
        sqlx::query(
            "UPDATE action_items SET incident = $2, title = $3, owner = $4, due = $5, \
             ticket_url = $6, status = $7, reason = $8, updated_at = $9, closed_at = $10, \
             reminded_on = $11, version = $12 WHERE id = $1",
        )
        .bind(i.id)
        .bind(i.incident.map(|n| n.0))
        .bind(&i.title)
        .bind(i.owner.as_str())
        .bind(i.due.to_string())
        .bind(i.ticket_url.as_deref())
        .bind(i.status.as_str())
        .bind(i.reason.as_deref())
        .bind(i.updated_at.as_millisecond())
        .bind(ms_opt(i.closed_at))
        .bind(i.reminded_on.map(|d| d.to_string()))
        .bind(i.version)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Directory(Topic::ActionItems));
        if let Some(number) = i.incident {
            self.changed(Change::Incident { number });
        }
        Ok(())
    }

    async fn lock_overdue_items(&mut self, today: Date, limit: u32) -> Result<Vec<ActionItem>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM action_items WHERE status = 'open' AND due < $1 \
             AND (reminded_on IS NULL OR reminded_on < $1) ORDER BY id LIMIT $2 \
             FOR UPDATE SKIP LOCKED"
        )))
        .bind(today.to_string())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?
        .iter()
        .map(item)
        .collect()
    }

    async fn note_items_reminded(&mut self, ids: &[i64], today: Date) -> Result<()> {
        sqlx::query("UPDATE action_items SET reminded_on = $2 WHERE id = ANY($1)")
            .bind(ids)
            .bind(today.to_string())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        Ok(())
    }
}

/// An incident's row of [`incident_rows`](ReviewStore::incident_rows), without its services.
/// An incident of the reports, its columns read by position (`incident_rows`).
fn incident_row(row: &PgRow) -> Result<IncidentRow> {
    let postmortem: Option<&str> = get_at(row, 8, "postmortem")?;
    Ok(IncidentRow {
        number: IncidentNumber(get_at(row, 0, "number")?),
        severity: get_at(row, 1, "severity")?,
        services: Vec::new(),
        drill: get_at(row, 2, "drill")?,
        detected_at: rows::ts(get_at(row, 3, "detected_at")?)?,
        declared_at: rows::ts(get_at(row, 4, "declared_at")?)?,
        acknowledged_at: rows::ts_opt(get_at(row, 5, "acknowledged_at")?)?,
        mitigated_at: rows::ts_opt(get_at(row, 6, "mitigated_at")?)?,
        resolved_at: rows::ts_opt(get_at(row, 7, "resolved_at")?)?,
        postmortem: postmortem.map(status).transpose()?,
    })
}

/// A failed deploy of the reports, its columns read by position (`deploy_failures`).
fn failure_row(row: &PgRow) -> Result<DeployFailureRow> {
    let link: &str = get_at(row, 5, "link")?;
    Ok(DeployFailureRow {
        deploy: get_at(row, 0, "id")?,
        service: rows::name(get_at(row, 1, "service")?)?,
        version: get_at(row, 2, "version")?,
        at: rows::ts(get_at(row, 3, "at")?)?,
        incident: IncidentNumber(get_at(row, 4, "number")?),
        link: if link == "rolled_back" {
            DeployLink::RolledBack
        } else {
            DeployLink::Suspect
        },
        severity: get_at(row, 6, "severity")?,
        detected_at: rows::ts(get_at(row, 7, "detected_at")?)?,
        drill: get_at(row, 8, "drill")?,
        mitigated_at: rows::ts_opt(get_at(row, 9, "mitigated_at")?)?,
        resolved_at: rows::ts_opt(get_at(row, 10, "resolved_at")?)?,
        deploy_drill: get_at(row, 11, "deploy_drill")?,
    })
}

/// The columns of [`failure_row`] for an incident's suspect deploy (`i`), which is always of
/// the incident's kind.
const SUSPECT_COLUMNS: &str = "i.suspect_deploy AS id, i.suspect_service AS service, \
    i.suspect_version AS version, i.suspect_at AS at, i.number, 'suspect' AS link, \
    i.severity, i.detected_at, i.drill, i.mitigated_at, i.resolved_at, i.drill AS deploy_drill";

/// The columns of [`failure_row`] for a deploy (`u`) that a rollback run for incident `i`
/// undid.
const ROLLED_BACK_COLUMNS: &str = "u.id, u.service, u.version, u.at, i.number, \
    'rolled_back' AS link, i.severity, i.detected_at, i.drill, i.mitigated_at, i.resolved_at, \
    u.drill AS deploy_drill";

/// One incident's row as [`incident_rows`](ReviewStore::incident_rows) reads it, from the
/// columns of `incidents i` with `postmortems p` and `incident_services s` joined, and its
/// service's position and name.
const INCIDENT_ROW_COLUMNS: &str = "i.number, i.severity, i.drill, i.detected_at, \
    i.declared_at, i.acknowledged_at, i.mitigated_at, i.resolved_at, p.status AS postmortem, \
    s.position, s.service";

/// Incidents from a query of [`INCIDENT_ROW_COLUMNS`], each once with its services in order,
/// put together as the rows arrive.
async fn incident_rows_joined(
    mut found: impl futures_util::Stream<Item = std::result::Result<PgRow, sqlx::Error>> + Unpin,
) -> Result<Vec<IncidentRow>> {
    let mut joined = Vec::new();
    while let Some(r) = found.try_next().await.map_err(db)? {
        let service: Option<&str> = get_at(&r, 10, "service")?;
        joined.push((
            incident_row(&r)?,
            get_at::<Option<i32>>(&r, 9, "position")?.map(i64::from),
            service.map(rows::name).transpose()?,
        ));
    }
    Ok(IncidentRow::regroup(joined))
}

#[async_trait]
impl ReviewStore for PostgresStore {
    async fn get_postmortem(&self, number: IncidentNumber) -> Result<Option<PostmortemRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {POSTMORTEM_COLUMNS} FROM postmortems WHERE number = $1"
        )))
        .bind(number.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| postmortem(&r))
        .transpose()
    }

    async fn postmortem_statuses(
        &self,
        numbers: &[IncidentNumber],
    ) -> Result<Vec<(IncidentNumber, PostmortemStatus)>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let numbers: Vec<i64> = numbers.iter().map(|n| n.0).collect();
        sqlx::query("SELECT number, status FROM postmortems WHERE number = ANY($1) ORDER BY number")
            .bind(numbers)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(|row| {
                Ok((
                    IncidentNumber(get(row, "number")?),
                    status(&get::<String>(row, "status")?)?,
                ))
            })
            .collect()
    }

    async fn postmortem_revisions(&self, number: IncidentNumber) -> Result<Vec<Revision>> {
        sqlx::query(
            "SELECT number, version, at, actor, status, sections FROM postmortem_revisions \
             WHERE number = $1 ORDER BY version",
        )
        .bind(number.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|row| {
            Ok(Revision {
                number: IncidentNumber(get(row, "number")?),
                version: get(row, "version")?,
                at: rows::ts(get(row, "at")?)?,
                actor: get(row, "actor")?,
                status: status(&get::<String>(row, "status")?)?,
                sections: sections_of(row)?,
            })
        })
        .collect()
    }

    async fn postmortems_missing(
        &self,
        severities: &[String],
        resolved_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<IncidentNumber>> {
        let found: Vec<i64> = sqlx::query_scalar(
            "SELECT i.number FROM incidents i \
             WHERE i.resolved_at IS NOT NULL AND i.resolved_at < $1 AND i.status = 'resolved' \
             AND NOT i.drill AND i.severity = ANY($2) \
             AND NOT EXISTS (SELECT 1 FROM postmortems p WHERE p.number = i.number \
                             AND p.status = 'published') \
             AND NOT EXISTS (SELECT 1 FROM postmortem_reminders r WHERE r.number = i.number) \
             ORDER BY i.number LIMIT $3",
        )
        .bind(resolved_before.as_millisecond())
        .bind(severities)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(found.into_iter().map(IncidentNumber).collect())
    }

    async fn get_action_item(&self, id: i64) -> Result<Option<ActionItem>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM action_items WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| item(&r))
        .transpose()
    }

    async fn list_action_items(
        &self,
        filter: &ActionItemFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<ActionItem>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM action_items \
             WHERE ($1::TEXT IS NULL OR owner = $1) AND ($2::TEXT IS NULL OR status = $2) \
             AND ($3::BIGINT IS NULL OR incident = $3) \
             AND ($4::TEXT IS NULL OR (status = 'open' AND due < $4)) \
             AND ($5::BIGINT IS NULL OR NOT EXISTS (SELECT 1 FROM action_items c WHERE c.id = $5) \
                  OR (due, id) > (SELECT c.due, c.id FROM action_items c WHERE c.id = $5)) \
             ORDER BY due, id LIMIT $6"
        )))
        .bind(filter.owner.as_ref().map(Name::as_str))
        .bind(filter.status.map(ItemStatus::as_str))
        .bind(filter.incident.map(|n| n.0))
        .bind(filter.overdue_on.map(|d| d.to_string()))
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut items = found.iter().map(item).collect::<Result<Vec<_>>>()?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = if more {
            items.last().map(|i| i.id)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn incident_rows(&self, from: Timestamp, to: Timestamp) -> Result<Vec<IncidentRow>> {
        // One row per incident and service, with the postmortem's status joined: joins over
        // the period (hash joins for long periods) instead of a lookup and an aggregate per
        // incident. The rows are put back together as they arrive (a year is about 60,000
        // rows, not held twice).
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INCIDENT_ROW_COLUMNS} \
             FROM incidents i LEFT JOIN postmortems p ON p.number = i.number \
             LEFT JOIN incident_services s ON s.number = i.number \
             WHERE i.detected_at >= $1 AND i.detected_at < $2"
        )))
        .bind(from.as_millisecond())
        .bind(to.as_millisecond())
        .fetch(&self.pool);
        incident_rows_joined(found).await
    }

    async fn incident_rows_of(&self, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRow>> {
        let numbers: Vec<i64> = numbers.iter().map(|n| n.0).collect();
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INCIDENT_ROW_COLUMNS} \
             FROM incidents i LEFT JOIN postmortems p ON p.number = i.number \
             LEFT JOIN incident_services s ON s.number = i.number \
             WHERE i.number = ANY($1)"
        )))
        .bind(numbers)
        .fetch(&self.pool);
        incident_rows_joined(found).await
    }

    async fn failure_links(
        &self,
        numbers: Option<&[IncidentNumber]>,
        window: SignedDuration,
    ) -> Result<Vec<DeployFailureRow>> {
        let numbers: Option<Vec<i64>> = numbers.map(|n| n.iter().map(|n| n.0).collect());
        let mut rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SUSPECT_COLUMNS} FROM incidents i \
             WHERE i.suspect_deploy IS NOT NULL AND i.suspect_at >= i.detected_at - $1 \
               AND ($2::BIGINT[] IS NULL OR i.number = ANY($2)) \
             UNION ALL \
             SELECT DISTINCT {ROLLED_BACK_COLUMNS} \
             FROM deployments r \
             JOIN deployments u ON u.id = r.rolls_back \
             JOIN incidents i ON i.number = r.incident \
             WHERE r.incident IS NOT NULL AND r.rolls_back IS NOT NULL AND r.rollback \
               AND NOT u.rollback AND ($2::BIGINT[] IS NULL OR r.incident = ANY($2))"
        )))
        .bind(window.as_millis() as i64)
        .bind(numbers)
        .fetch(&self.pool);
        let mut found = Vec::new();
        while let Some(r) = rows.try_next().await.map_err(db)? {
            found.push(failure_row(&r)?);
        }
        Ok(found)
    }

    async fn action_item_rows(
        &self,
        from: Timestamp,
        to: Timestamp,
        today: Date,
    ) -> Result<Vec<ItemRow>> {
        sqlx::query(
            "SELECT a.id, a.incident, coalesce(i.drill, false) AS drill, a.created_at, a.due, \
             a.status, a.closed_at FROM action_items a \
             LEFT JOIN incidents i ON i.number = a.incident \
             WHERE a.id IN ( \
               SELECT id FROM action_items WHERE created_at >= $1 AND created_at < $2 \
               UNION SELECT id FROM action_items WHERE closed_at >= $1 AND closed_at < $2 \
               UNION SELECT id FROM action_items WHERE status = 'open' AND due < $3) \
             ORDER BY a.id",
        )
        .bind(from.as_millisecond())
        .bind(to.as_millisecond())
        .bind(today.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|row| {
            let status: String = get(row, "status")?;
            Ok(ItemRow {
                id: get(row, "id")?,
                incident: get::<Option<i64>>(row, "incident")?.map(IncidentNumber),
                drill: get(row, "drill")?,
                created_at: rows::ts(get(row, "created_at")?)?,
                due: date(&get::<String>(row, "due")?)?,
                status: ItemStatus::parse(&status).ok_or_else(|| {
                    StoreError::backend(format!("unknown item status {status:?}"))
                })?,
                closed_at: rows::ts_opt(get(row, "closed_at")?)?,
            })
        })
        .collect()
    }

    async fn deploy_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        service: Option<&Name>,
        drills: bool,
    ) -> Result<Vec<(Name, u64)>> {
        let split = DaySplit::of(from, to);
        // The whole days from the per-day counts, the partial days at both ends from the
        // deploys themselves (at most a day's deploys each, on `deployments_at`).
        let found: Vec<(String, i64)> = sqlx::query_as(
            "SELECT service, sum(n)::BIGINT FROM ( \
               SELECT service, deploys AS n FROM deploy_days \
               WHERE drill = ANY(ARRAY[false, $2]) AND day >= $3 AND day < $4 \
                 AND ($1::TEXT IS NULL OR service = $1) \
               UNION ALL \
               SELECT service, 1 FROM deployments \
               WHERE drill = ANY(ARRAY[false, $2]) AND at >= $5 AND at < $6 AND NOT rollback \
                 AND ($1::TEXT IS NULL OR service = $1) \
               UNION ALL \
               SELECT service, 1 FROM deployments \
               WHERE drill = ANY(ARRAY[false, $2]) AND at >= $7 AND at < $8 AND NOT rollback \
                 AND ($1::TEXT IS NULL OR service = $1)) c \
             GROUP BY service HAVING sum(n) > 0 ORDER BY service",
        )
        .bind(service.map(Name::as_str))
        .bind(drills)
        .bind(split.days.0)
        .bind(split.days.1)
        .bind(split.head.0)
        .bind(split.head.1)
        .bind(split.tail.0)
        .bind(split.tail.1)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .into_iter()
            .map(|(s, n)| Ok((rows::name(&s)?, n.max(0) as u64)))
            .collect()
    }

    async fn deploy_counts_per_span(
        &self,
        spans: &[(Timestamp, Timestamp)],
        drills: bool,
    ) -> Result<Vec<u64>> {
        let splits: Vec<DaySplit> = spans.iter().map(|(s, e)| DaySplit::of(*s, *e)).collect();
        let days_from = splits.iter().map(|s| s.days.0).min().unwrap_or(0);
        let days_to = splits.iter().map(|s| s.days.1).max().unwrap_or(0);
        let edges: Vec<(i64, i64)> = splits.iter().flat_map(DaySplit::edges).collect();
        let starts: Vec<i64> = edges.iter().map(|(s, _)| *s).collect();
        let ends: Vec<i64> = edges.iter().map(|(_, e)| *e).collect();
        // Every service's deploys per whole day, once for all the spans; then one
        // index-only range count per partial day at a span's ends (a weekly trend has at
        // most two: its spans but the first and the last are whole weeks).
        let days = sqlx::query_as::<_, (i64, i64)>(
            "SELECT day, sum(deploys)::BIGINT FROM deploy_days \
             WHERE drill = ANY(ARRAY[false, $1]) AND day >= $2 AND day < $3 GROUP BY day",
        )
        .bind(drills)
        .bind(days_from)
        .bind(days_to)
        .fetch_all(&self.pool);
        let counts = sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM deployments d \
               WHERE d.drill = ANY(ARRAY[false, $3]) AND d.at >= b.s AND d.at < b.e AND NOT d.rollback) \
             FROM unnest($1::BIGINT[], $2::BIGINT[]) WITH ORDINALITY AS b(s, e, i) ORDER BY b.i",
        )
        .bind(starts)
        .bind(ends)
        .bind(drills)
        .fetch_all(&self.pool);
        let (days, counts) = tokio::try_join!(days, counts).map_err(db)?;
        let day_totals: BTreeMap<i64, u64> = days
            .into_iter()
            .map(|(d, n)| (d, n.max(0) as u64))
            .collect();
        let edge_counts: HashMap<(i64, i64), u64> = edges
            .into_iter()
            .zip(counts.into_iter().map(|n| n.max(0) as u64))
            .collect();
        Ok(span_counts(&splits, &day_totals, &edge_counts))
    }

    async fn deploy_failures(
        &self,
        from: Timestamp,
        to: Timestamp,
        window: SignedDuration,
        service: Option<&Name>,
        drills: bool,
    ) -> Result<Vec<DeployFailureRow>> {
        let mut rows = sqlx::query(
            // Each incident keeps its newest earlier deploy (its id, time, service and version,
            // kept by the store on every deploy and incident write); it is the incident's
            // suspect when it lies within the window before detection. The period's suspects
            // are one range of the covering index `incidents_suspect`; a drill deploy is only
            // ever a drill incident's suspect, so the incident's kind is the deploy's. The rollbacks that undid
            // a deploy of the period are read from `ROLLBACK_LEAD` before its start on through
            // `deployments_rollbacks_at`, not from every rollback recorded.
            AssertSqlSafe(format!(
                "SELECT {SUSPECT_COLUMNS} \
             FROM incidents i \
             WHERE i.suspect_deploy IS NOT NULL AND i.suspect_at >= $1 AND i.suspect_at < $2 \
               AND i.suspect_at >= i.detected_at - $3 AND (NOT i.drill OR $6) \
               AND ($4::TEXT IS NULL OR i.suspect_service = $4) \
             UNION ALL \
             SELECT DISTINCT {ROLLED_BACK_COLUMNS} \
             FROM deployments r \
             JOIN deployments u ON u.id = r.rolls_back \
             JOIN incidents i ON i.number = r.incident \
             WHERE r.rolls_back IS NOT NULL AND r.rollback AND r.incident IS NOT NULL \
               AND r.at >= $1 - $5 \
               AND NOT u.rollback AND (NOT u.drill OR $6) AND u.at >= $1 AND u.at < $2 AND ($4::TEXT IS NULL OR u.service = $4)"
            )),
        )
        .bind(from.as_millisecond())
        .bind(to.as_millisecond())
        .bind(window.as_millis() as i64)
        .bind(service.map(Name::as_str))
        .bind(ROLLBACK_LEAD.as_millis() as i64)
        .bind(drills)
        .fetch(&self.pool);
        let mut found = Vec::new();
        while let Some(r) = rows.try_next().await.map_err(db)? {
            found.push(failure_row(&r)?);
        }
        DeployFailureRow::sort(&mut found);
        Ok(found)
    }
}
