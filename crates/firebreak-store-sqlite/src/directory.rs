//! Services, users and tokens on SQLite.

use async_trait::async_trait;
use firebreak_domain::Name;
use firebreak_store::feed::Topic;
use firebreak_store::{
    Change, DirectoryStore, DirectoryWrites, Result, ServiceRecord, StoreError, TokenRecord,
    TokenStore, UserRecord,
};
use jiff::Timestamp;
use rusqlite::{Connection, params};

use crate::SqliteStore;
use crate::rows::{self, SERVICE_COLUMNS, TOKEN_COLUMNS, USER_COLUMNS, ms, opt_ms, unique};
use crate::tx::SqliteTx;

fn insert_user(conn: &Connection, user: &UserRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO users (handle, name, email, time_zone, role, from_config, created_at, disabled_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            user.handle.as_str(),
            user.name,
            user.email,
            user.time_zone,
            user.role.as_str(),
            user.from_config,
            ms(user.created_at),
            opt_ms(user.disabled_at),
        ])
    })
    .map_err(|e| unique(e, || format!("a user with the handle {} already exists", user.handle)))?;
    Ok(())
}

#[async_trait]
impl DirectoryWrites for SqliteTx<'_> {
    async fn create_service(&mut self, s: &ServiceRecord) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO services (name, description, team, runbook, escalation_policy, \
                 manager, from_config, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    s.name.as_str(),
                    s.description,
                    s.team,
                    s.runbook,
                    s.escalation_policy.as_ref().map(Name::as_str),
                    s.manager.as_ref().map(Name::as_str),
                    s.from_config,
                    ms(s.created_at)
                ])
            })
            .map_err(|e| unique(e, || format!("a service named {} already exists", s.name)))?;
        self.changed(Change::Directory(Topic::Services));
        Ok(())
    }

    async fn update_service(&mut self, s: &ServiceRecord) -> Result<ServiceRecord> {
        let sql = format!(
            "UPDATE services SET description = ?1, team = ?2, runbook = ?3, \
             escalation_policy = ?5, manager = ?6 WHERE name = ?4 RETURNING {SERVICE_COLUMNS}"
        );
        let stored = rows::one(
            self.conn(),
            &sql,
            params![
                s.description,
                s.team,
                s.runbook,
                s.name.as_str(),
                s.escalation_policy.as_ref().map(Name::as_str),
                s.manager.as_ref().map(Name::as_str)
            ],
            rows::service,
        )?
        .ok_or(StoreError::NotFound)?;
        self.changed(Change::Directory(Topic::Services));
        Ok(stored)
    }

    async fn delete_service(&mut self, name: &Name) -> Result<()> {
        if self.exec("DELETE FROM services WHERE name = ?1", [name.as_str()])? == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Services));
        Ok(())
    }

    async fn sync_config(
        &mut self,
        services: Vec<ServiceRecord>,
        users: Vec<UserRecord>,
    ) -> Result<()> {
        for s in &services {
            self.exec(
                "INSERT INTO services (name, description, team, runbook, escalation_policy, \
                 manager, from_config, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7) \
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
                 team = excluded.team, runbook = excluded.runbook, \
                 escalation_policy = excluded.escalation_policy, manager = excluded.manager, \
                 from_config = 1",
                params![
                    s.name.as_str(),
                    s.description,
                    s.team,
                    s.runbook,
                    s.escalation_policy.as_ref().map(Name::as_str),
                    s.manager.as_ref().map(Name::as_str),
                    ms(s.created_at)
                ],
            )?;
        }
        // The config file gives no access role, so an existing user's role and disabled state stay.
        for u in &users {
            self.exec(
                "INSERT INTO users (handle, name, email, time_zone, role, from_config, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6) \
                 ON CONFLICT (handle) DO UPDATE SET name = excluded.name, email = excluded.email, \
                 time_zone = excluded.time_zone, from_config = 1",
                params![
                    u.handle.as_str(),
                    u.name,
                    u.email,
                    u.time_zone,
                    u.role.as_str(),
                    ms(u.created_at)
                ],
            )?;
        }
        self.changed(Change::Directory(Topic::Services));
        self.changed(Change::Directory(Topic::Users));
        Ok(())
    }

    async fn create_user(&mut self, user: &UserRecord) -> Result<()> {
        insert_user(self.conn(), user)?;
        self.changed(Change::Directory(Topic::Users));
        Ok(())
    }

    async fn update_user(&mut self, user: &UserRecord) -> Result<UserRecord> {
        let sql = format!(
            "UPDATE users SET name = ?1, email = ?2, time_zone = ?3, role = ?4, disabled_at = ?5 \
             WHERE handle = ?6 RETURNING {USER_COLUMNS}"
        );
        let stored = rows::one(
            self.conn(),
            &sql,
            params![
                user.name,
                user.email,
                user.time_zone,
                user.role.as_str(),
                opt_ms(user.disabled_at),
                user.handle.as_str()
            ],
            rows::user,
        )?
        .ok_or(StoreError::NotFound)?;
        // A user's role and state decide what their tokens may do.
        self.changed(Change::Directory(Topic::Users));
        self.changed(Change::Directory(Topic::Tokens));
        Ok(stored)
    }

    async fn any_admin(&mut self) -> Result<bool> {
        rows::one(
            self.conn(),
            "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND disabled_at IS NULL)",
            [],
            |r| r.get::<_, bool>(0).map_err(rows::db),
        )
        .map(|found| found.unwrap_or(false))
    }

    async fn create_token(&mut self, token: &TokenRecord) -> Result<()> {
        self.exec_unique(
            "INSERT INTO tokens (id, name, role, \"user\", hash, created_at, revoked_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                token.id,
                token.name,
                token.role.as_str(),
                token.user.as_ref().map(|u| u.as_str()),
                token.hash,
                ms(token.created_at),
                opt_ms(token.revoked_at),
                opt_ms(token.expires_at),
            ],
            || "a token with that id or secret already exists".into(),
        )?;
        self.changed(Change::Directory(Topic::Tokens));
        Ok(())
    }

    async fn revoke_token(&mut self, id: &str, at: Timestamp) -> Result<TokenRecord> {
        let sql = format!(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2 RETURNING {TOKEN_COLUMNS}"
        );
        let stored = rows::one(self.conn(), &sql, params![ms(at), id], rows::token)?
            .ok_or(StoreError::NotFound)?;
        self.changed(Change::Directory(Topic::Tokens));
        Ok(stored)
    }
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn get_service(&self, name: &Name) -> Result<Option<ServiceRecord>> {
        let name = name.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {SERVICE_COLUMNS} FROM services WHERE name = ?1");
            rows::one(conn, &sql, [name], rows::service)
        })
        .await
    }

    async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        self.read(|conn| {
            let sql = format!("SELECT {SERVICE_COLUMNS} FROM services ORDER BY name");
            rows::all(conn, &sql, [], rows::service)
        })
        .await
    }

    async fn get_user(&self, handle: &Name) -> Result<Option<UserRecord>> {
        let handle = handle.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE handle = ?1");
            rows::one(conn, &sql, [handle], rows::user)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.read(|conn| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY handle");
            rows::all(conn, &sql, [], rows::user)
        })
        .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let hash = hash.to_string();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1 AND revoked_at IS NULL"
            );
            rows::one(conn, &sql, [hash], rows::token)
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(|conn| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id");
            rows::all(conn, &sql, [], rows::token)
        })
        .await
    }
}
