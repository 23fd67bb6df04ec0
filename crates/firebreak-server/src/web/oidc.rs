//! Single sign-on pages: `GET /login/oidc` sends the browser to the identity provider, and
//! `GET /login/oidc/callback` is where the provider sends it back (the redirect URL to register
//! is `server.public_url` + `/login/oidc/callback`).
//!
//! Between the two, the browser holds the sealed sign-in (state, nonce and PKCE verifier) in
//! the cookie `firebreak_oidc`: HttpOnly, SameSite=Lax (the provider's redirect back is a
//! top-level navigation, which Lax allows), limited to `/login/oidc` and to 10 minutes, and
//! removed at the callback. Every refusal is a page saying what happened and to sign in again.

use super::Query;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use firebreak_engine::Firebreak;
use firebreak_engine::oidc::{OidcError, pending_max_age};
use serde::Deserialize;

use super::error_page;
use super::pages::signed_in;

/// The cookie that holds a sign-in under way.
pub const OIDC_COOKIE: &str = "firebreak_oidc";

fn pending_cookie(value: &str, secure: bool) -> String {
    format!(
        "{OIDC_COOKIE}={value}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={}{}",
        pending_max_age(),
        if secure { "; Secure" } else { "" }
    )
}

fn clear_pending_cookie(secure: bool) -> String {
    format!(
        "{OIDC_COOKIE}=; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

fn pending_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == OIDC_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The page for a sign-in that did not work: what happened, and the way back.
fn refused(status: StatusCode, message: &str, secure: bool) -> Response {
    let text = format!("{message} (go to /login to sign in again)");
    let mut r = error_page(status, &text, None);
    if let Ok(v) = HeaderValue::from_str(&clear_pending_cookie(secure)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

fn failure(e: OidcError, secure: bool) -> Response {
    match e {
        OidcError::NotConfigured => refused(StatusCode::NOT_FOUND, &e.to_string(), secure),
        OidcError::Refused(m) => refused(StatusCode::BAD_REQUEST, &m, secure),
        OidcError::Provider(m) => {
            tracing::warn!(error = %m, "single sign-on could not reach the identity provider");
            refused(StatusCode::BAD_GATEWAY, &m, secure)
        }
        OidcError::Engine(e) => super::WebError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /login/oidc`: off to the identity provider.
pub async fn start(
    State(app): State<Firebreak>,
    Query(q): Query<StartQuery>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let secure = super::session::secure(&app, &parts);
    match app.oidc_start(q.next.as_deref().unwrap_or("/")).await {
        Ok(start) => {
            let mut r = Redirect::to(&start.url).into_response();
            if let Ok(v) = HeaderValue::from_str(&pending_cookie(&start.cookie, secure)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            // The provider must not learn where in Firebreak the person was.
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Err(e) => failure(e, secure),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /login/oidc/callback`: the provider's answer. Signs the browser in, or says why not.
pub async fn callback(
    State(app): State<Firebreak>,
    Query(q): Query<CallbackQuery>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let secure = super::session::secure(&app, &parts);
    let source = super::session::source(&app, &parts);
    if let Some(error) = q.error {
        // Only a standard error code is shown: anybody can put text in this address, and the
        // page must not repeat a stranger's words as Firebreak's.
        let code = if !error.is_empty()
            && error.len() <= 40
            && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            error
        } else {
            "an error".to_string()
        };
        tracing::info!(error = %code, "the identity provider answered a sign-in with an error");
        return refused(
            StatusCode::BAD_REQUEST,
            &format!(
                "the identity provider did not sign you in (it answered {code}); sign in again, \
                 or ask an admin if it keeps happening"
            ),
            secure,
        );
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "this address is where the identity provider sends you back after signing in, and \
             it came without a code",
            secure,
        );
    };
    let pending = pending_of(&parts.headers);
    match app.oidc_finish(pending, &state, &code, source).await {
        Ok((signed, next)) => {
            let mut r = signed_in(&signed, &next, secure);
            if let Ok(v) = HeaderValue::from_str(&clear_pending_cookie(secure)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => failure(e, secure),
    }
}
