//! Alerts, integrations, silences, maintenance windows, routing rules and deployments on SQLite.
//! Ingestion runs as one job on the group-commit writer, so an alert, its dedup state and the
//! incident changes it causes commit together, and the sender is answered after COMMIT.

use async_trait::async_trait;
use firebreak_domain::rules::{MaintenanceWindow, OpenIncident, Route, Silence};
use firebreak_domain::{Alert, AlertStatus, Incident, IncidentNumber, Name};
use firebreak_store::{
    AlertFilter, AlertStore, AlertTx, AuditDraft, DeploymentRecord, IngestOutcome, IngestWork,
    IntegrationKey, IntegrationRecord, Page, Result, RouteRecord, StoreError, TimelineDraft, codec,
};
use jiff::Timestamp;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::rows::{ms, opt_ms, opt_ts, ts};
use crate::{SqliteStore, append_entries, db, insert_audit, insert_incident, page, unique};

/// `SELECT <every alert column> FROM alerts`, in the shape [`alert_row`] reads.
macro_rules! select_alerts {
    () => {
        "SELECT id, integration, service, dedup_key, format, status, severity, urgency, summary, \
     source, labels, details, links, images, started_at, ended_at, first_seen, last_seen, count, \
     acknowledged_at, acknowledged_by, resolved_at, resolved_by, suppressed_reason, incident, raw FROM alerts"
    };
}

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col).map_err(StoreError::backend)
}

fn alert_row(row: &SqliteRow) -> Result<Alert> {
    Ok(Alert {
        id: get(row, "id")?,
        integration: get(row, "integration")?,
        service: codec::name(&get::<String>(row, "service")?)?,
        dedup_key: get(row, "dedup_key")?,
        format: codec::word("format", &get::<String>(row, "format")?)?,
        status: codec::word("status", &get::<String>(row, "status")?)?,
        severity: codec::word("severity", &get::<String>(row, "severity")?)?,
        urgency: codec::word("urgency", &get::<String>(row, "urgency")?)?,
        summary: get(row, "summary")?,
        source: get(row, "source")?,
        labels: codec::labels_from(&get::<String>(row, "labels")?)?,
        details: get(row, "details")?,
        links: codec::links_from(&get::<String>(row, "links")?)?,
        images: codec::images_from(&get::<String>(row, "images")?)?,
        started_at: opt_ts(get(row, "started_at")?)?,
        ended_at: opt_ts(get(row, "ended_at")?)?,
        first_seen: ts(get(row, "first_seen")?)?,
        last_seen: ts(get(row, "last_seen")?)?,
        count: get(row, "count")?,
        acknowledged_at: opt_ts(get(row, "acknowledged_at")?)?,
        acknowledged_by: get(row, "acknowledged_by")?,
        resolved_at: opt_ts(get(row, "resolved_at")?)?,
        resolved_by: get(row, "resolved_by")?,
        suppressed_reason: get(row, "suppressed_reason")?,
        incident: get::<Option<i64>>(row, "incident")?.map(IncidentNumber),
        raw: get(row, "raw")?,
    })
}

fn silence_row(row: &SqliteRow) -> Result<Silence> {
    Ok(Silence {
        id: get(row, "id")?,
        matchers: codec::matchers_from(&get::<String>(row, "matchers")?)?,
        starts_at: ts(get(row, "starts_at")?)?,
        ends_at: ts(get(row, "ends_at")?)?,
        comment: get(row, "comment")?,
        created_by: get(row, "created_by")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

fn window_row(row: &SqliteRow) -> Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: get(row, "id")?,
        service: codec::name(&get::<String>(row, "service")?)?,
        starts_at: ts(get(row, "starts_at")?)?,
        ends_at: ts(get(row, "ends_at")?)?,
        comment: get(row, "comment")?,
        created_by: get(row, "created_by")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

fn route_row(row: &SqliteRow) -> Result<RouteRecord> {
    let word = |col: &str| -> Result<Option<String>> { get(row, col) };
    Ok(RouteRecord {
        id: get(row, "id")?,
        route: Route {
            matchers: codec::matchers_from(&get::<String>(row, "matchers")?)?,
            service: word("service")?.map(|s| codec::name(&s)).transpose()?,
            severity: word("severity")?
                .map(|s| codec::word("severity", &s))
                .transpose()?,
            urgency: word("urgency")?
                .map(|s| codec::word("urgency", &s))
                .transpose()?,
            drop: get(row, "drop_event")?,
        },
        created_by: get(row, "created_by")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

fn deployment_row(row: &SqliteRow) -> Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        id: get(row, "id")?,
        service: codec::name(&get::<String>(row, "service")?)?,
        version: get(row, "version")?,
        previous_version: get(row, "previous_version")?,
        commit: get(row, "commit_sha")?,
        author: get(row, "author")?,
        link: get(row, "link")?,
        at: ts(get(row, "at")?)?,
        source: get(row, "source")?,
        summary: get(row, "summary")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

async fn integration(conn: &mut SqliteConnection, id: &str) -> Result<Option<IntegrationRecord>> {
    let Some(row) = sqlx::query(
        "SELECT id, service, name, from_config, created_at FROM integrations WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    else {
        return Ok(None);
    };
    let mut record = integration_row(&row)?;
    let keys = sqlx::query(
        "SELECT id, integration, hash, hint, created_at, revoked_at FROM integration_keys \
         WHERE integration = ? ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    record.keys = keys.iter().map(key_row).collect::<Result<_>>()?;
    Ok(Some(record))
}

fn integration_row(row: &SqliteRow) -> Result<IntegrationRecord> {
    Ok(IntegrationRecord {
        id: get(row, "id")?,
        service: codec::name(&get::<String>(row, "service")?)?,
        name: get(row, "name")?,
        from_config: get(row, "from_config")?,
        created_at: ts(get(row, "created_at")?)?,
        keys: vec![],
    })
}

fn key_row(row: &SqliteRow) -> Result<IntegrationKey> {
    Ok(IntegrationKey {
        id: get(row, "id")?,
        hash: get(row, "hash")?,
        hint: get(row, "hint")?,
        created_at: ts(get(row, "created_at")?)?,
        revoked_at: opt_ts(get(row, "revoked_at")?)?,
    })
}

async fn insert_key(
    conn: &mut SqliteConnection,
    integration: &str,
    key: &IntegrationKey,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO integration_keys (id, integration, hash, hint, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.id)
    .bind(integration)
    .bind(&key.hash)
    .bind(&key.hint)
    .bind(ms(key.created_at))
    .bind(opt_ms(key.revoked_at))
    .execute(&mut *conn)
    .await
    .map_err(|e| unique(e, || "that integration key is already in use".into()))?;
    Ok(())
}

async fn insert_integration(conn: &mut SqliteConnection, i: &IntegrationRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO integrations (id, service, name, from_config, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&i.id)
    .bind(i.service.as_str())
    .bind(&i.name)
    .bind(i.from_config)
    .bind(ms(i.created_at))
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        unique(e, || {
            format!(
                "service {} already has an integration named {:?}",
                i.service, i.name
            )
        })
    })?;
    for key in &i.keys {
        insert_key(conn, &i.id, key).await?;
    }
    Ok(())
}

/// Binds the alert columns a repeat may change, from `service` to `raw`, in table order.
macro_rules! bind_alert {
    ($q:expr, $a:expr) => {
        $q.bind($a.service.as_str())
            .bind($a.status.as_str())
            .bind($a.severity.as_str())
            .bind($a.urgency.as_str())
            .bind(&$a.summary)
            .bind(&$a.source)
            .bind(codec::labels_json(&$a.labels))
            .bind(&$a.details)
            .bind(codec::links_json(&$a.links))
            .bind(codec::images_json(&$a.images))
            .bind(opt_ms($a.started_at))
            .bind(opt_ms($a.ended_at))
            .bind(ms($a.last_seen))
            .bind($a.count)
            .bind(opt_ms($a.acknowledged_at))
            .bind(&$a.acknowledged_by)
            .bind(opt_ms($a.resolved_at))
            .bind(&$a.resolved_by)
            .bind(&$a.suppressed_reason)
            .bind($a.incident.map(|n| n.0))
            .bind(&$a.raw)
    };
}

const END_SILENCE: &str = "UPDATE silences SET ends_at = ?1, starts_at = MIN(starts_at, ?1) \
     WHERE id = ?2 AND ends_at > ?1 RETURNING *";
const END_WINDOW: &str = "UPDATE maintenance_windows SET ends_at = ?1, starts_at = MIN(starts_at, ?1) \
     WHERE id = ?2 AND ends_at > ?1 RETURNING *";

/// Ends a silence or maintenance window at `at` (emptying one that has not started) and
/// audits it. `NotFound` when there is no such row, or it is already over.
async fn end_early(
    conn: &mut SqliteConnection,
    sql: &'static str,
    id: i64,
    at: Timestamp,
    audit: &AuditDraft,
) -> Result<SqliteRow> {
    let row = sqlx::query(sql)
        .bind(ms(at))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
    insert_audit(conn, audit).await?;
    Ok(row)
}

/// The ingestion transaction: the writer's connection inside the batch's savepoint.
struct Tx<'c> {
    conn: &'c mut SqliteConnection,
}

#[async_trait]
impl AlertTx for Tx<'_> {
    async fn open_alert(&mut self, integration: &str, dedup_key: &str) -> Result<Option<Alert>> {
        let row = sqlx::query(concat!(
            select_alerts!(),
            " WHERE integration = ? AND dedup_key = ? AND status <> 'resolved'"
        ))
        .bind(integration)
        .bind(dedup_key)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?;
        row.as_ref().map(alert_row).transpose()
    }

    async fn alert(&mut self, id: i64) -> Result<Option<Alert>> {
        let row = sqlx::query(concat!(select_alerts!(), " WHERE id = ?"))
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await
            .map_err(db)?;
        row.as_ref().map(alert_row).transpose()
    }

    async fn insert_alert(&mut self, a: &Alert) -> Result<i64> {
        let q = sqlx::query_scalar(
            "INSERT INTO alerts (integration, dedup_key, format, first_seen, service, status, severity, \
             urgency, summary, source, labels, details, links, images, started_at, ended_at, last_seen, \
             count, acknowledged_at, acknowledged_by, resolved_at, resolved_by, suppressed_reason, \
             incident, raw) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&a.integration)
        .bind(&a.dedup_key)
        .bind(a.format.as_str())
        .bind(ms(a.first_seen));
        bind_alert!(q, a)
            .fetch_one(&mut *self.conn)
            .await
            .map_err(|e| {
                unique(e, || {
                    format!(
                        "an unresolved alert with dedup key {:?} already exists",
                        a.dedup_key
                    )
                })
            })
    }

    async fn update_alert(&mut self, a: &Alert) -> Result<()> {
        let q = sqlx::query(
            "UPDATE alerts SET service = ?, status = ?, severity = ?, urgency = ?, summary = ?, source = ?, \
             labels = ?, details = ?, links = ?, images = ?, started_at = ?, ended_at = ?, last_seen = ?, \
             count = ?, acknowledged_at = ?, acknowledged_by = ?, resolved_at = ?, resolved_by = ?, \
             suppressed_reason = ?, incident = ?, raw = ? WHERE id = ?",
        );
        let done = bind_alert!(q, a)
            .bind(a.id)
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn open_incident_for(&mut self, service: &Name) -> Result<Option<OpenIncident>> {
        let row = sqlx::query(
            "SELECT i.number, MAX(i.declared_at, COALESCE((SELECT MAX(a.last_seen) FROM alerts a \
             WHERE a.incident = i.number), 0)) AS last_activity \
             FROM incidents i JOIN incident_services s ON s.number = i.number \
             WHERE s.service = ? AND i.status <> 'resolved' ORDER BY i.number DESC LIMIT 1",
        )
        .bind(service.as_str())
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(OpenIncident {
                number: IncidentNumber(get(&r, "number")?),
                last_activity: ts(get(&r, "last_activity")?)?,
            })
        })
        .transpose()
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
        append_entries(self.conn, number, events).await.map(|_| ())
    }

    async fn unresolved_alerts_of(&mut self, number: IncidentNumber) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM alerts WHERE incident = ? AND status <> 'resolved'",
        )
        .bind(number.0)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)
    }

    async fn audit(&mut self, audit: AuditDraft) -> Result<()> {
        insert_audit(self.conn, &audit).await
    }
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn create_integration(
        &self,
        integration: IntegrationRecord,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    insert_integration(conn, &integration).await?;
                    insert_audit(conn, &audit).await?;
                    Ok(integration)
                })
            })
            .await
    }

    async fn add_integration_key(
        &self,
        id: &str,
        key: IntegrationKey,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        let id = id.to_string();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    if integration(conn, &id).await?.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    insert_key(conn, &id, &key).await?;
                    insert_audit(conn, &audit).await?;
                    integration(conn, &id).await?.ok_or(StoreError::NotFound)
                })
            })
            .await
    }

    async fn revoke_integration_key(
        &self,
        id: &str,
        key: &str,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<IntegrationRecord> {
        let (id, key) = (id.to_string(), key.to_string());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE integration_keys SET revoked_at = ? \
                         WHERE integration = ? AND id = ? AND revoked_at IS NULL",
                    )
                    .bind(ms(at))
                    .bind(&id)
                    .bind(&key)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    insert_audit(conn, &audit).await?;
                    integration(conn, &id).await?.ok_or(StoreError::NotFound)
                })
            })
            .await
    }

    async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>> {
        let rows = sqlx::query(
            "SELECT id, service, name, from_config, created_at FROM integrations ORDER BY service, name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let mut out: Vec<IntegrationRecord> =
            rows.iter().map(integration_row).collect::<Result<_>>()?;
        let keys = sqlx::query(
            "SELECT id, integration, hash, hint, created_at, revoked_at FROM integration_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        for row in &keys {
            let owner: String = get(row, "integration")?;
            if let Some(i) = out.iter_mut().find(|i| i.id == owner) {
                i.keys.push(key_row(row)?);
            }
        }
        Ok(out)
    }

    async fn sync_integrations(&self, integrations: Vec<IntegrationRecord>) -> Result<()> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    for wanted in integrations {
                        let existing: Option<String> = sqlx::query_scalar(
                            "SELECT id FROM integrations WHERE service = ? AND name = ?",
                        )
                        .bind(wanted.service.as_str())
                        .bind(&wanted.name)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db)?;
                        let Some(id) = existing else {
                            insert_integration(conn, &wanted).await?;
                            continue;
                        };
                        sqlx::query("UPDATE integrations SET from_config = 1 WHERE id = ?")
                            .bind(&id)
                            .execute(&mut *conn)
                            .await
                            .map_err(db)?;
                        for key in &wanted.keys {
                            let owner: Option<String> = sqlx::query_scalar(
                                "SELECT integration FROM integration_keys WHERE hash = ?",
                            )
                            .bind(&key.hash)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db)?;
                            match owner {
                                None => insert_key(conn, &id, key).await?,
                                Some(o) if o == id => {}
                                Some(_) => {
                                    return Err(StoreError::Conflict(format!(
                                        "the key of integration {:?} of service {} belongs to another integration",
                                        wanted.name, wanted.service
                                    )));
                                }
                            }
                        }
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn ingest(&self, work: IngestWork) -> Result<Vec<IngestOutcome>> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut tx = Tx { conn };
                    work(&mut tx).await
                })
            })
            .await
    }

    async fn get_alert(&self, id: i64) -> Result<Option<Alert>> {
        let row = sqlx::query(concat!(select_alerts!(), " WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(alert_row).transpose()
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Alert>> {
        let rows = sqlx::query(concat!(
            select_alerts!(),
            " WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR status = ?2)",
            " AND (?3 IS NULL OR service = ?3) AND (?4 IS NULL OR incident = ?4)",
            " ORDER BY id DESC LIMIT ?5"
        ))
        .bind(before)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.service.as_ref().map(|s| s.as_str().to_string()))
        .bind(filter.incident.map(|n| n.0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows.iter().map(alert_row).collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |a| a.id))
    }

    async fn alerts_of_incidents(
        &self,
        incidents: &[IncidentNumber],
    ) -> Result<Vec<(IncidentNumber, i64, AlertStatus)>> {
        if incidents.is_empty() {
            return Ok(vec![]);
        }
        let numbers = serde_json::to_string(&incidents.iter().map(|n| n.0).collect::<Vec<_>>())
            .map_err(StoreError::backend)?;
        let rows = sqlx::query(
            "SELECT incident, id, status FROM alerts \
             WHERE incident IN (SELECT value FROM json_each(?)) ORDER BY id",
        )
        .bind(numbers)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    IncidentNumber(get(r, "incident")?),
                    get(r, "id")?,
                    codec::word("status", &get::<String>(r, "status")?)?,
                ))
            })
            .collect()
    }

    async fn create_silence(&self, silence: Silence, audit: AuditDraft) -> Result<Silence> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut silence = silence;
                    silence.id = sqlx::query_scalar(
                        "INSERT INTO silences (matchers, starts_at, ends_at, comment, created_by, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    )
                    .bind(codec::matchers_json(&silence.matchers))
                    .bind(ms(silence.starts_at))
                    .bind(ms(silence.ends_at))
                    .bind(&silence.comment)
                    .bind(&silence.created_by)
                    .bind(ms(silence.created_at))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db)?;
                    insert_audit(conn, &audit.naming(silence.id)).await?;
                    Ok(silence)
                })
            })
            .await
    }

    async fn expire_silence(&self, id: i64, at: Timestamp, audit: AuditDraft) -> Result<Silence> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = end_early(conn, END_SILENCE, id, at, &audit).await?;
                    silence_row(&row)
                })
            })
            .await
    }

    async fn list_silences(&self, after: Timestamp) -> Result<Vec<Silence>> {
        let rows = sqlx::query("SELECT * FROM silences WHERE ends_at > ? ORDER BY id DESC")
            .bind(ms(after))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(silence_row).collect()
    }

    async fn create_maintenance(
        &self,
        window: MaintenanceWindow,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut window = window;
                    window.id = sqlx::query_scalar(
                        "INSERT INTO maintenance_windows (service, starts_at, ends_at, comment, created_by, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    )
                    .bind(window.service.as_str())
                    .bind(ms(window.starts_at))
                    .bind(ms(window.ends_at))
                    .bind(&window.comment)
                    .bind(&window.created_by)
                    .bind(ms(window.created_at))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db)?;
                    insert_audit(conn, &audit.naming(window.id)).await?;
                    Ok(window)
                })
            })
            .await
    }

    async fn end_maintenance(
        &self,
        id: i64,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<MaintenanceWindow> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = end_early(conn, END_WINDOW, id, at, &audit).await?;
                    window_row(&row)
                })
            })
            .await
    }

    async fn list_maintenance(&self, after: Timestamp) -> Result<Vec<MaintenanceWindow>> {
        let rows = sqlx::query(
            "SELECT * FROM maintenance_windows WHERE ends_at > ? ORDER BY starts_at, id",
        )
        .bind(ms(after))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter().map(window_row).collect()
    }

    async fn create_route(&self, route: RouteRecord, audit: AuditDraft) -> Result<RouteRecord> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut route = route;
                    let r = &route.route;
                    route.id = sqlx::query_scalar(
                        "INSERT INTO routes (matchers, service, severity, urgency, drop_event, created_by, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    )
                    .bind(codec::matchers_json(&r.matchers))
                    .bind(r.service.as_ref().map(|s| s.as_str().to_string()))
                    .bind(r.severity.map(|s| s.as_str()))
                    .bind(r.urgency.map(|u| u.as_str()))
                    .bind(r.drop)
                    .bind(&route.created_by)
                    .bind(ms(route.created_at))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db)?;
                    insert_audit(conn, &audit.naming(route.id)).await?;
                    Ok(route)
                })
            })
            .await
    }

    async fn delete_route(&self, id: i64, audit: AuditDraft) -> Result<()> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM routes WHERE id = ?")
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    insert_audit(conn, &audit).await
                })
            })
            .await
    }

    async fn list_routes(&self) -> Result<Vec<RouteRecord>> {
        let rows = sqlx::query("SELECT * FROM routes ORDER BY id")
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(route_row).collect()
    }

    async fn record_deployment(
        &self,
        deployment: DeploymentRecord,
        audit: AuditDraft,
    ) -> Result<DeploymentRecord> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut d = deployment;
                    d.id = sqlx::query_scalar(
                        "INSERT INTO deployments (service, version, previous_version, commit_sha, author, link, at, \
                         source, summary, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    )
                    .bind(d.service.as_str())
                    .bind(&d.version)
                    .bind(&d.previous_version)
                    .bind(&d.commit)
                    .bind(&d.author)
                    .bind(&d.link)
                    .bind(ms(d.at))
                    .bind(&d.source)
                    .bind(&d.summary)
                    .bind(ms(d.created_at))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db)?;
                    insert_audit(conn, &audit.naming(d.id)).await?;
                    Ok(d)
                })
            })
            .await
    }

    async fn list_deployments(
        &self,
        service: Option<&Name>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<DeploymentRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM deployments WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR service = ?2) \
             ORDER BY id DESC LIMIT ?3",
        )
        .bind(before)
        .bind(service.map(|s| s.as_str().to_string()))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(deployment_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |d| d.id))
    }

    async fn deployments_between(
        &self,
        services: &[Name],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<DeploymentRecord>> {
        if services.is_empty() {
            return Ok(vec![]);
        }
        let names = serde_json::to_string(&services.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .map_err(StoreError::backend)?;
        let rows = sqlx::query(
            "SELECT * FROM deployments WHERE service IN (SELECT value FROM json_each(?)) \
             AND at >= ? AND at <= ? ORDER BY at DESC, id DESC",
        )
        .bind(names)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter().map(deployment_row).collect()
    }
}
