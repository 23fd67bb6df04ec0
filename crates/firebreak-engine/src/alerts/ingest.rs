//! The ingest pipeline: a sender's request is stored in one unit of work, which it shares with
//! the requests that arrived beside it (see `coalesce`).
//!
//! Each event is routed and checked for suppression from the in-memory index first. Then, in
//! one transaction: triggers are stored by one upsert per run of distinct keys (a new key opens
//! an alert, an open key repeats it), new alerts are grouped (attached to their service's open
//! incident, or declaring one by rule), acknowledges and resolves are applied to the open alert
//! of their key, and the events subscribers asked for are enqueued. The sender is answered
//! after the commit: accepted means stored, and every webhook it causes will be sent.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use firebreak_domain::Urgency;
use firebreak_domain::escalation::Policy;
use firebreak_domain::rules::{self, GroupDecision, Grouping, OpenIncident, Routed};
use firebreak_domain::{
    Actor, Alert, AlertAction, AlertEvent, AlertStatus, Applied, Config, Destination, Incident,
    IncidentNumber, Name, TimelineEvent,
};
use firebreak_store::{
    AuditDraft, EscalationFilter, IngestEffect, IngestOutcome, IngestRequest, NewMessage,
    Result as StoreResult, StoreError, TimelineDraft, Tx,
};
use jiff::Timestamp;
use serde_json::json;

use super::Sender;
use crate::events::{Emitter, EventType};
use crate::paging::PagingIndex;
use crate::paging::escalate;
use crate::{EngineError, Firebreak, Principal};

/// A sender's request id to keep with what the request did, so the sender can look it up
/// (Opsgenie's `GET /v2/alerts/requests/{requestId}`).
#[derive(Debug, Clone)]
pub struct RequestNote {
    pub id: String,
    /// `Create`, `Acknowledge` or `Close`.
    pub action: String,
    pub alias: Option<String>,
    /// The alert an acknowledge or close names, when it exists, as it stood before the
    /// request: if the request then changes nothing, the status says why (already closed,
    /// already acknowledged) instead of "does not exist".
    pub known: Option<(i64, firebreak_domain::AlertStatus)>,
}

/// One event, routed, ready for the unit of work.
pub(crate) struct Planned {
    event: AlertEvent,
    dedup_key: String,
    to: Destination,
    grouping: Arc<Grouping>,
    /// What the event shares with the rest of its request.
    cx: Arc<Context>,
}

/// What every event of one request shares inside the unit of work.
pub(super) struct Context {
    config: Arc<Config>,
    actor: String,
    now: Timestamp,
    emitter: Emitter,
    /// Which policy pages for which service.
    paging: Arc<PagingIndex>,
    /// What queues a new escalation's first pages in this unit of work.
    pager: Option<crate::paging::Pager>,
}

impl Context {
    /// The policy a new alert on `service` starts, if it pages at all.
    fn policy_for(&self, alert: &Alert) -> Option<&Policy> {
        if alert.urgency != Urgency::High || alert.status == AlertStatus::Suppressed {
            return None;
        }
        self.paging
            .policy_for(&alert.service, self.config.paging.default_policy.as_ref())
    }
}

impl Firebreak {
    /// Routes, suppresses and stores `events` from `sender` in one unit of work. Returns one
    /// outcome per event, in order, after the commit.
    pub async fn ingest(
        &self,
        sender: &Sender,
        events: Vec<AlertEvent>,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        self.ingest_noting(sender, events, None).await
    }

    /// Like [`Firebreak::ingest`], keeping `note` with the outcome of the request's first event.
    /// Every event is counted in the ingest metric by what it did.
    pub async fn ingest_noting(
        &self,
        sender: &Sender,
        events: Vec<AlertEvent>,
        note: Option<RequestNote>,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        let (source, count) = (sender_kind(&events), events.len() as u64);
        let result = self.ingest_events(sender, events, note).await;
        crate::metrics::ingested(source, count, &result);
        result
    }

    async fn ingest_events(
        &self,
        sender: &Sender,
        events: Vec<AlertEvent>,
        note: Option<RequestNote>,
    ) -> Result<Vec<IngestOutcome>, EngineError> {
        let now = self.clock.now();
        let (mut outcomes, planned) = self.plan(sender, events, now).await?;
        if planned.is_empty() && note.is_none() {
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let first_dropped = outcomes.first().cloned().flatten();
        let note = note.map(|note| Noted {
            note,
            integration: sender.integration.clone(),
            first_dropped,
            now,
        });
        let stored = self.coalesce(planned, note).await?;
        let mut stored = stored.into_iter();
        for slot in outcomes.iter_mut().filter(|o| o.is_none()) {
            *slot = stored.next();
        }
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Routes each event and checks it for suppression, from the in-memory index: the
    /// outcome of each event a routing rule dropped (`None` for the others, in order), and the
    /// events to store.
    pub(crate) async fn plan(
        &self,
        sender: &Sender,
        events: Vec<AlertEvent>,
        now: Timestamp,
    ) -> Result<(Vec<Option<IngestOutcome>>, Vec<Planned>), EngineError> {
        let index = self.alerts.current();
        let pager = self.pager().await;
        let cx = Arc::new(Context {
            config: self.config.clone(),
            actor: format!("{}:{}", sender_kind(&events), sender.name),
            now,
            emitter: self.events.emitter(now),
            paging: pager
                .as_ref()
                .map(|p| p.index.clone())
                .unwrap_or_else(|| self.paging.index()),
            pager,
        });
        let mut outcomes: Vec<Option<IngestOutcome>> = Vec::with_capacity(events.len());
        let mut planned = Vec::with_capacity(events.len());
        let mut groupings: HashMap<Name, Arc<Grouping>> = HashMap::new();
        for mut event in events {
            let dedup_key = match &event.dedup_key {
                Some(k) => sender.drill.dedup_key(k),
                None => sender
                    .drill
                    .dedup_key(&hex::encode(crate::random_bytes::<16>()?)),
            };
            match rules::route(&mut event, &sender.service, &index.routes) {
                Routed::Dropped(rule) => {
                    tracing::debug!(rule, integration = %sender.integration, "routing rule dropped an alert");
                    outcomes.push(Some(IngestOutcome {
                        dedup_key,
                        effect: IngestEffect::Dropped,
                        alert: None,
                        incident: None,
                    }));
                }
                Routed::To(service) => {
                    let suppressed =
                        rules::suppression(&event, &service, &index.silences, &index.windows, now);
                    let grouping = groupings
                        .entry(service.clone())
                        .or_insert_with(|| {
                            Arc::new(
                                self.config
                                    .service(&service)
                                    .map(|s| s.grouping.clone())
                                    .unwrap_or_default(),
                            )
                        })
                        .clone();
                    outcomes.push(None);
                    planned.push(Planned {
                        event,
                        dedup_key,
                        to: Destination {
                            integration: sender.integration.clone(),
                            service,
                            suppressed,
                            drill: sender.drill,
                        },
                        grouping,
                        cx: cx.clone(),
                    });
                }
            }
        }
        Ok((outcomes, planned))
    }

    /// A person acknowledges or resolves an alert. Doing what is already done changes nothing.
    pub async fn act_on_alert(
        &self,
        who: &Principal,
        id: i64,
        action: AlertAction,
    ) -> Result<Alert, EngineError> {
        let now = self.clock.now();
        let actor = who.actor.0.clone();
        let audit = self.audit(who, &format!("alert.{action}"), format!("alert/{id}"));
        let emitter = self.events.emitter(now);
        self.write(1, || {
            let (actor, audit, emitter) = (actor.clone(), audit.clone(), emitter.clone());
            move |tx| {
                Box::pin(async move {
                    let alert = tx.lock_alert(id).await?.ok_or(StoreError::NotFound)?;
                    match alert.act(action, &actor, now) {
                        Applied::Acknowledged(a) => {
                            tx.update_alert(&a).await?;
                            alert_acknowledged(tx, &a, &actor, "api", now).await?;
                            tx.audit(audit).await?;
                            emit_alert(tx, &emitter, EventType::AlertAcknowledged, &a).await
                        }
                        Applied::Resolved(a) => {
                            tx.update_alert(&a).await?;
                            note_resolution(tx, &a, &actor, now).await?;
                            alert_resolved(tx, &a, now).await?;
                            tx.audit(audit).await?;
                            emit_alert(tx, &emitter, EventType::AlertResolved, &a).await
                        }
                        _ => Ok(()),
                    }
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => EngineError::NotFound(format!("there is no alert {id}")),
            other => other.into(),
        })?;
        self.alert(id).await
    }
}

/// A request whose id the sender may look up later, with what is needed to record it.
pub(super) struct Noted {
    note: RequestNote,
    integration: String,
    /// The request's first event, when a routing rule dropped it (it is not in the unit).
    first_dropped: Option<IngestOutcome>,
    now: Timestamp,
}

impl Noted {
    /// Records what the request did, from the outcomes of its stored events.
    pub(super) async fn record(
        &self,
        tx: &mut (dyn Tx + '_),
        stored: &[IngestOutcome],
    ) -> StoreResult<()> {
        let first = stored.first().or(self.first_dropped.as_ref());
        tx.record_request(&request_record(
            self.note.clone(),
            &self.integration,
            first,
            self.now,
        ))
        .await
    }
}

/// What Opsgenie says about a request, from what its first event did.
fn request_record(
    note: RequestNote,
    integration: &str,
    first: Option<&IngestOutcome>,
    now: Timestamp,
) -> IngestRequest {
    let effect = first.map(|o| o.effect);
    use firebreak_domain::AlertStatus;
    // The alert named exists, and the request changed nothing about it.
    let unchanged = note
        .known
        .filter(|_| matches!(effect, Some(IngestEffect::Ignored) | None));
    let closing = note.action == "Close";
    let (success, status) = match (effect, unchanged.map(|(_, s)| s)) {
        (_, Some(AlertStatus::Resolved)) if closing => (true, "Alert is already closed"),
        (_, Some(AlertStatus::Resolved)) => (
            false,
            "Alert is already closed; there is nothing to acknowledge",
        ),
        (_, Some(AlertStatus::Acknowledged)) if !closing => (true, "Alert is already acknowledged"),
        (_, Some(_)) => (false, "Alert is unchanged: it was silenced when it arrived"),
        (Some(IngestEffect::Ignored) | None, None) => (false, "Alert does not exist"),
        (Some(IngestEffect::Dropped), _) => (true, "Dropped by a routing rule"),
        (Some(IngestEffect::Repeated), _) => (true, "Alert already exists; count increased"),
        (Some(IngestEffect::Acknowledged), _) => (true, "Acknowledged"),
        (Some(IngestEffect::Resolved), _) => (true, "Closed"),
        (Some(IngestEffect::Suppressed), _) => (true, "Created alert (suppressed)"),
        (Some(_), _) => (true, "Created alert"),
    };
    IngestRequest {
        id: note.id,
        integration: integration.to_string(),
        action: note.action,
        success,
        status: status.to_string(),
        alert: first.and_then(|o| o.alert).or(unchanged.map(|(id, _)| id)),
        // The alias as the sender wrote it, with any NUL replaced as in every other sender
        // field: PostgreSQL cannot store NUL in text, and both stores must keep the same.
        alias: note.alias.map(|a| a.replace('\0', "\u{FFFD}")),
        at: now,
    }
}

/// Every event of one or more requests, in order, inside the unit of work.
pub(crate) async fn store_events(
    tx: &mut (dyn Tx + '_),
    planned: &[Planned],
) -> StoreResult<Vec<IngestOutcome>> {
    let mut out = Vec::with_capacity(planned.len());
    // The open incident of each service a new alert may join, read once per request.
    // Drills and real alerts are grouped apart: each looks for its own kind of incident.
    let mut open: OpenIncidents = HashMap::new();
    for drill in [false, true] {
        let services: Vec<Name> = planned
            .iter()
            .filter(|p| {
                p.event.action == AlertAction::Trigger
                    && p.to.suppressed.is_none()
                    && p.to.drill.is_drill() == drill
            })
            .map(|p| p.to.service.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if services.is_empty() {
            continue;
        }
        for facts in tx.open_incidents(&services, drill).await? {
            open.insert(
                (facts.service.clone(), drill),
                OpenIncident::from_facts(facts.number, facts.declared_at, facts.last_alert_seen),
            );
        }
    }
    // The alert.opened messages of new alerts, enqueued together: before anything that
    // emits events of its own, so the outbox keeps the order things happened in. The
    // escalations new alerts start, and their pages, are gathered the same way.
    let mut opened = Gathered::default();
    let mut i = 0;
    while i < planned.len() {
        if planned[i].event.action != AlertAction::Trigger {
            opened.flush(tx).await?;
            out.push(acknowledge_or_resolve(tx, &planned[i]).await?);
            i += 1;
            continue;
        }
        // A run of triggers with distinct keys goes to the store as one upsert. A run ends
        // after a trigger that may declare an incident, so the ones after it see that incident.
        // The alerts go to the store by value (it hands them back as stored), the rest stays.
        let mut run: Vec<(&Planned, GroupDecision)> = Vec::with_capacity(planned.len() - i);
        let mut alerts: Vec<Alert> = Vec::with_capacity(planned.len() - i);
        let mut keys = HashSet::new();
        while i < planned.len()
            && planned[i].event.action == AlertAction::Trigger
            && keys.insert(planned[i].dedup_key.as_str())
        {
            let item = &planned[i];
            let cx = &item.cx;
            i += 1;
            let Applied::Opened(mut alert) = Alert::apply(
                None,
                &item.event,
                &item.dedup_key,
                &item.to,
                &cx.actor,
                cx.now,
            ) else {
                continue;
            };
            let decision = if alert.status == AlertStatus::Suppressed {
                GroupDecision::Leave
            } else {
                let key = (alert.service.clone(), alert.drill);
                rules::group(&alert, open.get(&key), &item.grouping, cx.now)
            };
            if let GroupDecision::Attach(number) = decision {
                // Stored with the alert if it is new; a repeat keeps its own incident.
                alert.incident = Some(number);
            }
            let declares = matches!(decision, GroupDecision::Declare(_));
            run.push((item, decision));
            alerts.push(alert);
            if declares {
                break;
            }
        }
        let stored = tx.upsert_triggers(alerts).await?;
        for ((item, decision), upserted) in run.into_iter().zip(stored) {
            let cx = &item.cx;
            let mut alert = upserted.alert;
            let effect = if !upserted.opened {
                IngestEffect::Repeated
            } else if alert.status == AlertStatus::Suppressed {
                IngestEffect::Suppressed
            } else {
                let effect = match decision {
                    GroupDecision::Attach(number) => {
                        attach(tx, &mut alert, number, &cx.actor, cx.now, &mut open).await?
                    }
                    GroupDecision::Declare(new) => {
                        opened.flush(tx).await?;
                        declare(tx, &mut alert, new, cx, &mut open).await?
                    }
                    GroupDecision::Leave => IngestEffect::Opened,
                };
                page_for(tx, &alert, cx, &mut opened).await?;
                opened
                    .events
                    .extend(cx.emitter.render_json(EventType::AlertOpened, |r| {
                        format!("{{\"alert\":{}}}", r.alert_json(&alert))
                    })?);
                effect
            };
            out.push(IngestOutcome {
                dedup_key: item.dedup_key.clone(),
                effect,
                alert: Some(alert.id),
                incident: alert.incident,
            });
        }
    }
    opened.flush(tx).await?;
    Ok(out)
}

/// What a request's new alerts cause, written together: their `alert.opened` messages, and the
/// escalations they start with their pages and timers.
#[derive(Default)]
struct Gathered {
    events: Vec<NewMessage>,
    escalations: Vec<firebreak_domain::escalation::Escalation>,
    pages: Vec<NewMessage>,
}

impl Gathered {
    /// Writes what was gathered: the escalations in one insert, then the messages in another.
    async fn flush(&mut self, tx: &mut (dyn Tx + '_)) -> StoreResult<()> {
        if !self.escalations.is_empty() {
            tx.create_escalations(&std::mem::take(&mut self.escalations))
                .await?;
        }
        let mut messages = std::mem::take(&mut self.events);
        messages.append(&mut self.pages);
        if !messages.is_empty() {
            tx.enqueue(messages).await?;
        }
        Ok(())
    }
}

/// The open incident of each service, real or drill, as far as this unit of work has seen.
type OpenIncidents = HashMap<(Name, bool), OpenIncident>;

/// Records on the incident's timeline that a new alert joined it.
async fn attach(
    tx: &mut (dyn Tx + '_),
    alert: &mut Alert,
    number: IncidentNumber,
    actor: &str,
    now: Timestamp,
    open: &mut OpenIncidents,
) -> StoreResult<IngestEffect> {
    if alert.incident != Some(number) {
        alert.incident = Some(number);
        tx.update_alert(alert).await?;
    }
    tx.append_timeline(number, vec![attached(alert, actor, now)])
        .await?;
    open.insert(
        (alert.service.clone(), alert.drill),
        OpenIncident {
            number,
            last_activity: now,
        },
    );
    Ok(IngestEffect::Attached)
}

/// A rule says this new alert declares an incident. Only one unit of work at a time may
/// declare for a service: it locks the service's name, looks again, and attaches instead if
/// another declared first.
async fn declare(
    tx: &mut (dyn Tx + '_),
    alert: &mut Alert,
    new: firebreak_domain::NewIncident,
    cx: &Context,
    open: &mut OpenIncidents,
) -> StoreResult<IngestEffect> {
    let service = alert.service.clone();
    let lock = if alert.drill {
        format!("declare-drill:{service}")
    } else {
        format!("declare:{service}")
    };
    tx.lock_name(&lock).await?;
    if let Some(facts) = tx
        .open_incidents(std::slice::from_ref(&service), alert.drill)
        .await?
        .pop()
    {
        return attach(tx, alert, facts.number, &cx.actor, cx.now, open).await;
    }
    let system = Actor::system();
    let (incident, events) = match Incident::declare(new, &cx.config, &system, None, cx.now) {
        Ok(declared) => declared,
        Err(e) => {
            tracing::error!(error = %e, alert = alert.id, "a grouping rule could not declare an incident");
            return Ok(IngestEffect::Opened);
        }
    };
    let mut drafts: Vec<TimelineDraft> = crate::incidents::drafts(&system.0, cx.now, events);
    drafts.push(attached(alert, &system.0, cx.now));
    let incident = tx.create_incident(incident, drafts).await?;
    tx.audit(AuditDraft {
        actor: system.0.clone(),
        action: "incident.declare".into(),
        target: format!("{}: alert/{}", incident.number, alert.id),
        at: cx.now,
        source: Some(cx.actor.clone()),
        break_glass: None,
    })
    .await?;
    alert.incident = Some(incident.number);
    tx.update_alert(alert).await?;
    open.insert(
        (service, alert.drill),
        OpenIncident {
            number: incident.number,
            last_activity: cx.now,
        },
    );
    cx.emitter
        .emit(
            tx,
            EventType::IncidentDeclared,
            |r| json!({"incident": r.incident(&incident)}),
        )
        .await?;
    Ok(IngestEffect::Declared)
}

/// Starts the escalation a new alert causes: a high-urgency alert on a service with a policy,
/// unless its incident already has an active or acknowledged escalation.
/// One on its own alert is gathered; one joining an incident is written at once, after what
/// was gathered, so the next alert of that incident sees it.
async fn page_for(
    tx: &mut (dyn Tx + '_),
    alert: &Alert,
    cx: &Context,
    gathered: &mut Gathered,
) -> StoreResult<()> {
    let Some(policy) = cx.policy_for(alert) else {
        return Ok(());
    };
    let Some(number) = alert.incident else {
        let about = escalate::About::of_alert(alert.clone(), None, &cx.paging);
        let started = escalate::plan_start(policy, &about, alert.drill, cx.pager.as_ref(), cx.now)?;
        gathered.escalations.push(started.escalation);
        gathered.pages.extend(started.messages);
        return Ok(());
    };
    gathered.flush(tx).await?;
    // Two requests attaching alerts to one incident at once start one escalation between
    // them: the second waits here and then sees the first's. (A lock of its own, taken before
    // the escalations and the incident, in the order acknowledging takes those two.)
    tx.lock_name(&format!("escalate:{number}")).await?;
    if escalate::incident_is_escalating(tx, number).await? {
        return Ok(());
    }
    let incident = tx.lock_incident(number).await?;
    let about = escalate::About::of_alert(alert.clone(), incident, &cx.paging);
    let drill = alert.drill || about.incident.as_ref().is_some_and(|i| i.drill);
    escalate::start_in(tx, policy, &about, drill, cx.pager.as_ref(), cx.now).await?;
    Ok(())
}

/// An alert was acknowledged (by a person or its sender): its escalations stop. If it is its
/// incident's first acknowledgement, the incident is acknowledged, and every escalation still
/// paging for the incident stops with it.
pub(crate) async fn alert_acknowledged(
    tx: &mut (dyn Tx + '_),
    alert: &Alert,
    by: &str,
    via: &str,
    now: Timestamp,
) -> StoreResult<()> {
    if let Some(number) = alert.incident {
        escalate::acknowledge_incident_in(tx, number, by, via, true, now).await?;
    }
    let filter = EscalationFilter {
        alert: Some(alert.id),
        ..Default::default()
    };
    escalate::acknowledge_in(tx, filter, by, via, now).await?;
    Ok(())
}

/// An alert resolved: its escalations end.
pub(crate) async fn alert_resolved(
    tx: &mut (dyn Tx + '_),
    alert: &Alert,
    now: Timestamp,
) -> StoreResult<()> {
    let filter = EscalationFilter {
        alert: Some(alert.id),
        ..Default::default()
    };
    escalate::resolve_in(tx, filter, now).await
}

/// Keeps what Firebreak noted about an acknowledge or resolve event (a time it could not read,
/// and what it used instead) in the alert's details, as a trigger's note is: the event's other
/// details do not replace the alert's.
fn carry_note(alert: &mut Alert, event_details: &str) {
    let note_key = firebreak_domain::alert::NOTE_KEY;
    let Ok(serde_json::Value::Object(event)) = serde_json::from_str(event_details) else {
        return;
    };
    let Some(note) = event.get(note_key) else {
        return;
    };
    let mut details = match serde_json::from_str(&alert.details) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    details.insert(note_key.to_string(), note.clone());
    alert.details = serde_json::Value::Object(details).to_string();
}

async fn acknowledge_or_resolve(
    tx: &mut (dyn Tx + '_),
    item: &Planned,
) -> StoreResult<IngestOutcome> {
    let cx = &item.cx;
    let open = tx
        .lock_open_alert(&item.to.integration, &item.dedup_key)
        .await?;
    let outcome = |effect, alert: &Alert| IngestOutcome {
        dedup_key: item.dedup_key.clone(),
        effect,
        alert: Some(alert.id),
        incident: alert.incident,
    };
    match Alert::apply(
        open,
        &item.event,
        &item.dedup_key,
        &item.to,
        &cx.actor,
        cx.now,
    ) {
        Applied::Acknowledged(mut alert) => {
            carry_note(&mut alert, &item.event.details);
            tx.update_alert(&alert).await?;
            alert_acknowledged(tx, &alert, &cx.actor, item.event.format.as_str(), cx.now).await?;
            emit_alert(tx, &cx.emitter, EventType::AlertAcknowledged, &alert).await?;
            Ok(outcome(IngestEffect::Acknowledged, &alert))
        }
        Applied::Resolved(mut alert) => {
            carry_note(&mut alert, &item.event.details);
            tx.update_alert(&alert).await?;
            note_resolution(tx, &alert, &cx.actor, cx.now).await?;
            alert_resolved(tx, &alert, cx.now).await?;
            emit_alert(tx, &cx.emitter, EventType::AlertResolved, &alert).await?;
            Ok(outcome(IngestEffect::Resolved, &alert))
        }
        _ => Ok(IngestOutcome {
            dedup_key: item.dedup_key.clone(),
            effect: IngestEffect::Ignored,
            alert: None,
            incident: None,
        }),
    }
}

async fn emit_alert(
    tx: &mut (dyn Tx + '_),
    emitter: &Emitter,
    kind: EventType,
    alert: &Alert,
) -> StoreResult<()> {
    emitter
        .emit(tx, kind, |r| json!({"alert": r.alert(alert)}))
        .await
}

fn sender_kind(events: &[AlertEvent]) -> &'static str {
    events.first().map(|e| e.format.as_str()).unwrap_or("alert")
}

/// Records on the incident that one of its alerts resolved, and whether all now are.
async fn note_resolution(
    tx: &mut (dyn Tx + '_),
    alert: &Alert,
    actor: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let Some(number) = alert.incident else {
        return Ok(());
    };
    let open = tx.unresolved_alerts_of(number).await?;
    tx.append_timeline(
        number,
        vec![TimelineDraft {
            at: now,
            actor: actor.to_string(),
            event: TimelineEvent::AlertResolved {
                alert: alert.id,
                summary: alert.summary.clone(),
                all_resolved: open == 0,
            },
        }],
    )
    .await
    .map(|_| ())
}

fn attached(alert: &Alert, actor: &str, now: Timestamp) -> TimelineDraft {
    TimelineDraft {
        at: now,
        actor: actor.to_string(),
        event: TimelineEvent::AlertAttached {
            alert: alert.id,
            summary: alert.summary.clone(),
            severity: alert.severity.to_string(),
            service: alert.service.to_string(),
        },
    }
}
