//! Alerts on PostgreSQL, and the alert writes and reads that live in other files
//! ([`integrations`](crate::integrations), [`rules`](crate::rules)).
//!
//! Triggers are stored with one multi-row upsert per call: the rows go in as `UNNEST` arrays, a
//! new key inserts, and a key with an unresolved alert repeats it in place (the partial unique
//! index `alerts_open_dedup` decides which). Concurrent triggers of one key wait on that index
//! entry, so they land on one alert; no advisory lock is needed. Rows are sent sorted by key, so
//! two calls that share keys take them in the same order.

use std::collections::HashMap;

use async_trait::async_trait;
use firebreak_domain::rules::{MaintenanceWindow, Silence};
use firebreak_domain::{Alert, AlertStatus, IncidentNumber, Name};
use firebreak_store::feed::Topic;
use firebreak_store::{
    AlertFilter, AlertStore, AlertWrites, Change, DeploymentRecord, IngestRequest, IntegrationKey,
    IntegrationRecord, OpenIncidentFacts, Page, Result, RouteRecord, StoreError, Upserted, codec,
};
use jiff::Timestamp;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Row};

use crate::error::{db, db_for};
use crate::rows::{self, ALERT_COLUMNS, get, ms_opt, ts, ts_opt};
use crate::tx::PgTx;
use crate::{PostgresStore, integrations, rules};

/// What a repeat changes, as [`Alert::repeat`] says: the sender's latest view, links and images
/// only when the repeat carries some, one more to `count`. No indexed column.
const ON_REPEAT: &str = "ON CONFLICT (integration, dedup_key) WHERE status <> 'resolved' DO UPDATE SET \
     last_seen = EXCLUDED.last_seen, count = alerts.count + 1, severity = EXCLUDED.severity, \
     urgency = EXCLUDED.urgency, summary = EXCLUDED.summary, labels = EXCLUDED.labels, \
     details = EXCLUDED.details, \
     links = CASE WHEN EXCLUDED.links = '[]' THEN alerts.links ELSE EXCLUDED.links END, \
     images = CASE WHEN EXCLUDED.images = '[]' THEN alerts.images ELSE EXCLUDED.images END, \
     raw = EXCLUDED.raw";

/// The upsert: every column but `id` as one array each, in the order [`Columns`] binds them.
fn upsert_sql() -> String {
    format!(
        "INSERT INTO alerts (integration, dedup_key, format, first_seen, service, status, \
             severity, urgency, summary, source, labels, details, links, images, started_at, \
             ended_at, last_seen, count, acknowledged_at, acknowledged_by, resolved_at, \
             resolved_by, suppressed_reason, incident, raw, drill, gameday) \
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[], \
             $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], \
             $12::TEXT[], $13::TEXT[], $14::TEXT[], $15::BIGINT[], $16::BIGINT[], $17::BIGINT[], \
             $18::BIGINT[], $19::BIGINT[], $20::TEXT[], $21::BIGINT[], $22::TEXT[], $23::TEXT[], \
             $24::BIGINT[], $25::TEXT[], $26::BOOLEAN[], $27::BIGINT[]) \
         {ON_REPEAT} RETURNING {ALERT_COLUMNS}, (xmax = 0) AS inserted"
    )
}

/// Alerts as columns, one array per column, for `UNNEST`.
#[derive(Default)]
struct Columns<'a> {
    integration: Vec<&'a str>,
    dedup_key: Vec<&'a str>,
    format: Vec<&'static str>,
    first_seen: Vec<i64>,
    service: Vec<&'a str>,
    status: Vec<&'static str>,
    severity: Vec<&'static str>,
    urgency: Vec<&'static str>,
    summary: Vec<&'a str>,
    source: Vec<&'a str>,
    labels: Vec<String>,
    details: Vec<&'a str>,
    links: Vec<String>,
    images: Vec<String>,
    started_at: Vec<Option<i64>>,
    ended_at: Vec<Option<i64>>,
    last_seen: Vec<i64>,
    count: Vec<i64>,
    acknowledged_at: Vec<Option<i64>>,
    acknowledged_by: Vec<Option<&'a str>>,
    resolved_at: Vec<Option<i64>>,
    resolved_by: Vec<Option<&'a str>>,
    suppressed_reason: Vec<Option<&'a str>>,
    incident: Vec<Option<i64>>,
    raw: Vec<&'a str>,
    drill: Vec<bool>,
    gameday: Vec<Option<i64>>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, a: &'a Alert) {
        self.integration.push(&a.integration);
        self.dedup_key.push(&a.dedup_key);
        self.format.push(a.format.as_str());
        self.first_seen.push(codec::millis(a.first_seen));
        self.service.push(a.service.as_str());
        self.status.push(a.status.as_str());
        self.severity.push(a.severity.as_str());
        self.urgency.push(a.urgency.as_str());
        self.summary.push(&a.summary);
        self.source.push(&a.source);
        self.labels.push(codec::labels_json(&a.labels));
        self.details.push(&a.details);
        self.links.push(codec::links_json(&a.links));
        self.images.push(codec::images_json(&a.images));
        self.started_at.push(ms_opt(a.started_at));
        self.ended_at.push(ms_opt(a.ended_at));
        self.last_seen.push(codec::millis(a.last_seen));
        self.count.push(a.count);
        self.acknowledged_at.push(ms_opt(a.acknowledged_at));
        self.acknowledged_by.push(a.acknowledged_by.as_deref());
        self.resolved_at.push(ms_opt(a.resolved_at));
        self.resolved_by.push(a.resolved_by.as_deref());
        self.suppressed_reason.push(a.suppressed_reason.as_deref());
        self.incident.push(a.incident.map(|n| n.0));
        self.raw.push(&a.raw);
        self.drill.push(a.drill);
        self.gameday.push(a.gameday);
    }
}

async fn upsert(conn: &mut PgConnection, alerts: &[Alert]) -> Result<Vec<Upserted>> {
    if alerts.is_empty() {
        return Ok(vec![]);
    }
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by(|a, b| (&a.integration, &a.dedup_key).cmp(&(&b.integration, &b.dedup_key)));
    let mut c = Columns::default();
    for a in sorted {
        c.push(a);
    }
    let found = sqlx::query(AssertSqlSafe(upsert_sql()))
        .bind(&c.integration)
        .bind(&c.dedup_key)
        .bind(&c.format)
        .bind(&c.first_seen)
        .bind(&c.service)
        .bind(&c.status)
        .bind(&c.severity)
        .bind(&c.urgency)
        .bind(&c.summary)
        .bind(&c.source)
        .bind(&c.labels)
        .bind(&c.details)
        .bind(&c.links)
        .bind(&c.images)
        .bind(&c.started_at)
        .bind(&c.ended_at)
        .bind(&c.last_seen)
        .bind(&c.count)
        .bind(&c.acknowledged_at)
        .bind(&c.acknowledged_by)
        .bind(&c.resolved_at)
        .bind(&c.resolved_by)
        .bind(&c.suppressed_reason)
        .bind(&c.incident)
        .bind(&c.raw)
        .bind(&c.drill)
        .bind(&c.gameday)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    // RETURNING gives rows in no promised order: match them back by key.
    let mut stored: HashMap<(String, String), Upserted> = HashMap::with_capacity(found.len());
    for row in &found {
        let alert = rows::alert(row)?;
        let opened: bool = get(row, "inserted")?;
        stored.insert(
            (alert.integration.clone(), alert.dedup_key.clone()),
            Upserted { alert, opened },
        );
    }
    alerts
        .iter()
        .map(|a| {
            stored
                .remove(&(a.integration.clone(), a.dedup_key.clone()))
                .ok_or_else(|| StoreError::backend("two triggers in one upsert shared a dedup key"))
        })
        .collect()
}

async fn select_alert(conn: &mut PgConnection, id: i64, lock: bool) -> Result<Option<Alert>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .as_ref()
    .map(rows::alert)
    .transpose()
}

async fn update(conn: &mut PgConnection, a: &Alert) -> Result<()> {
    let done = sqlx::query(
        "UPDATE alerts SET service = $2, status = $3, severity = $4, urgency = $5, summary = $6,
             source = $7, labels = $8, details = $9, links = $10, images = $11, started_at = $12,
             ended_at = $13, last_seen = $14, count = $15, acknowledged_at = $16,
             acknowledged_by = $17, resolved_at = $18, resolved_by = $19,
             suppressed_reason = $20, incident = $21, raw = $22
         WHERE id = $1",
    )
    .bind(a.id)
    .bind(a.service.as_str())
    .bind(a.status.as_str())
    .bind(a.severity.as_str())
    .bind(a.urgency.as_str())
    .bind(&a.summary)
    .bind(&a.source)
    .bind(codec::labels_json(&a.labels))
    .bind(&a.details)
    .bind(codec::links_json(&a.links))
    .bind(codec::images_json(&a.images))
    .bind(ms_opt(a.started_at))
    .bind(ms_opt(a.ended_at))
    .bind(codec::millis(a.last_seen))
    .bind(a.count)
    .bind(ms_opt(a.acknowledged_at))
    .bind(a.acknowledged_by.as_deref())
    .bind(ms_opt(a.resolved_at))
    .bind(a.resolved_by.as_deref())
    .bind(a.suppressed_reason.as_deref())
    .bind(a.incident.map(|n| n.0))
    .bind(&a.raw)
    .execute(conn)
    .await
    // Reopening a resolved alert whose key has an unresolved alert again is a conflict.
    .map_err(db_for(&a.dedup_key))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// For each of `services` that has one, the facts about its newest unresolved incident, in one
/// query; the domain decides what they mean.
async fn open_incidents(
    conn: &mut PgConnection,
    services: &[Name],
    drill: bool,
) -> Result<Vec<OpenIncidentFacts>> {
    if services.is_empty() {
        return Ok(vec![]);
    }
    let names: Vec<&str> = services.iter().map(Name::as_str).collect();
    let found = sqlx::query(
        "SELECT DISTINCT ON (s.service) s.service, i.number, i.declared_at,
             (SELECT max(a.last_seen) FROM alerts a WHERE a.incident = i.number) AS last_alert_seen
         FROM incident_services s JOIN incidents i ON i.number = s.number
         WHERE s.service = ANY($1) AND i.status <> 'resolved' AND i.drill = $2
         ORDER BY s.service, i.number DESC",
    )
    .bind(&names)
    .bind(drill)
    .fetch_all(conn)
    .await
    .map_err(db)?;
    let mut by_service: HashMap<String, (i64, i64, Option<i64>)> = HashMap::new();
    for row in &found {
        by_service.insert(
            get(row, "service")?,
            (
                get(row, "number")?,
                get(row, "declared_at")?,
                get(row, "last_alert_seen")?,
            ),
        );
    }
    services
        .iter()
        .filter_map(|s| by_service.get(s.as_str()).map(|f| (s, *f)))
        .map(|(service, (number, declared, seen))| {
            Ok(OpenIncidentFacts {
                service: service.clone(),
                number: IncidentNumber(number),
                declared_at: ts(declared)?,
                last_alert_seen: ts_opt(seen)?,
            })
        })
        .collect()
}

fn alert_change(a: &Alert) -> Change {
    Change::Alert {
        id: a.id,
        service: a.service.clone(),
        status: a.status,
        incident: a.incident,
    }
}

#[async_trait]
impl AlertWrites for PgTx<'_> {
    async fn upsert_triggers(&mut self, alerts: Vec<Alert>) -> Result<Vec<Upserted>> {
        let stored = upsert(self.conn, &alerts).await?;
        for u in &stored {
            self.changed(alert_change(&u.alert));
        }
        Ok(stored)
    }

    async fn lock_open_alert(
        &mut self,
        integration: &str,
        dedup_key: &str,
    ) -> Result<Option<Alert>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts
             WHERE integration = $1 AND dedup_key = $2 AND status <> 'resolved' FOR UPDATE"
        )))
        .bind(integration)
        .bind(dedup_key)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .as_ref()
        .map(rows::alert)
        .transpose()
    }

    async fn lock_alert(&mut self, id: i64) -> Result<Option<Alert>> {
        select_alert(self.conn, id, true).await
    }

    async fn update_alert(&mut self, alert: &Alert) -> Result<()> {
        update(self.conn, alert).await?;
        self.changed(alert_change(alert));
        Ok(())
    }

    async fn open_incidents(
        &mut self,
        services: &[Name],
        drill: bool,
    ) -> Result<Vec<OpenIncidentFacts>> {
        open_incidents(self.conn, services, drill).await
    }

    async fn unresolved_alerts_of(&mut self, number: IncidentNumber) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT count(*) FROM alerts WHERE incident = $1 AND status <> 'resolved'",
        )
        .bind(number.0)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)
    }

    async fn create_integration(&mut self, integration: &IntegrationRecord) -> Result<()> {
        integrations::create(self.conn, integration).await?;
        self.changed(Change::Directory(Topic::Integrations));
        Ok(())
    }

    async fn add_integration_key(
        &mut self,
        integration: &str,
        key: &IntegrationKey,
    ) -> Result<IntegrationRecord> {
        let stored = integrations::add_key(self.conn, integration, key).await?;
        self.changed(Change::Directory(Topic::Integrations));
        Ok(stored)
    }

    async fn revoke_integration_key(
        &mut self,
        integration: &str,
        key: &str,
        at: Timestamp,
    ) -> Result<IntegrationRecord> {
        let stored = integrations::revoke_key(self.conn, integration, key, at).await?;
        self.changed(Change::Directory(Topic::Integrations));
        Ok(stored)
    }

    async fn sync_integrations(&mut self, wanted: Vec<IntegrationRecord>) -> Result<()> {
        integrations::sync(self.conn, wanted).await?;
        self.changed(Change::Directory(Topic::Integrations));
        Ok(())
    }

    async fn create_silence(&mut self, silence: Silence) -> Result<Silence> {
        let stored = rules::create_silence(self.conn, silence).await?;
        self.changed(Change::Directory(Topic::Silences));
        Ok(stored)
    }

    async fn lock_silence(&mut self, id: i64) -> Result<Option<Silence>> {
        rules::lock_silence(self.conn, id).await
    }

    async fn save_silence_span(&mut self, s: &Silence) -> Result<()> {
        rules::save_span(self.conn, "silences", s.id, s.starts_at, s.ends_at).await?;
        self.changed(Change::Directory(Topic::Silences));
        Ok(())
    }

    async fn create_maintenance(&mut self, window: MaintenanceWindow) -> Result<MaintenanceWindow> {
        let stored = rules::create_maintenance(self.conn, window).await?;
        self.changed(Change::Directory(Topic::Maintenance));
        Ok(stored)
    }

    async fn lock_maintenance(&mut self, id: i64) -> Result<Option<MaintenanceWindow>> {
        rules::lock_maintenance(self.conn, id).await
    }

    async fn save_maintenance_span(&mut self, w: &MaintenanceWindow) -> Result<()> {
        rules::save_span(
            self.conn,
            "maintenance_windows",
            w.id,
            w.starts_at,
            w.ends_at,
        )
        .await?;
        self.changed(Change::Directory(Topic::Maintenance));
        Ok(())
    }

    async fn create_route(&mut self, route: RouteRecord) -> Result<RouteRecord> {
        let stored = rules::create_route(self.conn, route).await?;
        self.changed(Change::Directory(Topic::Routes));
        Ok(stored)
    }

    async fn delete_route(&mut self, id: i64) -> Result<()> {
        rules::delete_route(self.conn, id).await?;
        self.changed(Change::Directory(Topic::Routes));
        Ok(())
    }

    async fn record_deployment(
        &mut self,
        deployment: DeploymentRecord,
    ) -> Result<DeploymentRecord> {
        let (stored, changed) = rules::record_deployment(self.conn, deployment).await?;
        // The incidents whose suspect it became, and the incident a rollback was run for,
        // changed: the reports' cache reads them again.
        for number in changed {
            self.changed(Change::Incident { number });
        }
        if let (true, Some(number)) = (stored.rollback, stored.incident) {
            self.changed(Change::Incident { number });
        }
        self.changed(Change::Directory(Topic::Deployments));
        Ok(stored)
    }

    async fn record_request(&mut self, request: &IngestRequest) -> Result<()> {
        rules::record_request(self.conn, request).await
    }

    async fn purge_requests(&mut self, before: Timestamp) -> Result<u64> {
        rules::purge_requests(self.conn, before).await
    }
}

#[async_trait]
impl AlertStore for PostgresStore {
    async fn list_integrations(&self) -> Result<Vec<IntegrationRecord>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        integrations::load(&mut conn, None).await
    }

    async fn get_alert(&self, id: i64) -> Result<Option<Alert>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        select_alert(&mut conn, id, false).await
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
               AND ($5::TEXT IS NULL OR integration = $5)
               AND ($6::TEXT IS NULL OR dedup_key = $6)
             ORDER BY id DESC
             LIMIT $7"
        )))
        .bind(before)
        .bind(filter.status.map(AlertStatus::as_str))
        .bind(filter.service.as_ref().map(Name::as_str))
        .bind(filter.incident.map(|n| n.0))
        .bind(filter.integration.as_deref())
        .bind(filter.dedup_key.as_deref())
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut items = found.iter().map(rows::alert).collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |a| a.id);
        Ok(Page { items, next })
    }

    async fn alerts_of_incidents(
        &self,
        incidents: &[IncidentNumber],
    ) -> Result<Vec<(IncidentNumber, i64, AlertStatus)>> {
        if incidents.is_empty() {
            return Ok(vec![]);
        }
        let numbers: Vec<i64> = incidents.iter().map(|n| n.0).collect();
        let found = sqlx::query(
            "SELECT incident, id, status FROM alerts WHERE incident = ANY($1) ORDER BY id",
        )
        .bind(&numbers)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .iter()
            .map(|row| {
                let incident: i64 = row.try_get("incident").map_err(db)?;
                let id: i64 = row.try_get("id").map_err(db)?;
                let status: String = row.try_get("status").map_err(db)?;
                Ok((
                    IncidentNumber(incident),
                    id,
                    codec::word("alert status", &status)?,
                ))
            })
            .collect()
    }

    async fn list_silences(&self, after: Timestamp) -> Result<Vec<Silence>> {
        rules::list_silences(&self.pool, after).await
    }

    async fn list_maintenance(&self, after: Timestamp) -> Result<Vec<MaintenanceWindow>> {
        rules::list_maintenance(&self.pool, after).await
    }

    async fn list_routes(&self) -> Result<Vec<RouteRecord>> {
        rules::list_routes(&self.pool).await
    }

    async fn list_deployments(
        &self,
        service: Option<&Name>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<DeploymentRecord>> {
        rules::list_deployments(&self.pool, service, before, limit).await
    }

    async fn deployments_between(
        &self,
        services: &[Name],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<DeploymentRecord>> {
        rules::deployments_between(&self.pool, services, from, to).await
    }

    async fn get_request(&self, id: &str) -> Result<Option<IngestRequest>> {
        rules::get_request(&self.pool, id).await
    }
}
