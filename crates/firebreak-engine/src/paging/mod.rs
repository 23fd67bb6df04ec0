//! Paging: contact methods, escalation policies, escalations and the pages they send.
//!
//! An escalation starts in the unit of work of the alert or declaration that causes it: the
//! escalation row and its first timer (an outbox message of kind [`ESCALATION`], due at once)
//! commit with the alert, so an accepted alert is a page that will be sent. When a timer
//! fires, one unit of work moves the escalation to its next position and enqueues the pages
//! of the step (kind [`PAGE`], one per contact method) and the next timer. Pages and timers are
//! claimed before bulk work. A page goes out at least once: one being sent when its process
//! died is sent again with the same `webhook-id`.

pub mod render;

mod contacts;
pub(crate) mod escalate;
mod links;
mod policies;
pub(crate) mod reminders;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use firebreak_domain::escalation::Policy;
use firebreak_domain::{Config, Name};
use jiff::SignedDuration;

pub use contacts::{ContactDraft, CreatedContact, TestOutcome};
pub use escalate::{EscalationView, NotificationView};
pub use links::AckLink;
pub use policies::PolicyView;

use crate::events::RetrySettings;
use crate::{EngineError, Firebreak};

/// The outbox kind of an escalation's timer.
pub const ESCALATION: &str = "escalation";
/// The outbox kind of one page to one contact method.
pub const PAGE: &str = "page";

/// What paging knows in memory: policies and which service pages which, reloaded from the
/// change feed.
#[derive(Debug, Default)]
pub struct PagingIndex {
    policies: HashMap<Name, Policy>,
    /// A service's own policy and manager.
    services: HashMap<Name, (Option<Name>, Option<Name>)>,
}

impl PagingIndex {
    /// The policy that pages for `service`: its own, else `paging.default_policy`.
    pub fn policy_for(&self, service: &Name, default: Option<&Name>) -> Option<&Policy> {
        let own = self.services.get(service).and_then(|(p, _)| p.as_ref());
        own.or(default).and_then(|name| self.policies.get(name))
    }

    pub fn manager_of(&self, service: &Name) -> Option<&Name> {
        self.services.get(service).and_then(|(_, m)| m.as_ref())
    }
}

/// Paging's settings and in-memory index.
pub struct Paging {
    index: RwLock<Arc<PagingIndex>>,
    /// The key that signs acknowledge links, loaded from the store on first use.
    ack_key: RwLock<Option<Arc<Vec<u8>>>>,
    /// The base URL links in pages start with, without a trailing slash.
    pub public_url: String,
    pub default_policy: Option<Name>,
    pub retry: RetrySettings,
    pub ack_link_ttl: SignedDuration,
    /// How long one attempt to deliver a page may take.
    pub attempt_timeout: SignedDuration,
    /// Where email goes out (`email.smtp_url`) and who it is from, when set up.
    pub email: Option<(String, String)>,
    /// The SMTP client, made on first use (it holds a connection pool).
    pub(crate) smtp: std::sync::OnceLock<Result<send::Smtp, String>>,
    /// The SSRF-guarded client pages are posted with, its timeout `paging.attempt_timeout`.
    pub(crate) client: Arc<firebreak_outbound::client::OutboundClient>,
}

impl Paging {
    pub fn new(config: &Config, client: Arc<firebreak_outbound::client::OutboundClient>) -> Paging {
        let r = config.paging.retry.unwrap_or(config.outbound.retry);
        Paging {
            index: RwLock::default(),
            ack_key: RwLock::default(),
            public_url: config
                .server
                .public_url
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:8080".into())
                .trim_end_matches('/')
                .to_string(),
            default_policy: config.paging.default_policy.clone(),
            retry: RetrySettings {
                first_delay: r.first_delay,
                max_delay: r.max_delay,
                give_up_after: r.give_up_after,
            },
            ack_link_ttl: config.paging.ack_link_ttl,
            attempt_timeout: config.paging.attempt_timeout,
            email: config.email.smtp_url.clone().zip(config.email.from.clone()),
            smtp: std::sync::OnceLock::new(),
            client,
        }
    }

    pub fn index(&self) -> Arc<PagingIndex> {
        self.index.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The timeline entry for a page that reached an end: delivered, refused, or given up on.
/// `None` while it will be tried again, or when it is about no incident.
pub(crate) fn page_outcome_event(
    message: &firebreak_store::Message,
    outcome: firebreak_store::Outcome,
    error: Option<&str>,
) -> Option<(
    firebreak_domain::IncidentNumber,
    firebreak_domain::TimelineEvent,
)> {
    use firebreak_domain::TimelineEvent;
    use firebreak_store::Outcome;
    let page: escalate::PagePayload = serde_json::from_str(&message.payload).ok()?;
    let number = firebreak_domain::IncidentNumber(page.incident?);
    let escalation = page.escalation.unwrap_or_default();
    let event = match outcome {
        Outcome::RetryAt(_) => return None,
        Outcome::Delivered => TimelineEvent::PageDelivered {
            escalation,
            user: page.user,
            method: page.method,
            contact: page.contact_name,
        },
        Outcome::Failed | Outcome::Dead => TimelineEvent::PageFailed {
            escalation,
            user: page.user,
            method: page.method,
            contact: page.contact_name,
            reason: error.unwrap_or("not delivered").to_string(),
        },
    };
    Some((number, event))
}

impl Firebreak {
    /// Reloads policies and services' paging fields from the store.
    pub async fn reload_paging(&self) -> Result<(), EngineError> {
        let policies = self.store.list_policies().await?;
        let services = self.store.list_services().await?;
        let index = PagingIndex {
            policies: policies
                .into_iter()
                .map(|p| (p.policy.name.clone(), p.policy))
                .collect(),
            services: services
                .into_iter()
                .map(|s| (s.name, (s.escalation_policy, s.manager)))
                .collect(),
        };
        *self.paging.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
        Ok(())
    }
}
