//! Signing in: users' password hashes, browser sessions, invitation links and counts of
//! failed sign-ins. Secrets are stored only as hashes (argon2id for passwords, SHA-256 for the
//! random session ids and invitation tokens); the engine makes both.

use async_trait::async_trait;
use firebreak_domain::Name;
use firebreak_domain::session::{Failures, Invitation, InvitationFor, Session, SignInPrune};
use jiff::Timestamp;

use crate::Result;

/// A user's password, as its argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordRecord {
    pub user: Name,
    pub hash: String,
    pub set_at: Timestamp,
}

impl std::fmt::Debug for PasswordRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRecord")
            .field("user", &self.user)
            .field("hash", &"<argon2id>")
            .field("set_at", &self.set_at)
            .finish()
    }
}

/// Sign-in writes, inside a unit of work.
#[async_trait]
pub trait AccountWrites: Send {
    /// Sets (or replaces) a user's password hash. `NotFound` if there is no such user.
    async fn set_password(&mut self, user: &Name, hash: &str, at: Timestamp) -> Result<()>;
    /// Stores a new session. `Conflict` if its id hash is taken.
    async fn create_session(&mut self, session: &Session) -> Result<()>;
    /// Records activity on a session: sets `last_seen_at`. Nothing if it is gone.
    async fn touch_session(&mut self, id_hash: &str, at: Timestamp) -> Result<()>;
    /// Revokes one session. False if it is unknown or already revoked.
    async fn revoke_session(&mut self, id_hash: &str, at: Timestamp) -> Result<bool>;
    /// Revokes every unrevoked session of `user` except `keep` (the one asking, when it
    /// signs the others out). Returns how many it revoked.
    async fn revoke_sessions_of(
        &mut self,
        user: &Name,
        keep: Option<&str>,
        at: Timestamp,
    ) -> Result<u64>;
    /// Stores an invitation. `Conflict` if its token hash is taken.
    async fn create_invitation(&mut self, invitation: &Invitation) -> Result<()>;
    /// The invitation, held until commit.
    async fn lock_invitation(&mut self, token_hash: &str) -> Result<Option<Invitation>>;
    /// Marks an invitation used. `NotFound` if it is gone.
    async fn use_invitation(&mut self, token_hash: &str, at: Timestamp) -> Result<()>;
    /// Marks every unused invitation for `target` used: the other links of a user whose
    /// password was just set, or every other first-admin link once one was used. Returns how
    /// many.
    async fn expire_invitations(&mut self, target: &InvitationFor, at: Timestamp) -> Result<u64>;
    /// Counts one failed sign-in against `key` and returns the count now: one more than the
    /// stored count, or 1 when the stored failures are older than `forget_before`.
    async fn record_failure(
        &mut self,
        key: &str,
        at: Timestamp,
        forget_before: Timestamp,
    ) -> Result<Failures>;
    /// Forgets the failures counted against `key` (after a successful sign-in).
    async fn clear_failures(&mut self, key: &str) -> Result<()>;
    /// Deletes what `prune` says is done with, at most `limit` rows of each table: sessions
    /// revoked or past their absolute end before `ended_before`, or last seen before
    /// `seen_before`; invitations used or expired before `ended_before`; failed sign-ins last
    /// counted before `failed_before`. Returns how many of each it deleted; a count of `limit`
    /// means there may be more.
    async fn prune_sign_ins(&mut self, prune: &SignInPrune, limit: u32) -> Result<Pruned>;
}

/// What one batch of [`AccountWrites::prune_sign_ins`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub invitations: u64,
    pub failures: u64,
}

impl Pruned {
    /// Whether a batch of `limit` filled any table, so another may find more.
    pub fn filled(&self, limit: u32) -> bool {
        let limit = u64::from(limit);
        self.sessions >= limit || self.invitations >= limit || self.failures >= limit
    }
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, other: Pruned) {
        self.sessions += other.sessions;
        self.invitations += other.invitations;
        self.failures += other.failures;
    }
}

/// Sign-in reads.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn get_password(&self, user: &Name) -> Result<Option<PasswordRecord>>;
    /// How many users who are not disabled have a password: zero means nobody can sign in
    /// with one.
    async fn count_passwords(&self) -> Result<u64>;
    async fn get_session(&self, id_hash: &str) -> Result<Option<Session>>;
    /// The unrevoked sessions of `user` that end after `after`, newest first.
    async fn live_sessions(&self, user: &Name, after: Timestamp) -> Result<Vec<Session>>;
    async fn get_invitation(&self, token_hash: &str) -> Result<Option<Invitation>>;
    async fn get_failures(&self, key: &str) -> Result<Option<Failures>>;
}
