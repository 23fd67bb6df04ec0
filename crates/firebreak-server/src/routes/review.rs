//! Reviewing incidents. `/api/v1/incidents/{id}/postmortem`: draft it, read it, edit it from the
//! version read, check it for blaming language and dismiss findings with a reason, publish it,
//! list every saved revision, and read it whole as Markdown. `/api/v1/action-items`: the
//! follow-up work, each item with one owner and a due date, listed soonest due first.
//!
//! `PUT` on a postmortem takes back the body `GET` answered (a client reads it, changes a
//! section and sends it all), so it ignores the fields it cannot change instead of refusing
//! them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebreak_domain::action_item::{ActionItem, ItemChange, NewItem};
use firebreak_domain::blameless::Finding;
use firebreak_domain::postmortem::Section;
use firebreak_engine::review::PostmortemView;
use firebreak_engine::review::items::today;
use firebreak_engine::{EngineError, Firebreak};
use firebreak_store::{ActionItemFilter, Dismissal, Revision};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::extract::{ApiJson, ApiQuery, Caller, NoBody, Responder, Viewer};
use crate::fields::{
    CalendarDate, Comment, IdCursor, IncidentId, IncidentRef, IncidentStatus, ItemReason,
    ItemStatusName, ItemTitle, Limit, LongText, NameText, PostmortemStatusName, SectionKeyName,
    SectionMarkdown, Text200, TicketUrl, VersionNumber,
};
use crate::problem::{ApiError, Problem};
use crate::routes::incidents::number;
use crate::wire::ListBody;

// --- postmortems -----------------------------------------------------------------------------

/// One section of a postmortem.
#[derive(Debug, Serialize, ToSchema)]
pub struct SectionBody {
    #[schema(value_type = SectionKeyName)]
    pub key: String,
    pub title: String,
    /// Markdown.
    pub markdown: String,
}

impl From<Section> for SectionBody {
    fn from(s: Section) -> Self {
        SectionBody {
            key: s.key,
            title: s.title,
            markdown: s.markdown,
        }
    }
}

/// A phrase the blameless-language check flags, with a reframing.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingBody {
    /// The rule that found it, e.g. `human-error`.
    pub rule: String,
    /// Send this to `.../postmortem/dismiss` to dismiss it; it survives unrelated edits.
    pub key: String,
    #[schema(value_type = SectionKeyName)]
    pub section: String,
    /// Where it starts in the section's Markdown, in characters (Unicode code points, not
    /// bytes or UTF-16 units).
    pub start: u64,
    /// Where it ends, in characters, exclusive.
    pub end: u64,
    /// Exactly the section's characters `start..end`.
    pub text: String,
    /// Why the phrasing is a problem.
    pub reason: String,
    /// How to say it instead.
    pub suggestion: String,
}

impl From<Finding> for FindingBody {
    fn from(f: Finding) -> Self {
        FindingBody {
            key: f.key(),
            rule: f.rule,
            section: f.section,
            start: f.start as u64,
            end: f.end as u64,
            text: f.text,
            reason: f.reason,
            suggestion: f.suggestion,
        }
    }
}

/// A section that still holds prompts only people can answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptBody {
    #[schema(value_type = SectionKeyName)]
    pub section: String,
    /// How many prompts are left in it.
    pub count: u64,
}

/// A finding someone dismissed, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct DismissalBody {
    pub key: String,
    pub reason: String,
    pub by: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

impl From<Dismissal> for DismissalBody {
    fn from(d: Dismissal) -> Self {
        DismissalBody {
            key: d.key,
            reason: d.reason,
            by: d.by,
            at: Timestamp::from_millisecond(d.at_ms).unwrap_or_default(),
        }
    }
}

/// An incident's postmortem. Send it back to `PUT` with your changes: the fields it cannot
/// change (`incident`, `findings`, ...) are ignored there.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostmortemBody {
    /// The incident it reviews, e.g. `INC-7`.
    pub incident: String,
    /// The incident's own lifecycle status.
    pub incident_status: IncidentStatus,
    pub status: PostmortemStatusName,
    /// Name it in `PUT`: the edit applies only if nobody saved since.
    pub version: i64,
    pub sections: Vec<SectionBody>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub updated_by: String,
    /// When it was published; null while it is not `published` (moving it back to draft
    /// clears it; `.../postmortem/revisions` keeps every version).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<Timestamp>,
    /// Blameless-language findings nobody dismissed.
    pub findings: Vec<FindingBody>,
    /// Sections that still hold prompts only people can answer.
    pub prompts: Vec<PromptBody>,
    /// Findings dismissed, with why.
    pub dismissed: Vec<DismissalBody>,
}

impl From<PostmortemView> for PostmortemBody {
    fn from(v: PostmortemView) -> Self {
        let r = v.record;
        PostmortemBody {
            incident: r.number.to_string(),
            incident_status: v.incident.status.into(),
            status: r.status.into(),
            version: r.version,
            sections: r.sections.into_iter().map(Into::into).collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
            published_at: r.published_at,
            findings: v.findings.into_iter().map(Into::into).collect(),
            prompts: v
                .prompts
                .into_iter()
                .map(|(section, count)| PromptBody {
                    section,
                    count: count as u64,
                })
                .collect(),
            dismissed: r.dismissed.into_iter().map(Into::into).collect(),
        }
    }
}

/// A section as an edit or a check sends it. Its `title` (which `GET` shows) may be sent
/// back and is ignored: a section's title follows its key.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SectionEdit {
    pub key: SectionKeyName,
    pub title: Option<Text200>,
    /// Markdown. Headings inside a section are `###` and below (a `## ` line would start
    /// another section in the exported document), and every code fence is closed.
    pub markdown: SectionMarkdown,
}

/// The sections sent, each key at most once.
fn sections(given: Vec<SectionEdit>) -> Result<Vec<Section>, ApiError> {
    let mut out: Vec<Section> = Vec::with_capacity(given.len());
    for (i, s) in given.into_iter().enumerate() {
        if out.iter().any(|o| o.key == s.key.0) {
            return Err(ApiError::invalid(
                format!("sections[{i}].key"),
                format!(
                    "`{}` is sent twice; send each section at most once",
                    s.key.0
                ),
            ));
        }
        out.push(Section {
            key: s.key.0,
            title: String::new(),
            markdown: s.markdown.into_inner(),
        });
    }
    Ok(out)
}

/// The body of `PUT`: the postmortem as `GET` answered it, changed. Only `version`,
/// `sections` and `status` are read; other fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PostmortemEdit {
    /// The `version` you read.
    pub version: VersionNumber,
    /// The sections to save, each at most once; sections left out keep their text.
    #[serde(default)]
    #[schema(max_items = 8)]
    pub sections: Vec<SectionEdit>,
    /// `draft` or `in_review` to move it; the status it has changes nothing. Publish with
    /// `POST .../postmortem/publish`, which checks the blameless findings first.
    pub status: Option<PostmortemStatusName>,
}

/// The largest body an edit or a check takes: every section at its longest, with each
/// character escaped as JSON allows (`\uXXXX\uXXXX` for one outside the BMP), and the rest
/// of a `GET` body sent back. The API's 1 MB would refuse a postmortem its own rules allow.
pub const POSTMORTEM_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// A move the postmortem's lifecycle does not allow is a conflict with its state, as an
/// incident's is, not a bad field.
fn refused_move(e: EngineError) -> ApiError {
    match e {
        EngineError::Invalid { field, message } if field == "status" => {
            ApiError::conflict(format!("status: {message}"))
        }
        e => e.into(),
    }
}

/// Drafts the postmortem from what Firebreak recorded (timeline, alerts, deploys, action
/// items). A resolved incident gets one by itself; this drafts one on demand.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/postmortem", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["responder"])),
    request_body(content = Option<crate::fields::NoFields>, description = "No body, or `{}`"),
    responses((status = 201, body = PostmortemBody), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The incident has a postmortem")))]
pub async fn draft_postmortem(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<(StatusCode, Json<PostmortemBody>), ApiError> {
    let view = app
        .draft_postmortem(&caller.principal, number(&id)?)
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// Refreshes what Firebreak filled in from the record as it is now: every section whose
/// text is still exactly what Firebreak generated (nobody changed it) is drafted again, such
/// as the duration, the mitigation and resolution times and the timeline's key moments once
/// the incident has moved on. Sections people changed are kept as they are. Saved as a new
/// version by `firebreak` when anything changed; the same version otherwise. Mitigating and
/// resolving an incident do this by themselves.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/postmortem/refresh", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["responder"])),
    request_body(content = Option<crate::fields::NoFields>, description = "No body, or `{}`"),
    responses((status = 200, body = PostmortemBody), (status = 404, body = Problem, description = "No such incident, or no postmortem yet"),
        (status = 409, body = Problem, description = "The postmortem is published")))]
pub async fn refresh_postmortem(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Json<PostmortemBody>, ApiError> {
    let (view, _) = app
        .refresh_postmortem(&caller.principal, number(&id)?)
        .await?;
    Ok(Json(view.into()))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/postmortem", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = PostmortemBody),
        (status = 404, body = Problem, description = "No such incident, or no postmortem yet")))]
pub async fn show_postmortem(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<PostmortemBody>, ApiError> {
    Ok(Json(app.postmortem(number(&id)?).await?.into()))
}

/// Saves an edit made from `version`: the sections sent replace theirs, the others keep their
/// text. Every save is kept as a revision.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/postmortem", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["responder"])),
    request_body = PostmortemEdit,
    responses((status = 200, body = PostmortemBody), (status = 404, body = Problem),
        (status = 413, body = Problem, description = "The body is larger than 8 MB"),
        (status = 409, body = Problem, description = "Someone saved since `version` (read it again and reapply the edit), the status cannot move there, or it is published")))]
pub async fn edit_postmortem(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PostmortemEdit>,
) -> Result<Json<PostmortemBody>, ApiError> {
    let n = number(&id)?;
    let view = app
        .edit_postmortem(
            &caller.principal,
            n,
            req.version.0,
            sections(req.sections)?,
            req.status.map(Into::into),
        )
        .await
        .map_err(refused_move)?;
    Ok(Json(view.into()))
}

/// The body of a check: unsaved sections, or nothing to check the saved text.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Text from an editor to check in place of the saved sections, each section at most
    /// once; sections left out are checked as saved.
    #[schema(max_items = 8)]
    pub sections: Option<Vec<SectionEdit>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FindingsBody {
    /// In the order the sections come, then by where they start. Dismissed findings are left
    /// out.
    pub findings: Vec<FindingBody>,
}

/// A body that may be left out: nothing, white space, or JSON read as `T`.
fn optional_body<T: DeserializeOwned>(body: &Bytes) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    crate::extract::parse_json(body).map(Some)
}

/// Checks the postmortem's text for blaming language: the saved sections, or the unsaved
/// ones sent. Nothing is saved.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/postmortem/check", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["viewer"])),
    request_body(content = Option<CheckRequest>, description = "No body (or `{}`) checks the saved text"),
    responses((status = 200, body = FindingsBody), (status = 404, body = Problem),
        (status = 413, body = Problem, description = "The body is larger than 8 MB")))]
pub async fn check_postmortem(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<FindingsBody>, ApiError> {
    let n = number(&id)?;
    let req: CheckRequest = optional_body(&body)?.unwrap_or_default();
    let sent = req.sections.map(sections).transpose()?;
    let findings = app.check_postmortem(n, sent).await?;
    Ok(Json(FindingsBody {
        findings: findings.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// Publish even with open blameless-language findings.
    pub confirm: Option<bool>,
    /// The `version` you read: publishing is refused (409) if someone saved since.
    pub version: Option<VersionNumber>,
}

/// Publishes the postmortem. With open blameless-language findings it needs
/// `{"confirm": true}`; without, the answer is 409 naming them.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/postmortem/publish", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["responder"])),
    request_body(content = Option<PublishRequest>, description = "No body, `{}`, `{\"confirm\": true}`, and `version` to publish only what you read"),
    responses((status = 200, body = PostmortemBody), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Findings are open and `confirm` was not sent, someone saved since `version`, or it is published")))]
pub async fn publish_postmortem(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<PostmortemBody>, ApiError> {
    let n = number(&id)?;
    let req: PublishRequest = optional_body(&body)?.unwrap_or_default();
    let view = app
        .publish_postmortem(
            &caller.principal,
            n,
            req.confirm.unwrap_or(false),
            req.version.map(|v| v.0),
        )
        .await?;
    Ok(Json(view.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    /// The finding's `key`.
    pub key: LongText,
    /// Why the wording is fine, e.g. "a quote from the customer's report".
    pub reason: Comment,
}

/// Dismisses an open finding with a reason. The dismissal holds through later edits that keep
/// the phrase.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/postmortem/dismiss", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["responder"])),
    request_body = DismissRequest,
    responses((status = 200, body = PostmortemBody),
        (status = 404, body = Problem, description = "No such incident or postmortem, or no open finding with that key"),
        (status = 409, body = Problem, description = "Someone saved at the same moment; try again")))]
pub async fn dismiss_finding(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DismissRequest>,
) -> Result<Json<PostmortemBody>, ApiError> {
    let n = number(&id)?;
    let view = app
        .dismiss_finding(
            &caller.principal,
            n,
            req.key.into_inner(),
            req.reason.into_inner(),
        )
        .await?;
    Ok(Json(view.into()))
}

/// One saved version of a postmortem.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionBody {
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Who saved it.
    pub actor: String,
    pub status: PostmortemStatusName,
    pub sections: Vec<SectionBody>,
}

impl From<Revision> for RevisionBody {
    fn from(r: Revision) -> Self {
        RevisionBody {
            version: r.version,
            at: r.at,
            actor: r.actor,
            status: r.status.into(),
            sections: r.sections.into_iter().map(Into::into).collect(),
        }
    }
}

/// Every saved version, oldest first.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/postmortem/revisions", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<RevisionBody>), (status = 404, body = Problem)))]
pub async fn postmortem_revisions(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<ListBody<RevisionBody>>, ApiError> {
    let revisions = app.postmortem_revisions(number(&id)?).await?;
    Ok(Json(ListBody::keyed(
        revisions.into_iter().map(Into::into).collect(),
        None,
    )))
}

/// The postmortem as one Markdown document, to paste into a wiki or keep beside the code.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/postmortem.md", tag = "postmortems",
    params(("id" = IncidentId, Path, description = "INC-7 or 7")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, content_type = "text/markdown", body = String,
            description = "The postmortem in Markdown (UTF-8)",
            headers(("Content-Disposition" = String, description = "`inline; filename=\"INC-7-postmortem.md\"`"))),
        (status = 404, body = Problem)))]
pub async fn postmortem_markdown(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let n = number(&id)?;
    let text = app.postmortem_markdown(n).await?;
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{n}-postmortem.md\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

// --- action items ----------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionItemBody {
    pub id: i64,
    /// The incident it came from, e.g. `INC-7`.
    pub incident: Option<String>,
    pub title: String,
    /// The handle of the user who owns it.
    pub owner: String,
    #[schema(value_type = String, format = Date)]
    pub due: String,
    pub ticket_url: Option<String>,
    pub status: ItemStatusName,
    /// Why it won't be done, or a note on closing it.
    pub reason: Option<String>,
    /// Open and its due date has passed (a day ends at midnight UTC).
    pub overdue: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// When it was done or dropped.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<Timestamp>,
    /// Bumped on every change; send it with a `PATCH` to change only what you read.
    pub version: i64,
}

fn item_body(item: ActionItem, today: jiff::civil::Date) -> ActionItemBody {
    ActionItemBody {
        overdue: item.overdue(today),
        id: item.id,
        incident: item.incident.map(|n| n.to_string()),
        title: item.title,
        owner: item.owner.to_string(),
        due: item.due.to_string(),
        ticket_url: item.ticket_url,
        status: item.status.into(),
        reason: item.reason,
        created_at: item.created_at,
        created_by: item.created_by,
        updated_at: item.updated_at,
        closed_at: item.closed_at,
        version: item.version,
    }
}

fn item_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("there is no action item {id}")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItemRequest {
    pub title: ItemTitle,
    /// The handle of a user who is not disabled: they are reminded when it is overdue.
    pub owner: NameText,
    /// Today (UTC) or later.
    pub due: CalendarDate,
    pub ticket_url: Option<TicketUrl>,
    /// The incident it comes from, which must exist; its timeline records the item.
    pub incident: Option<IncidentRef>,
}

/// Adds an action item, on its incident's timeline when it has one.
#[utoipa::path(post, path = "/api/v1/action-items", tag = "action-items",
    security(("bearer" = ["responder"])),
    request_body = NewItemRequest,
    responses((status = 201, body = ActionItemBody)))]
pub async fn add_action_item(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<NewItemRequest>,
) -> Result<(StatusCode, Json<ActionItemBody>), ApiError> {
    let new = NewItem {
        title: req.title.into_inner(),
        owner: req.owner.0,
        due: req.due.0,
        ticket_url: req.ticket_url.map(TicketUrl::into_inner),
        incident: req.incident.map(|i| i.0),
    };
    let item = app.add_action_item(&caller.principal, new).await?;
    let today = today(app.clock.now());
    Ok((StatusCode::CREATED, Json(item_body(item, today))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemQuery {
    /// Only the items this user owns.
    pub owner: Option<NameText>,
    pub status: Option<ItemStatusName>,
    /// `true`: only open items whose due date has passed (before today, UTC). `false` or
    /// absent: whatever their due date.
    pub overdue: Option<bool>,
    /// Only the items of this incident.
    pub incident: Option<IncidentRef>,
    pub limit: Option<Limit>,
    pub cursor: Option<IdCursor>,
}

/// Action items, soonest due first.
#[utoipa::path(get, path = "/api/v1/action-items", tag = "action-items", params(ItemQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<ActionItemBody>),
        (status = 404, body = Problem, description = "There is no incident with the `incident` given")))]
pub async fn list_action_items(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<ItemQuery>,
) -> Result<Json<ListBody<ActionItemBody>>, ApiError> {
    let today = today(app.clock.now());
    let filter = ActionItemFilter {
        owner: q.owner.map(|o| o.0),
        status: q.status.map(Into::into),
        incident: q.incident.map(|i| i.0),
        overdue_on: q.overdue.unwrap_or(false).then_some(today),
    };
    let page = app
        .list_action_items(&filter, IdCursor::of(q.cursor), Limit::or_default(q.limit))
        .await?;
    Ok(Json(ListBody::new(
        page.items
            .into_iter()
            .map(|i| item_body(i, today))
            .collect(),
        page.next,
    )))
}

#[utoipa::path(get, path = "/api/v1/action-items/{id}", tag = "action-items",
    params(("id" = i64, Path)),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ActionItemBody), (status = 404, body = Problem)))]
pub async fn show_action_item(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<ActionItemBody>, ApiError> {
    let item = app.action_item(item_id(&id)?).await?;
    Ok(Json(item_body(item, today(app.clock.now()))))
}

/// The fields of a `PATCH`; the schema adds that `wont_do` needs a `reason`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatchFields {
    pub title: Option<ItemTitle>,
    /// The handle of a user who is not disabled.
    pub owner: Option<NameText>,
    pub due: Option<CalendarDate>,
    /// `null` removes the link.
    #[serde(default, deserialize_with = "crate::fields::nullable")]
    #[schema(value_type = Option<TicketUrl>)]
    pub ticket_url: Option<Option<TicketUrl>>,
    /// `wont_do` needs a `reason`; `open` again clears the reason and the closing time.
    pub status: Option<ItemStatusName>,
    /// Why it won't be done (required with `wont_do`), or a note on closing it.
    pub reason: Option<ItemReason>,
    /// The `version` you read: the change applies only if nobody changed the item since.
    pub version: Option<VersionNumber>,
}

/// A change to an action item: only the fields sent change.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct ItemPatchRequest(pub ItemPatchFields);

impl PartialSchema for ItemPatchRequest {
    fn schema() -> RefOr<Schema> {
        let mut schema = ItemPatchFields::schema();
        // Closing as `wont_do` needs a reason (checked in `change_action_item`), which the
        // derive cannot write.
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            let extensions = object.extensions.get_or_insert_with(Default::default);
            extensions.insert(
                "if".into(),
                serde_json::json!({"required": ["status"], "properties": {"status": {"const": "wont_do"}}}),
            );
            extensions.insert(
                "then".into(),
                serde_json::json!({"required": ["reason"], "properties": {"reason": {"not": {"type": "null"}}}}),
            );
        }
        schema
    }
}

impl ToSchema for ItemPatchRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        ItemPatchFields::schemas(schemas);
    }
}

#[utoipa::path(patch, path = "/api/v1/action-items/{id}", tag = "action-items",
    params(("id" = i64, Path)),
    security(("bearer" = ["responder"])),
    request_body = ItemPatchRequest,
    responses((status = 200, body = ActionItemBody), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The item changed since `version`: read it again")))]
pub async fn change_action_item(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
    ApiJson(ItemPatchRequest(req)): ApiJson<ItemPatchRequest>,
) -> Result<Json<ActionItemBody>, ApiError> {
    let id = item_id(&id)?;
    if req.status == Some(ItemStatusName::WontDo) && req.reason.is_none() {
        return Err(ApiError::invalid(
            "reason",
            "is required to close an item as `wont_do`: say why it won't be done",
        ));
    }
    let change = ItemChange {
        title: req.title.map(ItemTitle::into_inner),
        owner: req.owner.map(|o| o.0),
        due: req.due.map(|d| d.0),
        ticket_url: req.ticket_url.map(|u| u.map(TicketUrl::into_inner)),
        status: req.status.map(Into::into),
        reason: req.reason.map(ItemReason::into_inner),
    };
    let item = app
        .change_action_item(&caller.principal, id, change, req.version.map(|v| v.0))
        .await?;
    Ok(Json(item_body(item, today(app.clock.now()))))
}
