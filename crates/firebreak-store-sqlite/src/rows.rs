//! Conversions between domain values and SQLite rows, and the mapping of SQLite's errors onto
//! the store's error kinds. Instants are epoch milliseconds, JSON columns are text, enums are
//! their words ([`firebreak_store::codec`] is the one encoding both backends share).

use firebreak_domain::{
    Alert, ChecklistItem, Incident, IncidentNumber, Name, Status, TimelineEvent,
};
use firebreak_store::{
    AuditEntry, Result, ServiceRecord, StoreError, TimelineEntry, TokenRecord, UserRecord, codec,
};
use jiff::Timestamp;
use rusqlite::types::FromSql;
use rusqlite::{ErrorCode, Row};

/// `SELECT <every incident column> FROM incidents i`, in the shape [`incident`] reads.
/// `services` is the ordered JSON array of the incident's services.
pub const SELECT_INCIDENTS: &str = "SELECT i.number, i.title, i.severity, i.status, i.summary, \
     i.customer_impact, i.drill, i.detected_at, i.declared_at, i.acknowledged_at, i.mitigated_at, \
     i.resolved_at, i.updated_at, i.declared_by, i.roles, i.checklist, i.version, i.public_title, \
     (SELECT json_group_array(s.service ORDER BY s.position) FROM incident_services s \
      WHERE s.number = i.number) AS services FROM incidents i";

/// Every alert column, in the order [`alert`] reads them by name.
pub const ALERT_COLUMNS: &str = "id, integration, service, dedup_key, format, status, severity, \
     urgency, summary, source, labels, details, links, images, started_at, ended_at, first_seen, \
     last_seen, count, acknowledged_at, acknowledged_by, resolved_at, resolved_by, \
     suppressed_reason, incident, raw, drill, gameday";

pub const USER_COLUMNS: &str =
    "handle, name, email, time_zone, role, from_config, created_at, disabled_at";
pub const TOKEN_COLUMNS: &str =
    "id, name, role, \"user\", hash, created_at, revoked_at, expires_at";
pub const SERVICE_COLUMNS: &str =
    "name, description, team, runbook, escalation_policy, manager, from_config, created_at";

/// Any SQLite failure, by kind: a database that cannot be reached or written (locked, full,
/// unreadable) is `Unavailable`; everything else is `Backend`.
pub fn db(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::ReadOnly
            | ErrorCode::OutOfMemory,
        ) => StoreError::unavailable(e),
        _ => StoreError::backend(e),
    }
}

/// Maps a unique-constraint violation to `Conflict(message)`, anything else as [`db`] does.
pub fn unique(e: rusqlite::Error, message: impl FnOnce() -> String) -> StoreError {
    if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
        && let rusqlite::Error::SqliteFailure(f, _) = &e
        && matches!(
            f.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    {
        return StoreError::Conflict(message());
    }
    db(e)
}

pub fn get<T: FromSql>(row: &Row<'_>, col: &str) -> Result<T> {
    row.get(col).map_err(db)
}

/// Column `idx`, which the query names `name`. Reading by name looks the name up among the
/// statement's columns on every call, which on a report of tens of thousands of rows costs
/// more than reading the values; the large reads go by position. Debug builds (the tests)
/// check that the position holds the named column.
pub fn get_at<T: FromSql>(row: &Row<'_>, idx: usize, name: &str) -> Result<T> {
    debug_assert_eq!(
        row.as_ref().column_name(idx).ok(),
        Some(name),
        "column {idx} of the query is not {name}"
    );
    row.get(idx).map_err(db)
}

/// [`ts`] by position (see [`get_at`]).
pub fn ts_at(row: &Row<'_>, idx: usize, name: &str) -> Result<Timestamp> {
    codec::timestamp(get_at(row, idx, name)?)
}

/// [`opt_ts`] by position (see [`get_at`]).
pub fn opt_ts_at(row: &Row<'_>, idx: usize, name: &str) -> Result<Option<Timestamp>> {
    codec::opt_timestamp(get_at(row, idx, name)?)
}

pub fn ms(t: Timestamp) -> i64 {
    codec::millis(t)
}

pub fn opt_ms(t: Option<Timestamp>) -> Option<i64> {
    codec::opt_millis(t)
}

pub fn ts(row: &Row<'_>, col: &str) -> Result<Timestamp> {
    codec::timestamp(get(row, col)?)
}

pub fn opt_ts(row: &Row<'_>, col: &str) -> Result<Option<Timestamp>> {
    codec::opt_timestamp(get(row, col)?)
}

pub fn name_at(row: &Row<'_>, col: &str) -> Result<Name> {
    codec::name(&get::<String>(row, col)?)
}

pub fn word<T: std::str::FromStr<Err = String>>(row: &Row<'_>, col: &'static str) -> Result<T> {
    codec::word(col, &get::<String>(row, col)?)
}

fn json(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::backend(format!("stored JSON is unreadable: {e}")))
}

pub fn roles_json(roles: &std::collections::BTreeMap<String, String>) -> String {
    codec::roles_to_json(roles).to_string()
}

pub fn checklist_json(items: &[ChecklistItem]) -> String {
    codec::checklist_to_json(items).to_string()
}

/// Splits an event into its stored `kind` and `data` JSON text.
pub fn event_parts(event: &TimelineEvent) -> Result<(String, String)> {
    let (kind, data) = codec::event_to_json(event)?;
    Ok((kind.to_string(), data.to_string()))
}

pub fn incident(row: &Row<'_>) -> Result<Incident> {
    let services: Option<String> = get(row, "services")?;
    let services: Vec<String> = match services {
        Some(s) => serde_json::from_value(json(&s)?).map_err(StoreError::backend)?,
        None => vec![],
    };
    Ok(Incident {
        number: IncidentNumber(get(row, "number")?),
        title: get(row, "title")?,
        public_title: get(row, "public_title")?,
        severity: get(row, "severity")?,
        status: get::<String>(row, "status")?
            .parse::<Status>()
            .map_err(StoreError::backend)?,
        services: services
            .iter()
            .map(|s| codec::name(s))
            .collect::<Result<_>>()?,
        summary: get(row, "summary")?,
        customer_impact: get(row, "customer_impact")?,
        drill: get(row, "drill")?,
        detected_at: ts(row, "detected_at")?,
        declared_at: ts(row, "declared_at")?,
        acknowledged_at: opt_ts(row, "acknowledged_at")?,
        mitigated_at: opt_ts(row, "mitigated_at")?,
        resolved_at: opt_ts(row, "resolved_at")?,
        updated_at: ts(row, "updated_at")?,
        declared_by: get(row, "declared_by")?,
        roles: codec::roles_from_json(json(&get::<String>(row, "roles")?)?)?,
        checklist: codec::checklist_from_json(json(&get::<String>(row, "checklist")?)?)?,
        version: get(row, "version")?,
    })
}

pub fn timeline_entry(row: &Row<'_>) -> Result<TimelineEntry> {
    let kind: String = get(row, "kind")?;
    let data: String = get(row, "data")?;
    Ok(TimelineEntry {
        seq: get(row, "seq")?,
        at: ts(row, "at")?,
        actor: get(row, "actor")?,
        event: codec::event_from_json(&kind, json(&data)?)?,
    })
}

pub fn audit_entry(row: &Row<'_>) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: get(row, "id")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        at: ts(row, "at")?,
        source: get(row, "source")?,
        break_glass: get(row, "break_glass")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}

pub fn service(row: &Row<'_>) -> Result<ServiceRecord> {
    Ok(ServiceRecord {
        name: name_at(row, "name")?,
        description: get(row, "description")?,
        team: get(row, "team")?,
        runbook: get(row, "runbook")?,
        escalation_policy: get::<Option<String>>(row, "escalation_policy")?
            .map(|n| Name::parse(&n).map_err(StoreError::backend))
            .transpose()?,
        manager: get::<Option<String>>(row, "manager")?
            .map(|n| Name::parse(&n).map_err(StoreError::backend))
            .transpose()?,
        from_config: get(row, "from_config")?,
        created_at: ts(row, "created_at")?,
    })
}

pub fn user(row: &Row<'_>) -> Result<UserRecord> {
    Ok(UserRecord {
        handle: name_at(row, "handle")?,
        name: get(row, "name")?,
        email: get(row, "email")?,
        time_zone: get(row, "time_zone")?,
        role: codec::access_role(&get::<String>(row, "role")?)?,
        from_config: get(row, "from_config")?,
        created_at: ts(row, "created_at")?,
        disabled_at: opt_ts(row, "disabled_at")?,
    })
}

pub fn token(row: &Row<'_>) -> Result<TokenRecord> {
    let user: Option<String> = get(row, "user")?;
    Ok(TokenRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        role: codec::access_role(&get::<String>(row, "role")?)?,
        user: user.as_deref().map(codec::name).transpose()?,
        hash: get(row, "hash")?,
        created_at: ts(row, "created_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
        expires_at: opt_ts(row, "expires_at")?,
    })
}

pub fn alert(row: &Row<'_>) -> Result<Alert> {
    Ok(Alert {
        id: get(row, "id")?,
        integration: get(row, "integration")?,
        service: name_at(row, "service")?,
        dedup_key: get(row, "dedup_key")?,
        format: word(row, "format")?,
        status: word(row, "status")?,
        severity: word(row, "severity")?,
        urgency: word(row, "urgency")?,
        summary: get(row, "summary")?,
        source: get(row, "source")?,
        labels: codec::labels_from(&get::<String>(row, "labels")?)?,
        details: get(row, "details")?,
        links: codec::links_from(&get::<String>(row, "links")?)?,
        images: codec::images_from(&get::<String>(row, "images")?)?,
        started_at: opt_ts(row, "started_at")?,
        ended_at: opt_ts(row, "ended_at")?,
        first_seen: ts(row, "first_seen")?,
        last_seen: ts(row, "last_seen")?,
        count: get(row, "count")?,
        acknowledged_at: opt_ts(row, "acknowledged_at")?,
        acknowledged_by: get(row, "acknowledged_by")?,
        resolved_at: opt_ts(row, "resolved_at")?,
        resolved_by: get(row, "resolved_by")?,
        suppressed_reason: get(row, "suppressed_reason")?,
        drill: get(row, "drill")?,
        gameday: get(row, "gameday")?,
        incident: get::<Option<i64>>(row, "incident")?.map(IncidentNumber),
        raw: get(row, "raw")?,
    })
}

/// Pages a list fetched with `limit + 1` rows: keeps `limit`, and the cursor if more remain.
pub fn page<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> i64) -> firebreak_store::Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = if more { items.last().map(key) } else { None };
    firebreak_store::Page { items, next }
}

/// Every row `sql` returns, mapped by `map`, through the connection's statement cache.
pub fn all<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut found = stmt.query(params).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = found.next().map_err(db)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// The first row `sql` returns, if any, mapped by `map`.
pub fn one<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut found = stmt.query(params).map_err(db)?;
    match found.next().map_err(db)? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
    }
}
