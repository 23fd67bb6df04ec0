//! A small HTTP client for the Firebreak API: bearer auth, JSON bodies and
//! problem+json errors turned into [`CliError`]s.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::error::{CliError, FieldError};

/// Client for `<server>/api/v1`.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: String,
}

fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl ApiClient {
    /// Build a client for `server` (e.g. `http://127.0.0.1:8080`).
    pub fn new(server: &str, token: &str) -> Result<Self, CliError> {
        let root = server.trim().trim_end_matches('/');
        let base = Url::parse(&format!("{root}/api/v1"))
            .map_err(|e| CliError::Usage(format!("invalid server URL {server:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(CliError::Usage(format!(
                "invalid server URL {server:?}: expected http:// or https://"
            )));
        }
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("firebreak-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Other(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            token: token.to_string(),
        })
    }

    /// The URL of `segments` below the API base; segments are
    /// percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("base checked in new")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// The URL of `segments` beside the API (below the server's root, not `/api/v1`): the
    /// public status page's JSON lives there.
    pub fn beside_api(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("base checked in new");
            path.pop_if_empty().pop().pop().extend(segments);
        }
        url
    }

    /// GET a public document beside the API, without the token.
    pub async fn get_public(&self, segments: &[&str]) -> Result<Value, CliError> {
        self.call(Method::GET, self.beside_api(segments), &[], None, false)
            .await
    }

    /// POSTs `text` to `url` without the token: a heartbeat ping, whose key in the URL is its
    /// credential. Errors name the server only, never the URL with its key.
    pub async fn post_keyed(&self, url: Url, text: String) -> Result<Value, CliError> {
        let shown = url.origin().ascii_serialization();
        let req = self
            .http
            .post(url)
            .header(
                reqwest::header::ACCEPT,
                "application/json, application/problem+json",
            )
            .body(text);
        let (status, bytes) = fetch(req, &shown).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(format!(
                "unexpected response from {shown} ({status}): not JSON: {e}"
            ))
        })
    }

    /// POSTs a sender's JSON `body` to an integration URL without the token, with `auth` as
    /// the `Authorization` header when the sender's format wants one (Opsgenie's `GenieKey`).
    /// The key may be in the URL or the header: errors name the server only.
    pub async fn post_sender(
        &self,
        url: Url,
        body: String,
        auth: Option<String>,
    ) -> Result<Value, CliError> {
        let shown = url.origin().ascii_serialization();
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::ACCEPT,
                "application/json, application/problem+json",
            )
            .body(body);
        if let Some(auth) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, auth);
        }
        let (_, bytes) = fetch(req, &shown).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Send a request and return the parsed JSON body of a success.
    pub async fn request(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        self.call(method, self.url(segments), query, body, true)
            .await
    }

    async fn call(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, String)],
        body: Option<&Value>,
        with_token: bool,
    ) -> Result<Value, CliError> {
        let mut req = self.http.request(method, url.clone());
        if with_token {
            req = req.bearer_auth(&self.token);
        }
        let mut req = req.header(
            reqwest::header::ACCEPT,
            "application/json, application/problem+json",
        );
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let shown = display_url(&url);
        let (status, bytes) = fetch(req, &shown).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(format!(
                "unexpected response from {shown} ({status}): not JSON: {e}"
            ))
        })
    }

    /// GET a body that is not one JSON document (the audit export's JSON lines), as text.
    pub async fn get_text(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<String, CliError> {
        let url = self.url(segments);
        let shown = display_url(&url);
        let mut req = self.http.get(url).bearer_auth(&self.token);
        if !query.is_empty() {
            req = req.query(query);
        }
        let (_, bytes) = fetch(req, &shown).await?;
        String::from_utf8(bytes)
            .map_err(|_| CliError::Other(format!("unexpected response from {shown}: not UTF-8")))
    }

    /// GET with a query string.
    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
        self.request(Method::GET, segments, query, None).await
    }

    /// Request with a JSON body.
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: &Value,
    ) -> Result<Value, CliError> {
        self.request(method, segments, &[], Some(body)).await
    }
}

/// Sends `req` and reads the whole answer; an error status becomes a [`CliError::Problem`].
async fn fetch(
    req: reqwest::RequestBuilder,
    shown: &str,
) -> Result<(StatusCode, Vec<u8>), CliError> {
    let unreachable = |e: reqwest::Error| CliError::Unreachable {
        url: shown.to_string(),
        reason: error_chain(&e),
    };
    let resp = req.send().await.map_err(unreachable)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(unreachable)?.to_vec();
    if !status.is_success() {
        return Err(problem(status, &bytes));
    }
    Ok((status, bytes))
}

fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// Describe a reqwest error by its chain of causes, skipping reqwest's own
/// top line (which repeats the URL).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        src = s.source();
    }
    if e.is_timeout() && !parts.iter().any(|p| p.contains("timed out")) {
        parts.insert(0, "timed out".to_string());
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// Turn a non-success response into a [`CliError::Problem`].
fn problem(status: StatusCode, body: &[u8]) -> CliError {
    let fallback_title = status
        .canonical_reason()
        .unwrap_or("request failed")
        .to_string();
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(Value::Object(obj)) = parsed else {
        let text = String::from_utf8_lossy(body).trim().to_string();
        return CliError::Problem {
            status: status.as_u16(),
            title: fallback_title,
            detail: (!text.is_empty()).then(|| text.chars().take(500).collect()),
            errors: Vec::new(),
        };
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let errors = obj
        .get("errors")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| FieldError {
                    field: e
                        .get("field")
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                        .to_string(),
                    message: e
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    CliError::Problem {
        status: status.as_u16(),
        title: s("title").unwrap_or(fallback_title),
        detail: s("detail"),
        errors,
    }
}
