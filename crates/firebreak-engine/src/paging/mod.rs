//! Paging: contact methods, escalation policies, escalations and the pages they send.
//!
//! An escalation starts in the unit of work of the alert or declaration that causes it. Its
//! first step fires right there: the escalation row, the step's pages (outbox messages of kind
//! [`PAGE`], one per contact method, rendered from the in-memory [`PagingIndex`] with no reads)
//! and the timer of the next step (kind [`ESCALATION`]) commit with the alert, so when the
//! sender gets its answer the pages are already queued. When a later timer fires, one unit of
//! work moves the escalation on and queues that step's pages and the next timer. (If the key
//! of acknowledge links cannot be loaded, the first step goes through a timer due at once.)
//! Pages and timers are claimed before bulk work. A page goes out at least once: one being
//! sent when its process died is sent again with the same `webhook-id`.

pub mod render;

mod contacts;
pub(crate) mod escalate;
pub(crate) mod links;
mod policies;
pub(crate) mod reminders;
pub(crate) mod send;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use firebreak_domain::escalation::{Policy, Target};
use firebreak_domain::schedule::{Override, Schedule};
use firebreak_domain::{Config, Name};
use firebreak_store::ContactRecord;
use jiff::{SignedDuration, Timestamp};

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

/// What paging knows in memory, reloaded from the change feed (and at once by the writes of
/// this instance): policies, which service pages by which policy, and who can be reached how.
/// A step's pages are worked out from it without reading the store, so an alert's unit of work
/// can queue its first pages itself.
#[derive(Debug, Default)]
pub struct PagingIndex {
    policies: HashMap<Name, Policy>,
    /// A service's own policy, manager and runbook.
    services: HashMap<Name, ServicePaging>,
    /// Every user, and whether they are disabled.
    users: HashMap<Name, bool>,
    /// Each user's contact methods, in the order they were added.
    contacts: HashMap<Name, Vec<ContactRecord>>,
    /// Contact methods by id.
    contact_ids: HashMap<String, ContactRecord>,
    /// Each schedule with the overrides that had not ended when the index was loaded.
    schedules: HashMap<Name, (Schedule, Vec<Override>)>,
}

#[derive(Debug, Default)]
struct ServicePaging {
    policy: Option<Name>,
    manager: Option<Name>,
    runbook: Option<String>,
}

/// Who a step reaches: each user with their contact methods, and why a target reached nobody
/// (the target, the reason).
#[derive(Debug, Default)]
pub(crate) struct Reach {
    pub users: Vec<(Name, Vec<ContactRecord>)>,
    pub nobody: Vec<(String, String)>,
}

impl PagingIndex {
    /// The policy that pages for `service`: its own, else `paging.default_policy`.
    pub fn policy_for(&self, service: &Name, default: Option<&Name>) -> Option<&Policy> {
        let own = self.services.get(service).and_then(|s| s.policy.as_ref());
        own.or(default).and_then(|name| self.policies.get(name))
    }

    pub fn manager_of(&self, service: &Name) -> Option<&Name> {
        self.services.get(service).and_then(|s| s.manager.as_ref())
    }

    /// The runbook link of `service`, if it has one.
    pub fn runbook_of(&self, service: &Name) -> Option<&str> {
        self.services
            .get(service)
            .and_then(|s| s.runbook.as_deref())
    }

    /// A user's contact methods (none for an unknown user).
    pub(crate) fn contacts_of(&self, user: &Name) -> &[ContactRecord] {
        self.contacts.get(user).map(Vec::as_slice).unwrap_or(&[])
    }

    /// One contact method by id.
    pub(crate) fn contact(&self, id: &str) -> Option<&ContactRecord> {
        self.contact_ids.get(id)
    }

    /// Who is on call on `schedule` at `at`: `None` when the schedule is unknown, `Some(None)`
    /// when nobody is.
    fn on_call(&self, schedule: &Name, at: Timestamp) -> Option<Option<Name>> {
        let (schedule, overrides) = self.schedules.get(schedule)?;
        let now: Vec<Override> = overrides
            .iter()
            .filter(|o| o.start <= at && at < o.end)
            .cloned()
            .collect();
        Some(schedule.on_call(at, &now).map(|s| s.user))
    }

    /// Resolves a step's targets at `now`: users directly, schedules to whoever is on call.
    pub(crate) fn reach(&self, targets: &[Target], now: Timestamp) -> Reach {
        let mut users: Vec<Name> = Vec::new();
        let mut reach = Reach::default();
        for t in targets {
            match t {
                Target::User(u) => {
                    if !users.contains(u) {
                        users.push(u.clone());
                    }
                }
                Target::Schedule(s) => match self.on_call(s, now) {
                    Some(Some(user)) => {
                        if !users.contains(&user) {
                            users.push(user);
                        }
                    }
                    Some(None) => reach.nobody.push((
                        t.to_string(),
                        format!("nobody is on call on schedule {s} now"),
                    )),
                    None => reach
                        .nobody
                        .push((t.to_string(), format!("schedule {s} no longer exists"))),
                },
            }
        }
        for user in users {
            match self.users.get(&user) {
                None => reach
                    .nobody
                    .push((format!("user {user}"), format!("{user} is not a user"))),
                Some(true) => reach
                    .nobody
                    .push((format!("user {user}"), format!("{user} is disabled"))),
                Some(false) => {
                    let theirs = self.contacts_of(&user).to_vec();
                    if theirs.is_empty() {
                        reach.nobody.push((
                            format!("user {user}"),
                            format!(
                                "{user} has no contact methods; add one with `firebreak contact add` or POST /api/v1/users/{user}/contact-methods"
                            ),
                        ));
                    } else {
                        reach.users.push((user, theirs));
                    }
                }
            }
        }
        reach
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
    /// Reloads what paging keeps in memory: policies, services' paging fields, users, contact
    /// methods, and schedules with their current and future overrides.
    pub async fn reload_paging(&self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let policies = self.store.list_policies().await?;
        let services = self.store.list_services().await?;
        let users = self.store.list_users().await?;
        let handles: Vec<Name> = users.iter().map(|u| u.handle.clone()).collect();
        let mut contacts: HashMap<Name, Vec<ContactRecord>> = HashMap::new();
        for c in self.store.contacts_of_users(&handles).await? {
            contacts.entry(c.user.clone()).or_default().push(c);
        }
        let mut schedules = HashMap::new();
        for record in self.store.list_schedules().await? {
            let name = record.schedule.name.clone();
            let overrides = self
                .store
                .overrides_of(&name, now, firebreak_domain::instant::ACCEPTED_LATEST)
                .await?
                .into_iter()
                .map(|o| o.cover)
                .collect();
            schedules.insert(name, (record.schedule, overrides));
        }
        let index = PagingIndex {
            policies: policies
                .into_iter()
                .map(|p| (p.policy.name.clone(), p.policy))
                .collect(),
            services: services
                .into_iter()
                .map(|s| {
                    (
                        s.name,
                        ServicePaging {
                            policy: s.escalation_policy,
                            manager: s.manager,
                            runbook: s.runbook,
                        },
                    )
                })
                .collect(),
            users: users
                .into_iter()
                .map(|u| (u.handle, u.disabled_at.is_some()))
                .collect(),
            contact_ids: contacts
                .values()
                .flatten()
                .map(|c| (c.id.clone(), c.clone()))
                .collect(),
            contacts,
            schedules,
        };
        *self.paging.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
        Ok(())
    }

    /// Reloads the index after a write of this instance, so the next page sees it at once
    /// (other instances reload from the change feed). A failure is logged: the write stands,
    /// and the follower reloads on its next change or safety tick.
    pub(crate) async fn paging_changed(&self) {
        if let Err(e) = self.reload_paging().await {
            tracing::warn!(error = %e, "could not reload contact methods, schedules and policies after a change; they reload within 30 s");
        }
    }

    /// What a unit of work needs to queue a step's pages itself: the index and the key of
    /// acknowledge links. `None` when the key cannot be had now; the escalation's first step
    /// then goes through a timer, as every later step does.
    pub(crate) async fn pager(&self) -> Option<Pager> {
        match self.ack_key().await {
            Ok(key) => Some(Pager {
                index: self.paging.index(),
                paging: self.paging.clone(),
                key,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not load the key of acknowledge links; first pages go through a timer");
                None
            }
        }
    }
}

/// Everything needed to render and queue pages inside a unit of work, with no reads.
#[derive(Clone)]
pub(crate) struct Pager {
    pub index: Arc<PagingIndex>,
    pub paging: Arc<Paging>,
    pub key: Arc<Vec<u8>>,
}
