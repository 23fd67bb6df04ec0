//! Integrations and their keys on PostgreSQL: how a sender reaches a service. Only SHA-256
//! hashes of keys are stored. The writes here are called from the alert writes of
//! [`PgTx`](crate::tx::PgTx) (`alerts.rs`).

use std::collections::HashMap;

use firebreak_store::{IntegrationKey, IntegrationRecord, Result, StoreError, codec};
use jiff::Timestamp;
use sqlx::Row;
use sqlx::postgres::PgConnection;

use crate::error::{conflict_message, db, db_for};
use crate::rows::{self, ms_opt};

/// The integrations with `id` (all of them if `None`), by service then name, each with every
/// key, oldest first.
pub(crate) async fn load(
    conn: &mut PgConnection,
    id: Option<&str>,
) -> Result<Vec<IntegrationRecord>> {
    let found = sqlx::query(
        "SELECT id, service, name, from_config, created_at FROM integrations
         WHERE ($1::TEXT IS NULL OR id = $1)
         ORDER BY service, name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut integrations = found
        .iter()
        .map(rows::integration)
        .collect::<Result<Vec<_>>>()?;
    let keys = sqlx::query(
        "SELECT integration, id, hash, hint, created_at, revoked_at FROM integration_keys
         WHERE ($1::TEXT IS NULL OR integration = $1)
         ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut by_integration: HashMap<String, Vec<IntegrationKey>> = HashMap::new();
    for row in &keys {
        let integration: String = row.try_get("integration").map_err(db)?;
        by_integration
            .entry(integration)
            .or_default()
            .push(rows::integration_key(row)?);
    }
    for integration in &mut integrations {
        integration.keys = by_integration.remove(&integration.id).unwrap_or_default();
    }
    Ok(integrations)
}

/// One integration with its keys; `NotFound` if there is none.
pub(crate) async fn load_one(conn: &mut PgConnection, id: &str) -> Result<IntegrationRecord> {
    load(conn, Some(id))
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

async fn insert_key(
    conn: &mut PgConnection,
    integration: &str,
    key: &IntegrationKey,
) -> Result<()> {
    let added = sqlx::query(
        "INSERT INTO integration_keys (id, integration, hash, hint, created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&key.id)
    .bind(integration)
    .bind(&key.hash)
    .bind(&key.hint)
    .bind(codec::millis(key.created_at))
    .bind(ms_opt(key.revoked_at))
    .execute(&mut *conn)
    .await
    .map_err(db)?
    .rows_affected();
    if added == 0 {
        let id_taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM integration_keys WHERE id = $1)")
                .bind(&key.id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
        let constraint = if id_taken {
            "integration_keys_pkey"
        } else {
            "integration_keys_hash_key"
        };
        return Err(StoreError::Conflict(conflict_message(constraint, &key.id)));
    }
    Ok(())
}

/// `Conflict` if the service already has an integration of that name, the id is taken, or a
/// key exists.
pub(crate) async fn create(conn: &mut PgConnection, i: &IntegrationRecord) -> Result<()> {
    let added = sqlx::query(
        "INSERT INTO integrations (id, service, name, from_config, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&i.id)
    .bind(i.service.as_str())
    .bind(&i.name)
    .bind(i.from_config)
    .bind(codec::millis(i.created_at))
    .execute(&mut *conn)
    .await
    .map_err(db)?
    .rows_affected();
    if added == 0 {
        let id_taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM integrations WHERE id = $1)")
                .bind(&i.id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
        return Err(StoreError::Conflict(if id_taken {
            conflict_message("integrations_pkey", &i.id)
        } else {
            conflict_message("integrations_service_name_key", &i.name)
        }));
    }
    for key in &i.keys {
        insert_key(conn, &i.id, key).await?;
    }
    Ok(())
}

/// Adds a key to an integration; `NotFound` if there is no such integration.
pub(crate) async fn add_key(
    conn: &mut PgConnection,
    id: &str,
    key: &IntegrationKey,
) -> Result<IntegrationRecord> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM integrations WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
    if !exists {
        return Err(StoreError::NotFound);
    }
    insert_key(conn, id, key).await?;
    load_one(conn, id).await
}

/// Revokes one key that is not revoked yet; `NotFound` if the integration has none such.
pub(crate) async fn revoke_key(
    conn: &mut PgConnection,
    id: &str,
    key: &str,
    at: Timestamp,
) -> Result<IntegrationRecord> {
    let done = sqlx::query(
        "UPDATE integration_keys SET revoked_at = $3
         WHERE integration = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(key)
    .bind(codec::millis(at))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    load_one(conn, id).await
}

/// Makes the config file's integrations present: an integration already stored under the
/// same service and name keeps its id and becomes `from_config`; keys it lacks are added; a
/// revoked key is never brought back; a key that belongs to another integration is `Conflict`.
/// Safe when several instances sync the same file at once: every step is an upsert.
pub(crate) async fn sync(conn: &mut PgConnection, wanted: Vec<IntegrationRecord>) -> Result<()> {
    for w in wanted {
        let id: String = sqlx::query_scalar(
            "INSERT INTO integrations (id, service, name, from_config, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (service, name) DO UPDATE SET from_config = TRUE
             RETURNING id",
        )
        .bind(&w.id)
        .bind(w.service.as_str())
        .bind(&w.name)
        .bind(w.from_config)
        .bind(codec::millis(w.created_at))
        .fetch_one(&mut *conn)
        .await
        .map_err(db_for(&w.id))?;
        for key in &w.keys {
            sqlx::query(
                "INSERT INTO integration_keys (id, integration, hash, hint, created_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&key.id)
            .bind(&id)
            .bind(&key.hash)
            .bind(&key.hint)
            .bind(codec::millis(key.created_at))
            .bind(ms_opt(key.revoked_at))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
            let owner: Option<String> =
                sqlx::query_scalar("SELECT integration FROM integration_keys WHERE hash = $1")
                    .bind(&key.hash)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db)?;
            match owner {
                Some(o) if o == id => {}
                Some(_) => {
                    return Err(StoreError::Conflict(format!(
                        "the key of integration {:?} of service {} belongs to another integration",
                        w.name, w.service
                    )));
                }
                None => {
                    return Err(StoreError::Conflict(conflict_message(
                        "integration_keys_pkey",
                        &key.id,
                    )));
                }
            }
        }
    }
    Ok(())
}
