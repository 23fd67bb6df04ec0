//! Durable work: outbox messages, their delivery attempts, webhook subscriptions, and the
//! sender requests kept so senders can look them up.
//!
//! A message is written in the same unit of work as the change that causes it, with an
//! idempotency key it keeps for life, so a receiver can tell a retry from a new event. Workers
//! claim due messages under a lease; a lease that expires (its process died) makes the message
//! claimable again, so a message is delivered at least once.

use jiff::Timestamp;

/// What happened to one claimed message, as the worker records it
/// ([`crate::tx::OutboxWrites::settle_all`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again, at this time.
    RetryAt(Timestamp),
    /// Refused by the receiver.
    Failed,
    /// Past its deadline.
    Dead,
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Waiting for its due time.
    Pending,
    /// Claimed by a worker, whose lease runs until `lease_until`.
    Sending,
    Delivered,
    /// The receiver refused it (a 4xx other than 408 and 429), or a person gave up on it.
    Failed,
    /// Its deadline passed before any attempt succeeded.
    Dead,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Sending => "sending",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Dead => "dead",
        }
    }
}

impl std::str::FromStr for MessageStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pending" => MessageStatus::Pending,
            "sending" => MessageStatus::Sending,
            "delivered" => MessageStatus::Delivered,
            "failed" => MessageStatus::Failed,
            "dead" => MessageStatus::Dead,
            other => return Err(format!("unknown message status {other:?}")),
        })
    }
}

/// Which messages are claimed first when several are due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Pages and escalation timers: a backlog of bulk work never delays them.
    Page,
    /// Everything else (outgoing event webhooks, subscriber email).
    #[default]
    Bulk,
}

impl Priority {
    /// Every priority, in the order claims take them.
    pub const CLAIM_ORDER: [Priority; 2] = [Priority::Page, Priority::Bulk];

    /// The stored form: lower is claimed first.
    pub fn rank(self) -> i16 {
        match self {
            Priority::Page => 0,
            Priority::Bulk => 1,
        }
    }
}

/// A message to add to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// What sends it, e.g. `webhook`.
    pub kind: String,
    /// What it belongs to, e.g. the subscription's id; the delivery log lists by it.
    pub subject: String,
    /// Unique for the message's whole life; a second enqueue with the same key is skipped.
    pub idempotency_key: String,
    /// What the sender needs, as text (for a webhook: the exact body and its id).
    pub payload: String,
    pub due_at: Timestamp,
    /// After this, a message that has not been delivered is `dead`.
    pub deadline_at: Timestamp,
    pub created_at: Timestamp,
    pub priority: Priority,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub idempotency_key: String,
    pub payload: String,
    pub status: MessageStatus,
    /// When it can next be claimed: its due time while pending, its lease's end while sending.
    pub due_at: Timestamp,
    pub deadline_at: Timestamp,
    /// How many attempts have started, including one in progress.
    pub attempts: i64,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    /// When it reached delivered, failed or dead.
    pub finished_at: Option<Timestamp>,
}

/// Who holds claimed messages, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: Timestamp,
}

/// One try at sending a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When the attempt started.
    pub at: Timestamp,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// A short reason when it did not succeed.
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl Attempt {
    /// When the attempt ended: its start plus how long it took.
    pub fn ended(&self) -> Timestamp {
        self.at
            .checked_add(jiff::SignedDuration::from_millis(self.duration_ms.max(0)))
            .unwrap_or(self.at)
    }
}

/// Outbox figures for one kind of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    pub kind: String,
    /// Messages not yet finished (pending or sending).
    pub depth: i64,
    /// Of those, how many are due now and not being sent: pending and due, or held under a
    /// lease that has run out (its claimer died).
    pub overdue: i64,
    /// The due time of the longest-waiting due message, if any is due.
    pub oldest_due: Option<Timestamp>,
}

/// An outgoing-webhook subscription: a URL that gets the events it asked for, signed with
/// its own secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Public id, e.g. `wh_3f9c2a1b7e40`.
    pub id: String,
    pub url: String,
    /// Event types, e.g. `incident.declared`.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// `whsec_` + base64. Needed to sign every delivery, so it is stored as given; it is
    /// shown once at creation and never again.
    pub secret: String,
    pub created_by: String,
    pub created_at: Timestamp,
    /// Since when every delivery has failed, if the last one did.
    pub failing_since: Option<Timestamp>,
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("events", &self.events)
            .field("created_at", &self.created_at)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// A sender's request, kept so it can be looked up by its id (Opsgenie clients read an
/// alert's id through `GET /v2/alerts/requests/{requestId}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestRequest {
    pub id: String,
    pub integration: String,
    /// What the request asked: `Create`, `Acknowledge`, `Close`.
    pub action: String,
    pub success: bool,
    /// What happened, in the sender's words (`Created alert`, ...).
    pub status: String,
    pub alert: Option<i64>,
    pub alias: Option<String>,
    pub at: Timestamp,
}
