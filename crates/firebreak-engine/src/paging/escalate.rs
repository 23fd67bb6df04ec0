//! Escalations: starting one inside the unit of work that causes it, firing its timers,
//! acknowledging and resolving, and listing them with their notifications.

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
use super::{ESCALATION, PAGE, Pager, Paging, PagingIndex, Reach, links};
use crate::{EngineError, Firebreak, time_ordered_id};

/// A timer is never dropped for being late: it fires whenever it is claimed.
/// The most active escalations a home page reads.
pub const WAITING_LIMIT: u32 = 500;

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

/// A new escalation with what its unit of work must write: the row, its messages (the first
/// step's pages and the next timer, or a timer due now) and its incident's timeline entries.
pub(crate) struct Started {
    pub escalation: Escalation,
    pub messages: Vec<NewMessage>,
    pub events: Vec<TimelineEvent>,
}

/// Works out a new escalation of `policy` about what `about` holds (the alert or incident that
/// caused it), with no reads. With a [`Pager`] its first step fires at once: the step's pages
/// and the next timer are among its messages, so they commit with the caller's change and are
/// queued when the caller answers. Without one, a timer due now fires the first step from the
/// outbox.
pub(crate) fn plan_start(
    policy: &Policy,
    about: &About,
    drill: bool,
    pager: Option<&Pager>,
    now: Timestamp,
) -> StoreResult<Started> {
    let id = time_ordered_id("esc", now).map_err(|e| StoreError::backend(e.to_string()))?;
    let alert = about.alert.as_ref().map(|a| a.id);
    let incident = about.incident.as_ref().map(|i| i.number);
    let mut e = Escalation::start(id, policy.clone(), alert, incident, drill, now);
    let mut events = vec![TimelineEvent::EscalationStarted {
        escalation: e.id.clone(),
        policy: policy.name.to_string(),
        alert,
    }];
    let first = Position { round: 0, step: 0 };
    let messages = match pager {
        Some(pager) => {
            let before = e.clone();
            let Fired::Page {
                targets,
                next,
                next_at,
                ..
            } = e.fire(first, now)
            else {
                return Err(StoreError::backend(
                    "a new escalation did not fire its first step",
                ));
            };
            let reach = pager.index.reach(&targets, now);
            let step = step_pages(&pager.paging, &pager.key, &before, first, about, reach, now)
                .map_err(|e| StoreError::backend(e.to_string()))?;
            events.extend(step.events);
            let mut messages = step.pages;
            messages.push(timer(&e, next, next_at, now)?);
            messages
        }
        None => vec![timer(&e, first, now, now)?],
    };
    Ok(Started {
        escalation: e,
        messages,
        events,
    })
}

/// Starts an escalation inside a unit of work ([`plan_start`], then its writes).
pub(crate) async fn start_in(
    tx: &mut (dyn Tx + '_),
    policy: &Policy,
    about: &About,
    drill: bool,
    pager: Option<&Pager>,
    now: Timestamp,
) -> StoreResult<Escalation> {
    let started = plan_start(policy, about, drill, pager, now)?;
    tx.create_escalation(&started.escalation).await?;
    tx.enqueue(started.messages).await?;
    if let Some(number) = started.escalation.incident {
        tx.append_timeline(
            number,
            started
                .events
                .into_iter()
                .map(|ev| draft(now, ev))
                .collect(),
        )
        .await?;
    }
    Ok(started.escalation)
}

/// The pages of one step and their timeline entries.
pub(crate) struct StepPages {
    pub pages: Vec<NewMessage>,
    pub events: Vec<TimelineEvent>,
}

/// Renders the pages of step `position` of `e` (as it was before the step fired) for everyone
/// `reach` found, one per contact method, and says on the timeline who was paged and who could
/// not be.
pub(crate) fn step_pages(
    paging: &Paging,
    key: &[u8],
    e: &Escalation,
    position: Position,
    about: &About,
    reach: Reach,
    now: Timestamp,
) -> Result<StepPages, EngineError> {
    let mut pages = Vec::new();
    let mut events = Vec::new();
    for (user, contacts) in &reach.users {
        let token = links::sign(key, paging, &e.id, user.as_str(), now);
        let mut view = paging.view(about, PageKind::Page, user.as_str(), now);
        view.escalation = Some(e.id.clone());
        view.step = Some(position.step);
        view.round = Some(position.round);
        view.ack_url = Some(paging.ack_url(&token));
        view.drill = view.drill || e.drill;
        for c in contacts {
            let key = format!("{}:{}:{}:{}", e.id, position.round, position.step, c.id);
            pages.push(paging.page_message(&view, c, key, e.id.clone(), now)?);
            events.push(TimelineEvent::Paged {
                escalation: e.id.clone(),
                step: position.step,
                round: position.round,
                user: user.to_string(),
                method: c.kind.to_string(),
                contact: c.name.clone(),
            });
        }
    }
    events.extend(
        reach
            .nobody
            .into_iter()
            .map(|(target, reason)| TimelineEvent::NobodyPaged {
                escalation: e.id.clone(),
                step: position.step,
                round: position.round,
                target,
                reason,
            }),
    );
    Ok(StepPages { pages, events })
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

/// Acknowledges incident `number` inside a unit of work, as `POST /incidents/{id}/ack` does:
/// every escalation of the incident still paging stops (each with its `acknowledged` entry),
/// the first acknowledgement sets `acknowledged_at` (with one `acknowledged` entry when no
/// escalation was paging) and Firebreak ticks what that completes. Locks the incident before
/// its escalations.
///
/// With `first_only`, an incident that was already acknowledged is left as it is: what an
/// alert's acknowledgement (or a page's link) does to the incident it belongs to. Its first
/// acknowledgement thus never leaves the incident counted as acknowledged while people are
/// still paged for it. `None` when there is no such incident; else whether anything changed.
pub(crate) async fn acknowledge_incident_in(
    tx: &mut (dyn Tx + '_),
    number: IncidentNumber,
    by: &str,
    via: &str,
    first_only: bool,
    now: Timestamp,
) -> StoreResult<Option<bool>> {
    let Some(mut incident) = tx.lock_incident(number).await? else {
        return Ok(None);
    };
    if first_only && incident.acknowledged_at.is_some() {
        return Ok(Some(false));
    }
    let filter = EscalationFilter {
        incident: Some(number),
        ..Default::default()
    };
    let acked = acknowledge_in(tx, filter, by, via, now).await?;
    if incident.acknowledge(now) {
        let mut events = if acked.is_empty() {
            vec![TimelineDraft {
                at: now,
                actor: by.to_string(),
                event: TimelineEvent::Acknowledged {
                    escalation: None,
                    by: by.to_string(),
                    via: via.to_string(),
                },
            }]
        } else {
            vec![]
        };
        let ticks = incident.tick_known(false, now);
        events.extend(ticks.into_iter().map(|e| draft(now, e)));
        tx.update_incident(&incident, events).await?;
    }
    Ok(Some(
        !acked.is_empty() || incident.acknowledged_at == Some(now),
    ))
}

/// Ends the escalations that match (what they were about resolved), inside a unit of work.
pub(crate) async fn resolve_in(
    tx: &mut (dyn Tx + '_),
    filter: EscalationFilter,
    now: Timestamp,
) -> StoreResult<()> {
    for mut e in tx.lock_escalations(filter).await? {
        if e.resolve(now) {
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

/// What a page is about, for its body.
#[derive(Clone)]
pub(crate) struct About {
    pub incident: Option<Incident>,
    pub alert: Option<Alert>,
    pub runbook: Option<String>,
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

    /// A new alert, with its incident if it has one; the runbook is its service's.
    pub(crate) fn of_alert(alert: Alert, incident: Option<Incident>, index: &PagingIndex) -> About {
        About {
            runbook: index.runbook_of(&alert.service).map(str::to_string),
            incident,
            alert: Some(alert),
        }
    }

    /// A declared incident; the runbook is its first service's.
    pub(crate) fn of_declared(incident: &Incident, index: &PagingIndex) -> About {
        About {
            runbook: incident
                .services
                .first()
                .and_then(|s| index.runbook_of(s))
                .map(str::to_string),
            incident: Some(incident.clone()),
            alert: None,
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

impl Paging {
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
                url: Some(crate::incident_page_url(&self.public_url, i.number)),
            }),
            alert: about.alert.as_ref().map(|a| AlertRef {
                id: a.id,
                summary: a.summary.clone(),
                severity: a.severity.to_string(),
                service: a.service.to_string(),
                // A person lands on a web page: the alert's incident, else the alerts list
                // (the API's JSON answers a phone with 401).
                url: Some(
                    match about.incident.as_ref().map(|i| i.number).or(a.incident) {
                        Some(n) => crate::incident_page_url(&self.public_url, n),
                        None => format!("{}/alerts", self.public_url),
                    },
                ),
            }),
            ack_url: None,
            runbook_url: about.runbook.clone(),
            drill: about.incident.as_ref().is_some_and(|i| i.drill)
                || about.alert.as_ref().is_some_and(|a| a.drill),
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
            deadline_at: now + self.retry.give_up_after,
            created_at: now,
            priority: Priority::Page,
        })
    }
}

impl Firebreak {
    async fn about(&self, e: &Escalation) -> Result<About, EngineError> {
        let incident = match e.incident {
            Some(n) => self.store.get_incident(n).await?,
            None => None,
        };
        let alert = match e.alert {
            Some(id) => self.store.get_alert(id).await?,
            None => None,
        };
        let index = self.paging.index();
        Ok(match alert {
            Some(alert) => About::of_alert(alert, incident, &index),
            None => match incident {
                Some(incident) => About::of_declared(&incident, &index),
                None => About::nothing(),
            },
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
        let about = self.about(&current).await?;
        let key = self.ack_key().await?;
        let index = self.paging.index();
        let targets = current
            .policy
            .steps
            .get(position.step as usize)
            .map(|s| s.targets.clone())
            .unwrap_or_default();
        let reach = index.reach(&targets, now);
        // The pages of this step, rendered before the unit of work.
        let step = step_pages(&self.paging, &key, &current, position, &about, reach, now)?;
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
            let mut view = self
                .paging
                .view(&about, PageKind::Reminder, ic.as_str(), now);
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
            for c in index.contacts_of(&ic) {
                let key = format!("{}:exhausted:{}", current.id, c.id);
                exhausted_notices.push(self.paging.page_message(
                    &view,
                    c,
                    key,
                    current.id.clone(),
                    now,
                )?);
            }
        }
        let StepPages { pages, events } = step;
        let id = current.id.clone();
        // Says when the step that fired was due, for the lateness metric; `None` if it did not.
        let fired = self.write(pages.len() + 2, || {
            let (id, pages, paged, notices) = (
                id.clone(),
                pages.clone(),
                events.clone(),
                exhausted_notices.clone(),
            );
            move |tx| {
                Box::pin(async move {
                    let Some(mut e) = tx.lock_escalation(&id).await? else {
                        return Ok(None);
                    };
                    let due = e.next_at;
                    let mut events = Vec::new();
                    match e.fire(position, now) {
                        Fired::Nothing => return Ok(None),
                        Fired::Page { next, next_at, .. } => {
                            let mut messages = pages;
                            messages.push(timer(&e, next, next_at, now)?);
                            tx.enqueue(messages).await?;
                            events.extend(paged);
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
                    Ok(Some(due.unwrap_or(now)))
                })
            }
        });
        if let Some(due) = fired.await? {
            crate::metrics::timer_fired(due, now);
        }
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
        self.escalation_views(EscalationFilter {
            alert,
            incident,
            open_only: false,
        })
        .await
    }

    /// The open escalations that paged `user` and wait for someone to acknowledge: what a
    /// person's home page puts first. Read from the active escalations alone (at most
    /// [`WAITING_LIMIT`], oldest first), whatever else is open.
    pub async fn waiting_for(&self, user: &str) -> Result<Vec<EscalationView>, EngineError> {
        let active = self.store.active_escalations(WAITING_LIMIT).await?;
        Ok(self
            .views_of(active)
            .await?
            .into_iter()
            .filter(|e| e.notifications.iter().any(|n| n.user == user))
            .collect())
    }

    async fn escalation_views(
        &self,
        filter: EscalationFilter,
    ) -> Result<Vec<EscalationView>, EngineError> {
        let list = self.store.list_escalations(filter).await?;
        self.views_of(list).await
    }

    /// Each escalation with the pages it sent, read in one go for all of them.
    async fn views_of(&self, list: Vec<Escalation>) -> Result<Vec<EscalationView>, EngineError> {
        let subjects: Vec<String> = list.iter().map(|e| e.id.clone()).collect();
        let mut pages_of: std::collections::HashMap<String, Vec<firebreak_store::Message>> =
            std::collections::HashMap::new();
        for m in self.store.messages_about(PAGE, &subjects).await? {
            pages_of.entry(m.subject.clone()).or_default().push(m);
        }
        let mut out = Vec::with_capacity(list.len());
        for escalation in list {
            let messages = pages_of.remove(&escalation.id).unwrap_or_default();
            let mut notifications: Vec<NotificationView> = messages
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
    pager: Option<&Pager>,
    page: Option<bool>,
    now: Timestamp,
) -> StoreResult<()> {
    let policies = declared_policies(incident, config, index, page)?;
    let about = About::of_declared(incident, index);
    for policy in &policies {
        start_in(tx, policy, &about, incident.drill, pager, now).await?;
    }
    Ok(())
}

/// The escalations declaring `incident` starts: its severity's `page` list (or the declare's
/// `page` override) over its services' policies and managers. Empty when the declare pages
/// nobody.
pub(crate) fn declared_policies(
    incident: &Incident,
    config: &firebreak_domain::Config,
    index: &super::PagingIndex,
    page: Option<bool>,
) -> StoreResult<Vec<Policy>> {
    use firebreak_domain::config::PageTarget;
    let mut targets: Vec<PageTarget> = config
        .severity(&incident.severity)
        .map(|s| s.page.clone())
        .unwrap_or_default();
    match page {
        Some(false) => return Ok(vec![]),
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
    Ok(policies)
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
                    let Some(changed) =
                        acknowledge_incident_in(tx, number, &by, &via, false, now).await?
                    else {
                        return Err(StoreError::NotFound);
                    };
                    if changed {
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

    /// What an acknowledge link is about, for the page that shows its button. Refused when the
    /// link has expired (`Conflict`), or when the user it was made for is disabled
    /// (`Forbidden`): disabling someone stops their links at once, as it does their tokens and
    /// sessions.
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
        let instead = match (escalation.incident, escalation.alert) {
            (Some(n), _) => format!("`firebreak incident ack {n}`"),
            (None, Some(a)) => format!("`firebreak alert ack {a}`"),
            (None, None) => "the API".to_string(),
        };
        if claim.expired(self.clock.now()) {
            return Err(EngineError::Conflict(format!(
                "this acknowledge link has expired; acknowledge from the newest page, or with {instead}"
            )));
        }
        let user = match Name::parse(&claim.user) {
            Ok(handle) => self.store.get_user(&handle).await?,
            Err(_) => None,
        };
        match user {
            Some(u) if u.disabled_at.is_none() => {}
            Some(_) => {
                return Err(EngineError::Forbidden(format!(
                    "this acknowledge link was made for {}, who is disabled, so it no longer acknowledges; someone on call can acknowledge from their own page, or with {instead}",
                    claim.user
                )));
            }
            None => {
                return Err(EngineError::NotFound(format!(
                    "this acknowledge link was made for {}, who is not a user; acknowledge from the newest page, or with {instead}",
                    claim.user
                )));
            }
        }
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
                    if let Some(number) = e.incident {
                        acknowledge_incident_in(tx, number, &by, "link", true, now).await?;
                    }
                    let filter = EscalationFilter {
                        alert: e.alert,
                        incident: e.incident,
                        open_only: false,
                    };
                    acknowledge_in(tx, filter, &by, "link", now).await?;
                    tx.audit(firebreak_store::AuditDraft {
                        actor: by.clone(),
                        action: "escalation.acknowledge".into(),
                        target: id.clone(),
                        at: now,
                        source: Some("link".into()),
                        break_glass: None,
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
