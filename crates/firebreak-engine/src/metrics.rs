//! Firebreak's own metrics, recorded through the `metrics` facade: what the engine counts as it
//! works (events ingested, pages sent, escalation timers firing late) and the figures read at
//! scrape time (the outbox, open incidents). The server installs the Prometheus recorder and
//! serves `/metrics`; with no recorder installed, recording costs next to nothing.
//!
//! Every label value comes from a short fixed list (a sender format, an ingest effect, a
//! contact method kind, an outbox kind, a configured severity), never from what a sender or a
//! user wrote, so the number of series stays bounded.

use firebreak_domain::contact::ContactKind;
use firebreak_store::{IncidentFilter, IngestEffect, IngestOutcome, Outcome};
use jiff::{SignedDuration, Timestamp};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

use crate::{EngineError, Firebreak};

/// Events taken in, by sender format and what each did.
pub const INGEST_EVENTS: &str = "firebreak_ingest_events_total";
/// Attempts to send a page, by contact method kind and outcome.
pub const PAGE_DELIVERIES: &str = "firebreak_page_deliveries_total";
/// How long after its due time an escalation step's timer fired.
pub const ESCALATION_LATENESS: &str = "firebreak_escalation_timer_lateness_seconds";
/// Unfinished outbox messages, by kind (read at scrape time).
pub const OUTBOX_MESSAGES: &str = "firebreak_outbox_messages";
/// How long the longest-waiting due outbox message has waited, by kind (read at scrape time).
pub const OUTBOX_OLDEST_AGE: &str = "firebreak_outbox_oldest_age_seconds";
/// Open incidents, by severity (read at scrape time).
pub const OPEN_INCIDENTS: &str = "firebreak_open_incidents";
/// Uptime check runs, by kind (http or tcp) and outcome (up or failed).
pub const CHECK_RUNS: &str = "firebreak_check_runs_total";
/// How long uptime check runs took to answer, by kind.
pub const CHECK_LATENCY: &str = "firebreak_check_latency_seconds";

/// The buckets of [`CHECK_LATENCY`], in seconds: from a fast local answer to a timeout.
pub const CHECK_LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The buckets of [`ESCALATION_LATENESS`], in seconds: a timer is normally late by the
/// worker's few milliseconds; minutes mean the worker was stopped or overloaded.
pub const LATENESS_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// What became of one attempt to send a page, as [`PAGE_DELIVERIES`] labels it.
pub const PAGE_OUTCOMES: [&str; 5] = ["delivered", "retry", "failed", "dead", "cancelled"];
/// A page whose contact method kind cannot be read.
const UNKNOWN_CHANNEL: &str = "unknown";

/// The outbox kinds this version writes, so each has a series even while none is waiting.
pub const OUTBOX_KINDS: [&str; 12] = [
    crate::paging::PAGE,
    crate::paging::ESCALATION,
    crate::paging::reminders::REMINDER,
    crate::events::WEBHOOK,
    crate::comms::CHAT,
    crate::comms::STAKEHOLDER_MAIL,
    crate::subscribers::SUBSCRIBE,
    crate::subscribers::CONFIRM,
    crate::subscribers::FANOUT,
    crate::subscribers::MAIL,
    crate::subscribers::HOOK,
    crate::stabilize::GRANT_EXPIRY,
];

/// Gives the counters and histograms the engine records their help text, and starts every
/// page delivery series at zero, so a rule over `increase(...)` sees the first failure. Call it
/// once the process's recorder is installed.
pub fn describe() {
    describe_counter!(
        INGEST_EVENTS,
        Unit::Count,
        "Alert events taken in, by sender format (source) and what each did (result: opened, \
         repeated, acknowledged, resolved, suppressed, attached, declared, dropped, ignored, or \
         error when storing the request failed and the sender was asked to retry)."
    );
    describe_counter!(
        PAGE_DELIVERIES,
        Unit::Count,
        "Attempts to send a page, by contact method kind (channel) and outcome: delivered, \
         retry (to be tried again), failed (refused for good), dead (past its deadline) or \
         cancelled (not sent: the escalation was acknowledged or resolved first)."
    );
    describe_histogram!(
        ESCALATION_LATENESS,
        Unit::Seconds,
        "How long after its due time an escalation step's timer fired, by Firebreak's clock."
    );
    describe_counter!(
        CHECK_RUNS,
        Unit::Count,
        "Uptime check runs, by kind (http or tcp) and outcome: up (the run passed) or failed."
    );
    describe_histogram!(
        CHECK_LATENCY,
        Unit::Seconds,
        "How long uptime check runs took, by kind, until the answer (or the failure)."
    );
    for kind in ["http", "tcp"] {
        for outcome in ["up", "failed"] {
            counter!(CHECK_RUNS, "kind" => kind, "outcome" => outcome).increment(0);
        }
    }
    for channel in ContactKind::ALL {
        for outcome in PAGE_OUTCOMES {
            counter!(PAGE_DELIVERIES, "channel" => channel.as_str(), "outcome" => outcome)
                .increment(0);
        }
    }
}

/// Counts one uptime check run and its latency.
pub fn check_run(kind: &'static str, ok: bool, latency: std::time::Duration) {
    let outcome = if ok { "up" } else { "failed" };
    counter!(CHECK_RUNS, "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!(CHECK_LATENCY, "kind" => kind).record(latency.as_secs_f64());
}

/// The name of an ingest effect as the sender's answer and [`INGEST_EVENTS`] spell it.
pub fn effect_name(e: IngestEffect) -> &'static str {
    match e {
        IngestEffect::Opened => "opened",
        IngestEffect::Suppressed => "suppressed",
        IngestEffect::Repeated => "repeated",
        IngestEffect::Acknowledged => "acknowledged",
        IngestEffect::Resolved => "resolved",
        IngestEffect::Ignored => "ignored",
        IngestEffect::Dropped => "dropped",
        IngestEffect::Attached => "attached",
        IngestEffect::Declared => "declared",
    }
}

/// Counts a request's events from `source` (a sender format): each by its effect, or all of
/// them as `error` when the request could not be stored.
pub(crate) fn ingested<E>(
    source: &'static str,
    events: u64,
    result: &Result<Vec<IngestOutcome>, E>,
) {
    match result {
        Ok(outcomes) => {
            for o in outcomes {
                counter!(INGEST_EVENTS, "source" => source, "result" => effect_name(o.effect))
                    .increment(1);
            }
        }
        Err(_) => {
            counter!(INGEST_EVENTS, "source" => source, "result" => "error").increment(events)
        }
    }
}

/// Counts one attempt to send a page over `channel` (a contact method kind, as the page
/// recorded it).
pub(crate) fn page_attempted(channel: &str, outcome: Outcome) {
    let outcome = match outcome {
        Outcome::Delivered => "delivered",
        Outcome::RetryAt(_) => "retry",
        Outcome::Failed => "failed",
        Outcome::Dead => "dead",
    };
    count_page(channel, outcome);
}

/// Counts a page that was not sent because its escalation ended first.
pub(crate) fn page_cancelled(channel: &str) {
    count_page(channel, "cancelled");
}

fn count_page(channel: &str, outcome: &'static str) {
    let channel = ContactKind::parse(channel).map_or(UNKNOWN_CHANNEL, ContactKind::as_str);
    counter!(PAGE_DELIVERIES, "channel" => channel, "outcome" => outcome).increment(1);
}

/// Records that an escalation step due at `due` fired at `now`.
pub(crate) fn timer_fired(due: Timestamp, now: Timestamp) {
    let late = now.duration_since(due).max(SignedDuration::ZERO);
    metrics::histogram!(ESCALATION_LATENESS).record(late.as_secs_f64());
}

/// The figures read at scrape time, for one instance's view of the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Every outbox kind: unfinished messages, and the age in seconds of the longest-waiting
    /// due one (0 when none is due).
    pub outbox: Vec<(String, i64, f64)>,
    /// Every configured severity (most severe first), then any other severity an open
    /// incident still has: how many real (not drill) incidents are open.
    pub open_incidents: Vec<(String, u64)>,
}

impl Figures {
    /// Sets the figures as gauges, with their help text, on the current recorder: the server
    /// records them on a recorder of their own for each scrape, so no series outlives the
    /// figures it came from.
    pub fn record(&self) {
        describe_gauge!(
            OUTBOX_MESSAGES,
            Unit::Count,
            "Outbox messages not yet finished (pending or being sent), by kind."
        );
        describe_gauge!(
            OUTBOX_OLDEST_AGE,
            Unit::Seconds,
            "How long the longest-waiting due outbox message has waited, by kind (0 when none \
             is due)."
        );
        describe_gauge!(
            OPEN_INCIDENTS,
            Unit::Count,
            "Open incidents (not drills), by severity."
        );
        for (kind, depth, age) in &self.outbox {
            gauge!(OUTBOX_MESSAGES, "kind" => kind.clone()).set(*depth as f64);
            gauge!(OUTBOX_OLDEST_AGE, "kind" => kind.clone()).set(*age);
        }
        for (severity, open) in &self.open_incidents {
            gauge!(OPEN_INCIDENTS, "severity" => severity.clone()).set(*open as f64);
        }
    }
}

impl Firebreak {
    /// The outbox and open incidents as `/metrics` shows them, read now.
    pub async fn figures(&self) -> Result<Figures, EngineError> {
        let now = self.clock.now();
        let stats = self.store.outbox_stats(now).await?;
        let mut outbox: Vec<(String, i64, f64)> = OUTBOX_KINDS
            .iter()
            .map(|k| (k.to_string(), 0, 0.0))
            .collect();
        for s in stats {
            let age = s.oldest_due.map_or(0.0, |due| {
                now.duration_since(due)
                    .max(SignedDuration::ZERO)
                    .as_secs_f64()
            });
            match outbox.iter_mut().find(|(k, _, _)| *k == s.kind) {
                Some(row) => *row = (s.kind, s.depth, age),
                // A kind a newer instance wrote: shown while it has messages.
                None => outbox.push((s.kind, s.depth, age)),
            }
        }
        let mut open_incidents: Vec<(String, u64)> = self
            .config
            .severities
            .iter()
            .map(|s| (s.name.clone(), 0))
            .collect();
        let filter = IncidentFilter {
            open: Some(true),
            drill: Some(false),
            ..Default::default()
        };
        for incident in self.all_incidents(&filter).await? {
            match open_incidents
                .iter_mut()
                .find(|(name, _)| name.eq_ignore_ascii_case(&incident.severity))
            {
                Some((_, n)) => *n += 1,
                // A severity since removed from the config.
                None => open_incidents.push((incident.severity, 1)),
            }
        }
        Ok(Figures {
            outbox,
            open_incidents,
        })
    }
}
