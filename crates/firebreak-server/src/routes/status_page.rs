//! The status page over the API: components (admins manage them; responders set or clear a
//! status by hand) and status updates on incidents (public or internal).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::AccessRole;
use firebreak_domain::status_page::{
    Audience, ComponentStatus, PublicMaintenance, PublicStatus, StatusUpdate, Subscriber,
    SubscriberKind,
};
use firebreak_engine::Firebreak;
use firebreak_engine::status_page::{
    ComponentInput, ComponentPatch, ComponentView, MaintenanceInput, UpdateInput,
};
use firebreak_store::TimelineEntry;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Admin, ApiJson, Caller, NoBody, Responder, Viewer};
use crate::fields::{
    ComponentName, LongText, NameText, NoteText, Text1000, Time, Title, WebhookUrl,
};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::{names, number};
use crate::wire::ListBody;

/// A component's status on the public page.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatusName {
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
    UnderMaintenance,
}

impl ComponentStatusName {
    fn status(self) -> ComponentStatus {
        match self {
            ComponentStatusName::Operational => ComponentStatus::Operational,
            ComponentStatusName::DegradedPerformance => ComponentStatus::DegradedPerformance,
            ComponentStatusName::PartialOutage => ComponentStatus::PartialOutage,
            ComponentStatusName::MajorOutage => ComponentStatus::MajorOutage,
            ComponentStatusName::UnderMaintenance => ComponentStatus::UnderMaintenance,
        }
    }
}

/// The public status an update gives its incident.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatusName {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl PublicStatusName {
    fn status(self) -> PublicStatus {
        match self {
            PublicStatusName::Investigating => PublicStatus::Investigating,
            PublicStatusName::Identified => PublicStatus::Identified,
            PublicStatusName::Monitoring => PublicStatus::Monitoring,
            PublicStatusName::Resolved => PublicStatus::Resolved,
        }
    }
}

/// Who an update is for.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AudienceName {
    /// The status page, its feeds and its subscribers.
    Public,
    /// The incident channels and stakeholders.
    Internal,
}

/// A status page component.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentBody {
    /// Its public id, the same on the status page's JSON.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub group: Option<String>,
    /// The services whose public incidents set its status.
    pub services: Vec<String>,
    /// What the page shows now.
    pub status: String,
    /// A status set by hand, which holds until it is cleared (`PATCH` with `"status": null`).
    pub manual_status: Option<String>,
    pub position: u32,
    /// Declared in firebreak.yaml.
    pub from_config: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

fn component_body(v: ComponentView) -> ComponentBody {
    let c = v.component;
    ComponentBody {
        id: c.id,
        name: c.name,
        description: c.description,
        group: c.group,
        services: c.services.iter().map(|s| s.to_string()).collect(),
        status: v.status.as_str().into(),
        manual_status: c.manual.map(|m| m.as_str().into()),
        position: c.position,
        from_config: c.from_config,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentRequest {
    pub name: ComponentName,
    pub description: Option<Text1000>,
    /// The group it is shown under; a group and a component cannot share a name.
    pub group: Option<ComponentName>,
    /// Services whose public incidents set its status; each must exist.
    #[serde(default)]
    pub services: Vec<NameText>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentChange {
    /// A status set by hand; `null` clears it, so the page derives it again.
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    #[schema(value_type = Option<ComponentStatusName>, nullable)]
    pub status: Option<Option<ComponentStatusName>>,
    /// Admins only. `null` clears it.
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    #[schema(value_type = Option<Text1000>, nullable)]
    pub description: Option<Option<Text1000>>,
    /// Admins only. `null` takes it out of its group.
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    #[schema(value_type = Option<ComponentName>, nullable)]
    pub group: Option<Option<ComponentName>>,
    /// Admins only.
    pub services: Option<Vec<NameText>>,
}

#[utoipa::path(get, path = "/api/v1/status-page/components", tag = "status page",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<ComponentBody>)))]
pub async fn list_components(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<ComponentBody>>, ApiError> {
    let items = app.list_components().await?;
    Ok(Json(ListBody::keyed(
        items.into_iter().map(component_body).collect(),
        None,
    )))
}

#[utoipa::path(post, path = "/api/v1/status-page/components", tag = "status page",
    request_body = ComponentRequest, security(("bearer" = ["admin"])),
    responses((status = 201, body = ComponentBody),
        (status = 409, body = Problem, description = "A component with that name exists")))]
pub async fn create_component(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<ComponentRequest>,
) -> Result<(StatusCode, Json<ComponentBody>), ApiError> {
    let made = app
        .create_component(
            &caller.principal,
            ComponentInput {
                name: req.name.into_inner(),
                description: req.description.map(Text1000::into_inner),
                group: req.group.map(ComponentName::into_inner),
                services: names(req.services),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(component_body(made))))
}

#[utoipa::path(get, path = "/api/v1/status-page/components/{id}", tag = "status page",
    params(("id" = String, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = ComponentBody), (status = 404, body = Problem)))]
pub async fn show_component(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<ComponentBody>, ApiError> {
    let view = app.status_view().await?;
    let found = view.component(&id).cloned().ok_or_else(|| {
        ApiError::not_found(format!(
            "there is no status page component with the id `{id}`; GET /api/v1/status-page/components lists them"
        ))
    })?;
    Ok(Json(component_body(found)))
}

#[utoipa::path(patch, path = "/api/v1/status-page/components/{id}", tag = "status page",
    params(("id" = String, Path)), request_body = ComponentChange, security(("bearer" = ["responder"])),
    responses((status = 200, body = ComponentBody), (status = 404, body = Problem),
        (status = 403, body = Problem, description = "Only admins change more than the status")))]
pub async fn update_component(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ComponentChange>,
) -> Result<Json<ComponentBody>, ApiError> {
    let beyond_status = req.description.is_some() || req.group.is_some() || req.services.is_some();
    if beyond_status && caller.principal.role < AccessRole::Admin {
        return Err(ApiError::forbidden(
            "only admins change a component's description, group or services; a responder may set or clear its status",
        ));
    }
    let patch = ComponentPatch {
        status: req.status.map(|s| s.map(ComponentStatusName::status)),
        description: req.description.map(|d| d.map(Text1000::into_inner)),
        group: req.group.map(|g| g.map(ComponentName::into_inner)),
        services: req.services.map(names),
    };
    let changed = app.update_component(&caller.principal, &id, patch).await?;
    Ok(Json(component_body(changed)))
}

#[utoipa::path(delete, path = "/api/v1/status-page/components/{id}", tag = "status page",
    params(("id" = String, Path)), security(("bearer" = ["admin"])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_component(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _body: NoBody,
) -> Result<StatusCode, ApiError> {
    app.delete_component(&caller.principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusUpdateRequest {
    pub audience: AudienceName,
    /// The public status; a public update without one keeps the current status (or starts at
    /// `investigating`). Internal updates have none.
    pub status: Option<PublicStatusName>,
    /// What people should know. Leave it out to use `template`.
    pub body: Option<NoteText>,
    /// Fill the body from this status's template ("We are investigating reports of problems
    /// with {components}."); also the status when `status` is left out.
    pub template: Option<PublicStatusName>,
    /// Components this public update sets, by name; what it sets holds until the incident
    /// resolves.
    #[schema(value_type = Option<BTreeMap<String, ComponentStatusName>>)]
    pub components: Option<BTreeMap<String, ComponentStatusName>>,
    /// Whether subscribers are told (public updates; default true).
    pub notify: Option<bool>,
}

/// A status update on an incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusUpdateBody {
    /// Its place on the incident's timeline.
    pub seq: i64,
    /// The incident, e.g. `INC-7`.
    pub incident: String,
    pub audience: String,
    pub status: Option<String>,
    pub body: String,
    /// Components it set, by name.
    pub components: BTreeMap<String, String>,
    pub notify: bool,
    pub posted_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub posted_at: Timestamp,
}

fn update_body(incident: &str, entry: &TimelineEntry, u: &StatusUpdate) -> StatusUpdateBody {
    StatusUpdateBody {
        seq: entry.seq,
        incident: incident.to_string(),
        audience: u.audience.as_str().into(),
        status: u.status.map(|s| s.as_str().into()),
        body: u.body.clone(),
        components: u
            .components
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().to_string()))
            .collect(),
        notify: u.notify,
        posted_by: entry.actor.clone(),
        posted_at: entry.at,
    }
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/status-updates", tag = "status page",
    params(("id" = String, Path, description = "INC-7 or 7")),
    request_body = StatusUpdateRequest, security(("bearer" = ["responder"])),
    responses((status = 201, body = StatusUpdateBody), (status = 404, body = Problem)))]
pub async fn post_update(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StatusUpdateRequest>,
) -> Result<(StatusCode, Json<StatusUpdateBody>), ApiError> {
    let n = number(&id)?;
    let input = UpdateInput {
        audience: match req.audience {
            AudienceName::Public => Audience::Public,
            AudienceName::Internal => Audience::Internal,
        },
        status: req.status.map(PublicStatusName::status),
        body: req.body.map(NoteText::into_inner),
        template: req.template.map(PublicStatusName::status),
        components: req
            .components
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.status()))
            .collect(),
        notify: req.notify,
    };
    let posted = app.post_status_update(&caller.principal, n, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(update_body(&n.to_string(), &posted.entry, &posted.update)),
    ))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/status-updates", tag = "status page",
    params(("id" = String, Path, description = "INC-7 or 7")), security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<StatusUpdateBody>), (status = 404, body = Problem)))]
pub async fn list_updates(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<ListBody<StatusUpdateBody>>, ApiError> {
    let n = number(&id)?;
    let entries = app.status_updates(n).await?;
    let items = entries
        .iter()
        .filter_map(|e| match &e.event {
            firebreak_domain::TimelineEvent::StatusUpdate(u) => {
                Some(update_body(&n.to_string(), e, u))
            }
            _ => None,
        })
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

/// Scheduled maintenance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledMaintenanceBody {
    pub id: i64,
    pub name: String,
    pub body: String,
    /// Component names.
    pub components: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    /// `scheduled`, `in_progress` or `completed`, from the clock.
    pub status: String,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

fn maintenance_body(m: PublicMaintenance, now: Timestamp) -> ScheduledMaintenanceBody {
    ScheduledMaintenanceBody {
        status: m.phase(now).as_str().into(),
        id: m.id,
        name: m.name,
        body: m.body,
        components: m.components,
        starts_at: m.starts_at,
        ends_at: m.ends_at,
        created_by: m.created_by,
        created_at: m.created_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledMaintenanceRequest {
    pub name: Title,
    /// When it starts; now when left out.
    pub starts_at: Option<Time>,
    /// When it ends: after the start, in the future, at most 14 days after the start.
    pub ends_at: Time,
    /// The components it affects, by name; their services' alerts are suppressed while it runs.
    pub components: Vec<ComponentName>,
    /// What customers should expect.
    pub body: Option<LongText>,
}

#[utoipa::path(get, path = "/api/v1/scheduled-maintenances", tag = "status page",
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<ScheduledMaintenanceBody>)))]
pub async fn list_maintenances(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<ScheduledMaintenanceBody>>, ApiError> {
    let now = app.clock.now();
    let items = app
        .list_scheduled_maintenances()
        .await?
        .into_iter()
        .map(|m| maintenance_body(m, now))
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

#[utoipa::path(post, path = "/api/v1/scheduled-maintenances", tag = "status page",
    request_body = ScheduledMaintenanceRequest, security(("bearer" = ["responder"])),
    responses((status = 201, body = ScheduledMaintenanceBody)))]
pub async fn schedule_maintenance(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<ScheduledMaintenanceRequest>,
) -> Result<(StatusCode, Json<ScheduledMaintenanceBody>), ApiError> {
    let now = app.clock.now();
    let m = app
        .schedule_maintenance(
            &caller.principal,
            MaintenanceInput {
                name: req.name.into_inner(),
                body: req.body.map(LongText::into_inner),
                components: req
                    .components
                    .into_iter()
                    .map(ComponentName::into_inner)
                    .collect(),
                starts_at: req.starts_at.map_or(now, |t| t.0),
                ends_at: req.ends_at.0,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(maintenance_body(m, now))))
}

#[utoipa::path(delete, path = "/api/v1/scheduled-maintenances/{id}", tag = "status page",
    params(("id" = i64, Path)), security(("bearer" = ["responder"])),
    responses((status = 200, body = ScheduledMaintenanceBody, description = "Ended now, or dropped if it had not started"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "It is already over")))]
pub async fn cancel_maintenance(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _body: NoBody,
) -> Result<Json<ScheduledMaintenanceBody>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("there is no scheduled maintenance {id}")))?;
    let m = app.cancel_maintenance(&caller.principal, id).await?;
    Ok(Json(maintenance_body(m, app.clock.now())))
}

/// A status page subscriber (admins only: addresses are personal data).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberBody {
    pub id: String,
    /// `email` or `webhook`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The address, or the webhook URL.
    pub target: String,
    /// The components followed; null follows all.
    pub components: Option<Vec<String>>,
    /// Email subscribers get nothing until they confirm.
    pub confirmed: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub confirmed_at: Option<Timestamp>,
    /// A webhook subscriber's signing secret, shown once, in the answer that adds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn subscriber_body(s: Subscriber, secret: Option<String>) -> SubscriberBody {
    SubscriberBody {
        id: s.id,
        kind: s.kind.as_str().into(),
        target: if s.kind == SubscriberKind::Webhook {
            firebreak_domain::contact::mask_url(&s.target)
        } else {
            s.target
        },
        components: s.components,
        confirmed: s.confirmed_at.is_some(),
        created_at: s.created_at,
        confirmed_at: s.confirmed_at,
        secret,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriberRequest {
    /// Where signed JSON updates are POSTed; it must be an address Firebreak may call.
    pub url: WebhookUrl,
    /// The components to follow, by name; left out, all of them.
    pub components: Option<Vec<ComponentName>>,
}

#[utoipa::path(get, path = "/api/v1/status-page/subscribers", tag = "status page",
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ListBody<SubscriberBody>)))]
pub async fn list_subscribers(
    _c: Caller<Admin>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<SubscriberBody>>, ApiError> {
    let items = app
        .list_subscribers()
        .await?
        .into_iter()
        .map(|s| subscriber_body(s, None))
        .collect();
    Ok(Json(ListBody::keyed(items, None)))
}

#[utoipa::path(post, path = "/api/v1/status-page/subscribers", tag = "status page",
    request_body = WebhookSubscriberRequest, security(("bearer" = ["admin"])),
    responses((status = 201, body = SubscriberBody), (status = 409, body = Problem)))]
pub async fn add_subscriber(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<WebhookSubscriberRequest>,
) -> Result<(StatusCode, Json<SubscriberBody>), ApiError> {
    let (s, secret) = app
        .add_webhook_subscriber(
            &caller.principal,
            &req.url.0,
            req.components
                .map(|c| c.into_iter().map(ComponentName::into_inner).collect()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(subscriber_body(s, Some(secret)))))
}

#[utoipa::path(delete, path = "/api/v1/status-page/subscribers/{id}", tag = "status page",
    params(("id" = String, Path)), security(("bearer" = ["admin"])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove_subscriber(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _body: NoBody,
) -> Result<StatusCode, ApiError> {
    app.remove_subscriber(&caller.principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
