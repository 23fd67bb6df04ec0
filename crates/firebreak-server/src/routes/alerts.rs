//! `/api/v1/alerts`, integrations, silences, maintenance windows, routing rules and
//! deployments. Everyone may read. Responders acknowledge and resolve alerts, silence them,
//! schedule maintenance and record deploys; admins manage integrations and routing rules.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use firebreak_domain::rules::Route;
use firebreak_domain::{AlertAction, AlertSeverity, AlertStatus, Name, Urgency};
use firebreak_engine::Firebreak;
use firebreak_engine::alerts::{IssuedKey, parse_matchers};
use firebreak_engine::deployments::NewDeployment;
use firebreak_store::AlertFilter;
use jiff::Timestamp;
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, ApiJson, Caller, Responder, Viewer};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{cursor, limit, number};
use crate::wire::{
    AlertBody, DeploymentBody, IntegrationBody, ListBody, MaintenanceBody, RouteBody, SilenceBody,
};

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(q: QueryResult<T>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::invalid("query", e.body_text()))
}

fn service_name(field: &str, name: &str) -> Result<Name, ApiError> {
    Name::parse(name).map_err(|e| ApiError::invalid(field, e.to_string()))
}

fn word<T: std::str::FromStr<Err = String>>(field: &str, text: &str) -> Result<T, ApiError> {
    text.parse()
        .map_err(|e: String| ApiError::invalid(field, e))
}

fn alert_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("there is no alert {id}")))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AlertQuery {
    /// open, acknowledged, resolved or suppressed.
    pub status: Option<String>,
    /// A service name.
    pub service: Option<String>,
    /// An incident id (`INC-7` or `7`).
    pub incident: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = ListBody<AlertBody>), (status = 422, body = Problem)))]
pub async fn list_alerts(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    q: QueryResult<AlertQuery>,
) -> Result<Json<ListBody<AlertBody>>, ApiError> {
    let q = query(q)?;
    let nonempty = |v: Option<String>| v.filter(|v| !v.is_empty());
    let filter = AlertFilter {
        status: nonempty(q.status)
            .map(|s| word::<AlertStatus>("status", &s))
            .transpose()?,
        service: nonempty(q.service)
            .map(|s| service_name("service", &s))
            .transpose()?,
        incident: nonempty(q.incident)
            .map(|i| {
                number(&i).map_err(|_| {
                    ApiError::invalid(
                        "incident",
                        format!("`{i}` is not an incident id like INC-7"),
                    )
                })
            })
            .transpose()?,
    };
    let page = app
        .list_alerts(&filter, cursor(q.cursor.as_deref())?, limit(q.limit)?)
        .await?;
    Ok(Json(ListBody::new(
        page.items.into_iter().map(AlertBody::from).collect(),
        page.next,
    )))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = AlertBody), (status = 404, body = Problem)))]
pub async fn show_alert(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<AlertBody>, ApiError> {
    Ok(Json(AlertBody::from(app.alert(alert_id(&id)?).await?)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = AlertBody), (status = 404, body = Problem)))]
pub async fn acknowledge_alert(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<AlertBody>, ApiError> {
    let alert = app
        .act_on_alert(&caller.principal, alert_id(&id)?, AlertAction::Acknowledge)
        .await?;
    Ok(Json(AlertBody::from(alert)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = AlertBody), (status = 404, body = Problem)))]
pub async fn resolve_alert(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
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
    pub name: String,
}

fn issued(i: IssuedKey) -> IntegrationBody {
    let mut body = IntegrationBody::from(i.integration);
    body.key = Some(i.key.expose_secret().to_string());
    body.key_id = Some(i.key_id);
    body
}

#[utoipa::path(post, path = "/api/v1/services/{service}/integrations", tag = "integrations",
    params(("service" = String, Path)), request_body = IntegrationRequest,
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
        .create_integration(&caller.principal, &service, &req.name)
        .await?;
    Ok((StatusCode::CREATED, Json(issued(issued_key))))
}

#[utoipa::path(get, path = "/api/v1/services/{service}/integrations", tag = "integrations",
    params(("service" = String, Path)), responses((status = 200, body = ListBody<IntegrationBody>)))]
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
    responses((status = 201, body = IntegrationBody, description = "The new key, shown once; the old keys keep working until revoked"),
        (status = 404, body = Problem)))]
pub async fn rotate_integration(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<IntegrationBody>), ApiError> {
    let issued_key = app.rotate_integration(&caller.principal, &id).await?;
    Ok((StatusCode::CREATED, Json(issued(issued_key))))
}

#[utoipa::path(delete, path = "/api/v1/integrations/{id}/keys/{key}", tag = "integrations",
    params(("id" = String, Path), ("key" = String, Path, description = "The key's id (key_...)")),
    responses((status = 200, body = IntegrationBody), (status = 404, body = Problem)))]
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
    /// Alertmanager-style matchers, all of which must hold: `alertname="DiskFull"`, `env!="dev"`,
    /// `service=~"check.*"`.
    pub matchers: Vec<String>,
    /// Why; shown on every alert the silence suppresses.
    pub comment: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    /// When it ends. Give this or `duration`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    /// How long from the start, e.g. `2h` or `30m`.
    pub duration: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SilenceQuery {
    /// true: also silences that ended in the last 24 hours.
    pub expired: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/silences", tag = "silences", params(SilenceQuery),
    responses((status = 200, body = ListBody<SilenceBody>)))]
pub async fn list_silences(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    q: QueryResult<SilenceQuery>,
) -> Result<Json<ListBody<SilenceBody>>, ApiError> {
    let q = query(q)?;
    let now = app.clock.now();
    let items = app
        .list_silences(q.expired.unwrap_or(false))
        .await?
        .into_iter()
        .map(|s| SilenceBody::from(s, now))
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

/// A duration like `30m`, `2h`, `1h30m` or ISO 8601 `PT2H`.
fn parse_span(text: &str) -> Result<jiff::SignedDuration, ApiError> {
    let t = text.trim();
    t.parse::<jiff::SignedDuration>()
        .ok()
        .filter(|d| d.is_positive())
        .ok_or_else(|| {
            ApiError::invalid(
                "duration",
                format!("`{t}` is not a duration like 30m, 2h or 1h30m"),
            )
        })
}

#[utoipa::path(post, path = "/api/v1/silences", tag = "silences", request_body = SilenceRequest,
    responses((status = 201, body = SilenceBody), (status = 422, body = Problem)))]
pub async fn create_silence(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<SilenceRequest>,
) -> Result<(StatusCode, Json<SilenceBody>), ApiError> {
    let now = app.clock.now();
    let start = req.starts_at.unwrap_or(now);
    let ends_at = match (req.ends_at, req.duration.as_deref()) {
        (Some(end), None) => end,
        (None, Some(d)) => start + parse_span(d)?,
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
            req.starts_at,
            ends_at,
            &req.comment,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(SilenceBody::from(silence, now))))
}

#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "silences", params(("id" = i64, Path)),
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
    pub service: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    pub comment: String,
}

#[utoipa::path(get, path = "/api/v1/maintenance-windows", tag = "maintenance",
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
    responses((status = 201, body = MaintenanceBody), (status = 422, body = Problem)))]
pub async fn create_maintenance(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<MaintenanceRequest>,
) -> Result<(StatusCode, Json<MaintenanceBody>), ApiError> {
    let now = app.clock.now();
    let service = service_name("service", &req.service)?;
    let window = app
        .create_maintenance(
            &caller.principal,
            &service,
            req.starts_at.unwrap_or(now),
            req.ends_at,
            &req.comment,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MaintenanceBody::from(window, now)),
    ))
}

#[utoipa::path(delete, path = "/api/v1/maintenance-windows/{id}", tag = "maintenance", params(("id" = i64, Path)),
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
    /// Matchers that must all hold; an empty list matches every alert.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Send matching alerts to this service.
    pub service: Option<String>,
    /// critical, error, warning or info.
    pub severity: Option<String>,
    /// high or low.
    pub urgency: Option<String>,
    /// Drop matching alerts.
    #[serde(default)]
    pub drop: bool,
}

#[utoipa::path(get, path = "/api/v1/routing-rules", tag = "routing",
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
    responses((status = 201, body = RouteBody), (status = 422, body = Problem)))]
pub async fn create_route(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<RouteRequest>,
) -> Result<(StatusCode, Json<RouteBody>), ApiError> {
    let route = Route {
        matchers: parse_matchers(&req.matchers)?,
        service: req
            .service
            .as_deref()
            .map(|s| service_name("service", s))
            .transpose()?,
        severity: req
            .severity
            .as_deref()
            .map(|s| word::<AlertSeverity>("severity", s))
            .transpose()?,
        urgency: req
            .urgency
            .as_deref()
            .map(|u| word::<Urgency>("urgency", u))
            .transpose()?,
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
    responses((status = 204), (status = 404, body = Problem)))]
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
    pub service: String,
    pub version: String,
    pub previous_version: Option<String>,
    pub commit: Option<String>,
    pub author: Option<String>,
    /// An http(s) link to the pipeline or release.
    pub link: Option<String>,
    /// When the deploy happened; defaults to now.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
    pub summary: Option<String>,
    /// Who reports it: `api` (the default), `cli`, `ci`, or another short lowercase word.
    pub source: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeploymentQuery {
    pub service: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/deployments", tag = "deployments", request_body = DeploymentRequest,
    responses((status = 201, body = DeploymentBody), (status = 422, body = Problem)))]
pub async fn record_deployment(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<DeploymentRequest>,
) -> Result<(StatusCode, Json<DeploymentBody>), ApiError> {
    let new = NewDeployment {
        service: service_name("service", &req.service)?,
        version: req.version,
        previous_version: req.previous_version,
        commit: req.commit,
        author: req.author,
        link: req.link,
        at: req.at,
        summary: req.summary,
    };
    let source = req.source.unwrap_or_else(|| "api".into());
    let plain = !source.is_empty()
        && source.len() <= 32
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !plain || source == "pagerduty" {
        return Err(ApiError::invalid(
            "source",
            "must be a short lowercase word like api, cli or ci (pagerduty is for change events)",
        ));
    }
    let d = app
        .record_deployment(&caller.principal, new, &source)
        .await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", params(DeploymentQuery),
    responses((status = 200, body = ListBody<DeploymentBody>)))]
pub async fn list_deployments(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    q: QueryResult<DeploymentQuery>,
) -> Result<Json<ListBody<DeploymentBody>>, ApiError> {
    let q = query(q)?;
    let service = q
        .service
        .filter(|s| !s.is_empty())
        .map(|s| service_name("service", &s))
        .transpose()?;
    let page = app
        .list_deployments(
            service.as_ref(),
            cursor(q.cursor.as_deref())?,
            limit(q.limit)?,
        )
        .await?;
    Ok(Json(ListBody::new(
        page.items.into_iter().map(Into::into).collect(),
        page.next,
    )))
}
