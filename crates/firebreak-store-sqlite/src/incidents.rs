//! Incidents, their timeline and the audit log on SQLite.

use async_trait::async_trait;
use firebreak_domain::{Incident, IncidentNumber, Name};
use firebreak_store::{
    AuditDraft, AuditEntry, AuditStore, Change, IncidentFilter, IncidentStore, IncidentWrites,
    Page, Result, StoreError, TimelineDraft, TimelineEntry,
};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use crate::SqliteStore;
use crate::rows::{self, SELECT_INCIDENTS, db, ms, opt_ms};
use crate::tx::SqliteTx;

/// Inserts `events` with seqs `first_seq..`, returning the stored entries.
fn insert_timeline(
    conn: &Connection,
    number: i64,
    first_seq: i64,
    events: Vec<TimelineDraft>,
) -> Result<Vec<TimelineEntry>> {
    let mut out = Vec::with_capacity(events.len());
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO timeline_entries (number, seq, at, actor, kind, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(db)?;
    for (i, draft) in events.into_iter().enumerate() {
        let seq = first_seq + i as i64;
        let (kind, data) = rows::event_parts(&draft.event)?;
        stmt.execute(params![number, seq, ms(draft.at), draft.actor, kind, data])
            .map_err(db)?;
        out.push(TimelineEntry {
            seq,
            at: draft.at,
            actor: draft.actor,
            event: draft.event,
        });
    }
    Ok(out)
}

fn replace_services(conn: &Connection, number: i64, services: &[Name]) -> Result<()> {
    conn.prepare_cached("DELETE FROM incident_services WHERE number = ?1")
        .and_then(|mut s| s.execute([number]))
        .map_err(db)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO incident_services (number, position, service) VALUES (?1, ?2, ?3)",
        )
        .map_err(db)?;
    for (position, service) in services.iter().enumerate() {
        insert
            .execute(params![number, position as i64, service.as_str()])
            .map_err(db)?;
    }
    refresh_suspect(conn, number)
}

/// Keeps the incident's newest earlier deploy (`suspect_deploy`, `suspect_at`,
/// `suspect_service`, `suspect_version`) true after its services or detection time may have
/// changed: the newest deploy of its kind (drill or real), not a rollback, of any of its
/// services at or before its detection; one backward seek per service.
fn refresh_suspect(conn: &Connection, number: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE incidents SET (suspect_deploy, suspect_at, suspect_service, suspect_version) = ( \
           SELECT d.id, d.at, d.service, d.version FROM incident_services s \
           JOIN deployments d ON d.id = ( \
             SELECT c.id FROM deployments c INDEXED BY deployments_service_at_id \
             WHERE c.drill = incidents.drill AND c.service = s.service AND c.rollback = 0 \
               AND c.at <= incidents.detected_at \
             ORDER BY c.at DESC, c.id DESC LIMIT 1) \
           WHERE s.number = incidents.number \
           ORDER BY d.at DESC, d.id DESC LIMIT 1) \
         WHERE number = ?1",
    )
    .and_then(|mut s| s.execute([number]))
    .map_err(db)?;
    Ok(())
}

/// Appends `audit` to the hash chain: its id follows the last row's, and its `prev_hash` is
/// that row's hash. One writer appends at a time, so the chain cannot fork.
pub(crate) fn insert_audit(conn: &Connection, audit: &AuditDraft) -> Result<()> {
    let (last, prev) = audit_tail(conn)?;
    let id = last + 1;
    let hash = audit.chained(id, &prev);
    conn.prepare_cached(
        "INSERT INTO audit_log (id, actor, action, target, at, source, break_glass, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            id,
            audit.actor,
            audit.action,
            audit.target,
            ms(audit.at),
            audit.source,
            audit.break_glass,
            prev,
            hash
        ])
    })
    .map_err(db)?;
    Ok(())
}

/// The last row's id and hash (0 and the genesis hash for an empty log).
fn audit_tail(conn: &Connection) -> Result<(i64, String)> {
    let tail = conn
        .prepare_cached("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
        .and_then(|mut s| {
            s.query_row([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .optional()
        })
        .map_err(db)?;
    Ok(match tail {
        Some((id, Some(hash))) => (id, hash),
        // The newest row has no hash: written around Firebreak. It stays a break in the chain;
        // the chain goes on from the last row that has one.
        Some((id, None)) => {
            let hash: Option<String> = conn
                .query_row(
                    "SELECT hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            (
                id,
                hash.unwrap_or_else(|| firebreak_domain::audit::GENESIS.to_string()),
            )
        }
        None => (0, firebreak_domain::audit::GENESIS.to_string()),
    })
}

/// Hashes the rows written before the audit log had a chain, oldest first. Runs when the store
/// opens, and does something only for a log with no hashed row yet: once the chain exists, a
/// row without a hash was written around Firebreak, and it stays a break that `audit verify`
/// names, never adopted into the chain.
pub(crate) fn chain_unhashed_audit(conn: &Connection) -> Result<()> {
    let hashed: Option<i64> = conn
        .query_row(
            "SELECT MIN(id) FROM audit_log WHERE hash IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if hashed.is_some() {
        let stray: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM audit_log WHERE hash IS NULL)",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        if stray {
            tracing::warn!(
                "the audit log has rows without a hash, written around Firebreak; \
                 `firebreak audit verify` names the first"
            );
        }
        return Ok(());
    }
    let first: Option<i64> = conn
        .query_row(
            "SELECT MIN(id) FROM audit_log WHERE hash IS NULL",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    let Some(first) = first else {
        return Ok(());
    };
    let mut prev: String = conn
        .query_row(
            "SELECT hash FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT 1",
            [first],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?
        .flatten()
        .unwrap_or_else(|| firebreak_domain::audit::GENESIS.to_string());
    let entries = rows::all(
        conn,
        &format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id >= ?1 ORDER BY id"),
        [first],
        rows::audit_entry,
    )?;
    for e in entries {
        if let Some(hash) = &e.hash {
            // Rows that have a hash are never changed (the triggers would refuse it).
            prev = hash.clone();
            continue;
        }
        let hash = firebreak_domain::audit::chain_hash(&prev, &e.content());
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?2, hash = ?3 WHERE id = ?1",
            params![e.id, prev, hash],
        )
        .map_err(db)?;
        prev = hash;
    }
    tracing::info!("chained the audit log rows written before it had hashes");
    Ok(())
}

pub(crate) const AUDIT_COLUMNS: &str =
    "id, actor, action, target, at, source, break_glass, prev_hash, hash";

fn select_incident(conn: &Connection, number: i64) -> Result<Option<Incident>> {
    let sql = format!("{SELECT_INCIDENTS} WHERE i.number = ?1");
    rows::one(conn, &sql, [number], rows::incident)
}

fn create(conn: &Connection, incident: Incident, events: Vec<TimelineDraft>) -> Result<Incident> {
    let mut incident = incident;
    let number: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(number), 0) + 1 FROM incidents")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)?;
    incident.number = IncidentNumber(number);
    let i = &incident;
    conn.prepare_cached(
        "INSERT INTO incidents (number, title, severity, status, summary, customer_impact, drill, \
         detected_at, declared_at, acknowledged_at, mitigated_at, resolved_at, updated_at, \
         declared_by, roles, checklist, version, timeline_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )
    .and_then(|mut s| {
        s.execute(params![
            number,
            i.title,
            i.severity,
            i.status.as_str(),
            i.summary,
            i.customer_impact,
            i.drill,
            ms(i.detected_at),
            ms(i.declared_at),
            opt_ms(i.acknowledged_at),
            opt_ms(i.mitigated_at),
            opt_ms(i.resolved_at),
            ms(i.updated_at),
            i.declared_by,
            rows::roles_json(&i.roles),
            rows::checklist_json(&i.checklist),
            i.version,
            events.len() as i64,
        ])
    })
    .map_err(|e| rows::unique(e, || "an incident with that number already exists".into()))?;
    replace_services(conn, number, &incident.services)?;
    insert_timeline(conn, number, 1, events)?;
    Ok(incident)
}

fn update(
    conn: &Connection,
    i: &Incident,
    events: Vec<TimelineDraft>,
) -> Result<Vec<TimelineEntry>> {
    let number = i.number.0;
    let added = events.len() as i64;
    let seq: Option<i64> = conn
        .prepare_cached(
            "UPDATE incidents SET title = ?1, severity = ?2, status = ?3, summary = ?4, customer_impact = ?5, \
             drill = ?6, detected_at = ?7, declared_at = ?8, acknowledged_at = ?9, mitigated_at = ?10, \
             resolved_at = ?11, updated_at = ?12, declared_by = ?13, roles = ?14, checklist = ?15, version = ?16, \
             timeline_seq = timeline_seq + ?17, public_title = ?20 \
             WHERE number = ?18 AND version = ?19 RETURNING timeline_seq",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    i.title,
                    i.severity,
                    i.status.as_str(),
                    i.summary,
                    i.customer_impact,
                    i.drill,
                    ms(i.detected_at),
                    ms(i.declared_at),
                    opt_ms(i.acknowledged_at),
                    opt_ms(i.mitigated_at),
                    opt_ms(i.resolved_at),
                    ms(i.updated_at),
                    i.declared_by,
                    rows::roles_json(&i.roles),
                    rows::checklist_json(&i.checklist),
                    i.version,
                    added,
                    number,
                    i.version - 1,
                    i.public_title,
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(db)?;
    let Some(last) = seq else {
        let exists: Option<i64> = conn
            .prepare_cached("SELECT version FROM incidents WHERE number = ?1")
            .and_then(|mut s| s.query_row([number], |r| r.get(0)).optional())
            .map_err(db)?;
        return Err(match exists {
            None => StoreError::NotFound,
            Some(_) => StoreError::Conflict(format!(
                "{} was changed by someone else; reload it and try again",
                i.number
            )),
        });
    };
    replace_services(conn, number, &i.services)?;
    insert_timeline(conn, number, last - added + 1, events)
}

/// Appends `events` to an incident's timeline, continuing its seq. `NotFound` if it does not exist.
fn append(
    conn: &Connection,
    number: IncidentNumber,
    events: Vec<TimelineDraft>,
) -> Result<Vec<TimelineEntry>> {
    let added = events.len() as i64;
    let last: Option<i64> = conn
        .prepare_cached(
            "UPDATE incidents SET timeline_seq = timeline_seq + ?1 WHERE number = ?2 RETURNING timeline_seq",
        )
        .and_then(|mut s| s.query_row(params![added, number.0], |r| r.get(0)).optional())
        .map_err(db)?;
    let last = last.ok_or(StoreError::NotFound)?;
    insert_timeline(conn, number.0, last - added + 1, events)
}

#[async_trait]
impl IncidentWrites for SqliteTx<'_> {
    async fn create_incident(
        &mut self,
        incident: Incident,
        events: Vec<TimelineDraft>,
    ) -> Result<Incident> {
        let created = create(self.conn(), incident, events)?;
        self.changed(Change::Incident {
            number: created.number,
        });
        Ok(created)
    }

    async fn lock_incident(&mut self, number: IncidentNumber) -> Result<Option<Incident>> {
        // The writer runs one unit of work at a time: reading is holding.
        select_incident(self.conn(), number.0)
    }

    async fn timeline_of_kinds(
        &mut self,
        number: IncidentNumber,
        kinds: &[&str],
    ) -> Result<Vec<TimelineEntry>> {
        // Along the primary key (number, seq), only the kinds asked for.
        let kinds = serde_json::to_string(kinds).map_err(StoreError::backend)?;
        rows::all(
            self.conn(),
            "SELECT seq, at, actor, kind, data FROM timeline_entries WHERE number = ?1 \
             AND kind IN (SELECT value FROM json_each(?2)) ORDER BY seq",
            params![number.0, kinds],
            rows::timeline_entry,
        )
    }

    async fn update_incident(
        &mut self,
        incident: &Incident,
        events: Vec<TimelineDraft>,
    ) -> Result<Vec<TimelineEntry>> {
        let entries = update(self.conn(), incident, events)?;
        self.changed(Change::Incident {
            number: incident.number,
        });
        Ok(entries)
    }

    async fn append_timeline(
        &mut self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
    ) -> Result<Vec<TimelineEntry>> {
        let entries = append(self.conn(), number, events)?;
        self.changed(Change::Incident { number });
        Ok(entries)
    }

    async fn audit(&mut self, audit: AuditDraft) -> Result<()> {
        insert_audit(self.conn(), &audit)
    }

    async fn lock_name(&mut self, _name: &str) -> Result<()> {
        // One writer, one unit of work at a time: every name is already held.
        Ok(())
    }
}

#[async_trait]
impl IncidentStore for SqliteStore {
    async fn get_incident(&self, number: IncidentNumber) -> Result<Option<Incident>> {
        self.read(move |conn| select_incident(conn, number.0)).await
    }

    async fn list_incidents(
        &self,
        filter: &IncidentFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Incident>> {
        let filter = filter.clone();
        self.read(move |conn| {
            let sql = format!(
                "{SELECT_INCIDENTS} WHERE (?1 IS NULL OR i.number < ?1) \
                 AND (?2 IS NULL OR i.status = ?2) \
                 AND (?3 IS NULL OR i.severity = ?3 COLLATE NOCASE) \
                 AND (?4 IS NULL OR EXISTS (SELECT 1 FROM incident_services f WHERE f.number = i.number AND f.service = ?4)) \
                 AND (?5 IS NULL OR (?5 = 1 AND i.status <> 'resolved') OR (?5 = 0 AND i.status = 'resolved')) \
                 AND (?6 IS NULL OR i.drill = ?6) \
                 ORDER BY i.number DESC LIMIT ?7"
            );
            let items = rows::all(
                conn,
                &sql,
                params![
                    before,
                    filter.status.map(|s| s.as_str()),
                    filter.severity,
                    filter.service.as_ref().map(|s| s.as_str()),
                    filter.open,
                    filter.drill,
                    i64::from(limit) + 1,
                ],
                rows::incident,
            )?;
            Ok(rows::page(items, limit, |i| i.number.0))
        })
        .await
    }

    async fn timeline(
        &self,
        number: IncidentNumber,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>> {
        let items = self
            .timeline_rows(TIMELINE_AFTER, number, after.unwrap_or(0), limit)
            .await?;
        Ok(rows::page(items, limit, |e| e.seq))
    }

    async fn timeline_tail(
        &self,
        number: IncidentNumber,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>> {
        let items = self
            .timeline_rows(TIMELINE_BEFORE, number, before.unwrap_or(i64::MAX), limit)
            .await?;
        Ok(Page::from_newest(items, limit, |e| e.seq))
    }
}

/// A timeline's entries after `?2`, ascending.
const TIMELINE_AFTER: &str = "SELECT seq, at, actor, kind, data FROM timeline_entries \
     WHERE number = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
/// A timeline's entries before `?2`, newest first: backwards along the primary key
/// (number, seq), reading only the rows it returns.
const TIMELINE_BEFORE: &str = "SELECT seq, at, actor, kind, data FROM timeline_entries \
     WHERE number = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3";

impl SqliteStore {
    /// Up to `limit + 1` entries of `number`'s timeline from `bound`, in `sql`'s direction.
    async fn timeline_rows(
        &self,
        sql: &'static str,
        number: IncidentNumber,
        bound: i64,
        limit: u32,
    ) -> Result<Vec<TimelineEntry>> {
        self.read(move |conn| {
            rows::all(
                conn,
                sql,
                params![number.0, bound, i64::from(limit) + 1],
                rows::timeline_entry,
            )
        })
        .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Page<AuditEntry>> {
        self.read(move |conn| {
            let items = rows::all(
                conn,
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log \
                     WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2"
                ),
                params![before, i64::from(limit) + 1],
                rows::audit_entry,
            )?;
            Ok(rows::page(items, limit, |e| e.id))
        })
        .await
    }

    async fn audit_after(
        &self,
        after: i64,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        self.read(move |conn| {
            rows::all(
                conn,
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log \
                     WHERE id > ?1 AND (?2 IS NULL OR id >= \
                     (SELECT MIN(id) FROM audit_log WHERE at >= ?2)) ORDER BY id LIMIT ?3"
                ),
                params![after, since.map(ms), i64::from(limit)],
                rows::audit_entry,
            )
        })
        .await
    }
}
