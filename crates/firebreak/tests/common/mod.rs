//! The black-box harness: a real Firebreak server on a random port with a fresh SQLite store
//! (or a fresh PostgreSQL schema), and tokens for each role.
#![allow(dead_code)]

use std::sync::Arc;

use firebreak::{Running, start};
use firebreak_domain::{AccessRole, Config};
use firebreak_engine::{ManualClock, Principal};
use firebreak_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The user the responder token acts as.
pub const RESPONDER: &str = "riley";
/// The user the viewer token acts as.
pub const VIEWER: &str = "val";

pub struct TestServer {
    pub base: String,
    pub running: Running,
    pub clock: Arc<ManualClock>,
    pub admin: String,
    pub responder: String,
    pub viewer: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn spawn() -> TestServer {
    spawn_with(Config::default()).await
}

pub async fn spawn_with(config: Config) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = firebreak_store_sqlite::SqliteStore::open(&dir.path().join("firebreak.db"))
        .await
        .expect("open sqlite");
    spawn_on(Arc::new(store), config, dir).await
}

pub async fn spawn_on(store: Arc<dyn Store>, config: Config, dir: tempfile::TempDir) -> TestServer {
    let clock = Arc::new(ManualClock::new("2026-11-23T03:00:00Z".parse().unwrap()));
    let running = start("127.0.0.1:0", store, config, clock.clone())
        .await
        .expect("server starts");
    let admin = running
        .initial_admin_token
        .clone()
        .expect("first start creates an admin token");
    let who = Principal::local("test");
    // Each role's token acts as a user of that role: `riley` responds, `val` views.
    let token = |handle: &'static str, role| {
        let app = running.app.clone();
        let who = who.clone();
        async move {
            let user = firebreak_domain::Name::parse(handle).unwrap();
            app.create_user(
                &who,
                firebreak_store::UserRecord {
                    handle: user.clone(),
                    name: handle.into(),
                    email: None,
                    time_zone: None,
                    role,
                    from_config: false,
                    created_at: app.clock.now(),
                    disabled_at: None,
                },
            )
            .await
            .unwrap();
            let issued = app
                .create_token(&who, "test", role, Some(user), None)
                .await
                .unwrap();
            firebreak_engine::tokens::reveal(&issued.secret).to_string()
        }
    };
    let responder = token(RESPONDER, AccessRole::Responder).await;
    let viewer = token(VIEWER, AccessRole::Viewer).await;
    TestServer {
        base: running.base_url(),
        running,
        clock,
        admin,
        responder,
        viewer,
        http: client(),
        _dir: dir,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl TestServer {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request reaches the server");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Runs the CLI against this server with `token` and a fresh config directory.
    pub async fn cli(&self, token: &str, args: &[&str]) -> std::process::Output {
        let home = tempfile::tempdir().expect("temp dir");
        cli_at(&self.base, token, args, home.path()).await
    }

    /// An incident's timeline entries, oldest first (read as the admin).
    pub async fn timeline(&self, id: &str) -> Vec<Value> {
        self.call(
            Method::GET,
            &format!("/api/v1/incidents/{id}/timeline?limit=500"),
            Some(&self.admin),
            None,
        )
        .await
        .expect(200)["items"]
            .as_array()
            .expect("items")
            .clone()
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(&self.responder), None)
            .await
    }
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(&self.responder), Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(&self.responder), Some(body))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(&self.responder), Some(body))
            .await
    }

    pub async fn declare(&self, title: &str, severity: &str) -> Value {
        let a = self
            .post(
                "/api/v1/incidents",
                serde_json::json!({"title": title, "severity": severity}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
        a.body
    }

    /// Declares `n` SEV3 incidents that page nobody, all at once, as the responder: a burst of
    /// `incident.declared` events.
    pub async fn declare_many(&self, n: usize) {
        let declares: Vec<_> = (0..n)
            .map(|i| {
                let (http, base, token) =
                    (self.http.clone(), self.base.clone(), self.responder.clone());
                tokio::spawn(async move {
                    http.post(format!("{base}/api/v1/incidents"))
                        .bearer_auth(token)
                        .json(&serde_json::json!({"title": format!("Incident {i}"),
                                                  "severity": "SEV3", "page": false}))
                        .send()
                        .await
                        .unwrap()
                        .status()
                })
            })
            .collect();
        for d in declares {
            assert_eq!(d.await.unwrap(), StatusCode::CREATED);
        }
    }
}

impl Answer {
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
    #[track_caller]
    pub fn expect_problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        &self.body
    }
}

/// A plain answer from an ingest endpoint (any content type).
pub struct Raw {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestServer {
    /// Creates `service` (if needed) and an integration on it; returns the key.
    pub async fn integration(&self, service: &str, name: &str) -> String {
        self.call(
            Method::POST,
            "/api/v1/services",
            Some(&self.admin),
            Some(serde_json::json!({"name": service})),
        )
        .await;
        let a = self
            .call(
                Method::POST,
                &format!("/api/v1/services/{service}/integrations"),
                Some(&self.admin),
                Some(serde_json::json!({"name": name})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body["key"].as_str().expect("key").to_string()
    }

    /// Posts raw bytes to an ingest endpoint with optional extra headers.
    pub async fn send(
        &self,
        path: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Raw {
        let mut req = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body.into());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request reaches the server");
        let status = res.status();
        let headers = res.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = res.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Raw {
            status,
            content_type,
            headers,
            body,
        }
    }

    pub async fn send_json(&self, path: &str, body: &Value) -> Raw {
        self.send(path, serde_json::to_vec(body).unwrap(), &[])
            .await
    }

    /// Every alert matching `query` (e.g. `status=open`), across pages.
    pub async fn alerts(&self, query: &str) -> Vec<Value> {
        let mut out = vec![];
        let mut cursor = String::new();
        loop {
            let a = self
                .get(&format!("/api/v1/alerts?limit=500&{query}&cursor={cursor}"))
                .await;
            let body = a.expect(200);
            out.extend(body["items"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => return out,
            }
        }
    }
}

/// A fixture body from `crates/firebreak-ingest/tests/fixtures`, with its routing key replaced.
pub fn fixture(name: &str, key: &str) -> String {
    let path = format!(
        "{}/../firebreak-ingest/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .replace("R0UT1NGKEY0000000000000000000001", key)
}

/// Runs the `firebreak` CLI against `base` with `token`, its config directory in `home`.
pub async fn cli_at(
    base: &str,
    token: &str,
    args: &[&str],
    home: &std::path::Path,
) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_firebreak"))
        .args(args)
        .env("FIREBREAK_CONFIG_DIR", home)
        .env("FIREBREAK_SERVER", base)
        .env("FIREBREAK_TOKEN", token)
        .output()
        .await
        .expect("the CLI runs")
}

/// What a CLI run printed, stdout then stderr.
pub fn printed(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh PostgreSQL schema, migrated. Fails (never skips) when PostgreSQL is not reachable.
pub async fn postgres_store(prefix: &str) -> firebreak_store_postgres::PostgresStore {
    let url = std::env::var("FIREBREAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    firebreak_store_postgres::testing::sweep_ended_test_schemas(&url).await;
    let schema = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond() % 1_000_000_000
    );
    let store = firebreak_store_postgres::PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL is required for this test and was not reachable at {url}: {e}")
        });
    store.migrate().await.expect("migrations run");
    store
}

/// A service as `firebreak.yaml` would declare it with only a name.
pub fn service(name: &str) -> firebreak_domain::Service {
    firebreak_domain::Service {
        name: firebreak_domain::Name::parse(name).expect("a valid service name"),
        description: String::new(),
        team: None,
        runbook: None,
        integrations: vec![],
        grouping: Default::default(),
        escalation_policy: None,
        manager: None,
    }
}
