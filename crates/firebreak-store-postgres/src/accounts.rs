//! Signing in on PostgreSQL: password hashes, browser sessions, invitations and failed
//! sign-ins. Nothing caches these, so the writes publish no change.

use async_trait::async_trait;
use firebreak_domain::Name;
use firebreak_domain::session::{
    Failures, Invitation, InvitationFor, Session, SignInMethod, SignInPrune,
};
use firebreak_store::accounts::Pruned;
use firebreak_store::{AccountStore, AccountWrites, PasswordRecord, Result, StoreError};
use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, found, get, ms_opt};
use crate::tx::PgTx;

const SESSION_COLUMNS: &str = "id_hash, user_handle, method, created_at, last_seen_at, \
     expires_at, revoked_at, source";

fn session(row: &PgRow) -> Result<Session> {
    let method: String = get(row, "method")?;
    Ok(Session {
        id_hash: get(row, "id_hash")?,
        user: rows::name(&get::<String>(row, "user_handle")?)?,
        method: SignInMethod::parse(&method)
            .ok_or_else(|| StoreError::backend(format!("unknown sign-in method {method:?}")))?,
        created_at: rows::ts(get(row, "created_at")?)?,
        last_seen_at: rows::ts(get(row, "last_seen_at")?)?,
        expires_at: rows::ts(get(row, "expires_at")?)?,
        revoked_at: rows::ts_opt(get(row, "revoked_at")?)?,
        source: get(row, "source")?,
    })
}

const INVITATION_COLUMNS: &str =
    "token_hash, user_handle, created_by, created_at, expires_at, used_at";

fn invitation(row: &PgRow) -> Result<Invitation> {
    let user: Option<String> = get(row, "user_handle")?;
    Ok(Invitation {
        token_hash: get(row, "token_hash")?,
        target: match user {
            Some(handle) => InvitationFor::User(rows::name(&handle)?),
            None => InvitationFor::FirstAdmin,
        },
        created_by: get(row, "created_by")?,
        created_at: rows::ts(get(row, "created_at")?)?,
        expires_at: rows::ts(get(row, "expires_at")?)?,
        used_at: rows::ts_opt(get(row, "used_at")?)?,
    })
}

fn failures(row: &PgRow) -> Result<Failures> {
    let count: i64 = get(row, "count")?;
    Ok(Failures {
        count: u32::try_from(count).map_err(StoreError::backend)?,
        last_at: rows::ts(get(row, "last_at")?)?,
    })
}

fn password(row: &PgRow) -> Result<PasswordRecord> {
    Ok(PasswordRecord {
        user: rows::name(&get::<String>(row, "user_handle")?)?,
        hash: get(row, "hash")?,
        set_at: rows::ts(get(row, "set_at")?)?,
    })
}

#[async_trait]
impl AccountWrites for PgTx<'_> {
    async fn set_password(&mut self, user: &Name, hash: &str, at: Timestamp) -> Result<()> {
        // Inserts nothing when there is no such user, so no foreign key fails (and the unit's
        // transaction stays usable).
        let done = sqlx::query(
            "INSERT INTO user_passwords (user_handle, hash, set_at) \
             SELECT handle, $2, $3 FROM users WHERE handle = $1 \
             ON CONFLICT (user_handle) DO UPDATE SET hash = EXCLUDED.hash, set_at = EXCLUDED.set_at",
        )
        .bind(user.as_str())
        .bind(hash)
        .bind(at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        found(done.rows_affected())
    }

    async fn create_session(&mut self, s: &Session) -> Result<()> {
        let added = sqlx::query(
            "INSERT INTO sessions (id_hash, user_handle, method, created_at, last_seen_at, \
             expires_at, revoked_at, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&s.id_hash)
        .bind(s.user.as_str())
        .bind(s.method.as_str())
        .bind(s.created_at.as_millisecond())
        .bind(s.last_seen_at.as_millisecond())
        .bind(s.expires_at.as_millisecond())
        .bind(ms_opt(s.revoked_at))
        .bind(s.source.as_deref())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(
                "a session with that id already exists".to_string(),
            ));
        }
        Ok(())
    }

    async fn touch_session(&mut self, id_hash: &str, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(at.as_millisecond())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn revoke_session(&mut self, id_hash: &str, at: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL",
        )
        .bind(id_hash)
        .bind(at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_sessions_of(
        &mut self,
        user: &Name,
        keep: Option<&str>,
        at: Timestamp,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3 WHERE user_handle = $1 AND revoked_at IS NULL \
             AND id_hash IS DISTINCT FROM $2",
        )
        .bind(user.as_str())
        .bind(keep)
        .bind(at.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn create_invitation(&mut self, i: &Invitation) -> Result<()> {
        let user = match &i.target {
            InvitationFor::User(handle) => Some(handle.as_str()),
            InvitationFor::FirstAdmin => None,
        };
        let added = sqlx::query(
            "INSERT INTO invitations (token_hash, user_handle, created_by, created_at, \
             expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&i.token_hash)
        .bind(user)
        .bind(&i.created_by)
        .bind(i.created_at.as_millisecond())
        .bind(i.expires_at.as_millisecond())
        .bind(ms_opt(i.used_at))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::Conflict(
                "an invitation with that token already exists".to_string(),
            ));
        }
        Ok(())
    }

    async fn lock_invitation(&mut self, token_hash: &str) -> Result<Option<Invitation>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1 FOR UPDATE"
        )))
        .bind(token_hash)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| invitation(&r))
        .transpose()
    }

    async fn use_invitation(&mut self, token_hash: &str, at: Timestamp) -> Result<()> {
        let done = sqlx::query("UPDATE invitations SET used_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(at.as_millisecond())
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        found(done.rows_affected())
    }

    async fn expire_invitations(&mut self, target: &InvitationFor, at: Timestamp) -> Result<u64> {
        let done = match target {
            InvitationFor::User(handle) => sqlx::query(
                "UPDATE invitations SET used_at = $2 WHERE user_handle = $1 AND used_at IS NULL",
            )
            .bind(handle.as_str())
            .bind(at.as_millisecond()),
            InvitationFor::FirstAdmin => sqlx::query(
                "UPDATE invitations SET used_at = $1 WHERE user_handle IS NULL AND used_at IS NULL",
            )
            .bind(at.as_millisecond()),
        }
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn record_failure(
        &mut self,
        key: &str,
        at: Timestamp,
        forget_before: Timestamp,
    ) -> Result<Failures> {
        let row = sqlx::query(
            "INSERT INTO login_failures (key, count, last_at) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
             count = CASE WHEN login_failures.last_at < $3 THEN 1 \
             ELSE login_failures.count + 1 END, \
             last_at = EXCLUDED.last_at \
             RETURNING count, last_at",
        )
        .bind(key)
        .bind(at.as_millisecond())
        .bind(forget_before.as_millisecond())
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        failures(&row)
    }

    async fn clear_failures(&mut self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn prune_sign_ins(&mut self, prune: &SignInPrune, limit: u32) -> Result<Pruned> {
        // Each `OR` term has its own index (migration 0013), and a batch stops at `limit`.
        // Rows another instance's pruning holds are skipped, not waited for: instances that
        // prune at once share the rows and never deadlock on them.
        let limit = i64::from(limit);
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions \
             WHERE revoked_at < $1 OR expires_at < $1 OR last_seen_at < $2 \
             LIMIT $3 FOR UPDATE SKIP LOCKED)",
        )
        .bind(prune.ended_before.as_millisecond())
        .bind(prune.seen_before.as_millisecond())
        .bind(limit)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        let invitations = sqlx::query(
            "DELETE FROM invitations WHERE token_hash IN (SELECT token_hash FROM invitations \
             WHERE used_at < $1 OR expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(prune.ended_before.as_millisecond())
        .bind(limit)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        let failures = sqlx::query(
            "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures \
             WHERE last_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(prune.failed_before.as_millisecond())
        .bind(limit)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?
        .rows_affected();
        Ok(Pruned {
            sessions,
            invitations,
            failures,
        })
    }
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn get_password(&self, user: &Name) -> Result<Option<PasswordRecord>> {
        sqlx::query("SELECT user_handle, hash, set_at FROM user_passwords WHERE user_handle = $1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| password(&r))
            .transpose()
    }

    async fn count_passwords(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_passwords p \
             JOIN users u ON u.handle = p.user_handle WHERE u.disabled_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(count as u64)
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<Session>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1"
        )))
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| session(&r))
        .transpose()
    }

    async fn live_sessions(&self, user: &Name, after: Timestamp) -> Result<Vec<Session>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_handle = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id_hash DESC"
        )))
        .bind(user.as_str())
        .bind(after.as_millisecond())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(session)
        .collect::<Result<Vec<_>>>()?;
        // The idle timeout is the domain's rule.
        Ok(found.into_iter().filter(|s| s.ends_at() > after).collect())
    }

    async fn get_invitation(&self, token_hash: &str) -> Result<Option<Invitation>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| invitation(&r))
        .transpose()
    }

    async fn get_failures(&self, key: &str) -> Result<Option<Failures>> {
        sqlx::query("SELECT count, last_at FROM login_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| failures(&r))
            .transpose()
    }
}
