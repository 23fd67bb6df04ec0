//! Uptime checks through the real server, on SQLite and PostgreSQL, against real servers on
//! loopback that the test controls: an HTTP target that answers, then fails, then recovers on
//! the manual clock (two failures open nothing, the third opens the alert, which pages through
//! the service's escalation policy to a webhook receiver; the first success resolves it); a TCP
//! check against a listener that closes; an HTTPS target whose certificate, from a private CA
//! given as `tls.ca_file`, expires in 3 days (a low-urgency warning) or in 60 (none); targets
//! the SSRF guard refuses and bad settings, each a 422 that says what to do and stores nothing;
//! and the status page showing a linked check's uptime in its component's bars.

mod common;
mod support_receiver;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use firebreak_domain::Config;
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};
use support_receiver::{Receiver, Reply};

const CHECKS: &str = "/api/v1/checks";

/// Checks may reach loopback (the test's targets), and pages the receiver.
fn config() -> Config {
    let mut config = Config::default();
    config.checks.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config
}

async fn sqlite() -> TestServer {
    common::spawn_with(config()).await
}

async fn postgres(prefix: &str) -> TestServer {
    let store = common::postgres_store(prefix).await;
    common::spawn_on(Arc::new(store), config(), tempfile::tempdir().unwrap()).await
}

/// A scenario as two tests: on SQLite, and on a fresh PostgreSQL schema named after `prefix`.
macro_rules! on_both_stores {
    ($scenario:ident, $sqlite:ident, $postgres:ident, $prefix:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $scenario(sqlite().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            $scenario(postgres($prefix).await).await;
        }
    };
}

async fn admin(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> common::Answer {
    s.call(method, path, Some(&s.admin), body).await
}

async fn service(s: &TestServer, name: &str) {
    admin(
        s,
        Method::POST,
        "/api/v1/services",
        Some(json!({"name": name})),
    )
    .await
    .expect(201);
}

/// An HTTP target on loopback that answers `/healthz` with the status the test sets, and
/// counts its requests and the connections (client addresses) they came on.
struct Target {
    url: String,
    status: Arc<AtomicU16>,
    requests: Arc<AtomicUsize>,
    peers: Arc<Mutex<HashSet<SocketAddr>>>,
}

impl Target {
    async fn start() -> Target {
        let status = Arc::new(AtomicU16::new(200));
        let requests = Arc::new(AtomicUsize::new(0));
        let peers = Arc::new(Mutex::new(HashSet::new()));
        let (shared, counted, seen) = (status.clone(), requests.clone(), peers.clone());
        let app = axum::Router::new().route(
            "/healthz",
            axum::routing::get(
                move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| {
                    let shared = shared.clone();
                    counted.fetch_add(1, Ordering::SeqCst);
                    seen.lock().unwrap().insert(peer);
                    async move {
                        let code = shared.load(Ordering::SeqCst);
                        let body = if code < 300 {
                            "{\"status\": \"ok\"}"
                        } else {
                            "down"
                        };
                        (axum::http::StatusCode::from_u16(code).unwrap(), body)
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Target {
            url,
            status,
            requests,
            peers,
        }
    }

    fn answer(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }
}

/// The check's results, newest first.
async fn results(s: &TestServer, id: i64) -> Vec<Value> {
    s.call(
        Method::GET,
        &format!("{CHECKS}/{id}/results?limit=100"),
        Some(&s.viewer),
        None,
    )
    .await
    .expect(200)
    .as_array()
    .unwrap()
    .clone()
}

/// Waits (up to 10 s) until the check has `n` results; returns them, newest first.
async fn wait_results(s: &TestServer, id: i64, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let r = results(s, id).await;
        if r.len() >= n {
            assert_eq!(r.len(), n, "one run per interval: {r:?}");
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the check never reached {n} results: {:?}",
        results(s, id).await
    );
}

/// The check alerts of `service`, newest first.
async fn check_alerts(s: &TestServer, service: &str) -> Vec<Value> {
    s.alerts(&format!("service={service}"))
        .await
        .into_iter()
        .filter(|a| a["format"] == "check")
        .collect()
}

async fn wait_alerts(
    s: &TestServer,
    service: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..200 {
        let alerts = check_alerts(s, service).await;
        if done(&alerts) {
            return alerts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:?}", check_alerts(s, service).await);
}

/// The next interval passes on the manual clock, and the runner runs the check once more.
async fn next_run(s: &TestServer, id: i64, n: usize) -> Vec<Value> {
    s.clock.advance(SignedDuration::from_secs(30));
    wait_results(s, id, n).await
}

async fn answers_fails_and_recovers(s: TestServer) {
    let target = Target::start().await;
    let rx = Receiver::start(Reply::OK).await;
    service(&s, "api").await;
    admin(
        &s,
        Method::POST,
        "/api/v1/users",
        Some(json!({"handle": "alice", "name": "Alice"})),
    )
    .await
    .expect(201);
    admin(
        &s,
        Method::POST,
        "/api/v1/users/alice/contact-methods",
        Some(json!({"type": "webhook", "target": format!("{}/alice", rx.url)})),
    )
    .await
    .expect(201);
    admin(
        &s,
        Method::POST,
        "/api/v1/escalation-policies",
        Some(json!({"name": "ops", "steps": [{"delay": "5m", "targets": [{"user": "alice"}]}]})),
    )
    .await
    .expect(201);
    admin(
        &s,
        Method::PATCH,
        "/api/v1/services/api",
        Some(json!({"escalation_policy": "ops"})),
    )
    .await
    .expect(200);

    let created = admin(
        &s,
        Method::POST,
        CHECKS,
        Some(
            json!({"name": "api-health", "service": "api", "kind": "http",
                    "target": target.url, "interval": "30s", "timeout": "5s",
                    "expect": {"status": 200, "body": "ok", "max_latency": "4s"}}),
        ),
    )
    .await
    .expect(201)
    .clone();
    assert_eq!(created["status"], "new");
    assert_eq!(created["failures_before_alert"], 3, "the default");
    assert_eq!(created["interval"], "30s");
    assert_eq!(created["method"], "GET");
    let id = created["id"].as_i64().unwrap();

    // The first run is due at once, and passes.
    let first = wait_results(&s, id, 1).await;
    assert_eq!(first[0]["ok"], true, "{first:?}");
    assert_eq!(first[0]["status_code"], 200);
    assert_eq!(first[0]["error"], Value::Null);
    let shown = s
        .call(
            Method::GET,
            &format!("{CHECKS}/{id}"),
            Some(&s.viewer),
            None,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(shown["status"], "up");
    assert_eq!(shown["next_run_at"], "2026-11-23T03:00:30Z");

    // It fails: two failures in a row open nothing.
    target.answer(503);
    for n in [2, 3] {
        let r = next_run(&s, id, n).await;
        assert_eq!(r[0]["ok"], false);
        assert_eq!(r[0]["error"], "HTTP 503, expected 200");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        check_alerts(&s, "api").await.is_empty(),
        "N-1 failures page nobody"
    );
    assert_eq!(
        s.call(
            Method::GET,
            &format!("{CHECKS}/{id}"),
            Some(&s.viewer),
            None
        )
        .await
        .expect(200)["consecutive_failures"],
        2
    );

    // The third opens the alert, with the error, status, latency and history.
    next_run(&s, id, 4).await;
    let alerts = wait_alerts(&s, "api", "the third failure opens the alert", |a| {
        a.len() == 1
    })
    .await;
    let alert = &alerts[0];
    assert_eq!(alert["status"], "open");
    assert_eq!(alert["integration"], "checks");
    assert_eq!(alert["dedup_key"], format!("check/{id}"));
    assert_eq!(alert["urgency"], "high");
    assert_eq!(
        alert["summary"],
        "Check api-health failing: HTTP 503, expected 200 (3 consecutive failures)"
    );
    let shown_alert = s
        .get(&format!("/api/v1/alerts/{}", alert["id"]))
        .await
        .expect(200)
        .clone();
    let details: Value = match &shown_alert["details"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(details["status"], 503, "{details}");
    assert_eq!(details["last_error"], "HTTP 503, expected 200");
    assert!(details["latency_ms"].as_i64().is_some(), "{details}");
    let history = details["history"].as_array().unwrap();
    assert_eq!(history.len(), 4, "every run so far: {details}");
    assert_eq!(history[0]["ok"], false);
    assert_eq!(history[3]["ok"], true);

    // It pages alice through the service's policy.
    let escalations = s
        .get(&format!("/api/v1/escalations?alert={}", alert["id"]))
        .await
        .expect(200)["items"]
        .clone();
    assert_eq!(escalations.as_array().unwrap().len(), 1, "{escalations}");
    assert_eq!(escalations[0]["policy"], "ops");
    let pages = rx.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        pages[0].json()["alert"].is_object(),
        "{:?}",
        pages[0].json()
    );
    assert_eq!(pages[0].json()["user"], "alice");

    // Failing on: still one alert.
    next_run(&s, id, 5).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alerts = check_alerts(&s, "api").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["count"], 1);

    // The first success resolves it.
    target.answer(200);
    let r = next_run(&s, id, 6).await;
    assert_eq!(r[0]["ok"], true);
    wait_alerts(&s, "api", "the first success resolves the alert", |a| {
        a.len() == 1 && a[0]["status"] == "resolved"
    })
    .await;
    let shown = s
        .call(
            Method::GET,
            &format!("{CHECKS}/{id}"),
            Some(&s.viewer),
            None,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(shown["status"], "up");
    assert_eq!(shown["consecutive_failures"], 0);

    // Today's uptime: 2 of 6 runs passed.
    let uptime = s
        .call(
            Method::GET,
            &format!("{CHECKS}/{id}/uptime?days=90"),
            Some(&s.viewer),
            None,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(uptime["days"][0]["day"], "2026-11-23", "{uptime}");
    assert_eq!(uptime["days"][0]["successes"], 2);
    assert_eq!(uptime["days"][0]["total"], 6);
    assert_eq!(uptime["uptime_percent"], 33.333);
    // `limit` bounds the results, newest first.
    let two = s
        .call(
            Method::GET,
            &format!("{CHECKS}/{id}/results?limit=2"),
            Some(&s.viewer),
            None,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert_eq!(two[0]["ok"], true);

    // Deleting it (an admin only) removes it and its history.
    s.call(
        Method::DELETE,
        &format!("{CHECKS}/{id}"),
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(403);
    // Every run came on its own connection, as a new visitor's would.
    let requests = target.requests.load(Ordering::SeqCst);
    assert!(requests >= 6, "{requests} runs");
    assert_eq!(target.peers.lock().unwrap().len(), requests);
    admin(&s, Method::DELETE, &format!("{CHECKS}/api-health"), None)
        .await
        .expect(204);
    s.call(
        Method::GET,
        &format!("{CHECKS}/{id}"),
        Some(&s.viewer),
        None,
    )
    .await
    .expect_problem(404);
}

on_both_stores!(
    answers_fails_and_recovers,
    sqlite_a_check_fails_after_three_pages_and_recovers,
    postgres_a_check_fails_after_three_pages_and_recovers,
    "checks_flow"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_check_fails_once_its_listener_closes() {
    let s = sqlite().await;
    service(&s, "db").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        }
    });
    let created = admin(
        &s,
        Method::POST,
        CHECKS,
        Some(json!({"name": "db-port", "service": "db", "kind": "tcp",
                    "target": addr.to_string(), "interval": "10s", "timeout": "2s",
                    "failures_before_alert": 1})),
    )
    .await
    .expect(201)
    .clone();
    let id = created["id"].as_i64().unwrap();
    let r = wait_results(&s, id, 1).await;
    assert_eq!(r[0]["ok"], true, "{r:?}");
    assert_eq!(r[0]["status_code"], Value::Null);

    // The listener closes: the next connect is refused, and one failure is enough here.
    accepting.abort();
    let _ = accepting.await;
    s.clock.advance(SignedDuration::from_secs(10));
    let r = wait_results(&s, id, 2).await;
    assert_eq!(r[0]["ok"], false);
    let error = r[0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("could not connect to {addr}")),
        "{error}"
    );
    let alerts = wait_alerts(&s, "db", "the refused connect opens the alert", |a| {
        a.len() == 1
    })
    .await;
    assert!(
        alerts[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Check db-port failing: could not connect to"),
        "{}",
        alerts[0]["summary"]
    );
}

/// A test CA, written to a PEM file, that issues certificates for 127.0.0.1 expiring on a day.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    file: tempfile::NamedTempFile,
}

impl Ca {
    fn new() -> Ca {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Firebreak checks test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer =
            rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), issuer.pem()).unwrap();
        Ca { issuer, file }
    }

    /// A server certificate for 127.0.0.1 that expires `days` days from now (real time, which
    /// the TLS library checks), at midnight UTC.
    fn serve(&self, days: i64) -> String {
        let expires = Timestamp::now()
            .checked_add(SignedDuration::from_hours(24 * days))
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(
            i32::from(expires.year()),
            expires.month() as u8,
            expires.day() as u8,
        );
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let certs = vec![cert.der().clone()];
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 4096];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        url
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_expiring_in_three_days_warns_and_one_in_sixty_does_not() {
    let s = sqlite().await;
    // The certificates are checked against real time: bring the manual clock there.
    s.clock.set(Timestamp::now());
    service(&s, "web").await;
    let ca = Ca::new();
    let ca_file = ca.file.path().display().to_string();
    for (name, days) in [("soon", 3), ("later", 60)] {
        let url = ca.serve(days);
        let created = admin(
            &s,
            Method::POST,
            CHECKS,
            Some(
                json!({"name": name, "service": "web", "kind": "http", "target": url,
                        "interval": "1m", "timeout": "5s", "tls": {"ca_file": ca_file}}),
            ),
        )
        .await
        .expect(201)
        .clone();
        let id = created["id"].as_i64().unwrap();
        let r = wait_results(&s, id, 1).await;
        assert_eq!(r[0]["ok"], true, "{name}: the private CA is trusted: {r:?}");
        let shown = s
            .call(
                Method::GET,
                &format!("{CHECKS}/{id}"),
                Some(&s.viewer),
                None,
            )
            .await
            .expect(200)
            .clone();
        assert!(shown["certificate_expires_at"].is_string(), "{shown}");
        assert_eq!(shown["certificate_warning"], days == 3, "{name}: {shown}");
    }
    let alerts = wait_alerts(&s, "web", "the near expiry warns", |a| !a.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alerts = if alerts.len() == 1 {
        check_alerts(&s, "web").await
    } else {
        alerts
    };
    assert_eq!(
        alerts.len(),
        1,
        "only the 3-day certificate warns: {alerts:?}"
    );
    let warning = &alerts[0];
    assert_eq!(warning["urgency"], "low");
    assert_eq!(warning["severity"], "warning");
    assert!(
        warning["dedup_key"].as_str().unwrap().ends_with("/tls"),
        "{warning}"
    );
    let summary = warning["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Certificate of soon expires in "),
        "{summary}"
    );
    // Without the CA, the same server's certificate is not trusted: the run fails.
    let url = ca.serve(60);
    let created = admin(
        &s,
        Method::POST,
        CHECKS,
        Some(
            json!({"name": "untrusted", "service": "web", "kind": "http", "target": url,
                    "interval": "1m", "timeout": "5s"}),
        ),
    )
    .await
    .expect(201)
    .clone();
    let r = wait_results(&s, created["id"].as_i64().unwrap(), 1).await;
    assert_eq!(r[0]["ok"], false, "{r:?}");
}

async fn refused_and_bad_input(s: TestServer) {
    service(&s, "api").await;
    let good = json!({"name": "x", "service": "api", "kind": "http",
                      "target": "http://127.0.0.1:9/healthz", "interval": "30s", "timeout": "5s"});
    let with = |patch: Value| {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (body, field, says) in [
        (
            with(json!({"target": "http://169.254.169.254/latest/meta-data/"})),
            "target",
            "checks.allow",
        ),
        (
            with(json!({"target": "http://10.1.2.3/"})),
            "target",
            "checks.allow",
        ),
        (
            with(json!({"kind": "tcp", "target": "192.168.7.7:5432"})),
            "target",
            "checks.allow",
        ),
        (with(json!({"interval": "5s"})), "interval", "at least 10s"),
        (
            with(json!({"timeout": "30s"})),
            "timeout",
            "shorter than the interval",
        ),
        (with(json!({"service": "nowhere"})), "service", "no service"),
        (
            with(json!({"expect": {"body_regex": "(unclosed"}})),
            "expect.body_regex",
            "not a valid regular expression",
        ),
        (with(json!({"kind": "ping"})), "kind", "http"),
        (
            with(json!({"kind": "tcp", "target": "db.internal"})),
            "target",
            "host:port",
        ),
        (
            with(json!({"target": "ftp://example.com/"})),
            "target",
            "http",
        ),
        (with(json!({"method": "POST"})), "method", "GET or HEAD"),
        (
            with(json!({"failures_before_alert": 0})),
            "failures_before_alert",
            "from 1",
        ),
        (
            with(json!({"component": "nope"})),
            "component",
            "no status page component",
        ),
        (
            with(json!({"tls": {"ca_file": "/nonexistent/ca.pem"}})),
            "tls.ca_file",
            "cannot read",
        ),
        (with(json!({"every": "30s"})), "every", "every"),
    ] {
        let a = admin(&s, Method::POST, CHECKS, Some(body.clone())).await;
        let p = a.expect_problem(422);
        let named = p["errors"][0]["field"].as_str().unwrap_or("");
        let detail = p["detail"].as_str().unwrap();
        let message = p["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            named == field || detail.contains(field),
            "{body}: names {field}: {p}"
        );
        assert!(
            detail.contains(says) || message.contains(says),
            "{body}: says {says}: {p}"
        );
    }
    let listed = s
        .call(Method::GET, CHECKS, Some(&s.viewer), None)
        .await
        .expect(200)["items"]
        .clone();
    assert_eq!(listed, json!([]), "nothing was stored");
    // Only admins make checks.
    s.call(Method::POST, CHECKS, Some(&s.responder), Some(good.clone()))
        .await
        .expect_problem(403);
    // A taken name is a conflict.
    admin(&s, Method::POST, CHECKS, Some(good.clone()))
        .await
        .expect(201);
    admin(&s, Method::POST, CHECKS, Some(good))
        .await
        .expect_problem(409);
    // Bad query parameters are refused too.
    admin(&s, Method::GET, &format!("{CHECKS}/x/uptime?days=0"), None)
        .await
        .expect_problem(422);
    admin(
        &s,
        Method::GET,
        &format!("{CHECKS}/x/results?limit=0"),
        None,
    )
    .await
    .expect_problem(422);
    admin(&s, Method::GET, &format!("{CHECKS}/nope/results"), None)
        .await
        .expect_problem(404);
}

/// Without `checks.allow`, loopback is refused too, named or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_needs_checks_allow() {
    let s = common::spawn_with(Config::default()).await;
    service(&s, "api").await;
    for target in ["http://127.0.0.1:8080/", "http://localhost:8080/"] {
        let p = admin(
            &s,
            Method::POST,
            CHECKS,
            Some(
                json!({"name": "local", "service": "api", "kind": "http", "target": target,
                        "interval": "30s", "timeout": "5s"}),
            ),
        )
        .await
        .expect_problem(422)
        .clone();
        assert!(p.to_string().contains("checks.allow"), "{p}");
    }
}

/// A target that never answers holds its own run only: the checks due after it run on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_does_not_hold_up_the_other_checks() {
    let s = sqlite().await;
    service(&s, "api").await;
    // Accepts connections and never answers them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging = format!("http://{}/health", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let target = Target::start().await;
    let make = |name: &str, url: &str, interval: &str, timeout: &str| {
        json!({"name": name, "service": "api", "kind": "http", "target": url,
               "interval": interval, "timeout": timeout})
    };
    let slow = admin(
        &s,
        Method::POST,
        CHECKS,
        Some(make("slow", &hanging, "1m", "30s")),
    )
    .await
    .expect(201)["id"]
        .as_i64()
        .unwrap();
    let fast = admin(
        &s,
        Method::POST,
        CHECKS,
        Some(make("fast", &target.url, "10s", "2s")),
    )
    .await
    .expect(201)["id"]
        .as_i64()
        .unwrap();
    // Each wait gives up after 10 s, well before the hanging run's 30 s timeout.
    wait_results(&s, fast, 1).await;
    for n in 2..=4 {
        s.clock.advance(SignedDuration::from_secs(10));
        let r = wait_results(&s, fast, n).await;
        assert_eq!(r[0]["ok"], true, "{r:?}");
    }
    assert!(
        results(&s, slow).await.is_empty(),
        "the hanging run is still waiting"
    );
    held.abort();
}

/// A URL's credentials and query may hold tokens: admins see the target as they wrote it,
/// everyone else without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_see_a_targets_credentials_and_query() {
    let s = sqlite().await;
    service(&s, "api").await;
    let target = "http://probe:s3cret@127.0.0.1:9/health?token=abc123";
    let created = admin(
        &s,
        Method::POST,
        CHECKS,
        Some(
            json!({"name": "private", "service": "api", "kind": "http", "target": target,
                    "interval": "30s", "timeout": "5s"}),
        ),
    )
    .await
    .expect(201)
    .clone();
    assert_eq!(
        created["target"], target,
        "the admin who made it sees it whole"
    );
    let id = created["id"].as_i64().unwrap();
    let by_admin = admin(&s, Method::GET, &format!("{CHECKS}/{id}"), None).await;
    assert_eq!(by_admin.expect(200)["target"], target);
    for token in [&s.viewer, &s.responder] {
        let one = s
            .call(Method::GET, &format!("{CHECKS}/{id}"), Some(token), None)
            .await
            .expect(200)
            .clone();
        let listed = s
            .call(Method::GET, CHECKS, Some(token), None)
            .await
            .expect(200)["items"][0]
            .clone();
        for body in [one, listed] {
            assert_eq!(body["target"], "http://127.0.0.1:9/health?…", "{body}");
            let text = body.to_string();
            assert!(
                !text.contains("s3cret") && !text.contains("abc123"),
                "{text}"
            );
        }
    }
}

on_both_stores!(
    refused_and_bad_input,
    sqlite_refused_targets_and_bad_input_store_nothing,
    postgres_refused_targets_and_bad_input_store_nothing,
    "checks_bad"
);

/// A check linked to a status page component shows its day's uptime in the component's bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_check_shows_its_uptime_in_the_components_bars() {
    let s = sqlite().await;
    service(&s, "api").await;
    let target = Target::start().await;
    let component = admin(
        &s,
        Method::POST,
        "/api/v1/status-page/components",
        Some(json!({"name": "Public API"})),
    )
    .await
    .expect(201)
    .clone();
    let component_id = component["id"].as_str().unwrap();
    let created = admin(
        &s,
        Method::POST,
        CHECKS,
        Some(
            json!({"name": "api-health", "service": "api", "kind": "http",
                    "target": target.url, "interval": "30s", "timeout": "5s",
                    "component": component_id}),
        ),
    )
    .await
    .expect(201)
    .clone();
    assert_eq!(created["component"], component_id);
    let id = created["id"].as_i64().unwrap();
    wait_results(&s, id, 1).await;
    target.answer(500);
    next_run(&s, id, 2).await;
    // Two minutes on: one more run, and the page's snapshot is rebuilt.
    s.clock.advance(SignedDuration::from_mins(2));
    wait_results(&s, id, 3).await;
    let page = s
        .http
        .get(format!("{}/status", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Nov 23: major outage (33.33% up; uptime checks 33.33% up)"),
        "the bar's title gives the checks' uptime: {page}"
    );
    let row = page
        .split("Public API")
        .nth(1)
        .expect("the component is on the page");
    let today = row
        .split("<span class=\"bar ")
        .find(|b| b.contains("Nov 23"))
        .expect("today's bar");
    assert!(today.starts_with("s-major_outage"), "{today}");
    // The days before the component existed have no data.
    assert!(page.contains("Nov 22: no data\""), "{page}");
}

/// `firebreak uptime add|list|show|results|remove` against the real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_uptime_commands_add_list_show_and_remove_checks() {
    let s = sqlite().await;
    service(&s, "api").await;
    let target = Target::start().await;
    let added = s
        .cli(
            &s.admin,
            &[
                "uptime",
                "add",
                "--name",
                "api-health",
                "--service",
                "api",
                "--target",
                &target.url,
                "--interval",
                "30s",
                "--timeout",
                "5s",
                "--expect-status",
                "200",
                "--failures",
                "2",
            ],
        )
        .await;
    assert!(added.status.success(), "{}", common::printed(&added));
    let said = common::printed(&added);
    assert!(
        said.contains("Added check") && said.contains("2 failed runs in a row"),
        "{said}"
    );
    let listed = s.cli(&s.viewer, &["uptime", "list"]).await;
    assert!(listed.status.success(), "{}", common::printed(&listed));
    assert!(common::printed(&listed).contains("api-health"));
    let id = s
        .call(Method::GET, CHECKS, Some(&s.viewer), None)
        .await
        .expect(200)["items"][0]["id"]
        .as_i64()
        .unwrap();
    wait_results(&s, id, 1).await;
    let results = s
        .cli(
            &s.viewer,
            &["uptime", "results", "api-health", "--limit", "5"],
        )
        .await;
    let shown = common::printed(&results);
    assert!(results.status.success() && shown.contains("yes"), "{shown}");
    let show = s.cli(&s.viewer, &["uptime", "show", "api-health"]).await;
    assert!(
        common::printed(&show).contains("Next run"),
        "{}",
        common::printed(&show)
    );
    // A bad setting is refused with the reason; a viewer cannot remove.
    let bad = s
        .cli(
            &s.admin,
            &[
                "uptime",
                "add",
                "--name",
                "x",
                "--service",
                "api",
                "--target",
                &target.url,
                "--interval",
                "5s",
            ],
        )
        .await;
    assert!(!bad.status.success());
    assert!(
        common::printed(&bad).contains("at least 10s"),
        "{}",
        common::printed(&bad)
    );
    let denied = s.cli(&s.viewer, &["uptime", "remove", "api-health"]).await;
    assert!(!denied.status.success());
    let removed = s.cli(&s.admin, &["uptime", "remove", "api-health"]).await;
    assert!(removed.status.success(), "{}", common::printed(&removed));
    assert!(
        common::printed(&s.cli(&s.viewer, &["uptime", "list"]).await).contains("No uptime checks")
    );
}
