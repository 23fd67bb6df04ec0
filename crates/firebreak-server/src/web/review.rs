//! Reviewing an incident: its postmortem page (each section with its blameless-language
//! findings highlighted, the prompts still to answer, an edit form per section, review and
//! publishing, the Markdown export) and its action items, and the list of open action items.
//!
//! Every form posts and redirects, so the page works without script. A save names the version
//! the page showed; when someone else saved meanwhile, the page comes back with the reason and
//! the text that was typed still in its box. Viewers read; responders change.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use firebreak_domain::action_item::{ActionItem, ItemChange, ItemStatus, NewItem};
use firebreak_domain::blameless::Finding;
use firebreak_domain::postmortem::{PostmortemStatus, Section};
use firebreak_domain::session::safe_next;
use firebreak_domain::{IncidentNumber, Name};
use firebreak_engine::accounts::SessionPrincipal;
use firebreak_engine::review::PostmortemView;
use firebreak_engine::review::items::today;
use firebreak_engine::{EngineError, Firebreak};
use firebreak_store::ActionItemFilter;
use jiff::civil::Date;
use serde::Deserialize;

use super::session::{Posted, Signed};
use super::{Frame, Path, Query, WebError, html, when};
use crate::extract::{Responder, Viewer};

/// How many action items a list shows at once.
const ITEMS_PAGE: u32 = 100;
/// The due date the add form suggests: two weeks out.
const DEFAULT_DUE_DAYS: i64 = 14;

fn number(n: &str) -> Result<IncidentNumber, WebError> {
    n.parse()
        .map_err(|_| WebError::NotFound(format!("`{n}` is not an incident number")))
}

/// How a postmortem's status reads on the pages.
pub(crate) fn status_label(s: PostmortemStatus) -> &'static str {
    match s {
        PostmortemStatus::Draft => "draft",
        PostmortemStatus::InReview => "in review",
        PostmortemStatus::Published => "published",
    }
}

/// The room's badge: the postmortem's status (its stored name and how it reads), if it has one.
pub(crate) async fn postmortem_badge(
    app: &Firebreak,
    n: IncidentNumber,
) -> Result<Option<(&'static str, &'static str)>, WebError> {
    let record = app
        .store
        .get_postmortem(n)
        .await
        .map_err(|e| WebError::from(EngineError::from(e)))?;
    Ok(record.map(|r| (r.status.as_str(), status_label(r.status))))
}

pub struct FindingView {
    key: String,
    text: String,
    reason: String,
    suggestion: String,
    section: String,
    section_title: String,
}

pub struct SectionView {
    key: String,
    title: String,
    /// The Markdown rendered (escaped, with the findings marked).
    html: String,
    empty: bool,
    findings: Vec<FindingView>,
    prompts: usize,
    /// What the edit box holds: the saved text, or what was typed when a save was refused.
    edit_text: String,
    /// The edit box starts open (a refused save).
    open: bool,
}

/// A section with prompts still to answer.
pub struct PromptsLeft {
    key: String,
    title: String,
    count: usize,
}

pub struct PostmortemShown {
    status: &'static str,
    status_label: &'static str,
    version: i64,
    updated: String,
    updated_by: String,
    published: String,
    sections: Vec<SectionView>,
    findings: Vec<FindingView>,
    /// Sections with prompts left.
    prompts: Vec<PromptsLeft>,
    editable: bool,
    /// The moves to offer besides publishing: (status, button).
    moves: Vec<(&'static str, &'static str)>,
    can_publish: bool,
}

/// An action item as the lists show it.
pub struct ItemView {
    pub id: i64,
    pub title: String,
    pub owner: String,
    pub due: String,
    pub ticket: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub open: bool,
    pub overdue: bool,
    pub reason: String,
    pub version: i64,
    /// The incident's number (for links; 0 when it came from none) and name.
    pub incident_id: i64,
    pub incident: String,
}

impl ItemView {
    pub fn of(item: &ActionItem, today: Date) -> ItemView {
        ItemView {
            id: item.id,
            title: item.title.clone(),
            owner: item.owner.to_string(),
            due: item.due.to_string(),
            ticket: item.ticket_url.clone().unwrap_or_default(),
            status: item.status.as_str(),
            status_label: match item.status {
                ItemStatus::Open => "open",
                ItemStatus::Done => "done",
                ItemStatus::WontDo => "won't do",
            },
            open: item.status == ItemStatus::Open,
            overdue: item.overdue(today),
            reason: item.reason.clone().unwrap_or_default(),
            version: item.version,
            incident_id: item.incident.map_or(0, |n| n.0),
            incident: item.incident.map(|n| n.to_string()).unwrap_or_default(),
        }
    }
}

/// What the add form held, to show it again when it was refused.
#[derive(Default)]
pub struct ItemDraft {
    title: String,
    owner: String,
    due: String,
    ticket_url: String,
}

#[derive(Template)]
#[template(path = "web/postmortem.html")]
struct PostmortemPage {
    frame: Frame,
    id: i64,
    number: String,
    title: String,
    severity: String,
    incident_status: &'static str,
    pm: Option<PostmortemShown>,
    items: Vec<ItemView>,
    users: Vec<String>,
    item: ItemDraft,
    today: String,
    notice: Option<String>,
    error: Option<String>,
    /// Publishing was asked for with findings open: ask again.
    confirm: bool,
    /// Where the item buttons come back to.
    back: String,
}

/// What a page shows beyond the postmortem itself.
#[derive(Default)]
struct Extra {
    notice: Option<String>,
    error: Option<String>,
    confirm: bool,
    /// A section's key and the text typed into it, when its save was refused.
    typed: Option<(String, String)>,
    item: Option<ItemDraft>,
}

fn shown(view: &PostmortemView, typed: Option<&(String, String)>) -> PostmortemShown {
    let record = &view.record;
    let title_of = |key: &str| {
        record
            .sections
            .iter()
            .find(|s| s.key == key)
            .map_or_else(|| key.to_string(), |s| s.title.clone())
    };
    let finding_view = |f: &Finding| FindingView {
        key: f.key(),
        text: f.text.clone(),
        reason: f.reason.clone(),
        suggestion: f.suggestion.clone(),
        section: f.section.clone(),
        section_title: title_of(&f.section),
    };
    let sections = record
        .sections
        .iter()
        .map(|s| {
            let mine: Vec<&Finding> = view
                .findings
                .iter()
                .filter(|f| f.section == s.key)
                .collect();
            let typed_here = typed.filter(|(k, _)| *k == s.key);
            SectionView {
                key: s.key.clone(),
                title: s.title.clone(),
                html: super::markdown::render(
                    &s.markdown,
                    &mine
                        .iter()
                        .map(|f| super::markdown::Mark {
                            start: f.start,
                            end: f.end,
                            note: &f.reason,
                        })
                        .collect::<Vec<_>>(),
                ),
                empty: s.markdown.trim().is_empty(),
                findings: mine.iter().map(|f| finding_view(f)).collect(),
                prompts: view
                    .prompts
                    .iter()
                    .find(|(k, _)| *k == s.key)
                    .map_or(0, |(_, n)| *n),
                edit_text: typed_here.map_or_else(|| s.markdown.clone(), |(_, t)| t.clone()),
                open: typed_here.is_some(),
            }
        })
        .collect();
    let status = record.status;
    PostmortemShown {
        status: status.as_str(),
        status_label: status_label(status),
        version: record.version,
        updated: when(record.updated_at),
        updated_by: record.updated_by.clone(),
        published: record.published_at.map(when).unwrap_or_default(),
        sections,
        findings: view.findings.iter().map(finding_view).collect(),
        prompts: view
            .prompts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| PromptsLeft {
                key: k.clone(),
                title: title_of(k),
                count: *n,
            })
            .collect(),
        editable: status != PostmortemStatus::Published,
        moves: status
            .moves()
            .iter()
            .filter_map(|(to, _)| match to {
                PostmortemStatus::Draft => Some(("draft", "Back to draft")),
                PostmortemStatus::InReview => Some(("in_review", "Move to review")),
                // Publishing has its own button, which checks the findings first.
                PostmortemStatus::Published => None,
            })
            .collect(),
        can_publish: status != PostmortemStatus::Published,
    }
}

/// The active users' handles, for the owner list.
pub(crate) async fn handles(app: &Firebreak) -> Result<Vec<String>, WebError> {
    Ok(app
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| u.handle.to_string())
        .collect())
}

async fn render(
    app: &Firebreak,
    n: IncidentNumber,
    me: &SessionPrincipal,
    csrf: &str,
    extra: Extra,
    status: StatusCode,
) -> Result<Response, WebError> {
    let incident = app.incident(n).await?;
    let view = match app.postmortem(n).await {
        Ok(v) => Some(v),
        Err(EngineError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let today = today(app.clock.now());
    let filter = ActionItemFilter {
        incident: Some(n),
        ..Default::default()
    };
    let items = app
        .list_action_items(&filter, None, ITEMS_PAGE)
        .await?
        .items
        .iter()
        .map(|i| ItemView::of(i, today))
        .collect();
    let frame = Frame::new(me, csrf, "incidents");
    let users = if frame.responder {
        handles(app).await?
    } else {
        Vec::new()
    };
    let item = extra.item.unwrap_or_else(|| ItemDraft {
        owner: me.session.user.to_string(),
        due: today
            .checked_add(jiff::Span::new().days(DEFAULT_DUE_DAYS))
            .unwrap_or(today)
            .to_string(),
        ..Default::default()
    });
    let page = PostmortemPage {
        id: n.0,
        number: n.to_string(),
        title: incident.title.clone(),
        severity: incident.severity.clone(),
        incident_status: incident.status.as_str(),
        pm: view.as_ref().map(|v| shown(v, extra.typed.as_ref())),
        items,
        users,
        item,
        today: today.to_string(),
        notice: extra.notice,
        error: extra.error,
        confirm: extra.confirm,
        back: format!("/incidents/{}/postmortem#action-items", n.0),
        frame,
    };
    Ok(html(status, page.render()))
}

/// A refusal the page can explain beside the form (a stale version, a wrong move, a bad
/// field, a finding already gone); anything else is an error page. (A missing incident is one
/// too: the page cannot be drawn without it.)
fn refusal(e: EngineError) -> Result<(StatusCode, String), WebError> {
    match e {
        EngineError::Conflict(m) => Ok((StatusCode::CONFLICT, m)),
        EngineError::NotFound(m) => Ok((StatusCode::NOT_FOUND, m)),
        EngineError::Invalid { field, message } => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: {message}", field.replace('_', " ")),
        )),
        e => Err(e.into()),
    }
}

/// The page again, saying why a change was refused; `extra` makes what else it shows from
/// the reason.
async fn refused(
    app: &Firebreak,
    n: IncidentNumber,
    me: &SessionPrincipal,
    csrf: &str,
    e: EngineError,
    extra: impl FnOnce(String) -> Extra,
) -> Result<Response, WebError> {
    let (status, message) = refusal(e)?;
    render(app, n, me, csrf, extra(message), status).await
}

/// What a refused change shows beside the page: only the reason.
fn reason_only(message: String) -> Extra {
    Extra {
        error: Some(message),
        ..Default::default()
    }
}

fn back_to(n: IncidentNumber, notice: &str, anchor: &str) -> Response {
    Redirect::to(&format!(
        "/incidents/{}/postmortem?notice={notice}{anchor}",
        n.0
    ))
    .into_response()
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    notice: Option<String>,
}

/// What a redirect's `notice` says; unknown codes say nothing.
fn notice(code: Option<&str>) -> Option<String> {
    let text = match code? {
        "saved" => "Saved.",
        "drafted" => "Drafted from the incident's record. Fill in what only people know.",
        "in_review" => "Moved to review.",
        "draft" => "Back to draft.",
        "published" => "Published.",
        "dismissed" => "Finding dismissed.",
        "item_added" => "Action item added.",
        "item_changed" => "Action item updated.",
        _ => return None,
    };
    Some(text.to_string())
}

/// `GET /incidents/{n}/postmortem`.
pub async fn page(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Query(q): Query<PageQuery>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let extra = Extra {
        notice: notice(q.notice.as_deref()),
        ..Default::default()
    };
    render(&app, number(&n)?, &me, &csrf, extra, StatusCode::OK).await
}

/// `POST /incidents/{n}/postmortem`: drafts it now from the incident's record.
pub async fn draft(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, csrf, .. }: Posted<Responder, super::pages::Empty>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    match app.draft_postmortem(&me.principal, n).await {
        Ok(_) => Ok(back_to(n, "drafted", "")),
        Err(e) => refused(&app, n, &me, &csrf, e, reason_only).await,
    }
}

#[derive(Deserialize)]
pub struct SectionForm {
    version: i64,
    markdown: String,
}

/// `POST /incidents/{n}/postmortem/sections/{key}`: saves one section from the version the
/// page showed. Refused (someone else saved first, or it is published), the page comes back
/// with the reason and the typed text still in the box.
pub async fn save_section(
    State(app): State<Firebreak>,
    Path((n, key)): Path<(String, String)>,
    Posted { me, form, csrf, .. }: Posted<Responder, SectionForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    // Browsers send a textarea's line breaks as CRLF.
    let markdown = form.markdown.replace("\r\n", "\n");
    let view = app.postmortem(n).await?;
    let Some(section) = view.record.sections.iter().find(|s| s.key == key) else {
        return Err(WebError::NotFound(format!(
            "the postmortem of {n} has no section `{key}`"
        )));
    };
    let edit = Section {
        key: key.clone(),
        title: section.title.clone(),
        markdown: markdown.clone(),
    };
    match app
        .edit_postmortem(&me.principal, n, form.version, vec![edit], None)
        .await
    {
        Ok(_) => Ok(back_to(n, "saved", &format!("#section-{key}"))),
        Err(e) => {
            let typed = |message: String| Extra {
                error: Some(format!(
                    "Not saved: {message}. Your text is still in the box below: compare it with \
                     the saved text above it, then save again to replace it."
                )),
                typed: Some((key, markdown)),
                ..Default::default()
            };
            refused(&app, n, &me, &csrf, e, typed).await
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    version: i64,
    status: String,
}

/// `POST /incidents/{n}/postmortem/status`: to review, or back to draft.
pub async fn set_status(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, form, csrf, .. }: Posted<Responder, StatusForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let status = PostmortemStatus::parse(&form.status).ok_or_else(|| {
        WebError::Invalid(format!(
            "status: `{}` is not a postmortem status; use draft or in_review",
            form.status
        ))
    })?;
    match app
        .edit_postmortem(&me.principal, n, form.version, Vec::new(), Some(status))
        .await
    {
        Ok(_) => Ok(back_to(n, status.as_str(), "")),
        Err(e) => refused(&app, n, &me, &csrf, e, reason_only).await,
    }
}

#[derive(Deserialize)]
pub struct PublishForm {
    /// `1`: publish even with findings open.
    confirm: Option<String>,
    /// The version the page showed: someone else's later save is not published unread.
    version: Option<i64>,
}

/// `POST /incidents/{n}/postmortem/publish`. With open findings and no confirmation, the page
/// lists them and asks again ("Publish anyway").
pub async fn publish(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, form, csrf, .. }: Posted<Responder, PublishForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let confirm = form.confirm.as_deref() == Some("1");
    if !confirm && !app.postmortem(n).await?.findings.is_empty() {
        let extra = Extra {
            confirm: true,
            ..Default::default()
        };
        return render(&app, n, &me, &csrf, extra, StatusCode::OK).await;
    }
    match app
        .publish_postmortem(&me.principal, n, confirm, form.version)
        .await
    {
        Ok(_) => Ok(back_to(n, "published", "")),
        Err(e) => refused(&app, n, &me, &csrf, e, reason_only).await,
    }
}

#[derive(Deserialize)]
pub struct DismissForm {
    key: String,
    #[serde(default)]
    reason: String,
}

/// `POST /incidents/{n}/postmortem/dismiss`: dismisses a finding, with the reason the wording
/// is fine.
pub async fn dismiss(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, form, csrf, .. }: Posted<Responder, DismissForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    match app
        .dismiss_finding(&me.principal, n, form.key, form.reason)
        .await
    {
        Ok(_) => Ok(back_to(n, "dismissed", "")),
        Err(e) => refused(&app, n, &me, &csrf, e, reason_only).await,
    }
}

/// `GET /incidents/{n}/postmortem.md`: the postmortem as one Markdown document.
pub async fn markdown(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    _signed: Signed<Viewer>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let body = app.postmortem_markdown(n).await?;
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{n}-postmortem.md\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[derive(Deserialize)]
pub struct AddItemForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    ticket_url: String,
}

/// `POST /incidents/{n}/action-items`: adds an item to the incident. Refused, the page comes
/// back with the form as it was filled in.
pub async fn add_item(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, form, csrf, .. }: Posted<Responder, AddItemForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let as_filled = |message: String| Extra {
        error: Some(message),
        item: Some(ItemDraft {
            title: form.title.clone(),
            owner: form.owner.clone(),
            due: form.due.clone(),
            ticket_url: form.ticket_url.clone(),
        }),
        ..Default::default()
    };
    let owner = match Name::parse(form.owner.trim()) {
        Ok(o) => o,
        Err(_) => {
            let extra = as_filled(format!("owner: `{}` is not a user's handle", form.owner));
            return render(&app, n, &me, &csrf, extra, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let due: Date = match form.due.trim().parse() {
        Ok(d) => d,
        Err(_) => {
            let extra = as_filled("due: give a date like 2026-12-31".into());
            return render(&app, n, &me, &csrf, extra, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let new = NewItem {
        title: form.title.clone(),
        owner,
        due,
        ticket_url: Some(form.ticket_url.trim().to_string()).filter(|u| !u.is_empty()),
        incident: Some(n),
    };
    match app.add_action_item(&me.principal, new).await {
        Ok(_) => Ok(back_to(n, "item_added", "#action-items")),
        Err(e) => refused(&app, n, &me, &csrf, e, as_filled).await,
    }
}

#[derive(Deserialize)]
pub struct ChangeItemForm {
    /// `done`, `wont_do` or `open`.
    status: String,
    #[serde(default)]
    reason: String,
    version: Option<i64>,
    /// The page to go back to.
    back: Option<String>,
}

/// `POST /action-items/{id}`: done, won't do (with a reason), or open again.
pub async fn change_item(
    State(app): State<Firebreak>,
    Path(id): Path<i64>,
    Posted { me, form, .. }: Posted<Responder, ChangeItemForm>,
) -> Result<Response, WebError> {
    let status = ItemStatus::parse(&form.status).ok_or_else(|| {
        WebError::Invalid(format!(
            "status: `{}` is not an action item status; use one of {}",
            form.status,
            ItemStatus::names()
        ))
    })?;
    let reason = form.reason.trim().to_string();
    if status == ItemStatus::WontDo && reason.is_empty() {
        return Err(WebError::Invalid(
            "reason: say why the item won't be done; its incident's timeline keeps it".into(),
        ));
    }
    let change = ItemChange {
        status: Some(status),
        reason: Some(reason).filter(|r| !r.is_empty()),
        ..Default::default()
    };
    let item = app
        .change_action_item(&me.principal, id, change, form.version)
        .await?;
    let back = form
        .back
        .filter(|b| safe_next(b))
        .or_else(|| {
            item.incident
                .map(|n| format!("/incidents/{}/postmortem", n.0))
        })
        .unwrap_or_else(|| "/action-items".into());
    // The notice goes before any `#anchor`.
    let (path, anchor) = back.split_once('#').unwrap_or((&back, ""));
    let joiner = if path.contains('?') { '&' } else { '?' };
    let anchor = if anchor.is_empty() {
        String::new()
    } else {
        format!("#{anchor}")
    };
    Ok(Redirect::to(&format!("{path}{joiner}notice=item_changed{anchor}")).into_response())
}

#[derive(Deserialize, Default)]
pub struct ItemsQuery {
    /// A user's handle; empty for everyone.
    owner: Option<String>,
    /// `1`: only overdue items.
    overdue: Option<String>,
    /// The id of the last item of the previous page.
    after: Option<i64>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "web/action_items.html")]
struct ItemsPage {
    frame: Frame,
    items: Vec<ItemView>,
    users: Vec<String>,
    owner: String,
    overdue: bool,
    next: Option<String>,
    back: String,
    notice: Option<String>,
}

/// `GET /action-items`: the open action items, by due date, of one owner or everyone,
/// overdue only if asked.
pub async fn list(
    State(app): State<Firebreak>,
    Query(q): Query<ItemsQuery>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let today = today(app.clock.now());
    let owner = q
        .owner
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            Name::parse(o).map_err(|_| WebError::Invalid(format!("`{o}` is not a user's handle")))
        })
        .transpose()?;
    let overdue = q.overdue.as_deref() == Some("1");
    let filter = ActionItemFilter {
        owner: owner.clone(),
        status: Some(ItemStatus::Open),
        overdue_on: overdue.then_some(today),
        incident: None,
    };
    let page = app.list_action_items(&filter, q.after, ITEMS_PAGE).await?;
    let owner = owner.map(|o| o.to_string()).unwrap_or_default();
    let query = |after: Option<i64>| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if !owner.is_empty() {
            pairs.append_pair("owner", &owner);
        }
        if overdue {
            pairs.append_pair("overdue", "1");
        }
        if let Some(a) = after {
            pairs.append_pair("after", &a.to_string());
        }
        let q = pairs.finish();
        if q.is_empty() {
            "/action-items".to_string()
        } else {
            format!("/action-items?{q}")
        }
    };
    let next = page.next.map(|after| query(Some(after)));
    let back = query(q.after);
    Ok(html(
        StatusCode::OK,
        ItemsPage {
            frame: Frame::new(&me, &csrf, "items"),
            items: page.items.iter().map(|i| ItemView::of(i, today)).collect(),
            users: handles(&app).await?,
            owner,
            overdue,
            next,
            back,
            notice: notice(q.notice.as_deref()),
        }
        .render(),
    ))
}
