//! The public status page as people read it: the page (`/status`), each incident's page
//! (`/status/incidents/{id}`), the Atom and RSS feeds of public updates, and the page's one
//! stylesheet. No token, no script, no CDN: the page works with JavaScript off and on a phone,
//! under a strict Content-Security-Policy, and every text a person wrote is escaped (askama
//! escapes HTML; the feeds are written by XML libraries).

use std::sync::Arc;

use askama::Template;
use axum::Router;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use firebreak_domain::status_page::{
    ComponentStatus, DayStatus, Impact, MaintenancePhase, PublicMaintenance, PublicStatus,
};
use firebreak_engine::Firebreak;
use firebreak_engine::status_page::{ComponentView, IncidentView, StatusPageCache, StatusView};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;

const CSS: &str = include_str!("../../assets/status.css");
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const CACHE_CONTROL: &str = "public, max-age=10";

/// The page's routes, for a page whose links start with `base` (`/status`, or `` at the root
/// of the status page's own listener).
pub fn page_routes(base: &'static str) -> Router<Firebreak> {
    let renders = Renders::default();
    let r = renders.clone();
    let page = move |State(app): State<Firebreak>, headers: HeaderMap| {
        let r = r.clone();
        async move { render_page(app, &r, base, &headers).await }
    };
    let r = renders.clone();
    let incident =
        move |State(app): State<Firebreak>, Path(id): Path<String>, headers: HeaderMap| {
            let r = r.clone();
            async move { render_incident(app, &r, base, &id, &headers).await }
        };
    let r = renders.clone();
    let atom = move |State(app): State<Firebreak>, headers: HeaderMap| {
        let r = r.clone();
        async move { feed(app, &r, &headers, Kind::Atom).await }
    };
    let r = renders;
    let rss = move |State(app): State<Firebreak>, headers: HeaderMap| {
        let r = r.clone();
        async move { feed(app, &r, &headers, Kind::Rss).await }
    };
    let css = |headers: HeaderMap| async move {
        cached(
            &headers,
            CSS.as_bytes().to_vec(),
            "text/css; charset=utf-8",
            "public, max-age=3600",
        )
    };
    let subscribe = move |State(app): State<Firebreak>,
                          parts: axum::http::request::Parts,
                          body: Bytes| async move {
        let peer = crate::extract::client_ip(&parts, &app);
        subscribe(app, base, peer, &parts.headers, &body).await
    };
    let report = move |State(app): State<Firebreak>,
                       parts: axum::http::request::Parts,
                       body: Bytes| async move {
        let peer = crate::extract::client_ip(&parts, &app);
        report_problem(app, base, peer, &parts.headers, &body).await
    };
    let confirm_page = move |State(app): State<Firebreak>, Path(token): Path<String>| async move {
        link_page(app, base, &token, Link::Confirm).await
    };
    let confirm = move |State(app): State<Firebreak>, Path(token): Path<String>| async move {
        link_action(app, base, &token, Link::Confirm).await
    };
    let unsubscribe_page = move |State(app): State<Firebreak>, Path(token): Path<String>| async move {
        link_page(app, base, &token, Link::Unsubscribe).await
    };
    let unsubscribe = move |State(app): State<Firebreak>, Path(token): Path<String>| async move {
        link_action(app, base, &token, Link::Unsubscribe).await
    };
    Router::new()
        .route("/", get(page))
        .route("/subscribe", axum::routing::post(subscribe))
        .route("/report", axum::routing::post(report))
        .route(
            "/subscribe/confirm/{token}",
            get(confirm_page).post(confirm),
        )
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/history.atom", get(atom))
        .route("/history.rss", get(rss))
        .route("/incidents/{id}", get(incident))
        .route("/assets/status.css", get(css))
}

/// A body as served, with its `ETag`.
struct Rendered {
    body: Bytes,
    etag: String,
}

impl Rendered {
    fn of(body: Vec<u8>) -> Rendered {
        let digest = Sha256::digest(&body);
        Rendered {
            etag: format!("\"{}\"", hex::encode(&digest[..12])),
            body: Bytes::from(body),
        }
    }
}

/// How many incident pages one snapshot keeps rendered; others are rendered per request.
const KEPT_INCIDENT_PAGES: usize = 200;

/// The page, the feeds and incident pages of the latest snapshot, rendered once each: a
/// busy status page (an outage brings everyone to it at once) costs a lookup per request,
/// not a render. Requests that come while one renders wait for it rather than render too.
#[derive(Clone, Default)]
struct Renders(Arc<std::sync::Mutex<Kept>>);

/// One render, made by the first request that needs it.
type Cell = Arc<tokio::sync::OnceCell<Arc<Rendered>>>;
/// The snapshot generation the renders are of, and the renders by what they are.
type Kept = (u64, std::collections::HashMap<String, Cell>);

impl Renders {
    /// What `key` renders to for `view`: kept from an earlier request for the same snapshot,
    /// or made now by `make` and kept.
    async fn get_or(
        &self,
        view: &StatusView,
        key: &str,
        make: impl FnOnce() -> Result<Vec<u8>, askama::Error>,
    ) -> Result<Arc<Rendered>, askama::Error> {
        let cell = {
            let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if kept.0 < view.generation {
                *kept = (view.generation, Default::default());
            }
            if kept.0 != view.generation {
                // A request still holding an older snapshot renders for itself.
                None
            } else if let Some(cell) = kept.1.get(key) {
                Some(cell.clone())
            } else if key.starts_with("incident:") && kept.1.len() >= KEPT_INCIDENT_PAGES {
                None
            } else {
                let cell = Cell::default();
                kept.1.insert(key.to_string(), cell.clone());
                Some(cell)
            }
        };
        match cell {
            Some(cell) => cell
                .get_or_try_init(|| async { make().map(|b| Arc::new(Rendered::of(b))) })
                .await
                .cloned(),
            None => make().map(|b| Arc::new(Rendered::of(b))),
        }
    }
}

/// An answer with a content `ETag`; `If-None-Match` gets a 304.
fn cached(headers: &HeaderMap, body: Vec<u8>, content_type: &str, cache: &'static str) -> Response {
    respond(headers, &Rendered::of(body), content_type, cache)
}

/// A rendered answer with its `ETag`; `If-None-Match` gets a 304.
fn respond(
    headers: &HeaderMap,
    rendered: &Rendered,
    content_type: &str,
    cache: &'static str,
) -> Response {
    let etag = &rendered.etag;
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*");
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, rendered.body.clone()).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    response
}

struct Clock {
    tz: TimeZone,
}

impl Clock {
    fn of(view: &StatusView) -> Clock {
        Clock {
            tz: TimeZone::get(&view.page.time_zone).unwrap_or(TimeZone::UTC),
        }
    }

    /// `Nov 20, 14:20 CET`.
    fn show(&self, t: Timestamp) -> String {
        t.to_zoned(self.tz.clone())
            .strftime("%b %-d, %H:%M %Z")
            .to_string()
    }
}

fn status_label(s: PublicStatus) -> &'static str {
    s.label()
}

fn impact_label(i: Impact) -> &'static str {
    match i {
        Impact::Critical => "Critical impact",
        Impact::Major => "Major impact",
        Impact::Minor => "Minor impact",
        Impact::Maintenance => "Maintenance",
        Impact::None => "No impact",
    }
}

struct UpdateRow {
    label: &'static str,
    body: String,
    at: String,
    iso: String,
}

struct IncidentRow {
    id: String,
    name: String,
    impact: &'static str,
    impact_label: &'static str,
    status_label: &'static str,
    components: String,
    when: String,
    updates: Vec<UpdateRow>,
}

/// The label of each update, newest first: its status, or "Update" when the status did not
/// change from the update before it.
fn labels(i: &IncidentView) -> Vec<&'static str> {
    let n = i.updates.len();
    (0..n)
        .map(|k| match i.updates.get(k + 1) {
            Some(older) if older.status == i.updates[k].status => "Update",
            _ => status_label(i.updates[k].status),
        })
        .collect()
}

fn incident_row(view: &StatusView, clock: &Clock, i: &IncidentView) -> IncidentRow {
    let labels = labels(i);
    IncidentRow {
        id: i.id.clone(),
        name: i.name.clone(),
        impact: i.impact.as_str(),
        impact_label: impact_label(i.impact),
        status_label: status_label(i.status),
        components: i
            .components
            .iter()
            .filter_map(|id| view.component(id))
            .map(|c| c.component.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
        when: match i.resolved_at {
            Some(r) => format!("{} – {}", clock.show(i.created_at), clock.show(r)),
            None => clock.show(i.created_at),
        },
        updates: i
            .updates
            .iter()
            .zip(labels)
            .map(|(u, label)| UpdateRow {
                label,
                body: u.body.clone(),
                at: clock.show(u.at),
                iso: crate::routes::public_status::time(u.at),
            })
            .collect(),
    }
}

struct Bar {
    class: &'static str,
    title: String,
}

struct Row {
    name: String,
    description: Option<String>,
    status: &'static str,
    status_label: &'static str,
    uptime: String,
    bars: Vec<Bar>,
    members: Vec<Row>,
}

fn uptime_text(days: &[DayStatus]) -> String {
    let (down, counted) = days
        .iter()
        .fold((0.0, 0.0), |(d, c), x| (d + x.down_ms, c + x.counted_ms));
    let up = if counted > 0.0 {
        100.0 * (1.0 - down / counted)
    } else {
        100.0
    };
    // Never round a day with downtime up to 100%.
    let shown = (up * 100.0).floor() / 100.0;
    format!("{shown:.2}%")
}

fn bar_class(d: &DayStatus, created: bool) -> &'static str {
    if !created {
        return "none";
    }
    d.worst.as_str()
}

fn bars(view: &StatusView, days: &[DayStatus], created: Timestamp) -> Vec<Bar> {
    let clock = Clock::of(view);
    let created_day = created.to_zoned(clock.tz.clone()).date();
    view.days
        .iter()
        .zip(days)
        .map(|(date, d)| {
            let exists = *date >= created_day;
            let checks = d
                .check_uptime()
                .map(|u| format!("; uptime checks {:.2}% up", (u * 10_000.0).floor() / 100.0))
                .unwrap_or_default();
            let title = if !exists {
                format!("{}: no data", date.strftime("%b %-d"))
            } else if d.checks.is_some() && d.worst == ComponentStatus::Operational {
                format!("{}: no incidents{checks}", date.strftime("%b %-d"))
            } else if d.checks.is_some() {
                format!(
                    "{}: {} ({:.2}% up{checks})",
                    date.strftime("%b %-d"),
                    d.worst.label().to_lowercase(),
                    d.uptime() * 100.0
                )
            } else if d.worst == ComponentStatus::Operational {
                format!("{}: no incidents", date.strftime("%b %-d"))
            } else {
                format!(
                    "{}: {} ({:.2}% up)",
                    date.strftime("%b %-d"),
                    d.worst.label().to_lowercase(),
                    d.uptime() * 100.0
                )
            };
            Bar {
                class: bar_class(d, exists),
                title,
            }
        })
        .collect()
}

fn component_row(view: &StatusView, c: &ComponentView) -> Row {
    let history = view
        .history
        .get(&c.component.id)
        .cloned()
        .unwrap_or_default();
    Row {
        name: c.component.name.clone(),
        description: c.component.description.clone(),
        status: c.status.as_str(),
        status_label: c.status.label(),
        uptime: uptime_text(&history),
        bars: bars(view, &history, c.component.created_at),
        members: vec![],
    }
}

fn rows(view: &StatusView) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    let mut groups_done: Vec<&str> = Vec::new();
    for c in &view.components {
        let Some(gid) = &c.group_id else {
            out.push(component_row(view, c));
            continue;
        };
        if groups_done.contains(&gid.as_str()) {
            continue;
        }
        groups_done.push(gid);
        let Some(g) = view.groups.iter().find(|g| &g.id == gid) else {
            continue;
        };
        let members: Vec<&ComponentView> = view
            .components
            .iter()
            .filter(|m| m.group_id.as_deref() == Some(gid))
            .collect();
        // A group's day is its worst member's day.
        let mut history: Vec<DayStatus> = Vec::new();
        for m in &members {
            let h = view
                .history
                .get(&m.component.id)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                history = h;
            } else {
                for (a, b) in history.iter_mut().zip(h) {
                    a.worst = a.worst.max(b.worst);
                    a.down_ms = a.down_ms.max(b.down_ms);
                    // The group's check figure is its lowest member's.
                    a.checks = match (a.checks, b.checks) {
                        (Some(x), Some(y)) => Some(if x.0 * y.1 <= y.0 * x.1 { x } else { y }),
                        (x, y) => x.or(y),
                    };
                }
            }
        }
        out.push(Row {
            name: g.name.clone(),
            description: None,
            status: g.status.as_str(),
            status_label: g.status.label(),
            uptime: uptime_text(&history),
            bars: bars(view, &history, g.created_at),
            members: members
                .into_iter()
                .map(|m| component_row(view, m))
                .collect(),
        });
    }
    out
}

struct MaintenanceRow {
    name: String,
    phase: &'static str,
    window: String,
    components: String,
    body: String,
}

fn maintenance_row(clock: &Clock, m: &PublicMaintenance, now: Timestamp) -> MaintenanceRow {
    MaintenanceRow {
        name: m.name.clone(),
        phase: match m.phase(now) {
            MaintenancePhase::Scheduled => "Scheduled maintenance",
            MaintenancePhase::InProgress => "Maintenance in progress",
            MaintenancePhase::Completed => "Completed maintenance",
        },
        window: format!("{} – {}", clock.show(m.starts_at), clock.show(m.ends_at)),
        components: m.components.join(", "),
        body: m.body.clone(),
    }
}

#[derive(Template)]
#[template(path = "status_page.html")]
struct PageTemplate {
    base: &'static str,
    title: String,
    logo: Option<String>,
    site: Option<String>,
    time_zone: String,
    indicator: &'static str,
    description: &'static str,
    updated: String,
    active: Vec<IncidentRow>,
    maintenances: Vec<MaintenanceRow>,
    rows: Vec<Row>,
    past: Vec<IncidentRow>,
    /// Whether the page offers email subscriptions (email is set up).
    subscribe: bool,
    /// Whether the page has the "report a problem" form (`reports.status_page_form`).
    report_form: bool,
    component_names: Vec<String>,
}

#[derive(Template)]
#[template(path = "status_message.html")]
struct MessageTemplate {
    base: &'static str,
    title: String,
    logo: Option<String>,
    site: Option<String>,
    time_zone: String,
    heading: String,
    paragraphs: Vec<String>,
    action: Option<String>,
    button: &'static str,
}

#[derive(Template)]
#[template(path = "status_incident.html")]
struct IncidentTemplate {
    base: &'static str,
    title: String,
    logo: Option<String>,
    site: Option<String>,
    time_zone: String,
    i: IncidentRow,
}

/// Only http(s) links make it into the page's `src` and `href`.
fn web_link(link: &Option<String>) -> Option<String> {
    link.as_ref()
        .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
        .cloned()
}

async fn view(app: &Firebreak) -> Result<Arc<StatusView>, Response> {
    app.status_view()
        .await
        .map_err(|e| ApiError::from(e).into_response())
}

fn html(headers: &HeaderMap, rendered: Result<Arc<Rendered>, askama::Error>) -> Response {
    match rendered {
        Ok(r) => respond(headers, &r, "text/html; charset=utf-8", CACHE_CONTROL),
        Err(e) => {
            tracing::error!(error = %e, "the status page did not render");
            ApiError::internal().into_response()
        }
    }
}

async fn render_page(
    app: Firebreak,
    renders: &Renders,
    base: &'static str,
    headers: &HeaderMap,
) -> Response {
    let view = match view(&app).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    html(
        headers,
        renders
            .get_or(&view, "page", || page_html(&app, base, &view))
            .await,
    )
}

fn page_html(
    app: &Firebreak,
    base: &'static str,
    view: &StatusView,
) -> Result<Vec<u8>, askama::Error> {
    let clock = Clock::of(view);
    let now = view.built_at;
    let page = PageTemplate {
        base,
        title: view.page.name.clone(),
        logo: web_link(&view.page.logo_url),
        site: web_link(&view.page.site_url),
        time_zone: view.page.time_zone.clone(),
        indicator: view.indicator.as_str(),
        description: view.description,
        updated: clock.show(view.page.updated_at),
        active: view
            .incidents
            .iter()
            .filter(|i| i.unresolved)
            .map(|i| incident_row(view, &clock, i))
            .collect(),
        maintenances: view
            .maintenances
            .iter()
            .filter(|m| m.phase(now) != MaintenancePhase::Completed)
            .map(|m| maintenance_row(&clock, m, now))
            .collect(),
        rows: rows(view),
        past: view
            .incidents
            .iter()
            .filter(|i| !i.unresolved)
            .map(|i| incident_row(view, &clock, i))
            .collect(),
        subscribe: app.paging.email.is_some(),
        report_form: app.config.reports.status_page_form && !view.components.is_empty(),
        component_names: view
            .components
            .iter()
            .map(|c| c.component.name.clone())
            .collect(),
    };
    page.render().map(String::into_bytes)
}

/// A small page saying what happened, with the page's branding; no caching, no referrer.
fn message(
    app: &Firebreak,
    base: &'static str,
    status: StatusCode,
    heading: &str,
    paragraphs: Vec<String>,
    action: Option<(String, &'static str)>,
) -> Response {
    let page = &app.config.status_page;
    let (action, button) = match action {
        Some((a, b)) => (Some(a), b),
        None => (None, ""),
    };
    let t = MessageTemplate {
        base,
        title: page.title.clone(),
        logo: web_link(&page.logo_url),
        site: web_link(&page.site_url),
        time_zone: page.time_zone.clone(),
        heading: heading.to_string(),
        paragraphs,
        action,
        button,
    };
    let mut response = match t.render() {
        Ok(body) => (status, body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a status page message did not render");
            return ApiError::internal().into_response();
        }
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    crate::routes::ingest::with_shape(response)
}

/// Whether a form POST came from this status page: its `Origin` names the host the request
/// was sent to (or the page's configured address), or the browser says `same-origin`. A
/// cached, shared page carries no per-visitor token, so this is the CSRF check.
fn same_origin(app: &Firebreak, headers: &HeaderMap) -> bool {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if get(header::HeaderName::from_static("sec-fetch-site")) == Some("same-origin") {
        return true;
    }
    let Some(origin) = get(header::ORIGIN) else {
        return false;
    };
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    if origin_host.is_empty() {
        return false;
    }
    if get(header::HOST).is_some_and(|host| host.eq_ignore_ascii_case(origin_host)) {
        return true;
    }
    let page = app.status_page_url();
    page.split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .is_some_and(|h| h.eq_ignore_ascii_case(origin_host))
}

/// A refusal of the subscribe form as a sentence: the address's is about what was typed
/// ("That is not an email address; ..."), the others say what is wrong whole ("There is no
/// component `Nope` on this status page.").
fn form_sentence(field: &str, message: &str) -> String {
    let message = message.trim_end_matches('.');
    if field == "email" {
        return format!("That {message}.");
    }
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => "That did not work.".into(),
    }
}

async fn subscribe(
    app: Firebreak,
    base: &'static str,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    const GATE: FormGate = FormGate {
        heading: "Subscribe from the status page",
        there: "subscribe there",
        busy: "Too many tries",
        busy_text: "Too many subscriptions came from your address in the last hour. Try again later.",
        allowed: StatusPageCache::subscribe_allowed,
    };
    if let Some(refused) = refusal(&app, base, headers, peer, &GATE) {
        return refused;
    }
    let mut email = String::new();
    let mut honeypot = String::new();
    let mut components = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "email" => email = v.into_owned(),
            "website" => honeypot = v.into_owned(),
            "components" => components.push(v.into_owned()),
            _ => {}
        }
    }
    let done = || {
        message(
            &app,
            base,
            StatusCode::OK,
            "Check your inbox",
            vec![
                "If the address can get our emails, a message to confirm the subscription is on its way. Nothing else is sent until you confirm.".into(),
            ],
            None,
        )
    };
    if !honeypot.trim().is_empty() {
        // A bot filled the field people cannot see: answer as always, and do nothing.
        return done();
    }
    match app.subscribe_email(&email, Some(components)).await {
        Ok(()) => done(),
        Err(firebreak_engine::EngineError::Invalid { field, message: m }) => message(
            &app,
            base,
            StatusCode::UNPROCESSABLE_ENTITY,
            "That did not work",
            vec![form_sentence(&field, &m)],
            None,
        ),
        Err(firebreak_engine::EngineError::Conflict(m)) => message(
            &app,
            base,
            StatusCode::SERVICE_UNAVAILABLE,
            "Email updates are not available",
            vec![m],
            None,
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// What a public form says when it refuses, and the rate limit it counts against.
struct FormGate {
    /// The heading when the form was posted from elsewhere.
    heading: &'static str,
    /// What to do on the page instead: "subscribe there".
    there: &'static str,
    /// The heading and text past the rate limit.
    busy: &'static str,
    busy_text: &'static str,
    allowed: fn(&StatusPageCache, std::net::IpAddr) -> Result<(), std::time::Duration>,
}

/// The checks a public form makes before it reads its body: that it came from this page (its
/// CSRF check), then that its sender's address is within the form's rate limit. The answer
/// when it is refused.
fn refusal(
    app: &Firebreak,
    base: &'static str,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    gate: &FormGate,
) -> Option<Response> {
    if !same_origin(app, headers) {
        return Some(message(
            app,
            base,
            StatusCode::FORBIDDEN,
            gate.heading,
            vec![format!(
                "This form only works from the status page itself. Open the status page and {}.",
                gate.there
            )],
            None,
        ));
    }
    let peer = peer.unwrap_or(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
    if let Err(wait) = (gate.allowed)(app.status.as_ref(), peer) {
        let mut r = message(
            app,
            base,
            StatusCode::TOO_MANY_REQUESTS,
            gate.busy,
            vec![gate.busy_text.into()],
            None,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Some(r);
    }
    None
}

/// The "report a problem" form (`reports.status_page_form`): a customer names a component,
/// says what is wrong and may leave an email address. It is checked like the subscribe form
/// (the same origin, a rate limit per address, a honeypot field), then recorded as a customer
/// report by `status-page`, so enough of them open an alert like reports from a support tool.
async fn report_problem(
    app: Firebreak,
    base: &'static str,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if !app.config.reports.status_page_form {
        return ApiError::new(StatusCode::NOT_FOUND, "this status page takes no reports")
            .into_response();
    }
    const GATE: FormGate = FormGate {
        heading: "Report from the status page",
        there: "report the problem there",
        busy: "Too many reports",
        busy_text: "Too many reports came from your address in the last hour. Try again later.",
        allowed: StatusPageCache::report_allowed,
    };
    if let Some(refused) = refusal(&app, base, headers, peer, &GATE) {
        return refused;
    }
    let peer = peer.unwrap_or(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
    let (mut component, mut summary, mut email, mut honeypot) =
        (String::new(), String::new(), String::new(), String::new());
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "component" => component = v.into_owned(),
            "summary" => summary = v.into_owned(),
            "email" => email = v.into_owned(),
            "website" => honeypot = v.into_owned(),
            _ => {}
        }
    }
    let done = || {
        message(
            &app,
            base,
            StatusCode::OK,
            "Thank you",
            vec!["Your report reached the team. This page shows what we find.".into()],
            None,
        )
    };
    if !honeypot.trim().is_empty() {
        // A bot filled the field people cannot see: answer as always, and record nothing.
        return done();
    }
    let new = firebreak_engine::customer_reports::NewReport {
        component: Some(component),
        service: None,
        summary,
        reporter: Some(email).filter(|e| !e.trim().is_empty()),
        drill: firebreak_domain::Drill::Real,
    };
    let who = firebreak_engine::Principal {
        source: Some(peer.to_string()),
        ..firebreak_engine::Principal::local("status-page")
    };
    match app.record_customer_report(&who, new).await {
        Ok(_) => done(),
        Err(firebreak_engine::EngineError::Invalid { field, message: m }) => {
            // The engine's words, which never repeat what was sent; named as the form names
            // its fields.
            let what = match field.as_str() {
                "summary" => "The description",
                "reporter" => "The email address",
                _ => "The component",
            };
            message(
                &app,
                base,
                StatusCode::UNPROCESSABLE_ENTITY,
                "That did not work",
                vec![format!("{what}: {m}.")],
                None,
            )
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    Confirm,
    Unsubscribe,
}

/// What opening a link shows: a button, never the action itself (mail scanners fetch links).
async fn link_page(app: Firebreak, base: &'static str, token: &str, link: Link) -> Response {
    let title = app.config.status_page.title.clone();
    match link {
        Link::Confirm => match app.subscriber_for_token(token).await {
            Ok(_) => message(
                &app,
                base,
                StatusCode::OK,
                "Confirm your subscription",
                vec![format!(
                    "Press the button to get {title}'s incident updates by email."
                )],
                Some((
                    format!("{base}/subscribe/confirm/{token}"),
                    "Confirm subscription",
                )),
            ),
            Err(e) => link_error(&app, base, e),
        },
        Link::Unsubscribe => message(
            &app,
            base,
            StatusCode::OK,
            "Unsubscribe",
            vec![format!(
                "Press the button to stop getting {title}'s incident updates."
            )],
            Some((format!("{base}/unsubscribe/{token}"), "Unsubscribe")),
        ),
    }
}

/// The button's POST (and RFC 8058's one-click POST, for unsubscribing).
async fn link_action(app: Firebreak, base: &'static str, token: &str, link: Link) -> Response {
    let title = app.config.status_page.title.clone();
    match link {
        Link::Confirm => match app.confirm_subscription(token).await {
            Ok(_) => message(
                &app,
                base,
                StatusCode::OK,
                "You are subscribed",
                vec![format!(
                    "You will get {title}'s incident updates by email. Every email has a link to unsubscribe."
                )],
                None,
            ),
            Err(e) => link_error(&app, base, e),
        },
        Link::Unsubscribe => match app.unsubscribe(token).await {
            Ok(()) => message(
                &app,
                base,
                StatusCode::OK,
                "You are unsubscribed",
                vec![format!("You will get no more of {title}'s emails.")],
                None,
            ),
            Err(e) => link_error(&app, base, e),
        },
    }
}

fn link_error(app: &Firebreak, base: &'static str, e: firebreak_engine::EngineError) -> Response {
    match e {
        firebreak_engine::EngineError::NotFound(m) => message(
            app,
            base,
            StatusCode::NOT_FOUND,
            "Link not valid",
            vec![m],
            None,
        ),
        other => ApiError::from(other).into_response(),
    }
}

async fn render_incident(
    app: Firebreak,
    renders: &Renders,
    base: &'static str,
    id: &str,
    headers: &HeaderMap,
) -> Response {
    let view = match view(&app).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(i) = view.incidents.iter().find(|i| i.id == id) else {
        // Someone followed a link: say so in a page, with the way back.
        return message(
            &app,
            base,
            StatusCode::NOT_FOUND,
            "No such incident",
            vec![
                "This status page has no incident at that address. It may be older than the page's 90 days of history, or the link may be from before the page changed how it names incidents.".into(),
                "The status page itself shows what is happening now.".into(),
            ],
            None,
        );
    };
    html(
        headers,
        renders
            .get_or(&view, &format!("incident:{}", i.id), || {
                let clock = Clock::of(&view);
                IncidentTemplate {
                    base,
                    title: view.page.name.clone(),
                    logo: web_link(&view.page.logo_url),
                    site: web_link(&view.page.site_url),
                    time_zone: view.page.time_zone.clone(),
                    i: incident_row(&view, &clock, i),
                }
                .render()
                .map(String::into_bytes)
            })
            .await,
    )
}

#[derive(Clone, Copy)]
enum Kind {
    Atom,
    Rss,
}

/// An entry's content: one paragraph per update, newest first, each with its time, a
/// `<strong>` label and the body, all escaped.
fn entry_html(clock: &Clock, i: &IncidentView) -> String {
    let labels = labels(i);
    i.updates
        .iter()
        .zip(labels)
        .map(|(u, label)| {
            format!(
                "<p><small>{}</small><br><strong>{}</strong> - {}</p>",
                escape(&clock.show(u.at)),
                label,
                escape(&u.body)
            )
        })
        .collect::<Vec<_>>()
        .join("")
}

fn escape(s: &str) -> String {
    firebreak_engine::paging::render::escape_html(&xml_text(s))
}

/// `s` without the characters XML 1.0 forbids (most C0 controls), so one odd character in
/// an update cannot make the feed unreadable for every reader.
fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || !c.is_control() || (*c as u32) >= 0x7f)
        .collect()
}

async fn feed(app: Firebreak, renders: &Renders, headers: &HeaderMap, kind: Kind) -> Response {
    let view = match view(&app).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let content_type = match kind {
        Kind::Atom => "application/atom+xml; charset=utf-8",
        Kind::Rss => "application/rss+xml; charset=utf-8",
    };
    let key = match kind {
        Kind::Atom => "atom",
        Kind::Rss => "rss",
    };
    let Ok(rendered) = renders
        .get_or(&view, key, || Ok(feed_xml(&view, kind).into_bytes()))
        .await
    else {
        return ApiError::internal().into_response();
    };
    let mut response = respond(headers, &rendered, content_type, CACHE_CONTROL);
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn feed_xml(view: &StatusView, kind: Kind) -> String {
    let clock = Clock::of(view);
    let shown: Vec<&IncidentView> = view.incidents.iter().take(50).collect();
    let link = |i: &IncidentView| format!("{}/incidents/{}", view.page.url, i.id);
    match kind {
        Kind::Atom => {
            use atom_syndication::{Content, Entry, Feed, FixedDateTime, Link, Text};
            let when = |t: Timestamp| {
                FixedDateTime::parse_from_rfc3339(&t.to_string())
                    .unwrap_or_else(|_| FixedDateTime::default())
            };
            let entries: Vec<Entry> = shown
                .iter()
                .map(|i| Entry {
                    id: format!("tag:firebreak,status:{}", i.id),
                    title: Text::plain(xml_text(&i.name)),
                    updated: when(i.updated_at),
                    published: Some(when(i.created_at)),
                    links: vec![Link {
                        href: link(i),
                        rel: "alternate".into(),
                        mime_type: Some("text/html".into()),
                        ..Default::default()
                    }],
                    content: Some(Content {
                        value: Some(entry_html(&clock, i)),
                        content_type: Some("html".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect();
            let feed = Feed {
                id: format!("tag:firebreak,status:{}", view.page.id),
                title: Text::plain(xml_text(&format!("{}: incident history", view.page.name))),
                updated: when(view.page.updated_at),
                links: vec![
                    Link {
                        href: view.page.url.clone(),
                        rel: "alternate".into(),
                        mime_type: Some("text/html".into()),
                        ..Default::default()
                    },
                    Link {
                        href: format!("{}/history.atom", view.page.url),
                        rel: "self".into(),
                        mime_type: Some("application/atom+xml".into()),
                        ..Default::default()
                    },
                ],
                entries,
                ..Default::default()
            };
            feed.to_string()
        }
        Kind::Rss => {
            use rss::{Channel, Guid, Item};
            let items: Vec<Item> = shown
                .iter()
                .map(|i| Item {
                    title: Some(xml_text(&i.name)),
                    link: Some(link(i)),
                    description: Some(entry_html(&clock, i)),
                    guid: Some(Guid {
                        value: format!("tag:firebreak,status:{}", i.id),
                        permalink: false,
                    }),
                    pub_date: Some(
                        i.created_at
                            .strftime("%a, %d %b %Y %H:%M:%S +0000")
                            .to_string(),
                    ),
                    ..Default::default()
                })
                .collect();
            let channel = Channel {
                title: xml_text(&format!("{}: incident history", view.page.name)),
                link: view.page.url.clone(),
                description: format!("Incidents and updates on {}", view.page.name),
                last_build_date: Some(
                    view.page
                        .updated_at
                        .strftime("%a, %d %b %Y %H:%M:%S +0000")
                        .to_string(),
                ),
                items,
                ..Default::default()
            };
            channel.to_string()
        }
    }
}
