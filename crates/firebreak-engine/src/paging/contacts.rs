//! Contact methods: how a user is reached. Admins manage anyone's; a user manages their own.
//! A URL passes the SSRF guard when it is added (and again on every send); a webhook gets a
//! signing secret made by Firebreak and shown once.

use firebreak_domain::contact::{ContactKind, check_email};
use firebreak_domain::{AccessRole, Name};
use firebreak_store::{ContactRecord, StoreError};
use secrecy::SecretString;

use super::render::PageKind;
use crate::{EngineError, Firebreak, Principal, invalid, short_id};

/// The most contact methods one user may have.
pub const MAX_PER_USER: usize = 20;

/// What a person asks to add.
#[derive(Debug, Clone)]
pub struct ContactDraft {
    pub kind: ContactKind,
    /// An email address or a URL.
    pub target: String,
    pub name: Option<String>,
    /// An ntfy access token (`tk_...`), sent as a bearer token.
    pub token: Option<String>,
}

/// A contact method as created: a webhook's signing secret is shown this once.
pub struct CreatedContact {
    pub contact: ContactRecord,
    pub secret: Option<SecretString>,
}

/// What a test page's receiver answered.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub delivered: bool,
    /// The receiver's HTTP status, or the SMTP reply code.
    pub status: Option<u16>,
    /// Why it was not delivered, or what the receiver said.
    pub detail: Option<String>,
    pub duration_ms: i64,
}

impl Firebreak {
    /// Admins manage anyone's contact methods; anyone else only their own user's.
    fn may_manage_contacts(&self, who: &Principal, user: &Name) -> Result<(), EngineError> {
        if who.role == AccessRole::Admin || who.user.as_ref() == Some(user) {
            Ok(())
        } else {
            Err(EngineError::Forbidden(format!(
                "only an admin or {user} may manage {user}'s contact methods; use a token of {user}'s (`firebreak token create --user {user}`)"
            )))
        }
    }

    /// Checks a target for its kind: an email address, or a URL the SSRF guard allows.
    fn check_target(&self, draft: &ContactDraft) -> Result<(), EngineError> {
        if draft.kind == ContactKind::Email {
            if self.paging.email.is_none() {
                return Err(invalid(
                    "type",
                    "email is not set up on this Firebreak, so an email contact method could never be reached: set email.smtp_url and email.from in firebreak.yaml (or FIREBREAK_SMTP_URL and FIREBREAK_EMAIL_FROM), or choose another type",
                ));
            }
            return check_email(&draft.target).map_err(|m| invalid("target", m));
        }
        let url = &draft.target;
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("https" | "http")) {
            return Err(invalid(
                "target",
                format!(
                    "a {} contact method takes an http:// or https:// URL",
                    draft.kind
                ),
            ));
        }
        self.outbound
            .policy()
            .check_destination(url)
            .map_err(|refusal| invalid("target", refusal.to_string()))?;
        if draft.kind == ContactKind::Ntfy && super::render::ntfy_publish_url(url).is_none() {
            return Err(invalid(
                "target",
                "an ntfy target is the topic's URL, like https://ntfy.example.com/oncall-alice (a topic is 1 to 64 letters, digits, '-' or '_')",
            ));
        }
        Ok(())
    }

    pub async fn add_contact(
        &self,
        who: &Principal,
        user: &Name,
        draft: ContactDraft,
    ) -> Result<CreatedContact, EngineError> {
        self.may_manage_contacts(who, user)?;
        self.user(user).await?;
        self.check_target(&draft)?;
        if draft.token.is_some() && draft.kind != ContactKind::Ntfy {
            return Err(invalid(
                "token",
                "only an ntfy contact method takes a token",
            ));
        }
        let existing = self.store.contacts_of(user).await?;
        if existing.len() >= MAX_PER_USER {
            return Err(EngineError::Conflict(format!(
                "{user} already has {MAX_PER_USER} contact methods; remove one first"
            )));
        }
        let name = draft
            .name
            .clone()
            .unwrap_or_else(|| default_name(draft.kind, &existing));
        let secret = match draft.kind {
            ContactKind::Webhook => Some(
                firebreak_outbound::signing::new_secret()
                    .map_err(|e| EngineError::Store(StoreError::backend(e.to_string())))?,
            ),
            _ => draft.token.clone(),
        };
        let contact = ContactRecord {
            id: short_id("cm")?,
            user: user.clone(),
            kind: draft.kind,
            name,
            target: draft.target,
            secret: secret.clone(),
            created_at: self.clock.now(),
        };
        let audit = self.audit(
            who,
            "contact.create",
            format!("user {user}: {} {}", contact.kind, contact.id),
        );
        let stored = contact.clone();
        self.write(2, || {
            let (stored, audit) = (stored.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.create_contact(&stored).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        self.paging_changed().await;
        let shown_once = (contact.kind == ContactKind::Webhook)
            .then_some(secret)
            .flatten()
            .map(SecretString::from);
        Ok(CreatedContact {
            contact,
            secret: shown_once,
        })
    }

    pub async fn contacts(
        &self,
        who: &Principal,
        user: &Name,
    ) -> Result<Vec<ContactRecord>, EngineError> {
        self.may_manage_contacts(who, user)?;
        self.user(user).await?;
        Ok(self.store.contacts_of(user).await?)
    }

    pub async fn remove_contact(
        &self,
        who: &Principal,
        user: &Name,
        id: &str,
    ) -> Result<(), EngineError> {
        self.may_manage_contacts(who, user)?;
        let audit = self.audit(who, "contact.delete", format!("user {user}: {id}"));
        let (user_, id_) = (user.clone(), id.to_string());
        let removed = self
            .write(2, || {
                let (user, id, audit) = (user_.clone(), id_.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        tx.delete_contact(&user, &id).await?;
                        tx.audit(audit).await
                    })
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    EngineError::NotFound(format!("{user} has no contact method {id}"))
                }
                other => other.into(),
            });
        if removed.is_ok() {
            self.paging_changed().await;
        }
        removed
    }

    /// Sends a test page to one contact method now and says what its receiver answered.
    pub async fn test_contact(
        &self,
        who: &Principal,
        user: &Name,
        id: &str,
    ) -> Result<TestOutcome, EngineError> {
        self.may_manage_contacts(who, user)?;
        let contact = self
            .store
            .get_contact(id)
            .await?
            .filter(|c| &c.user == user)
            .ok_or_else(|| EngineError::NotFound(format!("{user} has no contact method {id}")))?;
        let now = self.clock.now();
        let about = super::escalate::About::nothing();
        let mut view = self.paging.view(&about, PageKind::Test, user.as_str(), now);
        view.ack_url = None;
        let message = self.paging.page_message(
            &view,
            &contact,
            format!("test:{id}"),
            user.to_string(),
            now,
        )?;
        let payload: super::escalate::PagePayload = serde_json::from_str(&message.payload)
            .map_err(|e| EngineError::Store(StoreError::backend(e)))?;
        let sent = self.deliver(&contact, &payload, now).await;
        Ok(TestOutcome {
            delivered: sent.delivered(),
            status: sent.status,
            detail: sent.detail,
            duration_ms: sent.duration_ms,
        })
    }
}

/// `email`, `slack`, ... or `slack-2` when the user has one by that name already.
fn default_name(kind: ContactKind, existing: &[ContactRecord]) -> String {
    let base = kind.as_str();
    if !existing.iter().any(|c| c.name == base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|n| !existing.iter().any(|c| &c.name == n))
        .unwrap_or_else(|| base.to_string())
}
