//! Alert ingestion: integrations and their keys, alerts, silences, maintenance windows, API
//! routing rules and deployments.
//!
//! [`AlertStore::ingest`] runs the engine's work in one transaction through [`PgAlertTx`].
//! Concurrent events of one dedup key are serialised by a transaction-scoped advisory lock taken
//! before the open alert is read, and concurrent alerts of one service by another taken before
//! its open incident is read, so two triggers never both open an alert and two alerts never both
//! declare an incident. The partial unique index `alerts_open_dedup` backs the first guarantee.

use std::collections::HashMap;

use async_trait::async_trait;
use firebreak_domain::rules::{MaintenanceWindow, OpenIncident, Silence};
use firebreak_domain::{Alert, AlertStatus, Incident, IncidentNumber, Name};
use firebreak_store::{
    AlertFilter, AlertStore, AlertTx, AuditDraft, DeploymentRecord, IngestOutcome, IngestWork,
    IntegrationKey, IntegrationRecord, Page, Result, RouteRecord, StoreError, TimelineDraft, codec,
};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Row};

use crate::incidents::{claim_seq, insert_events, insert_incident};
use crate::rows::{self, ALERT_COLUMNS, ms_opt};
use crate::{PostgresStore, backend, insert_audit, write_error, write_error_for};

const SILENCE_COLUMNS: &str = "id, matchers, starts_at, ends_at, comment, created_by, created_at";
const MAINTENANCE_COLUMNS: &str =
    "id, service, starts_at, ends_at, comment, created_by, created_at";
const ROUTE_COLUMNS: &str =
    "id, matchers, service, severity, urgency, drop_event, created_by, created_at";
const DEPLOYMENT_COLUMNS: &str = "id, service, version, previous_version, commit_sha, author, \
    link, at, source, summary, created_at";

// ---------------------------------------------------------------------------------------------
// Integrations

/// The integrations with `ids` (all of them if `None`), by service then name, each with every
/// key, oldest first.
async fn load_integrations(
    conn: &mut PgConnection,
    ids: Option<&[String]>,
) -> Result<Vec<IntegrationRecord>> {
    let found = sqlx::query(
        "SELECT id, service, name, from_config, created_at FROM integrations
         WHERE ($1::TEXT[] IS NULL OR id = ANY($1))
         ORDER BY service, name",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut integrations = found
        .iter()
        .map(rows::integration)
        .collect::<Result<Vec<_>>>()?;
    let keys = sqlx::query(
        "SELECT integration, id, hash, hint, created_at, revoked_at FROM integration_keys
         WHERE ($1::TEXT[] IS NULL OR integration = ANY($1))
         ORDER BY created_at, id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut by_integration: HashMap<String, Vec<IntegrationKey>> = HashMap::new();
    for row in &keys {
        let integration: String = row.try_get("integration").map_err(backend)?;
        by_integration
            .entry(integration)
            .or_default()
            .push(rows::integration_key(row)?);
    }
    for integration in &mut integrations {
        integration.keys = by_integration.remove(&integration.id).unwrap_or_default();
    }
    Ok(integrations)
}

async fn load_integration(conn: &mut PgConnection, id: &str) -> Result<IntegrationRecord> {
    load_integrations(conn, Some(&[id.to_string()]))
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

async fn insert_key(
    conn: &mut PgConnection,
    integration: &str,
    key: &IntegrationKey,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO integration_keys (id, integration, hash, hint, created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(integration)
    .bind(&key.hash)
    .bind(&key.hint)
    .bind(codec::millis(key.created_at))
    .bind(ms_opt(key.revoked_at))
    .execute(conn)
    .await
    .map_err(write_error_for(&key.id))?;
    Ok(())
}

/// Locks the integration's row until commit; `NotFound` if there is none.
async fn lock_integration(conn: &mut PgConnection, id: &str) -> Result<()> {
    sqlx::query("SELECT id FROM integrations WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

// ---------------------------------------------------------------------------------------------
// Alerts

async fn select_alert(conn: &mut PgConnection, id: i64) -> Result<Option<Alert>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .as_ref()
    .map(rows::alert)
    .transpose()
}

/// Binds every alert column but `id`, in the order of [`ALERT_COLUMNS`].
macro_rules! bind_alert {
    ($query:expr, $alert:expr) => {{
        let alert: &Alert = $alert;
        $query
            .bind(&alert.integration)
            .bind(alert.service.as_str())
            .bind(&alert.dedup_key)
            .bind(alert.format.as_str())
            .bind(alert.status.as_str())
            .bind(alert.severity.as_str())
            .bind(alert.urgency.as_str())
            .bind(&alert.summary)
            .bind(&alert.source)
            .bind(codec::labels_json(&alert.labels))
            .bind(&alert.details)
            .bind(codec::links_json(&alert.links))
            .bind(codec::images_json(&alert.images))
            .bind(ms_opt(alert.started_at))
            .bind(ms_opt(alert.ended_at))
            .bind(codec::millis(alert.first_seen))
            .bind(codec::millis(alert.last_seen))
            .bind(alert.count)
            .bind(ms_opt(alert.acknowledged_at))
            .bind(alert.acknowledged_by.as_deref())
            .bind(ms_opt(alert.resolved_at))
            .bind(alert.resolved_by.as_deref())
            .bind(alert.suppressed_reason.as_deref())
            .bind(alert.incident.map(|n| n.0))
            .bind(&alert.raw)
    }};
}

/// An advisory lock key for `what`, scoped to this store's schema so stores sharing a database
/// do not wait on each other. Collisions only make unrelated work wait, never break it.
const LOCK_KEY: &str = "hashtextextended('firebreak-' || current_schema() || ':' || $1::TEXT, 0)";

async fn advisory_lock(conn: &mut PgConnection, what: &str) -> Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT pg_advisory_xact_lock({LOCK_KEY})"
    )))
    .bind(what)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// The reads and writes of one ingestion, all in the transaction [`AlertStore::ingest`] opened.
struct PgAlertTx<'c> {
    conn: &'c mut PgConnection,
}

#[async_trait]
impl AlertTx for PgAlertTx<'_> {
    async fn open_alert(&mut self, integration: &str, dedup_key: &str) -> Result<Option<Alert>> {
        // Length-prefixed, so no two (integration, key) pairs spell the same lock text.
        let what = format!("alert:{}:{integration}:{dedup_key}", integration.len());
        advisory_lock(self.conn, &what).await?;
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts
             WHERE integration = $1 AND dedup_key = $2 AND status <> 'resolved'"
        )))
        .bind(integration)
        .bind(dedup_key)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(backend)?
        .as_ref()
        .map(rows::alert)
        .transpose()
    }

    async fn alert(&mut self, id: i64) -> Result<Option<Alert>> {
        select_alert(self.conn, id).await
    }

    async fn insert_alert(&mut self, alert: &Alert) -> Result<i64> {
        // ON CONFLICT keeps the transaction usable when the key is taken: the caller gets
        // `Conflict` and may carry on, as with SQLite.
        let query = sqlx::query(
            "INSERT INTO alerts (integration, service, dedup_key, format, status, severity,
                 urgency, summary, source, labels, details, links, images, started_at, ended_at,
                 first_seen, last_seen, count, acknowledged_at, acknowledged_by, resolved_at,
                 resolved_by, suppressed_reason, incident, raw)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21, $22, $23, $24, $25)
             ON CONFLICT (integration, dedup_key) WHERE status <> 'resolved' DO NOTHING
             RETURNING id",
        );
        let id: Option<i64> = bind_alert!(query, alert)
            .fetch_optional(&mut *self.conn)
            .await
            .map_err(write_error_for(&alert.dedup_key))?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(backend)?;
        id.ok_or_else(|| {
            StoreError::Conflict(format!(
                "an unresolved alert with the dedup key `{}` already exists",
                alert.dedup_key
            ))
        })
    }

    async fn update_alert(&mut self, alert: &Alert) -> Result<()> {
        let query = sqlx::query(
            "UPDATE alerts SET integration = $2, service = $3, dedup_key = $4, format = $5,
                 status = $6, severity = $7, urgency = $8, summary = $9, source = $10,
                 labels = $11, details = $12, links = $13, images = $14, started_at = $15,
                 ended_at = $16, first_seen = $17, last_seen = $18, count = $19,
                 acknowledged_at = $20, acknowledged_by = $21, resolved_at = $22,
                 resolved_by = $23, suppressed_reason = $24, incident = $25, raw = $26
             WHERE id = $1",
        )
        .bind(alert.id);
        let done = bind_alert!(query, alert)
            .execute(&mut *self.conn)
            .await
            .map_err(write_error_for(&alert.dedup_key))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn open_incident_for(&mut self, service: &Name) -> Result<Option<OpenIncident>> {
        advisory_lock(self.conn, &format!("service:{service}")).await?;
        let row = sqlx::query(
            "SELECT i.number,
                    GREATEST(i.declared_at,
                             (SELECT max(a.last_seen) FROM alerts a WHERE a.incident = i.number))
                        AS last_activity
             FROM incidents i
             WHERE i.status <> 'resolved'
               AND EXISTS (SELECT 1 FROM incident_services s
                           WHERE s.number = i.number AND s.service = $1)
             ORDER BY i.number DESC
             LIMIT 1",
        )
        .bind(service.as_str())
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let number: i64 = row.try_get("number").map_err(backend)?;
        let last_activity: i64 = row.try_get("last_activity").map_err(backend)?;
        Ok(Some(OpenIncident {
            number: IncidentNumber(number),
            last_activity: rows::ts(last_activity)?,
        }))
    }

    async fn create_incident(
        &mut self,
        incident: Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Incident> {
        insert_incident(self.conn, incident, events, audit).await
    }

    async fn append_timeline(
        &mut self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
    ) -> Result<()> {
        let Some(first) = claim_seq(self.conn, number.0, events.len() as i64).await? else {
            return Err(StoreError::NotFound);
        };
        insert_events(self.conn, number.0, first, events).await?;
        Ok(())
    }

    async fn unresolved_alerts_of(&mut self, number: IncidentNumber) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT count(*) FROM alerts WHERE incident = $1 AND status <> 'resolved'",
        )
        .bind(number.0)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(backend)
    }

    async fn audit(&mut self, audit: AuditDraft) -> Result<()> {
        insert_audit(self.conn, &audit).await
    }
}

#[async_trait]
impl AlertStore for PostgresStore {
    async fn create_integration(
        &self,
        integration: IntegrationRecord,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO integrations (id, service, name, from_config, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&integration.id)
        .bind(integration.service.as_str())
        .bind(&integration.name)
        .bind(integration.from_config)
        .bind(codec::millis(integration.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            let subject = if e
                .as_database_error()
                .and_then(|d| d.constraint())
                .is_some_and(|c| c == "integrations_pkey")
            {
                &integration.id
            } else {
                &integration.name
            };
            write_error_for(subject)(e)
        })?;
        for key in &integration.keys {
            insert_key(&mut tx, &integration.id, key).await?;
        }
        insert_audit(&mut tx, &audit).await?;
        let created = load_integration(&mut tx, &integration.id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(created)
    }

    async fn add_integration_key(
        &self,
        integration: &str,
        key: IntegrationKey,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_integration(&mut tx, integration).await?;
        insert_key(&mut tx, integration, &key).await?;
        insert_audit(&mut tx, &audit).await?;
        let updated = load_integration(&mut tx, integration).await?;
        tx.commit().await.map_err(backend)?;
        Ok(updated)
    }

    async fn revoke_integration_key(
        &self,
        integration: &str,
        key: &str,
        at: jiff::Timestamp,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query(
            "UPDATE integration_keys SET revoked_at = $3
             WHERE integration = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(integration)
        .bind(key)
        .bind(codec::millis(at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit).await?;
        let updated = load_integration(&mut tx, integration).await?;
        tx.commit().await.map_err(backend)?;
        Ok(updated)
    }

    async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        load_integrations(&mut conn, None).await
    }

    async fn sync_integrations(&self, integrations: Vec<IntegrationRecord>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for integration in &integrations {
            // An integration already stored under this service and name keeps its id.
            let id: String = sqlx::query_scalar(
                "INSERT INTO integrations (id, service, name, from_config, created_at)
                 VALUES ($1, $2, $3, TRUE, $4)
                 ON CONFLICT (service, name) DO UPDATE SET from_config = TRUE
                 RETURNING id",
            )
            .bind(&integration.id)
            .bind(integration.service.as_str())
            .bind(&integration.name)
            .bind(codec::millis(integration.created_at))
            .fetch_one(&mut *tx)
            .await
            .map_err(write_error_for(&integration.id))?;
            for key in &integration.keys {
                sqlx::query(
                    "INSERT INTO integration_keys (id, integration, hash, hint, created_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (hash) DO NOTHING",
                )
                .bind(&key.id)
                .bind(&id)
                .bind(&key.hash)
                .bind(&key.hint)
                .bind(codec::millis(key.created_at))
                .bind(ms_opt(key.revoked_at))
                .execute(&mut *tx)
                .await
                .map_err(write_error_for(&key.id))?;
                let owner: String =
                    sqlx::query_scalar("SELECT integration FROM integration_keys WHERE hash = $1")
                        .bind(&key.hash)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?;
                if owner != id {
                    return Err(StoreError::Conflict(format!(
                        "the key of integration {:?} of service {} belongs to another integration",
                        integration.name, integration.service
                    )));
                }
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn ingest(&self, work: IngestWork) -> Result<Vec<IngestOutcome>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let result = {
            let mut alert_tx = PgAlertTx { conn: &mut tx };
            work(&mut alert_tx).await
        };
        match result {
            Ok(outcomes) => {
                tx.commit().await.map_err(write_error)?;
                Ok(outcomes)
            }
            Err(e) => {
                // The work's error is what matters; a failed rollback also discards everything.
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback, "rolling back a failed ingestion failed");
                }
                Err(e)
            }
        }
    }

    async fn get_alert(&self, id: i64) -> Result<Option<Alert>> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        select_alert(&mut conn, id).await
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Alert>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts
             WHERE ($1::BIGINT IS NULL OR id < $1)
               AND ($2::TEXT IS NULL OR status = $2)
               AND ($3::TEXT IS NULL OR service = $3)
               AND ($4::BIGINT IS NULL OR incident = $4)
             ORDER BY id DESC
             LIMIT $5"
        )))
        .bind(before)
        .bind(filter.status.map(AlertStatus::as_str))
        .bind(filter.service.as_ref().map(Name::as_str))
        .bind(filter.incident.map(|n| n.0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut items = found.iter().map(rows::alert).collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |a| a.id);
        Ok(Page { items, next })
    }

    async fn alerts_of_incidents(
        &self,
        incidents: &[IncidentNumber],
    ) -> Result<Vec<(IncidentNumber, i64, AlertStatus)>> {
        let numbers: Vec<i64> = incidents.iter().map(|n| n.0).collect();
        let found = sqlx::query(
            "SELECT incident, id, status FROM alerts WHERE incident = ANY($1) ORDER BY id",
        )
        .bind(&numbers)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        found
            .iter()
            .map(|row| {
                let incident: i64 = row.try_get("incident").map_err(backend)?;
                let id: i64 = row.try_get("id").map_err(backend)?;
                let status: String = row.try_get("status").map_err(backend)?;
                Ok((
                    IncidentNumber(incident),
                    id,
                    codec::word("alert status", &status)?,
                ))
            })
            .collect()
    }

    async fn create_silence(&self, silence: Silence, audit: AuditDraft) -> Result<Silence> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO silences (matchers, starts_at, ends_at, comment, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING {SILENCE_COLUMNS}"
        )))
        .bind(codec::matchers_json(&silence.matchers))
        .bind(codec::millis(silence.starts_at))
        .bind(codec::millis(silence.ends_at))
        .bind(&silence.comment)
        .bind(&silence.created_by)
        .bind(codec::millis(silence.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(write_error)?;
        let created = rows::silence(&row)?;
        insert_audit(&mut tx, &audit.naming(created.id)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(created)
    }

    async fn expire_silence(
        &self,
        id: i64,
        at: jiff::Timestamp,
        audit: AuditDraft,
    ) -> Result<Silence> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A silence that has not started yet becomes an empty one at `at`.
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE silences SET starts_at = LEAST(starts_at, $2), ends_at = $2
             WHERE id = $1 AND ends_at > $2
             RETURNING {SILENCE_COLUMNS}"
        )))
        .bind(id)
        .bind(codec::millis(at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        };
        let expired = rows::silence(&row)?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(expired)
    }

    async fn list_silences(&self, after: jiff::Timestamp) -> Result<Vec<Silence>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > $1 ORDER BY id DESC"
        )))
        .bind(codec::millis(after))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(rows::silence)
        .collect()
    }

    async fn create_maintenance(
        &self,
        window: MaintenanceWindow,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO maintenance_windows (service, starts_at, ends_at, comment, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING {MAINTENANCE_COLUMNS}"
        )))
        .bind(window.service.as_str())
        .bind(codec::millis(window.starts_at))
        .bind(codec::millis(window.ends_at))
        .bind(&window.comment)
        .bind(&window.created_by)
        .bind(codec::millis(window.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(write_error)?;
        let created = rows::maintenance(&row)?;
        insert_audit(&mut tx, &audit.naming(created.id)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(created)
    }

    async fn end_maintenance(
        &self,
        id: i64,
        at: jiff::Timestamp,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A window that has not started yet is emptied: it starts and ends at `at`.
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE maintenance_windows SET starts_at = LEAST(starts_at, $2), ends_at = $2
             WHERE id = $1 AND ends_at > $2
             RETURNING {MAINTENANCE_COLUMNS}"
        )))
        .bind(id)
        .bind(codec::millis(at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        };
        let ended = rows::maintenance(&row)?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(ended)
    }

    async fn list_maintenance(&self, after: jiff::Timestamp) -> Result<Vec<MaintenanceWindow>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MAINTENANCE_COLUMNS} FROM maintenance_windows
             WHERE ends_at > $1 ORDER BY starts_at, id"
        )))
        .bind(codec::millis(after))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(rows::maintenance)
        .collect()
    }

    async fn create_route(&self, route: RouteRecord, audit: AuditDraft) -> Result<RouteRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO routes (matchers, service, severity, urgency, drop_event, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING {ROUTE_COLUMNS}"
        )))
        .bind(codec::matchers_json(&route.route.matchers))
        .bind(route.route.service.as_ref().map(Name::as_str))
        .bind(route.route.severity.map(|s| s.as_str()))
        .bind(route.route.urgency.map(|u| u.as_str()))
        .bind(route.route.drop)
        .bind(&route.created_by)
        .bind(codec::millis(route.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(write_error)?;
        let created = rows::route(&row)?;
        insert_audit(&mut tx, &audit.naming(created.id)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(created)
    }

    async fn delete_route(&self, id: i64, audit: AuditDraft) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query("DELETE FROM routes WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn list_routes(&self) -> Result<Vec<RouteRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ROUTE_COLUMNS} FROM routes ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(rows::route)
        .collect()
    }

    async fn record_deployment(
        &self,
        deployment: DeploymentRecord,
        audit: AuditDraft,
    ) -> Result<DeploymentRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO deployments (service, version, previous_version, commit_sha, author,
                 link, at, source, summary, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING {DEPLOYMENT_COLUMNS}"
        )))
        .bind(deployment.service.as_str())
        .bind(&deployment.version)
        .bind(deployment.previous_version.as_deref())
        .bind(deployment.commit.as_deref())
        .bind(deployment.author.as_deref())
        .bind(deployment.link.as_deref())
        .bind(codec::millis(deployment.at))
        .bind(&deployment.source)
        .bind(deployment.summary.as_deref())
        .bind(codec::millis(deployment.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(write_error)?;
        let recorded = rows::deployment(&row)?;
        insert_audit(&mut tx, &audit.naming(recorded.id)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(recorded)
    }

    async fn list_deployments(
        &self,
        service: Option<&Name>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<DeploymentRecord>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
             WHERE ($1::BIGINT IS NULL OR id < $1)
               AND ($2::TEXT IS NULL OR service = $2)
             ORDER BY id DESC
             LIMIT $3"
        )))
        .bind(before)
        .bind(service.map(Name::as_str))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut items = found
            .iter()
            .map(rows::deployment)
            .collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |d| d.id);
        Ok(Page { items, next })
    }

    async fn deployments_between(
        &self,
        services: &[Name],
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> Result<Vec<DeploymentRecord>> {
        let services: Vec<&str> = services.iter().map(Name::as_str).collect();
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
             WHERE service = ANY($1) AND at >= $2 AND at <= $3
             ORDER BY at DESC, id DESC"
        )))
        .bind(&services)
        .bind(codec::millis(from))
        .bind(codec::millis(to))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(rows::deployment)
        .collect()
    }
}
