//! The web pages: signing in, the incident list and the live incident room. Server-rendered
//! with askama (every text a person or a sender wrote is escaped), with htmx for actions and
//! server-sent events for live updates. htmx is vendored into the binary (`assets/`), so
//! nothing is fetched from a CDN, and every page carries a strict Content-Security-Policy that
//! allows no inline script. Forms work without JavaScript too: each one posts and redirects.

pub mod admin;
pub mod alerts;
pub mod charts;
pub mod markdown;
pub mod oidc;
pub mod oncall;
pub mod pages;
pub mod panels;
pub mod reports;
pub mod review;
pub mod room;
pub mod session;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use firebreak_domain::{AccessRole, TimelineEvent};
use firebreak_engine::{EngineError, Firebreak};
use jiff::Timestamp;

use crate::problem::ApiError;

/// The policy on every page: scripts and styles from this server only, no inline script, no
/// framing, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn router() -> Router<Firebreak> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/login/oidc", get(oidc::start))
        .route("/login/oidc/callback", get(oidc::callback))
        .route("/logout", post(pages::logout))
        .route("/account", get(pages::account))
        .route(
            "/account/sign-out-everywhere",
            post(pages::sign_out_everywhere),
        )
        .route(
            "/invite/{token}",
            get(pages::invite_page).post(pages::accept_invite),
        )
        .route("/incidents", get(room::list).post(room::declare))
        .route("/incidents/{n}", get(room::room))
        .route("/incidents/{n}/state", get(room::state))
        .route("/incidents/{n}/live", get(room::live))
        .route("/incidents/{n}/notes", post(room::note))
        .route("/incidents/{n}/status", post(room::set_status))
        .route("/incidents/{n}/severity", post(room::set_severity))
        .route("/incidents/{n}/ack", post(room::ack))
        .route("/incidents/{n}/roles/{role}", post(room::assign_role))
        .route("/incidents/{n}/checklist/{item}", post(room::tick))
        .route("/incidents/{n}/panels", get(panels::panels))
        .route("/incidents/{n}/updates", post(panels::post_update))
        .route("/incidents/{n}/runs", post(panels::run_action))
        .route(
            "/incidents/{n}/runs/{id}/approve",
            post(panels::approve_run),
        )
        .route(
            "/incidents/{n}/postmortem",
            get(review::page).post(review::draft),
        )
        .route("/incidents/{n}/postmortem.md", get(review::markdown))
        .route(
            "/incidents/{n}/postmortem/sections/{key}",
            post(review::save_section),
        )
        .route("/incidents/{n}/postmortem/status", post(review::set_status))
        .route("/incidents/{n}/postmortem/publish", post(review::publish))
        .route("/incidents/{n}/postmortem/dismiss", post(review::dismiss))
        .route("/incidents/{n}/action-items", post(review::add_item))
        .route("/action-items", get(review::list))
        .route("/action-items/{id}", post(review::change_item))
        .route("/reports", get(reports::page))
        .route("/alerts", get(alerts::page))
        .route("/alerts/list", get(alerts::list))
        .route("/alerts/live", get(alerts::live))
        .route("/alerts/{id}/silence", get(alerts::silence_form))
        .route("/alerts/{id}/{what}", post(panels::alert_action))
        .route("/silences", post(alerts::create_silence))
        .route("/oncall", get(oncall::page))
        .route("/oncall/overrides", post(oncall::add_override))
        .route("/admin", get(admin::page))
        .route("/admin/users", post(admin::add_user))
        .route("/admin/invitations", post(admin::invite))
        .route("/admin/tokens", post(admin::add_token))
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/admin/integrations", post(admin::add_integration))
        .route("/admin/freezes", post(admin::add_freeze))
        .route("/admin/freezes/{id}/lift", post(admin::lift_freeze))
        .route("/admin/webhooks/{id}", get(admin::webhook))
        .route("/admin/audit", get(admin::audit))
        .route("/assets/{file}", get(asset))
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/assets/icon.svg") }),
        )
        .layer(axum::middleware::map_response(page_headers))
        // Pages and assets go out gzipped to browsers that ask (the event streams never are).
        // Pages carry a CSRF token, masked afresh in every answer, so compression leaks
        // nothing of it.
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Security headers on every web answer.
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::REFERRER_POLICY) {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

const HTMX: &str = include_str!("../../assets/htmx.min.js");
const HTMX_SSE: &str = include_str!("../../assets/htmx-sse.min.js");
const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");
const ICON: &str = include_str!("../../assets/icon.svg");

/// The vendored scripts, Firebreak's own few lines of script, and the stylesheet. Their names carry no version, so they are
/// revalidated after an hour; the ETag makes that a 304.
async fn asset(
    axum::extract::Path(file): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let (body, kind) = match file.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "htmx-sse.min.js" => (HTMX_SSE, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "icon.svg" => (ICON, "image/svg+xml"),
        _ => return error_page(StatusCode::NOT_FOUND, "There is no such file.", None),
    };
    let etag = format!(
        "\"{}\"",
        &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()))[..16]
    );
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// A page's path parameters. A value that does not parse (`/incidents/abc`) is this
/// server's "not found" page, not an API problem document.
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, WebError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(_) => Err(WebError::NotFound(format!(
                "there is no page at {}; check the address, or start from the incident list",
                parts.uri.path()
            ))),
        }
    }
}

/// A page's query parameters. One that does not parse (`?before=soon`) is a page that says
/// which, not an API problem document.
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, WebError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(e) => Err(WebError::Invalid(format!(
                "this page does not understand its address: {}",
                e.body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
            ))),
        }
    }
}

/// Why a page could not be shown, as the browser should see it.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in: go to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    Forbidden(String),
    NotFound(String),
    /// A form was refused: what to fix.
    Invalid(String),
    Conflict(String),
    /// Refused for a while (sign-in backoff).
    Throttled {
        message: String,
        retry_after: u64,
    },
    Unavailable,
    Internal,
}

impl From<EngineError> for WebError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => WebError::NotFound(m),
            EngineError::Invalid { field, message } => {
                WebError::Invalid(format!("{}: {message}", field.replace('_', " ")))
            }
            EngineError::Conflict(m) => WebError::Conflict(m),
            EngineError::Forbidden(m) => WebError::Forbidden(m),
            EngineError::Unauthorized(m) => WebError::Invalid(m),
            EngineError::Throttled {
                message,
                retry_after,
            } => WebError::Throttled {
                message,
                retry_after,
            },
            EngineError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "storage unavailable; answering 503");
                WebError::Unavailable
            }
            EngineError::Store(cause) => {
                tracing::error!(error = %cause, "storage failure");
                WebError::Internal
            }
        }
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e.status().as_u16() {
            404 => WebError::NotFound(e.detail().to_string()),
            403 => WebError::Forbidden(e.detail().to_string()),
            409 => WebError::Conflict(e.detail().to_string()),
            503 => WebError::Unavailable,
            s if s >= 500 => WebError::Internal,
            _ => WebError::Invalid(e.detail().to_string()),
        }
    }
}

impl WebError {
    fn parts(&self) -> (StatusCode, String) {
        match self {
            WebError::SignIn { .. } => (StatusCode::UNAUTHORIZED, "Sign in first.".into()),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            WebError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            WebError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            WebError::Throttled { message, .. } => (StatusCode::TOO_MANY_REQUESTS, message.clone()),
            WebError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Firebreak cannot reach its database right now; nothing was changed. Try again in a few seconds.".into(),
            ),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Firebreak could not do that; the server log has the cause. Trying again may help.".into(),
            ),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::SignIn { next } = &self {
            let to = if next == "/" || !firebreak_domain::session::safe_next(next) {
                "/login".to_string()
            } else {
                format!(
                    "/login?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                )
            };
            let mut r = Redirect::to(&to).into_response();
            // htmx follows this header with a full page load, not a swap.
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert("hx-redirect", v);
            }
            return r;
        }
        let (status, message) = self.parts();
        let retry = match &self {
            WebError::Throttled { retry_after, .. } => Some(*retry_after),
            WebError::Unavailable => Some(crate::problem::RETRY_AFTER_SECS),
            _ => None,
        };
        let mut r = error_page(status, &message, retry);
        // An htmx request shows the message in the page's message area.
        r.headers_mut()
            .insert("hx-retarget", HeaderValue::from_static("#flash"));
        r.headers_mut()
            .insert("hx-reswap", HeaderValue::from_static("innerHTML"));
        r
    }
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// A small page saying what went wrong and what to do.
pub fn error_page(status: StatusCode, message: &str, retry_after: Option<u64>) -> Response {
    let title = match status.as_u16() {
        401 => "Sign in first",
        403 => "Not allowed",
        404 => "Not found",
        // A stale page says so in its message; most conflicts are not someone else's doing
        // (a lifecycle move back, a role already held, a resolved incident).
        409 => "That cannot be done now",
        422 => "Please check the form",
        429 => "Too many attempts",
        503 => "Try again shortly",
        _ => "Something went wrong",
    };
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
    };
    let mut r = html(status, page.render());
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Whether `c` changes the direction of the text around it (RLO, LRI, RLM...).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Makes direction controls in rendered text visible and inert: `exe.png` written with a
/// right-to-left override shows as `[U+202E]gnp.exe`, as it was sent. The templates hold none,
/// so every one comes from text a person or a sender wrote.
pub fn inert(rendered: String) -> String {
    if !rendered.chars().any(is_bidi_control) {
        return rendered;
    }
    let mut out = String::with_capacity(rendered.len() + 16);
    for c in rendered.chars() {
        if is_bidi_control(c) {
            out.push_str(&format!("[U+{:04X}]", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// An HTML answer from a rendered template.
pub fn html(status: StatusCode, rendered: Result<String, askama::Error>) -> Response {
    match rendered.map(inert) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Firebreak could not draw this page; the server log has the cause.",
            )
                .into_response()
        }
    }
}

/// What every page's frame shows: who is signed in and the CSRF token its forms carry.
pub struct Frame {
    pub handle: String,
    pub role: AccessRole,
    pub csrf: String,
    /// The user may change things (responder or admin).
    pub responder: bool,
    pub admin: bool,
    /// Which part of the navigation is current.
    pub section: &'static str,
    /// The break-glass grant the user's role comes from now, if it does: every page says so.
    pub break_glass: Option<i64>,
}

impl Frame {
    pub fn new(
        me: &firebreak_engine::accounts::SessionPrincipal,
        csrf: &str,
        section: &'static str,
    ) -> Frame {
        Frame {
            handle: me.session.user.to_string(),
            role: me.principal.role,
            csrf: csrf.to_string(),
            responder: me.principal.role.allows(AccessRole::Responder),
            admin: me.principal.role.allows(AccessRole::Admin),
            section,
            break_glass: me.principal.break_glass,
        }
    }
}

/// An instant as a page shows it: `2026-12-03 16:40 UTC`.
pub fn when(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// An instant as `16:40:12`, for timeline rows.
pub fn clock(at: Timestamp) -> String {
    at.strftime("%H:%M:%S").to_string()
}

/// How long ago, in the largest unit that fits: `4m`, `2h 5m`, `3d`.
pub fn age(from: Timestamp, now: Timestamp) -> String {
    let secs = now.duration_since(from).as_secs().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A timeline event's kind (its stored name) and a sentence saying what happened.
pub fn describe(event: &TimelineEvent) -> (&'static str, String) {
    (event.kind(), event.describe())
}
