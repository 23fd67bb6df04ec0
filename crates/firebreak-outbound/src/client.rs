//! The HTTP client for outbound requests: the guard on every URL and every DNS answer, no
//! redirects, no proxy from the environment, short timeouts, and answers reduced to what a
//! delivery record needs (status, `Retry-After`, a short body excerpt, duration).
//!
//! A 3xx answer is returned as it is: following it would let a receiver point Firebreak at an
//! address the guard never saw. Errors carry short messages that name the host and port, never
//! the whole URL, because webhook URLs often hold a token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use url::Url;

use crate::guard::{DnsRefusal, GuardedResolver, OutboundPolicy};

/// The user agent on every outbound request.
pub const USER_AGENT: &str = concat!("Firebreak/", env!("CARGO_PKG_VERSION"));

/// How many bytes of an answer's body are kept.
pub const EXCERPT_BYTES: usize = 300;

/// Connect and total timeouts for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From starting DNS resolution to an established connection (TLS included).
    pub connect: Duration,
    /// From sending to the end of reading the excerpt.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(10),
        }
    }
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    /// The `Retry-After` header, when present and readable.
    pub retry_after: Option<Duration>,
    /// The first [`EXCERPT_BYTES`] bytes of the body as text: invalid UTF-8 becomes U+FFFD and
    /// control characters (newlines included) become spaces, so it fits on one log line.
    pub body_excerpt: String,
    /// From the start of the request to the end of reading the excerpt.
    pub duration: Duration,
}

/// Why a request got no answer. Every message is short and names at most the host and port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The guard refused the URL or its DNS answer; nothing was sent.
    #[error("{message}")]
    Refused { message: String, duration: Duration },
    /// No connection or no answer within the timeouts.
    #[error("{message}")]
    Timeout { message: String, duration: Duration },
    /// DNS failed, the connection was refused or reset, or TLS failed.
    #[error("{message}")]
    Connect { message: String, duration: Duration },
    #[error("{message}")]
    Other { message: String, duration: Duration },
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            Self::Refused { message, .. }
            | Self::Timeout { message, .. }
            | Self::Connect { message, .. }
            | Self::Other { message, .. } => message,
        }
    }

    /// How long the attempt took before it failed.
    pub fn duration(&self) -> Duration {
        match self {
            Self::Refused { duration, .. }
            | Self::Timeout { duration, .. }
            | Self::Connect { duration, .. }
            | Self::Other { duration, .. } => *duration,
        }
    }
}

/// The client could not be built (no usable TLS configuration).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the outbound HTTP client: {0}")]
pub struct BuildError(#[source] reqwest::Error);

/// What time it is, for reading an HTTP-date `Retry-After`.
type Now = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The one HTTP client for requests that leave Firebreak. Cheap to clone.
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    policy: Arc<OutboundPolicy>,
    timeouts: Timeouts,
    now: Now,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient")
            .field("policy", &self.policy)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl OutboundClient {
    /// Build a client that sends only where `policy` allows.
    pub fn new(policy: OutboundPolicy, timeouts: Timeouts) -> Result<Self, BuildError> {
        // reqwest is built with `rustls-no-provider`, so a process-wide provider must exist
        // before the client is built. The binary installs ring's at start; this covers tests
        // and other embedders. It fails only when one is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .dns_resolver(GuardedResolver::new(Arc::clone(&policy)))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would do its own DNS, out of the guard's sight.
            .no_proxy()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .user_agent(USER_AGENT)
            .build()
            .map_err(BuildError)?;
        Ok(Self {
            http,
            policy,
            timeouts,
            now: Arc::new(Timestamp::now),
        })
    }

    /// Reads the time from `now` (Firebreak's injected clock) instead of the wall clock, so a
    /// `Retry-After` given as a date is measured against the same time as everything else.
    pub fn with_clock(mut self, now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// POST `body` with `headers` to `url`. The caller sets `Content-Type`.
    ///
    /// Any answer, 3xx and 5xx included, is `Ok`; [`crate::delivery::classify`] decides what it
    /// means.
    pub async fn post(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: impl Into<Vec<u8>>,
    ) -> Result<Answer, SendError> {
        self.send(http::Method::POST, url, headers, body).await
    }

    /// Sends `method` with `body` and `headers` to `url`, like [`OutboundClient::post`]; a
    /// runbook's HTTP action may use any method.
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &HeaderMap,
        body: impl Into<Vec<u8>>,
    ) -> Result<Answer, SendError> {
        let started = Instant::now();
        // reqwest skips the resolver for IP-literal hosts, so those are judged here.
        let url = self
            .policy
            .check_url(url)
            .map_err(|refusal| SendError::Refused {
                message: refusal.to_string(),
                duration: started.elapsed(),
            })?;
        let target = host_and_port(&url);
        let mut response = self
            .http
            .request(method, url)
            .headers(headers.clone())
            .body(body.into())
            .send()
            .await
            .map_err(|e| self.send_error(e, &target, started))?;

        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, (self.now)()));
        // Only the start of the body is read; an error or timeout while reading it still leaves
        // the status, which is what decides the delivery.
        let mut bytes = Vec::new();
        let mut truncated = false;
        while let Ok(Some(chunk)) = response.chunk().await {
            bytes.extend_from_slice(&chunk);
            if bytes.len() >= EXCERPT_BYTES {
                // The rest of the body is never read, so the last character may be incomplete.
                truncated = true;
                bytes.truncate(EXCERPT_BYTES);
                break;
            }
        }
        Ok(Answer {
            status,
            retry_after,
            body_excerpt: excerpt(&bytes, truncated),
            duration: started.elapsed(),
        })
    }

    /// Sends `request` and returns the whole answer (status, headers and a body of at most
    /// `limit` bytes), for a caller that reads what comes back: OpenID discovery, signing keys
    /// and tokens. The same guard, timeouts and refusal to follow redirects as [`Self::send`].
    pub async fn fetch(
        &self,
        request: http::Request<Vec<u8>>,
        limit: usize,
    ) -> Result<http::Response<Vec<u8>>, SendError> {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let url = self
            .policy
            .check_url(&parts.uri.to_string())
            .map_err(|refusal| SendError::Refused {
                message: refusal.to_string(),
                duration: started.elapsed(),
            })?;
        let target = host_and_port(&url);
        let mut response = self
            .http
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_error(e, &target, started))?;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.send_error(e, &target, started))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(SendError::Other {
                    message: format!("the answer from {target} is larger than {limit} bytes"),
                    duration: started.elapsed(),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let mut answer = http::Response::new(bytes);
        *answer.status_mut() = response.status();
        *answer.headers_mut() = response.headers().clone();
        Ok(answer)
    }

    fn send_error(&self, err: reqwest::Error, target: &str, started: Instant) -> SendError {
        let duration = started.elapsed();
        let err = err.without_url();
        if let Some(refusal) = find_source::<DnsRefusal>(&err) {
            return SendError::Refused {
                message: refusal.to_string(),
                duration,
            };
        }
        let cause = root_cause(&err);
        if err.is_timeout() {
            let message = if err.is_connect() {
                format!(
                    "could not connect to {target} within {}",
                    seconds(self.timeouts.connect)
                )
            } else {
                format!(
                    "no answer from {target} within {}",
                    seconds(self.timeouts.total)
                )
            };
            SendError::Timeout { message, duration }
        } else if err.is_connect() {
            SendError::Connect {
                message: format!("could not connect to {target}: {cause}"),
                duration,
            }
        } else {
            SendError::Other {
                message: format!("request to {target} failed: {cause}"),
                duration,
            }
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// `host:port` of a URL: enough to tell which receiver failed, without path or query.
pub(crate) fn host_and_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

pub(crate) fn find_source<'a, E: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The innermost error's text, which is the specific one ("Connection refused (os error 111)");
/// the outer layers only say "error sending request".
pub(crate) fn root_cause(err: &reqwest::Error) -> String {
    let mut current: &dyn std::error::Error = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

fn excerpt(bytes: &[u8], truncated: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut chunks = bytes.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        out.push_str(chunk.valid());
        // A character cut in half by the excerpt's end is dropped, not shown as garbage.
        let cut_off = truncated && chunks.peek().is_none();
        if chunk.invalid().is_empty() || cut_off {
            continue;
        }
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Read a `Retry-After` value: delta-seconds (`120`) or an HTTP-date, taken relative to `now`. A
/// date in the past means "now" (zero). Unreadable values are `None`: the sender's own backoff
/// applies.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "a very long time"; the retry policy caps it.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    let wait = at.duration_since(now);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// The three HTTP-date forms a recipient must accept (RFC 9110 section 5.6.7).
fn parse_http_date(value: &str) -> Option<Timestamp> {
    use jiff::fmt::{rfc2822, strtime};
    use jiff::tz::TimeZone;

    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    if let Ok(ts) = rfc2822::DateTimeParser::new().parse_timestamp(value) {
        return Some(ts);
    }
    // Obsolete RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; obsolete asctime:
    // "Sun Nov  6 08:49:37 1994".
    for format in ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"] {
        let parsed = strtime::parse(format, value)
            .and_then(|tm| tm.to_datetime())
            .and_then(|dt| dt.to_zoned(TimeZone::UTC));
        if let Ok(zoned) = parsed {
            return Some(zoned.timestamp());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "1994-11-06T08:49:00Z".parse().unwrap()
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_http_date_in_all_three_forms() {
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(value, now()),
                Some(Duration::from_secs(37)),
                "{value}"
            );
        }
    }

    #[test]
    fn retry_after_in_the_past_is_now_and_garbage_is_none() {
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now()),
            Some(Duration::ZERO)
        );
        for value in ["", "-5", "1.5", "soon", "Sun, 06 Nov 1994"] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }

    #[test]
    fn excerpt_is_one_clean_line() {
        assert_eq!(
            excerpt(b"line one\nline\ttwo\r\n", false),
            "line one line two  "
        );
        assert_eq!(excerpt(b"bad \xff byte", false), "bad \u{FFFD} byte");
        // "é" is two bytes; the excerpt ends after the first one.
        assert_eq!(excerpt(b"caf\xc3", true), "caf");
        assert_eq!(excerpt(b"caf\xc3", false), "caf\u{FFFD}");
    }

    #[test]
    fn host_and_port_leaves_out_path_query_and_credentials() {
        let url = Url::parse("https://user:pw@hooks.example.com/t/secret?k=v").unwrap();
        assert_eq!(host_and_port(&url), "hooks.example.com:443");
        let url = Url::parse("http://[::1]:8080/x").unwrap();
        assert_eq!(host_and_port(&url), "[::1]:8080");
    }

    #[test]
    fn builds_an_https_capable_client() {
        let client = OutboundClient::new(OutboundPolicy::default(), Timeouts::default()).unwrap();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        assert_eq!(client.policy(), &OutboundPolicy::default());
    }
}
