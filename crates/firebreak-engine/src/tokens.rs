//! API tokens: 256-bit random secrets shown once, stored only as a SHA-256 hash.
//!
//! A token may belong to a user; it then acts as that user and can do no more than they can
//! now ([`firebreak_domain::access::effective_role`]). Who a token is gets remembered for at
//! most [`TOKEN_CACHE_TTL`], so a request costs no database read; a revoked token, or a
//! demoted or disabled user, stops working within that time everywhere, and at once on the
//! instance that made the change (it clears its cache as part of the change).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use firebreak_domain::access::{TokenOwner, effective_role};
use firebreak_domain::{AccessRole, Actor, Name};
use firebreak_store::{StoreWrites, TokenRecord, UserRecord};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{EngineError, Firebreak, Principal, invalid, random_bytes};

/// Every token starts with this, so secret scanners and people can recognise one.
pub const TOKEN_PREFIX: &str = "fbt_";
/// How long who a token is may be remembered.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// Tokens remembered at most; the cache starts over past this.
const TOKEN_CACHE_MAX: usize = 10_000;

pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new token: the record to store and the secret to show once.
pub struct IssuedToken {
    pub record: TokenRecord,
    pub secret: SecretString,
}

/// Who a token is, as of when it was looked up. `None` remembers "no such live token".
#[derive(Clone)]
struct Known {
    at: Instant,
    holder: Option<Holder>,
}

/// What a live token acts as, without the request's source address.
#[derive(Clone)]
struct Holder {
    actor: Actor,
    user: Option<Name>,
    token_role: AccessRole,
    owner: TokenOwner,
    expires_at: Option<Timestamp>,
}

/// Token lookups remembered for [`TOKEN_CACHE_TTL`].
#[derive(Default)]
pub struct TokenCache {
    known: Mutex<HashMap<String, Known>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Option<Holder>> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(hash)
            .filter(|k| k.at.elapsed() < TOKEN_CACHE_TTL)
            .map(|k| k.holder.clone())
    }

    fn put(&self, hash: String, holder: Option<Holder>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= TOKEN_CACHE_MAX {
            known.clear();
        }
        known.insert(
            hash,
            Known {
                at: Instant::now(),
                holder,
            },
        );
    }

    /// Forgets everything: a token or user changed.
    pub fn clear(&self) {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Firebreak {
    fn issue(
        &self,
        name: &str,
        role: AccessRole,
        user: Option<Name>,
        expires_at: Option<Timestamp>,
    ) -> Result<IssuedToken, EngineError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(random_bytes::<32>()?));
        let record = TokenRecord {
            id: format!("tok_{}", hex::encode(random_bytes::<8>()?)),
            name: name.to_string(),
            role,
            user,
            hash: hash_token(&secret),
            created_at: self.clock.now(),
            revoked_at: None,
            expires_at,
        };
        Ok(IssuedToken {
            record,
            secret: SecretString::from(secret),
        })
    }

    /// Makes a token. With `user`, the token acts as that user and its role may not exceed
    /// theirs; with `expires_at`, it stops working then.
    pub async fn create_token(
        &self,
        who: &Principal,
        name: &str,
        role: AccessRole,
        user: Option<Name>,
        expires_at: Option<Timestamp>,
    ) -> Result<IssuedToken, EngineError> {
        who.outside_break_glass("make tokens")?;
        if let Some(handle) = &user {
            let owner = self.store.get_user(handle).await?.ok_or_else(|| {
                invalid(
                    "user",
                    format!("there is no user `{handle}`; create the user first"),
                )
            })?;
            if owner.disabled_at.is_some() {
                return Err(invalid(
                    "user",
                    format!("{handle} is disabled; enable them before giving them a token"),
                ));
            }
            if role > owner.role {
                return Err(invalid(
                    "role",
                    format!(
                        "{handle} is a {}; their tokens can be at most {}",
                        owner.role, owner.role
                    ),
                ));
            }
        }
        if expires_at.is_some_and(|end| end <= self.clock.now()) {
            return Err(invalid("expires_at", "must be in the future"));
        }
        let issued = self.issue(name, role, user, expires_at)?;
        let audit = self.audit(
            who,
            "token.create",
            format!(
                "token {} ({}, {})",
                issued.record.id, issued.record.name, role
            ),
        );
        let record = self.store.create_token(issued.record, audit).await?;
        Ok(IssuedToken {
            record,
            secret: issued.secret,
        })
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, EngineError> {
        Ok(self.store.list_tokens().await?)
    }

    pub async fn revoke_token(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<TokenRecord, EngineError> {
        let audit = self.audit(who, "token.revoke", format!("token {id}"));
        let revoked = self
            .store
            .revoke_token(id, self.clock.now(), audit)
            .await
            .map_err(|e| match e {
                firebreak_store::StoreError::NotFound => {
                    EngineError::NotFound(format!("there is no token with id {id}"))
                }
                other => other.into(),
            })?;
        self.tokens.clear();
        Ok(revoked)
    }

    /// Finds who a bearer token acts as now. `None` for unknown, revoked or expired tokens,
    /// and for tokens of users who are disabled or gone.
    pub async fn authenticate(
        &self,
        bearer: &str,
        source: Option<String>,
    ) -> Result<Option<Principal>, EngineError> {
        if !bearer.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = hash_token(bearer);
        let holder = match self.tokens.get(&hash) {
            Some(known) => known,
            None => {
                let holder = self.look_up(&hash).await?;
                self.tokens.put(hash, holder.clone());
                holder
            }
        };
        let Some(h) = holder else {
            return Ok(None);
        };
        let grants = match &h.user {
            Some(user) => self.grants_of(user).await?,
            None => Vec::new(),
        };
        let now = self.clock.now();
        Ok(
            effective_role(h.token_role, h.expires_at, h.owner, &grants, now).map(|e| Principal {
                actor: h.actor,
                user: h.user,
                role: e.role,
                source,
                break_glass: e.grant,
            }),
        )
    }

    /// Why `bearer`, which [`authenticate`](Self::authenticate) refused, no longer works, in
    /// words for its holder: it expired (and when), or its user is disabled or gone. `None` for
    /// a token that is unknown or revoked, so that a caller learns nothing about tokens it does
    /// not hold.
    pub async fn token_refusal(&self, bearer: &str) -> Result<Option<String>, EngineError> {
        if !bearer.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(token) = self.store.find_token(&hash_token(bearer)).await? else {
            return Ok(None);
        };
        if let Some(end) = token.expires_at
            && end <= self.clock.now()
        {
            return Ok(Some(format!(
                "the token expired at {end}; ask an admin for a new one"
            )));
        }
        let Some(handle) = &token.user else {
            return Ok(None);
        };
        Ok(match self.store.get_user(handle).await? {
            Some(user) if user.disabled_at.is_some() => Some(format!(
                "the token acts as {handle}, who is disabled; ask an admin to enable {handle} \
                 (`firebreak user enable {handle}`)"
            )),
            Some(_) => None,
            None => Some(format!(
                "the token acts as {handle}, who is no longer a user; ask an admin for a new token"
            )),
        })
    }

    async fn look_up(&self, hash: &str) -> Result<Option<Holder>, EngineError> {
        let Some(token) = self.store.find_token(hash).await? else {
            return Ok(None);
        };
        let owner = match &token.user {
            None => TokenOwner::Nobody,
            Some(handle) => match self.store.get_user(handle).await? {
                Some(u) => TokenOwner::User {
                    role: u.role,
                    disabled: u.disabled_at.is_some(),
                },
                None => TokenOwner::Missing,
            },
        };
        if effective_role(token.role, token.expires_at, owner, &[], self.clock.now()).is_none() {
            return Ok(None);
        }
        let actor = match &token.user {
            Some(user) => user.to_string(),
            None => format!("token:{}", token.name),
        };
        Ok(Some(Holder {
            actor: Actor(actor),
            user: token.user,
            token_role: token.role,
            owner,
            expires_at: token.expires_at,
        }))
    }

    /// On a store with no admin yet, creates the `admin` user and an admin token that acts as
    /// them, and returns the secret to show once. Returns `None` when the store has an admin.
    pub async fn bootstrap_admin(&self) -> Result<Option<SecretString>, EngineError> {
        let admin = Name::parse("admin").map_err(|e| invalid("handle", e.to_string()))?;
        let user = UserRecord {
            handle: admin.clone(),
            name: "Administrator".into(),
            email: None,
            time_zone: None,
            role: AccessRole::Admin,
            from_config: false,
            created_at: self.clock.now(),
            disabled_at: None,
        };
        let issued = self.issue("initial admin token", AccessRole::Admin, Some(admin), None)?;
        let audit = self.audit(
            &Principal::local("firebreak"),
            "bootstrap",
            "admin user and token",
        );
        let created = self
            .store
            .bootstrap_admin(user, issued.record, audit)
            .await?;
        Ok(created.then_some(issued.secret))
    }
}

/// Shows a secret exactly where it must be shown; everywhere else it stays wrapped.
pub fn reveal(secret: &SecretString) -> &str {
    secret.expose_secret()
}
