//! Tokens that belong to users: a token acts as its user and can do no more than they can now.
//! Demoting or disabling the user takes effect on their tokens at once on this instance; a
//! token with a lifetime stops working when it ends.

mod common;

use common::spawn;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_users_token_acts_as_them_and_follows_their_role() {
    let s = spawn().await;
    s.call(
        Method::POST,
        "/api/v1/users",
        Some(&s.admin),
        Some(json!({"handle": "alice", "name": "Alice", "role": "admin"})),
    )
    .await
    .expect(201);
    let created = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "alice-laptop", "role": "admin", "user": "alice"})),
        )
        .await
        .expect(201)
        .clone();
    let token = created["token"].as_str().unwrap().to_string();
    assert_eq!(created["user"], "alice");

    let me = s
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await
        .expect(200)
        .clone();
    assert_eq!(me["actor"], "alice");
    assert_eq!(me["role"], "admin");

    // Declaring a SEV1 makes the token's user the IC: a person, not a token.
    let inc = s
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(&token),
            Some(json!({"title": "Checkout down", "severity": "SEV1"})),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(inc["roles"]["Incident Commander"], "alice");

    // Demoted to viewer: the admin token can now only read, at once.
    s.call(
        Method::PATCH,
        "/api/v1/users/alice",
        Some(&s.admin),
        Some(json!({"role": "viewer"})),
    )
    .await
    .expect(200);
    let me = s
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await
        .expect(200)
        .clone();
    assert_eq!(me["role"], "viewer");
    s.call(
        Method::POST,
        "/api/v1/incidents",
        Some(&token),
        Some(json!({"title": "x", "severity": "SEV3"})),
    )
    .await
    .expect(403);

    // Disabled: the token stops working at once, and the user shows as disabled.
    let disabled = s
        .call(
            Method::PATCH,
            "/api/v1/users/alice",
            Some(&s.admin),
            Some(json!({"disabled": true})),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(disabled["disabled"], true);
    s.call(Method::GET, "/api/v1/me", Some(&token), None)
        .await
        .expect(401);
    s.call(
        Method::PATCH,
        "/api/v1/users/alice",
        Some(&s.admin),
        Some(json!({"disabled": false, "role": "responder"})),
    )
    .await
    .expect(200);
    let me = s
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await
        .expect(200)
        .clone();
    assert_eq!(me["role"], "responder", "capped by the user's role now");
}

#[tokio::test]
async fn tokens_for_unknown_or_lesser_users_are_refused_and_lifetimes_end() {
    let s = spawn().await;
    let unknown = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "t", "role": "viewer", "user": "nobody"})),
        )
        .await
        .expect(422)
        .clone();
    assert_eq!(unknown["errors"][0]["field"], "user");
    let above = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "t", "role": "admin", "user": common::VIEWER})),
        )
        .await
        .expect(422)
        .clone();
    assert_eq!(above["errors"][0]["field"], "role");

    let now = s.running.app.clock.now();
    let ends = now + SignedDuration::from_hours(24);
    let created = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "ci", "role": "responder", "expires_at": ends.to_string()})),
        )
        .await
        .expect(201)
        .clone();
    let token = created["token"].as_str().unwrap().to_string();
    assert_eq!(created["expires_at"], ends.to_string());
    s.call(Method::GET, "/api/v1/me", Some(&token), None)
        .await
        .expect(200);
    s.clock.advance(SignedDuration::from_hours(24));
    s.call(Method::GET, "/api/v1/me", Some(&token), None)
        .await
        .expect(401);

    let past = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "late", "role": "viewer", "expires_at": now.to_string()})),
        )
        .await
        .expect(422)
        .clone();
    assert_eq!(past["errors"][0]["field"], "expires_at");
}

#[tokio::test]
async fn a_role_is_held_by_a_known_user_and_a_token_without_one_leaves_the_ic_open() {
    let s = spawn().await;
    let machine = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "pager-bridge", "role": "responder"})),
        )
        .await
        .expect(201)
        .clone();
    let token = machine["token"].as_str().unwrap().to_string();
    let inc = s
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(&token),
            Some(json!({"title": "Payments failing", "severity": "SEV1"})),
        )
        .await
        .expect(201)
        .clone();
    assert!(inc["roles"].as_object().unwrap().is_empty());
    assert_eq!(inc["checklist"][0]["done"], false);
    let timeline = s
        .get("/api/v1/incidents/INC-1/timeline")
        .await
        .expect(200)
        .clone();
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"commander_needed"), "{kinds:?}");

    let refused = s
        .put(
            "/api/v1/incidents/INC-1/roles/incident-commander",
            json!({"user": "ghost"}),
        )
        .await
        .expect(422)
        .clone();
    assert_eq!(refused["errors"][0]["field"], "user");
    // Whatever `roles` shows can be written back.
    let assigned = s
        .put(
            "/api/v1/incidents/INC-1/roles/incident-commander",
            json!({"user": common::RESPONDER}),
        )
        .await
        .expect(200)
        .clone();
    let holder = assigned["roles"]["Incident Commander"]
        .as_str()
        .unwrap()
        .to_string();
    s.put(
        "/api/v1/incidents/INC-1/roles/scribe",
        json!({"user": holder}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_disabled() {
    let s = spawn().await;
    let refused = s
        .call(
            Method::PATCH,
            "/api/v1/users/admin",
            Some(&s.admin),
            Some(json!({"disabled": true})),
        )
        .await
        .expect(409)
        .clone();
    assert!(
        refused["detail"].as_str().unwrap().contains("last admin"),
        "{}",
        refused
    );
}

/// A token that stopped working says why to whoever holds it: it expired (and when), or its
/// user is disabled. A token that is unknown or revoked gets the same words as any other, so
/// nothing is told about tokens the caller does not hold.
async fn a_refused_token_says_why_to_its_holder(s: common::TestServer) {
    let refusal = |token: String| {
        let s = &s;
        async move {
            let a = s.call(Method::GET, "/api/v1/me", Some(&token), None).await;
            a.expect_problem(401)["detail"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let make = |body: serde_json::Value| {
        let s = &s;
        async move {
            let a = s
                .call(Method::POST, "/api/v1/tokens", Some(&s.admin), Some(body))
                .await;
            let created = a.expect(201);
            (
                created["id"].as_str().unwrap().to_string(),
                created["token"].as_str().unwrap().to_string(),
            )
        }
    };
    let generic = "the token is unknown or revoked; ask an admin for a new one";

    let ends = s.running.app.clock.now() + SignedDuration::from_hours(1);
    let (_, expiring) =
        make(json!({"name": "ci", "role": "responder", "expires_at": ends.to_string()})).await;
    s.clock.advance(SignedDuration::from_hours(2));
    assert_eq!(
        refusal(expiring).await,
        format!("the token expired at {ends}; ask an admin for a new one")
    );

    s.call(
        Method::POST,
        "/api/v1/users",
        Some(&s.admin),
        Some(json!({"handle": "dave", "name": "Dave", "role": "responder"})),
    )
    .await
    .expect(201);
    let (_, daves) =
        make(json!({"name": "dave-laptop", "role": "responder", "user": "dave"})).await;
    s.call(
        Method::PATCH,
        "/api/v1/users/dave",
        Some(&s.admin),
        Some(json!({"disabled": true})),
    )
    .await
    .expect(200);
    let said = refusal(daves).await;
    assert!(said.contains("acts as dave, who is disabled"), "{said}");
    assert!(said.contains("firebreak user enable dave"), "{said}");

    let (id, revoked) = make(json!({"name": "old", "role": "viewer"})).await;
    s.call(
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(&s.admin),
        None,
    )
    .await
    .expect(200);
    assert_eq!(refusal(revoked).await, generic);
    assert_eq!(refusal(format!("fbt_{}", "0".repeat(64))).await, generic);
    assert_eq!(refusal("nonsense".into()).await, generic);
}

#[tokio::test]
async fn a_refused_token_says_why_on_sqlite() {
    a_refused_token_says_why_to_its_holder(spawn().await).await;
}

#[tokio::test]
async fn a_refused_token_says_why_on_postgres() {
    let store = common::postgres_store("token_refusal").await;
    let dir = tempfile::tempdir().unwrap();
    let s = common::spawn_on(
        std::sync::Arc::new(store),
        firebreak_domain::Config::default(),
        dir,
    )
    .await;
    a_refused_token_says_why_to_its_holder(s).await;
}
