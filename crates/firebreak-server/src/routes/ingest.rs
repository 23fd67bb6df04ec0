//! The endpoints monitoring tools post to, each answering in the shape its sender expects:
//!
//! - `POST /v2/enqueue` and `POST /v2/change/enqueue`: PagerDuty Events API v2 and change events;
//! - `POST /v2/alerts` and `POST /v2/alerts/{identifier}/acknowledge|close`: the Opsgenie Alert API;
//! - `POST /api/v1/ingest/{alertmanager|grafana|generic}/{key}`, or without `/{key}` and the key
//!   as `Authorization: Bearer <key>`.
//!
//! Every request is authenticated by an integration key and counted against that key's rate
//! limit before its body is read. An event is answered 2xx only after it has committed. Keys in
//! paths never reach the logs: the access log records the route template only.

use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use firebreak_domain::{AlertAction, AlertEvent};
use firebreak_engine::alerts::{Sender, Throttled};
use firebreak_engine::deployments::NewDeployment;
use firebreak_engine::{EngineError, Firebreak, Principal};
use firebreak_ingest::{Rejected, alertmanager, generic, grafana, opsgenie, pagerduty};
use firebreak_store::{IngestEffect, IngestOutcome};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::problem::ApiError;

/// Alert bodies larger than this are refused with 413, as PagerDuty does.
pub const INGEST_BODY_LIMIT: usize = 512 * 1024;

/// Marks an answer whose error shape belongs to a sender's API (PagerDuty, Opsgenie), so the
/// problem+json layer leaves it alone.
#[derive(Clone, Copy)]
pub struct SenderShape;

pub fn router() -> Router<Firebreak> {
    Router::new()
        .route("/v2/enqueue", post(pagerduty_event))
        .route("/v2/change/enqueue", post(pagerduty_change))
        .route("/v2/alerts", post(opsgenie_create))
        .route(
            "/v2/alerts/{identifier}/acknowledge",
            post(opsgenie_acknowledge),
        )
        .route("/v2/alerts/{identifier}/close", post(opsgenie_close))
        .route("/api/v1/ingest/{format}/{key}", post(ingest_with_path_key))
        .route("/api/v1/ingest/{format}", post(ingest_with_bearer_key))
}

/// Reads the body up to the limit; `None` when it is larger.
async fn read_body(body: Body) -> Option<Bytes> {
    axum::body::to_bytes(body, INGEST_BODY_LIMIT).await.ok()
}

fn with_shape(mut response: Response) -> Response {
    response.extensions_mut().insert(SenderShape);
    response
}

fn retry_after(mut response: Response, t: Throttled) -> Response {
    let secs = t.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Looks the key up, reloading the index once if it is stale (a key made by another process).
async fn authenticate(app: &Firebreak, key: &str) -> Result<Option<Sender>, EngineError> {
    if let Some(s) = app.sender_for_key(key) {
        return Ok(Some(s));
    }
    app.refresh_alert_index_if_stale().await?;
    Ok(app.sender_for_key(key))
}

// --- PagerDuty ------------------------------------------------------------------------------

fn pd(status: StatusCode, body: Value) -> Response {
    with_shape((status, axum::Json(body)).into_response())
}

fn pd_invalid(rejected: &Rejected) -> Response {
    pd(
        StatusCode::BAD_REQUEST,
        json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": rejected.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        }),
    )
}

fn pd_unknown_key() -> Response {
    pd(
        StatusCode::NOT_FOUND,
        json!({
            "status": "invalid routing key",
            "message": "No integration has this routing_key. Create one with `firebreak integration create` and use its key.",
            "errors": ["'routing_key' is not a known integration key"],
        }),
    )
}

fn pd_too_large() -> Response {
    pd(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({
            "status": "invalid event",
            "message": "Request body is larger than 512 KB",
            "errors": ["the body must be at most 524288 bytes"],
        }),
    )
}

fn pd_throttled(t: Throttled) -> Response {
    retry_after(
        pd(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "status": "throttle event",
                "message": "Requests for this routing key are arriving too quickly. Retry after the Retry-After header's seconds.",
            }),
        ),
        t,
    )
}

fn pd_failed(e: EngineError) -> Response {
    if let EngineError::Store(cause) = &e {
        tracing::error!(error = %cause, "storing an event failed");
    }
    pd(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({
            "status": "error",
            "message": "Firebreak could not store the event; it was not accepted. Retry.",
        }),
    )
}

/// What both PagerDuty endpoints do first: read the body, find the routing key, authenticate
/// it (404 when unknown, as PagerDuty answers) and count it against the rate limit. Only then
/// does a body that failed validation get its 400, so unknown senders learn nothing.
async fn pagerduty_preamble<T>(
    app: &Firebreak,
    body: Body,
    parse: fn(&[u8]) -> Result<T, pagerduty::EventError>,
    routing_key: fn(&T) -> &str,
) -> Result<(Sender, T), Response> {
    let Some(bytes) = read_body(body).await else {
        return Err(pd_too_large());
    };
    let (key, parsed) = match parse(&bytes) {
        Ok(e) => (routing_key(&e).to_string(), Ok(e)),
        Err(e) => match e.routing_key.clone() {
            Some(k) => (k, Err(e.rejected)),
            None => return Err(pd_invalid(&e.rejected)),
        },
    };
    let sender = match authenticate(app, &key).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(pd_unknown_key()),
        Err(e) => return Err(pd_failed(e)),
    };
    if let Err(t) = app.check_rate(&sender) {
        return Err(pd_throttled(t));
    }
    match parsed {
        Ok(p) => Ok((sender, p)),
        Err(rejected) => Err(pd_invalid(&rejected)),
    }
}

async fn pagerduty_event(State(app): State<Firebreak>, body: Body) -> Response {
    let (sender, event) =
        match pagerduty_preamble(&app, body, pagerduty::parse_event, |e| &e.routing_key).await {
            Ok(ok) => ok,
            Err(response) => return response,
        };
    match app.ingest(&sender, vec![event.event]).await {
        Ok(outcomes) => {
            let dedup_key = outcomes
                .first()
                .map(|o| o.dedup_key.clone())
                .unwrap_or_default();
            pd(
                StatusCode::ACCEPTED,
                json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
            )
        }
        Err(e) => pd_failed(e),
    }
}

async fn pagerduty_change(State(app): State<Firebreak>, body: Body) -> Response {
    let (sender, change) =
        match pagerduty_preamble(&app, body, pagerduty::parse_change, |c| &c.routing_key).await {
            Ok(ok) => ok,
            Err(response) => return response,
        };
    let who = Principal {
        actor: firebreak_domain::Actor(format!("pagerduty:{}", sender.name)),
        role: firebreak_domain::AccessRole::Responder,
        source: change.source.clone(),
    };
    let new = NewDeployment {
        service: sender.service.clone(),
        version: change.version,
        previous_version: change.previous_version,
        commit: change.commit,
        author: change.author,
        link: change.link,
        at: change.at,
        summary: Some(change.summary),
    };
    match app.record_deployment(&who, new, "pagerduty").await {
        Ok(_) => pd(
            StatusCode::ACCEPTED,
            json!({"status": "success", "message": "Change event processed"}),
        ),
        Err(EngineError::Invalid { field, message }) => pd(
            StatusCode::BAD_REQUEST,
            json!({"status": "invalid event", "message": "Event object is invalid", "errors": [format!("'{field}' {message}")]}),
        ),
        Err(e) => pd_failed(e),
    }
}

// --- Opsgenie -------------------------------------------------------------------------------

fn og(status: StatusCode, started: Instant, mut body: serde_json::Map<String, Value>) -> Response {
    body.insert(
        "took".into(),
        json!((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
    );
    body.insert("requestId".into(), json!(request_id()));
    with_shape((status, axum::Json(Value::Object(body))).into_response())
}

fn og_message(status: StatusCode, started: Instant, message: &str) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("message".into(), json!(message));
    og(status, started, body)
}

fn og_accepted(started: Instant) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("result".into(), json!("Request will be processed"));
    og(StatusCode::ACCEPTED, started, body)
}

fn og_invalid(started: Instant, rejected: &Rejected) -> Response {
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
    og(StatusCode::BAD_REQUEST, started, body)
}

fn request_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
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

/// The Opsgenie key from `Authorization: GenieKey <key>`.
async fn opsgenie_sender(
    app: &Firebreak,
    headers: &HeaderMap,
    started: Instant,
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
        return Err(og_message(
            StatusCode::UNAUTHORIZED,
            started,
            "Send the integration key as `Authorization: GenieKey <key>`.",
        ));
    };
    match authenticate(app, key).await {
        Ok(Some(s)) => {
            if let Err(t) = app.check_rate(&s) {
                return Err(retry_after(
                    og_message(
                        StatusCode::TOO_MANY_REQUESTS,
                        started,
                        "Requests for this key are arriving too quickly; retry later.",
                    ),
                    t,
                ));
            }
            Ok(s)
        }
        Ok(None) => Err(og_message(
            StatusCode::UNAUTHORIZED,
            started,
            "Could not authenticate: the GenieKey is not a known integration key.",
        )),
        Err(e) => Err(og_failed(started, e)),
    }
}

fn og_failed(started: Instant, e: EngineError) -> Response {
    if let EngineError::Store(cause) = &e {
        tracing::error!(error = %cause, "storing an event failed");
    }
    og_message(
        StatusCode::INTERNAL_SERVER_ERROR,
        started,
        "Firebreak could not store the request; it was not accepted. Retry.",
    )
}

async fn opsgenie_create(State(app): State<Firebreak>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let sender = match opsgenie_sender(&app, &headers, started).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(bytes) = read_body(body).await else {
        return og_message(
            StatusCode::PAYLOAD_TOO_LARGE,
            started,
            "Request body is larger than 512 KB.",
        );
    };
    let event = match opsgenie::parse_create(&bytes) {
        Ok(e) => e,
        Err(rejected) => return og_invalid(started, &rejected),
    };
    match app.ingest(&sender, vec![event]).await {
        Ok(_) => og_accepted(started),
        Err(e) => og_failed(started, e),
    }
}

#[derive(Debug, Deserialize)]
struct IdentifierQuery {
    #[serde(rename = "identifierType")]
    identifier_type: Option<String>,
}

async fn opsgenie_act(
    app: Firebreak,
    identifier: String,
    query: Result<Query<IdentifierQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
    action: AlertAction,
) -> Response {
    let started = Instant::now();
    let sender = match opsgenie_sender(&app, &headers, started).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(bytes) = read_body(body).await else {
        return og_message(
            StatusCode::PAYLOAD_TOO_LARGE,
            started,
            "Request body is larger than 512 KB.",
        );
    };
    let act = match opsgenie::parse_action(&bytes) {
        Ok(a) => a,
        Err(rejected) => return og_invalid(started, &rejected),
    };
    let kind = query
        .ok()
        .and_then(|Query(q)| q.identifier_type)
        .unwrap_or_else(|| "id".into());
    let dedup_key = match kind.as_str() {
        "alias" => opsgenie::alias_dedup_key(&identifier),
        "id" | "tiny" => {
            // Firebreak's alert ids stand in for Opsgenie's ids.
            let found = match identifier.parse::<i64>() {
                Ok(id) => app.alert(id).await.ok(),
                Err(_) => None,
            };
            match found.filter(|a| a.integration == sender.integration) {
                Some(alert) => alert.dedup_key,
                None => {
                    return og_message(
                        StatusCode::NOT_FOUND,
                        started,
                        "Alert with the given id does not exist for this integration.",
                    );
                }
            }
        }
        _ => {
            let rejected = Rejected {
                errors: vec![firebreak_ingest::Invalid {
                    field: "identifierType".into(),
                    message: "must be one of id, alias, tiny".into(),
                }],
            };
            return og_invalid(started, &rejected);
        }
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
    match app.ingest(&sender, vec![event]).await {
        Ok(_) => og_accepted(started),
        Err(e) => og_failed(started, e),
    }
}

async fn opsgenie_acknowledge(
    State(app): State<Firebreak>,
    Path(identifier): Path<String>,
    query: Result<Query<IdentifierQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    opsgenie_act(
        app,
        identifier,
        query,
        headers,
        body,
        AlertAction::Acknowledge,
    )
    .await
}

async fn opsgenie_close(
    State(app): State<Firebreak>,
    Path(identifier): Path<String>,
    query: Result<Query<IdentifierQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    opsgenie_act(app, identifier, query, headers, body, AlertAction::Resolve).await
}

// --- Alertmanager, Grafana, generic -----------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Format {
    Alertmanager,
    Grafana,
    Generic,
}

impl Format {
    fn parse(text: &str) -> Option<Format> {
        match text {
            "alertmanager" | "prometheus" => Some(Format::Alertmanager),
            "grafana" => Some(Format::Grafana),
            "generic" => Some(Format::Generic),
            _ => None,
        }
    }

    fn events(self, body: &[u8]) -> Result<Vec<AlertEvent>, Rejected> {
        match self {
            Format::Alertmanager => alertmanager::parse_webhook(body),
            Format::Grafana => grafana::parse_webhook(body),
            Format::Generic => generic::parse(body),
        }
    }
}

fn effect_name(e: IngestEffect) -> &'static str {
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

fn outcome_json(o: &IngestOutcome) -> Value {
    json!({
        "dedup_key": o.dedup_key,
        "result": effect_name(o.effect),
        "alert": o.alert,
        "incident": o.incident.map(|n| n.to_string()),
    })
}

fn rejected_problem(rejected: &Rejected) -> Response {
    let mut e = ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("the alert body is invalid: {rejected}"),
    );
    for i in &rejected.errors {
        e = e.with_error(&i.field, &i.message);
    }
    e.into_response()
}

async fn ingest_as(app: Firebreak, format: &str, key: Option<&str>, body: Body) -> Response {
    let Some(format) = Format::parse(format) else {
        return ApiError::not_found(format!(
            "there is no ingest endpoint for `{format}`; use alertmanager, grafana or generic"
        ))
        .into_response();
    };
    let Some(key) = key else {
        return ApiError::unauthorized(
            "send the integration key in the path (/api/v1/ingest/<format>/<key>) or as `Authorization: Bearer <key>`",
        )
        .into_response();
    };
    let sender = match authenticate(&app, key).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return ApiError::unauthorized(
                "the integration key is unknown or revoked; check the URL the sender posts to",
            )
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(t) = app.check_rate(&sender) {
        return retry_after(
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "this integration key is over its rate limit; retry after the Retry-After header's seconds",
            )
            .into_response(),
            t,
        );
    }
    let Some(bytes) = read_body(body).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the alert body is larger than the 512 KB limit",
        )
        .into_response();
    };
    let events = match format.events(&bytes) {
        Ok(events) => events,
        Err(rejected) => return rejected_problem(&rejected),
    };
    match app.ingest(&sender, events).await {
        Ok(outcomes) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "status": "accepted",
                "alerts": outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn ingest_with_path_key(
    State(app): State<Firebreak>,
    Path((format, key)): Path<(String, String)>,
    body: Body,
) -> Response {
    ingest_as(app, &format, Some(&key), body).await
}

async fn ingest_with_bearer_key(
    State(app): State<Firebreak>,
    Path(format): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|k| k.trim().to_string());
    ingest_as(app, &format, key.as_deref(), body).await
}
