//! Signing in to the web: passwords (argon2id), browser sessions, invitation links, the
//! first admin's setup link, and the backoff after failed sign-ins.
//!
//! A session id is 256 random bits in the browser's cookie; only its SHA-256 is stored. A
//! session acts as its user with the user's role, through the same
//! [`effective_role`] as a token of theirs, so a browser and the user's full-role tokens can
//! always do the same things. Every sign-in, failure and sign-out is in the audit log.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use firebreak_domain::access::{TokenOwner, effective_role};
use firebreak_domain::session::{
    ACCOUNT_ANY_SOURCE_BACKOFF, ACCOUNT_BACKOFF, ADDRESS_BACKOFF, Backoff, INVITATION_MAX,
    INVITATION_TTL, Invitation, InvitationFor, InvitationRefusal, Session, SignInMethod,
    check_password,
};
use firebreak_domain::{AccessRole, Actor, Name};
use firebreak_store::{AuditDraft, StoreError, UserRecord};
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{EngineError, Firebreak, Principal, invalid, random_bytes};

/// Every session id starts with this.
pub const SESSION_PREFIX: &str = "fbs_";
/// Every invitation token starts with this.
pub const INVITATION_PREFIX: &str = "fbi_";

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The hash verified when the user is unknown, so an unknown handle takes as long to refuse
/// as a wrong password.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2lnbi1pbi1kZWNveQ$3Cv2Yl9m3wVgqS0oJvYV6Yl0o3QbYzQF3m7kN0p1c2g";

/// How many argon2 hashes or checks run at once: each takes 19 MiB and a core for tens of
/// milliseconds, so an unbounded number would let anyone exhaust the machine.
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(2 * cores)
    })
}

/// Waits briefly for an argon2 permit; when every one stays busy, the caller is told to retry.
async fn argon2_permit() -> Result<tokio::sync::SemaphorePermit<'static>, EngineError> {
    match tokio::time::timeout(
        std::time::Duration::from_secs(2),
        argon2_permits().acquire(),
    )
    .await
    {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(EngineError::Throttled {
            message: "Firebreak is busy checking sign-ins; try again in a few seconds".into(),
            retry_after: 2,
        }),
    }
}

/// One sign-in at a time per account on this instance, so attempts in flight cannot all pass
/// the backoff check before any of them is counted.
#[derive(Default)]
pub struct SignInLocks {
    held:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl SignInLocks {
    async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            // Forget the locks nobody holds or waits for.
            held.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
            held.entry(key.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// The longest login (a handle or an email address) worth looking up.
const LOGIN_MAX: usize = 254;

/// Hashes a password with argon2id and a random salt, off the async threads.
pub async fn hash_password(password: &SecretString) -> Result<String, EngineError> {
    let _permit = argon2_permit().await?;
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| EngineError::Store(StoreError::backend(format!("argon2: {e}"))))
    })
    .await
    .map_err(|e| EngineError::Store(StoreError::backend(format!("argon2 task: {e}"))))?
}

/// Whether `password` matches the PHC string `hash`, off the async threads.
async fn verify_password(password: &SecretString, hash: &str) -> Result<bool, EngineError> {
    let _permit = argon2_permit().await?;
    let password = password.clone();
    let hash = hash.to_string();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .map_err(|e| EngineError::Store(StoreError::backend(format!("argon2 task: {e}"))))
}

/// A browser just signed in: the id for its cookie (shown once) and the session.
pub struct SignedIn {
    pub id: SecretString,
    pub session: Session,
    pub user: UserRecord,
}

/// A live session and who it acts as now.
#[derive(Debug, Clone)]
pub struct SessionPrincipal {
    pub principal: Principal,
    pub session: Session,
}

/// An invitation just made: the link to send (shown once).
pub struct InvitationLink {
    pub url: SecretString,
    /// The link's path on this server (`/invite/fbi_...`), for printing with the address
    /// the server actually listens on.
    pub path: SecretString,
    pub invitation: Invitation,
}

/// Who the first admin will be, from the setup form.
pub struct FirstAdmin {
    pub handle: Name,
    pub name: String,
    pub email: Option<String>,
}

fn refused_sign_in() -> EngineError {
    EngineError::Unauthorized(
        "the handle or password is wrong; ask an admin for an invitation link if you have no password yet".into(),
    )
}

impl Firebreak {
    fn anonymous(source: Option<String>) -> Principal {
        Principal {
            actor: Actor("anonymous".into()),
            user: None,
            role: AccessRole::Viewer,
            source,
            break_glass: None,
        }
    }

    fn throttled(&self, until: Timestamp) -> EngineError {
        let wait = until.duration_since(self.clock.now()).as_secs().max(1) as u64;
        EngineError::Throttled {
            message: format!(
                "too many failed sign-ins; wait {wait} s before trying again, or ask an admin for an invitation link to set a new password"
            ),
            retry_after: wait,
        }
    }

    /// Signs in with a handle (or email) and password. A wrong handle and a wrong password
    /// get the same answer in the same time. After repeated failures, attempts are refused
    /// unheard for a while (429). Failures are counted three ways: against the account from
    /// this source (a few tries), against the account from anywhere (a higher ceiling for
    /// guessing spread over many addresses), and from this source against any account. A
    /// source is the client's address, an IPv6 one with the rest of its /64. Failures from
    /// before the account's password was last set do not count against it.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &SecretString,
        source: Option<String>,
    ) -> Result<SignedIn, EngineError> {
        let login = login.trim().to_lowercase();
        if login.is_empty()
            || login.chars().count() > LOGIN_MAX
            || password.expose_secret().len() > firebreak_domain::session::PASSWORD_MAX
        {
            return Err(refused_sign_in());
        }
        let user = self.find_login(&login).await?;
        // An unknown login is counted under a digest of what was typed: a password typed
        // into the wrong field must not reach the audit log.
        let account_key = match &user {
            Some(u) => format!("user:{}", u.handle),
            None => format!("login:{}", &sha256_hex(&login)[..16]),
        };
        let _one_at_a_time = self.sign_in_locks.lock(&account_key).await;
        let now = self.clock.now();
        let group = source
            .as_deref()
            .and_then(|s| s.parse::<std::net::IpAddr>().ok())
            .map(firebreak_domain::address::source_label);
        let pair_key = format!(
            "{account_key}@{}",
            group.as_deref().unwrap_or("an unknown address")
        );
        let address_key = group.map(|g| format!("ip:{g}"));
        let stored = match &user {
            Some(u) if u.disabled_at.is_none() => self.store.get_password(&u.handle).await?,
            _ => None,
        };
        let password_set_at = stored.as_ref().map(|p| p.set_at);
        for (key, backoff, about_account) in [
            (Some(pair_key.clone()), ACCOUNT_BACKOFF, true),
            (Some(account_key.clone()), ACCOUNT_ANY_SOURCE_BACKOFF, true),
            (address_key.clone(), ADDRESS_BACKOFF, false),
        ] {
            if let Some(key) = key {
                let failures = self.store.get_failures(&key).await?.filter(|f| {
                    !about_account || password_set_at.is_none_or(|set| f.last_at >= set)
                });
                if let Some(until) = backoff.refused_until(failures, now) {
                    return Err(self.throttled(until));
                }
            }
        }
        let hash = stored.as_ref().map_or(DECOY_HASH, |p| p.hash.as_str());
        let matches = verify_password(password, hash).await? && stored.is_some();
        let who = Self::anonymous(source.clone());
        let Some(user) = user.filter(|_| matches) else {
            let audit = AuditDraft {
                actor: "anonymous".into(),
                ..self.audit(
                    &who,
                    "session.sign_in_failed",
                    if account_key.starts_with("user:") {
                        account_key.clone()
                    } else {
                        "an unknown login".to_string()
                    },
                )
            };
            let forget = |b: Backoff| now.saturating_sub(b.forget_after).unwrap_or(now);
            let mut counted = vec![
                (pair_key.clone(), forget(ACCOUNT_BACKOFF)),
                (account_key.clone(), forget(ACCOUNT_ANY_SOURCE_BACKOFF)),
            ];
            if let Some(key) = &address_key {
                counted.push((key.clone(), forget(ADDRESS_BACKOFF)));
            }
            self.write(1, || {
                let counted = counted.clone();
                let audit = audit.clone();
                move |tx| {
                    Box::pin(async move {
                        for (key, forget_before) in &counted {
                            tx.record_failure(key, now, *forget_before).await?;
                        }
                        tx.audit(audit).await
                    })
                }
            })
            .await?;
            return Err(refused_sign_in());
        };
        // The address's count stays: one person signing in from a shared address does not
        // forgive the guesses of another there.
        self.start_session(
            user,
            SignInMethod::Password,
            source,
            vec![pair_key, account_key],
        )
        .await
    }

    async fn find_login(&self, login: &str) -> Result<Option<UserRecord>, EngineError> {
        if let Ok(handle) = Name::parse(login)
            && let Some(user) = self.store.get_user(&handle).await?
        {
            return Ok(Some(user));
        }
        if login.contains('@') {
            let users = self.store.list_users().await?;
            return Ok(users.into_iter().find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(login))
            }));
        }
        Ok(None)
    }

    /// Starts a session for `user` (already authenticated), recording the sign-in.
    pub async fn start_session(
        &self,
        user: UserRecord,
        method: SignInMethod,
        source: Option<String>,
        clear: Vec<String>,
    ) -> Result<SignedIn, EngineError> {
        let id = format!("{SESSION_PREFIX}{}", hex::encode(random_bytes::<32>()?));
        let now = self.clock.now();
        let session = Session::start(
            sha256_hex(&id),
            user.handle.clone(),
            method,
            now,
            source.clone(),
        );
        let who = Principal {
            actor: Actor(user.handle.to_string()),
            user: Some(user.handle.clone()),
            role: user.role,
            source,
            break_glass: None,
        };
        let audit = self.audit(
            &who,
            "session.sign_in",
            format!("user {} ({})", user.handle, method.as_str()),
        );
        self.write(1, || {
            let session = session.clone();
            let audit = audit.clone();
            let clear = clear.clone();
            move |tx| {
                Box::pin(async move {
                    tx.create_session(&session).await?;
                    for key in &clear {
                        tx.clear_failures(key).await?;
                    }
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        Ok(SignedIn {
            id: SecretString::from(id),
            session,
            user,
        })
    }

    /// Who the session with cookie value `id` acts as now, or `None` when it is unknown,
    /// revoked, timed out, or its user is disabled or gone. Records activity at most once a
    /// minute.
    pub async fn session(
        &self,
        id: &str,
        source: Option<String>,
    ) -> Result<Option<SessionPrincipal>, EngineError> {
        if !id.starts_with(SESSION_PREFIX) || id.len() > 128 {
            return Ok(None);
        }
        let now = self.clock.now();
        let Some(mut session) = self.store.get_session(&sha256_hex(id)).await? else {
            return Ok(None);
        };
        if !session.is_live(now) {
            return Ok(None);
        }
        let Some(user) = self.store.get_user(&session.user).await? else {
            return Ok(None);
        };
        let owner = TokenOwner::User {
            role: user.role,
            disabled: user.disabled_at.is_some(),
        };
        let grants = self.grants_of(&user.handle).await?;
        let Some(effective) =
            effective_role(user.role, Some(session.ends_at()), owner, &grants, now)
        else {
            return Ok(None);
        };
        if session.needs_touch(now) {
            let hash = session.id_hash.clone();
            let touched = self
                .write(1, || {
                    let hash = hash.clone();
                    move |tx| Box::pin(async move { tx.touch_session(&hash, now).await })
                })
                .await;
            match touched {
                Ok(()) => session.last_seen_at = now,
                // The request can go on; the next one records the activity.
                Err(e) => tracing::warn!(error = %e, "could not record a session's activity"),
            }
        }
        Ok(Some(SessionPrincipal {
            principal: Principal {
                actor: Actor(user.handle.to_string()),
                user: Some(user.handle),
                role: effective.role,
                source,
                break_glass: effective.grant,
            },
            session,
        }))
    }

    /// Signs one browser out.
    pub async fn sign_out(&self, who: &SessionPrincipal) -> Result<(), EngineError> {
        let now = self.clock.now();
        let audit = self.audit(
            &who.principal,
            "session.sign_out",
            format!("user {}", who.session.user),
        );
        let hash = who.session.id_hash.clone();
        self.write(1, || {
            let hash = hash.clone();
            let audit = audit.clone();
            move |tx| {
                Box::pin(async move {
                    tx.revoke_session(&hash, now).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        Ok(())
    }

    /// Signs out every browser of the caller's user but this one. Returns how many.
    pub async fn sign_out_everywhere(&self, who: &SessionPrincipal) -> Result<u64, EngineError> {
        let now = self.clock.now();
        let user = who.session.user.clone();
        let keep = who.session.id_hash.clone();
        let audit = self.audit(
            &who.principal,
            "session.sign_out_everywhere",
            format!("user {user}"),
        );
        let revoked = self
            .write(1, || {
                let user = user.clone();
                let keep = keep.clone();
                let audit = audit.clone();
                move |tx| {
                    Box::pin(async move {
                        let n = tx.revoke_sessions_of(&user, Some(&keep), now).await?;
                        tx.audit(audit).await?;
                        Ok(n)
                    })
                }
            })
            .await?;
        Ok(revoked)
    }

    /// Signs out every browser of `handle`: their own request, or an admin's.
    pub async fn revoke_user_sessions(
        &self,
        who: &Principal,
        handle: &Name,
    ) -> Result<u64, EngineError> {
        if who.user.as_ref() != Some(handle) && !who.role.allows(AccessRole::Admin) {
            return Err(EngineError::Forbidden(
                "only an admin may sign out another user's browsers".into(),
            ));
        }
        let user = self.user(handle).await?;
        let now = self.clock.now();
        let audit = self.audit(
            who,
            "session.sign_out_everywhere",
            format!("user {}", user.handle),
        );
        let revoked = self
            .write(1, || {
                let (user, audit) = (user.handle.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let n = tx.revoke_sessions_of(&user, None, now).await?;
                        tx.audit(audit).await?;
                        Ok(n)
                    })
                }
            })
            .await?;
        Ok(revoked)
    }

    /// The live sessions of a user, newest first.
    pub async fn sessions_of(&self, user: &Name) -> Result<Vec<Session>, EngineError> {
        let now = self.clock.now();
        let mut live = self.store.live_sessions(user, now).await?;
        live.retain(|s| s.is_live(now));
        Ok(live)
    }

    /// Sets `handle`'s password and signs out every session of theirs: a changed password
    /// ends what the old one opened. A user may set their own; an admin anyone's.
    pub async fn set_password(
        &self,
        who: &Principal,
        handle: &Name,
        password: &SecretString,
        current: Option<&SecretString>,
    ) -> Result<(), EngineError> {
        let own = who.user.as_ref() == Some(handle);
        if who.break_glass.is_some() {
            return Err(EngineError::Forbidden(
                "break-glass access cannot set passwords; an admin can, or the user themselves"
                    .into(),
            ));
        }
        let user = self.user(handle).await?;
        let admin = who.role.allows(AccessRole::Admin);
        if !own && !admin {
            return Err(EngineError::Forbidden(
                "only an admin may set another user's password".into(),
            ));
        }
        if own && !who.role.allows(user.role) {
            // A token with less than its user's role must not gain the full role through a
            // browser session.
            return Err(EngineError::Forbidden(format!(
                "this token has the {} role and {handle} is a {}: set the password with a token of the full role, or ask an admin",
                who.role, user.role
            )));
        }
        if own
            && !admin
            && let Some(stored) = self.store.get_password(handle).await?
        {
            let current = current.ok_or_else(|| {
                invalid(
                    "current_password",
                    "give your current password to set a new one (an admin can set it without)",
                )
            })?;
            if !verify_password(current, &stored.hash).await? {
                return Err(invalid(
                    "current_password",
                    "is not your current password; an admin can set a new one for you",
                ));
            }
        }
        check_password(password.expose_secret(), handle.as_str())
            .map_err(|m| invalid("password", m))?;
        let hash = hash_password(password).await?;
        let now = self.clock.now();
        let audit = self.audit(who, "user.set_password", format!("user {}", user.handle));
        let handle = user.handle.clone();
        self.write(1, || {
            let handle = handle.clone();
            let hash = hash.clone();
            let audit = audit.clone();
            move |tx| {
                Box::pin(async move {
                    tx.set_password(&handle, &hash, now).await?;
                    tx.revoke_sessions_of(&handle, None, now).await?;
                    tx.expire_invitations(&InvitationFor::User(handle.clone()), now)
                        .await?;
                    tx.clear_failures(&format!("user:{handle}")).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        Ok(())
    }

    fn invitation_url(&self, token: &str) -> String {
        format!("{}/invite/{token}", self.paging.public_url)
    }

    async fn make_invitation(
        &self,
        target: InvitationFor,
        created_by: &str,
        ttl: SignedDuration,
        audit: AuditDraft,
    ) -> Result<InvitationLink, EngineError> {
        let replaces = matches!(target, InvitationFor::FirstAdmin);
        let token = format!("{INVITATION_PREFIX}{}", hex::encode(random_bytes::<32>()?));
        let now = self.clock.now();
        let invitation = Invitation {
            token_hash: sha256_hex(&token),
            target,
            created_by: created_by.to_string(),
            created_at: now,
            expires_at: now.saturating_add(ttl).unwrap_or(now),
            used_at: None,
        };
        self.write(1, || {
            let invitation = invitation.clone();
            let audit = audit.clone();
            move |tx| {
                Box::pin(async move {
                    // A new setup link replaces the ones printed at earlier starts.
                    if replaces {
                        tx.expire_invitations(&InvitationFor::FirstAdmin, invitation.created_at)
                            .await?;
                    }
                    tx.create_invitation(&invitation).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        Ok(InvitationLink {
            url: SecretString::from(self.invitation_url(&token)),
            path: SecretString::from(format!("/invite/{token}")),
            invitation,
        })
    }

    /// A one-time link for `handle` to set their password, good for `ttl` (default 72 h).
    pub async fn invite(
        &self,
        who: &Principal,
        handle: &Name,
        ttl: Option<SignedDuration>,
    ) -> Result<InvitationLink, EngineError> {
        if !who.role.allows(AccessRole::Admin) || who.break_glass.is_some() {
            return Err(EngineError::Forbidden(
                "only an admin may make invitation links".into(),
            ));
        }
        let user = self.user(handle).await?;
        if user.disabled_at.is_some() {
            return Err(EngineError::Conflict(format!(
                "{handle} is disabled; enable them before inviting them"
            )));
        }
        let ttl = ttl.unwrap_or(INVITATION_TTL);
        if ttl <= SignedDuration::ZERO || ttl > INVITATION_MAX {
            return Err(invalid(
                "expires_in",
                "must be between 1 second and 14 days",
            ));
        }
        let audit = self.audit(who, "user.invite", format!("user {handle}"));
        self.make_invitation(
            InvitationFor::User(handle.clone()),
            &who.actor.0,
            ttl,
            audit,
        )
        .await
    }

    /// While nobody can sign in with a password, a link to create the first admin, good for
    /// 24 hours. `None` once someone can. Made at every start until it is used.
    pub async fn first_admin_link(&self) -> Result<Option<InvitationLink>, EngineError> {
        if self.store.count_passwords().await? > 0 {
            return Ok(None);
        }
        let who = Principal::local("firebreak");
        let audit = self.audit(&who, "user.setup_link", "the first admin");
        self.make_invitation(
            InvitationFor::FirstAdmin,
            "firebreak",
            SignedDuration::from_hours(24),
            audit,
        )
        .await
        .map(Some)
    }

    /// The invitation behind a link, if it may still be used.
    pub async fn invitation(&self, token: &str) -> Result<Invitation, EngineError> {
        let gone = || {
            EngineError::NotFound(
                "this invitation link is not valid; ask an admin for a new one".into(),
            )
        };
        if !token.starts_with(INVITATION_PREFIX) || token.len() > 128 {
            return Err(gone());
        }
        let invitation = self
            .store
            .get_invitation(&sha256_hex(token))
            .await?
            .ok_or_else(gone)?;
        invitation.check(self.clock.now()).map_err(refusal_error)?;
        Ok(invitation)
    }

    /// Uses an invitation: sets the password (creating the first admin, for a setup link),
    /// marks the link used, and signs the browser in. All in one unit of work, so a link
    /// works once even when two browsers race.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &SecretString,
        first_admin: Option<FirstAdmin>,
        source: Option<String>,
    ) -> Result<SignedIn, EngineError> {
        let invitation = self.invitation(token).await?;
        let now = self.clock.now();
        let already = || {
            EngineError::Conflict(
                "Firebreak already has an admin who can sign in; sign in, or ask an admin for an invitation link".into(),
            )
        };
        if matches!(invitation.target, InvitationFor::FirstAdmin)
            && self.store.count_passwords().await? > 0
        {
            return Err(already());
        }
        let user = match (&invitation.target, first_admin) {
            (InvitationFor::User(handle), _) => {
                let user = self.user(handle).await?;
                if user.disabled_at.is_some() {
                    return Err(EngineError::Conflict(format!(
                        "{handle} is disabled; ask an admin to enable the account"
                    )));
                }
                user
            }
            (InvitationFor::FirstAdmin, Some(admin)) => {
                if let Some(taken) = self.store.get_user(&admin.handle).await? {
                    // The setup link never takes over an account someone can sign in to.
                    if taken.disabled_at.is_some()
                        || self.store.get_password(&taken.handle).await?.is_some()
                    {
                        return Err(already());
                    }
                    // Setting up as a user from the file: they become the admin.
                    UserRecord {
                        role: AccessRole::Admin,
                        disabled_at: None,
                        ..taken
                    }
                } else {
                    UserRecord {
                        handle: admin.handle,
                        name: admin.name,
                        email: admin.email,
                        time_zone: None,
                        role: AccessRole::Admin,
                        from_config: false,
                        created_at: now,
                        disabled_at: None,
                    }
                }
            }
            (InvitationFor::FirstAdmin, None) => {
                return Err(invalid("handle", "choose a handle for the first admin"));
            }
        };
        check_password(password.expose_secret(), user.handle.as_str())
            .map_err(|m| invalid("password", m))?;
        let hash = hash_password(password).await?;
        let who = Principal {
            actor: Actor(user.handle.to_string()),
            user: Some(user.handle.clone()),
            role: user.role,
            source: source.clone(),
            break_glass: None,
        };
        let audit = self.audit(
            &who,
            "user.accept_invitation",
            format!("user {}", user.handle),
        );
        // For a setup link: whether the first admin is a user who already exists.
        let first = match invitation.target {
            InvitationFor::FirstAdmin => Some(self.store.get_user(&user.handle).await?.is_some()),
            InvitationFor::User(_) => None,
        };
        let token_hash = invitation.token_hash.clone();
        self.write(1, || {
            let user = user.clone();
            let hash = hash.clone();
            let audit = audit.clone();
            let token_hash = token_hash.clone();
            move |tx| {
                Box::pin(async move {
                    let current = tx.lock_invitation(&token_hash).await?;
                    match current.map(|i| i.check(now)) {
                        Some(Ok(())) => {}
                        Some(Err(InvitationRefusal::Used)) => {
                            return Err(StoreError::Conflict(
                                "this invitation link was just used; sign in instead".into(),
                            ));
                        }
                        _ => return Err(StoreError::NotFound),
                    }
                    match first {
                        Some(true) => {
                            tx.update_user(&user).await?;
                        }
                        Some(false) => tx.create_user(&user).await?,
                        None => {}
                    }
                    tx.set_password(&user.handle, &hash, now).await?;
                    tx.revoke_sessions_of(&user.handle, None, now).await?;
                    tx.use_invitation(&token_hash, now).await?;
                    // Every other link that could set this password, or make a first admin,
                    // ends with this one.
                    tx.expire_invitations(&InvitationFor::User(user.handle.clone()), now)
                        .await?;
                    if first.is_some() {
                        tx.expire_invitations(&InvitationFor::FirstAdmin, now)
                            .await?;
                    }
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => EngineError::NotFound(
                "this invitation link is not valid; ask an admin for a new one".into(),
            ),
            other => other.into(),
        })?;
        self.tokens.clear();
        self.paging_changed().await;
        self.start_session(user, SignInMethod::Password, source, Vec::new())
            .await
    }

    /// The CSRF token of a session: an HMAC of its id hash under the instance-shared key, so
    /// every instance computes the same one and none is stored. Each call masks it with fresh
    /// random bytes (`pad || pad XOR mac`), so a compressed page never carries the same token
    /// twice and its length leaks nothing of it (BREACH).
    pub async fn csrf_token(&self, session: &Session) -> Result<String, EngineError> {
        let mac = self.csrf_mac(session).await?;
        let pad = random_bytes::<32>()?;
        let mut out = pad.to_vec();
        out.extend(pad.iter().zip(mac.iter()).map(|(p, m)| p ^ m));
        Ok(hex::encode(out))
    }

    async fn csrf_mac(&self, session: &Session) -> Result<Vec<u8>, EngineError> {
        let key = self.ack_key().await?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .map_err(|e| EngineError::Store(StoreError::backend(e.to_string())))?;
        mac.update(b"csrf:");
        mac.update(session.id_hash.as_bytes());
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// Whether `sent` is one of the session's masked CSRF tokens, compared in constant time.
    pub async fn check_csrf(&self, session: &Session, sent: &str) -> Result<bool, EngineError> {
        let Ok(sent) = hex::decode(sent.trim()) else {
            return Ok(false);
        };
        if sent.len() != 64 {
            return Ok(false);
        }
        let (pad, masked) = sent.split_at(32);
        let unmasked: Vec<u8> = pad.iter().zip(masked).map(|(p, m)| p ^ m).collect();
        let key = self.ack_key().await?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .map_err(|e| EngineError::Store(StoreError::backend(e.to_string())))?;
        mac.update(b"csrf:");
        mac.update(session.id_hash.as_bytes());
        Ok(mac.verify_slice(&unmasked).is_ok())
    }
}

fn refusal_error(r: InvitationRefusal) -> EngineError {
    match r {
        InvitationRefusal::Used => EngineError::Conflict(
            "this invitation link was already used; sign in, or ask an admin for a new link".into(),
        ),
        InvitationRefusal::Expired => EngineError::Conflict(
            "this invitation link has expired; ask an admin for a new one".into(),
        ),
    }
}

/// How many rows of each sign-in table one unit of work deletes when pruning.
pub const PRUNE_BATCH: u32 = 500;

impl Firebreak {
    /// Deletes the sign-in rows that are done with now, by the domain's
    /// [`firebreak_domain::session::SignInPrune`]: sessions and invitation links a week after
    /// they ended, failed sign-ins once no backoff counts them. One unit of work per batch of
    /// [`PRUNE_BATCH`] rows of each table, until a batch finds fewer; every instant comes from
    /// the injected clock. Returns how many rows of each it deleted.
    pub async fn prune_sign_ins(&self) -> Result<firebreak_store::accounts::Pruned, EngineError> {
        let prune = firebreak_domain::session::SignInPrune::at(self.clock.now());
        let mut total = firebreak_store::accounts::Pruned::default();
        loop {
            let batch = self
                .write(3 * PRUNE_BATCH as usize, || {
                    move |tx| Box::pin(async move { tx.prune_sign_ins(&prune, PRUNE_BATCH).await })
                })
                .await?;
            total += batch;
            if !batch.filled(PRUNE_BATCH) {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_is_an_argon2id_hash() {
        let parsed = PasswordHash::new(DECOY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
    }
}
