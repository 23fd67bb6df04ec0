//! Request extractors: the caller's identity and role, JSON bodies that name the bad field,
//! and path parameters parsed into domain types.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

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
        let source = client_ip(parts, app).map(|ip| ip.to_string());
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            // A browser signed in to the web pages may call the API with its session (the
            // live streams need it: EventSource sends no headers). A change must then carry
            // the session's CSRF token.
            if let Some(id) = crate::web::session::session_cookie(&parts.headers) {
                let session = app.session(id, source).await?.ok_or_else(|| {
                    ApiError::unauthorized(
                        "the session has ended; sign in again, or send an API token as `Authorization: Bearer <token>`",
                    )
                })?;
                if !matches!(
                    parts.method,
                    axum::http::Method::GET | axum::http::Method::HEAD
                ) {
                    let sent = parts
                        .headers
                        .get(crate::web::session::CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    if !app.check_csrf(&session.session, sent).await? {
                        return Err(ApiError::forbidden(
                            "a change made with a browser session needs the session's CSRF token in X-CSRF-Token",
                        ));
                    }
                }
                return Caller::checked(session.principal, "you are signed in as");
            }
            return Err(ApiError::unauthorized(
                "send an API token as `Authorization: Bearer <token>`",
            ));
        };
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
        let Some(principal) = app.authenticate(token, source).await? else {
            // The holder of a token that expired, or whose user is disabled, is told so; an
            // unknown or revoked token gets the same words as any other.
            let why = app.token_refusal(token).await?.unwrap_or_else(|| {
                "the token is unknown or revoked; ask an admin for a new one".to_string()
            });
            return Err(ApiError::unauthorized(why));
        };
        Caller::checked(principal, "the token has")
    }
}

/// The client's address: the peer the request arrived from or, when that peer is one of
/// `server.trusted_proxies`, the address those proxies forwarded in `X-Forwarded-For`.
pub(crate) fn client_ip(parts: &Parts, app: &Firebreak) -> Option<IpAddr> {
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    Some(firebreak_domain::address::client_address(
        peer.ip(),
        forwarded,
        &app.config.server.trusted_proxies,
    ))
}

impl<R: Needs> Caller<R> {
    /// `holder` says whose role it is in the refusal: "the token has" or "you are signed
    /// in as".
    fn checked(principal: Principal, holder: &str) -> Result<Self, ApiError> {
        if !principal.role.allows(R::ROLE) {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role; {holder} {}",
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
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body read as `T` (so the document's rules hold) and also kept as it was sent, for
/// checks that read the body's own shape (a runbook, by the file's rules).
pub struct ApiJsonValue<T>(pub T, pub serde_json::Value);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJsonValue<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        let typed = parse_json(&bytes)?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
        Ok(ApiJsonValue(typed, value))
    }
}

/// The body of a request that takes none: it may be left out, or be `{}`. Anything else is
/// refused (400 when it is not JSON, 422 when it is JSON with fields), so a client that thinks it
/// is sending something learns that it is not.
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(NoBody);
        }
        parse_json::<crate::fields::NoFields>(&bytes).map(|_| NoBody)
    }
}

/// The largest body the routes under it take, for the JSON extractors: a route group that raises
/// axum's `DefaultBodyLimit` adds this beside it, so a body declared larger is refused before
/// any of it is read, and the refusal names the right limit.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(crate::BODY_LIMIT, |l| l.0);
    let too_large = || {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the {} MB limit",
                limit / (1024 * 1024)
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("could not read the request body: {e}"))
        }
    })
}

/// Query parameters. A parameter with a bad value is a 422 that names the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                // The integer parser's own words ("invalid digit found in string") say nothing
                // about what to send.
                // Only those words: a field's own rule may speak of digits ("letters, digits
                // and dashes") and must keep its message.
                let message = if message == "invalid digit found in string"
                    || message == "cannot parse integer from empty string"
                    || message == "number too large to fit in target type"
                    || message == "number too small to fit in target type"
                {
                    "must be a whole number, like 42".to_string()
                } else {
                    message
                };
                let field = if path == "." {
                    message.split('`').nth(1).unwrap_or("query").to_string()
                } else {
                    path
                };
                ApiError::invalid(field, message)
            })
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => v,
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "the body is not valid JSON: {e}"
            )));
        }
    };
    // Every body the API takes is an object; serde would also read a struct from an array.
    if !value.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    if let Some(field) = nul_in(&value, String::new()) {
        return Err(ApiError::invalid(
            field,
            "must not contain the NUL character (\\u0000)",
        ));
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
        let message = if (last == "at" || last.ends_with("_at"))
            && !message.starts_with("missing")
            && !message.starts_with(OUT_OF_RANGE)
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

/// The path of the first string (or object key) in `value` that holds a NUL character.
/// Text with NUL cannot be stored, so no field may carry one.
fn nul_in(value: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => {
            Some(if at.is_empty() { "body".into() } else { at })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in(v, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "\\u0000")))
            } else {
                nul_in(v, join(k))
            }
        }),
        _ => None,
    }
}

/// The start of the message for an instant outside the range Firebreak accepts.
const OUT_OF_RANGE: &str = "must be between";

fn in_range<E: serde::de::Error>(t: jiff::Timestamp) -> Result<jiff::Timestamp, E> {
    if firebreak_ingest::in_accepted_range(t) {
        Ok(t)
    } else {
        Err(E::custom(format!(
            "{OUT_OF_RANGE} 2000-01-01T00:00:00Z and 2200-12-31T23:59:59Z"
        )))
    }
}

/// Reads an instant the API accepts: RFC 3339, in the years 2000 to 2200. Instants far outside
/// that range break date arithmetic later, so they are refused where they enter.
pub fn bounded_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<jiff::Timestamp, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    let t: jiff::Timestamp = match text.parse() {
        Ok(t) => t,
        // A year the parser cannot hold (9999-12-31 is past its last instant) is out of
        // range, not malformed: say which years are accepted.
        Err(_) if far_year(&text) => {
            return Err(<D::Error as serde::de::Error>::custom(format!(
                "{OUT_OF_RANGE} 2000-01-01T00:00:00Z and 2200-12-31T23:59:59Z"
            )));
        }
        Err(_) => {
            return Err(<D::Error as serde::de::Error>::custom(
                "must be an RFC 3339 instant with a zone, like 2026-12-24T20:00:00Z",
            ));
        }
    };
    in_range(t)
}

/// Whether `text` starts like an RFC 3339 date (`YYYY-MM-DD`) in a year outside 2000 to 2200.
fn far_year(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && text[..4]
            .parse::<u32>()
            .is_ok_and(|y| !(2000..=2200).contains(&y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        title: String,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        starts_at: Option<crate::fields::Time>,
    }

    fn field_of(body: &str) -> String {
        let e = parse_json::<Sample>(body.as_bytes()).unwrap_err();
        assert_eq!(e.status().as_u16(), 422, "{body}");
        format!("{e:?}")
    }

    #[test]
    fn an_unreadable_instant_says_what_one_looks_like() {
        let e = field_of(r#"{"title":"t","starts_at":"yesterday"}"#);
        assert!(
            e.contains("starts_at") && e.contains("2026-12-24T20:00:00Z"),
            "{e}"
        );
    }

    #[test]
    fn nul_in_any_string_or_key_is_refused_naming_the_field() {
        assert!(field_of(r#"{"title":"a\u0000b"}"#).contains("field: \"title\""));
        assert!(field_of(r#"{"title":"t","labels":{"k":"\u0000"}}"#).contains("labels.k"));
        assert!(field_of(r#"{"title":"t","labels":{"k\u0000":"v"}}"#).contains("labels.k"));
    }

    #[test]
    fn instants_outside_2000_to_2200_are_refused_naming_the_field() {
        for t in [
            "9999-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1999-12-31T23:59:59Z",
            "2201-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
        ] {
            let body = format!(r#"{{"title":"t","starts_at":"{t}"}}"#);
            let e = field_of(&body);
            assert!(
                e.contains("starts_at") && e.contains("must be between"),
                "{t}: {e}"
            );
        }
        // Beyond what a timestamp can hold at all: still a 422 naming the field.
        let e = field_of(r#"{"title":"t","starts_at":"-009999-01-01T00:00:00Z"}"#);
        assert!(e.contains("starts_at"), "{e}");
        let ok: Sample =
            parse_json(br#"{"title":"t","starts_at":"2200-12-31T23:59:59Z"}"#).unwrap();
        assert!(ok.starts_at.is_some());
    }
}
