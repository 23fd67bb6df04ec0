//! HTTPS served by Firebreak itself (`server.tls`, or `--tls-cert` and `--tls-key`), with a CA
//! and certificates made at test time: requests over TLS work and their session cookies are
//! `Secure`; new certificate files are picked up without a restart (and a broken one is not);
//! files that cannot be used stop the start with a message naming them; and the official
//! PagerDuty Python client, which only talks https://, sends its events to Firebreak.
//!
//! The Python that has the client is `FIREBREAK_TEST_PYTHON` (`.ci/run` makes a virtual
//! environment with it), or `python3`. If neither can import it the test fails and says how to
//! install it: it never skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use firebreak_domain::Config;
use firebreak_domain::config::TlsFiles;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use reqwest::Method;
use serde_json::json;

/// A test CA that issues server certificates for 127.0.0.1 and localhost.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, as PEM, with the certificate's DER to compare.
struct ServerCert {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Firebreak test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, name: &str) -> ServerCert {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// Writes `cert` over the files the way a renewal tool does: each file replaced whole.
fn install(cert: &ServerCert, dir: &Path) -> (PathBuf, PathBuf) {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    for (path, text) in [(&key_path, &cert.key_pem), (&cert_path, &cert.cert_pem)] {
        let next = path.with_extension("new");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, path).unwrap();
    }
    (cert_path, key_path)
}

fn tls_config(cert: &Path, key: &Path) -> Config {
    let mut config = Config::default();
    config.server.tls = Some(TlsFiles {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    });
    config
}

/// A client that trusts only the test CA, opens a new connection for every client, and tells
/// which certificate the server showed.
fn trusting(ca: &TestCa) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()])
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The certificate the server shows a new connection now.
async fn served_certificate(ca: &TestCa, base: &str) -> Vec<u8> {
    let res = trusting(ca)
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("an HTTPS request with the test CA trusted works");
    assert_eq!(res.status(), 200);
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("the server showed a certificate")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_works_and_session_cookies_are_secure() {
    let ca = TestCa::new();
    let first = ca.issue("firebreak-1");
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = install(&first, files.path());
    let mut config = tls_config(&cert, &key);
    // An http:// public URL, so only the connection itself can make the cookie Secure.
    config.server.public_url = Some("http://firebreak.internal".into());
    let mut s = common::spawn_with(config).await;
    s.http = trusting(&ca);
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);

    assert_eq!(served_certificate(&ca, &s.base).await, first.der);
    s.call(Method::GET, "/api/v1/incidents", Some(&s.admin), None)
        .await
        .expect(200);
    // Plain HTTP on the TLS port gets nowhere.
    let plain = common::client()
        .get(s.base.replace("https://", "http://"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    // The first admin's setup link signs the browser in: over TLS, the cookie is Secure.
    let link = s.running.app.first_admin_link().await.unwrap().unwrap();
    let path = secrecy::ExposeSecret::expose_secret(&link.path).to_string();
    let res = s
        .http
        .post(format!("{}{path}", s.base))
        .form(&[
            ("handle", "ada"),
            ("name", "Ada"),
            ("email", "ada@example.com"),
            ("password", "a long passphrase for the test"),
            ("confirm", "a long passphrase for the test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let cookie = res
        .headers()
        .get("set-cookie")
        .expect("signing in sets the session cookie")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("firebreak_session=fbs_"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    // The session works over HTTPS.
    let session = cookie.split(';').next().unwrap().to_string();
    let account = s
        .http
        .get(format!("{}/account", s.base))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 200);
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_certificate_files_are_served_without_a_restart() {
    let ca = TestCa::new();
    let first = ca.issue("firebreak-1");
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = install(&first, files.path());
    let s = common::spawn_with(tls_config(&cert, &key)).await;
    assert_eq!(served_certificate(&ca, &s.base).await, first.der);

    // A renewal: both files replaced. New connections get the new certificate within seconds.
    let second = ca.issue("firebreak-2");
    install(&second, files.path());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if served_certificate(&ca, &s.base).await == second.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A broken key file is not taken: the last good certificate is still served.
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    tokio::time::sleep(firebreak_server::tls::RELOAD_EVERY * 3).await;
    assert_eq!(served_certificate(&ca, &s.base).await, second.der);
    // And the next good pair is.
    let third = ca.issue("firebreak-3");
    install(&third, files.path());
    let deadline = Instant::now() + Duration::from_secs(15);
    while served_certificate(&ca, &s.base).await != third.der {
        assert!(
            Instant::now() < deadline,
            "the certificate after a broken one was not served within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    s.running.stop().await.unwrap();
}

async fn start_error(config: Config) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = firebreak_store_sqlite::SqliteStore::open(&dir.path().join("firebreak.db"))
        .await
        .unwrap();
    let clock = std::sync::Arc::new(firebreak_engine::ManualClock::new(
        "2026-11-23T03:00:00Z".parse().unwrap(),
    ));
    match firebreak::start("127.0.0.1:0", std::sync::Arc::new(store), config, clock).await {
        Ok(_) => panic!("the server started with files it cannot use"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_cannot_be_used_stop_the_start_with_their_name() {
    let ca = TestCa::new();
    let good = ca.issue("firebreak-1");
    let other = ca.issue("firebreak-other");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = install(&good, dir.path());
    let missing = dir.path().join("nope.pem");

    let e = start_error(tls_config(&missing, &key)).await;
    assert!(e.contains(&missing.display().to_string()), "{e}");
    assert!(e.contains("does not exist"), "{e}");
    assert!(e.contains("server.tls.cert"), "{e}");

    // Swapped: the certificate file holds the key, and the other way round.
    let e = start_error(tls_config(&key, &cert)).await;
    assert!(e.contains(&key.display().to_string()), "{e}");
    assert!(e.contains("swapped"), "{e}");

    // A key that is not the certificate's.
    let stranger = dir.path().join("other-key.pem");
    std::fs::write(&stranger, &other.key_pem).unwrap();
    let e = start_error(tls_config(&cert, &stranger)).await;
    assert!(e.contains("does not belong to the certificate"), "{e}");
    assert!(e.contains(&stranger.display().to_string()), "{e}");
    // No message shows a key.
    assert!(!e.contains("PRIVATE KEY-----\n"), "{e}");
    assert!(!e.contains(other.key_pem.lines().nth(1).unwrap()), "{e}");
}

fn python_with(module: &str) -> String {
    let candidates = [
        std::env::var("FIREBREAK_TEST_PYTHON").ok(),
        Some("python3".into()),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python;
        }
    }
    panic!(
        "this test needs Python with the `{module}` package: run .ci/run, or \
         `python3 -m venv v && v/bin/pip install pagerduty==7.2.0` and set \
         FIREBREAK_TEST_PYTHON=v/bin/python"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pagerduty_python_client_works_over_https() {
    let python = python_with("pagerduty");
    let ca = TestCa::new();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = install(&ca.issue("firebreak"), files.path());
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let mut s = common::spawn_with(tls_config(&cert, &key)).await;
    s.http = trusting(&ca);
    let routing_key = s.integration("storage", "pagerduty").await;

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/pagerduty_events.py"
    );
    let base = s.base.clone();
    let now = firebreak_engine::Clock::now(&*s.clock).to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("FIREBREAK_URL", base)
            .env("FIREBREAK_PD_KEY", routing_key)
            .env("FIREBREAK_NOW", now)
            .env("SSL_CERT_FILE", ca_file)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for step in [
        "http refused",
        "trigger",
        "acknowledge",
        "resolve",
        "change event",
    ] {
        assert!(stdout.contains(&format!("{step}: ok")), "{stdout}");
    }

    // What the client sent is in Firebreak: the alert, acknowledged and resolved...
    let alerts = s.alerts("").await;
    let alert = alerts
        .iter()
        .find(|a| a["dedup_key"] == "tls/disk-db-1")
        .unwrap_or_else(|| panic!("the client's alert is stored: {alerts:?}"));
    assert_eq!(alert["format"], "pagerduty");
    assert_eq!(alert["summary"], "Disk full on db-1");
    assert_eq!(alert["status"], "resolved");
    assert!(alert["acknowledged_at"].is_string(), "{alert}");
    // ...and the change event, as a deployment of the integration's service.
    let deploys = s
        .call(
            Method::GET,
            "/api/v1/deployments?service=storage",
            Some(&s.admin),
            None,
        )
        .await;
    let items = deploys.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["source"], json!("pagerduty"));
    s.running.stop().await.unwrap();
}
