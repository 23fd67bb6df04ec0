//! `/api/v1/incidents`: declare, list, read, change, roles, checklist, timeline and notes.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use firebreak_domain::{Incident, IncidentNumber, Name, NewIncident, Status};
use firebreak_engine::Firebreak;
use firebreak_engine::incidents::IncidentPatch;
use firebreak_store::IncidentFilter;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, Caller, Responder, Viewer};
use crate::problem::{ApiError, Problem};
use crate::wire::{ChecklistItemBody, IncidentBody, ListBody, TimelineEntryBody};

pub(crate) fn number(id: &str) -> Result<IncidentNumber, ApiError> {
    id.parse()
        .map_err(|e: firebreak_domain::ids::BadIncidentNumber| ApiError::not_found(e.to_string()))
}

pub(crate) fn names(field: &str, given: Vec<String>) -> Result<Vec<Name>, ApiError> {
    given
        .iter()
        .map(|s| Name::parse(s).map_err(|e| ApiError::invalid(field, e.to_string())))
        .collect()
}

/// Page size: 50 by default, at most 500 (larger asks get 500).
/// The incidents as the API shows them, with their alerts and suspect deploys.
pub(crate) async fn incident_bodies(
    app: &Firebreak,
    incidents: Vec<Incident>,
) -> Result<Vec<IncidentBody>, ApiError> {
    let numbers: Vec<_> = incidents.iter().map(|i| i.number).collect();
    let mut alerts = app.alerts_of(&numbers).await?;
    let mut out = Vec::with_capacity(incidents.len());
    for incident in incidents {
        let suspects = app.suspects(&incident).await?;
        let number = incident.number;
        let mut body = IncidentBody::from(incident, &app.config);
        if let Some((ids, all_resolved)) = alerts.remove(&number) {
            body.alerts = ids;
            body.alerts_resolved = Some(all_resolved);
        }
        body.suspect_deploys = suspects.into_iter().map(Into::into).collect();
        out.push(body);
    }
    Ok(out)
}

pub(crate) async fn incident_body(
    app: &Firebreak,
    incident: Incident,
) -> Result<IncidentBody, ApiError> {
    let mut bodies = incident_bodies(app, vec![incident]).await?;
    bodies.pop().ok_or_else(ApiError::internal)
}

pub(crate) fn limit(given: Option<u32>) -> Result<u32, ApiError> {
    match given {
        None => Ok(50),
        Some(0) => Err(ApiError::invalid("limit", "must be between 1 and 500")),
        Some(n) => Ok(n.min(500)),
    }
}

/// `limit` and `cursor` for lists that are small enough to page in memory.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Pages `items` in order of `key`: the entries after `cursor`, at most `limit` of them, and the
/// cursor for the next page when more remain.
pub(crate) fn page_by_key<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = limit(q.limit)? as usize;
    items.sort_by_key(|i| key(i));
    let after = q.cursor.filter(|c| !c.is_empty());
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_ref().is_none_or(|c| key(i) > *c))
        .collect();
    let next = (rest.len() > limit).then(|| key(&rest[limit - 1]));
    rest.truncate(limit);
    Ok((rest, next))
}

pub(crate) fn cursor(given: Option<&str>) -> Result<Option<i64>, ApiError> {
    given
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::invalid(
                    "cursor",
                    "is not a cursor from a previous page's next_cursor",
                )
            })
        })
        .transpose()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    pub title: String,
    /// A configured severity name, e.g. `SEV2`.
    pub severity: String,
    #[serde(default)]
    pub services: Vec<String>,
    pub summary: Option<String>,
    pub customer_impact: Option<String>,
    #[serde(default)]
    pub drill: bool,
    /// When the problem was first noticed, if before the declaration.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub detected_at: Option<Timestamp>,
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = DeclareRequest,
    responses((status = 201, body = IncidentBody), (status = 422, body = Problem)))]
pub async fn declare(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<DeclareRequest>,
) -> Result<(StatusCode, Json<IncidentBody>), ApiError> {
    let new = NewIncident {
        title: req.title,
        severity: req.severity,
        services: names("services", req.services)?,
        summary: req.summary,
        customer_impact: req.customer_impact,
        drill: req.drill,
        detected_at: req.detected_at,
    };
    let incident = app.declare(&caller.principal, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(incident_body(&app, incident).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// investigating, identified, mitigated or resolved.
    pub status: Option<String>,
    pub severity: Option<String>,
    pub service: Option<String>,
    /// true: only open incidents; false: only resolved ones.
    pub open: Option<String>,
    pub drill: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn flag(field: &str, v: Option<&str>) -> Result<Option<bool>, ApiError> {
    match v {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(
            field,
            format!("`{other}` is not true or false"),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(ListQuery),
    responses((status = 200, body = ListBody<IncidentBody>)))]
pub async fn list(
    _caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListBody<IncidentBody>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<Status>()
                .map_err(|e| ApiError::invalid("status", e.to_string()))?,
        ),
    };
    let severity = match q.severity.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            app.config
                .severity(s)
                .map(|s| s.name.clone())
                .ok_or_else(|| {
                    ApiError::invalid("severity", format!("`{s}` is not a configured severity"))
                })?,
        ),
    };
    let service = match q.service.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Name::parse(s).map_err(|e| ApiError::invalid("service", e.to_string()))?),
    };
    let filter = IncidentFilter {
        status,
        severity,
        service,
        open: flag("open", q.open.as_deref())?,
        drill: flag("drill", q.drill.as_deref())?,
    };
    let page = app
        .list_incidents(&filter, cursor(q.cursor.as_deref())?, limit(q.limit)?)
        .await?;
    let items = incident_bodies(&app, page.items).await?;
    Ok(Json(ListBody::new(items, page.next)))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "INC-7 or 7")),
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
    pub title: Option<String>,
    pub summary: Option<String>,
    pub customer_impact: Option<String>,
    pub severity: Option<String>,
    /// Why the severity changed; recorded on the timeline.
    pub reason: Option<String>,
    pub status: Option<String>,
    pub services: Option<Vec<String>>,
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = PatchRequest,
    params(("id" = String, Path, description = "INC-7 or 7")),
    responses((status = 200, body = IncidentBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn patch(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PatchRequest>,
) -> Result<Json<IncidentBody>, ApiError> {
    let n = number(&id)?;
    let status = req
        .status
        .as_deref()
        .map(|s| {
            s.parse::<Status>()
                .map_err(|e| ApiError::invalid("status", e.to_string()))
        })
        .transpose()?;
    let services = req.services.map(|s| names("services", s)).transpose()?;
    let patch = IncidentPatch {
        title: req.title,
        summary: req.summary,
        customer_impact: req.customer_impact,
        severity: req.severity,
        reason: req.reason,
        status,
        services,
    };
    let incident = app.patch(&caller.principal, n, patch).await?;
    Ok(Json(incident_body(&app, incident).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The user's handle.
    pub user: String,
}

#[utoipa::path(put, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents", request_body = AssignRequest,
    params(("id" = String, Path), ("role" = String, Path, description = "role key or name, e.g. incident-commander")),
    responses((status = 200, body = IncidentBody), (status = 422, body = Problem)))]
pub async fn assign(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path((id, role)): Path<(String, String)>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> Result<Json<IncidentBody>, ApiError> {
    let n = number(&id)?;
    let user = Name::parse(&req.user).map_err(|e| ApiError::invalid("user", e.to_string()))?;
    let incident = app.assign_role(&caller.principal, n, &role, &user).await?;
    Ok(Json(incident_body(&app, incident).await?))
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents",
    params(("id" = String, Path), ("role" = String, Path)),
    responses((status = 200, body = IncidentBody)))]
pub async fn unassign(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path((id, role)): Path<(String, String)>,
) -> Result<Json<IncidentBody>, ApiError> {
    let incident = app
        .remove_role(&caller.principal, number(&id)?, &role)
        .await?;
    Ok(Json(incident_body(&app, incident).await?))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/checklist", tag = "incidents",
    params(("id" = String, Path)), responses((status = 200, body = ListBody<ChecklistItemBody>)))]
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
    params(("id" = String, Path), ("item" = u32, Path)),
    responses((status = 200, body = IncidentBody), (status = 404, body = Problem)))]
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

#[derive(Debug, Deserialize, IntoParams)]
pub struct TimelineQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents",
    params(("id" = String, Path), TimelineQuery), responses((status = 200, body = ListBody<TimelineEntryBody>)))]
pub async fn timeline(
    _caller: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    query: Result<Query<TimelineQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListBody<TimelineEntryBody>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let page = app
        .timeline(number(&id)?, cursor(q.cursor.as_deref())?, limit(q.limit)?)
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
    pub body: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", request_body = NoteRequest,
    params(("id" = String, Path)), responses((status = 201, body = TimelineEntryBody)))]
pub async fn note(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<(StatusCode, Json<TimelineEntryBody>), ApiError> {
    let entry = app
        .add_note(&caller.principal, number(&id)?, &req.body)
        .await?;
    Ok((StatusCode::CREATED, Json(entry.into())))
}
