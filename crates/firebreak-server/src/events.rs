//! Outgoing event bodies in the API's own shapes: the engine writes `{"type", "timestamp",
//! "data"}` and asks this renderer for the objects inside `data`, so a webhook receiver sees an
//! incident exactly as `GET /api/v1/incidents/{id}` shows it, less the fields that need a lookup
//! the event does not make (`alerts`, `alerts_resolved`, `suspect_deploys`, `postmortem_status`).

use std::sync::Arc;

use firebreak_domain::{Alert, Config, Incident};
use firebreak_engine::events::EventRenderer;
use firebreak_store::{DeploymentRecord, TimelineEntry};
use serde_json::Value;

use crate::wire::{AlertView, DeploymentBody, IncidentBody, TimelineEntryBody};

pub struct WireRenderer {
    config: Arc<Config>,
}

impl WireRenderer {
    pub fn new(config: Arc<Config>) -> WireRenderer {
        WireRenderer { config }
    }
}

fn value(body: impl serde::Serialize) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}

impl EventRenderer for WireRenderer {
    fn incident(&self, incident: &Incident) -> Value {
        let mut body = value(IncidentBody::from(incident.clone(), &self.config));
        // The event does not look these up; an empty list would read as "none attached".
        if let Value::Object(fields) = &mut body {
            for looked_up in [
                "alerts",
                "alerts_resolved",
                "suspect_deploys",
                "postmortem_status",
            ] {
                fields.remove(looked_up);
            }
        }
        body
    }
    fn alert(&self, alert: &Alert) -> Value {
        value(AlertView::of(alert))
    }
    fn alert_json(&self, alert: &Alert) -> String {
        // Sized for the whole text up front: grown step by step, the buffer was copied four
        // or five times for every new alert's `alert.opened` body.
        let labels: usize = alert
            .labels
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum();
        let mut out = Vec::with_capacity(768 + alert.summary.len() + alert.details.len() + labels);
        match serde_json::to_writer(&mut out, &AlertView::of(alert)) {
            Ok(()) => String::from_utf8(out).unwrap_or_else(|_| "null".into()),
            Err(_) => "null".into(),
        }
    }
    fn deployment(&self, deployment: &DeploymentRecord) -> Value {
        value(DeploymentBody::from(deployment.clone()))
    }
    fn note(&self, entry: &TimelineEntry) -> Value {
        value(TimelineEntryBody::from(entry.clone()))
    }
}
