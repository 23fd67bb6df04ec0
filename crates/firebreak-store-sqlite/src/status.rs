//! The status page on SQLite: components, and status updates read back from the timeline.

use async_trait::async_trait;
use firebreak_domain::status_page::{
    Component, ComponentStatus, PublicMaintenance, Subscriber, SubscriberKind,
};
use firebreak_domain::{IncidentNumber, Name};
use firebreak_store::feed::Topic;
use firebreak_store::{Change, Result, StatusStore, StatusWrites, StoreError, TimelineEntry};
use jiff::Timestamp;
use rusqlite::{Row, params};

use crate::SqliteStore;
use crate::rows::{self, ms};
use crate::tx::SqliteTx;

const COLUMNS: &str = "id, name, description, group_name, services, position, manual_status, \
     from_config, created_at, updated_at";

fn component(row: &Row<'_>) -> Result<Component> {
    let services: String = rows::get(row, "services")?;
    let services: Vec<String> = serde_json::from_str(&services).map_err(StoreError::backend)?;
    let manual: Option<String> = rows::get(row, "manual_status")?;
    let position: i64 = rows::get(row, "position")?;
    Ok(Component {
        id: rows::get(row, "id")?,
        name: rows::get(row, "name")?,
        description: rows::get(row, "description")?,
        group: rows::get(row, "group_name")?,
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
        from_config: rows::get(row, "from_config")?,
        created_at: rows::ts(row, "created_at")?,
        updated_at: rows::ts(row, "updated_at")?,
    })
}

const MAINTENANCE_COLUMNS: &str =
    "id, name, body, components, starts_at, ends_at, created_by, created_at";

fn maintenance(row: &Row<'_>) -> Result<PublicMaintenance> {
    let components: String = rows::get(row, "components")?;
    Ok(PublicMaintenance {
        id: rows::get(row, "id")?,
        name: rows::get(row, "name")?,
        body: rows::get(row, "body")?,
        components: serde_json::from_str(&components).map_err(StoreError::backend)?,
        starts_at: rows::ts(row, "starts_at")?,
        ends_at: rows::ts(row, "ends_at")?,
        created_by: rows::get(row, "created_by")?,
        created_at: rows::ts(row, "created_at")?,
    })
}

const SUBSCRIBER_COLUMNS: &str = "id, kind, target, secret, components, token_hash, created_at, \
     confirmed_at, last_mailed_at";

fn subscriber(row: &Row<'_>) -> Result<Subscriber> {
    let kind: String = rows::get(row, "kind")?;
    let components: Option<String> = rows::get(row, "components")?;
    Ok(Subscriber {
        id: rows::get(row, "id")?,
        kind: SubscriberKind::parse(&kind)
            .ok_or_else(|| StoreError::backend(format!("unknown subscriber kind {kind:?}")))?,
        target: rows::get(row, "target")?,
        secret: rows::get(row, "secret")?,
        components: match components {
            Some(c) => Some(serde_json::from_str(&c).map_err(StoreError::backend)?),
            None => None,
        },
        token_hash: rows::get(row, "token_hash")?,
        created_at: rows::ts(row, "created_at")?,
        confirmed_at: rows::opt_ts(row, "confirmed_at")?,
        last_mailed_at: rows::opt_ts(row, "last_mailed_at")?,
    })
}

fn services_json(c: &Component) -> String {
    serde_json::to_string(&c.services.iter().map(Name::as_str).collect::<Vec<_>>())
        .expect("names always serialise")
}

fn taken(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a component named {name:?} already exists")
}

#[async_trait]
impl StatusWrites for SqliteTx<'_> {
    async fn create_component(&mut self, c: &Component) -> Result<()> {
        self.exec_unique(
            "INSERT INTO status_components (id, name, description, group_name, services, position, \
             manual_status, from_config, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                c.id,
                c.name,
                c.description,
                c.group,
                services_json(c),
                c.position,
                c.manual.map(ComponentStatus::as_str),
                c.from_config,
                ms(c.created_at),
                ms(c.updated_at)
            ],
            taken(&c.name),
        )?;
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(())
    }

    async fn lock_component(&mut self, id: &str) -> Result<Option<Component>> {
        let sql = format!("SELECT {COLUMNS} FROM status_components WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], component)
    }

    async fn save_component(&mut self, c: &Component) -> Result<()> {
        let changed = self.exec_unique(
            "UPDATE status_components SET name = ?2, description = ?3, group_name = ?4, \
             services = ?5, position = ?6, manual_status = ?7, from_config = ?8, updated_at = ?9 \
             WHERE id = ?1",
            params![
                c.id,
                c.name,
                c.description,
                c.group,
                services_json(c),
                c.position,
                c.manual.map(ComponentStatus::as_str),
                c.from_config,
                ms(c.updated_at)
            ],
            taken(&c.name),
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(())
    }

    async fn delete_component(&mut self, id: &str) -> Result<Component> {
        let sql = format!("DELETE FROM status_components WHERE id = ?1 RETURNING {COLUMNS}");
        let removed = rows::one(self.conn(), &sql, [id], component)?.ok_or(StoreError::NotFound)?;
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(removed)
    }

    async fn sync_components(&mut self, components: Vec<Component>) -> Result<()> {
        for c in &components {
            self.exec_unique(
                "INSERT INTO status_components (id, name, description, group_name, services, \
                 position, manual_status, from_config, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 1, ?7, ?7) \
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
                 group_name = excluded.group_name, services = excluded.services, \
                 position = excluded.position, from_config = 1, \
                 updated_at = CASE WHEN status_components.description IS excluded.description \
                   AND status_components.group_name IS excluded.group_name \
                   AND status_components.services = excluded.services \
                   AND status_components.position = excluded.position \
                   AND status_components.from_config = 1 \
                 THEN status_components.updated_at ELSE excluded.updated_at END",
                params![
                    c.id,
                    c.name,
                    c.description,
                    c.group,
                    services_json(c),
                    c.position,
                    ms(c.updated_at)
                ],
                taken(&c.name),
            )?;
        }
        let names = serde_json::to_string(
            &components
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
        )
        .map_err(StoreError::backend)?;
        self.exec(
            "DELETE FROM status_components WHERE from_config = 1 \
             AND name NOT IN (SELECT value FROM json_each(?1))",
            [names],
        )?;
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(())
    }

    async fn create_scheduled_maintenance(&mut self, m: &PublicMaintenance) -> Result<i64> {
        let components = serde_json::to_string(&m.components).map_err(StoreError::backend)?;
        let id = rows::one(
            self.conn(),
            "INSERT INTO scheduled_maintenances (name, body, components, starts_at, ends_at, \
             created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            params![
                m.name,
                m.body,
                components,
                ms(m.starts_at),
                ms(m.ends_at),
                m.created_by,
                ms(m.created_at)
            ],
            |r| rows::get(r, "id"),
        )?
        .ok_or_else(|| StoreError::backend("a new maintenance got no id"))?;
        self.changed(Change::Directory(Topic::Maintenance));
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(id)
    }

    async fn lock_scheduled_maintenance(&mut self, id: i64) -> Result<Option<PublicMaintenance>> {
        let sql = format!("SELECT {MAINTENANCE_COLUMNS} FROM scheduled_maintenances WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], maintenance)
    }

    async fn save_scheduled_maintenance_span(&mut self, m: &PublicMaintenance) -> Result<()> {
        let changed = self.exec(
            "UPDATE scheduled_maintenances SET starts_at = ?2, ends_at = ?3 WHERE id = ?1",
            params![m.id, ms(m.starts_at), ms(m.ends_at)],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Maintenance));
        self.changed(Change::Directory(Topic::StatusPage));
        Ok(())
    }

    async fn create_subscriber(&mut self, s: &Subscriber) -> Result<()> {
        let components = match &s.components {
            Some(c) => Some(serde_json::to_string(c).map_err(StoreError::backend)?),
            None => None,
        };
        self.exec_unique(
            "INSERT INTO status_subscribers (id, kind, target, secret, components, token_hash, \
             created_at, confirmed_at, last_mailed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                s.id,
                s.kind.as_str(),
                s.target,
                s.secret,
                components,
                s.token_hash,
                ms(s.created_at),
                s.confirmed_at.map(ms),
                s.last_mailed_at.map(ms)
            ],
            || "that address is already subscribed".to_string(),
        )?;
        Ok(())
    }

    async fn lock_subscriber(
        &mut self,
        kind: SubscriberKind,
        target: &str,
    ) -> Result<Option<Subscriber>> {
        let sql = format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers WHERE kind = ?1 AND target = ?2"
        );
        rows::one(
            self.conn(),
            &sql,
            params![kind.as_str(), target],
            subscriber,
        )
    }

    async fn lock_subscriber_by_token(&mut self, token_hash: &str) -> Result<Option<Subscriber>> {
        let sql =
            format!("SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers WHERE token_hash = ?1");
        rows::one(self.conn(), &sql, [token_hash], subscriber)
    }

    async fn save_subscriber(&mut self, s: &Subscriber) -> Result<()> {
        let components = match &s.components {
            Some(c) => Some(serde_json::to_string(c).map_err(StoreError::backend)?),
            None => None,
        };
        let changed = self.exec(
            "UPDATE status_subscribers SET confirmed_at = ?2, last_mailed_at = ?3, token_hash = ?4, \
             components = ?5 WHERE id = ?1",
            params![
                s.id,
                s.confirmed_at.map(ms),
                s.last_mailed_at.map(ms),
                s.token_hash,
                components
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn purge_unconfirmed_subscribers(&mut self, before: Timestamp) -> Result<u64> {
        let gone = self.exec(
            "DELETE FROM status_subscribers WHERE kind = 'email' AND confirmed_at IS NULL \
             AND COALESCE(last_mailed_at, created_at) < ?1",
            [ms(before)],
        )?;
        Ok(gone as u64)
    }

    async fn delete_subscriber(&mut self, id: &str) -> Result<Subscriber> {
        let sql =
            format!("DELETE FROM status_subscribers WHERE id = ?1 RETURNING {SUBSCRIBER_COLUMNS}");
        rows::one(self.conn(), &sql, [id], subscriber)?.ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl StatusStore for SqliteStore {
    async fn get_subscriber(&self, id: &str) -> Result<Option<Subscriber>> {
        let id = id.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers WHERE id = ?1");
            rows::one(conn, &sql, [id], subscriber)
        })
        .await
    }

    async fn list_subscribers(&self) -> Result<Vec<Subscriber>> {
        self.read(|conn| {
            let sql = format!(
                "SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers ORDER BY created_at, id"
            );
            rows::all(conn, &sql, [], subscriber)
        })
        .await
    }

    async fn list_scheduled_maintenances(
        &self,
        after: Timestamp,
    ) -> Result<Vec<PublicMaintenance>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {MAINTENANCE_COLUMNS} FROM scheduled_maintenances WHERE ends_at > ?1 \
                 ORDER BY starts_at, id"
            );
            rows::all(conn, &sql, [ms(after)], maintenance)
        })
        .await
    }

    async fn list_components(&self) -> Result<Vec<Component>> {
        self.read(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM status_components ORDER BY position, name");
            rows::all(conn, &sql, [], component)
        })
        .await
    }

    async fn status_updates_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(IncidentNumber, TimelineEntry)>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT number, seq, at, actor, kind, data FROM timeline_entries \
                 WHERE kind = 'status_update' AND at >= ?1 ORDER BY at, number, seq",
                [ms(since)],
                |row| {
                    Ok((
                        IncidentNumber(rows::get(row, "number")?),
                        rows::timeline_entry(row)?,
                    ))
                },
            )
        })
        .await
    }
}
