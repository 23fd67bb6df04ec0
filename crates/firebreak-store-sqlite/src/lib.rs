//! The SQLite backend of the Firebreak store: one database file, opened in WAL mode with
//! `synchronous=FULL` so every acknowledged write is durable. Writes go through a single
//! group-commit writer task ([`writer`]); reads use a small pool of query-only connections.
//!
//! The schema lives in `migrations/` and is embedded in the binary; [`MIGRATIONS`] lists it so
//! other backends can mirror the table design.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use firebreak_domain::{Incident, IncidentNumber, Name};
use firebreak_store::{
    AuditDraft, AuditEntry, AuditStore, DirectoryStore, IncidentFilter, IncidentStore, Page,
    Result, ServiceRecord, Store, StoreError, TimelineDraft, TimelineEntry, TokenRecord,
    TokenStore, UserRecord,
};
use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection};

mod alerts;
#[macro_use]
mod rows;
pub mod writer;

use rows::{ms, opt_ms};
use writer::Writer;

/// The schema, in order: `(version, SQL)`. Each is applied once, recorded in `schema_migrations`.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_alerts.sql")),
];

/// How long a connection waits for a lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections in the pool.
const READERS: u32 = 8;

/// The Firebreak store on one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    reader: SqlitePool,
}

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// Maps a unique-constraint violation to `Conflict(message)`, anything else to `Backend`.
pub(crate) fn unique(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message()),
        _ => StoreError::backend(e),
    }
}

pub(crate) async fn insert_audit(conn: &mut SqliteConnection, audit: &AuditDraft) -> Result<()> {
    sqlx::query("INSERT INTO audit_log (actor, action, target, at, source) VALUES (?, ?, ?, ?, ?)")
        .bind(&audit.actor)
        .bind(&audit.action)
        .bind(&audit.target)
        .bind(ms(audit.at))
        .bind(&audit.source)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// Inserts `events` with seqs `first_seq..`, returning the stored entries.
async fn insert_timeline(
    conn: &mut SqliteConnection,
    number: i64,
    first_seq: i64,
    events: Vec<TimelineDraft>,
) -> Result<Vec<TimelineEntry>> {
    let mut out = Vec::with_capacity(events.len());
    for (i, draft) in events.into_iter().enumerate() {
        let seq = first_seq + i as i64;
        let (kind, data) = rows::event_parts(&draft.event)?;
        sqlx::query("INSERT INTO timeline_entries (number, seq, at, actor, kind, data) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(number)
            .bind(seq)
            .bind(ms(draft.at))
            .bind(&draft.actor)
            .bind(kind)
            .bind(data)
            .execute(&mut *conn)
            .await
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

async fn replace_services(
    conn: &mut SqliteConnection,
    number: i64,
    services: &[Name],
) -> Result<()> {
    sqlx::query("DELETE FROM incident_services WHERE number = ?")
        .bind(number)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for (position, service) in services.iter().enumerate() {
        sqlx::query("INSERT INTO incident_services (number, position, service) VALUES (?, ?, ?)")
            .bind(number)
            .bind(position as i64)
            .bind(service.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn insert_user(conn: &mut SqliteConnection, user: &UserRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (handle, name, email, time_zone, role, from_config, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(user.handle.as_str())
    .bind(&user.name)
    .bind(&user.email)
    .bind(&user.time_zone)
    .bind(user.role.as_str())
    .bind(user.from_config)
    .bind(ms(user.created_at))
    .execute(conn)
    .await
    .map_err(|e| unique(e, || format!("a user with the handle {} already exists", user.handle)))?;
    Ok(())
}

async fn insert_token(conn: &mut SqliteConnection, token: &TokenRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (id, name, role, \"user\", hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&token.id)
    .bind(&token.name)
    .bind(token.role.as_str())
    .bind(token.user.as_ref().map(|u| u.as_str().to_string()))
    .bind(&token.hash)
    .bind(ms(token.created_at))
    .bind(opt_ms(token.revoked_at))
    .execute(conn)
    .await
    .map_err(|e| unique(e, || "a token with that id or secret already exists".to_string()))?;
    Ok(())
}

/// Stores a declared incident with the next number, its first timeline entries and its audit row.
pub(crate) async fn insert_incident(
    conn: &mut SqliteConnection,
    incident: Incident,
    events: Vec<TimelineDraft>,
    audit: AuditDraft,
) -> Result<Incident> {
    let mut incident = incident;
    let number: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM incidents")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    incident.number = IncidentNumber(number);
    let i = &incident;
    sqlx::query(
        "INSERT INTO incidents (number, title, severity, status, summary, customer_impact, drill, \
         detected_at, declared_at, acknowledged_at, mitigated_at, resolved_at, updated_at, \
         declared_by, roles, checklist, version, timeline_seq) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(number)
    .bind(&i.title)
    .bind(&i.severity)
    .bind(i.status.as_str())
    .bind(&i.summary)
    .bind(&i.customer_impact)
    .bind(i.drill)
    .bind(ms(i.detected_at))
    .bind(ms(i.declared_at))
    .bind(opt_ms(i.acknowledged_at))
    .bind(opt_ms(i.mitigated_at))
    .bind(opt_ms(i.resolved_at))
    .bind(ms(i.updated_at))
    .bind(&i.declared_by)
    .bind(rows::roles_json(&i.roles))
    .bind(rows::checklist_json(&i.checklist))
    .bind(i.version)
    .bind(events.len() as i64)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    replace_services(conn, number, &incident.services).await?;
    insert_timeline(conn, number, 1, events).await?;
    insert_audit(conn, &audit).await?;
    Ok(incident)
}

/// Appends `events` to an incident's timeline, continuing its seq. `NotFound` if it does not exist.
pub(crate) async fn append_entries(
    conn: &mut SqliteConnection,
    number: IncidentNumber,
    events: Vec<TimelineDraft>,
) -> Result<Vec<TimelineEntry>> {
    let added = events.len() as i64;
    let last: Option<i64> = sqlx::query_scalar(
        "UPDATE incidents SET timeline_seq = timeline_seq + ? WHERE number = ? RETURNING timeline_seq",
    )
    .bind(added)
    .bind(number.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let last = last.ok_or(StoreError::NotFound)?;
    insert_timeline(conn, number.0, last - added + 1, events).await
}

/// Applies every migration in [`MIGRATIONS`] not yet recorded in `schema_migrations`.
async fn apply_migrations(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for &(version, sql) in MIGRATIONS {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *conn).await.map_err(db)?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(ms(Timestamp::now()))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        tracing::info!(version, "applied sqlite migration");
    }
    Ok(())
}

pub(crate) fn page<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> i64) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = if more { items.last().map(key) } else { None };
    Page { items, next }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let write_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let conn = SqliteConnection::connect_with(&write_options)
            .await
            .map_err(db)?;
        let store_writer = Writer::spawn(conn);
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(db)?;
        let store = SqliteStore {
            writer: store_writer,
            reader,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies any embedded migrations the database does not have yet, in one transaction.
    pub async fn migrate(&self) -> Result<()> {
        self.writer
            .write(|conn| Box::pin(async move { apply_migrations(conn).await }))
            .await
    }
}

#[async_trait]
impl IncidentStore for SqliteStore {
    async fn create_incident(
        &self,
        incident: Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Incident> {
        self.writer
            .write(move |conn| Box::pin(insert_incident(conn, incident, events, audit)))
            .await
    }

    async fn update_incident(
        &self,
        incident: &Incident,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<()> {
        let incident = incident.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let i = &incident;
                    let number = i.number.0;
                    let added = events.len() as i64;
                    let seq: Option<i64> = sqlx::query_scalar(
                        "UPDATE incidents SET title = ?, severity = ?, status = ?, summary = ?, customer_impact = ?, \
                         drill = ?, detected_at = ?, declared_at = ?, acknowledged_at = ?, mitigated_at = ?, \
                         resolved_at = ?, updated_at = ?, declared_by = ?, roles = ?, checklist = ?, version = ?, \
                         timeline_seq = timeline_seq + ? \
                         WHERE number = ? AND version = ? RETURNING timeline_seq",
                    )
                    .bind(&i.title)
                    .bind(&i.severity)
                    .bind(i.status.as_str())
                    .bind(&i.summary)
                    .bind(&i.customer_impact)
                    .bind(i.drill)
                    .bind(ms(i.detected_at))
                    .bind(ms(i.declared_at))
                    .bind(opt_ms(i.acknowledged_at))
                    .bind(opt_ms(i.mitigated_at))
                    .bind(opt_ms(i.resolved_at))
                    .bind(ms(i.updated_at))
                    .bind(&i.declared_by)
                    .bind(rows::roles_json(&i.roles))
                    .bind(rows::checklist_json(&i.checklist))
                    .bind(i.version)
                    .bind(added)
                    .bind(number)
                    .bind(i.version - 1)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
                    let Some(last) = seq else {
                        let exists: Option<i64> = sqlx::query_scalar("SELECT version FROM incidents WHERE number = ?")
                            .bind(number)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db)?;
                        return Err(match exists {
                            None => StoreError::NotFound,
                            Some(_) => StoreError::Conflict(format!(
                                "{} was changed by someone else; reload it and try again",
                                i.number
                            )),
                        });
                    };
                    replace_services(conn, number, &i.services).await?;
                    insert_timeline(conn, number, last - added + 1, events).await?;
                    insert_audit(conn, &audit).await?;
                    Ok(())
                })
            })
            .await
    }

    async fn append_timeline(
        &self,
        number: IncidentNumber,
        events: Vec<TimelineDraft>,
        audit: AuditDraft,
    ) -> Result<Vec<TimelineEntry>> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let entries = append_entries(conn, number, events).await?;
                    insert_audit(conn, &audit).await?;
                    Ok(entries)
                })
            })
            .await
    }

    async fn get_incident(&self, number: IncidentNumber) -> Result<Option<Incident>> {
        let row = sqlx::query(concat!(select_incidents!(), " WHERE i.number = ?"))
            .bind(number.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(rows::incident).transpose()
    }

    async fn list_incidents(
        &self,
        filter: &IncidentFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Incident>> {
        let rows = sqlx::query(concat!(
            select_incidents!(),
            " WHERE (?1 IS NULL OR i.number < ?1)",
            " AND (?2 IS NULL OR i.status = ?2)",
            " AND (?3 IS NULL OR i.severity = ?3 COLLATE NOCASE)",
            " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM incident_services f WHERE f.number = i.number AND f.service = ?4))",
            " AND (?5 IS NULL OR (?5 = 1 AND i.status <> 'resolved') OR (?5 = 0 AND i.status = 'resolved'))",
            " AND (?6 IS NULL OR i.drill = ?6)",
            " ORDER BY i.number DESC LIMIT ?7"
        ))
        .bind(before)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.severity.as_deref())
        .bind(filter.service.as_ref().map(|s| s.as_str().to_string()))
        .bind(filter.open)
        .bind(filter.drill)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(rows::incident)
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |i| i.number.0))
    }

    async fn timeline(
        &self,
        number: IncidentNumber,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Page<TimelineEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, kind, data FROM timeline_entries WHERE number = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(number.0)
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(rows::timeline_entry)
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |e| e.seq))
    }
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn create_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let s = &service;
                    sqlx::query(
                        "INSERT INTO services (name, description, team, runbook, from_config, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(s.name.as_str())
                    .bind(&s.description)
                    .bind(&s.team)
                    .bind(&s.runbook)
                    .bind(s.from_config)
                    .bind(ms(s.created_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| unique(e, || format!("a service named {} already exists", s.name)))?;
                    insert_audit(conn, &audit).await?;
                    Ok(service)
                })
            })
            .await
    }

    async fn update_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "UPDATE services SET description = ?, team = ?, runbook = ? WHERE name = ? \
                         RETURNING name, description, team, runbook, from_config, created_at",
                    )
                    .bind(&service.description)
                    .bind(&service.team)
                    .bind(&service.runbook)
                    .bind(service.name.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?
                    .ok_or(StoreError::NotFound)?;
                    let stored = rows::service(&row)?;
                    insert_audit(conn, &audit).await?;
                    Ok(stored)
                })
            })
            .await
    }

    async fn delete_service(&self, name: &Name, audit: AuditDraft) -> Result<()> {
        let name = name.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM services WHERE name = ?")
                        .bind(name.as_str())
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

    async fn get_service(&self, name: &Name) -> Result<Option<ServiceRecord>> {
        let row = sqlx::query("SELECT name, description, team, runbook, from_config, created_at FROM services WHERE name = ?")
            .bind(name.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(rows::service).transpose()
    }

    async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        let rows = sqlx::query("SELECT name, description, team, runbook, from_config, created_at FROM services ORDER BY name")
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(rows::service).collect()
    }

    async fn sync_config(
        &self,
        services: Vec<ServiceRecord>,
        users: Vec<UserRecord>,
    ) -> Result<()> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    for s in &services {
                        sqlx::query(
                            "INSERT INTO services (name, description, team, runbook, from_config, created_at) \
                             VALUES (?, ?, ?, ?, 1, ?) \
                             ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
                             team = excluded.team, runbook = excluded.runbook, from_config = 1",
                        )
                        .bind(s.name.as_str())
                        .bind(&s.description)
                        .bind(&s.team)
                        .bind(&s.runbook)
                        .bind(ms(s.created_at))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    }
                    // The config file gives no access role, so an existing user's role is kept.
                    for u in &users {
                        sqlx::query(
                            "INSERT INTO users (handle, name, email, time_zone, role, from_config, created_at) \
                             VALUES (?, ?, ?, ?, ?, 1, ?) \
                             ON CONFLICT (handle) DO UPDATE SET name = excluded.name, email = excluded.email, \
                             time_zone = excluded.time_zone, from_config = 1",
                        )
                        .bind(u.handle.as_str())
                        .bind(&u.name)
                        .bind(&u.email)
                        .bind(&u.time_zone)
                        .bind(u.role.as_str())
                        .bind(ms(u.created_at))
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn create_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    insert_user(conn, &user).await?;
                    insert_audit(conn, &audit).await?;
                    Ok(user)
                })
            })
            .await
    }

    async fn update_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "UPDATE users SET name = ?, email = ?, time_zone = ?, role = ? WHERE handle = ? \
                         RETURNING handle, name, email, time_zone, role, from_config, created_at",
                    )
                    .bind(&user.name)
                    .bind(&user.email)
                    .bind(&user.time_zone)
                    .bind(user.role.as_str())
                    .bind(user.handle.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?
                    .ok_or(StoreError::NotFound)?;
                    let stored = rows::user(&row)?;
                    insert_audit(conn, &audit).await?;
                    Ok(stored)
                })
            })
            .await
    }

    async fn get_user(&self, handle: &Name) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT handle, name, email, time_zone, role, from_config, created_at FROM users WHERE handle = ?",
        )
        .bind(handle.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows =
            sqlx::query("SELECT handle, name, email, time_zone, role, from_config, created_at FROM users ORDER BY handle")
                .fetch_all(&self.reader)
                .await
                .map_err(db)?;
        rows.iter().map(rows::user).collect()
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(&self, token: TokenRecord, audit: AuditDraft) -> Result<TokenRecord> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    insert_token(conn, &token).await?;
                    insert_audit(conn, &audit).await?;
                    Ok(token)
                })
            })
            .await
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT id, name, role, \"user\", hash, created_at, revoked_at FROM tokens \
             WHERE hash = ? AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.as_ref().map(rows::token).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, role, \"user\", hash, created_at, revoked_at FROM tokens ORDER BY created_at, id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter().map(rows::token).collect()
    }

    async fn revoke_token(
        &self,
        id: &str,
        at: Timestamp,
        audit: AuditDraft,
    ) -> Result<TokenRecord> {
        let id = id.to_string();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? \
                         RETURNING id, name, role, \"user\", hash, created_at, revoked_at",
                    )
                    .bind(ms(at))
                    .bind(&id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?
                    .ok_or(StoreError::NotFound)?;
                    let stored = rows::token(&row)?;
                    insert_audit(conn, &audit).await?;
                    Ok(stored)
                })
            })
            .await
    }

    async fn bootstrap_admin(
        &self,
        user: UserRecord,
        token: TokenRecord,
        audit: AuditDraft,
    ) -> Result<bool> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let admins: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(db)?;
                    if admins > 0 {
                        return Ok(false);
                    }
                    insert_user(conn, &user).await?;
                    insert_token(conn, &token).await?;
                    insert_audit(conn, &audit).await?;
                    Ok(true)
                })
            })
            .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Page<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, actor, action, target, at, source FROM audit_log \
             WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(rows::audit_entry)
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, limit, |e| e.id))
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
