//! The Opsgenie Alert API, as Opsgenie clients and Alertmanager's `opsgenie_configs` use it:
//!
//! - `POST /v2/alerts` creates (or repeats) an alert and answers `202 {result, took, requestId}`;
//! - `POST /v2/alerts/{identifier}/acknowledge|close?identifierType=id|alias|tiny`;
//! - `GET /v2/alerts/requests/{requestId}` says what a request did, with the alert's id, which
//!   is how the Opsgenie SDKs learn an alert's id after creating it;
//! - `GET /v2/alerts/{identifier}?identifierType=id|alias|tiny` reads the alert in Opsgenie's
//!   shape.
//!
//! Every request authenticates with `Authorization: GenieKey <integration key>` before its body
//! is read. Request ids are kept for two days. Ids are strings, as Opsgenie's are.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_domain::{Alert, AlertAction, AlertEvent, AlertStatus};
use firebreak_engine::alerts::{RequestNote, Sender};
use firebreak_engine::{EngineError, Firebreak};
use firebreak_ingest::{Rejected, opsgenie};
use firebreak_store::IngestRequest;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ingest::{
    BodyError, INGEST_BODY_LIMIT, authenticate, read_body, retry_after, with_shape,
};

/// One request's answer context: when it started and the id it is answered with.
struct Reply {
    started: Instant,
    request_id: String,
}

impl Reply {
    fn new() -> Reply {
        Reply {
            started: Instant::now(),
            request_id: request_id(),
        }
    }

    fn send(&self, status: StatusCode, mut body: serde_json::Map<String, Value>) -> Response {
        body.insert(
            "took".into(),
            json!((self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
        );
        body.insert("requestId".into(), json!(self.request_id));
        with_shape((status, axum::Json(Value::Object(body))).into_response())
    }

    fn message(&self, status: StatusCode, message: &str) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("message".into(), json!(message));
        self.send(status, body)
    }

    fn accepted(&self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("result".into(), json!("Request will be processed"));
        self.send(StatusCode::ACCEPTED, body)
    }

    fn data(&self, data: Value) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("data".into(), data);
        self.send(StatusCode::OK, body)
    }

    fn invalid(&self, rejected: &Rejected) -> Response {
        let mut body = serde_json::Map::new();
        body.insert(
            "message".into(),
            json!("Request body is not processable. Please check the errors."),
        );
        body.insert(
            "errors".into(),
            Value::Object(
                rejected
                    .errors
                    .iter()
                    .map(|e| (e.field.clone(), json!(e.message)))
                    .collect(),
            ),
        );
        self.send(StatusCode::UNPROCESSABLE_ENTITY, body)
    }

    /// A storage failure: 503 with `Retry-After` while the database is away, else 500. Either
    /// way nothing was accepted and the sender should retry.
    fn failed(&self, e: EngineError) -> Response {
        match e {
            EngineError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "the database is unavailable; refusing an Opsgenie request");
                let mut r = self.message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Firebreak cannot reach its database right now; the request was not accepted. Retry.",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, crate::problem::RETRY_AFTER_SECS.into());
                r
            }
            other => {
                tracing::error!(error = %other, "an Opsgenie request failed");
                self.message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Firebreak could not store the request; it was not accepted. Retry.",
                )
            }
        }
    }

    fn too_large(&self, e: BodyError) -> Response {
        match e {
            BodyError::TooLarge => self.message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is larger than 512 KB.",
            ),
            BodyError::Unreadable(why) => self.message(
                StatusCode::BAD_REQUEST,
                &format!("The request body could not be read: {why}"),
            ),
        }
    }
}

/// A request id in Opsgenie's form (a UUID).
fn request_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Authenticates `Authorization: GenieKey <key>` and counts it against the rate limit.
async fn sender_of(
    app: &Firebreak,
    headers: &HeaderMap,
    reply: &Reply,
) -> Result<Sender, Response> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("GenieKey ")
                .or_else(|| v.strip_prefix("geniekey "))
        })
        .map(str::trim);
    let Some(key) = key else {
        return Err(reply.message(
            StatusCode::UNAUTHORIZED,
            "Send the integration key as `Authorization: GenieKey <key>`.",
        ));
    };
    match authenticate(app, key).await {
        Ok(Some(s)) => match app.check_rate(&s) {
            Ok(()) => Ok(s),
            Err(t) => Err(retry_after(
                reply.message(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Requests for this key are arriving too quickly; retry later.",
                ),
                t,
            )),
        },
        Ok(None) => Err(reply.message(
            StatusCode::UNAUTHORIZED,
            "Could not authenticate: the GenieKey is not a known integration key.",
        )),
        Err(e) => Err(reply.failed(e)),
    }
}

pub async fn create(
    State(app): State<Firebreak>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let reply = Reply::new();
    let sender = match sender_of(&app, &headers, &reply).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sender = match super::ingest::in_drill_mode(&app, sender, query.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bytes = match read_body(body, INGEST_BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return reply.too_large(e),
    };
    let event = match opsgenie::parse_create(&bytes) {
        Ok(e) => e,
        Err(rejected) => return reply.invalid(&rejected),
    };
    let alias = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("alias").and_then(Value::as_str).map(str::to_string));
    let note = RequestNote {
        id: reply.request_id.clone(),
        action: "Create".into(),
        alias,
        known: None,
    };
    match app.ingest_noting(&sender, vec![event], Some(note)).await {
        Ok(_) => reply.accepted(),
        Err(e) => reply.failed(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct IdentifierQuery {
    #[serde(rename = "identifierType")]
    identifier_type: Option<String>,
}

/// How a path names an alert.
enum Identifier {
    Id(i64),
    Alias(String),
}

fn identifier(
    raw: &str,
    query: Result<Query<IdentifierQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Option<Identifier>, Rejected> {
    let kind = query
        .ok()
        .and_then(|Query(q)| q.identifier_type)
        .unwrap_or_else(|| "id".into());
    match kind.as_str() {
        "alias" => Ok(Some(Identifier::Alias(opsgenie::alias_dedup_key(raw)))),
        // Firebreak's alert ids stand in for Opsgenie's ids and tiny ids.
        "id" | "tiny" => Ok(raw.parse::<i64>().ok().map(Identifier::Id)),
        _ => Err(Rejected {
            errors: vec![firebreak_ingest::Invalid {
                field: "identifierType".into(),
                message: "must be one of id, alias, tiny".into(),
            }],
        }),
    }
}

async fn act(
    app: Firebreak,
    raw: String,
    query: Result<Query<IdentifierQuery>, axum::extract::rejection::QueryRejection>,
    raw_query: Option<String>,
    headers: HeaderMap,
    body: Body,
    action: AlertAction,
) -> Response {
    let reply = Reply::new();
    let sender = match sender_of(&app, &headers, &reply).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // In drill mode an alias names the drill's alert (`drill:ALIAS`), never the real one.
    let sender = match super::ingest::in_drill_mode(&app, sender, raw_query.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bytes = match read_body(body, INGEST_BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return reply.too_large(e),
    };
    let act = match opsgenie::parse_action(&bytes) {
        Ok(a) => a,
        Err(rejected) => return reply.invalid(&rejected),
    };
    let named = match identifier(&raw, query) {
        Ok(named) => named,
        Err(rejected) => return reply.invalid(&rejected),
    };
    let alias_given = matches!(named, Some(Identifier::Alias(_))).then(|| raw.clone());
    // The alert named, when it exists, so that acting on one already closed says so.
    let (dedup_key, known) = match named {
        Some(Identifier::Alias(key)) => match app.sender_alert(&sender, None, Some(&key)).await {
            Ok(found) => (key, found.map(|a| (a.id, a.status))),
            Err(e) => return reply.failed(e),
        },
        Some(Identifier::Id(id)) => match app.sender_alert(&sender, Some(id), None).await {
            Ok(Some(alert)) => (alert.dedup_key, Some((alert.id, alert.status))),
            Ok(None) => return not_found(&reply),
            Err(e) => return reply.failed(e),
        },
        None => return not_found(&reply),
    };
    let mut details = serde_json::Map::new();
    if let Some(note) = &act.note {
        details.insert("note".into(), json!(note));
    }
    if let Some(user) = &act.user {
        details.insert("user".into(), json!(user));
    }
    let event = AlertEvent {
        format: firebreak_domain::AlertFormat::Opsgenie,
        action,
        dedup_key: Some(dedup_key),
        severity: firebreak_domain::AlertSeverity::Info,
        urgency: None,
        summary: String::new(),
        source: act.source.clone().unwrap_or_else(|| "opsgenie".into()),
        labels: Default::default(),
        details: Value::Object(details.clone()).to_string(),
        links: vec![],
        images: vec![],
        starts_at: None,
        ends_at: None,
        raw: Value::Object(details).to_string(),
    };
    let note = RequestNote {
        id: reply.request_id.clone(),
        action: match action {
            AlertAction::Acknowledge => "Acknowledge".into(),
            _ => "Close".into(),
        },
        alias: alias_given,
        known,
    };
    match app.ingest_noting(&sender, vec![event], Some(note)).await {
        Ok(_) => reply.accepted(),
        Err(e) => reply.failed(e),
    }
}

fn not_found(reply: &Reply) -> Response {
    reply.message(
        StatusCode::NOT_FOUND,
        "Alert with the given identifier does not exist for this integration.",
    )
}

pub async fn acknowledge(
    State(app): State<Firebreak>,
    Path(identifier): Path<String>,
    query: Result<Query<IdentifierQuery>, axum::extract::rejection::QueryRejection>,
    axum::extract::RawQuery(raw_query): axum::extract::RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    act(
        app,
        identifier,
        query,
        raw_query,
        headers,
        body,
        AlertAction::Acknowledge,
    )
    .await
}

pub async fn close(
    State(app): State<Firebreak>,
    Path(identifier): Path<String>,
    query: Result<Query<IdentifierQuery>, axum::extract::rejection::QueryRejection>,
    axum::extract::RawQuery(raw_query): axum::extract::RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    act(
        app,
        identifier,
        query,
        raw_query,
        headers,
        body,
        AlertAction::Resolve,
    )
    .await
}

/// Times as Opsgenie writes them: UTC with milliseconds.
fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn request_data(r: &IngestRequest) -> Value {
    json!({
        "success": r.success,
        "action": r.action,
        "processedAt": time(r.at),
        "integrationId": r.integration,
        "isSuccess": r.success,
        "status": r.status,
        "alertId": r.alert.map(|id| id.to_string()).unwrap_or_default(),
        "alias": r.alias.clone().unwrap_or_default(),
    })
}

/// `GET /v2/alerts/requests/{requestId}`: what a request did.
pub async fn request_status(
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let reply = Reply::new();
    let sender = match sender_of(&app, &headers, &reply).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match app.sender_request(&sender, &id).await {
        Ok(Some(r)) => reply.data(request_data(&r)),
        Ok(None) => reply.message(
            StatusCode::NOT_FOUND,
            "Request not found. It may be older than two days, or belong to another integration.",
        ),
        Err(e) => reply.failed(e),
    }
}

fn priority(alert: &Alert) -> String {
    alert.labels.get("priority").cloned().unwrap_or_else(|| {
        match alert.severity {
            firebreak_domain::AlertSeverity::Critical => "P1",
            firebreak_domain::AlertSeverity::Error => "P2",
            firebreak_domain::AlertSeverity::Warning => "P3",
            firebreak_domain::AlertSeverity::Info => "P5",
        }
        .to_string()
    })
}

/// An alert in Opsgenie's shape.
fn alert_data(alert: &Alert, sender: &Sender) -> Value {
    let tags: Vec<&str> = alert
        .labels
        .get("tags")
        .map(|t| t.split(',').filter(|t| !t.is_empty()).collect())
        .unwrap_or_default();
    let details: serde_json::Map<String, Value> = serde_json::from_str::<Value>(&alert.details)
        .ok()
        .and_then(|v| match v {
            Value::Object(m) => Some(
                m.into_iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, Value::String(text))
                    })
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default();
    let updated = [
        Some(alert.last_seen),
        alert.acknowledged_at,
        alert.resolved_at,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(alert.last_seen);
    let mut report = serde_json::Map::new();
    if let Some(at) = alert.acknowledged_at {
        report.insert(
            "ackTime".into(),
            json!(at.duration_since(alert.first_seen).as_millis()),
        );
        report.insert(
            "acknowledgedBy".into(),
            json!(alert.acknowledged_by.clone().unwrap_or_default()),
        );
    }
    if let Some(at) = alert.resolved_at {
        report.insert(
            "closeTime".into(),
            json!(at.duration_since(alert.first_seen).as_millis()),
        );
        report.insert(
            "closedBy".into(),
            json!(alert.resolved_by.clone().unwrap_or_default()),
        );
    }
    json!({
        "id": alert.id.to_string(),
        "tinyId": alert.id.to_string(),
        "alias": alert.dedup_key,
        "message": alert.summary,
        "status": if alert.status == AlertStatus::Resolved { "closed" } else { "open" },
        "acknowledged": alert.acknowledged_at.is_some(),
        "isSeen": alert.acknowledged_at.is_some(),
        "tags": tags,
        "snoozed": false,
        "count": alert.count,
        "lastOccurredAt": time(alert.last_seen),
        "createdAt": time(alert.first_seen),
        "updatedAt": time(updated),
        "source": alert.source,
        "owner": "",
        "priority": priority(alert),
        "responders": [],
        "integration": {"id": sender.integration, "name": sender.name, "type": "API"},
        "report": report,
        "entity": alert.labels.get("entity").cloned().unwrap_or_default(),
        "description": alert.labels.get("description").cloned().unwrap_or_default(),
        "details": details,
    })
}

/// `GET /v2/alerts/{identifier}`: one alert, by id (the default), tiny id or alias.
pub async fn get_alert(
    State(app): State<Firebreak>,
    Path(raw): Path<String>,
    query: Result<Query<IdentifierQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let reply = Reply::new();
    let sender = match sender_of(&app, &headers, &reply).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let found = match identifier(&raw, query) {
        Ok(Some(Identifier::Id(id))) => app.sender_alert(&sender, Some(id), None).await,
        Ok(Some(Identifier::Alias(key))) => app.sender_alert(&sender, None, Some(&key)).await,
        Ok(None) => Ok(None),
        Err(rejected) => return reply.invalid(&rejected),
    };
    match found {
        Ok(Some(alert)) => reply.data(alert_data(&alert, &sender)),
        Ok(None) => not_found(&reply),
        Err(e) => reply.failed(e),
    }
}
