//! Uptime checks: Firebreak asks a site or a port whether it answers, every interval, the way
//! `curl -I` or `nc -z` would, and notices an outage no monitor reported.
//!
//! A check is an HTTP(S) request (a method, an expected status, a body substring or regex, a
//! latency threshold, and for `https` the certificate's expiry) or a TCP connect. One failed
//! run pages nobody: a check goes down after `failures_before_alert` failures in a row, which
//! triggers its alert, and the first success after that resolves it. A certificate that
//! expires within `tls.warn_before` opens a separate low-urgency warning that resolves once
//! the certificate is renewed.
//!
//! Everything here is pure: the engine probes the target and passes what it saw
//! ([`Observation`]) and "now"; [`Check::judge`] decides whether that run passed, and
//! [`Check::record`] what it does to the check and its two alerts.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use regex::Regex;

use crate::ids::Name;

/// The shortest interval: more often than this is load, not monitoring.
pub const MIN_INTERVAL: SignedDuration = SignedDuration::from_secs(10);
/// The longest interval: a day.
pub const MAX_INTERVAL: SignedDuration = SignedDuration::from_hours(24);
/// The shortest timeout.
pub const MIN_TIMEOUT: SignedDuration = SignedDuration::from_secs(1);
/// The longest timeout, whatever the interval.
pub const MAX_TIMEOUT: SignedDuration = SignedDuration::from_secs(60);
/// Failures in a row before a check goes down, by default: one blip pages nobody.
pub const DEFAULT_FAILURES: u32 = 3;
/// The most failures in a row a check may wait for.
pub const MAX_FAILURES: u32 = 100;
/// How long before a certificate expires its warning opens, by default.
pub const DEFAULT_TLS_WARN: SignedDuration = SignedDuration::from_hours(14 * 24);
/// The longest `tls.warn_before`.
pub const MAX_TLS_WARN: SignedDuration = SignedDuration::from_hours(366 * 24);
/// How many recent results an alert's details carry.
pub const HISTORY: usize = 10;
/// The longest error kept, in characters.
pub const ERROR_MAX: usize = 500;
/// The longest target, body substring or regex, in characters.
pub const TEXT_MAX: usize = 2_000;
/// How much of an answer's body is searched for `expect.body` and `expect.body_regex`.
pub const BODY_READ_MAX: usize = 64 * 1024;
/// How long raw results are kept.
pub const KEEP_RESULTS: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How long the daily rollups are kept: longer than the status page's 90 days.
pub const KEEP_DAYS: i64 = 400;

/// Why a check's settings were refused: the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// What a check asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// An HTTP or HTTPS request.
    Http,
    /// A TCP connect to `host:port`.
    Tcp,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Http => "http",
            CheckKind::Tcp => "tcp",
        }
    }

    pub fn parse(text: &str) -> Option<CheckKind> {
        match text {
            "http" => Some(CheckKind::Http),
            "tcp" => Some(CheckKind::Tcp),
            _ => None,
        }
    }
}

/// The HTTP methods a check may send: ones that change nothing on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }

    pub fn parse(text: &str) -> Option<Method> {
        match text.trim().to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "HEAD" => Some(Method::Head),
            _ => None,
        }
    }
}

/// What an HTTP answer must be to pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// The status it must have; any 2xx when `None`.
    pub status: Option<u16>,
    /// Text the body must contain.
    pub body: Option<String>,
    /// A regular expression the body must match (checked when the check is made).
    pub body_regex: Option<String>,
    /// The slowest answer that still passes.
    pub max_latency: Option<SignedDuration>,
}

/// A check's own TLS settings; `None` takes the `checks.tls` defaults of `firebreak.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub warn_before: Option<SignedDuration>,
    /// A PEM file of the private CA that signs the target's certificate.
    pub ca_file: Option<String>,
}

/// The `checks` section of `firebreak.yaml`: the internal networks checks may reach (on top of
/// `outbound.allow`) and the TLS defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChecksConfig {
    pub allow: Vec<ipnet::IpNet>,
    pub tls: TlsSettings,
}

impl ChecksConfig {
    /// How long before expiry a certificate warns, for a check with `own` settings.
    pub fn warn_before(&self, own: &TlsSettings) -> SignedDuration {
        own.warn_before
            .or(self.tls.warn_before)
            .unwrap_or(DEFAULT_TLS_WARN)
    }

    /// The private CA a check trusts, if any.
    pub fn ca_file<'a>(&'a self, own: &'a TlsSettings) -> Option<&'a str> {
        own.ca_file.as_deref().or(self.tls.ca_file.as_deref())
    }
}

/// Where a check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// Not run yet.
    New,
    /// Passing, or failing fewer times in a row than it waits for.
    Up,
    /// Failed `failures_before_alert` times in a row: its alert is open.
    Down,
}

impl CheckState {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::New => "new",
            CheckState::Up => "up",
            CheckState::Down => "down",
        }
    }

    pub fn parse(text: &str) -> Option<CheckState> {
        match text {
            "new" => Some(CheckState::New),
            "up" => Some(CheckState::Up),
            "down" => Some(CheckState::Down),
            _ => None,
        }
    }
}

/// A check's settings, as an admin gives them (already read from their text forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub name: Name,
    pub service: Name,
    pub kind: CheckKind,
    pub target: String,
    pub method: Method,
    pub interval: SignedDuration,
    pub timeout: SignedDuration,
    pub failures_before_alert: u32,
    pub expect: Expect,
    pub tls: TlsSettings,
    /// The public id of a status page component whose bars show this check's uptime.
    pub component: Option<String>,
}

/// A check as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Assigned by the store; 0 until then.
    pub id: i64,
    pub spec: CheckSpec,
    pub state: CheckState,
    /// Failures in a row, up to now.
    pub consecutive_failures: u32,
    pub last_run: Option<Timestamp>,
    /// The last run's error, while it is failing.
    pub last_error: Option<String>,
    /// When it went down, while down.
    pub down_since: Option<Timestamp>,
    /// The target's certificate's `notAfter`, as last seen.
    pub tls_expires_at: Option<Timestamp>,
    /// True while the certificate's expiry warning is open.
    pub tls_warning: bool,
    /// When it runs next.
    pub next_due: Timestamp,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// What one probe of the target saw, before judging.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observation {
    /// The HTTP status, when it answered.
    pub status: Option<u16>,
    pub latency: SignedDuration,
    /// The start of the body (up to [`BODY_READ_MAX`] bytes), when the check looks at it.
    pub body: Option<String>,
    /// Why there was no answer (refused, timed out, DNS, TLS, the SSRF guard).
    pub error: Option<String>,
    /// The peer certificate's `notAfter`, for HTTPS.
    pub cert_not_after: Option<Timestamp>,
}

/// One run's verdict, as kept in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub check_id: i64,
    pub at: Timestamp,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// What a result asks of one of a check's alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertMove {
    None,
    Trigger,
    Resolve,
}

/// What recording a result did: the check as it now is, and what its two alerts must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub check: Check,
    /// The check's failure alert.
    pub alert: AlertMove,
    /// The certificate expiry warning.
    pub tls: AlertMove,
}

/// One UTC day of a check's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayUptime {
    pub day: Date,
    pub successes: i64,
    pub total: i64,
}

impl DayUptime {
    /// The share of runs that passed, from 0 to 1.
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.successes as f64 / self.total as f64
        }
    }
}

/// The UTC day an instant falls in, as the rollups count it.
pub fn day_of(at: Timestamp) -> Date {
    at.to_zoned(TimeZone::UTC).date()
}

/// Days since 1970-01-01, the stored form of a rollup's day.
pub fn day_number(day: Date) -> i64 {
    day.since(Date::constant(1970, 1, 1))
        .map(|span| i64::from(span.get_days()))
        .unwrap_or(0)
}

/// The day a stored day number names.
pub fn day_from_number(n: i64) -> Option<Date> {
    let n = i32::try_from(n).ok()?;
    Date::constant(1970, 1, 1)
        .checked_add(jiff::Span::new().try_days(n).ok()?)
        .ok()
}

/// Text as kept for an error: control characters become spaces, trimmed, at most
/// [`ERROR_MAX`] characters.
pub fn error_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_MAX)
        .collect();
    cleaned.trim().to_string()
}

/// Splits a TCP target `host:port` (`[::1]:5432` for an IPv6 address) into host and port.
pub fn split_host_port(target: &str) -> Option<(&str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    valid.then_some((host, port))
}

/// Compiles a body regex, or says why it cannot be used.
pub fn compile_regex(pattern: &str) -> Result<Regex, Invalid> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let line = first
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid");
            invalid(
                "expect.body_regex",
                format!(
                    "is not a valid regular expression ({}); write it in Rust regex syntax, \
                     e.g. \"status\\\":\\s*\\\"ok\"",
                    line.trim().trim_start_matches("error: ")
                ),
            )
        })
}

impl CheckSpec {
    /// Checks every setting, naming the first field that is wrong and what to do.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.interval < MIN_INTERVAL {
            return Err(invalid(
                "interval",
                "must be at least 10s; checking more often loads the target without noticing sooner",
            ));
        }
        if self.interval > MAX_INTERVAL {
            return Err(invalid("interval", "must be at most 24h"));
        }
        if self.timeout < MIN_TIMEOUT {
            return Err(invalid("timeout", "must be at least 1s"));
        }
        if self.timeout >= self.interval {
            return Err(invalid(
                "timeout",
                "must be shorter than the interval, so one run ends before the next starts",
            ));
        }
        if self.timeout > MAX_TIMEOUT {
            return Err(invalid("timeout", "must be at most 60s"));
        }
        if self.failures_before_alert == 0 || self.failures_before_alert > MAX_FAILURES {
            return Err(invalid(
                "failures_before_alert",
                format!(
                    "must be from 1 to {MAX_FAILURES}: how many failed runs in a row open the alert"
                ),
            ));
        }
        let target = self.target.trim();
        if target.is_empty() || target.chars().count() > TEXT_MAX || target != self.target {
            return Err(invalid(
                "target",
                format!(
                    "must be a URL or host:port of at most {TEXT_MAX} characters, with no spaces around it"
                ),
            ));
        }
        match self.kind {
            CheckKind::Http => {
                let lower = target.to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                    return Err(invalid(
                        "target",
                        "an http check's target must be an http:// or https:// URL, like https://example.com/healthz",
                    ));
                }
            }
            CheckKind::Tcp => {
                if split_host_port(target).is_none() {
                    return Err(invalid(
                        "target",
                        "a tcp check's target must be host:port, like db.internal:5432 or [2001:db8::1]:443",
                    ));
                }
                let e = &self.expect;
                if e.status.is_some() || e.body.is_some() || e.body_regex.is_some() {
                    return Err(invalid(
                        "expect",
                        "a tcp check only connects: leave out status, body and body_regex (max_latency applies)",
                    ));
                }
                if self.method != Method::Get {
                    return Err(invalid("method", "a tcp check sends no HTTP method"));
                }
            }
        }
        if let Some(status) = self.expect.status
            && !(100..=599).contains(&status)
        {
            return Err(invalid(
                "expect.status",
                "must be an HTTP status from 100 to 599, like 200 or 204",
            ));
        }
        for (field, text) in [
            ("expect.body", &self.expect.body),
            ("expect.body_regex", &self.expect.body_regex),
        ] {
            if let Some(t) = text
                && (t.is_empty() || t.chars().count() > TEXT_MAX)
            {
                return Err(invalid(
                    field,
                    format!("must be 1 to {TEXT_MAX} characters"),
                ));
            }
        }
        if self.method == Method::Head
            && (self.expect.body.is_some() || self.expect.body_regex.is_some())
        {
            return Err(invalid(
                "expect.body",
                "a HEAD request has no body to search; use method GET",
            ));
        }
        if let Some(pattern) = &self.expect.body_regex {
            compile_regex(pattern)?;
        }
        if let Some(max) = self.expect.max_latency
            && (max <= SignedDuration::ZERO || max > self.timeout)
        {
            return Err(invalid(
                "expect.max_latency",
                "must be more than 0 and at most the timeout, e.g. 2s",
            ));
        }
        if let Some(warn) = self.tls.warn_before
            && (warn.is_negative() || warn > MAX_TLS_WARN)
        {
            return Err(invalid(
                "tls.warn_before",
                "must be from 0s to 366d, e.g. 14d",
            ));
        }
        if let Some(ca) = &self.tls.ca_file
            && (ca.trim().is_empty() || ca.chars().count() > 4096)
        {
            return Err(invalid("tls.ca_file", "must be the path of a PEM file"));
        }
        if let Some(component) = &self.component
            && (component.is_empty() || component.len() > 100)
        {
            return Err(invalid(
                "component",
                "must be the public id of a status page component",
            ));
        }
        Ok(())
    }

    /// True for an `https://` target: its certificate's expiry is watched.
    pub fn is_https(&self) -> bool {
        self.kind == CheckKind::Http && self.target.to_ascii_lowercase().starts_with("https://")
    }

    /// Whether a run must read the answer's body.
    pub fn reads_body(&self) -> bool {
        self.expect.body.is_some() || self.expect.body_regex.is_some()
    }
}

impl Check {
    /// A new check from valid settings, first run at once.
    pub fn new(spec: CheckSpec, created_by: String, now: Timestamp) -> Result<Check, Invalid> {
        spec.validate()?;
        Ok(Check {
            id: 0,
            spec,
            state: CheckState::New,
            consecutive_failures: 0,
            last_run: None,
            last_error: None,
            down_since: None,
            tls_expires_at: None,
            tls_warning: false,
            next_due: now,
            created_by,
            created_at: now,
        })
    }

    /// Judges what one run saw: the first thing wrong is the error.
    pub fn judge(&self, seen: &Observation, at: Timestamp) -> CheckResult {
        let error = self.fault(seen);
        CheckResult {
            check_id: self.id,
            at,
            ok: error.is_none(),
            status: seen.status,
            latency_ms: seen.latency.as_millis().clamp(0, i64::MAX as i128) as i64,
            error: error.map(|e| error_text(&e)),
        }
    }

    fn fault(&self, seen: &Observation) -> Option<String> {
        if let Some(e) = &seen.error {
            return Some(e.clone());
        }
        let spec = &self.spec;
        if spec.kind == CheckKind::Http {
            let Some(status) = seen.status else {
                return Some("no HTTP answer".into());
            };
            match spec.expect.status {
                Some(want) if status != want => {
                    return Some(format!("HTTP {status}, expected {want}"));
                }
                None if !(200..300).contains(&status) => {
                    return Some(format!("HTTP {status}, expected 2xx"));
                }
                _ => {}
            }
            let body = seen.body.as_deref().unwrap_or("");
            if let Some(want) = &spec.expect.body
                && !body.contains(want.as_str())
            {
                return Some(format!("the body does not contain {want:?}"));
            }
            if let Some(pattern) = &spec.expect.body_regex {
                match compile_regex(pattern) {
                    Ok(re) if re.is_match(body) => {}
                    Ok(_) => return Some(format!("the body does not match /{pattern}/")),
                    Err(e) => return Some(e.message),
                }
            }
        }
        if let Some(max) = spec.expect.max_latency
            && seen.latency > max
        {
            return Some(format!(
                "answered in {} ms, slower than the {} ms allowed",
                seen.latency.as_millis(),
                max.as_millis()
            ));
        }
        None
    }

    /// Records a run's result (and the certificate expiry it saw) at `now`: counts failures in
    /// a row, goes down at `failures_before_alert` of them (triggering the alert once), comes
    /// back up at the first success (resolving it), and opens or resolves the certificate
    /// warning. The next run is due an interval later.
    pub fn record(
        &self,
        result: &CheckResult,
        cert_not_after: Option<Timestamp>,
        warn_before: SignedDuration,
        now: Timestamp,
    ) -> Step {
        let mut next = self.clone();
        next.last_run = Some(result.at);
        next.next_due = now.checked_add(self.spec.interval).unwrap_or(self.next_due);
        let alert = if result.ok {
            next.consecutive_failures = 0;
            next.last_error = None;
            next.down_since = None;
            let was_down = self.state == CheckState::Down;
            next.state = CheckState::Up;
            if was_down {
                AlertMove::Resolve
            } else {
                AlertMove::None
            }
        } else {
            next.consecutive_failures = self.consecutive_failures.saturating_add(1);
            next.last_error = result.error.clone();
            if self.state == CheckState::Down {
                AlertMove::None
            } else if next.consecutive_failures >= self.spec.failures_before_alert {
                next.state = CheckState::Down;
                next.down_since = Some(result.at);
                AlertMove::Trigger
            } else {
                next.state = CheckState::Up;
                AlertMove::None
            }
        };
        let tls = match cert_not_after {
            Some(expires) => {
                next.tls_expires_at = Some(expires);
                let warn = expires.duration_since(now) <= warn_before;
                match (warn, self.tls_warning) {
                    (true, false) => {
                        next.tls_warning = true;
                        AlertMove::Trigger
                    }
                    (false, true) => {
                        next.tls_warning = false;
                        AlertMove::Resolve
                    }
                    _ => AlertMove::None,
                }
            }
            None => AlertMove::None,
        };
        Step {
            check: next,
            alert,
            tls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn spec() -> CheckSpec {
        CheckSpec {
            name: Name::parse("api-health").unwrap(),
            service: Name::parse("api").unwrap(),
            kind: CheckKind::Http,
            target: "https://api.example.com/healthz".into(),
            method: Method::Get,
            interval: SignedDuration::from_secs(30),
            timeout: SignedDuration::from_secs(10),
            failures_before_alert: 3,
            expect: Expect::default(),
            tls: TlsSettings::default(),
            component: None,
        }
    }

    fn check() -> Check {
        Check::new(spec(), "admin".into(), at(0)).unwrap()
    }

    fn result(ok: bool, s: i64) -> CheckResult {
        CheckResult {
            check_id: 1,
            at: at(s),
            ok,
            status: Some(if ok { 200 } else { 503 }),
            latency_ms: 12,
            error: (!ok).then(|| "HTTP 503, expected 2xx".into()),
        }
    }

    fn field(spec: CheckSpec) -> &'static str {
        spec.validate().unwrap_err().field
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        assert_eq!(spec().validate(), Ok(()));
        let mut s = spec();
        s.interval = SignedDuration::from_secs(5);
        assert_eq!(field(s), "interval");
        let mut s = spec();
        s.timeout = s.interval;
        assert_eq!(field(s), "timeout");
        let mut s = spec();
        s.failures_before_alert = 0;
        assert_eq!(field(s), "failures_before_alert");
        let mut s = spec();
        s.target = "ftp://example.com".into();
        assert_eq!(field(s), "target");
        let mut s = spec();
        s.kind = CheckKind::Tcp;
        assert_eq!(field(s.clone()), "target");
        s.target = "db.internal:5432".into();
        assert_eq!(s.validate(), Ok(()));
        s.expect.status = Some(200);
        assert_eq!(field(s), "expect");
        let mut s = spec();
        s.expect.body_regex = Some("(unclosed".into());
        let e = s.validate().unwrap_err();
        assert_eq!(e.field, "expect.body_regex");
        assert!(
            e.message.contains("not a valid regular expression"),
            "{e:?}"
        );
        let mut s = spec();
        s.expect.max_latency = Some(SignedDuration::from_secs(11));
        assert_eq!(field(s), "expect.max_latency");
        let mut s = spec();
        s.method = Method::Head;
        s.expect.body = Some("ok".into());
        assert_eq!(field(s), "expect.body");
        let mut s = spec();
        s.expect.status = Some(999);
        assert_eq!(field(s), "expect.status");
    }

    #[test]
    fn tcp_targets_read_as_host_and_port() {
        assert_eq!(split_host_port("db:5432"), Some(("db", 5432)));
        assert_eq!(split_host_port("[::1]:22"), Some(("::1", 22)));
        assert_eq!(split_host_port("10.0.0.1:0"), None);
        assert_eq!(split_host_port("::1:22"), None);
        assert_eq!(split_host_port("db"), None);
        assert_eq!(split_host_port(":80"), None);
        assert_eq!(split_host_port("a b:80"), None);
    }

    #[test]
    fn a_run_fails_on_the_first_thing_wrong() {
        let mut c = check();
        let ok = Observation {
            status: Some(200),
            latency: SignedDuration::from_millis(40),
            body: Some("{\"status\": \"ok\"}".into()),
            ..Observation::default()
        };
        assert!(c.judge(&ok, at(1)).ok);
        let refused = Observation {
            error: Some("connection refused".into()),
            ..ok.clone()
        };
        assert_eq!(
            c.judge(&refused, at(1)).error.as_deref(),
            Some("connection refused")
        );
        let unavailable = Observation {
            status: Some(503),
            ..ok.clone()
        };
        assert_eq!(
            c.judge(&unavailable, at(1)).error.as_deref(),
            Some("HTTP 503, expected 2xx")
        );
        c.spec.expect.status = Some(204);
        assert_eq!(
            c.judge(&ok, at(1)).error.as_deref(),
            Some("HTTP 200, expected 204")
        );
        c.spec.expect.status = None;
        c.spec.expect.body = Some("healthy".into());
        assert!(c.judge(&ok, at(1)).error.unwrap().contains("\"healthy\""));
        c.spec.expect.body = None;
        c.spec.expect.body_regex = Some(r#""status":\s*"ok""#.into());
        assert!(c.judge(&ok, at(1)).ok);
        c.spec.expect.body_regex = Some("down".into());
        assert!(!c.judge(&ok, at(1)).ok);
        c.spec.expect.body_regex = None;
        c.spec.expect.max_latency = Some(SignedDuration::from_millis(30));
        assert!(c.judge(&ok, at(1)).error.unwrap().contains("slower"));
    }

    #[test]
    fn n_failures_in_a_row_go_down_once_and_a_success_resolves() {
        let warn = DEFAULT_TLS_WARN;
        let mut c = check();
        for i in 1..3 {
            let step = c.record(&result(false, i), None, warn, at(i));
            assert_eq!(
                step.alert,
                AlertMove::None,
                "failure {i} of 3 opens nothing"
            );
            assert_eq!(step.check.consecutive_failures, i as u32);
            c = step.check;
        }
        let step = c.record(&result(false, 3), None, warn, at(3));
        assert_eq!(step.alert, AlertMove::Trigger);
        assert_eq!(step.check.state, CheckState::Down);
        assert_eq!(step.check.down_since, Some(at(3)));
        assert_eq!(step.check.next_due, at(33));
        let step = step.check.record(&result(false, 4), None, warn, at(4));
        assert_eq!(step.alert, AlertMove::None, "down once");
        let step = step.check.record(&result(true, 5), None, warn, at(5));
        assert_eq!(step.alert, AlertMove::Resolve);
        assert_eq!(step.check.state, CheckState::Up);
        assert_eq!(step.check.consecutive_failures, 0);
        assert_eq!(step.check.last_error, None);
    }

    #[test]
    fn a_certificate_near_expiry_warns_until_renewed() {
        let warn = DEFAULT_TLS_WARN;
        let c = check();
        let soon = at(3 * 86_400);
        let step = c.record(&result(true, 1), Some(soon), warn, at(1));
        assert_eq!(step.tls, AlertMove::Trigger);
        assert!(step.check.tls_warning);
        let again = step.check.record(&result(true, 2), Some(soon), warn, at(2));
        assert_eq!(again.tls, AlertMove::None);
        let renewed = again
            .check
            .record(&result(true, 3), Some(at(90 * 86_400)), warn, at(3));
        assert_eq!(renewed.tls, AlertMove::Resolve);
        assert!(!renewed.check.tls_warning);
        let far = check().record(&result(true, 1), Some(at(60 * 86_400)), warn, at(1));
        assert_eq!(far.tls, AlertMove::None);
    }

    #[test]
    fn days_count_from_the_epoch() {
        let d = day_of(Timestamp::from_second(86_400 * 3 + 5).unwrap());
        assert_eq!(d, Date::constant(1970, 1, 4));
        assert_eq!(day_number(d), 3);
        assert_eq!(day_from_number(3), Some(d));
        assert_eq!(
            DayUptime {
                day: d,
                successes: 3,
                total: 4
            }
            .ratio(),
            0.75
        );
    }

    proptest! {
        /// Over any run of results, the alert triggers exactly when the N-th failure in a row
        /// arrives while up, resolves at the first success after, and the two alternate.
        #[test]
        fn triggers_and_resolves_alternate_at_n_in_a_row(
            runs in proptest::collection::vec(any::<bool>(), 0..60),
            n in 1u32..6,
        ) {
            let mut c = check();
            c.spec.failures_before_alert = n;
            let mut in_a_row = 0u32;
            let mut open = false;
            for (i, ok) in runs.into_iter().enumerate() {
                let step = c.record(&result(ok, i as i64), None, DEFAULT_TLS_WARN, at(i as i64));
                in_a_row = if ok { 0 } else { in_a_row + 1 };
                let want = if ok && open {
                    AlertMove::Resolve
                } else if !ok && !open && in_a_row == n {
                    AlertMove::Trigger
                } else {
                    AlertMove::None
                };
                prop_assert_eq!(step.alert, want);
                match want {
                    AlertMove::Trigger => open = true,
                    AlertMove::Resolve => open = false,
                    AlertMove::None => {}
                }
                prop_assert_eq!(step.check.state == CheckState::Down, open);
                prop_assert_eq!(step.check.consecutive_failures, in_a_row);
                c = step.check;
            }
        }
    }
}
