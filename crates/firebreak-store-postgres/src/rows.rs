//! Conversions between database rows and the store's records: epoch-millisecond timestamps,
//! role and status text, the JSONB roles map and checklist, timeline events kept as a `kind`
//! column plus a `data` JSONB column, and JSON kept as text exactly as the shared codec writes
//! it ([`firebreak_store::codec`]).

use std::collections::BTreeMap;

use firebreak_domain::rules::{MaintenanceWindow, Route, Silence};
use firebreak_domain::{
    AccessRole, Alert, ChecklistItem, Incident, IncidentNumber, Name, Status, TimelineEvent,
};
use firebreak_store::{
    AuditEntry, DeploymentRecord, IntegrationKey, IntegrationRecord, Result, RouteRecord,
    ServiceRecord, StoreError, TimelineEntry, TokenRecord, UserRecord, codec,
};
use jiff::Timestamp;
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::db;

fn bad(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::backend(format!("stored {what} is unreadable: {e}"))
}

pub(crate) fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(db)
}

/// A column by position, for the reads of many rows (the reports): by name, every value is
/// looked up among the statement's column names. Debug builds (the tests) check that the
/// position holds the named column.
pub(crate) fn get_at<'r, T>(row: &'r PgRow, idx: usize, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    debug_assert_eq!(
        row.columns().get(idx).map(sqlx::Column::name),
        Some(column),
        "column {idx} of the query is not {column}"
    );
    row.try_get(idx).map_err(db)
}

/// `NotFound` when a statement meant to change one row changed none.
pub(crate) fn found(rows: u64) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub(crate) fn ts(ms: i64) -> Result<Timestamp> {
    codec::timestamp(ms)
}

pub(crate) fn ts_opt(ms: Option<i64>) -> Result<Option<Timestamp>> {
    codec::opt_timestamp(ms)
}

pub(crate) fn ms_opt(t: Option<Timestamp>) -> Option<i64> {
    codec::opt_millis(t)
}

pub(crate) fn name(s: &str) -> Result<Name> {
    codec::name(s)
}

fn role(s: &str) -> Result<AccessRole> {
    codec::access_role(s)
}

/// Cuts a page fetched with `limit + 1` rows down to `limit`, returning the cursor for the next
/// page (the key of the last item kept) only when more rows exist.
pub(crate) fn trim_page<T>(items: &mut Vec<T>, limit: u32, key: impl Fn(&T) -> i64) -> Option<i64> {
    let limit = limit as usize;
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    }
}

pub(crate) fn roles_json(roles: &BTreeMap<String, String>) -> Value {
    codec::roles_to_json(roles)
}

pub(crate) fn checklist_json(items: &[ChecklistItem]) -> Value {
    codec::checklist_to_json(items)
}

fn checklist_from(v: Value) -> Result<Vec<ChecklistItem>> {
    codec::checklist_from_json(v)
}

/// An event as its `kind` and `data` columns.
pub(crate) fn event_parts(event: &TimelineEvent) -> Result<(&'static str, Value)> {
    codec::event_to_json(event)
}

fn event_from(kind: String, data: Value) -> Result<TimelineEvent> {
    codec::event_from_json(&kind, data)
}

/// `SELECT <every incident column> FROM incidents i`, in the shape [`incident`] reads, with
/// the incident's services in order as the array `services`.
pub(crate) const SELECT_INCIDENTS: &str = "SELECT i.number, i.title, i.severity, i.status, \
    i.summary, i.customer_impact, i.drill, i.detected_at, i.declared_at, i.acknowledged_at, \
    i.mitigated_at, i.resolved_at, i.updated_at, i.declared_by, i.roles, i.checklist, i.version, \
    i.public_title, \
    (SELECT array_agg(s.service ORDER BY s.position) FROM incident_services s \
     WHERE s.number = i.number) AS services FROM incidents i";

pub(crate) fn incident(row: &PgRow) -> Result<Incident> {
    let status: String = get(row, "status")?;
    let roles: Value = get(row, "roles")?;
    let services: Option<Vec<String>> = get(row, "services")?;
    let services = services
        .unwrap_or_default()
        .iter()
        .map(|s| name(s))
        .collect::<Result<Vec<_>>>()?;
    Ok(Incident {
        number: IncidentNumber(get(row, "number")?),
        title: get(row, "title")?,
        public_title: get(row, "public_title")?,
        severity: get(row, "severity")?,
        status: status.parse::<Status>().map_err(|e| bad("status", e))?,
        services,
        summary: get(row, "summary")?,
        customer_impact: get(row, "customer_impact")?,
        drill: get(row, "drill")?,
        detected_at: ts(get(row, "detected_at")?)?,
        declared_at: ts(get(row, "declared_at")?)?,
        acknowledged_at: ts_opt(get(row, "acknowledged_at")?)?,
        mitigated_at: ts_opt(get(row, "mitigated_at")?)?,
        resolved_at: ts_opt(get(row, "resolved_at")?)?,
        updated_at: ts(get(row, "updated_at")?)?,
        declared_by: get(row, "declared_by")?,
        roles: serde_json::from_value(roles).map_err(|e| bad("roles", e))?,
        checklist: checklist_from(get(row, "checklist")?)?,
        version: get(row, "version")?,
    })
}

pub(crate) fn timeline_entry(row: &PgRow) -> Result<TimelineEntry> {
    Ok(TimelineEntry {
        seq: get(row, "seq")?,
        at: ts(get(row, "at")?)?,
        actor: get(row, "actor")?,
        event: event_from(get(row, "kind")?, get(row, "data")?)?,
    })
}

pub(crate) fn audit(row: &PgRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: get(row, "id")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        at: ts(get(row, "at")?)?,
        source: get(row, "source")?,
        break_glass: get(row, "break_glass")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

pub(crate) fn service(row: &PgRow) -> Result<ServiceRecord> {
    Ok(ServiceRecord {
        name: name(&get::<String>(row, "name")?)?,
        description: get(row, "description")?,
        team: get(row, "team")?,
        runbook: get(row, "runbook")?,
        escalation_policy: get::<Option<String>>(row, "escalation_policy")?
            .map(|n| name(&n))
            .transpose()?,
        manager: get::<Option<String>>(row, "manager")?
            .map(|n| name(&n))
            .transpose()?,
        from_config: get(row, "from_config")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

pub(crate) fn user(row: &PgRow) -> Result<UserRecord> {
    Ok(UserRecord {
        handle: name(&get::<String>(row, "handle")?)?,
        name: get(row, "name")?,
        email: get(row, "email")?,
        time_zone: get(row, "time_zone")?,
        role: role(&get::<String>(row, "role")?)?,
        from_config: get(row, "from_config")?,
        created_at: ts(get(row, "created_at")?)?,
        disabled_at: ts_opt(get(row, "disabled_at")?)?,
    })
}

pub(crate) fn token(row: &PgRow) -> Result<TokenRecord> {
    let user: Option<String> = get(row, "user_handle")?;
    Ok(TokenRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        role: role(&get::<String>(row, "role")?)?,
        user: user.as_deref().map(name).transpose()?,
        hash: get(row, "hash")?,
        created_at: ts(get(row, "created_at")?)?,
        revoked_at: ts_opt(get(row, "revoked_at")?)?,
        expires_at: ts_opt(get(row, "expires_at")?)?,
    })
}

pub(crate) const SERVICE_COLUMNS: &str =
    "name, description, team, runbook, escalation_policy, manager, from_config, created_at";
pub(crate) const USER_COLUMNS: &str =
    "handle, name, email, time_zone, role, from_config, created_at, disabled_at";
pub(crate) const TOKEN_COLUMNS: &str =
    "id, name, role, user_handle, hash, created_at, revoked_at, expires_at";

/// The columns every alert query selects, in the order [`alert`] reads them.
pub(crate) const ALERT_COLUMNS: &str = "id, integration, service, dedup_key, format, status, \
    severity, urgency, summary, source, labels, details, links, images, started_at, ended_at, \
    first_seen, last_seen, count, acknowledged_at, acknowledged_by, resolved_at, resolved_by, \
    suppressed_reason, incident, raw, drill, gameday";

pub(crate) fn alert(row: &PgRow) -> Result<Alert> {
    let incident: Option<i64> = get(row, "incident")?;
    Ok(Alert {
        id: get(row, "id")?,
        integration: get(row, "integration")?,
        service: name(&get::<String>(row, "service")?)?,
        dedup_key: get(row, "dedup_key")?,
        format: codec::word("alert format", &get::<String>(row, "format")?)?,
        status: codec::word("alert status", &get::<String>(row, "status")?)?,
        severity: codec::word("alert severity", &get::<String>(row, "severity")?)?,
        urgency: codec::word("alert urgency", &get::<String>(row, "urgency")?)?,
        summary: get(row, "summary")?,
        source: get(row, "source")?,
        labels: codec::labels_from(&get::<String>(row, "labels")?)?,
        details: get(row, "details")?,
        links: codec::links_from(&get::<String>(row, "links")?)?,
        images: codec::images_from(&get::<String>(row, "images")?)?,
        started_at: ts_opt(get(row, "started_at")?)?,
        ended_at: ts_opt(get(row, "ended_at")?)?,
        first_seen: ts(get(row, "first_seen")?)?,
        last_seen: ts(get(row, "last_seen")?)?,
        count: get(row, "count")?,
        acknowledged_at: ts_opt(get(row, "acknowledged_at")?)?,
        acknowledged_by: get(row, "acknowledged_by")?,
        resolved_at: ts_opt(get(row, "resolved_at")?)?,
        resolved_by: get(row, "resolved_by")?,
        suppressed_reason: get(row, "suppressed_reason")?,
        drill: get(row, "drill")?,
        gameday: get(row, "gameday")?,
        incident: incident.map(IncidentNumber),
        raw: get(row, "raw")?,
    })
}

/// An integration row without its keys, which the caller adds.
pub(crate) fn integration(row: &PgRow) -> Result<IntegrationRecord> {
    Ok(IntegrationRecord {
        id: get(row, "id")?,
        service: name(&get::<String>(row, "service")?)?,
        name: get(row, "name")?,
        from_config: get(row, "from_config")?,
        created_at: ts(get(row, "created_at")?)?,
        keys: Vec::new(),
    })
}

pub(crate) fn integration_key(row: &PgRow) -> Result<IntegrationKey> {
    Ok(IntegrationKey {
        id: get(row, "id")?,
        hash: get(row, "hash")?,
        hint: get(row, "hint")?,
        created_at: ts(get(row, "created_at")?)?,
        revoked_at: ts_opt(get(row, "revoked_at")?)?,
    })
}

pub(crate) fn silence(row: &PgRow) -> Result<Silence> {
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

pub(crate) fn maintenance(row: &PgRow) -> Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: get(row, "id")?,
        service: name(&get::<String>(row, "service")?)?,
        starts_at: ts(get(row, "starts_at")?)?,
        ends_at: ts(get(row, "ends_at")?)?,
        comment: get(row, "comment")?,
        created_by: get(row, "created_by")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

pub(crate) fn route(row: &PgRow) -> Result<RouteRecord> {
    let service: Option<String> = get(row, "service")?;
    let severity: Option<String> = get(row, "severity")?;
    let urgency: Option<String> = get(row, "urgency")?;
    Ok(RouteRecord {
        id: get(row, "id")?,
        route: Route {
            matchers: codec::matchers_from(&get::<String>(row, "matchers")?)?,
            service: service.as_deref().map(name).transpose()?,
            severity: severity
                .as_deref()
                .map(|s| codec::word("route severity", s))
                .transpose()?,
            urgency: urgency
                .as_deref()
                .map(|s| codec::word("route urgency", s))
                .transpose()?,
            drop: get(row, "drop_event")?,
        },
        created_by: get(row, "created_by")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

pub(crate) fn deployment(row: &PgRow) -> Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        id: get(row, "id")?,
        service: name(&get::<String>(row, "service")?)?,
        version: get(row, "version")?,
        previous_version: get(row, "previous_version")?,
        commit: get(row, "commit_sha")?,
        author: get(row, "author")?,
        link: get(row, "link")?,
        at: ts(get(row, "at")?)?,
        source: get(row, "source")?,
        summary: get(row, "summary")?,
        created_at: ts(get(row, "created_at")?)?,
        freeze_reasons: firebreak_store::codec::freeze_reasons_from(
            get::<Option<String>>(row, "freeze_reasons")?.as_deref(),
        )?,
        rollback: get(row, "rollback")?,
        rolls_back: get(row, "rolls_back")?,
        incident: get::<Option<i64>>(row, "incident")?.map(IncidentNumber),
        drill: get(row, "drill")?,
    })
}
