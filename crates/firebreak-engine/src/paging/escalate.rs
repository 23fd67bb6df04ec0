//! Escalations: starting one inside the unit of work that causes it, firing its timers,
//! acknowledging and resolving, and listing them with their notifications.

use std::sync::Arc;

use firebreak_domain::contact::ContactKind;
use firebreak_domain::escalation::{Escalation, EscalationStatus, Fired, Policy, Position, Target};
use firebreak_domain::{Alert, Incident, IncidentNumber, Name, TimelineEvent};
use firebreak_store::{
    ContactRecord, EscalationFilter, Message, MessageStatus, NewMessage, Outcome, Priority,
    Result as StoreResult, StoreError, TimelineDraft, Tx,
};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::render::{self, AlertRef, IncidentRef, PageKind, PageView};
use super::{ESCALATION, PAGE};
use crate::{EngineError, Firebreak, short_id};

/// A timer is never dropped for being late: it fires whenever it is claimed.
const TIMER_DEADLINE: SignedDuration = SignedDuration::from_hours(24 * 30);

/// What an escalation timer message carries: the position it fires.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct TimerPayload {
    round: u32,
    step: u32,
}

/// What a page message carries: the contact method to send to, and the body rendered when the
/// page was queued, so every retry sends the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PagePayload {
    pub contact: String,
    pub user: String,
    pub method: String,
    pub contact_name: String,
    pub escalation: Option<String>,
    pub incident: Option<i64>,
    /// The `webhook-id`: the same on every retry.
    pub id: String,
    pub body: String,
    pub email_subject: Option<String>,
    pub email_html: Option<String>,
}

/// One escalation as the API shows it.
#[derive(Debug, Clone)]
pub struct EscalationView {
    pub escalation: Escalation,
    pub notifications: Vec<NotificationView>,
}

/// One page of an escalation.
#[derive(Debug, Clone)]
pub struct NotificationView {
    pub id: i64,
    pub user: String,
    pub method: String,
    pub contact: String,
    /// `pending|sending|delivered|failed`.
    pub status: &'static str,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub step: Option<u32>,
}

fn timer(e: &Escalation, at: Position, due: Timestamp, now: Timestamp) -> StoreResult<NewMessage> {
    Ok(NewMessage {
        kind: ESCALATION.into(),
        subject: e.id.clone(),
        idempotency_key: format!("{}:{}:{}", e.id, at.round, at.step),
        payload: serde_json::to_string(&TimerPayload {
            round: at.round,
            step: at.step,
        })
        .map_err(StoreError::backend)?,
        due_at: due,
        deadline_at: due + TIMER_DEADLINE,
        created_at: now,
        priority: Priority::Page,
    })
}

fn draft(at: Timestamp, event: TimelineEvent) -> TimelineDraft {
    TimelineDraft {
        at,
        actor: firebreak_domain::Actor::system().0,
        event,
    }
}

/// Starts an escalation of `policy` inside a unit of work: the escalation, its first timer
/// (due now) and, for an incident, the timeline entry, all commit with the caller's change.
pub(crate) async fn start_in(
    tx: &mut (dyn Tx + '_),
    policy: &Policy,
    alert: Option<i64>,
    incident: Option<IncidentNumber>,
    drill: bool,
    now: Timestamp,
) -> StoreResult<Escalation> {
    let id = short_id("esc").map_err(|e| StoreError::backend(e.to_string()))?;
    let e = Escalation::start(id, policy.clone(), alert, incident, drill, now);
    tx.create_escalation(&e).await?;
    tx.enqueue(vec![timer(&e, Position { round: 0, step: 0 }, now, now)?])
        .await?;
    if let Some(number) = incident {
        tx.append_timeline(
            number,
            vec![draft(
                now,
                TimelineEvent::EscalationStarted {
                    escalation: e.id.clone(),
                    policy: policy.name.to_string(),
                    alert,
                },
            )],
        )
        .await?;
    }
    Ok(e)
}

/// Acknowledges the open escalations that match, inside a unit of work. Returns the ids of
/// those it acknowledged.
pub(crate) async fn acknowledge_in(
    tx: &mut (dyn Tx + '_),
    filter: EscalationFilter,
    by: &str,
    via: &str,
    now: Timestamp,
) -> StoreResult<Vec<String>> {
    let mut acked = Vec::new();
    for mut e in tx
        .lock_escalations(EscalationFilter {
            open_only: false,
            ..filter
        })
        .await?
    {
        if !e.acknowledge(by, now) {
            continue;
        }
        tx.save_escalation(&e).await?;
        if let Some(number) = e.incident {
            tx.append_timeline(
                number,
                vec![TimelineDraft {
                    at: now,
                    actor: by.to_string(),
                    event: TimelineEvent::Acknowledged {
                        escalation: Some(e.id.clone()),
                        by: by.to_string(),
                        via: via.to_string(),
                    },
                }],
            )
            .await?;
        }
        acked.push(e.id);
    }
    Ok(acked)
}

/// Sets the incident's `acknowledged_at` if this is its first acknowledgement.
pub(crate) async fn note_incident_ack(
    tx: &mut (dyn Tx + '_),
    number: IncidentNumber,
    now: Timestamp,
) -> StoreResult<()> {
    if let Some(mut incident) = tx.lock_incident(number).await?
        && incident.acknowledge(now)
    {
        let ticks = incident.tick_known(false, now);
        tx.update_incident(
            &incident,
            ticks.into_iter().map(|e| draft(now, e)).collect(),
        )
        .await?;
    }
    Ok(())
}

/// Ends the escalations that match (what they were about resolved), inside a unit of work.
pub(crate) async fn resolve_in(
    tx: &mut (dyn Tx + '_),
    filter: EscalationFilter,
    now: Timestamp,
) -> StoreResult<()> {
    for mut e in tx.lock_escalations(filter).await? {
        if e.status != EscalationStatus::Resolved && e.resolve(now) {
            tx.save_escalation(&e).await?;
        }
    }
    Ok(())
}

/// True when an escalation for the incident is active or acknowledged: a new alert attached to
/// it starts no other.
pub(crate) async fn incident_is_escalating(
    tx: &mut (dyn Tx + '_),
    number: IncidentNumber,
) -> StoreResult<bool> {
    Ok(!tx
        .lock_escalations(EscalationFilter {
            incident: Some(number),
            open_only: true,
            ..Default::default()
        })
        .await?
        .is_empty())
}

/// Who a step reaches: each user with their contact methods, and why a target reached nobody.
struct Reach {
    users: Vec<(Name, Vec<ContactRecord>)>,
    nobody: Vec<(String, String)>,
}

/// What a page is about, for its body.
pub(crate) struct About {
    incident: Option<Incident>,
    alert: Option<Alert>,
    runbook: Option<String>,
}

impl About {
    /// A reminder is about its incident.
    pub(crate) fn of_incident(incident: Incident) -> About {
        About {
            incident: Some(incident),
            alert: None,
            runbook: None,
        }
    }

    /// A test page is about nothing.
    pub(crate) fn nothing() -> About {
        About {
            incident: None,
            alert: None,
            runbook: None,
        }
    }
}

impl Firebreak {
    /// Resolves a step's targets at `now`: users directly, schedules to whoever is on call.
    async fn reach(&self, targets: &[Target], now: Timestamp) -> Result<Reach, EngineError> {
        let mut users: Vec<Name> = Vec::new();
        let mut nobody = Vec::new();
        for t in targets {
            match t {
                Target::User(u) => {
                    if !users.contains(u) {
                        users.push(u.clone());
                    }
                }
                Target::Schedule(s) => match self.on_call(s, now).await {
                    Ok(on) => match on.shift {
                        Some(shift) if !users.contains(&shift.user) => users.push(shift.user),
                        Some(_) => {}
                        None => nobody.push((
                            t.to_string(),
                            format!("nobody is on call on schedule {s} now"),
                        )),
                    },
                    Err(EngineError::NotFound(_)) => {
                        nobody.push((t.to_string(), format!("schedule {s} no longer exists")))
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        let contacts = self.store.contacts_of_users(&users).await?;
        let mut reach = Reach {
            users: Vec::new(),
            nobody,
        };
        for user in users {
            let record = self.store.get_user(&user).await?;
            match record {
                None => reach
                    .nobody
                    .push((format!("user {user}"), format!("{user} is not a user"))),
                Some(r) if r.disabled_at.is_some() => reach
                    .nobody
                    .push((format!("user {user}"), format!("{user} is disabled"))),
                Some(_) => {
                    let theirs: Vec<ContactRecord> = contacts
                        .iter()
                        .filter(|c| c.user == user)
                        .cloned()
                        .collect();
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
        Ok(reach)
    }

    async fn about(&self, e: &Escalation) -> Result<About, EngineError> {
        let incident = match e.incident {
            Some(n) => self.store.get_incident(n).await?,
            None => None,
        };
        let alert = match e.alert {
            Some(id) => self.store.get_alert(id).await?,
            None => None,
        };
        let service = alert
            .as_ref()
            .map(|a| a.service.clone())
            .or_else(|| incident.as_ref().and_then(|i| i.services.first().cloned()));
        let runbook = match service {
            Some(s) => self.store.get_service(&s).await?.and_then(|s| s.runbook),
            None => None,
        };
        Ok(About {
            incident,
            alert,
            runbook,
        })
    }

    pub(crate) fn view(
        &self,
        about: &About,
        kind: PageKind,
        user: &str,
        now: Timestamp,
    ) -> PageView {
        PageView {
            kind,
            escalation: None,
            step: None,
            round: None,
            user: user.to_string(),
            incident: about.incident.as_ref().map(|i| IncidentRef {
                id: i.number.to_string(),
                title: i.title.clone(),
                severity: i.severity.clone(),
                service: i.services.first().map(|s| s.to_string()),
                url: Some(format!(
                    "{}/api/v1/incidents/{}",
                    self.paging.public_url, i.number
                )),
            }),
            alert: about.alert.as_ref().map(|a| AlertRef {
                id: a.id,
                summary: a.summary.clone(),
                severity: a.severity.to_string(),
                service: a.service.to_string(),
                url: Some(format!("{}/api/v1/alerts/{}", self.paging.public_url, a.id)),
            }),
            ack_url: None,
            runbook_url: about.runbook.clone(),
            drill: about.incident.as_ref().is_some_and(|i| i.drill),
            reminder: None,
            at: now,
        }
    }

    /// The page for one contact method, rendered for its channel.
    pub(crate) fn page_message(
        &self,
        view: &PageView,
        contact: &ContactRecord,
        key: String,
        subject: String,
        now: Timestamp,
    ) -> Result<NewMessage, EngineError> {
        let (body, email_subject, email_html) = match contact.kind {
            ContactKind::Webhook => (render::webhook_body(view), None, None),
            ContactKind::Slack => (render::slack_body(view), None, None),
            ContactKind::Mattermost => (render::mattermost_body(view), None, None),
            ContactKind::Teams => (render::teams_body(view), None, None),
            ContactKind::Ntfy => {
                let topic = render::ntfy_publish_url(&contact.target)
                    .map(|(_, topic)| topic)
                    .unwrap_or_default();
                (render::ntfy_body(view, &topic), None, None)
            }
            ContactKind::Email => {
                let mail = render::email(view);
                (mail.text, Some(mail.subject), Some(mail.html))
            }
        };
        let id = firebreak_outbound::signing::message_id(now.as_millisecond())
            .map_err(|e| EngineError::Store(StoreError::backend(e.to_string())))?;
        let payload = PagePayload {
            contact: contact.id.clone(),
            user: contact.user.to_string(),
            method: contact.kind.to_string(),
            contact_name: contact.name.clone(),
            escalation: view.escalation.clone(),
            incident: view
                .incident
                .as_ref()
                .and_then(|i| i.id.strip_prefix("INC-"))
                .and_then(|n| n.parse().ok()),
            id,
            body,
            email_subject,
            email_html,
        };
        Ok(NewMessage {
            kind: PAGE.into(),
            subject,
            idempotency_key: key,
            payload: serde_json::to_string(&payload)
                .map_err(|e| EngineError::Store(StoreError::backend(e)))?,
            due_at: now,
            deadline_at: now + self.paging.retry.give_up_after,
            created_at: now,
            priority: Priority::Page,
        })
    }

    /// Fires one claimed escalation timer. The outcome is what the outbox records for the
    /// timer itself: done, or try again shortly when the database could not be reached.
    pub(crate) async fn fire_timer(&self, message: &Message) -> Outcome {
        match self.fire(message).await {
            Ok(()) => Outcome::Delivered,
            Err(e) => {
                tracing::warn!(escalation = %message.subject, error = %e, "could not fire an escalation step; trying again shortly");
                Outcome::RetryAt(self.clock.now() + SignedDuration::from_secs(2))
            }
        }
    }

    async fn fire(&self, message: &Message) -> Result<(), EngineError> {
        let Ok(at) = serde_json::from_str::<TimerPayload>(&message.payload) else {
            tracing::error!(
                id = message.id,
                "an escalation timer is unreadable; dropping it"
            );
            return Ok(());
        };
        let position = Position {
            round: at.round,
            step: at.step,
        };
        let Some(current) = self.store.get_escalation(&message.subject).await? else {
            return Ok(());
        };
        if current.status != EscalationStatus::Active || current.next != Some(position) {
            return Ok(());
        }
        let now = self.clock.now();
        let about = Arc::new(self.about(&current).await?);
        let targets = current
            .policy
            .steps
            .get(position.step as usize)
            .map(|s| s.targets.clone())
            .unwrap_or_default();
        let reach = self.reach(&targets, now).await?;
        // The pages of this step, rendered before the unit of work.
        let mut pages = Vec::new();
        let mut paged = Vec::new();
        for (user, contacts) in &reach.users {
            let token = self.ack_token(&current.id, user.as_str(), now).await?;
            let mut view = self.view(&about, PageKind::Page, user.as_str(), now);
            view.escalation = Some(current.id.clone());
            view.step = Some(position.step);
            view.round = Some(position.round);
            view.ack_url = Some(self.ack_url(&token));
            view.drill = view.drill || current.drill;
            for c in contacts {
                let key = format!(
                    "{}:{}:{}:{}",
                    current.id, position.round, position.step, c.id
                );
                pages.push(self.page_message(&view, c, key, current.id.clone(), now)?);
                paged.push(TimelineEvent::Paged {
                    escalation: current.id.clone(),
                    step: position.step,
                    round: position.round,
                    user: user.to_string(),
                    method: c.kind.to_string(),
                    contact: c.name.clone(),
                });
            }
        }
        // Telling the Incident Commander when nobody acknowledged.
        let commander = about
            .incident
            .as_ref()
            .and_then(|i| i.roles.get(firebreak_domain::config::COMMANDER).cloned());
        let mut exhausted_notices = Vec::new();
        if position.step as usize >= current.policy.steps.len()
            && let Some(ic) = &commander
            && let Ok(ic) = Name::parse(ic)
        {
            let mut view = self.view(&about, PageKind::Reminder, ic.as_str(), now);
            view.escalation = Some(current.id.clone());
            view.drill = view.drill || current.drill;
            view.reminder = Some(format!(
                "Nobody acknowledged {} after every step of policy {}",
                about
                    .incident
                    .as_ref()
                    .map(|i| i.number.to_string())
                    .unwrap_or_else(|| current.id.clone()),
                current.policy.name
            ));
            for c in self.store.contacts_of(&ic).await? {
                let key = format!("{}:exhausted:{}", current.id, c.id);
                exhausted_notices.push(self.page_message(
                    &view,
                    &c,
                    key,
                    current.id.clone(),
                    now,
                )?);
            }
        }
        let nobody = reach.nobody;
        let id = current.id.clone();
        self.write(pages.len() + 2, || {
            let (id, pages, paged, nobody, notices) = (
                id.clone(),
                pages.clone(),
                paged.clone(),
                nobody.clone(),
                exhausted_notices.clone(),
            );
            move |tx| {
                Box::pin(async move {
                    let Some(mut e) = tx.lock_escalation(&id).await? else {
                        return Ok(());
                    };
                    let mut events = Vec::new();
                    match e.fire(position, now) {
                        Fired::Nothing => return Ok(()),
                        Fired::Page { next, next_at, .. } => {
                            tx.enqueue(pages).await?;
                            tx.enqueue(vec![timer(&e, next, next_at, now)?]).await?;
                            events.extend(paged);
                            events.extend(nobody.into_iter().map(|(target, reason)| {
                                TimelineEvent::NobodyPaged {
                                    escalation: e.id.clone(),
                                    step: position.step,
                                    round: position.round,
                                    target,
                                    reason,
                                }
                            }));
                        }
                        Fired::Exhausted => {
                            tx.enqueue(notices).await?;
                            events.push(TimelineEvent::EscalationExhausted {
                                escalation: e.id.clone(),
                                policy: e.policy.name.to_string(),
                            });
                        }
                    }
                    tx.save_escalation(&e).await?;
                    if let Some(number) = e.incident
                        && !events.is_empty()
                    {
                        tx.append_timeline(
                            number,
                            events.into_iter().map(|ev| draft(now, ev)).collect(),
                        )
                        .await?;
                    }
                    Ok(())
                })
            }
        })
        .await?;
        Ok(())
    }

    /// Escalations of an alert, an incident, or either, with their pages.
    pub async fn escalations(
        &self,
        alert: Option<i64>,
        incident: Option<IncidentNumber>,
    ) -> Result<Vec<EscalationView>, EngineError> {
        if let Some(n) = incident {
            self.incident(n).await?;
        }
        if let Some(id) = alert
            && self.store.get_alert(id).await?.is_none()
        {
            return Err(EngineError::NotFound(format!("there is no alert {id}")));
        }
        let list = self
            .store
            .list_escalations(EscalationFilter {
                alert,
                incident,
                open_only: false,
            })
            .await?;
        let mut out = Vec::with_capacity(list.len());
        for escalation in list {
            let messages = self
                .store
                .list_messages(PAGE, &escalation.id, None, 500)
                .await?;
            let mut notifications: Vec<NotificationView> = messages
                .items
                .into_iter()
                .filter_map(|m| {
                    let p: PagePayload = serde_json::from_str(&m.payload).ok()?;
                    let step = m
                        .idempotency_key
                        .rsplit(':')
                        .nth(1)
                        .and_then(|s| s.parse().ok());
                    Some(NotificationView {
                        id: m.id,
                        user: p.user,
                        method: p.method,
                        contact: p.contact_name,
                        status: match m.status {
                            MessageStatus::Pending => "pending",
                            MessageStatus::Sending => "sending",
                            MessageStatus::Delivered => "delivered",
                            MessageStatus::Failed | MessageStatus::Dead => "failed",
                        },
                        attempts: m.attempts,
                        last_error: m.last_error,
                        delivered_at: (m.status == MessageStatus::Delivered)
                            .then_some(m.finished_at)
                            .flatten(),
                        step,
                    })
                })
                .collect();
            notifications.sort_by_key(|n| n.id);
            out.push(EscalationView {
                escalation,
                notifications,
            });
        }
        Ok(out)
    }
}

/// The escalations declaring an incident starts, inside its unit of work: the policy of each
/// of its services for `on-call`, and each service's manager directly for `manager`. `page`
/// overrides the severity: `Some(false)` pages nobody, `Some(true)` pages on-call even for a
/// severity that normally does not page.
pub(crate) async fn page_declared(
    tx: &mut (dyn Tx + '_),
    incident: &Incident,
    config: &firebreak_domain::Config,
    index: &super::PagingIndex,
    page: Option<bool>,
    now: Timestamp,
) -> StoreResult<()> {
    use firebreak_domain::config::PageTarget;
    let mut targets: Vec<PageTarget> = config
        .severity(&incident.severity)
        .map(|s| s.page.clone())
        .unwrap_or_default();
    match page {
        Some(false) => return Ok(()),
        Some(true) if targets.is_empty() => targets.push(PageTarget::OnCall),
        _ => {}
    }
    let mut policies: Vec<Policy> = Vec::new();
    for service in &incident.services {
        if targets.contains(&PageTarget::OnCall)
            && let Some(p) = index.policy_for(service, config.paging.default_policy.as_ref())
            && !policies.iter().any(|q| q.name == p.name)
        {
            policies.push(p.clone());
        }
        if targets.contains(&PageTarget::Manager)
            && let Some(manager) = index.manager_of(service)
        {
            let direct = Policy::new(
                Name::parse("manager").expect("a valid name"),
                0,
                vec![firebreak_domain::escalation::Step {
                    delay: MANAGER_WAIT,
                    targets: vec![Target::User(manager.clone())],
                }],
            )
            .map_err(StoreError::backend)?;
            if !policies.contains(&direct) {
                policies.push(direct);
            }
        }
    }
    for policy in &policies {
        start_in(tx, policy, None, Some(incident.number), incident.drill, now).await?;
    }
    Ok(())
}

/// How long a manager paged at declare has before that escalation counts as exhausted.
const MANAGER_WAIT: SignedDuration = SignedDuration::from_mins(30);

impl Firebreak {
    /// Acknowledges an incident: its escalations stop paging and `acknowledged_at` is set by
    /// the first acknowledgement. Acknowledging again changes nothing.
    pub async fn acknowledge_incident(
        &self,
        who: &crate::Principal,
        number: IncidentNumber,
        via: &str,
    ) -> Result<Incident, EngineError> {
        let now = self.clock.now();
        let by = who.actor.0.clone();
        let via = via.to_string();
        let audit = self.audit(who, "incident.acknowledge", number.to_string());
        self.write(2, || {
            let (by, via, audit) = (by.clone(), via.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    let Some(mut incident) = tx.lock_incident(number).await? else {
                        return Err(StoreError::NotFound);
                    };
                    let filter = EscalationFilter {
                        incident: Some(number),
                        ..Default::default()
                    };
                    let acked = acknowledge_in(tx, filter, &by, &via, now).await?;
                    if incident.acknowledge(now) {
                        let mut events = if acked.is_empty() {
                            vec![TimelineDraft {
                                at: now,
                                actor: by.clone(),
                                event: TimelineEvent::Acknowledged {
                                    escalation: None,
                                    by: by.clone(),
                                    via: via.clone(),
                                },
                            }]
                        } else {
                            vec![]
                        };
                        let ticks = incident.tick_known(false, now);
                        events.extend(ticks.into_iter().map(|e| draft(now, e)));
                        tx.update_incident(&incident, events).await?;
                    }
                    if !acked.is_empty() || incident.acknowledged_at == Some(now) {
                        tx.audit(audit).await?;
                    }
                    Ok(())
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => EngineError::NotFound(format!("there is no incident {number}")),
            other => other.into(),
        })?;
        self.incident(number).await
    }

    /// What an acknowledge link is about, for the page that shows its button.
    pub async fn ack_link_target(
        &self,
        token: &str,
    ) -> Result<(super::AckLink, Escalation), EngineError> {
        let claim = self.read_ack_token(token).await?;
        let escalation = self
            .store
            .get_escalation(&claim.escalation)
            .await?
            .ok_or_else(|| {
                EngineError::NotFound("this acknowledge link's escalation is gone".into())
            })?;
        Ok((claim, escalation))
    }

    /// Acknowledges through a signed link (its POST): as the user the link was made for.
    pub async fn acknowledge_by_link(&self, token: &str) -> Result<Escalation, EngineError> {
        let (claim, escalation) = self.ack_link_target(token).await?;
        let now = self.clock.now();
        let by = claim.user.clone();
        let id = escalation.id.clone();
        self.write(3, || {
            let (by, id) = (by.clone(), id.clone());
            move |tx| {
                Box::pin(async move {
                    let Some(e) = tx.lock_escalation(&id).await? else {
                        return Err(StoreError::NotFound);
                    };
                    if let Some(alert_id) = e.alert
                        && let Some(alert) = tx.lock_alert(alert_id).await?
                        && let firebreak_domain::Applied::Acknowledged(a) =
                            alert.act(firebreak_domain::AlertAction::Acknowledge, &by, now)
                    {
                        tx.update_alert(&a).await?;
                    }
                    let filter = EscalationFilter {
                        alert: e.alert,
                        incident: e.incident,
                        open_only: false,
                    };
                    acknowledge_in(tx, filter, &by, "link", now).await?;
                    if let Some(number) = e.incident {
                        note_incident_ack(tx, number, now).await?;
                    }
                    tx.audit(firebreak_store::AuditDraft {
                        actor: by.clone(),
                        action: "escalation.acknowledge".into(),
                        target: id.clone(),
                        at: now,
                        source: Some("link".into()),
                    })
                    .await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                EngineError::NotFound("this acknowledge link's escalation is gone".into())
            }
            other => other.into(),
        })?;
        self.store
            .get_escalation(&escalation.id)
            .await?
            .ok_or_else(|| {
                EngineError::NotFound("this acknowledge link's escalation is gone".into())
            })
    }
}
