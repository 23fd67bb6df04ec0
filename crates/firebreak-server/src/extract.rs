//! Request extractors: the caller's identity and role, JSON bodies that name the bad field,
//! and path parameters parsed into domain types.

use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use firebreak_domain::AccessRole;
use firebreak_engine::{Firebreak, Principal};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

pub trait Needs: Send + Sync + 'static {
    const ROLE: AccessRole;
}
pub struct Viewer;
pub struct Responder;
pub struct Admin;
impl Needs for Viewer {
    const ROLE: AccessRole = AccessRole::Viewer;
}
impl Needs for Responder {
    const ROLE: AccessRole = AccessRole::Responder;
}
impl Needs for Admin {
    const ROLE: AccessRole = AccessRole::Admin;
}

/// The authenticated caller, who holds at least role `R`. Handlers take this as their first
/// argument, so authorisation is checked before anything about the target is looked up.
pub struct Caller<R: Needs> {
    pub principal: Principal,
    _role: PhantomData<R>,
}

impl<R: Needs> FromRequestParts<Firebreak> for Caller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Firebreak,
    ) -> Result<Self, Self::Rejection> {
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("send an API token as `Authorization: Bearer <token>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let principal = app.authenticate(token, source).await?.ok_or_else(|| {
            ApiError::unauthorized("the token is unknown or revoked; ask an admin for a new one")
        })?;
        if !principal.role.allows(R::ROLE) {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role; the token has {}",
                R::ROLE,
                principal.role
            )));
        }
        Ok(Caller {
            principal,
            _role: PhantomData,
        })
    }
}

/// A JSON body, whatever Content-Type the client sent. Malformed JSON is a 400; a well-formed body with a wrong or missing field is a
/// 422 that names the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(e.status(), "the request body is larger than the 1 MB limit")
            } else {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(ApiError::bad_request(format!(
            "the body is not valid JSON: {e}"
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = inner
            .split(" at line ")
            .next()
            .unwrap_or(&inner)
            .to_string();
        // Time fields fail with the parser's words; say what a time looks like instead.
        let last = path.rsplit('.').next().unwrap_or("");
        let message = if (last == "at" || last.ends_with("_at")) && !message.starts_with("missing")
        {
            format!(
                "is not a time: {message}; write RFC 3339 with a zone, like 2026-11-23T03:00:00Z"
            )
        } else {
            message
        };
        let field = if path == "." {
            message
                .split('`')
                .nth(1)
                .filter(|_| message.starts_with("missing field"))
                .unwrap_or("body")
                .to_string()
        } else {
            path
        };
        ApiError::invalid(field, message)
    })
}
