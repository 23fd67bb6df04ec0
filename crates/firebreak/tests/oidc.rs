//! Single sign-on against a real OpenID provider: oidc-provider (a certified implementation,
//! from npm, pinned in tests/oidc/package-lock.json) runs on loopback from
//! `tests/oidc/provider.mjs`, with an interaction that approves at once, and the test drives
//! the authorization code flow as a browser would, with plain requests: Firebreak's
//! `/login/oidc`, the provider's redirects, back to Firebreak's callback.
//!
//! It needs Node.js and `npm ci` run in `crates/firebreak/tests/oidc` (`.ci/run` does both).
//! Without them the test fails and says so: it never skips.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use firebreak_domain::config::Oidc;
use firebreak_domain::{AccessRole, Config};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const CLIENT_SECRET: &str = "test-client-secret";

/// The provider's process, ended when dropped.
struct Provider {
    issuer: String,
    _child: tokio::process::Child,
}

impl Provider {
    async fn start(code_ttl_secs: u32) -> Provider {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "this test needs oidc-provider: run `npm ci` in {} (.ci/run does), with Node.js 20 \
             or later",
            dir.display()
        );
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("OIDC_CODE_TTL", code_ttl_secs.to_string())
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("this test needs Node.js (`node`) to run the OpenID provider");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(issuer) = line.strip_prefix("READY ") {
                    return issuer.to_string();
                }
            }
            panic!("the OpenID provider stopped before it was ready");
        })
        .await
        .expect("the OpenID provider starts within 30 s");
        // Keep reading its output, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Provider {
            issuer,
            _child: child,
        }
    }

    async fn tell(&self, what: &str, value: &str) {
        let res = common::client()
            .post(format!("{}/test/{what}", self.issuer))
            .body(value.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{what}: {:?}", res.text().await);
    }
}

fn oidc_config(issuer: &str) -> Config {
    Config {
        oidc: Some(Oidc {
            issuer: issuer.to_string(),
            name: "Test IdP".into(),
            client_id: "firebreak".into(),
            client_secret: CLIENT_SECRET.into(),
            client_secret_env: None,
            scopes: Oidc::DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            role_claim: "groups".into(),
            admin: vec!["firebreak-admins".into()],
            responder: vec!["sre".into()],
            viewer: vec!["staff".into()],
            // Anybody in none of those groups is refused.
            default_role: None,
        }),
        ..Config::default()
    }
}

/// Firebreak with single sign-on through `provider`, which knows Firebreak's callback.
async fn spawn(provider: &Provider) -> common::TestServer {
    let s = common::spawn_with(oidc_config(&provider.issuer)).await;
    provider
        .tell("redirect", &format!("{}/login/oidc/callback", s.base))
        .await;
    s
}

/// A browser: follows no redirect by itself, and keeps cookies per host and port.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, HashMap<String, String>>,
}

fn origin(url: &str) -> String {
    let u = reqwest::Url::parse(url).unwrap();
    format!(
        "{}:{}",
        u.host_str().unwrap(),
        u.port_or_known_default().unwrap()
    )
}

impl Browser {
    fn new() -> Browser {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.cookies.get(&origin(url))?.get(name).cloned()
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let jar = self.cookies.entry(origin(url)).or_default();
        let mut req = self.http.get(url);
        if !jar.is_empty() {
            let header: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", header.join("; "));
        }
        let res = req.send().await.unwrap();
        for set in res.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.to_ascii_lowercase().contains("max-age=0") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
        res
    }

    /// Starts signing in at Firebreak and follows the provider's redirects; returns the
    /// callback URL the provider sends the browser back to (not yet visited).
    async fn sign_in_until_callback(&mut self, base: &str) -> String {
        let mut url = format!("{base}/login/oidc?next=/incidents");
        for _ in 0..20 {
            let res = self.get(&url).await;
            let status = res.status();
            let Some(location) = res.headers().get("location") else {
                panic!(
                    "{url} answered {status} without a redirect: {}",
                    res.text().await.unwrap()
                );
            };
            let next = res
                .url()
                .join(location.to_str().unwrap())
                .unwrap()
                .to_string();
            if next.starts_with(&format!("{base}/login/oidc/callback")) {
                return next;
            }
            url = next;
        }
        panic!("the sign-in never came back to Firebreak");
    }

    /// The whole sign-in: Firebreak's answer at the callback.
    async fn sign_in(&mut self, base: &str) -> reqwest::Response {
        let callback = self.sign_in_until_callback(base).await;
        self.get(&callback).await
    }
}

/// Asserts a sign-in worked: a redirect to where it was going and a session that works.
async fn signed_in(s: &common::TestServer, browser: &mut Browser, res: reqwest::Response) {
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        res.text().await
    );
    assert_eq!(res.headers()["location"], "/incidents");
    let cookies: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("firebreak_session=fbs_") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    // The sign-in cookie is gone once used.
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("firebreak_oidc=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    assert_eq!(
        browser.get(&format!("{}/account", s.base)).await.status(),
        200
    );
}

async fn refused(res: reqwest::Response, status: u16, needle: &str) {
    assert_eq!(res.status().as_u16(), status);
    let page = res.text().await.unwrap();
    assert!(page.contains(needle), "{page}");
    assert!(page.contains("sign in again"), "{page}");
}

async fn user(s: &common::TestServer, handle: &str) -> serde_json::Value {
    s.call(
        Method::GET,
        &format!("/api/v1/users/{handle}"),
        Some(&s.admin),
        None,
    )
    .await
    .expect(200)
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_with_the_role_their_groups_give() {
    let provider = Provider::start(60).await;
    let s = spawn(&provider).await;

    // The sign-in page offers the provider.
    let page = common::client()
        .get(format!("{}/login", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with Test IdP"), "{page}");
    assert!(page.contains("href=\"/login/oidc?next="), "{page}");

    // Ada is new here, and in firebreak-admins: she is added as an admin.
    provider.tell("account", "ada").await;
    let mut ada = Browser::new();
    let res = ada.sign_in(&s.base).await;
    signed_in(&s, &mut ada, res).await;
    let added = user(&s, "ada.lovelace").await;
    assert_eq!(added["role"], "admin");
    assert_eq!(added["email"], "Ada@Example.com");
    assert_eq!(added["name"], "Ada Lovelace");
    let audit = s
        .call(Method::GET, "/api/v1/audit?limit=50", Some(&s.admin), None)
        .await;
    let audit = audit.expect(200).to_string();
    assert!(audit.contains("user ada.lovelace (oidc)"), "{audit}");

    // Bob already has a user, with his email in another case and the admin role; the
    // provider says he is only staff, so he signs in as that user, now a viewer.
    s.call(
        Method::POST,
        "/api/v1/users",
        Some(&s.admin),
        Some(json!({"handle": "robert", "name": "Robert", "email": "BOB@example.com", "role": "admin"})),
    )
    .await
    .expect(201);
    provider.tell("account", "bob").await;
    let mut bob = Browser::new();
    let res = bob.sign_in(&s.base).await;
    signed_in(&s, &mut bob, res).await;
    assert_eq!(user(&s, "robert").await["role"], "viewer");
    let users = s
        .call(Method::GET, "/api/v1/users", Some(&s.admin), None)
        .await;
    assert!(
        !users.expect(200).to_string().contains("\"bob\""),
        "no second user for Bob"
    );
    // A viewer's browser cannot reach what needs a responder.
    let me = s
        .running
        .app
        .store
        .get_user(&firebreak_domain::Name::parse("robert").unwrap())
        .await;
    assert_eq!(me.unwrap().unwrap().role, AccessRole::Viewer);

    // Once disabled, Bob cannot sign in.
    s.call(
        Method::PATCH,
        "/api/v1/users/robert",
        Some(&s.admin),
        Some(json!({"disabled": true})),
    )
    .await
    .expect(200);
    let res = Browser::new().sign_in(&s.base).await;
    refused(res, 400, "is disabled").await;

    // Eve is in none of the groups, and this Firebreak refuses those.
    provider.tell("account", "eve").await;
    let res = Browser::new().sign_in(&s.base).await;
    refused(res, 400, "none of the groups").await;
    let audit = s
        .call(Method::GET, "/api/v1/audit?limit=100", Some(&s.admin), None)
        .await;
    let audit = audit.expect(200).to_string();
    assert!(audit.contains("session.sign_in_failed"), "{audit}");
    assert!(audit.contains("oidc eve@example.com"), "{audit}");
    assert!(!audit.contains(CLIENT_SECRET), "{audit}");
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_state_or_a_foreign_browser_is_refused() {
    let provider = Provider::start(60).await;
    let s = spawn(&provider).await;
    provider.tell("account", "ada").await;

    // The state the provider sent back is not the one this browser started with.
    let mut browser = Browser::new();
    let callback = browser.sign_in_until_callback(&s.base).await;
    let mut forged = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged-state".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let res = browser.get(forged.as_str()).await;
    refused(res, 400, "state does not match").await;
    assert!(browser.cookie(&s.base, "firebreak_session").is_none());

    // A callback brought to another browser, which never started a sign-in.
    let mut browser = Browser::new();
    let callback = browser.sign_in_until_callback(&s.base).await;
    let res = Browser::new().get(&callback).await;
    refused(res, 400, "not started in this browser").await;
    // The provider's own refusal: its error code is shown, never text from the address.
    let res = Browser::new()
        .get(&format!(
            "{}/login/oidc/callback?error=access_denied&error_description=Call+0800+now",
            s.base
        ))
        .await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("access_denied"), "{page}");
    assert!(!page.contains("0800"), "{page}");
    // Nobody was added.
    s.call(
        Method::GET,
        "/api/v1/users/ada.lovelace",
        Some(&s.admin),
        None,
    )
    .await
    .expect(404);
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_or_expired_code_is_refused() {
    // Codes live 3 seconds here.
    let provider = Provider::start(3).await;
    let s = spawn(&provider).await;
    provider.tell("account", "ada").await;

    // A code works once: the same callback again (cookie and all) is refused.
    let mut browser = Browser::new();
    let callback = browser.sign_in_until_callback(&s.base).await;
    let pending = browser
        .cookie(&s.base, "firebreak_oidc")
        .expect("the sign-in cookie is set");
    let res = browser.get(&callback).await;
    signed_in(&s, &mut browser, res).await;
    let mut replay = Browser::new();
    replay
        .cookies
        .entry(origin(&s.base))
        .or_default()
        .insert("firebreak_oidc".into(), pending);
    let res = replay.get(&callback).await;
    refused(res, 400, "expired or was already used").await;

    // A code that waited past its lifetime is refused by the provider.
    let mut browser = Browser::new();
    let callback = browser.sign_in_until_callback(&s.base).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let res = browser.get(&callback).await;
    refused(res, 400, "expired or was already used").await;
    assert!(browser.cookie(&s.base, "firebreak_session").is_none());
    s.running.stop().await.unwrap();
}
