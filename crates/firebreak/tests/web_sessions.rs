//! Signing in to the web pages, over real HTTP: the first admin's setup link, invitations,
//! sessions that end on the (manual) clock, revocation, CSRF refusal, session fixation, the
//! sign-in backoff, and the role rules on pages. Runs on SQLite; `web_postgres.rs` runs the
//! cross-instance parts on PostgreSQL.

mod common;

use common::{RESPONDER, TestServer, VIEWER, spawn};
use jiff::SignedDuration;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use secrecy::ExposeSecret;
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

/// A client that does not follow redirects, so each answer can be checked.
fn browser() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The session cookie a response sets, as `name=value`.
fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("firebreak_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"_csrf\" value=\"")
        .expect("the page has a form with a CSRF token");
    let rest = &html[at + "name=\"_csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn set_password(s: &TestServer, handle: &str) {
    s.call(
        reqwest::Method::PUT,
        &format!("/api/v1/users/{handle}/password"),
        Some(&s.admin),
        Some(json!({ "password": PASSWORD })),
    )
    .await
    .expect(204);
}

async fn sign_in(
    s: &TestServer,
    b: &reqwest::Client,
    login: &str,
    password: &str,
) -> reqwest::Response {
    b.post(format!("{}/login", s.base))
        .form(&[
            ("login", login),
            ("password", password),
            ("next", "/incidents"),
        ])
        .send()
        .await
        .unwrap()
}

/// The newest `limit` rows of the audit log, as the admin reads them.
async fn audit_log(s: &TestServer, limit: u32) -> serde_json::Value {
    let res = s
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/audit?limit={limit}"),
            Some(&s.admin),
            None,
        )
        .await;
    res.expect(200).clone()
}

/// Signs `handle` in and returns its cookie.
async fn signed_in(s: &TestServer, b: &reqwest::Client, handle: &str) -> String {
    let res = sign_in(s, b, handle, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    session_cookie(&res).expect("signing in sets the session cookie")
}

async fn page(
    s: &TestServer,
    b: &reqwest::Client,
    cookie: &str,
    path: &str,
) -> (StatusCode, String) {
    let res = b
        .get(format!("{}{path}", s.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once() {
    let s = spawn().await;
    let b = browser();
    // Before anyone has a password, the sign-in page says where the setup link is.
    let (status, html) = page(&s, &b, "", "/login").await;
    assert_eq!(status, 200);
    assert!(html.contains("setup link"), "{html}");
    let link = s
        .running
        .app
        .first_admin_link()
        .await
        .unwrap()
        .expect("a setup link");
    let path = link.path.expose_secret().to_string();
    let res = b.get(format!("{}{path}", s.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["referrer-policy"], "same-origin");
    // Passwords that differ, or are too short, are refused with the reason; nothing changes.
    let form = |pw: &str, confirm: &str| {
        vec![
            ("handle".to_string(), "alice".to_string()),
            ("name".to_string(), "Alice".to_string()),
            ("email".to_string(), "alice@example.com".to_string()),
            ("password".to_string(), pw.to_string()),
            ("confirm".to_string(), confirm.to_string()),
        ]
    };
    let res = b
        .post(format!("{}{path}", s.base))
        .form(&form(PASSWORD, "other password!!"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("the two passwords differ")
    );
    let res = b
        .post(format!("{}{path}", s.base))
        .form(&form("short", "short"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at least 12 characters"));
    assert_eq!(s.running.app.store.count_passwords().await.unwrap(), 0);
    // The right form creates the admin and signs the browser in.
    let res = b
        .post(format!("{}{path}", s.base))
        .form(&form(PASSWORD, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "plain HTTP gets no Secure flag: {set}"
    );
    let cookie = session_cookie(&res).unwrap();
    let (status, html) = page(&s, &b, &cookie, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("alice") && html.contains("admin"), "{html}");
    let alice = s
        .call(
            reqwest::Method::GET,
            "/api/v1/users/alice",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(alice.expect(200)["role"], "admin");
    // The link works once.
    let res = b
        .post(format!("{}{path}", s.base))
        .form(&form(PASSWORD, PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("already used"));
    // Someone can sign in now: no new setup link is made.
    assert!(s.running.app.first_admin_link().await.unwrap().is_none());
    // The audit log has the setup and the sign-in.
    let audit = s
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?limit=100",
            Some(&s.admin),
            None,
        )
        .await;
    let actions: Vec<String> = audit.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"user.accept_invitation".into()),
        "{actions:?}"
    );
    assert!(actions.contains(&"session.sign_in".into()), "{actions:?}");
}

#[tokio::test]
async fn an_invitation_sets_a_password_and_expires() {
    let s = spawn().await;
    let b = browser();
    let made = s
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/users/{RESPONDER}/invitations"),
            Some(&s.admin),
            None,
        )
        .await;
    let url = made.expect(201)["url"].as_str().unwrap().to_string();
    let path = &url[url.find("/invite/").unwrap()..];
    // Only an admin may invite.
    s.call(
        reqwest::Method::POST,
        &format!("/api/v1/users/{VIEWER}/invitations"),
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(403);
    let res = b
        .post(format!("{}{path}", s.base))
        .form(&[("password", PASSWORD), ("confirm", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&res).is_some());
    signed_in(&s, &b, RESPONDER).await;
    // A second link, left past its lifetime, no longer works.
    let made = s
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/users/{VIEWER}/invitations"),
            Some(&s.admin),
            Some(json!({"expires_in": "1h"})),
        )
        .await;
    let url = made.expect(201)["url"].as_str().unwrap().to_string();
    let path = url[url.find("/invite/").unwrap()..].to_string();
    s.clock.advance(SignedDuration::from_mins(61));
    let res = b.get(format!("{}{path}", s.base)).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("expired"));
    // A made-up link is not found.
    let res = b
        .get(format!("{}/invite/fbi_nope", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    s.call(
        reqwest::Method::POST,
        "/api/v1/users/val/invitations",
        Some(&s.admin),
        Some(json!({"expires_in": "30d"})),
    )
    .await
    .expect_problem(422);
}

#[tokio::test]
async fn sessions_end_when_idle_or_old_and_activity_keeps_them() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    let cookie = signed_in(&s, &b, RESPONDER).await;
    // Active every 11 hours: the session stays, up to its absolute end at 7 days.
    for _ in 0..15 {
        s.clock.advance(SignedDuration::from_hours(11));
        let (status, _) = page(&s, &b, &cookie, "/incidents").await;
        assert_eq!(status, 200);
    }
    s.clock.advance(SignedDuration::from_hours(11));
    let res = b
        .get(format!("{}/incidents", s.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "past 7 days the session has ended"
    );
    assert_eq!(res.headers()[LOCATION], "/login?next=%2Fincidents");
    // Idle for 12 hours ends a fresh session.
    let cookie = signed_in(&s, &b, RESPONDER).await;
    s.clock.advance(SignedDuration::from_hours(12));
    let (status, _) = page(&s, &b, &cookie, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The API refuses an ended session too.
    let res = b
        .get(format!("{}/api/v1/incidents", s.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn sign_out_password_changes_and_disabling_revoke_sessions() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    // Sign out ends this browser only.
    let one = signed_in(&s, &b, RESPONDER).await;
    let two = signed_in(&s, &b, RESPONDER).await;
    let (_, html) = page(&s, &b, &one, "/account").await;
    let res = b
        .post(format!("{}/logout", s.base))
        .header(COOKIE, &one)
        .form(&[("_csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(page(&s, &b, &one, "/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(page(&s, &b, &two, "/").await.0, 200);
    // "Sign out everywhere" ends the others and keeps this one.
    let three = signed_in(&s, &b, RESPONDER).await;
    let (_, html) = page(&s, &b, &three, "/account").await;
    assert!(html.contains("this browser"));
    let res = b
        .post(format!("{}/account/sign-out-everywhere", s.base))
        .header(COOKIE, &three)
        .form(&[("_csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/account?signed_out=1");
    assert_eq!(page(&s, &b, &two, "/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(page(&s, &b, &three, "/").await.0, 200);
    // A new password signs out every browser.
    set_password(&s, RESPONDER).await;
    assert_eq!(page(&s, &b, &three, "/").await.0, StatusCode::SEE_OTHER);
    // Disabling the user signs them out, and they cannot sign in.
    let four = signed_in(&s, &b, RESPONDER).await;
    s.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{RESPONDER}"),
        Some(&s.admin),
        Some(json!({"disabled": true})),
    )
    .await
    .expect(200);
    assert_eq!(page(&s, &b, &four, "/").await.0, StatusCode::SEE_OTHER);
    let res = sign_in(&s, &b, RESPONDER, PASSWORD).await;
    assert_eq!(res.status(), 401);
    // A user may not set another's password; an admin may (above).
    s.call(
        reqwest::Method::PUT,
        &format!("/api/v1/users/{RESPONDER}/password"),
        Some(&s.viewer),
        Some(json!({"password": PASSWORD})),
    )
    .await
    .expect_problem(403);
    s.call(
        reqwest::Method::PUT,
        &format!("/api/v1/users/{VIEWER}/password"),
        Some(&s.viewer),
        Some(json!({"password": "short"})),
    )
    .await
    .expect_problem(422);
}

#[tokio::test]
async fn a_change_without_the_csrf_token_is_refused_and_changes_nothing() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    let cookie = signed_in(&s, &b, RESPONDER).await;
    let declare = |token: Option<String>, origin: Option<&'static str>| {
        let mut form = vec![
            ("title", "Checkout is down".to_string()),
            ("severity", "SEV3".to_string()),
        ];
        if let Some(t) = token {
            form.push(("_csrf", t));
        }
        let mut req = b
            .post(format!("{}/incidents", s.base))
            .header(COOKIE, &cookie)
            .form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let res = declare(None, None).await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("reload the page"));
    let res = declare(Some("00".repeat(32)), None).await.unwrap();
    assert_eq!(res.status(), 403);
    let (_, html) = page(&s, &b, &cookie, "/incidents").await;
    let token = csrf_of(&html);
    // The right token from another site is still refused.
    let res = declare(Some(token.clone()), Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let listed = s.get("/api/v1/incidents").await;
    assert_eq!(
        listed.expect(200)["items"].as_array().unwrap().len(),
        0,
        "nothing was declared"
    );
    // The API with a session cookie: reads work, changes need the token in the header.
    let res = b
        .post(format!("{}/api/v1/incidents", s.base))
        .header(COOKIE, &cookie)
        .json(&json!({"title": "x", "severity": "SEV3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = b
        .post(format!("{}/api/v1/incidents", s.base))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &token)
        .json(&json!({"title": "From the browser", "severity": "SEV3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // The same-site form with its token works.
    let res = declare(Some(token), Some("http://PLACEHOLDER"))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        403,
        "an Origin that is not this host is refused"
    );
    let host = s.base.trim_start_matches("http://").to_string();
    let (_, html) = page(&s, &b, &cookie, "/incidents").await;
    let res = b
        .post(format!("{}/incidents", s.base))
        .header(COOKIE, &cookie)
        .header("origin", format!("http://{host}"))
        .form(&[
            ("title", "Payments slow"),
            ("severity", "SEV3"),
            ("_csrf", &csrf_of(&html)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/incidents/2");
}

#[tokio::test]
async fn signing_in_makes_a_new_session_id_and_next_stays_on_this_server() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    // An id planted in the browser before sign-in is not used, and is worth nothing.
    let planted = format!("firebreak_session=fbs_{}", "ab".repeat(32));
    let res = b
        .post(format!("{}/login", s.base))
        .header(COOKIE, &planted)
        .form(&[("login", RESPONDER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let fresh = session_cookie(&res).unwrap();
    assert_ne!(fresh, planted);
    assert_eq!(page(&s, &b, &planted, "/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(page(&s, &b, &fresh, "/").await.0, 200);
    // Two sign-ins get two ids.
    assert_ne!(
        signed_in(&s, &b, RESPONDER).await,
        signed_in(&s, &b, RESPONDER).await
    );
    // After sign-in, only a path on this server is followed.
    for (next, to) in [
        ("/incidents/1", "/incidents/1"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let res = b
            .post(format!("{}/login", s.base))
            .form(&[("login", RESPONDER), ("password", PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()[LOCATION], to, "next={next}");
    }
    // Signing in by email works as well as by handle.
    s.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{RESPONDER}"),
        Some(&s.admin),
        Some(json!({"email": "Riley@Example.com"})),
    )
    .await
    .expect(200);
    let res = sign_in(&s, &b, "riley@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn failed_sign_ins_back_off_per_account_and_are_audited() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    for _ in 0..5 {
        let res = sign_in(&s, &b, RESPONDER, "wrong password here").await;
        assert_eq!(res.status(), 401);
        let html = res.text().await.unwrap();
        assert!(html.contains("the handle or password is wrong"), "{html}");
    }
    // An unknown handle gets the same answer.
    let res = sign_in(&s, &b, "nobody-here", PASSWORD).await;
    assert_eq!(res.status(), 401);
    // Now even the right password waits.
    let res = sign_in(&s, &b, RESPONDER, PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("too many failed sign-ins")
    );
    s.clock.advance(SignedDuration::from_secs(1));
    let res = sign_in(&s, &b, RESPONDER, "wrong again, sorry").await;
    assert_eq!(res.status(), 401);
    let res = sign_in(&s, &b, RESPONDER, PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert_eq!(
        res.headers()["retry-after"],
        "2",
        "each failure doubles the wait"
    );
    s.clock.advance(SignedDuration::from_secs(2));
    let res = sign_in(&s, &b, RESPONDER, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Success clears the account's count.
    let res = sign_in(&s, &b, RESPONDER, "wrong once more!").await;
    assert_eq!(res.status(), 401);
    let res = sign_in(&s, &b, RESPONDER, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let items = audit_log(&s, 200).await["items"]
        .as_array()
        .unwrap()
        .clone();
    let failures = items
        .iter()
        .filter(|a| a["action"] == "session.sign_in_failed")
        .count();
    assert_eq!(failures, 8);
    assert!(items.iter().any(|a| a["action"] == "session.sign_in_failed"
        && a["target"] == format!("user:{RESPONDER}")
        && a["actor"] == "anonymous"));
    // No password appears in the audit log.
    assert!(
        !serde_json::to_string(&items)
            .unwrap()
            .contains("wrong password")
    );
}

/// Signs in through a proxy that says the client is at `forwarded_for`.
async fn sign_in_from(
    s: &TestServer,
    b: &reqwest::Client,
    forwarded_for: &str,
    password: &str,
) -> StatusCode {
    b.post(format!("{}/login", s.base))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("login", RESPONDER), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_stranger_cannot_lock_the_owner_out() {
    let mut config = firebreak_domain::config::Config::default();
    config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let s = common::spawn_with(config).await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    let stranger = "198.51.100.66";
    for _ in 0..5 {
        assert_eq!(
            sign_in_from(&s, &b, stranger, "guess guess guess").await,
            401
        );
    }
    assert_eq!(
        sign_in_from(&s, &b, stranger, PASSWORD).await,
        429,
        "the stranger's address backs off on this account"
    );
    // A forged entry on the left is not believed: the proxy appended the real address.
    assert_eq!(
        sign_in_from(&s, &b, &format!("203.0.113.5, {stranger}"), PASSWORD).await,
        429
    );
    assert_eq!(
        sign_in_from(&s, &b, "203.0.113.5", PASSWORD).await,
        StatusCode::SEE_OTHER,
        "the owner, elsewhere, signs in"
    );
    let audit = audit_log(&s, 50).await;
    let items = audit["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|a| a["action"] == "session.sign_in_failed" && a["source"] == stranger)
    );
    assert!(
        items
            .iter()
            .any(|a| a["action"] == "session.sign_in" && a["source"] == "203.0.113.5")
    );

    // An IPv6 source counts with the rest of its /64.
    for i in 1..=5 {
        let from = format!("2001:db8:1:2::{i}");
        assert_eq!(sign_in_from(&s, &b, &from, "guess guess guess").await, 401);
    }
    assert_eq!(
        sign_in_from(&s, &b, "2001:db8:1:2:ffff::9", PASSWORD).await,
        429
    );
    assert_eq!(
        sign_in_from(&s, &b, "2001:db8:1:3::1", PASSWORD).await,
        StatusCode::SEE_OTHER
    );

    // Guessing spread over many addresses reaches the account's own ceiling ...
    for i in 0..50 {
        let from = format!("192.0.2.{i}");
        let status = sign_in_from(&s, &b, &from, "guess guess guess").await;
        assert!(status == 401 || status == 429, "{status}");
        if status == 429 {
            break;
        }
    }
    assert_eq!(sign_in_from(&s, &b, "203.0.113.5", PASSWORD).await, 429);
    // ... and a new password forgives it, with no wait (the clock has not reached the
    // end of the backoff).
    s.clock.advance(SignedDuration::from_millis(1));
    set_password(&s, RESPONDER).await;
    assert_eq!(
        sign_in_from(&s, &b, "203.0.113.5", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_address_is_ignored() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    for i in 0..5 {
        let from = format!("198.51.100.{i}");
        assert_eq!(sign_in_from(&s, &b, &from, "guess guess guess").await, 401);
    }
    // Every try came from 127.0.0.1, whatever the header said.
    assert_eq!(sign_in_from(&s, &b, "203.0.113.5", PASSWORD).await, 429);
    let audit = audit_log(&s, 20).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["action"] == "session.sign_in_failed")
            .all(|a| a["source"] == "127.0.0.1")
    );
}

/// An incident's number from the API's answer (`INC-7` is `7`), as the room's path has it.
fn number_of(incident: &serde_json::Value) -> String {
    incident["id"]
        .as_str()
        .unwrap()
        .trim_start_matches("INC-")
        .to_string()
}

#[tokio::test]
async fn a_viewer_sees_no_controls_and_is_refused_a_change() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, VIEWER).await;
    let incident = s
        .declare("Search <img src=x onerror=alert(1)> is slow", "SEV3")
        .await;
    let id = number_of(&incident);
    let cookie = signed_in(&s, &b, VIEWER).await;
    let (status, html) = page(&s, &b, &cookie, &format!("/incidents/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("Add note")
            && !html.contains("Set status")
            && !html.contains("Declare an incident")
    );
    // Text a person wrote is escaped.
    assert!(
        html.contains("Search &#60;img src=x onerror=alert(1)&#62; is slow")
            || html.contains("Search &lt;img"),
        "{html}"
    );
    assert!(!html.contains("<img src=x"));
    let (_, list) = page(&s, &b, &cookie, "/incidents").await;
    assert!(!list.contains("Declare an incident"));
    let token = csrf_of(&list);
    let res = b
        .post(format!("{}/incidents/{id}/notes", s.base))
        .header(COOKIE, &cookie)
        .form(&[
            ("body", "I should not be able to write this"),
            ("_csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("needs the responder role")
    );
    let timeline = s.timeline(&id).await;
    assert!(!timeline.iter().any(|e| e["kind"] == "note"));
    // Every page carries the strict policy.
    let res = b
        .get(format!("{}/incidents/{id}", s.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(res.headers()["x-frame-options"], "DENY");
}

/// A long timeline: the room shows exactly the newest 1,000 entries, oldest first, says older
/// ones exist, and its live stream starts after the newest.
#[tokio::test]
async fn the_room_shows_the_newest_thousand_entries_of_a_long_timeline() {
    use firebreak_store::StoreWrites;
    let s = spawn().await;
    let b = browser();
    set_password(&s, VIEWER).await;
    let id = number_of(&s.declare("A long incident", "SEV3").await);
    let number = firebreak_domain::IncidentNumber(id.parse().unwrap());
    let declared = s.timeline(&id).await.len();
    let now = s.running.app.clock.now();
    let notes = (0..1_010)
        .map(|i| firebreak_store::TimelineDraft {
            at: now,
            actor: "alice".into(),
            event: firebreak_domain::TimelineEvent::Note {
                body: format!("long note {i}."),
            },
        })
        .collect();
    s.running
        .app
        .store
        .append_timeline(
            number,
            notes,
            firebreak_store::AuditDraft {
                actor: "alice".into(),
                action: "incident.note".into(),
                target: format!("INC-{id}"),
                at: now,
                source: None,
                break_glass: None,
            },
        )
        .await
        .expect("append the notes");
    let last = (declared + 1_010) as i64;
    let cookie = signed_in(&s, &b, VIEWER).await;
    let (status, html) = page(&s, &b, &cookie, &format!("/incidents/{id}")).await;
    assert_eq!(status, 200);
    let shown: Vec<i64> = html
        .match_indices("<li id=\"e")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect();
    assert_eq!(
        shown,
        (last - 999..=last).collect::<Vec<_>>(),
        "the newest 1,000 entries, oldest first"
    );
    // Note i is entry `declared + 1 + i`: notes 10 to 1009 are shown, 0 to 9 are not.
    assert!(html.contains("long note 10.") && html.contains("long note 1009."));
    assert!(!html.contains("long note 9."), "older entries stay out");
    assert!(
        html.contains("Showing the latest 1,000 entries"),
        "the room says older entries exist"
    );
    assert!(
        html.contains(&format!("/incidents/{id}/live?after={last}")),
        "the live stream starts after the newest entry"
    );
    // A short timeline has no such hint.
    let short = number_of(&s.declare("A short incident", "SEV3").await);
    let (_, html) = page(&s, &b, &cookie, &format!("/incidents/{short}")).await;
    assert!(html.contains("<li id=\"e1\"") && !html.contains("Showing the latest"));
}

#[tokio::test]
async fn a_change_from_a_stale_page_says_someone_else_changed_it() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    let incident = s.declare("Checkout is slow", "SEV3").await;
    let id = number_of(&incident);
    let cookie = signed_in(&s, &b, RESPONDER).await;
    let (_, html) = page(&s, &b, &cookie, &format!("/incidents/{id}")).await;
    let token = csrf_of(&html);
    let at = html.find("name=\"version\" value=\"").unwrap() + "name=\"version\" value=\"".len();
    let version = html[at..at + html[at..].find('"').unwrap()].to_string();
    // Someone else moves it on meanwhile.
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"status": "mitigated"}),
    )
    .await
    .expect(200);
    let res = b
        .post(format!("{}/incidents/{id}/status", s.base))
        .header(COOKIE, &cookie)
        .form(&[
            ("status", "identified"),
            ("version", &version),
            ("_csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let text = res.text().await.unwrap();
    assert!(text.contains("someone else changed"), "{text}");
    let now = s.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(
        now.expect(200)["status"],
        "mitigated",
        "the stale change was not applied"
    );
}

#[tokio::test]
async fn an_old_setup_link_cannot_take_over_an_account() {
    let s = spawn().await;
    let b = browser();
    let old = s.running.app.first_admin_link().await.unwrap().unwrap();
    let new = s.running.app.first_admin_link().await.unwrap().unwrap();
    let form = |handle: &str, pw: &str| {
        vec![
            ("handle".to_string(), handle.to_string()),
            ("password".to_string(), pw.to_string()),
            ("confirm".to_string(), pw.to_string()),
        ]
    };
    // A newer start's link replaces the older one.
    let res = b
        .post(format!("{}{}", s.base, old.path.expose_secret()))
        .form(&form("mallory", "attacker password 1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "{}", res.text().await.unwrap());
    let res = b
        .post(format!("{}{}", s.base, new.path.expose_secret()))
        .form(&form("alice", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Once someone can sign in, no setup link works, even one made before.
    let stale = s.running.app.first_admin_link().await.unwrap();
    assert!(stale.is_none());
    let res = b
        .post(format!("{}{}", s.base, new.path.expose_secret()))
        .form(&form("alice", "attacker password 1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let res = sign_in(&s, &b, "alice", "attacker password 1").await;
    assert_eq!(res.status(), 401, "alice's password did not change");
}

#[tokio::test]
async fn a_lesser_token_cannot_set_its_users_password_and_your_own_needs_the_current_one() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    // A viewer token acting as riley (a responder) must not become riley in a browser.
    let viewer_as_riley = s
        .call(
            reqwest::Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "dash", "role": "viewer", "user": RESPONDER})),
        )
        .await
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let put = |token: String, body: serde_json::Value| {
        let s = &s;
        async move {
            s.call(
                reqwest::Method::PUT,
                &format!("/api/v1/users/{RESPONDER}/password"),
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    put(viewer_as_riley, json!({"password": "a brand new password"}))
        .await
        .expect_problem(403);
    // riley's own full token: the current password is needed, and checked.
    put(
        s.responder.clone(),
        json!({"password": "a brand new password"}),
    )
    .await
    .expect_problem(422);
    put(
        s.responder.clone(),
        json!({"password": "a brand new password", "current_password": "not it at all"}),
    )
    .await
    .expect_problem(422);
    put(
        s.responder.clone(),
        json!({"password": "a brand new password", "current_password": PASSWORD}),
    )
    .await
    .expect(204);
    assert_eq!(
        sign_in(&s, &b, RESPONDER, "a brand new password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

async fn invitation_path(s: &TestServer) -> String {
    let made = s
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/users/{RESPONDER}/invitations"),
            Some(&s.admin),
            None,
        )
        .await;
    let url = made.expect(201)["url"].as_str().unwrap().to_string();
    url[url.find("/invite/").unwrap()..].to_string()
}

#[tokio::test]
async fn using_an_invitation_ends_the_users_other_links() {
    let s = spawn().await;
    let b = browser();
    let first = invitation_path(&s).await;
    let second = invitation_path(&s).await;
    let res = b
        .post(format!("{}{second}", s.base))
        .form(&[("password", PASSWORD), ("confirm", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = b
        .post(format!("{}{first}", s.base))
        .form(&[
            ("password", "attacker password 1"),
            ("confirm", "attacker password 1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        409,
        "the older link ended when the newer one was used"
    );
}

#[tokio::test]
async fn an_unknown_login_is_not_written_to_the_audit_log() {
    let s = spawn().await;
    let b = browser();
    let res = sign_in(&s, &b, "Tr0ub4dor&3-my-real-password", "whatever it was").await;
    assert_eq!(res.status(), 401);
    let long = "x".repeat(300);
    assert_eq!(
        sign_in(&s, &b, &long, "whatever it was").await.status(),
        401
    );
    let text = audit_log(&s, 50).await.to_string().to_lowercase();
    assert!(!text.contains("tr0ub4dor"), "{text}");
    assert!(text.contains("an unknown login"));
}

#[tokio::test]
async fn a_silence_from_the_form_is_bounded() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    let cookie = signed_in(&s, &b, RESPONDER).await;
    let (_, html) = page(&s, &b, &cookie, "/incidents").await;
    let res = b
        .post(format!("{}/silences", s.base))
        .header(COOKIE, &cookie)
        .form(&[
            ("matchers", "service=\"checkout\""),
            ("duration", "2562047788015h"),
            ("comment", "forever"),
            ("_csrf", &csrf_of(&html)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    s.get("/api/v1/silences").await.expect(200);
}

#[tokio::test]
async fn a_stream_ends_when_its_session_is_signed_out() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    let cookie = signed_in(&s, &b, RESPONDER).await;
    let incident = s.declare("Streams end", "SEV3").await;
    let id = incident["id"].as_str().unwrap().to_string();
    let mut res = b
        .get(format!("{}/api/v1/incidents/{id}/events", s.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    s.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/users/{RESPONDER}/sessions"),
        Some(&s.admin),
        None,
    )
    .await
    .expect(200);
    // The stream checks its session again every few seconds.
    tokio::time::sleep(std::time::Duration::from_millis(5500)).await;
    s.post(
        &format!("/api/v1/incidents/{id}/notes"),
        json!({"body": "for signed-in eyes only"}),
    )
    .await
    .expect(201);
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match tokio::time::timeout(std::time::Duration::from_secs(2), res.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => break,
            _ => {}
        }
    }
    assert!(seen.contains("event: signed-out"), "{seen}");
    assert!(!seen.contains("for signed-in eyes only"), "{seen}");
}

#[tokio::test]
async fn pages_are_compressed_and_their_csrf_token_is_masked_afresh() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    let cookie = signed_in(&s, &b, RESPONDER).await;
    for path in ["/incidents", "/assets/htmx.min.js", "/assets/app.css"] {
        let res = b
            .get(format!("{}{path}", s.base))
            .header(COOKIE, &cookie)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-encoding"], "gzip", "{path}");
    }
    // Two loads of a page carry two different tokens, and both work.
    let (_, one) = page(&s, &b, &cookie, "/incidents").await;
    let (_, two) = page(&s, &b, &cookie, "/incidents").await;
    let (t1, t2) = (csrf_of(&one), csrf_of(&two));
    assert_ne!(t1, t2);
    for (n, token) in [(1, t1), (2, t2)] {
        let res = b
            .post(format!("{}/incidents", s.base))
            .header(COOKIE, &cookie)
            .form(&[
                ("title", format!("Masked token {n}")),
                ("severity", "SEV3".to_string()),
                ("_csrf", token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    // The live stream is never compressed.
    let res = b
        .get(format!("{}/incidents/1/live", s.base))
        .header(COOKIE, &cookie)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn a_bad_address_gets_a_page_and_a_refusal_names_the_session() {
    let s = spawn().await;
    let b = browser();
    set_password(&s, RESPONDER).await;
    let cookie = signed_in(&s, &b, RESPONDER).await;
    for (path, status, says) in [
        (
            "/alerts/xyz/silence",
            404,
            "there is no page at /alerts/xyz/silence",
        ),
        ("/incidents/abc", 404, "`abc` is not an incident number"),
        (
            "/account?signed_out=lots",
            422,
            "this page does not understand its address",
        ),
    ] {
        let res = b
            .get(format!("{}{path}", s.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{path}");
        let kind = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let html = res.text().await.unwrap();
        assert!(html.contains(says), "{path}: {html}");
    }
    // The API, called with the browser's session, says whose role fell short.
    let (_, list) = page(&s, &b, &cookie, "/incidents").await;
    let res = b
        .post(format!("{}/api/v1/users", s.base))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", csrf_of(&list))
        .json(&json!({"handle": "newcomer", "name": "New Comer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["detail"],
        "this needs the admin role; you are signed in as responder"
    );
}
