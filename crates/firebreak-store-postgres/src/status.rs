//! The status page on PostgreSQL: components, and status updates read back from the timeline.
//! Locks are `FOR UPDATE` rows.

use async_trait::async_trait;
use firebreak_domain::status_page::{
    Component, ComponentStatus, PublicMaintenance, Subscriber, SubscriberKind,
};
use firebreak_domain::{IncidentNumber, Name};
use firebreak_store::feed::Topic;
use firebreak_store::{Change, Result, StatusStore, StatusWrites, StoreError, TimelineEntry};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, get};
use crate::tx::PgTx;

const COLUMNS: &str = "id, name, description, group_name, services, position, manual_status, \
     from_config, created_at, updated_at";

fn component(row: &PgRow) -> Result<Component> {
    let services: Vec<String> = get(row, "services")?;
    let manual: Option<String> = get(row, "manual_status")?;
    let position: i32 = get(row, "position")?;
    Ok(Component {
        id: get(row, "id")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        group: get(row, "group_name")?,
        services: services
            .iter()
            .map(|s| Name::parse(s).map_err(StoreError::backend))
            .collect::<Result<_>>()?,
        position: u32::try_from(position).map_err(StoreError::backend)?,
        manual: match manual {
            Some(m) => {
                Some(ComponentStatus::parse(&m).ok_or_else(|| {
                    StoreError::backend(format!("unknown component status {m:?}"))
                })?)
            }
            None => None,
        },
        from_config: get(row, "from_config")?,
        created_at: rows::ts(get(row, "created_at")?)?,
        updated_at: rows::ts(get(row, "updated_at")?)?,
    })
}

const MAINTENANCE_COLUMNS: &str =
    "id, name, body, components, starts_at, ends_at, created_by, created_at";

fn maintenance(row: &PgRow) -> Result<PublicMaintenance> {
    Ok(PublicMaintenance {
        id: get(row, "id")?,
        name: get(row, "name")?,
        body: get(row, "body")?,
        components: get(row, "components")?,
        starts_at: rows::ts(get(row, "starts_at")?)?,
        ends_at: rows::ts(get(row, "ends_at")?)?,
        created_by: get(row, "created_by")?,
        created_at: rows::ts(get(row, "created_at")?)?,
    })
}

const SUBSCRIBER_COLUMNS: &str = "id, kind, target, secret, components, token_hash, created_at, \
     confirmed_at, last_mailed_at";

fn subscriber(row: &PgRow) -> Result<Subscriber> {
    let kind: String = get(row, "kind")?;
    Ok(Subscriber {
        id: get(row, "id")?,
        kind: SubscriberKind::parse(&kind)
            .ok_or_else(|| StoreError::backend(format!("unknown subscriber kind {kind:?}")))?,
        target: get(row, "target")?,
        secret: get(row, "secret")?,
        components: get(row, "components")?,
        token_hash: get(row, "token_hash")?,
        created_at: rows::ts(get(row, "created_at")?)?,
        confirmed_at: rows::ts_opt(get(row, "confirmed_at")?)?,
        last_mailed_at: rows::ts_opt(get(row, "last_mailed_at")?)?,
    })
}

fn services(c: &Component) -> Vec<&str> {
    c.services.iter().map(Name::as_str).collect()
}

fn position(c: &Component) -> Result<i32> {
    i32::try_from(c.position).map_err(StoreError::backend)
}

fn taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("a component named {name:?} already exists"))
}

impl PgTx<'_> {
    /// Whether another component than `id` has `name`.
    async fn name_taken(&mut self, name: &str, id: &str) -> Result<bool> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM status_components WHERE name = $1 AND id <> $2")
                .bind(name)
                .bind(id)
                .fetch_optional(&mut *self.conn)
                .await
                .map_err(db)?;
        Ok(found.is_some())
    }
}

#[async_trait]
impl StatusWrites for PgTx<'_> {
    async fn create_component(&mut self, c: &Component) -> Result<()> {
        let added = sqlx::query(
            "INSERT INTO status_components (id, name, description, group_name, services, position, \
             manual_status, from_config, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.description)
        .bind(&c.group)
        .bind(services(c))
        .bind(position(c)?)
        .bind(c.manual.map(ComponentStatus::as_str))
        .bind(c.from_config)
        .bind(c.created_at.as_millisecond())
        .bind(c.updated_at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(taken(&c.name));
        }
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(())
    }

    async fn lock_component(&mut self, id: &str) -> Result<Option<Component>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM status_components WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| component(&r))
        .transpose()
    }

    async fn save_component(&mut self, c: &Component) -> Result<()> {
        if self.name_taken(&c.name, &c.id).await? {
            return Err(taken(&c.name));
        }
        let changed = sqlx::query(
            "UPDATE status_components SET name = $2, description = $3, group_name = $4, \
             services = $5, position = $6, manual_status = $7, from_config = $8, updated_at = $9 \
             WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.description)
        .bind(&c.group)
        .bind(services(c))
        .bind(position(c)?)
        .bind(c.manual.map(ComponentStatus::as_str))
        .bind(c.from_config)
        .bind(c.updated_at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        rows::found(changed)?;
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(())
    }

    async fn delete_component(&mut self, id: &str) -> Result<Component> {
        let removed = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM status_components WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        self.changed(Change::Directory(Topic::StatusPage));
        component(&removed)
    }

    async fn sync_components(&mut self, components: Vec<Component>) -> Result<()> {
        for c in &components {
            sqlx::query(
                "INSERT INTO status_components (id, name, description, group_name, services, \
                 position, manual_status, from_config, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, TRUE, $7, $7) \
                 ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, \
                 group_name = EXCLUDED.group_name, services = EXCLUDED.services, \
                 position = EXCLUDED.position, from_config = TRUE, \
                 updated_at = CASE WHEN status_components.description IS NOT DISTINCT FROM EXCLUDED.description \
                   AND status_components.group_name IS NOT DISTINCT FROM EXCLUDED.group_name \
                   AND status_components.services = EXCLUDED.services \
                   AND status_components.position = EXCLUDED.position \
                   AND status_components.from_config \
                 THEN status_components.updated_at ELSE EXCLUDED.updated_at END",
            )
            .bind(&c.id)
            .bind(&c.name)
            .bind(&c.description)
            .bind(&c.group)
            .bind(services(c))
            .bind(position(c)?)
            .bind(c.updated_at.as_millisecond())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        }
        let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
        sqlx::query("DELETE FROM status_components WHERE from_config AND NOT (name = ANY($1))")
            .bind(&names)
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(())
    }

    async fn create_scheduled_maintenance(&mut self, m: &PublicMaintenance) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO scheduled_maintenances (name, body, components, starts_at, ends_at, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&m.name)
        .bind(&m.body)
        .bind(&m.components)
        .bind(m.starts_at.as_millisecond())
        .bind(m.ends_at.as_millisecond())
        .bind(&m.created_by)
        .bind(m.created_at.as_millisecond())
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Directory(Topic::Maintenance));
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(id)
    }

    async fn lock_scheduled_maintenance(&mut self, id: i64) -> Result<Option<PublicMaintenance>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MAINTENANCE_COLUMNS} FROM scheduled_maintenances WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| maintenance(&r))
        .transpose()
    }

    async fn save_scheduled_maintenance_span(&mut self, m: &PublicMaintenance) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE scheduled_maintenances SET starts_at = $2, ends_at = $3 WHERE id = $1",
        )
        .bind(m.id)
        .bind(m.starts_at.as_millisecond())
        .bind(m.ends_at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        rows::found(changed)?;
        self.changed(Change::Directory(Topic::Maintenance));
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(())
    }

    async fn create_subscriber(&mut self, s: &Subscriber) -> Result<()> {
        let added = sqlx::query(
            "INSERT INTO status_subscribers (id, kind, target, secret, components, token_hash, \
             created_at, confirmed_at, last_mailed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&s.id)
        .bind(s.kind.as_str())
        .bind(&s.target)
        .bind(&s.secret)
        .bind(&s.components)
        .bind(&s.token_hash)
        .bind(s.created_at.as_millisecond())
        .bind(s.confirmed_at.map(|t| t.as_millisecond()))
        .bind(s.last_mailed_at.map(|t| t.as_millisecond()))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(
                "that address is already subscribed".to_string(),
            ));
        }
        Ok(())
    }

    async fn lock_subscriber(
        &mut self,
        kind: SubscriberKind,
        target: &str,
    ) -> Result<Option<Subscriber>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers WHERE kind = $1 AND target = $2 \
             FOR UPDATE"
        )))
        .bind(kind.as_str())
        .bind(target)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| subscriber(&r))
        .transpose()
    }

    async fn lock_subscriber_by_token(&mut self, token_hash: &str) -> Result<Option<Subscriber>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers WHERE token_hash = $1 FOR UPDATE"
        )))
        .bind(token_hash)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| subscriber(&r))
        .transpose()
    }

    async fn save_subscriber(&mut self, s: &Subscriber) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE status_subscribers SET confirmed_at = $2, last_mailed_at = $3, token_hash = $4, \
             components = $5 WHERE id = $1",
        )
        .bind(&s.id)
        .bind(s.confirmed_at.map(|t| t.as_millisecond()))
        .bind(s.last_mailed_at.map(|t| t.as_millisecond()))
        .bind(&s.token_hash)
        .bind(&s.components)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        rows::found(changed)
    }

    async fn purge_unconfirmed_subscribers(&mut self, before: Timestamp) -> Result<u64> {
        let gone = sqlx::query(
            "DELETE FROM status_subscribers WHERE kind = 'email' AND confirmed_at IS NULL \
             AND COALESCE(last_mailed_at, created_at) < $1",
        )
        .bind(before.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        Ok(gone)
    }

    async fn delete_subscriber(&mut self, id: &str) -> Result<Subscriber> {
        let removed = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM status_subscribers WHERE id = $1 RETURNING {SUBSCRIBER_COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        subscriber(&removed)
    }
}

#[async_trait]
impl StatusStore for PostgresStore {
    async fn get_subscriber(&self, id: &str) -> Result<Option<Subscriber>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| subscriber(&r))
        .transpose()
    }

    async fn list_subscribers(&self) -> Result<Vec<Subscriber>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(subscriber)
        .collect()
    }

    async fn list_scheduled_maintenances(
        &self,
        after: Timestamp,
    ) -> Result<Vec<PublicMaintenance>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {MAINTENANCE_COLUMNS} FROM scheduled_maintenances WHERE ends_at > $1 \
             ORDER BY starts_at, id"
        )))
        .bind(after.as_millisecond())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(maintenance)
        .collect()
    }

    async fn list_components(&self) -> Result<Vec<Component>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM status_components ORDER BY position, name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(component)
        .collect()
    }

    async fn status_updates_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(IncidentNumber, TimelineEntry)>> {
        sqlx::query(
            "SELECT number, seq, at, actor, kind, data FROM timeline_entries \
             WHERE kind = 'status_update' AND at >= $1 ORDER BY at, number, seq",
        )
        .bind(since.as_millisecond())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((IncidentNumber(get(r, "number")?), rows::timeline_entry(r)?)))
        .collect()
    }
}
