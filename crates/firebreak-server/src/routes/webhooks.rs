//! `/api/v1/webhooks`: outgoing-webhook subscriptions and their delivery logs, and
//! `/api/v1/outbox/stats`. Admins only: a subscription sends incident data out of Firebreak.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_engine::Firebreak;
use firebreak_engine::webhooks::{Delivery, NewSubscription};
use firebreak_store::{Attempt, OutboxStats, Subscription};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, NoBody};
use crate::fields::{EventName, IdCursor, Limit, NoFields, Text500, WebhookUrl};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{IdPageQuery, PageQuery, page_by_key};
use crate::wire::ListBody;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where deliveries are POSTed: an http(s) URL with a host, and not a private address
    /// unless `outbound.allow` lets it through.
    pub url: WebhookUrl,
    /// Event types to send.
    #[schema(min_items = 1)]
    pub events: Vec<EventName>,
    pub description: Option<Text500>,
}

/// A subscription. `secret` appears only in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Since when every delivery has failed, if the last one did.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub failing_since: Option<Timestamp>,
    /// Set when Firebreak disabled the subscription (every delivery failed for 24 hours).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
    /// `whsec_...`: verify each delivery's `webhook-signature` with it. Shown only once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Subscription> for WebhookBody {
    fn from(s: Subscription) -> Self {
        WebhookBody {
            id: s.id,
            url: s.url,
            events: s.events,
            description: s.description,
            created_by: s.created_by,
            created_at: s.created_at,
            failing_since: s.failing_since,
            disabled_at: s.disabled_at,
            disabled_reason: s.disabled_reason,
            secret: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<Attempt> for AttemptBody {
    fn from(a: Attempt) -> Self {
        AttemptBody {
            at: a.at,
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// One delivery of one event to a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    pub id: i64,
    /// The event's id: the `webhook-id` header, the same on every retry.
    pub event_id: String,
    pub event_type: String,
    /// pending, sending, delivered, failed or dead.
    pub status: String,
    pub attempts: Vec<AttemptBody>,
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the next attempt is due (pending), or the current one's lease ends (sending);
    /// null once the delivery is finished.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    /// A delivery not made by then is given up (dead).
    #[schema(value_type = String, format = DateTime)]
    pub deadline_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}

impl From<Delivery> for DeliveryBody {
    fn from(d: Delivery) -> Self {
        let m = d.message;
        DeliveryBody {
            id: m.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: m.status.as_str().to_string(),
            attempts: d.attempts.into_iter().map(Into::into).collect(),
            last_error: m.last_error,
            created_at: m.created_at,
            due_at: m.finished_at.is_none().then_some(m.due_at),
            deadline_at: m.deadline_at,
            finished_at: m.finished_at,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = WebhookRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = WebhookBody, description = "`secret` is shown only here")))]
pub async fn create_webhook(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<WebhookRequest>,
) -> Result<(StatusCode, Json<WebhookBody>), ApiError> {
    let created = app
        .create_webhook(
            &caller.principal,
            NewSubscription {
                url: req.url.into_inner(),
                events: req.events.into_iter().map(|e| e.0).collect(),
                description: req.description.map(Text500::into_inner),
            },
        )
        .await?;
    let mut body = WebhookBody::from(created.subscription);
    body.secret = Some(firebreak_engine::tokens::reveal(&created.secret).to_string());
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", params(PageQuery),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ListBody<WebhookBody>)))]
pub async fn list_webhooks(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ListBody<WebhookBody>>, ApiError> {
    let all = app.list_webhooks().await?;
    let (page, next) = page_by_key(all, |s| s.id.clone(), query);
    Ok(Json(ListBody::keyed(
        page.into_iter().map(Into::into).collect(),
        next,
    )))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "Removed; deliveries still queued are not sent"),
              (status = 404, body = Problem)))]
pub async fn delete_webhook(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_webhook(&caller.principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/enable", tag = "webhooks",
    params(("id" = String, Path)),
    security(("bearer" = ["admin"])),
    request_body(content = Option<NoFields>, description = "No body, or `{}`"),
    responses((status = 200, body = WebhookBody,
               description = "Enabled: events from now on are sent to it; failed deliveries can be redelivered"),
              (status = 404, body = Problem)))]
pub async fn enable_webhook(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Json<WebhookBody>, ApiError> {
    let enabled = app.enable_webhook(&caller.principal, &id).await?;
    Ok(Json(enabled.into()))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), IdPageQuery),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ListBody<DeliveryBody>),
              (status = 404, body = Problem)))]
pub async fn list_deliveries(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<IdPageQuery>,
) -> Result<Json<ListBody<DeliveryBody>>, ApiError> {
    let page = app
        .webhook_deliveries(&id, IdCursor::of(q.cursor), Limit::or_default(q.limit))
        .await?;
    Ok(Json(ListBody::new(
        page.items.into_iter().map(Into::into).collect(),
        page.next,
    )))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(("id" = String, Path), ("delivery" = i64, Path)),
    security(("bearer" = ["admin"])),
    request_body(content = Option<NoFields>, description = "No body, or `{}`"),
    responses((status = 202, body = DeliveryBody, description = "Queued; sent with the same webhook-id"),
              (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn redeliver(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path((id, delivery)): Path<(String, String)>,
    _: NoBody,
) -> Result<(StatusCode, Json<DeliveryBody>), ApiError> {
    let delivery: i64 = delivery
        .parse()
        .map_err(|_| ApiError::not_found(format!("webhook {id} has no delivery {delivery}")))?;
    let queued = app.redeliver(&caller.principal, &id, delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(queued.into())))
}

/// Outbox figures for one kind of message.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxKindBody {
    /// What sends it, e.g. `webhook`.
    pub kind: String,
    /// Messages not yet finished (pending or being sent).
    pub depth: i64,
    /// Of those, how many are due and held by no live worker (a worker holds what it is
    /// sending, and up to 512 messages, until its lease ends).
    pub overdue: i64,
    /// How long the longest-waiting due message has waited, in seconds.
    pub oldest_due_age_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxStatsBody {
    pub kinds: Vec<OutboxKindBody>,
}

fn kind_body(s: OutboxStats, now: Timestamp) -> OutboxKindBody {
    OutboxKindBody {
        kind: s.kind,
        depth: s.depth,
        overdue: s.overdue,
        oldest_due_age_seconds: s.oldest_due.map(|d| now.duration_since(d).as_secs().max(0)),
    }
}

#[utoipa::path(get, path = "/api/v1/outbox/stats", tag = "webhooks",
    security(("bearer" = ["admin"])),
    responses((status = 200, body = OutboxStatsBody)))]
pub async fn outbox_stats(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
) -> Result<Json<OutboxStatsBody>, ApiError> {
    let now = app.clock.now();
    let stats = app.outbox_stats().await?;
    Ok(Json(OutboxStatsBody {
        kinds: stats.into_iter().map(|s| kind_body(s, now)).collect(),
    }))
}
