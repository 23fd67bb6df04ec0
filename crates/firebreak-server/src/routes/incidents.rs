//! `/api/v1/incidents`: declare, list, read, change, roles, checklist, timeline and notes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::{Incident, IncidentNumber, Name, NewIncident, Status};
use firebreak_engine::Firebreak;
use firebreak_engine::incidents::{IncidentPatch, OnResolve, PublicOutcome};
use firebreak_store::IncidentFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, ApiQuery, Caller, Responder, Viewer};
use crate::fields::{
    IdCursor, IncidentId, IncidentStatus, Limit, LongText, NameText, NoteText, SeverityName,
    Text200, Time, Title,
};
use crate::problem::{ApiError, Problem};
use crate::wire::{ChecklistItemBody, IncidentBody, ListBody, TimelineEntryBody};

pub(crate) fn number(id: &str) -> Result<IncidentNumber, ApiError> {
    id.parse()
        .map_err(|e: firebreak_domain::ids::BadIncidentNumber| ApiError::not_found(e.to_string()))
}

pub(crate) fn names(given: Vec<NameText>) -> Vec<Name> {
    given.into_iter().map(|n| n.0).collect()
}

/// The incidents as the API shows them, with their alerts and suspect deploys.
pub(crate) async fn incident_bodies(
    app: &Firebreak,
    incidents: Vec<Incident>,
) -> Result<Vec<IncidentBody>, ApiError> {
    Ok(app
        .incident_views(incidents)
        .await?
        .into_iter()
        .map(|view| IncidentBody::from_view(view, &app.config))
        .collect())
}

pub(crate) async fn incident_body(
    app: &Firebreak,
    incident: Incident,
) -> Result<IncidentBody, ApiError> {
    let mut bodies = incident_bodies(app, vec![incident]).await?;
    bodies.pop().ok_or_else(ApiError::internal)
}

/// `limit` and `cursor` for lists that are small enough to page in memory.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<Limit>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `limit` and `cursor` for lists that page by id in the store.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdPageQuery {
    pub limit: Option<Limit>,
    pub cursor: Option<IdCursor>,
}

/// Pages `items` in order of `key`: the entries after `cursor`, at most `limit` of them, and the
/// cursor for the next page when more remain.
pub(crate) fn page_by_key<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    q: PageQuery,
) -> (Vec<T>, Option<String>) {
    let limit = Limit::or_default(q.limit) as usize;
    items.sort_by_key(|i| key(i));
    let after = q.cursor.filter(|c| !c.is_empty());
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_ref().is_none_or(|c| key(i) > *c))
        .collect();
    let next = (rest.len() > limit).then(|| key(&rest[limit - 1]));
    rest.truncate(limit);
    (rest, next)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    pub title: Title,
    pub severity: SeverityName,
    /// Services it affects; each must exist.
    #[serde(default)]
    pub services: Vec<NameText>,
    pub summary: Option<LongText>,
    pub customer_impact: Option<LongText>,
    #[serde(default)]
    pub drill: bool,
    /// When the problem was first noticed, if before the declaration; not in the future.
    pub detected_at: Option<Time>,
    /// `false` pages nobody; `true` pages the services' on-call even for a severity that
    /// normally does not page. Absent: as the severity's `page` list says.
    pub page: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = DeclareRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = IncidentBody)))]
pub async fn declare(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<DeclareRequest>,
) -> Result<(StatusCode, Json<IncidentBody>), ApiError> {
    let new = NewIncident {
        title: req.title.into_inner(),
        severity: req.severity.0,
        services: names(req.services),
        summary: req.summary.map(LongText::into_inner),
        customer_impact: req.customer_impact.map(LongText::into_inner),
        drill: req.drill,
        detected_at: req.detected_at.map(|t| t.0),
    };
    let incident = app.declare_paging(&caller.principal, new, req.page).await?;
    Ok((
        StatusCode::CREATED,
        Json(incident_body(&app, incident).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub status: Option<IncidentStatus>,
    pub severity: Option<SeverityName>,
    pub service: Option<NameText>,
    /// true: only open incidents; false: only resolved ones.
    pub open: Option<bool>,
    /// true: only drills; false: only real incidents.
    pub drill: Option<bool>,
    pub limit: Option<Limit>,
    pub cursor: Option<IdCursor>,
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(ListQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<IncidentBody>)))]
pub async fn list(
    _caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListBody<IncidentBody>>, ApiError> {
    let severity = match q.severity {
        None => None,
        Some(SeverityName(s)) => Some(app.config.severity(&s).map(|s| s.name.clone()).ok_or_else(
            || ApiError::invalid("severity", format!("`{s}` is not a configured severity")),
        )?),
    };
    let filter = IncidentFilter {
        status: q.status.map(Status::from),
        severity,
        service: q.service.map(|n| n.0),
        open: q.open,
        drill: q.drill,
    };
    let page = app
        .list_incidents(&filter, IdCursor::of(q.cursor), Limit::or_default(q.limit))
        .await?;
    let items = incident_bodies(&app, page.items).await?;
    Ok(Json(ListBody::new(items, page.next)))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = IncidentBody), (status = 404, body = Problem)))]
pub async fn show(
    _caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<IncidentBody>, ApiError> {
    let incident = app.incident(number(&id)?).await?;
    Ok(Json(incident_body(&app, incident).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    pub title: Option<Title>,
    pub summary: Option<LongText>,
    pub customer_impact: Option<LongText>,
    pub severity: Option<SeverityName>,
    /// Why the severity changed; recorded on the timeline. Goes with `severity`.
    pub reason: Option<LongText>,
    /// A move the lifecycle does not allow (such as reopening without a reason) is a 409.
    pub status: Option<IncidentStatus>,
    /// Services it affects; each must exist.
    pub services: Option<Vec<NameText>>,
    /// The name the public status page shows instead of the title; `""` clears it.
    pub public_title: Option<Text200>,
    /// With `"status": "resolved"`: the public update to post. Leave it out to post the
    /// `resolved` template when the incident has public updates; send text to post your own;
    /// send `false` to keep the page's current public status (say, monitoring) a while longer.
    #[schema(value_type = Option<Object>)]
    #[serde(default, deserialize_with = "on_resolve")]
    pub public_update: Option<OnResolveBody>,
}

/// `public_update` in a PATCH: text, or `false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnResolveBody {
    Text(String),
    Skip,
}

fn on_resolve<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<OnResolveBody>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Bool(false) => Ok(Some(OnResolveBody::Skip)),
        serde_json::Value::String(s) => {
            NoteText::RULE.check(&s).map_err(D::Error::custom)?;
            Ok(Some(OnResolveBody::Text(s)))
        }
        _ => Err(D::Error::custom(
            "must be the text of the public `resolved` update, or false to post none",
        )),
    }
}

/// What resolving did on the public status page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicUpdateOutcome {
    /// `posted` (a `resolved` update went out), `kept` (asked not to; the page still shows
    /// `status`), `not_public` (the incident has no public updates) or `already_resolved`.
    pub outcome: String,
    /// The public status the page shows now.
    pub status: Option<String>,
    /// The body posted, for `posted`.
    pub body: Option<String>,
}

/// An incident, and what a resolve did on the status page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatchedBody {
    #[serde(flatten)]
    pub incident: IncidentBody,
    /// Present when the change resolved the incident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_update: Option<PublicUpdateOutcome>,
}

impl PublicUpdateOutcome {
    fn of(o: PublicOutcome) -> PublicUpdateOutcome {
        let (outcome, status, body) = match o {
            PublicOutcome::Posted { body } => ("posted", Some("resolved".to_string()), Some(body)),
            PublicOutcome::Kept { status } => ("kept", Some(status.as_str().to_string()), None),
            PublicOutcome::NotPublic => ("not_public", None, None),
            PublicOutcome::AlreadyResolved => ("already_resolved", Some("resolved".into()), None),
        };
        PublicUpdateOutcome {
            outcome: outcome.into(),
            status,
            body,
        }
    }
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = PatchRequest,
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = PatchedBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn patch(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PatchRequest>,
) -> Result<Json<PatchedBody>, ApiError> {
    let n = number(&id)?;
    let patch = IncidentPatch {
        title: req.title.map(Title::into_inner),
        summary: req.summary.map(LongText::into_inner),
        customer_impact: req.customer_impact.map(LongText::into_inner),
        severity: req.severity.map(|s| s.0),
        reason: req.reason.map(LongText::into_inner),
        status: req.status.map(Status::from),
        services: req.services.map(names),
        public_title: req.public_title.map(Text200::into_inner),
        public_update: match req.public_update {
            None => OnResolve::Template,
            Some(OnResolveBody::Text(t)) => OnResolve::Text(t),
            Some(OnResolveBody::Skip) => OnResolve::Skip,
        },
        expected_version: None,
    };
    let patched = app.patch(&caller.principal, n, patch).await?;
    Ok(Json(PatchedBody {
        incident: incident_body(&app, patched.incident).await?,
        public_update: patched.public.map(PublicUpdateOutcome::of),
    }))
}

/// A role in a path names a role this server is configured with, or there is nothing there.
fn known_role(app: &Firebreak, role: &str) -> Result<(), ApiError> {
    match app.config.role(role) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!(
            "there is no role `{role}`; the roles are {}",
            app.config
                .roles
                .iter()
                .map(|r| r.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The handle of a user who exists.
    pub user: NameText,
}

#[utoipa::path(put, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents", request_body = AssignRequest,
    params(("id" = IncidentId, Path), ("role" = String, Path, description = "role key or name, e.g. incident-commander")),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = IncidentBody), (status = 404, body = Problem, description = "No such incident or role"),
        (status = 409, body = Problem)))]
pub async fn assign(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path((id, role)): Path<(String, String)>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> Result<Json<IncidentBody>, ApiError> {
    let n = number(&id)?;
    known_role(&app, &role)?;
    let incident = app
        .assign_role(&caller.principal, n, &role, &req.user.0)
        .await?;
    Ok(Json(incident_body(&app, incident).await?))
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents",
    params(("id" = IncidentId, Path), ("role" = String, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = IncidentBody), (status = 404, body = Problem, description = "No such incident or role"),
        (status = 409, body = Problem)))]
pub async fn unassign(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path((id, role)): Path<(String, String)>,
) -> Result<Json<IncidentBody>, ApiError> {
    let n = number(&id)?;
    known_role(&app, &role)?;
    let incident = app.remove_role(&caller.principal, n, &role).await?;
    Ok(Json(incident_body(&app, incident).await?))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/checklist", tag = "incidents",
    params(("id" = IncidentId, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<ChecklistItemBody>), (status = 404, body = Problem)))]
pub async fn checklist(
    _caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<ListBody<ChecklistItemBody>>, ApiError> {
    let body = incident_body(&app, app.incident(number(&id)?).await?).await?;
    Ok(Json(ListBody::new(body.checklist, None)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistRequest {
    pub done: bool,
}

#[utoipa::path(put, path = "/api/v1/incidents/{id}/checklist/{item}", tag = "incidents", request_body = ChecklistRequest,
    params(("id" = IncidentId, Path), ("item" = u32, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = IncidentBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn check_item(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path((id, item)): Path<(String, String)>,
    ApiJson(req): ApiJson<ChecklistRequest>,
) -> Result<Json<IncidentBody>, ApiError> {
    let n = number(&id)?;
    let item: u32 = item
        .parse()
        .map_err(|_| ApiError::not_found(format!("`{item}` is not a checklist item number")))?;
    let incident = app
        .set_checklist_item(&caller.principal, n, item, req.done)
        .await?;
    Ok(Json(incident_body(&app, incident).await?))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents",
    params(("id" = IncidentId, Path), IdPageQuery), security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<TimelineEntryBody>), (status = 404, body = Problem)))]
pub async fn timeline(
    _caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<IdPageQuery>,
) -> Result<Json<ListBody<TimelineEntryBody>>, ApiError> {
    let page = app
        .timeline(
            number(&id)?,
            IdCursor::of(q.cursor),
            Limit::or_default(q.limit),
        )
        .await?;
    Ok(Json(ListBody::new(
        page.items.into_iter().map(Into::into).collect(),
        page.next,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Markdown.
    pub body: NoteText,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", request_body = NoteRequest,
    params(("id" = IncidentId, Path)), security(("bearer" = ["responder"])),
    responses((status = 201, body = TimelineEntryBody), (status = 404, body = Problem)))]
pub async fn note(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<(StatusCode, Json<TimelineEntryBody>), ApiError> {
    let entry = app
        .add_note(&caller.principal, number(&id)?, &req.body.0)
        .await?;
    Ok((StatusCode::CREATED, Json(entry.into())))
}
