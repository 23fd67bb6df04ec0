//! Postmortems, action items and the reports' reads on SQLite.

use async_trait::async_trait;
use firebreak_domain::action_item::{ActionItem, ItemStatus};
use firebreak_domain::postmortem::{PostmortemStatus, Section};
use firebreak_domain::{IncidentNumber, Name};
use firebreak_store::feed::Topic;
use firebreak_store::review::ROLLBACK_LEAD;
use firebreak_store::{
    ActionItemFilter, Change, DeployFailureRow, DeployLink, Dismissal, IncidentRow, ItemRow, Page,
    PostmortemRecord, Result, ReviewStore, ReviewWrites, Revision, StoreError, codec,
};
use firebreak_store::{DaySplit, span_counts};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Row, params};
use std::collections::{BTreeMap, HashMap};

use crate::SqliteStore;
use crate::rows::{self, ms, opt_ms};
use crate::tx::SqliteTx;

const POSTMORTEM_COLUMNS: &str = "number, status, version, sections, dismissed, created_at, \
     updated_at, updated_by, published_at";

fn status(s: &str) -> Result<PostmortemStatus> {
    PostmortemStatus::parse(s)
        .ok_or_else(|| StoreError::backend(format!("unknown postmortem status {s:?}")))
}

fn sections_json(sections: &[Section]) -> Result<String> {
    serde_json::to_string(sections).map_err(StoreError::backend)
}

fn sections_of(row: &Row<'_>) -> Result<Vec<Section>> {
    let text: String = rows::get(row, "sections")?;
    serde_json::from_str(&text).map_err(StoreError::backend)
}

fn postmortem(row: &Row<'_>) -> Result<PostmortemRecord> {
    let dismissed: String = rows::get(row, "dismissed")?;
    Ok(PostmortemRecord {
        number: IncidentNumber(rows::get(row, "number")?),
        status: status(&rows::get::<String>(row, "status")?)?,
        version: rows::get(row, "version")?,
        sections: sections_of(row)?,
        dismissed: serde_json::from_str::<Vec<Dismissal>>(&dismissed)
            .map_err(StoreError::backend)?,
        created_at: rows::ts(row, "created_at")?,
        updated_at: rows::ts(row, "updated_at")?,
        updated_by: rows::get(row, "updated_by")?,
        published_at: rows::opt_ts(row, "published_at")?,
    })
}

const ITEM_COLUMNS: &str = "id, incident, title, owner, due, ticket_url, status, reason, \
     created_at, created_by, updated_at, closed_at, reminded_on, version";

fn date(s: &str) -> Result<Date> {
    s.parse::<Date>()
        .map_err(|e| StoreError::backend(format!("bad stored date {s:?}: {e}")))
}

fn item(row: &Row<'_>) -> Result<ActionItem> {
    let status: String = rows::get(row, "status")?;
    Ok(ActionItem {
        id: rows::get(row, "id")?,
        incident: rows::get::<Option<i64>>(row, "incident")?.map(IncidentNumber),
        title: rows::get(row, "title")?,
        owner: rows::name_at(row, "owner")?,
        due: date(&rows::get::<String>(row, "due")?)?,
        ticket_url: rows::get(row, "ticket_url")?,
        status: ItemStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(format!("unknown item status {status:?}")))?,
        reason: rows::get(row, "reason")?,
        created_at: rows::ts(row, "created_at")?,
        created_by: rows::get(row, "created_by")?,
        updated_at: rows::ts(row, "updated_at")?,
        closed_at: rows::opt_ts(row, "closed_at")?,
        reminded_on: rows::get::<Option<String>>(row, "reminded_on")?
            .map(|d| date(&d))
            .transpose()?,
        version: rows::get(row, "version")?,
    })
}

impl SqliteTx<'_> {
    fn revision(&self, p: &PostmortemRecord, actor: &str) -> Result<()> {
        self.exec(
            "INSERT INTO postmortem_revisions (number, version, at, actor, status, sections) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                p.number.0,
                p.version,
                ms(p.updated_at),
                actor,
                p.status.as_str(),
                sections_json(&p.sections)?
            ],
        )?;
        Ok(())
    }
}

#[async_trait]
impl ReviewWrites for SqliteTx<'_> {
    async fn create_postmortem(&mut self, p: &PostmortemRecord) -> Result<()> {
        let dismissed = serde_json::to_string(&p.dismissed).map_err(StoreError::backend)?;
        self.exec_unique(
            "INSERT INTO postmortems (number, status, version, sections, dismissed, created_at, \
             updated_at, updated_by, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                p.number.0,
                p.status.as_str(),
                p.version,
                sections_json(&p.sections)?,
                dismissed,
                ms(p.created_at),
                ms(p.updated_at),
                p.updated_by,
                opt_ms(p.published_at)
            ],
            || format!("{} already has a postmortem", p.number),
        )?;
        self.revision(p, &p.updated_by)?;
        self.changed(Change::Incident { number: p.number });
        Ok(())
    }

    async fn lock_postmortem(
        &mut self,
        number: IncidentNumber,
    ) -> Result<Option<PostmortemRecord>> {
        let sql = format!("SELECT {POSTMORTEM_COLUMNS} FROM postmortems WHERE number = ?1");
        rows::one(self.conn(), &sql, [number.0], postmortem)
    }

    async fn save_postmortem(&mut self, p: &PostmortemRecord, actor: &str) -> Result<()> {
        let stored: Option<i64> = rows::one(
            self.conn(),
            "SELECT version FROM postmortems WHERE number = ?1",
            [p.number.0],
            |r| rows::get(r, "version"),
        )?;
        match stored {
            None => return Err(StoreError::NotFound),
            Some(v) if v != p.version - 1 => {
                return Err(StoreError::Conflict(format!(
                    "the postmortem of {} changed since version {}; it is at version {v}",
                    p.number,
                    p.version - 1
                )));
            }
            Some(_) => {}
        }
        let dismissed = serde_json::to_string(&p.dismissed).map_err(StoreError::backend)?;
        self.exec(
            "UPDATE postmortems SET status = ?2, version = ?3, sections = ?4, dismissed = ?5, \
             updated_at = ?6, updated_by = ?7, published_at = ?8 WHERE number = ?1",
            params![
                p.number.0,
                p.status.as_str(),
                p.version,
                sections_json(&p.sections)?,
                dismissed,
                ms(p.updated_at),
                p.updated_by,
                opt_ms(p.published_at)
            ],
        )?;
        self.revision(p, actor)?;
        self.changed(Change::Incident { number: p.number });
        Ok(())
    }

    async fn note_postmortem_reminder(
        &mut self,
        number: IncidentNumber,
        at: Timestamp,
    ) -> Result<bool> {
        Ok(self.exec(
            "INSERT INTO postmortem_reminders (number, at) VALUES (?1, ?2) \
             ON CONFLICT (number) DO NOTHING",
            params![number.0, ms(at)],
        )? == 1)
    }

    async fn create_action_item(&mut self, i: &ActionItem) -> Result<ActionItem> {
        let id = rows::one(
            self.conn(),
            "INSERT INTO action_items (incident, title, owner, due, ticket_url, status, reason, \
             created_at, created_by, updated_at, closed_at, reminded_on, version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
            params![
                i.incident.map(|n| n.0),
                i.title,
                i.owner.as_str(),
                i.due.to_string(),
                i.ticket_url,
                i.status.as_str(),
                i.reason,
                ms(i.created_at),
                i.created_by,
                ms(i.updated_at),
                opt_ms(i.closed_at),
                i.reminded_on.map(|d| d.to_string()),
                i.version
            ],
            |r| rows::get(r, "id"),
        )?
        .ok_or_else(|| StoreError::backend("a new action item got no id"))?;
        self.changed(Change::Directory(Topic::ActionItems));
        if let Some(number) = i.incident {
            self.changed(Change::Incident { number });
        }
        Ok(ActionItem { id, ..i.clone() })
    }

    async fn lock_action_item(&mut self, id: i64) -> Result<Option<ActionItem>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM action_items WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], item)
    }

    async fn save_action_item(&mut self, i: &ActionItem) -> Result<()> {
        let stored: Option<i64> = rows::one(
            self.conn(),
            "SELECT version FROM action_items WHERE id = ?1",
            [i.id],
            |r| rows::get(r, "version"),
        )?;
        match stored {
            None => return Err(StoreError::NotFound),
            Some(v) if v != i.version - 1 => {
                return Err(StoreError::Conflict(format!(
                    "action item {} changed since version {}; it is at version {v}",
                    i.id,
                    i.version - 1
                )));
            }
            Some(_) => {}
        }
        self.exec(
            "UPDATE action_items SET incident = ?2, title = ?3, owner = ?4, due = ?5, \
             ticket_url = ?6, status = ?7, reason = ?8, updated_at = ?9, closed_at = ?10, \
             reminded_on = ?11, version = ?12 WHERE id = ?1",
            params![
                i.id,
                i.incident.map(|n| n.0),
                i.title,
                i.owner.as_str(),
                i.due.to_string(),
                i.ticket_url,
                i.status.as_str(),
                i.reason,
                ms(i.updated_at),
                opt_ms(i.closed_at),
                i.reminded_on.map(|d| d.to_string()),
                i.version
            ],
        )?;
        self.changed(Change::Directory(Topic::ActionItems));
        if let Some(number) = i.incident {
            self.changed(Change::Incident { number });
        }
        Ok(())
    }

    async fn lock_overdue_items(&mut self, today: Date, limit: u32) -> Result<Vec<ActionItem>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM action_items WHERE status = 'open' AND due < ?1 \
             AND (reminded_on IS NULL OR reminded_on < ?1) ORDER BY id LIMIT ?2"
        );
        rows::all(self.conn(), &sql, params![today.to_string(), limit], item)
    }

    async fn note_items_reminded(&mut self, ids: &[i64], today: Date) -> Result<()> {
        let ids = serde_json::to_string(ids).map_err(StoreError::backend)?;
        self.exec(
            "UPDATE action_items SET reminded_on = ?2 WHERE id IN (SELECT value FROM json_each(?1))",
            params![ids, today.to_string()],
        )?;
        Ok(())
    }
}

/// An incident's row of [`incident_rows`](ReviewStore::incident_rows), without its services:
/// columns 0 to 8 of its query, read by position.
fn incident_row(row: &Row<'_>) -> Result<IncidentRow> {
    let postmortem: Option<String> = rows::get_at(row, 8, "postmortem")?;
    Ok(IncidentRow {
        number: IncidentNumber(rows::get_at(row, 0, "number")?),
        severity: rows::get_at(row, 1, "severity")?,
        services: Vec::new(),
        drill: rows::get_at(row, 2, "drill")?,
        detected_at: rows::ts_at(row, 3, "detected_at")?,
        declared_at: rows::ts_at(row, 4, "declared_at")?,
        acknowledged_at: rows::opt_ts_at(row, 5, "acknowledged_at")?,
        mitigated_at: rows::opt_ts_at(row, 6, "mitigated_at")?,
        resolved_at: rows::opt_ts_at(row, 7, "resolved_at")?,
        postmortem: postmortem.as_deref().map(status).transpose()?,
    })
}

/// An action item's row, read by position.
fn item_row(row: &Row<'_>) -> Result<ItemRow> {
    let status: String = rows::get_at(row, 5, "status")?;
    Ok(ItemRow {
        id: rows::get_at(row, 0, "id")?,
        incident: rows::get_at::<Option<i64>>(row, 1, "incident")?.map(IncidentNumber),
        drill: rows::get_at(row, 2, "drill")?,
        created_at: rows::ts_at(row, 3, "created_at")?,
        due: date(&rows::get_at::<String>(row, 4, "due")?)?,
        status: ItemStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(format!("unknown item status {status:?}")))?,
        closed_at: rows::opt_ts_at(row, 6, "closed_at")?,
    })
}

/// A failed deploy's row, read by position.
fn failure_row(row: &Row<'_>) -> Result<DeployFailureRow> {
    let link: String = rows::get_at(row, 5, "link")?;
    Ok(DeployFailureRow {
        deploy: rows::get_at(row, 0, "id")?,
        service: codec::name(&rows::get_at::<String>(row, 1, "service")?)?,
        version: rows::get_at(row, 2, "version")?,
        at: rows::ts_at(row, 3, "at")?,
        incident: IncidentNumber(rows::get_at(row, 4, "number")?),
        link: if link == "rolled_back" {
            DeployLink::RolledBack
        } else {
            DeployLink::Suspect
        },
        severity: rows::get_at(row, 6, "severity")?,
        detected_at: rows::ts_at(row, 7, "detected_at")?,
        drill: rows::get_at(row, 8, "drill")?,
        mitigated_at: rows::opt_ts_at(row, 9, "mitigated_at")?,
        resolved_at: rows::opt_ts_at(row, 10, "resolved_at")?,
        deploy_drill: rows::get_at(row, 11, "deploy_drill")?,
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

/// Incidents from rows of [`INCIDENT_ROW_COLUMNS`], each incident once with its services.
fn incident_rows_joined(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<IncidentRow>> {
    let joined = rows::all(conn, sql, params, |r| {
        let service: Option<String> = rows::get_at(r, 10, "service")?;
        Ok((
            incident_row(r)?,
            rows::get_at::<Option<i64>>(r, 9, "position")?,
            service.as_deref().map(codec::name).transpose()?,
        ))
    })?;
    Ok(IncidentRow::regroup(joined))
}

#[async_trait]
impl ReviewStore for SqliteStore {
    async fn get_postmortem(&self, number: IncidentNumber) -> Result<Option<PostmortemRecord>> {
        self.read(move |conn| {
            let sql = format!("SELECT {POSTMORTEM_COLUMNS} FROM postmortems WHERE number = ?1");
            rows::one(conn, &sql, [number.0], postmortem)
        })
        .await
    }

    async fn postmortem_statuses(
        &self,
        numbers: &[IncidentNumber],
    ) -> Result<Vec<(IncidentNumber, PostmortemStatus)>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let numbers = serde_json::to_string(&numbers.iter().map(|n| n.0).collect::<Vec<_>>())
            .map_err(StoreError::backend)?;
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT number, status FROM postmortems \
                 WHERE number IN (SELECT value FROM json_each(?1)) ORDER BY number",
                [numbers],
                |row| {
                    Ok((
                        IncidentNumber(rows::get(row, "number")?),
                        status(&rows::get::<String>(row, "status")?)?,
                    ))
                },
            )
        })
        .await
    }

    async fn postmortem_revisions(&self, number: IncidentNumber) -> Result<Vec<Revision>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT number, version, at, actor, status, sections FROM postmortem_revisions \
                 WHERE number = ?1 ORDER BY version",
                [number.0],
                |row| {
                    Ok(Revision {
                        number: IncidentNumber(rows::get(row, "number")?),
                        version: rows::get(row, "version")?,
                        at: rows::ts(row, "at")?,
                        actor: rows::get(row, "actor")?,
                        status: status(&rows::get::<String>(row, "status")?)?,
                        sections: sections_of(row)?,
                    })
                },
            )
        })
        .await
    }

    async fn postmortems_missing(
        &self,
        severities: &[String],
        resolved_before: Timestamp,
        limit: u32,
    ) -> Result<Vec<IncidentNumber>> {
        let severities = serde_json::to_string(severities).map_err(StoreError::backend)?;
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT i.number FROM incidents i \
                 WHERE i.resolved_at IS NOT NULL AND i.resolved_at < ?1 AND i.status = 'resolved' \
                 AND i.drill = 0 AND i.severity IN (SELECT value FROM json_each(?2)) \
                 AND NOT EXISTS (SELECT 1 FROM postmortems p WHERE p.number = i.number \
                                 AND p.status = 'published') \
                 AND NOT EXISTS (SELECT 1 FROM postmortem_reminders r WHERE r.number = i.number) \
                 ORDER BY i.number LIMIT ?3",
                params![ms(resolved_before), severities, limit],
                |r| Ok(IncidentNumber(rows::get(r, "number")?)),
            )
        })
        .await
    }

    async fn get_action_item(&self, id: i64) -> Result<Option<ActionItem>> {
        self.read(move |conn| {
            let sql = format!("SELECT {ITEM_COLUMNS} FROM action_items WHERE id = ?1");
            rows::one(conn, &sql, [id], item)
        })
        .await
    }

    async fn list_action_items(
        &self,
        filter: &ActionItemFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<ActionItem>> {
        let owner = filter.owner.as_ref().map(|o| o.to_string());
        let status = filter.status.map(|s| s.as_str());
        let incident = filter.incident.map(|n| n.0);
        let overdue = filter.overdue_on.map(|d| d.to_string());
        self.read(move |conn| {
            let sql = format!(
                "SELECT {ITEM_COLUMNS} FROM action_items \
                 WHERE (?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR status = ?2) \
                 AND (?3 IS NULL OR incident = ?3) \
                 AND (?4 IS NULL OR (status = 'open' AND due < ?4)) \
                 AND (?5 IS NULL OR NOT EXISTS (SELECT 1 FROM action_items c WHERE c.id = ?5) \
                      OR (due, id) > (SELECT c.due, c.id FROM action_items c WHERE c.id = ?5)) \
                 ORDER BY due, id LIMIT ?6"
            );
            let mut items = rows::all(
                conn,
                &sql,
                params![owner, status, incident, overdue, after, limit + 1],
                item,
            )?;
            let more = items.len() > limit as usize;
            items.truncate(limit as usize);
            let next = if more {
                items.last().map(|i| i.id)
            } else {
                None
            };
            Ok(Page { items, next })
        })
        .await
    }

    async fn incident_rows(&self, from: Timestamp, to: Timestamp) -> Result<Vec<IncidentRow>> {
        self.read(move |conn| {
            // One row per incident and service, with the postmortem's status joined: two
            // joins over the period instead of two lookups per incident. The rows are put
            // back together here, each incident's services in their order.
            let sql = format!(
                "SELECT {INCIDENT_ROW_COLUMNS} \
                 FROM incidents i INDEXED BY incidents_detected \
                 LEFT JOIN postmortems p ON p.number = i.number \
                 LEFT JOIN incident_services s ON s.number = i.number \
                 WHERE i.detected_at >= ?1 AND i.detected_at < ?2"
            );
            incident_rows_joined(conn, &sql, params![ms(from), ms(to)])
        })
        .await
    }

    async fn incident_rows_of(&self, numbers: &[IncidentNumber]) -> Result<Vec<IncidentRow>> {
        let numbers = serde_json::to_string(&numbers.iter().map(|n| n.0).collect::<Vec<_>>())
            .map_err(StoreError::backend)?;
        self.read(move |conn| {
            let sql = format!(
                "SELECT {INCIDENT_ROW_COLUMNS} FROM incidents i \
                 LEFT JOIN postmortems p ON p.number = i.number \
                 LEFT JOIN incident_services s ON s.number = i.number \
                 WHERE i.number IN (SELECT value FROM json_each(?1))"
            );
            incident_rows_joined(conn, &sql, [numbers])
        })
        .await
    }

    async fn failure_links(
        &self,
        numbers: Option<&[IncidentNumber]>,
        window: SignedDuration,
    ) -> Result<Vec<DeployFailureRow>> {
        let numbers = numbers
            .map(|n| serde_json::to_string(&n.iter().map(|n| n.0).collect::<Vec<_>>()))
            .transpose()
            .map_err(StoreError::backend)?;
        let window = window.as_millis() as i64;
        self.read(move |conn| {
            // Every incident's suspect from the incidents themselves, and the rollbacks run
            // for an incident through `deployments_incident`.
            let sql = format!(
                "SELECT {SUSPECT_COLUMNS} FROM incidents i \
                 WHERE i.suspect_deploy IS NOT NULL AND i.suspect_at >= i.detected_at - ?1 \
                   AND (?2 IS NULL OR i.number IN (SELECT value FROM json_each(?2))) \
                 UNION ALL \
                 SELECT DISTINCT {ROLLED_BACK_COLUMNS} \
                 FROM deployments r INDEXED BY deployments_incident \
                 CROSS JOIN deployments u ON u.id = r.rolls_back \
                 CROSS JOIN incidents i ON i.number = r.incident \
                 WHERE r.incident IS NOT NULL AND r.rolls_back IS NOT NULL AND r.rollback = 1 \
                   AND u.rollback = 0 \
                   AND (?2 IS NULL OR r.incident IN (SELECT value FROM json_each(?2)))"
            );
            rows::all(conn, &sql, params![window, numbers], failure_row)
        })
        .await
    }

    async fn action_item_rows(
        &self,
        from: Timestamp,
        to: Timestamp,
        today: Date,
    ) -> Result<Vec<ItemRow>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT a.id, a.incident, coalesce(i.drill, 0) AS drill, a.created_at, a.due, \
                 a.status, a.closed_at FROM action_items a \
                 LEFT JOIN incidents i ON i.number = a.incident \
                 WHERE a.id IN ( \
                   SELECT id FROM action_items WHERE created_at >= ?1 AND created_at < ?2 \
                   UNION SELECT id FROM action_items WHERE closed_at >= ?1 AND closed_at < ?2 \
                   UNION SELECT id FROM action_items WHERE status = 'open' AND due < ?3) \
                 ORDER BY a.id",
                params![ms(from), ms(to), today.to_string()],
                item_row,
            )
        })
        .await
    }

    async fn deploy_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        service: Option<&Name>,
        drills: bool,
    ) -> Result<Vec<(Name, u64)>> {
        let service = service.map(|s| s.to_string());
        let split = DaySplit::of(from, to);
        self.read(move |conn| {
            // The whole days from the per-day counts, the partial days at both ends from the
            // deploys themselves (at most a day's deploys each, on the covering index).
            rows::all(
                conn,
                "SELECT service, sum(n) AS n FROM ( \
                   SELECT service, deploys AS n FROM deploy_days \
                   WHERE drill IN (0, ?2) AND day >= ?3 AND day < ?4 AND (?1 IS NULL OR service = ?1) \
                   UNION ALL \
                   SELECT service, 1 FROM deployments INDEXED BY deployments_at \
                   WHERE drill IN (0, ?2) AND at >= ?5 AND at < ?6 AND rollback = 0 \
                     AND (?1 IS NULL OR service = ?1) \
                   UNION ALL \
                   SELECT service, 1 FROM deployments INDEXED BY deployments_at \
                   WHERE drill IN (0, ?2) AND at >= ?7 AND at < ?8 AND rollback = 0 \
                     AND (?1 IS NULL OR service = ?1)) \
                 GROUP BY service HAVING sum(n) > 0 ORDER BY service",
                params![
                    service,
                    drills,
                    split.days.0,
                    split.days.1,
                    split.head.0,
                    split.head.1,
                    split.tail.0,
                    split.tail.1
                ],
                |r| {
                    Ok((
                        rows::name_at(r, "service")?,
                        rows::get::<i64>(r, "n")?.max(0) as u64,
                    ))
                },
            )
        })
        .await
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
        let bounds: Vec<[i64; 2]> = edges.iter().map(|(s, e)| [*s, *e]).collect();
        let bounds = serde_json::to_string(&bounds).map_err(StoreError::backend)?;
        self.read(move |conn| {
            // Every service's deploys per whole day, once for all the spans; then one range
            // count on the covering index per partial day at a span's ends (a weekly trend
            // has at most two: its spans but the first and the last are whole weeks).
            let day_totals: BTreeMap<i64, u64> = rows::all(
                conn,
                "SELECT day, sum(deploys) AS n FROM deploy_days \
                 WHERE drill IN (0, ?1) AND day >= ?2 AND day < ?3 GROUP BY day",
                params![drills, days_from, days_to],
                |r| {
                    Ok((
                        rows::get::<i64>(r, "day")?,
                        rows::get::<i64>(r, "n")?.max(0) as u64,
                    ))
                },
            )?
            .into_iter()
            .collect();
            let counts = rows::all(
                conn,
                "SELECT (SELECT count(*) FROM deployments INDEXED BY deployments_at \
                   WHERE drill IN (0, ?2) AND at >= json_extract(b.value, '$[0]') \
                   AND at < json_extract(b.value, '$[1]') AND rollback = 0) AS n \
                 FROM json_each(?1) b ORDER BY b.key",
                params![bounds, drills],
                |r| Ok(rows::get::<i64>(r, "n")?.max(0) as u64),
            )?;
            let edge_counts: HashMap<(i64, i64), u64> = edges.into_iter().zip(counts).collect();
            Ok(span_counts(&splits, &day_totals, &edge_counts))
        })
        .await
    }

    async fn deploy_failures(
        &self,
        from: Timestamp,
        to: Timestamp,
        window: SignedDuration,
        service: Option<&Name>,
        drills: bool,
    ) -> Result<Vec<DeployFailureRow>> {
        let service = service.map(|s| s.to_string());
        let window = window.as_millis() as i64;
        let lead_from = ms(from) - ROLLBACK_LEAD.as_millis() as i64;
        self.read(move |conn| {
            // Each incident keeps its newest earlier deploy (its id, time, service and
            // version, kept by the store on every deploy and incident write); it is the
            // incident's suspect when it lies within the window before detection. The
            // period's suspects are one range of the covering index `incidents_suspect`; a
            // drill deploy is only ever a drill incident's suspect, so the incident's kind is
            // the deploy's.
            // The rollbacks that undid a deploy of the period are read from `ROLLBACK_LEAD`
            // before the period's start on through `deployments_rollbacks_at`, not from every
            // rollback recorded.
            rows::all(
                conn,
                &format!(
                    "SELECT {SUSPECT_COLUMNS} \
                 FROM incidents i INDEXED BY incidents_suspect \
                 WHERE i.suspect_deploy IS NOT NULL AND i.suspect_at >= ?1 AND i.suspect_at < ?2 \
                   AND i.suspect_at >= i.detected_at - ?3 AND i.drill IN (0, ?6) \
                   AND (?4 IS NULL OR i.suspect_service = ?4) \
                 UNION ALL \
                 SELECT DISTINCT {ROLLED_BACK_COLUMNS} \
                 FROM deployments r INDEXED BY deployments_rollbacks_at \
                 CROSS JOIN deployments u ON u.id = r.rolls_back \
                 CROSS JOIN incidents i ON i.number = r.incident \
                 WHERE r.rolls_back IS NOT NULL AND r.rollback = 1 AND r.incident IS NOT NULL \
                   AND r.at >= ?5 \
                   AND u.rollback = 0 AND +u.drill IN (0, ?6) AND u.at >= ?1 AND u.at < ?2 AND (?4 IS NULL OR u.service = ?4)"
                ),
                params![ms(from), ms(to), window, service, lead_from, drills],
                failure_row,
            )
            .map(|mut found| {
                DeployFailureRow::sort(&mut found);
                found
            })
        })
        .await
    }
}
