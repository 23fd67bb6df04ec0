//! Signing in and out, invitation links, the account page and home.

use super::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use firebreak_domain::session::{InvitationFor, safe_next};
use firebreak_domain::{Incident, Name};
use firebreak_engine::Firebreak;
use firebreak_engine::accounts::{FirstAdmin, SignedIn};
use firebreak_store::IncidentFilter;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::session::{PublicForm, Signed, clear_session_cookie, set_session_cookie};
use super::{Frame, WebError, age, html, when};
use crate::extract::Viewer;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "web/login.html")]
struct LoginPage {
    next: String,
    login: String,
    error: Option<String>,
    setup_pending: bool,
    /// The single sign-on provider's name, when one is configured.
    oidc: Option<String>,
}

fn next_or_home(next: Option<&str>) -> String {
    next.filter(|n| safe_next(n)).unwrap_or("/").to_string()
}

/// `GET /login`. A browser already signed in goes on to where it was going.
pub async fn login_page(
    State(app): State<Firebreak>,
    Query(q): Query<NextQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, WebError> {
    let next = next_or_home(q.next.as_deref());
    if let Some(id) = super::session::session_cookie(&headers)
        && app.session(id, None).await?.is_some()
    {
        return Ok(Redirect::to(&next).into_response());
    }
    let setup_pending = app
        .store
        .count_passwords()
        .await
        .map_err(|e| WebError::from(firebreak_engine::EngineError::from(e)))?
        == 0;
    Ok(html(
        StatusCode::OK,
        LoginPage {
            next,
            login: String::new(),
            error: None,
            setup_pending,
            oidc: app.oidc().map(|o| o.name().to_string()),
        }
        .render(),
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    next: Option<String>,
}

/// Where a signed-in browser goes, with its new session cookie. The session id is new at
/// every sign-in, so an id planted before sign-in is worth nothing.
pub(crate) fn signed_in(signed: &SignedIn, next: &str, secure: bool) -> Response {
    let mut r = Redirect::to(next).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_session_cookie(signed.id.expose_secret(), secure)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /login`.
pub async fn login(
    State(app): State<Firebreak>,
    PublicForm {
        form,
        source,
        secure,
    }: PublicForm<LoginForm>,
) -> Result<Response, WebError> {
    let next = next_or_home(form.next.as_deref());
    let password = SecretString::from(form.password);
    match app.sign_in(&form.login, &password, source).await {
        Ok(signed) => Ok(signed_in(&signed, &next, secure)),
        Err(e) => {
            let (status, retry) = match &e {
                firebreak_engine::EngineError::Throttled { retry_after, .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after))
                }
                firebreak_engine::EngineError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, None),
                _ => return Err(e.into()),
            };
            let mut r = html(
                status,
                LoginPage {
                    next,
                    login: form.login,
                    error: Some(e.to_string()),
                    setup_pending: false,
                    oidc: app.oidc().map(|o| o.name().to_string()),
                }
                .render(),
            );
            if let Some(secs) = retry
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(r)
        }
    }
}

/// `POST /logout`: ends this browser's session.
pub async fn logout(
    State(app): State<Firebreak>,
    super::session::Posted { me, secure, .. }: super::session::Posted<Viewer, Empty>,
) -> Result<Response, WebError> {
    app.sign_out(&me).await?;
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie(secure)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.headers_mut()
        .insert("hx-redirect", HeaderValue::from_static("/login"));
    Ok(r)
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct Empty {}

#[derive(Template)]
#[template(path = "web/account.html")]
struct AccountPage {
    frame: Frame,
    name: String,
    email: String,
    sessions: Vec<SessionRow>,
    notice: Option<String>,
}

struct SessionRow {
    started: String,
    last_seen: String,
    source: String,
    method: &'static str,
    this: bool,
}

#[derive(Deserialize)]
pub struct AccountQuery {
    signed_out: Option<u64>,
}

/// `GET /account`: who I am, and my signed-in browsers.
pub async fn account(
    State(app): State<Firebreak>,
    Query(q): Query<AccountQuery>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let user = app.user(&me.session.user).await?;
    let sessions = app
        .sessions_of(&me.session.user)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            started: when(s.created_at),
            last_seen: when(s.last_seen_at),
            source: s.source.clone().unwrap_or_else(|| "unknown".into()),
            method: s.method.as_str(),
            this: s.id_hash == me.session.id_hash,
        })
        .collect();
    let notice = q.signed_out.map(|n| match n {
        0 => "No other browser was signed in.".to_string(),
        1 => "Signed out 1 other browser.".to_string(),
        n => format!("Signed out {n} other browsers."),
    });
    Ok(html(
        StatusCode::OK,
        AccountPage {
            frame: Frame::new(&me, &csrf, "account"),
            name: user.name,
            email: user.email.unwrap_or_default(),
            sessions,
            notice,
        }
        .render(),
    ))
}

/// `POST /account/sign-out-everywhere`: every other browser of mine is signed out.
pub async fn sign_out_everywhere(
    State(app): State<Firebreak>,
    super::session::Posted { me, .. }: super::session::Posted<Viewer, Empty>,
) -> Result<Response, WebError> {
    let n = app.sign_out_everywhere(&me).await?;
    Ok(Redirect::to(&format!("/account?signed_out={n}")).into_response())
}

#[derive(Template)]
#[template(path = "web/invite.html")]
struct InvitePage {
    token: String,
    /// The user the link is for; empty for the first admin's setup.
    handle: String,
    first_admin: bool,
    name: String,
    email: String,
    error: Option<String>,
}

/// `GET /invite/{token}`: set a password (or create the first admin).
pub async fn invite_page(
    State(app): State<Firebreak>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let invitation = app.invitation(&token).await?;
    let (handle, first_admin) = match &invitation.target {
        InvitationFor::User(h) => (h.to_string(), false),
        InvitationFor::FirstAdmin => (String::new(), true),
    };
    let r = html(
        StatusCode::OK,
        InvitePage {
            token,
            handle,
            first_admin,
            name: String::new(),
            email: String::new(),
            error: None,
        }
        .render(),
    );
    // The link is a secret: the page links nowhere else, and its referrer policy
    // (`same-origin`, on every page) keeps it from any other site.
    Ok(r)
}

#[derive(Deserialize)]
pub struct InviteForm {
    handle: Option<String>,
    name: Option<String>,
    email: Option<String>,
    password: String,
    confirm: String,
}

/// `POST /invite/{token}`: sets the password, uses the link up and signs the browser in.
pub async fn accept_invite(
    State(app): State<Firebreak>,
    Path(token): Path<String>,
    PublicForm {
        form,
        source,
        secure,
    }: PublicForm<InviteForm>,
) -> Result<Response, WebError> {
    let invitation = app.invitation(&token).await?;
    let first = matches!(invitation.target, InvitationFor::FirstAdmin);
    let again = |error: String| {
        html(
            StatusCode::UNPROCESSABLE_ENTITY,
            InvitePage {
                token: token.clone(),
                handle: match &invitation.target {
                    InvitationFor::User(h) => h.to_string(),
                    InvitationFor::FirstAdmin => form.handle.clone().unwrap_or_default(),
                },
                first_admin: first,
                name: form.name.clone().unwrap_or_default(),
                email: form.email.clone().unwrap_or_default(),
                error: Some(error),
            }
            .render(),
        )
    };
    if form.password != form.confirm {
        return Ok(again(
            "the two passwords differ; type the same one twice".into(),
        ));
    }
    let admin = if first {
        let raw = form.handle.clone().unwrap_or_default();
        let handle = match Name::parse(raw.trim()) {
            Ok(h) => h,
            Err(_) => {
                return Ok(again(
                    "handle: use lowercase letters, digits, '-', '_' or '.', starting with a letter or digit (like `alice`)".into(),
                ));
            }
        };
        let name = form
            .name
            .clone()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| handle.to_string());
        let email = form
            .email
            .clone()
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty());
        if email.as_deref().is_some_and(|e| !e.contains('@')) {
            return Ok(again(
                "email: must be an address like alice@example.com".into(),
            ));
        }
        Some(FirstAdmin {
            handle,
            name,
            email,
        })
    } else {
        None
    };
    let password = SecretString::from(form.password.clone());
    match app
        .accept_invitation(&token, &password, admin, source)
        .await
    {
        Ok(signed) => Ok(signed_in(&signed, "/", secure)),
        Err(firebreak_engine::EngineError::Invalid { field, message }) => {
            Ok(again(format!("{field}: {message}")))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "web/home.html")]
struct HomePage {
    frame: Frame,
    mine: Vec<IncidentRow>,
    open: Vec<IncidentRow>,
    /// Pages sent to me that nobody has acknowledged yet.
    pages: Vec<PageWaiting>,
    next_shift: Option<super::oncall::ShiftRow>,
    /// My open action items past their due date.
    overdue: Vec<super::review::ItemView>,
}

/// A page waiting for my acknowledgement.
struct PageWaiting {
    /// What to open: the incident or the alert list.
    href: String,
    what: String,
    /// The acknowledge form's action.
    ack: String,
    how: String,
}

/// One incident in a list.
pub struct IncidentRow {
    pub number: String,
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub status: &'static str,
    pub age: String,
    pub commander: String,
    pub services: String,
    pub drill: bool,
}

impl IncidentRow {
    pub fn of(i: &Incident, now: jiff::Timestamp) -> IncidentRow {
        IncidentRow {
            number: i.number.to_string(),
            id: i.number.0,
            title: i.title.clone(),
            severity: i.severity.clone(),
            status: i.status.as_str(),
            age: age(i.declared_at, now),
            commander: i
                .roles
                .get(firebreak_domain::config::COMMANDER)
                .cloned()
                .unwrap_or_default(),
            services: i
                .services
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            drill: i.drill,
        }
    }
}

/// `GET /`: what needs me. Incidents waiting for an acknowledgement, the open incidents I
/// hold a role in, and every open incident.
pub async fn home(
    State(app): State<Firebreak>,
    Signed { me, csrf, .. }: Signed<Viewer>,
) -> Result<Response, WebError> {
    let now = app.clock.now();
    let filter = IncidentFilter {
        open: Some(true),
        ..Default::default()
    };
    let open = app.list_incidents(&filter, None, 100).await?.items;
    let handle = me.session.user.as_str();
    let mine = open
        .iter()
        .filter(|i| i.roles.values().any(|u| u == handle))
        .map(|i| IncidentRow::of(i, now))
        .collect();
    let mut pages = Vec::new();
    for e in app.waiting_for(handle).await? {
        let how: Vec<String> = e
            .notifications
            .iter()
            .filter(|n| n.user == handle)
            .map(|n| format!("{} ({})", n.method, n.status))
            .collect();
        let (href, what, ack) = match (e.escalation.incident, e.escalation.alert) {
            (Some(n), _) => {
                let title = open
                    .iter()
                    .find(|i| i.number == n)
                    .map(|i| i.title.clone())
                    .unwrap_or_default();
                (
                    format!("/incidents/{}", n.0),
                    format!("{n}: {title}"),
                    format!("/incidents/{}/ack", n.0),
                )
            }
            (None, Some(id)) => {
                let summary = app.alert(id).await.map(|a| a.summary).unwrap_or_default();
                (
                    "/alerts".to_string(),
                    format!("alert #{id}: {summary}"),
                    format!("/alerts/{id}/ack"),
                )
            }
            (None, None) => continue,
        };
        pages.push(PageWaiting {
            href,
            what,
            ack,
            how: how.join(", "),
        });
    }
    let next_shift = super::oncall::week(&app, handle)
        .await?
        .into_iter()
        .flat_map(|(_, mine)| mine)
        .next();
    let today = firebreak_engine::review::items::today(now);
    let overdue = app
        .overdue_items_of(&me.session.user)
        .await?
        .iter()
        .map(|i| super::review::ItemView::of(i, today))
        .collect();
    let open = open.iter().map(|i| IncidentRow::of(i, now)).collect();
    Ok(html(
        StatusCode::OK,
        HomePage {
            frame: Frame::new(&me, &csrf, "home"),
            mine,
            open,
            pages,
            next_shift,
            overdue,
        }
        .render(),
    ))
}
