//! API tokens: 256-bit random secrets shown once, stored only as a SHA-256 hash.

use firebreak_domain::{AccessRole, Actor, Name};
use firebreak_store::{TokenRecord, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{EngineError, Firebreak, Principal, invalid};

/// Every token starts with this, so secret scanners and people can recognise one.
pub const TOKEN_PREFIX: &str = "fbt_";

fn random_hex(bytes: usize) -> Result<String, EngineError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| EngineError::Store(firebreak_store::StoreError::backend(e)))?;
    Ok(hex::encode(buf))
}

pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new token: the record to store and the secret to show once.
pub struct IssuedToken {
    pub record: TokenRecord,
    pub secret: SecretString,
}

impl Firebreak {
    fn issue(
        &self,
        name: &str,
        role: AccessRole,
        user: Option<Name>,
    ) -> Result<IssuedToken, EngineError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_hex(32)?);
        let record = TokenRecord {
            id: format!("tok_{}", random_hex(8)?),
            name: name.to_string(),
            role,
            user,
            hash: hash_token(&secret),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        Ok(IssuedToken {
            record,
            secret: SecretString::from(secret),
        })
    }

    pub async fn create_token(
        &self,
        who: &Principal,
        name: &str,
        role: AccessRole,
        user: Option<Name>,
    ) -> Result<IssuedToken, EngineError> {
        let issued = self.issue(name, role, user)?;
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
        self.store
            .revoke_token(id, self.clock.now(), audit)
            .await
            .map_err(|e| match e {
                firebreak_store::StoreError::NotFound => {
                    EngineError::NotFound(format!("there is no token with id {id}"))
                }
                other => other.into(),
            })
    }

    /// Finds who a bearer token belongs to. `None` for unknown or revoked tokens.
    pub async fn authenticate(
        &self,
        bearer: &str,
        source: Option<String>,
    ) -> Result<Option<Principal>, EngineError> {
        if !bearer.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(token) = self.store.find_token(&hash_token(bearer)).await? else {
            return Ok(None);
        };
        let actor = match &token.user {
            Some(user) => user.to_string(),
            None => format!("token:{}", token.name),
        };
        Ok(Some(Principal {
            actor: Actor(actor),
            role: token.role,
            source,
        }))
    }

    /// On a store with no admin yet, creates the `admin` user and an admin token, and returns
    /// the secret to show once. Returns `None` when the store already has an admin.
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
        };
        let issued = self.issue("initial admin token", AccessRole::Admin, Some(admin))?;
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
