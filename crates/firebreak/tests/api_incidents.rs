//! The incident lifecycle through the HTTP API, as a responder at 3 a.m. would drive it.

mod common;

use common::spawn;
use serde_json::json;

#[tokio::test]
async fn declare_assign_note_resolve() {
    let s = spawn().await;
    s.call(
        reqwest::Method::POST,
        "/api/v1/services",
        Some(&s.admin),
        Some(json!({"name": "checkout", "team": "payments"})),
    )
    .await
    .expect(201);

    let a = s
        .post("/api/v1/incidents", json!({"title": "Checkout returns 500", "severity": "SEV2", "services": ["checkout"], "summary": "Card payments fail"}))
        .await;
    let inc = a.expect(201).clone();
    assert_eq!(inc["id"], "INC-1");
    assert_eq!(inc["status"], "investigating");
    assert_eq!(inc["services"], json!(["checkout"]));
    assert_eq!(
        inc["roles"]["Incident Commander"],
        common::RESPONDER,
        "declarer becomes IC: {inc}"
    );
    assert_eq!(inc["checklist"].as_array().unwrap().len(), 7);
    assert_eq!(inc["declared_at"], "2026-11-23T03:00:00Z");
    assert_eq!(inc["acknowledged_at"], "2026-11-23T03:00:00Z");
    assert!(inc["resolved_at"].is_null());

    let second = s.declare("Search is slow", "SEV3").await;
    assert_eq!(second["id"], "INC-2");
    assert!(second["roles"].as_object().unwrap().is_empty());

    s.call(
        reqwest::Method::POST,
        "/api/v1/users",
        Some(&s.admin),
        Some(json!({"handle": "bob", "name": "Bob"})),
    )
    .await
    .expect(201);
    s.put(
        "/api/v1/incidents/INC-1/roles/comms-lead",
        json!({"user": "bob"}),
    )
    .await
    .expect(200);
    // A role in the path that is not configured is not there.
    s.put(
        "/api/v1/incidents/INC-1/roles/juggler",
        json!({"user": "bob"}),
    )
    .await
    .expect_problem(404);
    s.call(
        reqwest::Method::DELETE,
        "/api/v1/incidents/INC-1/roles/juggler",
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(404);
    s.post(
        "/api/v1/incidents/INC-1/notes",
        json!({"body": "Rolled back **v2.3.1**"}),
    )
    .await
    .expect(201);
    s.put("/api/v1/incidents/INC-1/checklist/2", json!({"done": true}))
        .await
        .expect(200);

    s.clock.advance(jiff::SignedDuration::from_mins(10));
    let m = s
        .patch("/api/v1/incidents/INC-1", json!({"status": "mitigated"}))
        .await;
    assert_eq!(m.expect(200)["mitigated_at"], "2026-11-23T03:10:00Z");
    s.clock.advance(jiff::SignedDuration::from_mins(5));
    let r = s
        .patch("/api/v1/incidents/INC-1", json!({"status": "resolved"}))
        .await;
    assert_eq!(r.expect(200)["resolved_at"], "2026-11-23T03:15:00Z");

    let t = s.get("/api/v1/incidents/INC-1/timeline").await;
    let items = t.expect(200)["items"].as_array().unwrap().clone();
    // The postmortem is drafted by a worker after the resolve commits, at its own pace.
    let kinds: Vec<&str> = items
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| *k != "postmortem_drafted")
        .collect();
    assert_eq!(
        kinds,
        [
            "declared",
            "role_assigned",
            // Firebreak ticks what it knows at declare: the severity, and the declarer is the
            // IC who acknowledged by declaring.
            "checklist_item_done",
            "checklist_item_done",
            "role_assigned",
            "note",
            "checklist_item_done",
            "status_changed",
            "status_changed"
        ]
    );
    for tick in &items[2..4] {
        assert_eq!(tick["actor"], "firebreak", "{tick}");
    }
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "ascending seq: {seqs:?}"
    );
    assert!(
        items[1]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("Incident Commander")
    );
    assert_eq!(items[5]["data"]["body"], "Rolled back **v2.3.1**");
    assert_eq!(items[5]["actor"], common::RESPONDER);
}

#[tokio::test]
async fn lifecycle_rules_are_enforced() {
    let s = spawn().await;
    s.declare("Disk full", "SEV2").await;
    let path = "/api/v1/incidents/INC-1";

    s.patch(path, json!({"status": "mitigated"}))
        .await
        .expect(200);
    let back = s.patch(path, json!({"status": "identified"})).await;
    assert!(
        back.expect_problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("cannot move back")
    );

    let before = s.get(path).await.body;
    let same = s.patch(path, json!({"status": "mitigated"})).await;
    assert_eq!(same.expect(200)["updated_at"], before["updated_at"]);

    let bad = s.patch(path, json!({"status": "fixed"})).await;
    assert_eq!(bad.expect_problem(422)["errors"][0]["field"], "status");

    s.patch(path, json!({"status": "resolved"}))
        .await
        .expect(200);
    s.patch(path, json!({"status": "mitigated"}))
        .await
        .expect_problem(409);
    let reopened = s.patch(path, json!({"status": "investigating"})).await;
    assert!(reopened.expect(200)["resolved_at"].is_null());
    let t = s.get("/api/v1/incidents/INC-1/timeline").await.body;
    // The postmortem drafted after the resolve may land at any point: it is a worker's.
    let last = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] != "postmortem_drafted")
        .unwrap();
    assert_eq!(last["kind"], "reopened");

    let sev = s
        .patch(
            path,
            json!({"severity": "SEV1", "reason": "all regions down"}),
        )
        .await;
    assert_eq!(sev.expect(200)["severity"], "SEV1");
    let t = s.get("/api/v1/incidents/INC-1/timeline").await.body;
    let last = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] != "postmortem_drafted")
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "severity_changed");
    assert_eq!(last["data"]["reason"], "all regions down");
}

#[tokio::test]
async fn bad_input_gets_a_clear_problem_and_changes_nothing() {
    let s = spawn().await;
    let malformed = s
        .http
        .post(format!("{}/api/v1/incidents", s.base))
        .bearer_auth(&s.responder)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );

    let missing = s
        .post("/api/v1/incidents", json!({"severity": "SEV2"}))
        .await;
    assert_eq!(missing.expect_problem(422)["errors"][0]["field"], "title");
    let sev = s
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "SEV9"}),
        )
        .await;
    assert_eq!(sev.expect_problem(422)["errors"][0]["field"], "severity");
    let svc = s
        .post(
            "/api/v1/incidents",
            json!({"title": "x", "severity": "SEV2", "services": ["nope"]}),
        )
        .await;
    assert_eq!(svc.expect_problem(422)["errors"][0]["field"], "services");
    let list = s.get("/api/v1/incidents").await;
    assert_eq!(list.expect(200)["items"], json!([]), "nothing was created");

    let big = "x".repeat(1024 * 1024 + 10);
    let too_big = s
        .post(
            "/api/v1/incidents",
            json!({"title": big, "severity": "SEV2"}),
        )
        .await;
    too_big.expect_problem(413);

    s.get("/api/v1/nothing-here").await.expect_problem(404);
    s.get("/api/v1/incidents/%FF").await.expect_problem(400);
    s.call(
        reqwest::Method::DELETE,
        "/api/v1/incidents",
        Some(&s.admin),
        None,
    )
    .await
    .expect_problem(405);
    s.get("/api/v1/incidents/INC-99").await.expect_problem(404);
    let viewer_write = s
        .call(
            reqwest::Method::PATCH,
            "/api/v1/incidents/INC-99",
            Some(&s.viewer),
            Some(json!({"title": "x"})),
        )
        .await;
    viewer_write.expect_problem(403);
    let no_token = s
        .call(reqwest::Method::GET, "/api/v1/incidents", None, None)
        .await;
    no_token.expect_problem(401);
    let bad_token = s
        .call(
            reqwest::Method::GET,
            "/api/v1/incidents",
            Some("fbt_0000"),
            None,
        )
        .await;
    bad_token.expect_problem(401);
}

#[tokio::test]
async fn lists_filter_and_paginate() {
    let s = spawn().await;
    for i in 0..7 {
        let sev = if i % 2 == 0 { "SEV2" } else { "SEV3" };
        s.declare(&format!("incident {i}"), sev).await;
    }
    s.post(
        "/api/v1/incidents",
        json!({"title": "game day", "severity": "SEV1", "drill": true}),
    )
    .await
    .expect(201);
    s.patch("/api/v1/incidents/INC-1", json!({"status": "resolved"}))
        .await
        .expect(200);

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = s
            .get(&format!("/api/v1/incidents?limit=3&cursor={cursor}"))
            .await
            .body;
        for i in page["items"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "INC-8", "INC-7", "INC-6", "INC-5", "INC-4", "INC-3", "INC-2", "INC-1"
        ]
    );

    let count = |q: &str| {
        let q = q.to_string();
        let s = &s;
        async move {
            s.get(&format!("/api/v1/incidents?{q}")).await.body["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("severity=SEV3").await, 3);
    assert_eq!(count("open=false").await, 1);
    assert_eq!(count("open=true").await, 7);
    assert_eq!(count("status=resolved").await, 1);
    assert_eq!(count("drill=true").await, 1);
    s.get("/api/v1/incidents?limit=0").await.expect_problem(422);
    assert_eq!(count("limit=500").await, 8);
    let too_many = s.get("/api/v1/incidents?limit=501").await;
    too_many.expect_problem(422);
    assert_eq!(
        too_many.body["errors"][0]["field"], "limit",
        "a bad parameter is named"
    );
    s.get("/api/v1/incidents?status=done")
        .await
        .expect_problem(422);
}

#[tokio::test]
async fn tokens_are_shown_once_and_revocable() {
    let s = spawn().await;
    let created = s
        .call(
            reqwest::Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "ci", "role": "responder"})),
        )
        .await;
    let body = created.expect(201).clone();
    let secret = body["token"].as_str().unwrap().to_string();
    assert!(secret.len() >= 64, "at least 256 bits of randomness");
    let list = s
        .call(reqwest::Method::GET, "/api/v1/tokens", Some(&s.admin), None)
        .await;
    assert!(
        !list.body.to_string().contains(&secret),
        "listing never shows a secret"
    );
    s.call(
        reqwest::Method::GET,
        "/api/v1/incidents",
        Some(&secret),
        None,
    )
    .await
    .expect(200);
    let id = body["id"].as_str().unwrap();
    s.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(&s.admin),
        None,
    )
    .await
    .expect(200);
    s.call(
        reqwest::Method::GET,
        "/api/v1/incidents",
        Some(&secret),
        None,
    )
    .await
    .expect_problem(401);

    let audit = s
        .call(reqwest::Method::GET, "/api/v1/audit", Some(&s.admin), None)
        .await;
    let actions: Vec<String> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"token.revoke".to_string())
            && actions.contains(&"token.create".to_string()),
        "{actions:?}"
    );
    let revoke = &audit.body["items"][0];
    assert_eq!(revoke["source"], "127.0.0.1");
    assert!(!audit.body.to_string().contains(&secret));
}

#[tokio::test]
async fn directory_lists_and_long_timelines_page_too() {
    let s = spawn().await;
    for name in ["search", "checkout", "payments"] {
        s.call(
            reqwest::Method::POST,
            "/api/v1/services",
            Some(&s.admin),
            Some(json!({"name": name})),
        )
        .await
        .expect(201);
    }
    let first = s.get("/api/v1/services?limit=2").await.body;
    let names: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["checkout", "payments"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = s
        .get(&format!("/api/v1/services?limit=2&cursor={cursor}"))
        .await
        .body;
    assert_eq!(second["items"][0]["name"], "search");
    assert!(second["next_cursor"].is_null());

    s.declare("chatty", "SEV3").await;
    for i in 0..55 {
        s.post(
            "/api/v1/incidents/INC-1/notes",
            json!({"body": format!("note {i}")}),
        )
        .await
        .expect(201);
    }
    let page = s.get("/api/v1/incidents/INC-1/timeline").await.body;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        50,
        "lists default to 50"
    );
    let next = page["next_cursor"].as_str().expect("more entries");
    let rest = s
        .get(&format!("/api/v1/incidents/INC-1/timeline?cursor={next}"))
        .await
        .body;
    assert_eq!(rest["items"].as_array().unwrap().len(), 6);
    assert_eq!(rest["items"][0]["seq"], 51);
}
