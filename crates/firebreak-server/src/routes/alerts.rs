//! `/api/v1/alerts`, integrations, silences, maintenance windows, routing rules and
//! deployments. Everyone may read. Responders acknowledge and resolve alerts, silence them,
//! schedule maintenance and record deploys; admins manage integrations and routing rules.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::rules::Route;
use firebreak_domain::{AlertAction, Name};
use firebreak_engine::Firebreak;
use firebreak_engine::alerts::{IssuedKey, parse_matchers};
use firebreak_engine::deployments::NewDeployment;
use firebreak_store::AlertFilter;
use jiff::Timestamp;
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, NoBody, Responder, Viewer};
use crate::fields::{
    AlertLevel, AlertState, Comment, DeploySource, HttpLink, IdCursor, IncidentId, Label, Limit,
    NameText, NoFields, Text100, Text200, Text1024, Time, UrgencyLevel, Version,
};
use crate::problem::{ApiError, Problem};
use crate::wire::{
    AlertBody, DeploymentBody, IntegrationBody, ListBody, MaintenanceBody, RouteBody, SilenceBody,
};

fn alert_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("there is no alert {id}")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    pub status: Option<AlertState>,
    /// A service name.
    pub service: Option<NameText>,
    /// An incident id (`INC-7` or `7`).
    #[param(value_type = Option<IncidentId>)]
    pub incident: Option<crate::fields::IncidentRef>,
    pub limit: Option<Limit>,
    pub cursor: Option<IdCursor>,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<AlertBody>)))]
pub async fn list_alerts(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Json<ListBody<AlertBody>>, ApiError> {
    let filter = AlertFilter {
        status: q.status.map(Into::into),
        service: q.service.map(|n| n.0),
        incident: q.incident.map(|i| i.0),
        ..Default::default()
    };
    let page = app
        .list_alerts(&filter, IdCursor::of(q.cursor), Limit::or_default(q.limit))
        .await?;
    Ok(Json(ListBody::new(
        page.items.into_iter().map(AlertBody::from).collect(),
        page.next,
    )))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = i64, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = AlertBody), (status = 404, body = Problem)))]
pub async fn show_alert(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<AlertBody>, ApiError> {
    Ok(Json(AlertBody::from(app.alert(alert_id(&id)?).await?)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts", params(("id" = i64, Path)),
    security(("bearer" = ["responder"])),
    request_body(content = Option<NoFields>, description = "No body, or `{}`"),
    responses((status = 200, body = AlertBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn acknowledge_alert(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Json<AlertBody>, ApiError> {
    let alert = app
        .act_on_alert(&caller.principal, alert_id(&id)?, AlertAction::Acknowledge)
        .await?;
    Ok(Json(AlertBody::from(alert)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts", params(("id" = i64, Path)),
    security(("bearer" = ["responder"])),
    request_body(content = Option<NoFields>, description = "No body, or `{}`"),
    responses((status = 200, body = AlertBody, description = "The same as /acknowledge: paging for the alert stops"),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn ack_alert(
    caller: Caller<Responder>,
    state: State<Firebreak>,
    path: Path<String>,
    body: NoBody,
) -> Result<Json<AlertBody>, ApiError> {
    acknowledge_alert(caller, state, path, body).await
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", params(("id" = i64, Path)),
    security(("bearer" = ["responder"])),
    request_body(content = Option<NoFields>, description = "No body, or `{}`"),
    responses((status = 200, body = AlertBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resolve_alert(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Json<AlertBody>, ApiError> {
    let alert = app
        .act_on_alert(&caller.principal, alert_id(&id)?, AlertAction::Resolve)
        .await?;
    Ok(Json(AlertBody::from(alert)))
}

// --- integrations ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationRequest {
    /// What sends through it, e.g. `prometheus`.
    pub name: Label,
}

fn issued(i: IssuedKey) -> IntegrationBody {
    let mut body = IntegrationBody::from(i.integration);
    body.key = Some(i.key.expose_secret().to_string());
    body.key_id = Some(i.key_id);
    body
}

#[utoipa::path(post, path = "/api/v1/services/{service}/integrations", tag = "integrations",
    params(("service" = NameText, Path)), request_body = IntegrationRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = IntegrationBody, description = "The key is shown only in this answer"),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn create_integration(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(service): Path<String>,
    ApiJson(req): ApiJson<IntegrationRequest>,
) -> Result<(StatusCode, Json<IntegrationBody>), ApiError> {
    let service = Name::parse(&service)
        .map_err(|_| ApiError::not_found(format!("there is no service named `{service}`")))?;
    let issued_key = app
        .create_integration(&caller.principal, &service, &req.name.0)
        .await?;
    Ok((StatusCode::CREATED, Json(issued(issued_key))))
}

#[utoipa::path(get, path = "/api/v1/services/{service}/integrations", tag = "integrations",
    params(("service" = NameText, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<IntegrationBody>), (status = 404, body = Problem)))]
pub async fn list_service_integrations(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(service): Path<String>,
) -> Result<Json<ListBody<IntegrationBody>>, ApiError> {
    let name = Name::parse(&service)
        .map_err(|_| ApiError::not_found(format!("there is no service named `{service}`")))?;
    app.service(&name).await?;
    let items = app
        .list_integrations()
        .await?
        .into_iter()
        .filter(|i| i.service == name)
        .map(IntegrationBody::from)
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<IntegrationBody>)))]
pub async fn list_integrations(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<IntegrationBody>>, ApiError> {
    let items = app
        .list_integrations()
        .await?
        .into_iter()
        .map(IntegrationBody::from)
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

#[utoipa::path(post, path = "/api/v1/integrations/{id}/rotate", tag = "integrations",
    params(("id" = String, Path)),
    security(("bearer" = ["admin"])),
    request_body(content = Option<NoFields>, description = "No body, or `{}`"),
    responses((status = 201, body = IntegrationBody, description = "The new key, shown once; the old keys keep working until revoked"),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn rotate_integration(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<(StatusCode, Json<IntegrationBody>), ApiError> {
    let issued_key = app.rotate_integration(&caller.principal, &id).await?;
    Ok((StatusCode::CREATED, Json(issued(issued_key))))
}

#[utoipa::path(delete, path = "/api/v1/integrations/{id}/keys/{key}", tag = "integrations",
    params(("id" = String, Path), ("key" = String, Path, description = "The key's id (key_...)")),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = IntegrationBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke_integration_key(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<IntegrationBody>, ApiError> {
    let record = app
        .revoke_integration_key(&caller.principal, &id, &key)
        .await?;
    Ok(Json(record.into()))
}

// --- silences -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Alertmanager-style matchers, at least one, all of which must hold:
    /// `alertname="DiskFull"`, `env!="dev"`, `service=~"check.*"` (the regex must compile).
    #[schema(min_items = 1)]
    pub matchers: Vec<String>,
    /// Why; shown on every alert the silence suppresses.
    pub comment: Comment,
    /// When it starts; defaults to now.
    pub starts_at: Option<Time>,
    /// When it ends: after the start and in the future. Give this or `duration`, not both.
    pub ends_at: Option<Time>,
    /// How long from the start, e.g. `2h`, `30m`, `1h30m` or `PT2H`; positive, and ending by
    /// 2200. Give this or `ends_at`, not both.
    pub duration: Option<Text100>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SilenceQuery {
    /// true: also silences that ended in the last 24 hours.
    pub expired: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/silences", tag = "silences", params(SilenceQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<SilenceBody>)))]
pub async fn list_silences(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<SilenceQuery>,
) -> Result<Json<ListBody<SilenceBody>>, ApiError> {
    let now = app.clock.now();
    let items = app
        .list_silences(q.expired.unwrap_or(false))
        .await?
        .into_iter()
        .map(|s| SilenceBody::from(s, now))
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

/// A duration like `30m`, `2h`, `1h30m` or ISO 8601 `PT2H`, added to `start`. The end must be
/// an instant the API accepts (by 2200), so a duration too long to add is refused here rather
/// than overflowing.
fn end_after(start: Timestamp, text: &str) -> Result<Timestamp, ApiError> {
    let t = text.trim();
    let span = t
        .parse::<jiff::SignedDuration>()
        .ok()
        .filter(|d| d.is_positive())
        .ok_or_else(|| {
            ApiError::invalid(
                "duration",
                format!("`{t}` is not a duration like 30m, 2h or 1h30m"),
            )
        })?;
    start
        .checked_add(span)
        .ok()
        .filter(|end| firebreak_ingest::in_accepted_range(*end))
        .ok_or_else(|| {
            ApiError::invalid(
                "duration",
                "is too long: the silence must end by 2200-12-31T23:59:59Z",
            )
        })
}

#[utoipa::path(post, path = "/api/v1/silences", tag = "silences", request_body = SilenceRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = SilenceBody)))]
pub async fn create_silence(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<SilenceRequest>,
) -> Result<(StatusCode, Json<SilenceBody>), ApiError> {
    let now = app.clock.now();
    let starts_at = req.starts_at.map(|t| t.0);
    let start = starts_at.unwrap_or(now);
    let ends_at = match (req.ends_at.map(|t| t.0), req.duration.as_ref()) {
        (Some(end), None) => end,
        (None, Some(d)) => end_after(start, &d.0)?,
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "ends_at",
                "give ends_at or duration, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "ends_at",
                "give ends_at or duration (like 2h) so the silence ends on its own",
            ));
        }
    };
    let silence = app
        .create_silence(
            &caller.principal,
            &req.matchers,
            starts_at,
            ends_at,
            &req.comment.0,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(SilenceBody::from(silence, now))))
}

#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "silences", params(("id" = i64, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = SilenceBody, description = "The silence, now ended"), (status = 404, body = Problem)))]
pub async fn expire_silence(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<SilenceBody>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no silence {id}")))?;
    let silence = app.expire_silence(&caller.principal, id).await?;
    Ok(Json(SilenceBody::from(silence, app.clock.now())))
}

// --- maintenance windows --------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// A service that exists.
    pub service: NameText,
    /// When it starts; defaults to now.
    pub starts_at: Option<Time>,
    /// When it ends: after the start and in the future.
    pub ends_at: Time,
    pub comment: Comment,
}

#[utoipa::path(get, path = "/api/v1/maintenance-windows", tag = "maintenance",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<MaintenanceBody>)))]
pub async fn list_maintenance(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<MaintenanceBody>>, ApiError> {
    let now = app.clock.now();
    let items = app
        .list_maintenance()
        .await?
        .into_iter()
        .map(|w| MaintenanceBody::from(w, now))
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

#[utoipa::path(post, path = "/api/v1/maintenance-windows", tag = "maintenance", request_body = MaintenanceRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = MaintenanceBody), (status = 404, body = Problem, description = "No such service")))]
pub async fn create_maintenance(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<MaintenanceRequest>,
) -> Result<(StatusCode, Json<MaintenanceBody>), ApiError> {
    let now = app.clock.now();
    let window = app
        .create_maintenance(
            &caller.principal,
            &req.service.0,
            req.starts_at.map_or(now, |t| t.0),
            req.ends_at.0,
            &req.comment.0,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MaintenanceBody::from(window, now)),
    ))
}

#[utoipa::path(delete, path = "/api/v1/maintenance-windows/{id}", tag = "maintenance", params(("id" = i64, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = MaintenanceBody), (status = 404, body = Problem)))]
pub async fn end_maintenance(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<MaintenanceBody>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no maintenance window {id}")))?;
    let window = app.end_maintenance(&caller.principal, id).await?;
    Ok(Json(MaintenanceBody::from(window, app.clock.now())))
}

// --- routing rules --------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    /// Matchers that must all hold; an empty list matches every alert. Each is
    /// Alertmanager-style, and a regex must compile.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Send matching alerts to this service, which must exist.
    pub service: Option<NameText>,
    /// Give matching alerts this severity.
    pub severity: Option<AlertLevel>,
    /// Give matching alerts this urgency.
    pub urgency: Option<UrgencyLevel>,
    /// Drop matching alerts. A rule that drops sets no service, severity or urgency.
    #[serde(default)]
    pub drop: bool,
}

#[utoipa::path(get, path = "/api/v1/routing-rules", tag = "routing",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<RouteBody>, description = "In the order they are tried: config rules first")))]
pub async fn list_routes(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<RouteBody>>, ApiError> {
    let items = app
        .list_routes()
        .await?
        .into_iter()
        .map(|(record, route)| RouteBody::from(record, route))
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

#[utoipa::path(post, path = "/api/v1/routing-rules", tag = "routing", request_body = RouteRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = RouteBody)))]
pub async fn create_route(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<RouteRequest>,
) -> Result<(StatusCode, Json<RouteBody>), ApiError> {
    let route = Route {
        matchers: parse_matchers(&req.matchers)?,
        service: req.service.map(|s| s.0),
        severity: req.severity.map(Into::into),
        urgency: req.urgency.map(Into::into),
        drop: req.drop,
    };
    let record = app.create_route(&caller.principal, route).await?;
    let route = record.route.clone();
    Ok((
        StatusCode::CREATED,
        Json(RouteBody::from(Some(record), route)),
    ))
}

#[utoipa::path(delete, path = "/api/v1/routing-rules/{id}", tag = "routing", params(("id" = i64, Path)),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
pub async fn delete_route(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no routing rule {id}")))?;
    app.delete_route(&caller.principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- deployments ----------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRequest {
    /// A service that exists.
    pub service: NameText,
    pub version: Version,
    pub previous_version: Option<Text200>,
    pub commit: Option<Text100>,
    pub author: Option<Text200>,
    /// An http(s) link to the pipeline or release.
    pub link: Option<HttpLink>,
    /// When the deploy happened; defaults to now, and may be at most 5 minutes ahead of it.
    pub at: Option<Time>,
    pub summary: Option<Text1024>,
    /// Who reports it: `api` (the default), `cli`, `ci`, or another short lowercase word;
    /// `pagerduty` is kept for change events.
    pub source: Option<DeploySource>,
    /// A rollback: never flagged as a deploy during a freeze (rollbacks are always allowed),
    /// and counted in no change failure rate. Defaults to true when `rolls_back` is given,
    /// false otherwise; false together with `rolls_back` or `incident` is refused.
    pub rollback: Option<bool>,
    /// For a rollback: the id of the deploy it undid, an earlier deploy of the same service
    /// that is not itself a rollback. The change failure rate counts that deploy as failed
    /// when `incident` is given too.
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "crate::fields::optional_whole_i64")]
    pub rolls_back: Option<i64>,
    /// For a rollback: the incident it was run for (`INC-7`), which must exist.
    pub incident: Option<crate::fields::IncidentRef>,
    /// A deploy a game day rehearses (default false): it counts in DORA only with `drills=true`, is flagged
    /// during no freeze, and is a suspect of drill incidents only. A drill rollback undoes a
    /// drill deploy.
    pub drill: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeploymentQuery {
    pub service: Option<NameText>,
    pub limit: Option<Limit>,
    pub cursor: Option<IdCursor>,
}

#[utoipa::path(post, path = "/api/v1/deployments", tag = "deployments", request_body = DeploymentRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = DeploymentBody)))]
pub async fn record_deployment(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<DeploymentRequest>,
) -> Result<(StatusCode, Json<DeploymentBody>), ApiError> {
    let new = NewDeployment {
        service: req.service.0,
        version: req.version.into_inner(),
        previous_version: req.previous_version.map(Text200::into_inner),
        commit: req.commit.map(Text100::into_inner),
        author: req.author.map(Text200::into_inner),
        link: req.link.map(HttpLink::into_inner),
        at: req.at.map(|t| t.0),
        summary: req.summary.map(Text1024::into_inner),
        rollback: req.rollback.unwrap_or(req.rolls_back.is_some()),
        rolls_back: req.rolls_back,
        incident: req.incident.map(|i| i.0),
        drill: req.drill.unwrap_or(false),
    };
    let source = req
        .source
        .map_or_else(|| "api".into(), DeploySource::into_inner);
    let d = app
        .record_deployment(&caller.principal, new, &source)
        .await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", params(DeploymentQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<DeploymentBody>)))]
pub async fn list_deployments(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<DeploymentQuery>,
) -> Result<Json<ListBody<DeploymentBody>>, ApiError> {
    let service = q.service.map(|s| s.0);
    let page = app
        .list_deployments(
            service.as_ref(),
            IdCursor::of(q.cursor),
            Limit::or_default(q.limit),
        )
        .await?;
    Ok(Json(ListBody::new(
        page.items.into_iter().map(Into::into).collect(),
        page.next,
    )))
}
