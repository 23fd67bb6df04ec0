//! Outgoing events: what Firebreak tells the systems that subscribe to it (ticket trackers, chat
//! bots, data warehouses) when incidents, alerts and deploys change.
//!
//! An event is written in the same unit of work as the change that causes it: one outbox
//! message per subscription that wants its type, each carrying the exact body to send and the
//! event's id (the `webhook-id` a receiver dedups on). Bodies are written once, at enqueue, so
//! every retry sends the same bytes. The body is `{"type", "timestamp", "data": {...}}`, where
//! `data` holds the objects the event is about in the API's own shapes, written by an
//! [`EventRenderer`] the HTTP layer provides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use firebreak_domain::{Alert, Config, Incident};
use firebreak_store::{
    DeploymentRecord, NewMessage, Result as StoreResult, Subscription, TimelineEntry, Tx,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// The outbox kind of webhook deliveries.
pub const WEBHOOK: &str = "webhook";

/// The event types a subscription can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    IncidentDeclared,
    IncidentUpdated,
    IncidentResolved,
    IncidentNoteAdded,
    IncidentRoleAssigned,
    AlertOpened,
    AlertAcknowledged,
    AlertResolved,
    DeploymentRecorded,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::IncidentDeclared,
        EventType::IncidentUpdated,
        EventType::IncidentResolved,
        EventType::IncidentNoteAdded,
        EventType::IncidentRoleAssigned,
        EventType::AlertOpened,
        EventType::AlertAcknowledged,
        EventType::AlertResolved,
        EventType::DeploymentRecorded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::IncidentDeclared => "incident.declared",
            EventType::IncidentUpdated => "incident.updated",
            EventType::IncidentResolved => "incident.resolved",
            EventType::IncidentNoteAdded => "incident.note_added",
            EventType::IncidentRoleAssigned => "incident.role_assigned",
            EventType::AlertOpened => "alert.opened",
            EventType::AlertAcknowledged => "alert.acknowledged",
            EventType::AlertResolved => "alert.resolved",
            EventType::DeploymentRecorded => "deployment.recorded",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes the objects of an event body in the same shapes the API answers with.
pub trait EventRenderer: Send + Sync {
    fn incident(&self, incident: &Incident) -> Value;
    fn alert(&self, alert: &Alert) -> Value;
    /// The alert as JSON text, the same object as [`EventRenderer::alert`]. Every new alert
    /// renders one inside its unit of work, so a renderer should write the text directly,
    /// without building a [`Value`] first.
    fn alert_json(&self, alert: &Alert) -> String {
        self.alert(alert).to_string()
    }
    fn deployment(&self, deployment: &DeploymentRecord) -> Value;
    fn note(&self, entry: &TimelineEntry) -> Value;
}

/// A plain rendering for when no HTTP layer is attached (tests of the engine alone).
pub struct BasicRenderer;

impl EventRenderer for BasicRenderer {
    fn incident(&self, i: &Incident) -> Value {
        json!({"id": i.number.to_string(), "title": i.title, "severity": i.severity,
               "status": i.status.as_str()})
    }
    fn alert(&self, a: &Alert) -> Value {
        json!({"id": a.id, "dedup_key": a.dedup_key, "status": a.status.as_str(),
               "summary": a.summary, "service": a.service.as_str()})
    }
    fn deployment(&self, d: &DeploymentRecord) -> Value {
        json!({"id": d.id, "service": d.service.as_str(), "version": d.version, "drill": d.drill})
    }
    fn note(&self, e: &TimelineEntry) -> Value {
        json!({"seq": e.seq, "actor": e.actor})
    }
}

/// When deliveries are retried and given up, from `outbound.retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    pub first_delay: SignedDuration,
    pub max_delay: SignedDuration,
    pub give_up_after: SignedDuration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            first_delay: SignedDuration::from_secs(5),
            max_delay: SignedDuration::from_mins(10),
            give_up_after: SignedDuration::from_hours(24),
        }
    }
}

/// The subscriptions and how to write bodies, shared by every unit of work.
pub struct Events {
    pub(crate) renderer: Arc<dyn EventRenderer>,
    subscriptions: RwLock<Arc<Vec<Subscription>>>,
    pub retry: RetrySettings,
    /// Receivers resting after a slow failure, by subscription id: until when, and why.
    resting: Mutex<HashMap<String, (Timestamp, String)>>,
    /// Each subscription's share of the sending places, by subscription id.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// The most deliveries to one subscription sent at once: half the worker's sending places, so
/// a receiver that hangs leaves the other half to everyone else.
pub const PER_SUBSCRIPTION: usize = crate::delivery::IN_FLIGHT / 2;

impl Events {
    pub fn new(config: &Config) -> Events {
        let r = &config.outbound.retry;
        Events {
            renderer: Arc::new(BasicRenderer),
            subscriptions: RwLock::new(Arc::new(Vec::new())),
            retry: RetrySettings {
                first_delay: r.first_delay,
                max_delay: r.max_delay,
                give_up_after: r.give_up_after,
            },
            resting: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// The gate a delivery to `subscription` passes before it takes a sending place.
    pub(crate) fn gate(&self, subscription: &str) -> Arc<tokio::sync::Semaphore> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(subscription.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(PER_SUBSCRIPTION)))
            .clone()
    }

    /// Until when, and why, deliveries to `subscription` wait without being tried: its receiver
    /// failed slowly (it hung, or timed out) and another attempt would only hold a sending
    /// place for as long again. `None` once that time has come.
    pub(crate) fn resting(
        &self,
        subscription: &str,
        now: Timestamp,
    ) -> Option<(Timestamp, String)> {
        let resting = self.resting.lock().unwrap_or_else(|p| p.into_inner());
        resting
            .get(subscription)
            .filter(|(until, _)| *until > now)
            .cloned()
    }

    /// `subscription`'s receiver failed slowly: its other deliveries wait until `until`.
    pub(crate) fn rest(&self, subscription: &str, until: Timestamp, why: String) {
        let mut resting = self.resting.lock().unwrap_or_else(|p| p.into_inner());
        let later = resting
            .get(subscription)
            .is_none_or(|(current, _)| *current < until);
        if later {
            resting.insert(subscription.to_string(), (until, why));
        }
    }

    /// `subscription`'s receiver took a delivery: nothing waits for it any more.
    pub(crate) fn wake(&self, subscription: &str) {
        let mut resting = self.resting.lock().unwrap_or_else(|p| p.into_inner());
        if !resting.is_empty() {
            resting.remove(subscription);
        }
    }

    pub(crate) fn set_subscriptions(&self, subscriptions: Vec<Subscription>) {
        *self
            .subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(subscriptions);
    }

    pub(crate) fn subscriptions(&self) -> Arc<Vec<Subscription>> {
        self.subscriptions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What a unit of work needs to emit events: a snapshot of the subscriptions now.
    pub(crate) fn emitter(&self, now: Timestamp) -> Emitter {
        Emitter {
            subscriptions: self.subscriptions(),
            renderer: self.renderer.clone(),
            give_up_after: self.retry.give_up_after,
            now,
            timestamp: now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into(),
        }
    }
}

/// The webhook payload kept in the outbox: the event's id and type and the exact body.
///
/// Stored as `{"id", "type", "body"}` with the body as JSON in place (it is always the JSON
/// object Firebreak rendered), so it is written once, not escaped into a string. Payloads
/// written before that, with the body as a JSON string, read the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPayload {
    pub id: String,
    pub kind: String,
    pub body: String,
}

impl WebhookPayload {
    /// The text stored in the outbox.
    pub fn to_stored(&self) -> String {
        stored_payload(&self.id, &self.kind, &self.body)
    }

    /// Reads a stored payload, in either form.
    pub fn from_stored(text: &str) -> serde_json::Result<WebhookPayload> {
        #[derive(serde::Deserialize)]
        struct Stored<'a> {
            id: String,
            #[serde(rename = "type")]
            kind: String,
            #[serde(borrow)]
            body: &'a serde_json::value::RawValue,
        }
        let stored: Stored<'_> = serde_json::from_str(text)?;
        let raw = stored.body.get();
        let body = if raw.starts_with('"') {
            serde_json::from_str::<String>(raw)?
        } else {
            raw.to_string()
        };
        Ok(WebhookPayload {
            id: stored.id,
            kind: stored.kind,
            body,
        })
    }
}

/// `{"id", "type", "body"}` with `body`, already JSON, written in place.
fn stored_payload(id: &str, kind: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + id.len() + kind.len() + 32);
    out.push_str("{\"id\":");
    push_json_str(&mut out, id);
    out.push_str(",\"type\":");
    push_json_str(&mut out, kind);
    out.push_str(",\"body\":");
    out.push_str(body);
    out.push('}');
    out
}

/// Appends `text` as a JSON string.
fn push_json_str(out: &mut String, text: &str) {
    // Writing a string to a String cannot fail.
    let quoted = serde_json::to_string(text).unwrap_or_default();
    out.push_str(&quoted);
}

/// Turns changes into outbox messages inside a unit of work. Cheap to clone into the closure.
#[derive(Clone)]
pub(crate) struct Emitter {
    subscriptions: Arc<Vec<Subscription>>,
    renderer: Arc<dyn EventRenderer>,
    give_up_after: SignedDuration,
    now: Timestamp,
    /// `now` as event bodies write it, formatted once for every event of the unit of work.
    timestamp: Arc<str>,
}

impl Emitter {
    /// True when some live subscription wants `kind`; nothing is rendered otherwise.
    pub fn wants(&self, kind: EventType) -> bool {
        self.subscriptions
            .iter()
            .any(|s| s.disabled_at.is_none() && s.events.iter().any(|e| e == kind.as_str()))
    }

    /// The outbox messages for one event, one per subscription that wants it.
    pub fn messages(&self, kind: EventType, data: Value) -> StoreResult<Vec<NewMessage>> {
        self.messages_json(kind, &data.to_string())
    }

    /// Like [`Emitter::messages`], with `data` already JSON text.
    pub fn messages_json(&self, kind: EventType, data: &str) -> StoreResult<Vec<NewMessage>> {
        let wanting: Vec<&Subscription> = self
            .subscriptions
            .iter()
            .filter(|s| s.disabled_at.is_none() && s.events.iter().any(|e| e == kind.as_str()))
            .collect();
        let Some((last, others)) = wanting.split_last() else {
            return Ok(Vec::new());
        };
        let id = event_id(self.now)?;
        let mut body = String::with_capacity(data.len() + 80);
        body.push_str("{\"type\":");
        push_json_str(&mut body, kind.as_str());
        body.push_str(",\"timestamp\":");
        push_json_str(&mut body, &self.timestamp);
        body.push_str(",\"data\":");
        body.push_str(data);
        body.push('}');
        let payload = stored_payload(&id, kind.as_str(), &body);
        let message = |s: &Subscription, payload: String| NewMessage {
            kind: WEBHOOK.to_string(),
            subject: s.id.clone(),
            idempotency_key: format!("{WEBHOOK}:{}:{id}", s.id),
            payload,
            due_at: self.now,
            deadline_at: self.now + self.give_up_after,
            created_at: self.now,
            priority: firebreak_store::Priority::Bulk,
        };
        let mut out: Vec<NewMessage> = others.iter().map(|s| message(s, payload.clone())).collect();
        out.push(message(last, payload));
        Ok(out)
    }

    /// Enqueues `kind` with the data `data()` gives, if anyone wants it.
    pub async fn emit(
        &self,
        tx: &mut (dyn Tx + '_),
        kind: EventType,
        data: impl FnOnce(&dyn EventRenderer) -> Value,
    ) -> StoreResult<()> {
        let messages = self.render(kind, data)?;
        if messages.is_empty() {
            return Ok(());
        }
        tx.enqueue(messages).await.map(|_| ())
    }

    /// The outbox messages for one event, for a caller that enqueues many events at once
    /// (one multi-row insert instead of one per event). Empty if no subscription wants it.
    pub fn render(
        &self,
        kind: EventType,
        data: impl FnOnce(&dyn EventRenderer) -> Value,
    ) -> StoreResult<Vec<NewMessage>> {
        if !self.wants(kind) {
            return Ok(Vec::new());
        }
        self.messages(kind, data(&*self.renderer))
    }

    /// Like [`Emitter::render`], with `data()` giving the event's `data` as JSON text.
    pub fn render_json(
        &self,
        kind: EventType,
        data: impl FnOnce(&dyn EventRenderer) -> String,
    ) -> StoreResult<Vec<NewMessage>> {
        if !self.wants(kind) {
            return Ok(Vec::new());
        }
        self.messages_json(kind, &data(&*self.renderer))
    }
}

/// A new event id: `msg_` and 26 characters that sort by time, as receivers expect of
/// Standard Webhooks ids.
pub fn event_id(now: Timestamp) -> StoreResult<String> {
    firebreak_outbound::signing::message_id(now.as_millisecond())
        .map_err(|e| firebreak_store::StoreError::backend(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::WebhookPayload;

    #[test]
    fn a_stored_payload_keeps_the_body_exactly() {
        let body = r#"{"type":"alert.opened","timestamp":"2026-12-05T09:00:00.000Z","data":{"alert":{"id":7,"summary":"disk \"full\" \u00e9"}}}"#;
        let payload = WebhookPayload {
            id: "msg_01".into(),
            kind: "alert.opened".into(),
            body: body.into(),
        };
        let stored = payload.to_stored();
        assert!(
            stored.contains(body),
            "the body is stored in place: {stored}"
        );
        assert_eq!(WebhookPayload::from_stored(&stored).unwrap(), payload);
    }

    #[test]
    fn a_payload_stored_with_the_body_as_a_string_still_reads() {
        let body = r#"{"data":{"alert":{"id":7}},"timestamp":"2026-12-05T09:00:00.000Z","type":"alert.opened"}"#;
        let older =
            serde_json::json!({"id": "msg_02", "type": "alert.opened", "body": body}).to_string();
        let read = WebhookPayload::from_stored(&older).unwrap();
        assert_eq!(read.body, body);
        assert_eq!(
            (read.id.as_str(), read.kind.as_str()),
            ("msg_02", "alert.opened")
        );
    }

    #[test]
    fn an_unreadable_payload_is_an_error() {
        assert!(WebhookPayload::from_stored("{\"id\":\"x\"}").is_err());
        assert!(WebhookPayload::from_stored("not json").is_err());
    }
}
