//! The incident list, the declare form and the live incident room.
//!
//! The room is one page: a header with the incident's state and the buttons that change it,
//! its roles, the first-15-minutes checklist, and the timeline with a note composer. The
//! timeline and the state stay live over server-sent events (`/incidents/{n}/live`): each new
//! entry arrives as a rendered row with its timeline `seq` as the event id, and a `state`
//! event makes the header reload itself. A browser that reconnects sends `Last-Event-ID` and
//! gets what it missed.

use std::convert::Infallible;

use super::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use firebreak_domain::{Incident, IncidentNumber, Name, NewIncident, Status};
use firebreak_engine::Firebreak;
use firebreak_engine::incidents::IncidentPatch;
use firebreak_store::{IncidentFilter, TimelineEntry};
use futures_util::Stream;
use serde::Deserialize;

use super::pages::IncidentRow;
use super::session::{Posted, Signed};
use super::{Frame, WebError, age, clock, describe, html, when};
use crate::extract::{Responder, Viewer};

/// How many timeline entries the room shows at first; older ones are a link away.
const ROOM_ENTRIES: u32 = 1000;

fn number(n: &str) -> Result<IncidentNumber, WebError> {
    n.parse()
        .map_err(|_| WebError::NotFound(format!("`{n}` is not an incident number")))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// `open` (default), `resolved` or `all`.
    show: Option<String>,
    severity: Option<String>,
    service: Option<String>,
    /// `1`: only incidents where I hold a role.
    mine: Option<String>,
}

#[derive(Template)]
#[template(path = "web/incidents.html")]
struct ListPage {
    frame: Frame,
    rows: Vec<IncidentRow>,
    show: String,
    severity: String,
    service: String,
    mine: bool,
    severities: Vec<SeverityOption>,
    services: Vec<String>,
    /// Whether any incident exists at all (an empty list then teaches how to start).
    filtered: bool,
    public_url: String,
}

struct SeverityOption {
    name: String,
    description: String,
}

fn severities(app: &Firebreak) -> Vec<SeverityOption> {
    app.config
        .severities
        .iter()
        .map(|s| SeverityOption {
            name: s.name.clone(),
            description: s.description.clone(),
        })
        .collect()
}

/// `GET /incidents`: the list, with filters and the declare form.
pub async fn list(
    State(app): State<Firebreak>,
    Query(q): Query<ListQuery>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let now = app.clock.now();
    let show = q.show.clone().unwrap_or_else(|| "open".into());
    let severity = q
        .severity
        .clone()
        .filter(|s| !s.is_empty())
        .map(|s| {
            app.config
                .severity(&s)
                .map(|sev| sev.name.clone())
                .ok_or_else(|| WebError::Invalid(format!("`{s}` is not a configured severity")))
        })
        .transpose()?;
    let service = q
        .service
        .clone()
        .filter(|s| !s.is_empty())
        .map(|s| {
            Name::parse(&s).map_err(|_| WebError::Invalid(format!("`{s}` is not a service name")))
        })
        .transpose()?;
    let filter = IncidentFilter {
        open: match show.as_str() {
            "resolved" => Some(false),
            "all" => None,
            _ => Some(true),
        },
        severity: severity.clone(),
        service: service.clone(),
        ..Default::default()
    };
    let mine = q.mine.as_deref() == Some("1");
    let handle = me.session.user.to_string();
    let rows = app
        .list_incidents(&filter, None, 200)
        .await?
        .items
        .iter()
        .filter(|i| !mine || i.roles.values().any(|u| *u == handle))
        .map(|i| IncidentRow::of(i, now))
        .collect();
    let services = app
        .list_services()
        .await?
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    // An empty list teaches how to start only when there is no incident at all.
    let none_yet = app
        .list_incidents(&IncidentFilter::default(), None, 1)
        .await?
        .items
        .is_empty();
    Ok(html(
        StatusCode::OK,
        ListPage {
            frame: Frame::new(&me, &csrf, "incidents"),
            rows,
            filtered: !none_yet,
            show,
            severity: severity.unwrap_or_default(),
            service: service.map(|s| s.to_string()).unwrap_or_default(),
            mine,
            severities: severities(&app),
            services,
            public_url: app.paging.public_url.clone(),
        }
        .render(),
    ))
}

#[derive(Deserialize)]
pub struct DeclareForm {
    title: String,
    severity: String,
    #[serde(default)]
    services: String,
    #[serde(default)]
    summary: String,
}

/// `POST /incidents`: declares an incident and opens its room.
pub async fn declare(
    State(app): State<Firebreak>,
    Posted { me, form, .. }: Posted<Responder, DeclareForm>,
) -> Result<Response, WebError> {
    let services = form
        .services
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Name::parse(s).map_err(|_| {
                WebError::Invalid(format!(
                    "services: `{s}` is not a service name; list names like `checkout, payments`"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let new = NewIncident {
        title: form.title,
        severity: form.severity,
        services,
        summary: (!form.summary.trim().is_empty()).then_some(form.summary),
        ..Default::default()
    };
    let incident = app.declare(&me.principal, new).await?;
    let to = format!("/incidents/{}", incident.number.0);
    let mut r = Redirect::to(&to).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&to) {
        r.headers_mut().insert("hx-redirect", v);
    }
    Ok(r)
}

/// An incident's state as the room's header shows it.
struct StateView {
    id: i64,
    version: i64,
    number: String,
    title: String,
    severity: String,
    status: &'static str,
    open: bool,
    drill: bool,
    age: String,
    declared: String,
    acknowledged: bool,
    services: Vec<String>,
    /// The status page's components for those services, with what each shows now.
    components: Vec<(String, &'static str, String)>,
    summary: String,
    roles: Vec<RoleView>,
    checklist: Vec<ItemView>,
    statuses: Vec<&'static str>,
    severities: Vec<SeverityOption>,
    users: Vec<String>,
    me: String,
    responder: bool,
    csrf: String,
    /// The postmortem's status (stored name, as it reads), once drafted.
    postmortem: Option<(&'static str, &'static str)>,
}

struct RoleView {
    key: String,
    name: String,
    duty: String,
    holder: String,
    mine: bool,
}

struct ItemView {
    id: u32,
    text: String,
    done: bool,
    by: String,
}

async fn state_view(
    app: &Firebreak,
    incident: &Incident,
    me: &firebreak_engine::accounts::SessionPrincipal,
    csrf: &str,
) -> Result<StateView, WebError> {
    let now = app.clock.now();
    let handle = me.session.user.to_string();
    let responder = me
        .principal
        .role
        .allows(firebreak_domain::AccessRole::Responder);
    let users = if responder {
        app.list_users()
            .await?
            .into_iter()
            .filter(|u| u.disabled_at.is_none())
            .map(|u| u.handle.to_string())
            .collect()
    } else {
        vec![]
    };
    Ok(StateView {
        id: incident.number.0,
        version: incident.version,
        number: incident.number.to_string(),
        title: incident.title.clone(),
        severity: incident.severity.clone(),
        status: incident.status.as_str(),
        open: incident.status.is_open(),
        drill: incident.drill,
        age: age(incident.declared_at, now),
        declared: when(incident.declared_at),
        acknowledged: incident.acknowledged_at.is_some(),
        services: incident.services.iter().map(|s| s.to_string()).collect(),
        components: app
            .list_components()
            .await?
            .into_iter()
            .filter(|c| {
                c.component
                    .services
                    .iter()
                    .any(|s| incident.services.contains(s))
            })
            .map(|c| {
                let status = c.status.as_str();
                (c.component.name, status, status.replace('_', " "))
            })
            .collect(),
        summary: incident.summary.clone(),
        roles: app
            .config
            .roles
            .iter()
            .map(|r| {
                let holder = incident.roles.get(&r.key).cloned().unwrap_or_default();
                RoleView {
                    mine: holder == handle,
                    key: r.key.clone(),
                    name: r.name.clone(),
                    duty: r.duty.clone(),
                    holder,
                }
            })
            .collect(),
        checklist: incident
            .checklist
            .iter()
            .map(|c| ItemView {
                id: c.id,
                text: c.text.clone(),
                done: c.done,
                by: c.done_by.clone().unwrap_or_default(),
            })
            .collect(),
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        severities: severities(app),
        users,
        me: handle,
        responder,
        csrf: csrf.to_string(),
        postmortem: super::review::postmortem_badge(app, incident.number).await?,
    })
}

/// A timeline row as the room shows it.
pub struct EntryView {
    seq: i64,
    kind: &'static str,
    actor: String,
    time: String,
    iso: String,
    text: String,
}

impl EntryView {
    fn of(e: &TimelineEntry) -> EntryView {
        let (kind, text) = describe(&e.event);
        EntryView {
            seq: e.seq,
            kind,
            actor: e.actor.clone(),
            time: clock(e.at),
            iso: e.at.to_string(),
            text,
        }
    }
}

#[derive(Template)]
#[template(path = "web/incident.html")]
struct RoomPage {
    frame: Frame,
    s: StateView,
    p: super::panels::PanelsView,
    entries: Vec<EntryView>,
    last_seq: i64,
    /// Entries before the first one shown.
    earlier: bool,
}

#[derive(Template)]
#[template(path = "web/incident_state.html")]
struct StateFragment {
    s: StateView,
}

#[derive(Template)]
#[template(path = "web/timeline_entry.html")]
struct EntryFragment<'a> {
    e: &'a EntryView,
}

#[derive(Template)]
#[template(path = "web/note_form.html")]
struct NoteForm {
    id: i64,
    csrf: String,
}

/// `GET /incidents/{n}`: the incident room.
pub async fn room(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let incident = app.incident(n).await?;
    // The newest entries only, read backwards from the end of the timeline.
    let tail = app.timeline_tail(n, None, ROOM_ENTRIES).await?;
    let earlier = tail.next.is_some();
    let entries = tail.items;
    let last_seq = entries.last().map_or(0, |e| e.seq);
    let s = state_view(&app, &incident, &me, &csrf).await?;
    let p = super::panels::panels_view(&app, &incident, &me, &csrf).await?;
    Ok(html(
        StatusCode::OK,
        RoomPage {
            frame: Frame::new(&me, &csrf, "incidents"),
            s,
            p,
            entries: entries.iter().map(EntryView::of).collect(),
            last_seq,
            earlier,
        }
        .render(),
    ))
}

/// `GET /incidents/{n}/state`: the room's header, roles and checklist, for htmx to swap in
/// when the incident changes.
pub async fn state(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let incident = app.incident(number(&n)?).await?;
    let s = state_view(&app, &incident, &me, &csrf).await?;
    Ok(html(StatusCode::OK, StateFragment { s }.render()))
}

#[derive(Deserialize)]
pub struct LiveQuery {
    after: Option<i64>,
}

/// Where a stream starts: `Last-Event-ID` (a reconnect) wins over `?after=`.
pub fn resume_from(headers: &HeaderMap, after: Option<i64>) -> i64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(after)
        .unwrap_or(0)
        .max(0)
}

/// `GET /incidents/{n}/live`: the room's server-sent events. `entry` carries a rendered
/// timeline row (its id is the entry's `seq`); `state` says the incident changed.
pub async fn live(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Query(q): Query<LiveQuery>,
    headers: HeaderMap,
    _signed: Signed<Viewer>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let n = number(&n)?;
    let from = resume_from(&headers, q.after);
    let watch = app.watch_incident(n, from).await?;
    let access =
        crate::routes::streams::Access::of(&app, &headers, firebreak_domain::AccessRole::Viewer)
            .ok_or(WebError::SignIn { next: "/".into() })?;
    Ok(crate::routes::streams::event_stream(
        RoomEvents {
            version: watch.version_at_start(),
            watch,
            pace: crate::routes::streams::Pace::new(RELOAD_EVERY),
        },
        access,
    ))
}

/// The room's live stream: each new timeline row rendered, and `state` when the incident
/// changed. Every browser in the room reloads its header and panels on `state`, so a change
/// that is only notes (the most common one while people work) sends none: a note changes
/// nothing they show.
struct RoomEvents {
    watch: firebreak_engine::live::IncidentWatch,
    /// The incident's version this browser's header and panels show.
    version: i64,
    pace: crate::routes::streams::Pace,
}

/// The most often a browser in the room is told to reload its header and panels.
const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn state_event() -> Event {
    Event::default().event("state").data("changed")
}

impl crate::routes::streams::Batches for RoomEvents {
    async fn next_batch(&mut self) -> Result<Option<Vec<Event>>, firebreak_engine::EngineError> {
        loop {
            let Ok(next) = self.pace.or_due(self.watch.next()).await else {
                return Ok(Some(vec![state_event()]));
            };
            let Some(batch) = next? else {
                return Ok(None);
            };
            let events = self.events_of(batch);
            if !events.is_empty() {
                return Ok(Some(events));
            }
        }
    }
}

impl RoomEvents {
    fn events_of(&mut self, batch: firebreak_engine::live::LiveBatch) -> Vec<Event> {
        let mut events: Vec<Event> = batch
            .entries
            .iter()
            .map(|e| {
                let view = EntryView::of(e);
                let row = super::inert(EntryFragment { e: &view }.render().unwrap_or_default());
                Event::default()
                    .event("entry")
                    .id(e.seq.to_string())
                    .data(row.trim())
            })
            .collect();
        if let Some(incident) = &batch.incident {
            let only_notes = !batch.entries.is_empty()
                && batch
                    .entries
                    .iter()
                    .all(|e| matches!(e.event, firebreak_domain::TimelineEvent::Note { .. }));
            if !(only_notes && incident.version == self.version) && self.pace.changed() {
                events.push(state_event());
            }
            self.version = incident.version;
        }
        events
    }
}

/// After a change from a form: htmx gets an empty answer (the live stream brings the news);
/// a browser without JavaScript goes back to the room.
fn back_to_room(n: IncidentNumber, htmx: bool) -> Response {
    if htmx {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Redirect::to(&format!("/incidents/{}", n.0)).into_response()
    }
}

#[derive(Deserialize)]
pub struct NoteBody {
    body: String,
}

/// `POST /incidents/{n}/notes`.
pub async fn note(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted {
        me,
        form,
        htmx,
        csrf,
        ..
    }: Posted<Responder, NoteBody>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    app.add_note(&me.principal, n, &form.body).await?;
    if htmx {
        // A fresh, empty composer; the note itself arrives over the live stream.
        return Ok(html(StatusCode::OK, NoteForm { id: n.0, csrf }.render()));
    }
    Ok(back_to_room(n, false))
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
    /// The version the page showed.
    version: Option<i64>,
}

/// `POST /incidents/{n}/status`.
pub async fn set_status(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, form, htmx, .. }: Posted<Responder, StatusForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let status: Status = form
        .status
        .parse()
        .map_err(|e: firebreak_domain::lifecycle::BadStatus| WebError::Invalid(e.to_string()))?;
    let patch = IncidentPatch {
        status: Some(status),
        expected_version: form.version,
        ..Default::default()
    };
    app.patch(&me.principal, n, patch).await?;
    Ok(back_to_room(n, htmx))
}

#[derive(Deserialize)]
pub struct SeverityForm {
    severity: String,
    #[serde(default)]
    reason: String,
    /// The version the page showed.
    version: Option<i64>,
}

/// `POST /incidents/{n}/severity`: a change of severity, with its reason.
pub async fn set_severity(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, form, htmx, .. }: Posted<Responder, SeverityForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let reason = form.reason.trim().to_string();
    if reason.is_empty() {
        return Err(WebError::Invalid(
            "reason: say why the severity changes; it goes on the timeline".into(),
        ));
    }
    let patch = IncidentPatch {
        severity: Some(form.severity),
        reason: Some(reason),
        expected_version: form.version,
        ..Default::default()
    };
    app.patch(&me.principal, n, patch).await?;
    Ok(back_to_room(n, htmx))
}

/// `POST /incidents/{n}/ack`: acknowledges the incident, stopping its pages.
pub async fn ack(
    State(app): State<Firebreak>,
    Path(n): Path<String>,
    Posted { me, htmx, .. }: Posted<Responder, super::pages::Empty>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    app.acknowledge_incident(&me.principal, n, "web").await?;
    Ok(back_to_room(n, htmx))
}

#[derive(Deserialize)]
pub struct RoleForm {
    /// Who takes the role; empty takes it off whoever holds it.
    #[serde(default)]
    user: String,
}

/// `POST /incidents/{n}/roles/{role}`: assigns a role ("take IC" sends my own handle).
pub async fn assign_role(
    State(app): State<Firebreak>,
    Path((n, role)): Path<(String, String)>,
    Posted { me, form, htmx, .. }: Posted<Responder, RoleForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let user = form.user.trim();
    if user.is_empty() {
        app.remove_role(&me.principal, n, &role).await?;
    } else {
        let user = Name::parse(user)
            .map_err(|_| WebError::Invalid(format!("`{user}` is not a user's handle")))?;
        app.assign_role(&me.principal, n, &role, &user).await?;
    }
    Ok(back_to_room(n, htmx))
}

#[derive(Deserialize)]
pub struct TickForm {
    /// `1` ticks the item, `0` unticks it.
    done: String,
}

/// `POST /incidents/{n}/checklist/{item}`.
pub async fn tick(
    State(app): State<Firebreak>,
    Path((n, item)): Path<(String, u32)>,
    Posted { me, form, htmx, .. }: Posted<Responder, TickForm>,
) -> Result<Response, WebError> {
    let n = number(&n)?;
    let done = form.done == "1";
    app.set_checklist_item(&me.principal, n, item, done).await?;
    Ok(back_to_room(n, htmx))
}
