//! Incidents, their timeline and the audit log on PostgreSQL.
//!
//! Numbers come from a counter row, bumped in the unit of work, so they are sequential without
//! gaps: a unit that rolls back gives its number back, and units that declare run one after the
//! other on that row. Timeline sequence numbers are claimed by bumping the incident's
//! `timeline_seq`, which also holds the incident's row until commit. Each write is one
//! statement: the incident, its services and its timeline entries go together through
//! data-modifying `WITH` clauses.

use async_trait::async_trait;
use firebreak_domain::audit::GENESIS;
use firebreak_domain::{Incident, IncidentNumber, Name};
use firebreak_store::{
    AuditDraft, AuditEntry, AuditStore, Change, IncidentFilter, IncidentStore, IncidentWrites,
    Page, Result, StoreError, TimelineDraft, TimelineEntry,
};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnection;

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, SELECT_INCIDENTS, ms_opt};
use crate::tx::PgTx;

/// Timeline drafts as the columns `UNNEST` takes: instants, actors, kinds and JSON data.
struct Events {
    at: Vec<i64>,
    actor: Vec<String>,
    kind: Vec<&'static str>,
    data: Vec<String>,
}

impl Events {
    fn of(events: &[TimelineDraft]) -> Result<Events> {
        let mut out = Events {
            at: Vec::with_capacity(events.len()),
            actor: Vec::with_capacity(events.len()),
            kind: Vec::with_capacity(events.len()),
            data: Vec::with_capacity(events.len()),
        };
        for e in events {
            let (kind, data) = rows::event_parts(&e.event)?;
            out.at.push(e.at.as_millisecond());
            out.actor.push(e.actor.clone());
            out.kind.push(kind);
            out.data.push(data.to_string());
        }
        Ok(out)
    }
}

/// The entries `events` became, numbered from `first_seq`.
fn stored(events: Vec<TimelineDraft>, first_seq: i64) -> Vec<TimelineEntry> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, d)| TimelineEntry {
            seq: first_seq + i as i64,
            at: d.at,
            actor: d.actor,
            event: d.event,
        })
        .collect()
}

/// Inserts the timeline entries bound as `$n..$n+3` for incident `<number>` of `<source>`,
/// numbered after `<last_seq> - cardinality`. A `WITH` clause for the statements below.
fn timeline_clause(source: &str, number: &str, last: &str, first_param: usize) -> String {
    let p = first_param;
    format!(
        "e AS (INSERT INTO timeline_entries (number, seq, at, actor, kind, data) \
         SELECT {number}, {last} - cardinality(${p}::BIGINT[]) + t.o, t.at, t.actor, t.kind, t.data::JSONB \
         FROM {source}, UNNEST(${p}::BIGINT[], ${a}::TEXT[], ${k}::TEXT[], ${d}::TEXT[]) \
         WITH ORDINALITY AS t(at, actor, kind, data, o))",
        a = p + 1,
        k = p + 2,
        d = p + 3,
    )
}

/// The incident's newest earlier deploy (`id`, `at`, `service`, `version`; no row when there
/// is none): the newest deploy of its kind (`drill`, a parameter), not a rollback, of any of
/// `services` (a `TEXT[]` parameter) at or before `detected` (a parameter), one backward seek
/// per service on `deployments_service_at_id`. Computed from the statement's parameters,
/// since a statement does not see its own writes to `incident_services`.
fn suspect(services: &str, detected: &str, drill: &str) -> String {
    format!(
        "SELECT c.id, c.at, c.service, c.version FROM UNNEST({services}::TEXT[]) AS sv(service) \
         CROSS JOIN LATERAL (SELECT c.id, c.at, c.service, c.version FROM deployments c \
           WHERE c.drill = {drill} AND c.service = sv.service AND NOT c.rollback \
             AND c.at <= {detected} \
           ORDER BY c.at DESC, c.id DESC LIMIT 1) c \
         ORDER BY c.at DESC, c.id DESC LIMIT 1"
    )
}

/// Declares an incident: bumps the counter, inserts the incident, its services and its first
/// timeline entries, in one statement. Returns the incident with its number.
async fn create(
    conn: &mut PgConnection,
    mut incident: Incident,
    events: &[TimelineDraft],
) -> Result<Incident> {
    let ev = Events::of(events)?;
    let sql = format!(
        "WITH n AS (UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value), \
         i AS (INSERT INTO incidents (number, title, severity, status, summary, customer_impact, \
             drill, detected_at, declared_at, acknowledged_at, mitigated_at, resolved_at, \
             updated_at, declared_by, roles, checklist, version, timeline_seq, suspect_deploy, \
             suspect_at, suspect_service, suspect_version) \
           SELECT n.value, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             cardinality($18::BIGINT[]), x.id, x.at, x.service, x.version \
           FROM n LEFT JOIN ({SUSPECT}) x ON TRUE \
           RETURNING number), \
         s AS (INSERT INTO incident_services (number, position, service) \
           SELECT i.number, t.p - 1, t.s FROM i, UNNEST($17::TEXT[]) WITH ORDINALITY AS t(s, p)), \
         {} \
         SELECT number FROM i",
        timeline_clause("i", "i.number", "cardinality($18::BIGINT[])", 18),
        SUSPECT = suspect("$17", "$7", "$6"),
    );
    let services: Vec<&str> = incident.services.iter().map(Name::as_str).collect();
    let i = &incident;
    let number: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(&i.title)
        .bind(&i.severity)
        .bind(i.status.as_str())
        .bind(&i.summary)
        .bind(&i.customer_impact)
        .bind(i.drill)
        .bind(i.detected_at.as_millisecond())
        .bind(i.declared_at.as_millisecond())
        .bind(ms_opt(i.acknowledged_at))
        .bind(ms_opt(i.mitigated_at))
        .bind(ms_opt(i.resolved_at))
        .bind(i.updated_at.as_millisecond())
        .bind(&i.declared_by)
        .bind(rows::roles_json(&i.roles))
        .bind(rows::checklist_json(&i.checklist))
        .bind(i.version)
        .bind(&services)
        .bind(&ev.at)
        .bind(&ev.actor)
        .bind(&ev.kind)
        .bind(&ev.data)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    incident.number = IncidentNumber(number);
    Ok(incident)
}

/// Saves a changed incident if its stored version is `version - 1`, with its services and new
/// timeline entries, in one statement. `NotFound` or `Conflict` when it saved nothing.
async fn update(
    conn: &mut PgConnection,
    i: &Incident,
    events: Vec<TimelineDraft>,
) -> Result<Vec<TimelineEntry>> {
    let ev = Events::of(&events)?;
    let sql = format!(
        "WITH u AS (UPDATE incidents SET title = $3, severity = $4, status = $5, summary = $6, \
             customer_impact = $7, drill = $8, detected_at = $9, declared_at = $10, \
             acknowledged_at = $11, mitigated_at = $12, resolved_at = $13, updated_at = $14, \
             declared_by = $15, roles = $16, checklist = $17, version = $18, \
             public_title = $24, timeline_seq = timeline_seq + cardinality($20::BIGINT[]), \
             (suspect_deploy, suspect_at, suspect_service, suspect_version) = ({SUSPECT}) \
           WHERE number = $1 AND version = $2 RETURNING number, timeline_seq), \
         sv AS (INSERT INTO incident_services (number, position, service) \
           SELECT u.number, t.p - 1, t.s FROM u, UNNEST($19::TEXT[]) WITH ORDINALITY AS t(s, p) \
           ON CONFLICT (number, position) DO UPDATE SET service = EXCLUDED.service \
           WHERE incident_services.service <> EXCLUDED.service), \
         sd AS (DELETE FROM incident_services d USING u \
           WHERE d.number = u.number AND d.position >= cardinality($19::TEXT[])), \
         {} \
         SELECT timeline_seq FROM u",
        timeline_clause("u", "u.number", "u.timeline_seq", 20),
        SUSPECT = suspect("$19", "$9", "$8"),
    );
    let services: Vec<&str> = i.services.iter().map(Name::as_str).collect();
    let last: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(i.number.0)
        .bind(i.version - 1)
        .bind(&i.title)
        .bind(&i.severity)
        .bind(i.status.as_str())
        .bind(&i.summary)
        .bind(&i.customer_impact)
        .bind(i.drill)
        .bind(i.detected_at.as_millisecond())
        .bind(i.declared_at.as_millisecond())
        .bind(ms_opt(i.acknowledged_at))
        .bind(ms_opt(i.mitigated_at))
        .bind(ms_opt(i.resolved_at))
        .bind(i.updated_at.as_millisecond())
        .bind(&i.declared_by)
        .bind(rows::roles_json(&i.roles))
        .bind(rows::checklist_json(&i.checklist))
        .bind(i.version)
        .bind(&services)
        .bind(&ev.at)
        .bind(&ev.actor)
        .bind(&ev.kind)
        .bind(&ev.data)
        .bind(&i.public_title)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    let Some(last) = last else {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM incidents WHERE number = $1)")
                .bind(i.number.0)
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
        return Err(if exists {
            StoreError::Conflict(format!(
                "{} was changed by someone else; reload it and try again",
                i.number
            ))
        } else {
            StoreError::NotFound
        });
    };
    let added = events.len() as i64;
    Ok(stored(events, last - added + 1))
}

/// Appends entries to an incident's timeline, continuing its seq. `NotFound` if it does not
/// exist.
async fn append(
    conn: &mut PgConnection,
    number: IncidentNumber,
    events: Vec<TimelineDraft>,
) -> Result<Vec<TimelineEntry>> {
    let ev = Events::of(&events)?;
    let sql = format!(
        "WITH u AS (UPDATE incidents SET timeline_seq = timeline_seq + cardinality($2::BIGINT[]) \
           WHERE number = $1 RETURNING number, timeline_seq), \
         {} \
         SELECT timeline_seq FROM u",
        timeline_clause("u", "u.number", "u.timeline_seq", 2)
    );
    let last: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(number.0)
        .bind(&ev.at)
        .bind(&ev.actor)
        .bind(&ev.kind)
        .bind(&ev.data)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
    let added = events.len() as i64;
    Ok(stored(events, last - added + 1))
}

async fn select_incident(
    conn: &mut PgConnection,
    number: IncidentNumber,
    lock: bool,
) -> Result<Option<Incident>> {
    let lock = if lock { " FOR UPDATE OF i" } else { "" };
    sqlx::query(AssertSqlSafe(format!(
        "{SELECT_INCIDENTS} WHERE i.number = $1{lock}"
    )))
    .bind(number.0)
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .as_ref()
    .map(rows::incident)
    .transpose()
}

/// Appends audit records to the hash chain, in order, under the chain's advisory lock, which
/// the transaction holds until it commits: the chain's next writer reads this one's last hash
/// only after it is committed, so the chain cannot fork. Run by the committer just before the
/// commit, so the lock is held for as short a time as possible.
pub(crate) async fn chain_audits(conn: &mut PgConnection, audits: &[&AuditDraft]) -> Result<()> {
    if audits.is_empty() {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(format!(
        "SELECT pg_advisory_xact_lock({LOCK_KEY})"
    )))
    .bind(AUDIT_CHAIN_LOCK)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    let tail: Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    let (mut id, mut prev) = match tail {
        Some((id, Some(hash))) => (id, hash),
        // The newest row has no hash: written around Firebreak. It stays a break in the chain
        // that `audit verify` names; the chain goes on from the last row that has one.
        Some((id, None)) => {
            let hash: Option<String> = sqlx::query_scalar(
                "SELECT hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1",
            )
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
            (id, hash.unwrap_or_else(|| GENESIS.to_string()))
        }
        None => (0, GENESIS.to_string()),
    };
    let n = audits.len();
    let (mut ids, mut actors, mut actions, mut targets, mut ats, mut sources, mut grants) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut prevs, mut hashes) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for audit in audits {
        id += 1;
        let hash = audit.chained(id, &prev);
        ids.push(id);
        actors.push(audit.actor.as_str());
        actions.push(audit.action.as_str());
        targets.push(audit.target.as_str());
        ats.push(audit.at.as_millisecond());
        sources.push(audit.source.as_deref());
        grants.push(audit.break_glass);
        prevs.push(std::mem::replace(&mut prev, hash.clone()));
        hashes.push(hash);
    }
    // The ids follow the chain; the table's sequence is moved past them, so a writer that
    // takes ids from it (an instance from before the chain) never collides.
    sqlx::query(
        "WITH added AS (INSERT INTO audit_log \
         (id, actor, action, target, at, source, break_glass, prev_hash, hash) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], \
         $6::TEXT[], $7::BIGINT[], $8::TEXT[], $9::TEXT[]) RETURNING id) \
         SELECT setval(pg_get_serial_sequence('audit_log', 'id'), (SELECT MAX(id) FROM added))",
    )
    .bind(&ids)
    .bind(&actors)
    .bind(&actions)
    .bind(&targets)
    .bind(&ats)
    .bind(&sources)
    .bind(&grants)
    .bind(&prevs)
    .bind(&hashes)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// The name of the audit chain's advisory lock.
const AUDIT_CHAIN_LOCK: &str = "audit-chain";

/// Hashes the rows written before the audit log had a chain, oldest first, continuing from the
/// last hashed row before them. Runs after migrating, under the chain's lock.
pub(crate) async fn chain_unhashed_audit(conn: &mut PgConnection) -> Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT pg_advisory_xact_lock({LOCK_KEY})"
    )))
    .bind(AUDIT_CHAIN_LOCK)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    hash_unhashed(conn).await
}

/// Gives every row without a hash its link, in id order, each after the row before it, for a
/// log with no hashed row yet (rows from before the chain existed). Once the chain exists, a
/// row without a hash was written around Firebreak: it stays a break that `audit verify`
/// names, never adopted. Under the chain's lock.
async fn hash_unhashed(conn: &mut PgConnection) -> Result<()> {
    let (hashed, stray): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM audit_log WHERE hash IS NOT NULL), \
         EXISTS (SELECT 1 FROM audit_log WHERE hash IS NULL)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    if hashed {
        if stray {
            tracing::warn!(
                "the audit log has rows without a hash, written around Firebreak; \
                 `firebreak audit verify` names the first"
            );
        }
        return Ok(());
    }
    let first: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM audit_log WHERE hash IS NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let Some(first) = first else {
        return Ok(());
    };
    let mut prev: String = sqlx::query_scalar::<_, Option<String>>(
        "SELECT hash FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(first)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .flatten()
    .unwrap_or_else(|| GENESIS.to_string());
    let entries = sqlx::query(AssertSqlSafe(format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id >= $1 ORDER BY id"
    )))
    .bind(first)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(rows::audit)
    .collect::<Result<Vec<_>>>()?;
    let mut chained = 0;
    for e in entries {
        if let Some(hash) = &e.hash {
            prev = hash.clone();
            continue;
        }
        let hash = firebreak_domain::audit::chain_hash(&prev, &e.content());
        sqlx::query("UPDATE audit_log SET prev_hash = $2, hash = $3 WHERE id = $1")
            .bind(e.id)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        prev = hash;
        chained += 1;
    }
    tracing::info!(rows = chained, "chained audit log rows that had no hash");
    Ok(())
}

pub(crate) const AUDIT_COLUMNS: &str =
    "id, actor, action, target, at, source, break_glass, prev_hash, hash";

/// The advisory lock key for `$1`, scoped to this store's schema so stores sharing a database
/// do not wait on each other. A collision only makes unrelated work wait, never breaks it.
const LOCK_KEY: &str = "hashtextextended('firebreak-' || current_schema() || ':' || $1::TEXT, 0)";

#[async_trait]
impl IncidentWrites for PgTx<'_> {
    async fn create_incident(
        &mut self,
        incident: Incident,
        events: Vec<TimelineDraft>,
    ) -> Result<Incident> {
        let created = create(self.conn, incident, &events).await?;
        self.changed(Change::Incident {
            number: created.number,
        });
        Ok(created)
    }

    async fn lock_incident(&mut self, number: IncidentNumber) -> Result<Option<Incident>> {
        select_incident(self.conn, number, true).await
    }

    async fn timeline_of_kinds(
        &mut self,
        number: IncidentNumber,
        kinds: &[&str],
    ) -> Result<Vec<TimelineEntry>> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let found = sqlx::query(
            "SELECT seq, at, actor, kind, data FROM timeline_entries
             WHERE number = $1 AND kind = ANY($2) ORDER BY seq",
        )
        .bind(number.0)
        .bind(&kinds)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?;
        found.iter().map(rows::timeline_entry).collect()
    }

    async fn update_incident(
        &mut self,
        incident: &Incident,
        events: Vec<TimelineDraft>,
    ) -> Result<Vec<TimelineEntry>> {
        let entries = update(self.conn, incident, events).await?;
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
        let entries = append(self.conn, number, events).await?;
        self.changed(Change::Incident { number });
        Ok(entries)
    }

    async fn audit(&mut self, audit: AuditDraft) -> Result<()> {
        self.audits.push(audit);
        Ok(())
    }

    async fn lock_name(&mut self, name: &str) -> Result<()> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT pg_advisory_xact_lock({LOCK_KEY})"
        )))
        .bind(name)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl IncidentStore for PostgresStore {
    async fn get_incident(&self, number: IncidentNumber) -> Result<Option<Incident>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        select_incident(&mut conn, number, false).await
    }

    async fn list_incidents(
        &self,
        filter: &IncidentFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Incident>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "{SELECT_INCIDENTS}
             WHERE ($1::BIGINT IS NULL OR i.number < $1)
               AND ($2::TEXT IS NULL OR i.status = $2)
               AND ($3::TEXT IS NULL OR lower(i.severity) = lower($3))
               AND ($4::TEXT IS NULL OR EXISTS (
                     SELECT 1 FROM incident_services f WHERE f.number = i.number AND f.service = $4))
               AND ($5::BOOLEAN IS NULL OR (i.status <> 'resolved') = $5)
               AND ($6::BOOLEAN IS NULL OR i.drill = $6)
             ORDER BY i.number DESC
             LIMIT $7"
        )))
        .bind(before)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.severity.as_deref())
        .bind(filter.service.as_ref().map(Name::as_str))
        .bind(filter.open)
        .bind(filter.drill)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut items = found
            .iter()
            .map(rows::incident)
            .collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |i| i.number.0);
        Ok(Page { items, next })
    }

    async fn timeline(
        &self,
        number: IncidentNumber,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>> {
        let mut items = self
            .timeline_rows(TIMELINE_AFTER, number, after.unwrap_or(0), limit)
            .await?;
        let next = rows::trim_page(&mut items, limit, |e| e.seq);
        Ok(Page { items, next })
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

/// A timeline's entries after `$2`, ascending.
const TIMELINE_AFTER: &str = "SELECT seq, at, actor, kind, data FROM timeline_entries
     WHERE number = $1 AND seq > $2
     ORDER BY seq ASC LIMIT $3";
/// A timeline's entries before `$2`, newest first: backwards along the primary key
/// (number, seq), reading only the rows it returns.
const TIMELINE_BEFORE: &str = "SELECT seq, at, actor, kind, data FROM timeline_entries
     WHERE number = $1 AND seq < $2
     ORDER BY seq DESC LIMIT $3";

impl PostgresStore {
    /// Up to `limit + 1` entries of `number`'s timeline from `bound`, in `sql`'s direction.
    async fn timeline_rows(
        &self,
        sql: &'static str,
        number: IncidentNumber,
        bound: i64,
        limit: u32,
    ) -> Result<Vec<TimelineEntry>> {
        let found = sqlx::query(sql)
            .bind(number.0)
            .bind(bound)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        found.iter().map(rows::timeline_entry).collect()
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Page<AuditEntry>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log
             WHERE ($1::BIGINT IS NULL OR id < $1)
             ORDER BY id DESC LIMIT $2"
        )))
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut items = found.iter().map(rows::audit).collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |a| a.id);
        Ok(Page { items, next })
    }

    async fn audit_after(
        &self,
        after: i64,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log
             WHERE id > $1 AND ($2::BIGINT IS NULL OR id >=
                 (SELECT MIN(id) FROM audit_log WHERE at >= $2))
             ORDER BY id LIMIT $3"
        )))
        .bind(after)
        .bind(since.map(|t| t.as_millisecond()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found.iter().map(rows::audit).collect()
    }
}
