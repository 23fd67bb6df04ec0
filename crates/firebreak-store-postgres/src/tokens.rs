//! API tokens, stored by the SHA-256 of their secret, and the first-run bootstrap of an admin.
//! Bootstrapping takes a transaction-scoped advisory lock, so racing instances create at most
//! one admin between them.

use async_trait::async_trait;
use firebreak_domain::AccessRole;
use firebreak_store::{AuditDraft, Result, StoreError, TokenRecord, TokenStore, UserRecord};
use sqlx::Row;
use sqlx::postgres::PgConnection;

use crate::directory::insert_user;
use crate::rows::{self, ms_opt};
use crate::{PostgresStore, backend, insert_audit, write_error_for};

async fn insert_token(conn: &mut PgConnection, token: &TokenRecord) -> Result<TokenRecord> {
    let row = sqlx::query(
        "INSERT INTO tokens (id, name, role, user_handle, hash, created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, name, role, user_handle, hash, created_at, revoked_at",
    )
    .bind(&token.id)
    .bind(&token.name)
    .bind(token.role.as_str())
    .bind(token.user.as_ref().map(|u| u.as_str()))
    .bind(&token.hash)
    .bind(token.created_at.as_millisecond())
    .bind(ms_opt(token.revoked_at))
    .fetch_one(conn)
    .await
    .map_err(write_error_for(&token.id))?;
    rows::token(&row)
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn create_token(&self, token: TokenRecord, audit: AuditDraft) -> Result<TokenRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let created = insert_token(&mut tx, &token).await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(created)
    }

    async fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        sqlx::query(
            "SELECT id, name, role, user_handle, hash, created_at, revoked_at FROM tokens
             WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(rows::token)
        .transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        sqlx::query(
            "SELECT id, name, role, user_handle, hash, created_at, revoked_at FROM tokens
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(rows::token)
        .collect()
    }

    async fn revoke_token(
        &self,
        id: &str,
        at: jiff::Timestamp,
        audit: AuditDraft,
    ) -> Result<TokenRecord> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Revoking twice keeps the first revocation time.
        let row = sqlx::query(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
             RETURNING id, name, role, user_handle, hash, created_at, revoked_at",
        )
        .bind(id)
        .bind(at.as_millisecond())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let revoked = rows::token(&row)?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(revoked)
    }

    async fn bootstrap_admin(
        &self,
        user: UserRecord,
        token: TokenRecord,
        audit: AuditDraft,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext('firebreak-bootstrap:' || current_schema()))",
        )
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let has_admin: bool = sqlx::query("SELECT EXISTS (SELECT 1 FROM users WHERE role = $1)")
            .bind(AccessRole::Admin.as_str())
            .fetch_one(&mut *tx)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(backend)?;
        if has_admin {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        insert_user(&mut tx, &user).await?;
        insert_token(&mut tx, &token).await?;
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }
}
