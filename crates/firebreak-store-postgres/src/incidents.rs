//! Incidents and their timelines. Every write runs in one transaction with its timeline entries
//! and audit record. Numbers come from a counter row, so they are sequential without gaps even
//! under concurrency; timeline sequence numbers are claimed by bumping the incident's
//! `timeline_seq` column, which also serialises concurrent appends to one incident.

use std::collections::HashMap;

use async_trait::async_trait;
use firebreak_domain::{Incident, IncidentNumber, Name};
use firebreak_store::{
    AuditDraft, IncidentFilter, IncidentStore, Page, Result, StoreError, TimelineDraft,
    TimelineEntry,
};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Row};

use crate::rows::{self, INCIDENT_COLUMNS, ms_opt};
use crate::{PostgresStore, backend, insert_audit, write_error};

async fn replace_services(conn: &mut PgConnection, number: i64, services: &[Name]) -> Result<()> {
    sqlx::query("DELETE FROM incident_services WHERE number = $1")
        .bind(number)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    for (position, service) in services.iter().enumerate() {
        sqlx::query(
            "INSERT INTO incident_services (number, position, service) VALUES ($1, $2, $3)",
        )
        .bind(number)
        .bind(position as i32)
        .bind(service.as_str())
        .execute(&mut *conn)
        .await
        .map_err(write_error)?;
    }
    Ok(())
}

/// Inserts `events` with sequence numbers `first_seq`, `first_seq + 1`, ...
pub(crate) async fn insert_events(
    conn: &mut PgConnection,
    number: i64,
    first_seq: i64,
    events: Vec<TimelineDraft>,
) -> Result<Vec<TimelineEntry>> {
    let mut entries = Vec::with_capacity(events.len());
    for (i, draft) in events.into_iter().enumerate() {
        let seq = first_seq + i as i64;
        let (kind, data) = rows::event_parts(&draft.event)?;
        sqlx::query("INSERT INTO timeline_entries (number, seq, at, actor, kind, data) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(number)
            .bind(seq)
            .bind(draft.at.as_millisecond())
            .bind(&draft.actor)
            .bind(kind)
            .bind(data)
            .execute(&mut *conn)
            .await
            .map_err(write_error)?;
        entries.push(TimelineEntry {
            seq,
            at: draft.at,
            actor: draft.actor,
            event: draft.event,
        });
    }
    Ok(entries)
}

/// Claims `count` timeline sequence numbers for an incident, locking its row until commit.
/// Returns the first claimed number, or `None` if there is no such incident.
pub(crate) async fn claim_seq(
    conn: &mut PgConnection,
    number: i64,
    count: i64,
) -> Result<Option<i64>> {
    let last: Option<i64> =
        sqlx::query("UPDATE incidents SET timeline_seq = timeline_seq + $2 WHERE number = $1 RETURNING timeline_seq")
            .bind(number)
            .bind(count)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(backend)?;
    Ok(last.map(|last| last - count + 1))
}

/// Stores a declared incident with the next sequential number, its first timeline entries and
/// its audit record, inside the caller's transaction. The counter row stays locked until commit.
pub(crate) async fn insert_incident(
    conn: &mut PgConnection,
    incident: Incident,
    events: Vec<TimelineDraft>,
    audit: AuditDraft,
) -> Result<Incident> {
    let number: i64 = sqlx::query(
        "UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value",
    )
    .fetch_one(&mut *conn)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(backend)?;
    let mut incident = incident;
    incident.number = IncidentNumber(number);
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO incidents ({INCIDENT_COLUMNS}, timeline_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    )))
    .bind(number)
    .bind(&incident.title)
    .bind(&incident.severity)
    .bind(incident.status.as_str())
    .bind(&incident.summary)
    .bind(&incident.customer_impact)
    .bind(incident.drill)
    .bind(incident.detected_at.as_millisecond())
    .bind(incident.declared_at.as_millisecond())
    .bind(ms_opt(incident.acknowledged_at))
    .bind(ms_opt(incident.mitigated_at))
    .bind(ms_opt(incident.resolved_at))
    .bind(incident.updated_at.as_millisecond())
    .bind(&incident.declared_by)
    .bind(rows::roles_json(&incident.roles))
    .bind(rows::checklist_json(&incident.checklist))
    .bind(incident.version)
    .bind(events.len() as i64)
    .execute(&mut *conn)
    .await
    .map_err(write_error)?;
    replace_services(conn, number, &incident.services).await?;
    insert_events(conn, number, 1, events).await?;
    let mut audit = audit;
    if audit.target.is_empty() {
        audit.target = incident.number.to_string();
    }
    insert_audit(conn, &audit).await?;
    Ok(incident)
}

/// The services of each incident in `numbers`, in their stored order.
async fn services_of(store: &PostgresStore, numbers: &[i64]) -> Result<HashMap<i64, Vec<Name>>> {
    let found = sqlx::query(
        "SELECT number, service FROM incident_services WHERE number = ANY($1) ORDER BY number, position",
    )
    .bind(numbers)
    .fetch_all(&store.pool)
    .await
    .map_err(backend)?;
    let mut map: HashMap<i64, Vec<Name>> = HashMap::new();
    for row in &found {
        let number: i64 = row.try_get("number").map_err(backend)?;
        let service: String = row.try_get("service").map_err(backend)?;
        map.entry(number).or_default().push(rows::name(&service)?);
    }
    Ok(map)
}

#[async_trait]
impl IncidentStore for PostgresStore {
    async fn create_incident(
        &self,
        incident: Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Incident> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let incident = insert_incident(&mut tx, incident, events, audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(incident)
    }

    async fn update_incident(
        &self,
        incident: &Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<()> {
        let number = incident.number.0;
        let count = events.len() as i64;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let last: Option<i64> = sqlx::query(
            "UPDATE incidents SET title = $3, severity = $4, status = $5, summary = $6, customer_impact = $7,
                 drill = $8, detected_at = $9, declared_at = $10, acknowledged_at = $11, mitigated_at = $12,
                 resolved_at = $13, updated_at = $14, declared_by = $15, roles = $16, checklist = $17,
                 version = $18, timeline_seq = timeline_seq + $19
             WHERE number = $1 AND version = $2
             RETURNING timeline_seq",
        )
        .bind(number)
        .bind(incident.version - 1)
        .bind(&incident.title)
        .bind(&incident.severity)
        .bind(incident.status.as_str())
        .bind(&incident.summary)
        .bind(&incident.customer_impact)
        .bind(incident.drill)
        .bind(incident.detected_at.as_millisecond())
        .bind(incident.declared_at.as_millisecond())
        .bind(ms_opt(incident.acknowledged_at))
        .bind(ms_opt(incident.mitigated_at))
        .bind(ms_opt(incident.resolved_at))
        .bind(incident.updated_at.as_millisecond())
        .bind(&incident.declared_by)
        .bind(rows::roles_json(&incident.roles))
        .bind(rows::checklist_json(&incident.checklist))
        .bind(incident.version)
        .bind(count)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(backend)?;
        let Some(last) = last else {
            let exists: bool =
                sqlx::query("SELECT EXISTS (SELECT 1 FROM incidents WHERE number = $1)")
                    .bind(number)
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(backend)?;
            tx.rollback().await.map_err(backend)?;
            return Err(if exists {
                StoreError::Conflict(format!(
                    "{} was changed by someone else since it was read; reload it and try again",
                    incident.number
                ))
            } else {
                StoreError::NotFound
            });
        };
        replace_services(&mut tx, number, &incident.services).await?;
        insert_events(&mut tx, number, last - count + 1, events).await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn append_timeline(
        &self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Vec<TimelineEntry>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let Some(first) = claim_seq(&mut tx, number.0, events.len() as i64).await? else {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        };
        let entries = insert_events(&mut tx, number.0, first, events).await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(entries)
    }

    async fn get_incident(&self, number: IncidentNumber) -> Result<Option<Incident>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE number = $1"
        )))
        .bind(number.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut services = services_of(self, &[number.0]).await?;
        rows::incident(&row, services.remove(&number.0).unwrap_or_default()).map(Some)
    }

    async fn list_incidents(
        &self,
        filter: &IncidentFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Incident>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents i
             WHERE ($1::BIGINT IS NULL OR i.number < $1)
               AND ($2::TEXT IS NULL OR i.status = $2)
               AND ($3::TEXT IS NULL OR lower(i.severity) = lower($3))
               AND ($4::TEXT IS NULL OR EXISTS (
                     SELECT 1 FROM incident_services s WHERE s.number = i.number AND s.service = $4))
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
        .map_err(backend)?;
        let numbers = found
            .iter()
            .map(|row| row.try_get::<i64, _>("number"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let mut services = services_of(self, &numbers).await?;
        let mut items = found
            .iter()
            .zip(&numbers)
            .map(|(row, n)| rows::incident(row, services.remove(n).unwrap_or_default()))
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
        let found = sqlx::query(
            "SELECT seq, at, actor, kind, data FROM timeline_entries
             WHERE number = $1 AND ($2::BIGINT IS NULL OR seq > $2)
             ORDER BY seq ASC LIMIT $3",
        )
        .bind(number.0)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut items = found
            .iter()
            .map(rows::timeline_entry)
            .collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |e| e.seq);
        Ok(Page { items, next })
    }
}
