//! Prometheus Alertmanager's webhook (`webhook_configs`, payload version "4").
//!
//! The batch mapping here is shared with Grafana, whose webhook has the same shape.

use firebreak_domain::alert::{DEDUP_KEY_MAX, SUMMARY_MAX};
use firebreak_domain::{AlertAction, AlertEvent, AlertFormat, AlertSeverity, Image, Link};
use serde_json::{Map, Value};

use crate::util::{self, Errors, Notes, Object};
use crate::{Invalid, Rejected, time};

/// The most alerts one Alertmanager or Grafana request may carry; a larger batch is refused as a
/// whole, naming `alerts`.
pub const MAX_ALERTS: usize = 1000;

/// Parses an Alertmanager webhook into one event per alert.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<AlertEvent>, Rejected> {
    let value = util::parse_body(body)?;
    let Some(batch) = value.as_object() else {
        return Err(Invalid::new("body", "must be a JSON object").into());
    };
    match batch.get("alerts") {
        Some(Value::Array(alerts)) => parse_batch(batch, alerts, &ALERTMANAGER),
        None | Some(Value::Null) => {
            Err(Invalid::new("alerts", "is missing; must be an array").into())
        }
        Some(_) => Err(Invalid::new("alerts", "must be an array").into()),
    }
}

/// What differs between Alertmanager and Grafana.
pub(crate) struct Flavor {
    pub format: AlertFormat,
    pub default_source: &'static str,
    pub default_summary: &'static str,
    /// Link text for the batch's `externalURL`.
    pub external_text: &'static str,
    /// Grafana's extra fields: per-alert URLs, image, values, and the batch `title`.
    pub grafana: bool,
    /// How the sender can keep its batches within [`MAX_ALERTS`].
    pub cap_hint: &'static str,
}

const ALERTMANAGER: Flavor = Flavor {
    format: AlertFormat::Alertmanager,
    default_source: "alertmanager",
    default_summary: "Alert from Alertmanager",
    external_text: "Alertmanager",
    grafana: false,
    cap_hint: "`max_alerts` in Alertmanager's webhook_configs can cap it",
};

/// Maps every alert of a batch; all problems of all alerts are reported together.
pub(crate) fn parse_batch(
    batch: &Object,
    alerts: &[Value],
    flavor: &Flavor,
) -> Result<Vec<AlertEvent>, Rejected> {
    if alerts.len() > MAX_ALERTS {
        return Err(Invalid::new(
            "alerts",
            format!(
                "must hold at most {MAX_ALERTS} alerts per request, not {}; {}",
                alerts.len(),
                flavor.cap_hint
            ),
        )
        .into());
    }
    let mut errs = Errors::default();

    // The batch's status is the fallback for alerts without their own.
    let batch_status = match batch.get("status") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(AlertAction::from_firing_status(s)),
        Some(Value::String(_)) | None | Some(Value::Null) => None,
        Some(_) => Some(None),
    };
    let mut batch_status_reported = false;

    let mut events = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        let Some(alert) = alert.as_object() else {
            errs.add(format!("alerts[{i}]"), "must be an object");
            continue;
        };
        let action = match alert.get("status") {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                let action = AlertAction::from_firing_status(s);
                if action.is_none() {
                    errs.add(format!("alerts[{i}].status"), "must be firing or resolved");
                }
                action
            }
            Some(Value::String(_)) | None | Some(Value::Null) => match batch_status {
                None => Some(AlertAction::Trigger),
                Some(Some(action)) => Some(action),
                Some(None) => {
                    if !batch_status_reported {
                        errs.add("status", "must be firing or resolved");
                        batch_status_reported = true;
                    }
                    None
                }
            },
            Some(_) => {
                errs.add(format!("alerts[{i}].status"), "must be firing or resolved");
                None
            }
        };
        if let Some(action) = action {
            events.push(map_alert(batch, i, alert, action, flavor));
        }
    }
    errs.finish()?;
    Ok(events)
}

fn map_alert(
    batch: &Object,
    index: usize,
    alert: &Object,
    action: AlertAction,
    flavor: &Flavor,
) -> AlertEvent {
    let labels = util::string_map(alert.get("labels"));
    let annotations = util::string_map(alert.get("annotations"));
    let nonblank = |s: &&String| !s.trim().is_empty();

    let dedup_key = util::lenient_str(alert, "fingerprint")
        .filter(|f| !util::too_long(f, DEDUP_KEY_MAX))
        .map(str::to_string)
        .unwrap_or_else(|| crate::fingerprint(&labels));

    let severity = ["severity", "priority"]
        .iter()
        .filter_map(|k| labels.get(*k))
        .find_map(|s| AlertSeverity::from_loose(s))
        .unwrap_or(AlertSeverity::Error);

    let title = if flavor.grafana {
        util::lenient_str(batch, "title")
    } else {
        None
    };
    let summary = ["summary", "description", "message"]
        .iter()
        .filter_map(|k| annotations.get(*k))
        .find(nonblank)
        .or_else(|| labels.get("alertname").filter(nonblank))
        .map(String::as_str)
        .or(title)
        .unwrap_or(flavor.default_summary);

    let source = ["instance", "job"]
        .iter()
        .filter_map(|k| labels.get(*k))
        .find(nonblank)
        .map(String::as_str)
        .unwrap_or(flavor.default_source);

    let mut details = Map::new();
    let annotations_json = match alert.get("annotations") {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::Object(Map::new()),
    };
    details.insert("annotations".into(), annotations_json);
    if let Some(url) = util::lenient_str(alert, "generatorURL") {
        details.insert("generatorURL".into(), Value::String(url.to_string()));
    }
    if flavor.grafana {
        for key in ["values", "valueString"] {
            if let Some(v) = alert.get(key).filter(|v| !v.is_null()) {
                details.insert(key.to_string(), v.clone());
            }
        }
    }
    let mut notes = Notes::default();
    let starts_at = time::read_time(
        alert,
        "startsAt",
        &format!("alerts[{index}].startsAt"),
        &mut notes,
    );
    let ends_at = time::read_end_time(
        alert,
        "endsAt",
        &format!("alerts[{index}].endsAt"),
        &mut notes,
    );

    let mut links = Vec::new();
    let mut link = |href: Option<&str>, text: &str| {
        if let Some(href) = href {
            links.push(Link {
                href: href.to_string(),
                text: Some(text.to_string()),
            });
        }
    };
    link(util::lenient_str(alert, "generatorURL"), "Source");
    if flavor.grafana {
        link(util::lenient_str(alert, "dashboardURL"), "Dashboard");
        link(util::lenient_str(alert, "panelURL"), "Panel");
        link(util::lenient_str(alert, "silenceURL"), "Silence");
    }
    link(
        util::lenient_str(batch, "externalURL"),
        flavor.external_text,
    );
    // Alertmanager's and Grafana's conventional annotation: the alert's runbook.
    link(
        annotations
            .get("runbook_url")
            .map(String::as_str)
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        "Runbook",
    );

    let mut images = Vec::new();
    if flavor.grafana
        && let Some(src) = util::lenient_str(alert, "imageURL")
    {
        images.push(Image {
            src: src.to_string(),
            href: util::lenient_str(alert, "panelURL").map(str::to_string),
            alt: None,
        });
    }

    // The raw record: the alert's own object and the batch's group key, nothing else of the
    // batch, so that a batch of many alerts is not stored many times over.
    let mut raw = alert.clone();
    if let Some(key @ Value::String(_)) = batch.get("groupKey")
        && !raw.contains_key("groupKey")
    {
        raw.insert("groupKey".to_string(), key.clone());
    }

    AlertEvent {
        format: flavor.format,
        action,
        dedup_key: Some(dedup_key),
        severity,
        urgency: None,
        summary: util::truncate(summary.trim(), SUMMARY_MAX),
        source: source.to_string(),
        labels,
        details: util::details_text(details, notes),
        links,
        images,
        starts_at,
        ends_at,
        raw: util::raw_text(Value::Object(raw)),
    }
}
