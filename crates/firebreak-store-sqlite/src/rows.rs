//! Conversions between domain values and SQLite rows: epoch-millisecond timestamps, JSON
//! columns for roles, checklists and timeline event data, and text columns for enums.

use std::collections::BTreeMap;

use firebreak_domain::{
    AccessRole, ChecklistItem, Incident, IncidentNumber, Name, Status, TimelineEvent,
};
use firebreak_store::{
    AuditEntry, Result, ServiceRecord, StoreError, TimelineEntry, TokenRecord, UserRecord, codec,
};
use jiff::Timestamp;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// `SELECT <every incident column> FROM incidents i`, the start of every incident query, in the
/// shape [`incident`] reads. `services` is the ordered JSON array of the incident's services.
macro_rules! select_incidents {
    () => {
        "SELECT i.number, i.title, i.severity, i.status, i.summary, i.customer_impact, i.drill, \
         i.detected_at, i.declared_at, i.acknowledged_at, i.mitigated_at, i.resolved_at, i.updated_at, \
         i.declared_by, i.roles, i.checklist, i.version, \
         (SELECT json_group_array(s.service ORDER BY s.position) FROM incident_services s \
          WHERE s.number = i.number) AS services \
         FROM incidents i"
    };
}

pub fn ms(t: Timestamp) -> i64 {
    codec::millis(t)
}

pub fn opt_ms(t: Option<Timestamp>) -> Option<i64> {
    codec::opt_millis(t)
}

pub fn ts(v: i64) -> Result<Timestamp> {
    codec::timestamp(v)
}

pub fn opt_ts(v: Option<i64>) -> Result<Option<Timestamp>> {
    codec::opt_timestamp(v)
}

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col).map_err(StoreError::backend)
}

fn name(s: &str) -> Result<Name> {
    codec::name(s)
}

fn role(s: &str) -> Result<AccessRole> {
    codec::access_role(s)
}

pub fn roles_json(roles: &BTreeMap<String, String>) -> String {
    codec::roles_to_json(roles).to_string()
}

pub fn checklist_json(items: &[ChecklistItem]) -> String {
    codec::checklist_to_json(items).to_string()
}

fn checklist_from(text: &str) -> Result<Vec<ChecklistItem>> {
    codec::checklist_from_json(serde_json::from_str(text).map_err(StoreError::backend)?)
}

/// Splits an event into its stored `kind` and `data` JSON text.
pub fn event_parts(event: &TimelineEvent) -> Result<(String, String)> {
    let (kind, data) = codec::event_to_json(event)?;
    Ok((kind.to_string(), data.to_string()))
}

pub fn event_from(kind: &str, data: &str) -> Result<TimelineEvent> {
    codec::event_from_json(
        kind,
        serde_json::from_str(data).map_err(StoreError::backend)?,
    )
}

pub fn incident(row: &SqliteRow) -> Result<Incident> {
    let status: String = get(row, "status")?;
    let roles: String = get(row, "roles")?;
    let checklist: String = get(row, "checklist")?;
    let services: Option<String> = get(row, "services")?;
    let services: Vec<String> = match services {
        Some(s) => serde_json::from_str(&s).map_err(StoreError::backend)?,
        None => vec![],
    };
    Ok(Incident {
        number: IncidentNumber(get(row, "number")?),
        title: get(row, "title")?,
        severity: get(row, "severity")?,
        status: status.parse::<Status>().map_err(StoreError::backend)?,
        services: services.iter().map(|s| name(s)).collect::<Result<_>>()?,
        summary: get(row, "summary")?,
        customer_impact: get(row, "customer_impact")?,
        drill: get(row, "drill")?,
        detected_at: ts(get(row, "detected_at")?)?,
        declared_at: ts(get(row, "declared_at")?)?,
        acknowledged_at: opt_ts(get(row, "acknowledged_at")?)?,
        mitigated_at: opt_ts(get(row, "mitigated_at")?)?,
        resolved_at: opt_ts(get(row, "resolved_at")?)?,
        updated_at: ts(get(row, "updated_at")?)?,
        declared_by: get(row, "declared_by")?,
        roles: serde_json::from_str(&roles).map_err(StoreError::backend)?,
        checklist: checklist_from(&checklist)?,
        version: get(row, "version")?,
    })
}

pub fn timeline_entry(row: &SqliteRow) -> Result<TimelineEntry> {
    let kind: String = get(row, "kind")?;
    let data: String = get(row, "data")?;
    Ok(TimelineEntry {
        seq: get(row, "seq")?,
        at: ts(get(row, "at")?)?,
        actor: get(row, "actor")?,
        event: event_from(&kind, &data)?,
    })
}

pub fn audit_entry(row: &SqliteRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: get(row, "id")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        at: ts(get(row, "at")?)?,
        source: get(row, "source")?,
    })
}

pub fn service(row: &SqliteRow) -> Result<ServiceRecord> {
    let n: String = get(row, "name")?;
    Ok(ServiceRecord {
        name: name(&n)?,
        description: get(row, "description")?,
        team: get(row, "team")?,
        runbook: get(row, "runbook")?,
        from_config: get(row, "from_config")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

pub fn user(row: &SqliteRow) -> Result<UserRecord> {
    let handle: String = get(row, "handle")?;
    let r: String = get(row, "role")?;
    Ok(UserRecord {
        handle: name(&handle)?,
        name: get(row, "name")?,
        email: get(row, "email")?,
        time_zone: get(row, "time_zone")?,
        role: role(&r)?,
        from_config: get(row, "from_config")?,
        created_at: ts(get(row, "created_at")?)?,
    })
}

pub fn token(row: &SqliteRow) -> Result<TokenRecord> {
    let r: String = get(row, "role")?;
    let u: Option<String> = get(row, "user")?;
    Ok(TokenRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        role: role(&r)?,
        user: u.as_deref().map(name).transpose()?,
        hash: get(row, "hash")?,
        created_at: ts(get(row, "created_at")?)?,
        revoked_at: opt_ts(get(row, "revoked_at")?)?,
    })
}
