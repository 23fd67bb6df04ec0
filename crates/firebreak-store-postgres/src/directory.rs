//! Services and users. Each API write records its audit entry in the same transaction;
//! `sync_config` upserts what the config file declares and marks it `from_config`, never deleting.

use async_trait::async_trait;
use firebreak_domain::Name;
use firebreak_store::{AuditDraft, DirectoryStore, Result, ServiceRecord, StoreError, UserRecord};

use crate::rows;
use crate::{PostgresStore, backend, insert_audit, write_error, write_error_for};

#[async_trait]
impl DirectoryStore for PostgresStore {
    async fn create_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "INSERT INTO services (name, description, team, runbook, from_config, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING name, description, team, runbook, from_config, created_at",
        )
        .bind(service.name.as_str())
        .bind(&service.description)
        .bind(service.team.as_deref())
        .bind(service.runbook.as_deref())
        .bind(service.from_config)
        .bind(service.created_at.as_millisecond())
        .fetch_one(&mut *tx)
        .await
        .map_err(write_error_for(service.name.as_str()))?;
        let created = rows::service(&row)?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(created)
    }

    async fn update_service(
        &self,
        service: ServiceRecord,
        audit: AuditDraft,
    ) -> Result<ServiceRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "UPDATE services SET description = $2, team = $3, runbook = $4, from_config = $5
             WHERE name = $1
             RETURNING name, description, team, runbook, from_config, created_at",
        )
        .bind(service.name.as_str())
        .bind(&service.description)
        .bind(service.team.as_deref())
        .bind(service.runbook.as_deref())
        .bind(service.from_config)
        .fetch_optional(&mut *tx)
        .await
        .map_err(write_error)?
        .ok_or(StoreError::NotFound)?;
        let updated = rows::service(&row)?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(updated)
    }

    async fn delete_service(&self, name: &Name, audit: AuditDraft) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM services WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn get_service(&self, name: &Name) -> Result<Option<ServiceRecord>> {
        sqlx::query("SELECT name, description, team, runbook, from_config, created_at FROM services WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(rows::service)
            .transpose()
    }

    async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        sqlx::query("SELECT name, description, team, runbook, from_config, created_at FROM services ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(rows::service)
            .collect()
    }

    async fn sync_config(
        &self,
        services: Vec<ServiceRecord>,
        users: Vec<UserRecord>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for service in &services {
            sqlx::query(
                "INSERT INTO services (name, description, team, runbook, from_config, created_at)
                 VALUES ($1, $2, $3, $4, TRUE, $5)
                 ON CONFLICT (name) DO UPDATE SET
                     description = EXCLUDED.description, team = EXCLUDED.team,
                     runbook = EXCLUDED.runbook, from_config = TRUE",
            )
            .bind(service.name.as_str())
            .bind(&service.description)
            .bind(service.team.as_deref())
            .bind(service.runbook.as_deref())
            .bind(service.created_at.as_millisecond())
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
        for user in &users {
            // The config file gives no access role, so an existing user keeps theirs.
            sqlx::query(
                "INSERT INTO users (handle, name, email, time_zone, role, from_config, created_at)
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6)
                 ON CONFLICT (handle) DO UPDATE SET
                     name = EXCLUDED.name, email = EXCLUDED.email,
                     time_zone = EXCLUDED.time_zone, from_config = TRUE",
            )
            .bind(user.handle.as_str())
            .bind(&user.name)
            .bind(user.email.as_deref())
            .bind(user.time_zone.as_deref())
            .bind(user.role.as_str())
            .bind(user.created_at.as_millisecond())
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn create_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let created = insert_user(&mut tx, &user).await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(created)
    }

    async fn update_user(&self, user: UserRecord, audit: AuditDraft) -> Result<UserRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "UPDATE users SET name = $2, email = $3, time_zone = $4, role = $5, from_config = $6
             WHERE handle = $1
             RETURNING handle, name, email, time_zone, role, from_config, created_at",
        )
        .bind(user.handle.as_str())
        .bind(&user.name)
        .bind(user.email.as_deref())
        .bind(user.time_zone.as_deref())
        .bind(user.role.as_str())
        .bind(user.from_config)
        .fetch_optional(&mut *tx)
        .await
        .map_err(write_error)?
        .ok_or(StoreError::NotFound)?;
        let updated = rows::user(&row)?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(updated)
    }

    async fn get_user(&self, handle: &Name) -> Result<Option<UserRecord>> {
        sqlx::query("SELECT handle, name, email, time_zone, role, from_config, created_at FROM users WHERE handle = $1")
            .bind(handle.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        sqlx::query("SELECT handle, name, email, time_zone, role, from_config, created_at FROM users ORDER BY handle")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(rows::user)
            .collect()
    }
}

/// Inserts a user inside the caller's transaction.
pub(crate) async fn insert_user(
    conn: &mut sqlx::PgConnection,
    user: &UserRecord,
) -> Result<UserRecord> {
    let row = sqlx::query(
        "INSERT INTO users (handle, name, email, time_zone, role, from_config, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING handle, name, email, time_zone, role, from_config, created_at",
    )
    .bind(user.handle.as_str())
    .bind(&user.name)
    .bind(user.email.as_deref())
    .bind(user.time_zone.as_deref())
    .bind(user.role.as_str())
    .bind(user.from_config)
    .bind(user.created_at.as_millisecond())
    .fetch_one(conn)
    .await
    .map_err(write_error_for(user.handle.as_str()))?;
    rows::user(&row)
}
