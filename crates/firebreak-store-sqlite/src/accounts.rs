//! Signing in on SQLite: password hashes, browser sessions, invitations and failed sign-ins.
//! Nothing caches these, so the writes publish no change.

use async_trait::async_trait;
use firebreak_domain::Name;
use firebreak_domain::session::{
    Failures, Invitation, InvitationFor, Session, SignInMethod, SignInPrune,
};
use firebreak_store::accounts::Pruned;
use firebreak_store::{AccountStore, AccountWrites, PasswordRecord, Result, StoreError};
use jiff::Timestamp;
use rusqlite::{Row, params};

use crate::SqliteStore;
use crate::rows::{self, ms, opt_ms};
use crate::tx::SqliteTx;

const SESSION_COLUMNS: &str = "id_hash, user_handle, method, created_at, last_seen_at, \
     expires_at, revoked_at, source";

fn session(row: &Row<'_>) -> Result<Session> {
    let method: String = rows::get(row, "method")?;
    Ok(Session {
        id_hash: rows::get(row, "id_hash")?,
        user: rows::name_at(row, "user_handle")?,
        method: SignInMethod::parse(&method)
            .ok_or_else(|| StoreError::backend(format!("unknown sign-in method {method:?}")))?,
        created_at: rows::ts(row, "created_at")?,
        last_seen_at: rows::ts(row, "last_seen_at")?,
        expires_at: rows::ts(row, "expires_at")?,
        revoked_at: rows::opt_ts(row, "revoked_at")?,
        source: rows::get(row, "source")?,
    })
}

const INVITATION_COLUMNS: &str =
    "token_hash, user_handle, created_by, created_at, expires_at, used_at";

fn invitation(row: &Row<'_>) -> Result<Invitation> {
    let user: Option<String> = rows::get(row, "user_handle")?;
    Ok(Invitation {
        token_hash: rows::get(row, "token_hash")?,
        target: match user {
            Some(handle) => InvitationFor::User(firebreak_store::codec::name(&handle)?),
            None => InvitationFor::FirstAdmin,
        },
        created_by: rows::get(row, "created_by")?,
        created_at: rows::ts(row, "created_at")?,
        expires_at: rows::ts(row, "expires_at")?,
        used_at: rows::opt_ts(row, "used_at")?,
    })
}

fn failures(row: &Row<'_>) -> Result<Failures> {
    let count: i64 = rows::get(row, "count")?;
    Ok(Failures {
        count: u32::try_from(count).map_err(StoreError::backend)?,
        last_at: rows::ts(row, "last_at")?,
    })
}

fn password(row: &Row<'_>) -> Result<PasswordRecord> {
    Ok(PasswordRecord {
        user: rows::name_at(row, "user_handle")?,
        hash: rows::get(row, "hash")?,
        set_at: rows::ts(row, "set_at")?,
    })
}

#[async_trait]
impl AccountWrites for SqliteTx<'_> {
    async fn set_password(&mut self, user: &Name, hash: &str, at: Timestamp) -> Result<()> {
        // Inserts nothing when there is no such user.
        if self.exec(
            "INSERT INTO user_passwords (user_handle, hash, set_at) \
             SELECT handle, ?2, ?3 FROM users WHERE handle = ?1 \
             ON CONFLICT (user_handle) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
            params![user.as_str(), hash, ms(at)],
        )? == 0
        {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_session(&mut self, s: &Session) -> Result<()> {
        self.exec_unique(
            "INSERT INTO sessions (id_hash, user_handle, method, created_at, last_seen_at, \
             expires_at, revoked_at, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                s.id_hash,
                s.user.as_str(),
                s.method.as_str(),
                ms(s.created_at),
                ms(s.last_seen_at),
                ms(s.expires_at),
                opt_ms(s.revoked_at),
                s.source
            ],
            || "a session with that id already exists".to_string(),
        )?;
        Ok(())
    }

    async fn touch_session(&mut self, id_hash: &str, at: Timestamp) -> Result<()> {
        self.exec(
            "UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1",
            params![id_hash, ms(at)],
        )?;
        Ok(())
    }

    async fn revoke_session(&mut self, id_hash: &str, at: Timestamp) -> Result<bool> {
        let revoked = self.exec(
            "UPDATE sessions SET revoked_at = ?2 WHERE id_hash = ?1 AND revoked_at IS NULL",
            params![id_hash, ms(at)],
        )?;
        Ok(revoked > 0)
    }

    async fn revoke_sessions_of(
        &mut self,
        user: &Name,
        keep: Option<&str>,
        at: Timestamp,
    ) -> Result<u64> {
        let revoked = self.exec(
            "UPDATE sessions SET revoked_at = ?3 WHERE user_handle = ?1 AND revoked_at IS NULL \
             AND (?2 IS NULL OR id_hash <> ?2)",
            params![user.as_str(), keep, ms(at)],
        )?;
        Ok(revoked as u64)
    }

    async fn create_invitation(&mut self, i: &Invitation) -> Result<()> {
        let user = match &i.target {
            InvitationFor::User(handle) => Some(handle.as_str()),
            InvitationFor::FirstAdmin => None,
        };
        self.exec_unique(
            "INSERT INTO invitations (token_hash, user_handle, created_by, created_at, \
             expires_at, used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                i.token_hash,
                user,
                i.created_by,
                ms(i.created_at),
                ms(i.expires_at),
                opt_ms(i.used_at)
            ],
            || "an invitation with that token already exists".to_string(),
        )?;
        Ok(())
    }

    async fn lock_invitation(&mut self, token_hash: &str) -> Result<Option<Invitation>> {
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = ?1");
        rows::one(self.conn(), &sql, [token_hash], invitation)
    }

    async fn use_invitation(&mut self, token_hash: &str, at: Timestamp) -> Result<()> {
        if self.exec(
            "UPDATE invitations SET used_at = ?2 WHERE token_hash = ?1",
            params![token_hash, ms(at)],
        )? == 0
        {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn expire_invitations(&mut self, target: &InvitationFor, at: Timestamp) -> Result<u64> {
        let n = match target {
            InvitationFor::User(handle) => self.exec(
                "UPDATE invitations SET used_at = ?2 WHERE user_handle = ?1 AND used_at IS NULL",
                params![handle.as_str(), ms(at)],
            )?,
            InvitationFor::FirstAdmin => self.exec(
                "UPDATE invitations SET used_at = ?1 WHERE user_handle IS NULL AND used_at IS NULL",
                params![ms(at)],
            )?,
        };
        Ok(n as u64)
    }

    async fn record_failure(
        &mut self,
        key: &str,
        at: Timestamp,
        forget_before: Timestamp,
    ) -> Result<Failures> {
        rows::one(
            self.conn(),
            "INSERT INTO login_failures (key, count, last_at) VALUES (?1, 1, ?2) \
             ON CONFLICT (key) DO UPDATE SET \
             count = CASE WHEN login_failures.last_at < ?3 THEN 1 \
             ELSE login_failures.count + 1 END, \
             last_at = excluded.last_at \
             RETURNING count, last_at",
            params![key, ms(at), ms(forget_before)],
            failures,
        )?
        .ok_or_else(|| StoreError::backend("counting a failed sign-in returned no row"))
    }

    async fn clear_failures(&mut self, key: &str) -> Result<()> {
        self.exec("DELETE FROM login_failures WHERE key = ?1", [key])?;
        Ok(())
    }

    async fn prune_sign_ins(&mut self, prune: &SignInPrune, limit: u32) -> Result<Pruned> {
        // Each `OR` term has its own index (migration 0013), and a batch stops at `limit`.
        let sessions = self.exec(
            "DELETE FROM sessions WHERE id_hash IN (SELECT id_hash FROM sessions \
             WHERE revoked_at < ?1 OR expires_at < ?1 OR last_seen_at < ?2 LIMIT ?3)",
            params![ms(prune.ended_before), ms(prune.seen_before), limit],
        )?;
        let invitations = self.exec(
            "DELETE FROM invitations WHERE token_hash IN (SELECT token_hash FROM invitations \
             WHERE used_at < ?1 OR expires_at < ?1 LIMIT ?2)",
            params![ms(prune.ended_before), limit],
        )?;
        let failures = self.exec(
            "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures \
             WHERE last_at < ?1 LIMIT ?2)",
            params![ms(prune.failed_before), limit],
        )?;
        Ok(Pruned {
            sessions: sessions as u64,
            invitations: invitations as u64,
            failures: failures as u64,
        })
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn get_password(&self, user: &Name) -> Result<Option<PasswordRecord>> {
        let user = user.as_str().to_string();
        self.read(move |conn| {
            rows::one(
                conn,
                "SELECT user_handle, hash, set_at FROM user_passwords WHERE user_handle = ?1",
                [user],
                password,
            )
        })
        .await
    }

    async fn count_passwords(&self) -> Result<u64> {
        self.read(|conn| {
            let count: i64 = rows::one(
                conn,
                "SELECT COUNT(*) AS n FROM user_passwords p \
                 JOIN users u ON u.handle = p.user_handle WHERE u.disabled_at IS NULL",
                [],
                |r| rows::get(r, "n"),
            )?
            .unwrap_or(0);
            Ok(count as u64)
        })
        .await
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<Session>> {
        let id_hash = id_hash.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = ?1");
            rows::one(conn, &sql, [id_hash], session)
        })
        .await
    }

    async fn live_sessions(&self, user: &Name, after: Timestamp) -> Result<Vec<Session>> {
        let user = user.as_str().to_string();
        let found = self
            .read(move |conn| {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions \
                     WHERE user_handle = ?1 AND revoked_at IS NULL AND expires_at > ?2 \
                     ORDER BY created_at DESC, id_hash DESC"
                );
                rows::all(conn, &sql, params![user, ms(after)], session)
            })
            .await?;
        // The idle timeout is the domain's rule.
        Ok(found.into_iter().filter(|s| s.ends_at() > after).collect())
    }

    async fn get_invitation(&self, token_hash: &str) -> Result<Option<Invitation>> {
        let token_hash = token_hash.to_string();
        self.read(move |conn| {
            let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = ?1");
            rows::one(conn, &sql, [token_hash], invitation)
        })
        .await
    }

    async fn get_failures(&self, key: &str) -> Result<Option<Failures>> {
        let key = key.to_string();
        self.read(move |conn| {
            rows::one(
                conn,
                "SELECT count, last_at FROM login_failures WHERE key = ?1",
                [key],
                failures,
            )
        })
        .await
    }
}
