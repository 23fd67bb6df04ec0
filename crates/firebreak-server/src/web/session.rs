//! Who a browser is: the session cookie, the role check, and CSRF protection for every
//! request that changes something.
//!
//! A page handler takes [`Signed<R>`]: a live session whose user holds at least role `R`,
//! decided by the same effective-role rule as API tokens. A form handler takes
//! [`Posted<R, T>`], which also reads the form and refuses it unless it carries the session's
//! CSRF token (the hidden `_csrf` field, or the `X-CSRF-Token` header htmx sends) and, when the
//! browser says where it comes from, comes from this site.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use firebreak_engine::Firebreak;
use firebreak_engine::accounts::SessionPrincipal;
use serde::de::DeserializeOwned;

use super::WebError;
use crate::extract::Needs;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "firebreak_session";
/// The header htmx sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The largest form Firebreak takes from a browser.
const FORM_LIMIT: usize = 64 * 1024;

/// The session id in a request's cookies, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// The `Set-Cookie` value that stores a session id in the browser.
pub fn set_session_cookie(id: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        firebreak_domain::session::ABSOLUTE_TIMEOUT.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The client's address as the audit log and sign-in backoff see it.
pub(crate) fn source(app: &Firebreak, parts: &Parts) -> Option<String> {
    crate::extract::client_ip(parts, app).map(|ip| ip.to_string())
}

/// Whether the request is over HTTPS as the browser sees it: served with TLS, or
/// `server.public_url` says `https://`.
pub(crate) fn secure(app: &Firebreak, parts: &Parts) -> bool {
    parts.uri.scheme_str() == Some("https")
        || parts.extensions.get::<crate::Tls>().is_some()
        || app
            .config
            .server
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

/// The path and query a browser asked for, to come back to after signing in.
fn wanted(parts: &Parts) -> String {
    if parts.method == Method::GET {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    }
}

/// The live session of a request, or why it has none.
async fn session_of(parts: &Parts, app: &Firebreak) -> Result<SessionPrincipal, WebError> {
    let sign_in = || WebError::SignIn {
        next: wanted(parts),
    };
    let id = session_cookie(&parts.headers).ok_or_else(sign_in)?;
    app.session(id, source(app, parts))
        .await?
        .ok_or_else(sign_in)
}

fn check_role<R: Needs>(me: &SessionPrincipal) -> Result<(), WebError> {
    if me.principal.role.allows(R::ROLE) {
        Ok(())
    } else {
        Err(WebError::Forbidden(format!(
            "this needs the {} role, and you are a {}; ask an admin if you need more",
            R::ROLE,
            me.principal.role
        )))
    }
}

/// Refuses a cross-site request: when the browser names where it comes from (`Origin`, or
/// `Sec-Fetch-Site`), it must be this site.
fn same_site(parts: &Parts) -> Result<(), WebError> {
    let refuse = || {
        WebError::Forbidden(
            "this request came from another site; open Firebreak itself and try again".into(),
        )
    };
    // Browsers that send Sec-Fetch-Site say exactly where a request comes from; the
    // Origin of a form posted from a page with a strict referrer policy is `null`.
    if let Some(site) = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
    {
        return if matches!(site, "same-origin" | "none") {
            Ok(())
        } else {
            Err(refuse())
        };
    }
    if let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(origin);
        if origin == "null" || origin_host != host {
            return Err(refuse());
        }
    }
    Ok(())
}

fn csrf_refused() -> WebError {
    WebError::Forbidden(
        "this form is out of date (its security token does not match your session); reload the page and try again".into(),
    )
}

/// A signed-in browser whose user holds at least role `R`.
pub struct Signed<R: Needs> {
    pub me: SessionPrincipal,
    /// The session's CSRF token, for the forms on the page.
    pub csrf: String,
    pub secure: bool,
    _role: PhantomData<R>,
}

impl<R: Needs> FromRequestParts<Firebreak> for Signed<R> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &Firebreak) -> Result<Self, WebError> {
        let me = session_of(parts, app).await?;
        check_role::<R>(&me)?;
        let csrf = app.csrf_token(&me.session).await?;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            // A change without a form body: the token must come in the header.
            same_site(parts)?;
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !app.check_csrf(&me.session, sent).await? {
                return Err(csrf_refused());
            }
        }
        Ok(Signed {
            me,
            csrf,
            secure: secure(app, parts),
            _role: PhantomData,
        })
    }
}

/// A form posted by a signed-in browser whose user holds at least role `R`, with its CSRF
/// token checked.
pub struct Posted<R: Needs, T> {
    pub me: SessionPrincipal,
    pub form: T,
    pub csrf: String,
    /// Whether htmx sent it (it wants a fragment back, not a redirect).
    pub htmx: bool,
    pub secure: bool,
    _role: PhantomData<R>,
}

impl<R: Needs, T: DeserializeOwned + Send> FromRequest<Firebreak> for Posted<R, T> {
    type Rejection = WebError;

    async fn from_request(req: Request, app: &Firebreak) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        let me = session_of(&parts, app).await?;
        check_role::<R>(&me)?;
        same_site(&parts)?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), app)
            .await
            .map_err(|_| WebError::Invalid("the form is too large or was cut off".into()))?;
        if bytes.len() > FORM_LIMIT {
            return Err(WebError::Invalid("the form is too large".into()));
        }
        let header_token = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let field_token = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.into_owned());
        let sent = header_token.or(field_token).unwrap_or_default();
        if !app.check_csrf(&me.session, &sent).await? {
            return Err(csrf_refused());
        }
        let form: T = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| WebError::Invalid(format!("the form is not complete: {e}")))?;
        let csrf = app.csrf_token(&me.session).await?;
        let htmx = parts.headers.contains_key("hx-request");
        let secure = secure(app, &parts);
        parts.extensions.clear();
        Ok(Posted {
            me,
            form,
            csrf,
            htmx,
            secure,
            _role: PhantomData,
        })
    }
}

/// A form posted by a browser that is not signed in (sign-in, invitation). No CSRF token
/// exists yet; the same-site check still applies.
pub struct PublicForm<T> {
    pub form: T,
    pub source: Option<String>,
    pub secure: bool,
}

impl<T: DeserializeOwned + Send> FromRequest<Firebreak> for PublicForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, app: &Firebreak) -> Result<Self, WebError> {
        let (parts, body) = req.into_parts();
        same_site(&parts)?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), app)
            .await
            .map_err(|_| WebError::Invalid("the form is too large or was cut off".into()))?;
        if bytes.len() > FORM_LIMIT {
            return Err(WebError::Invalid("the form is too large".into()));
        }
        let form: T = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| WebError::Invalid(format!("the form is not complete: {e}")))?;
        Ok(PublicForm {
            form,
            source: source(app, &parts),
            secure: secure(app, &parts),
        })
    }
}
