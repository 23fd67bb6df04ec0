//! Services, users and tokens on PostgreSQL. `sync_config` upserts what the config file
//! declares and marks it `from_config`, never deleting and never touching a user's role or
//! disabled state.

use std::collections::BTreeMap;

use async_trait::async_trait;
use firebreak_domain::Name;
use firebreak_store::feed::Topic;
use firebreak_store::{
    Change, DirectoryStore, DirectoryWrites, Result, ServiceRecord, StoreError, TokenRecord,
    TokenStore, UserRecord,
};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;

use crate::PostgresStore;
use crate::error::{conflict_message, db};
use crate::rows::{self, SERVICE_COLUMNS, TOKEN_COLUMNS, USER_COLUMNS, ms_opt};
use crate::tx::PgTx;

#[async_trait]
impl DirectoryWrites for PgTx<'_> {
    async fn create_service(&mut self, s: &ServiceRecord) -> Result<()> {
        let added = sqlx::query(
            "INSERT INTO services (name, description, team, runbook, from_config, created_at,
                 escalation_policy, manager)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(s.name.as_str())
        .bind(&s.description)
        .bind(s.team.as_deref())
        .bind(s.runbook.as_deref())
        .bind(s.from_config)
        .bind(s.created_at.as_millisecond())
        .bind(s.escalation_policy.as_ref().map(Name::as_str))
        .bind(s.manager.as_ref().map(Name::as_str))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(conflict_message(
                "services_pkey",
                s.name.as_str(),
            )));
        }
        self.changed(Change::Directory(Topic::Services));
        Ok(())
    }

    async fn update_service(&mut self, s: &ServiceRecord) -> Result<ServiceRecord> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE services SET description = $2, team = $3, runbook = $4,
                 escalation_policy = $5, manager = $6 WHERE name = $1
             RETURNING {SERVICE_COLUMNS}"
        )))
        .bind(s.name.as_str())
        .bind(&s.description)
        .bind(s.team.as_deref())
        .bind(s.runbook.as_deref())
        .bind(s.escalation_policy.as_ref().map(Name::as_str))
        .bind(s.manager.as_ref().map(Name::as_str))
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        let stored = rows::service(&row)?;
        self.changed(Change::Directory(Topic::Services));
        Ok(stored)
    }

    async fn delete_service(&mut self, name: &Name) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM services WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?
            .rows_affected();
        if deleted == 0 {
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
        // One row per name (the last one wins, as applying them in turn would), so each
        // statement touches a row once.
        let services: BTreeMap<&str, &ServiceRecord> =
            services.iter().map(|s| (s.name.as_str(), s)).collect();
        let users: BTreeMap<&str, &UserRecord> =
            users.iter().map(|u| (u.handle.as_str(), u)).collect();
        sqlx::query(
            "INSERT INTO services (name, description, team, runbook, from_config, created_at,
                 escalation_policy, manager)
             SELECT n, d, t, r, TRUE, c, p, m
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[],
                 $6::TEXT[], $7::TEXT[]) AS x(n, d, t, r, c, p, m)
             ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description,
                 team = EXCLUDED.team, runbook = EXCLUDED.runbook,
                 escalation_policy = EXCLUDED.escalation_policy, manager = EXCLUDED.manager,
                 from_config = TRUE",
        )
        .bind(services.keys().collect::<Vec<_>>())
        .bind(
            services
                .values()
                .map(|s| &s.description)
                .collect::<Vec<_>>(),
        )
        .bind(
            services
                .values()
                .map(|s| s.team.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            services
                .values()
                .map(|s| s.runbook.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            services
                .values()
                .map(|s| s.created_at.as_millisecond())
                .collect::<Vec<_>>(),
        )
        .bind(
            services
                .values()
                .map(|s| s.escalation_policy.as_ref().map(Name::as_str))
                .collect::<Vec<_>>(),
        )
        .bind(
            services
                .values()
                .map(|s| s.manager.as_ref().map(Name::as_str))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        // The config file gives no access role, so an existing user's role and disabled state stay.
        sqlx::query(
            "INSERT INTO users (handle, name, email, time_zone, role, from_config, created_at)
             SELECT h, n, e, z, r, TRUE, c
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[])
                 AS x(h, n, e, z, r, c)
             ON CONFLICT (handle) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,
                 time_zone = EXCLUDED.time_zone, from_config = TRUE",
        )
        .bind(users.keys().collect::<Vec<_>>())
        .bind(users.values().map(|u| &u.name).collect::<Vec<_>>())
        .bind(
            users
                .values()
                .map(|u| u.email.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            users
                .values()
                .map(|u| u.time_zone.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(users.values().map(|u| u.role.as_str()).collect::<Vec<_>>())
        .bind(
            users
                .values()
                .map(|u| u.created_at.as_millisecond())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        self.changed(Change::Directory(Topic::Services));
        self.changed(Change::Directory(Topic::Users));
        Ok(())
    }

    async fn create_user(&mut self, user: &UserRecord) -> Result<()> {
        let added = sqlx::query(
            "INSERT INTO users (handle, name, email, time_zone, role, from_config, created_at, disabled_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(user.handle.as_str())
        .bind(&user.name)
        .bind(user.email.as_deref())
        .bind(user.time_zone.as_deref())
        .bind(user.role.as_str())
        .bind(user.from_config)
        .bind(user.created_at.as_millisecond())
        .bind(ms_opt(user.disabled_at))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(conflict_message(
                "users_pkey",
                user.handle.as_str(),
            )));
        }
        self.changed(Change::Directory(Topic::Users));
        Ok(())
    }

    async fn update_user(&mut self, user: &UserRecord) -> Result<UserRecord> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE users SET name = $2, email = $3, time_zone = $4, role = $5, disabled_at = $6
             WHERE handle = $1 RETURNING {USER_COLUMNS}"
        )))
        .bind(user.handle.as_str())
        .bind(&user.name)
        .bind(user.email.as_deref())
        .bind(user.time_zone.as_deref())
        .bind(user.role.as_str())
        .bind(ms_opt(user.disabled_at))
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        let stored = rows::user(&row)?;
        // A user's role and state decide what their tokens may do.
        self.changed(Change::Directory(Topic::Users));
        self.changed(Change::Directory(Topic::Tokens));
        Ok(stored)
    }

    async fn any_admin(&mut self) -> Result<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND disabled_at IS NULL)",
        )
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)
    }

    async fn create_token(&mut self, token: &TokenRecord) -> Result<()> {
        let added = sqlx::query(
            "INSERT INTO tokens (id, name, role, user_handle, hash, created_at, revoked_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(token.role.as_str())
        .bind(token.user.as_ref().map(Name::as_str))
        .bind(&token.hash)
        .bind(token.created_at.as_millisecond())
        .bind(ms_opt(token.revoked_at))
        .bind(ms_opt(token.expires_at))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            let id_taken: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tokens WHERE id = $1)")
                    .bind(&token.id)
                    .fetch_one(&mut *self.conn)
                    .await
                    .map_err(db)?;
            let constraint = if id_taken {
                "tokens_pkey"
            } else {
                "tokens_hash_key"
            };
            return Err(StoreError::Conflict(conflict_message(
                constraint, &token.id,
            )));
        }
        self.changed(Change::Directory(Topic::Tokens));
        Ok(())
    }

    async fn revoke_token(&mut self, id: &str, at: Timestamp) -> Result<TokenRecord> {
        // Revoking twice keeps the first revocation time.
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
             RETURNING {TOKEN_COLUMNS}"
        )))
        .bind(id)
        .bind(at.as_millisecond())
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        let stored = rows::token(&row)?;
        self.changed(Change::Directory(Topic::Tokens));
        Ok(stored)
    }
}

#[async_trait]
impl DirectoryStore for PostgresStore {
    async fn get_service(&self, name: &Name) -> Result<Option<ServiceRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE name = $1"
        )))
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(rows::service)
        .transpose()
    }

    async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SERVICE_COLUMNS} FROM services ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(rows::service)
        .collect()
    }

    async fn get_user(&self, handle: &Name) -> Result<Option<UserRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE handle = $1"
        )))
        .bind(handle.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY handle"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(rows::user)
        .collect()
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 AND revoked_at IS NULL"
        )))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(rows::token)
        .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(rows::token)
        .collect()
    }
}
