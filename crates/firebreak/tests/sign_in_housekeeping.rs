//! Keeping sign-in state bounded, over the real server: the janitor deletes sessions a week
//! after they ended on the (manual) clock and keeps live ones, and one session or one token
//! holds at most 20 live streams on an instance, with a 429 that says what to do beyond it
//! and the slot given back when a stream closes.

mod common;

use std::time::{Duration, Instant};

use common::{RESPONDER, TestServer, spawn};
use firebreak_domain::Name;
use firebreak_domain::session::{IDLE_TIMEOUT, KEEP_ENDED, SignInMethod};
use firebreak_engine::accounts::SignedIn;
use jiff::SignedDuration;
use reqwest::header::{AUTHORIZATION, COOKIE};
use secrecy::ExposeSecret;

async fn sign_in(s: &TestServer, handle: &str) -> SignedIn {
    let user = s
        .running
        .app
        .store
        .get_user(&Name::parse(handle).unwrap())
        .await
        .unwrap()
        .expect("the user exists");
    s.running
        .app
        // No failed sign-ins to forget.
        .start_session(user, SignInMethod::Password, None, Default::default())
        .await
        .expect("a session starts")
}

/// Whether the session still signs its browser in (and records its activity).
async fn signs_in(s: &TestServer, signed: &SignedIn) -> bool {
    let id = signed.id.expose_secret();
    s.running.app.session(id, None).await.unwrap().is_some()
}

/// Waits (in real time, the janitor runs on its own task) until `done` holds.
async fn eventually<F, Fut>(what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_janitor_deletes_ended_sessions_and_keeps_live_ones() {
    let s = spawn().await;
    let app = &s.running.app;
    let old = sign_in(&s, RESPONDER).await;
    let old_hash = old.session.id_hash.clone();
    // A week on: the old session timed out idle after 12 hours, but is kept a week after that.
    s.clock.advance(SignedDuration::from_hours(24 * 7));
    let live = sign_in(&s, RESPONDER).await;
    // Eleven hours more: the janitor ran hourly, the old row is not due yet. The live session
    // is used, so it stays live.
    s.clock.advance(SignedDuration::from_hours(11));
    assert!(signs_in(&s, &live).await, "the new session is live");
    assert!(
        app.store.get_session(&old_hash).await.unwrap().is_some(),
        "kept a week after it ended"
    );
    // Two hours more: the old session ended more than a week ago (12 h + 7 days).
    s.clock.advance(SignedDuration::from_hours(2));
    assert!(SignedDuration::from_hours(24 * 7 + 13) > KEEP_ENDED + IDLE_TIMEOUT);
    eventually("the old session's row to be deleted", || async {
        app.store.get_session(&old_hash).await.unwrap().is_none()
    })
    .await;
    let kept = app
        .store
        .get_session(&live.session.id_hash)
        .await
        .unwrap()
        .expect("the live session's row stays");
    assert!(kept.is_live(app.clock.now()));
    assert!(
        signs_in(&s, &live).await,
        "and it still signs its browser in"
    );
}

/// Opens `path` with `auth` (a header), returning the response whatever its status.
async fn open(
    s: &TestServer,
    http: &reqwest::Client,
    path: &str,
    auth: &(reqwest::header::HeaderName, String),
) -> reqwest::Response {
    http.get(format!("{}{path}", s.base))
        .header(auth.0.clone(), auth.1.clone())
        .send()
        .await
        .expect("the server answers")
}

fn is_stream(res: &reqwest::Response) -> bool {
    res.status() == 200 && res.headers()["content-type"] == "text/event-stream"
}

async fn assert_refused(res: reqwest::Response) {
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Close other Firebreak tabs"), "{detail}");
    assert!(detail.contains("20 live streams"), "{detail}");
}

#[tokio::test]
async fn one_session_or_token_holds_at_most_twenty_streams() {
    let s = spawn().await;
    let incident = s.declare("Checkout is down", "SEV3").await;
    let id = incident["id"].as_str().unwrap().to_string();
    let number = id.trim_start_matches("INC-").to_string();
    let http = common::client();
    let browser = sign_in(&s, RESPONDER).await;
    let cookie = (
        COOKIE,
        format!("firebreak_session={}", browser.id.expose_secret()),
    );

    // The pages' live streams and the API's, on one session, all count.
    let paths = [
        format!("/incidents/{number}/live"),
        "/alerts/live".to_string(),
        "/api/v1/events".to_string(),
        format!("/api/v1/incidents/{id}/events"),
    ];
    let mut streams = Vec::new();
    for i in 0..20 {
        let res = open(&s, &http, &paths[i % paths.len()], &cookie).await;
        assert!(is_stream(&res), "stream {i}: {}", res.status());
        streams.push(res);
    }
    for path in &paths {
        assert_refused(open(&s, &http, path, &cookie).await).await;
    }
    // A request that opens no stream is not limited.
    let page = open(&s, &http, &format!("/incidents/{number}"), &cookie).await;
    assert_eq!(page.status(), 200);

    // A token is a principal of its own, with its own 20.
    let token = (AUTHORIZATION, format!("Bearer {}", s.responder));
    let mut token_streams = Vec::new();
    for i in 0..20 {
        let res = open(&s, &http, "/api/v1/events", &token).await;
        assert!(is_stream(&res), "token stream {i}: {}", res.status());
        token_streams.push(res);
    }
    assert_refused(open(&s, &http, "/api/v1/events", &token).await).await;

    // Closing a tab frees its slot: the session may open one more, and only one.
    drop(streams.pop());
    let deadline = Instant::now() + Duration::from_secs(20);
    let reopened = loop {
        let res = open(&s, &http, &paths[0], &cookie).await;
        if is_stream(&res) {
            break res;
        }
        assert_eq!(res.status(), 429);
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_refused(open(&s, &http, &paths[1], &cookie).await).await;
    drop(reopened);
    drop(streams);
    drop(token_streams);
}
