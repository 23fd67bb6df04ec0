//! Postmortems through the real server, on SQLite and PostgreSQL: resolving an incident drafts
//! its postmortem by itself (an outbox message the server's workers run); people edit it from
//! the version they read, sending back the whole body they got; a stale edit is refused and
//! changes nothing; the blameless-language check finds "human error" at the right character
//! offsets even after non-ASCII text; a dismissed finding stays gone; publishing with open
//! findings needs a confirmation; every version is kept; the Markdown export; and bad input
//! that changes nothing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use firebreak_domain::Config;
use reqwest::Method;
use serde_json::{Value, json};

async fn sqlite() -> TestServer {
    common::spawn_with(Config::default()).await
}

async fn postgres(prefix: &str) -> TestServer {
    let store = common::postgres_store(prefix).await;
    common::spawn_on(
        Arc::new(store),
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await
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

const PATH: &str = "/api/v1/incidents/INC-1/postmortem";

/// Text with characters of one, two and four bytes (and one outside the BMP, two UTF-16 units)
/// before the phrase, so offsets counted in bytes or UTF-16 units would be wrong.
const FACTORS: &str = "Während der Wartung 🔥 fiel der Cache aus (café, naïve).\n\nIt was human error. \
                       We should have caught this in review.";

/// Where `phrase` starts and ends in `text`, in characters.
fn char_span(text: &str, phrase: &str) -> (usize, usize) {
    let at = text.find(phrase).expect("the phrase is in the text");
    let start = text[..at].chars().count();
    (start, start + phrase.chars().count())
}

/// Declares an incident and resolves it.
async fn resolved_incident(s: &TestServer) -> String {
    let id = s.declare("Checkout returns 500s", "SEV2").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.post(
        &format!("/api/v1/incidents/{id}/notes"),
        json!({"body": "Rolled back v2.14.0; errors stopped."}),
    )
    .await
    .expect(201);
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    id
}

/// Reads the postmortem until the worker has drafted it (at most 20 s).
async fn drafted(s: &TestServer, id: &str) -> Value {
    let path = format!("/api/v1/incidents/{id}/postmortem");
    for _ in 0..400 {
        let a = s.call(Method::GET, &path, Some(&s.viewer), None).await;
        if a.status == 200 {
            return a.body;
        }
        a.expect_problem(404);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id}'s postmortem was not drafted within 20 s of resolving");
}

fn section<'a>(body: &'a Value, key: &str) -> &'a Value {
    body["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no section {key} in {body}"))
}

fn findings_of<'a>(body: &'a Value, rule: &str) -> Vec<&'a Value> {
    body["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

async fn resolving_drafts_the_postmortem(s: TestServer) {
    let id = resolved_incident(&s).await;
    assert_eq!(id, "INC-1");
    let body = drafted(&s, &id).await;
    assert_eq!(body["incident"], "INC-1");
    assert_eq!(body["incident_status"], "resolved");
    assert_eq!(body["status"], "draft");
    assert_eq!(body["version"], 1);
    assert_eq!(body["updated_by"], "firebreak");
    assert!(body["published_at"].is_null());
    assert!(body["created_at"].as_str().is_some());
    assert!(body["findings"].is_array() && body["prompts"].is_array());
    let sections = body["sections"].as_array().unwrap();
    let keys: Vec<&str> = sections
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    for key in [
        "summary",
        "impact",
        "timeline",
        "contributing_factors",
        "action_items",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    for s in sections {
        assert!(s["title"].as_str().is_some_and(|t| !t.is_empty()), "{s}");
        assert!(s["markdown"].is_string(), "{s}");
    }
    // The draft is made from the record: the note is on the drafted timeline.
    assert!(
        section(&body, "timeline")["markdown"]
            .as_str()
            .unwrap()
            .contains("Rolled back v2.14.0"),
        "{body}"
    );
    let timeline = s.timeline(&id).await;
    assert!(
        timeline.iter().any(|e| e["kind"] == "postmortem_drafted"),
        "{timeline:?}"
    );

    // Drafting again, by hand, is refused: it exists.
    let again = s.post(PATH, json!({})).await;
    let p = again.expect_problem(409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("already has a postmortem"),
        "{p}"
    );
    assert_eq!(s.get(PATH).await.expect(200)["version"], 1);
}

on_both_stores!(
    resolving_drafts_the_postmortem,
    resolving_an_incident_drafts_its_postmortem_sqlite,
    resolving_an_incident_drafts_its_postmortem_postgres,
    "pm_draft"
);

async fn drafting_on_demand(s: TestServer) {
    // An open incident has none until someone asks.
    s.declare("Search is slow", "SEV3").await;
    let none = s.get(PATH).await;
    assert!(
        none.expect_problem(404)["detail"]
            .as_str()
            .unwrap()
            .contains("POST /api/v1/incidents/INC-1/postmortem"),
        "{}",
        none.body
    );
    // A viewer may not draft one.
    s.call(Method::POST, PATH, Some(&s.viewer), None)
        .await
        .expect_problem(403);
    // With no body at all.
    let made = s.call(Method::POST, PATH, Some(&s.responder), None).await;
    let body = made.expect(201);
    assert_eq!(body["version"], 1);
    assert_eq!(body["incident_status"], "investigating");
    assert_eq!(body["updated_by"], common::RESPONDER);
    s.post(PATH, json!({})).await.expect_problem(409);
    s.post("/api/v1/incidents/INC-99/postmortem", json!({}))
        .await
        .expect_problem(404);
    // A body is refused: this takes none.
    s.post(PATH, json!({"title": "x"}))
        .await
        .expect_problem(422);
}

on_both_stores!(
    drafting_on_demand,
    a_postmortem_is_drafted_on_demand_once_sqlite,
    a_postmortem_is_drafted_on_demand_once_postgres,
    "pm_demand"
);

async fn editing_checking_and_publishing(s: TestServer) {
    let id = resolved_incident(&s).await;
    let read = drafted(&s, &id).await;

    // The client changes one section of what it read and sends the whole body back, read-only
    // fields and all.
    let mut edit = read.clone();
    for sec in edit["sections"].as_array_mut().unwrap() {
        if sec["key"] == "contributing_factors" {
            sec["markdown"] = json!(FACTORS);
        }
    }
    let saved = s.put(PATH, edit.clone()).await;
    let saved = saved.expect(200).clone();
    assert_eq!(saved["version"], 2);
    assert_eq!(saved["updated_by"], common::RESPONDER);
    assert_eq!(section(&saved, "contributing_factors")["markdown"], FACTORS);
    for sec in read["sections"].as_array().unwrap() {
        if sec["key"] != "contributing_factors" {
            assert_eq!(section(&saved, sec["key"].as_str().unwrap()), sec);
        }
    }
    let timeline = s.timeline(&id).await;
    assert!(
        timeline.iter().any(|e| e["kind"] == "postmortem_edited"),
        "{timeline:?}"
    );

    // An edit from the old version is refused, says what to do, and changes nothing.
    let mut stale = read.clone();
    stale["sections"] = json!([{"key": "summary", "markdown": "Overwritten"}]);
    let refused = s.put(PATH, stale).await;
    let p = refused.expect_problem(409);
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("version 2") && detail.contains("read it again"),
        "{p}"
    );
    let now = s.get(PATH).await.expect(200).clone();
    assert_eq!(now["version"], 2);
    assert_eq!(now["sections"], saved["sections"]);

    // The check finds "human error" where it is, counted in characters.
    let (start, end) = char_span(FACTORS, "human error");
    for body in [None, Some(json!({}))] {
        let checked = s
            .call(
                Method::POST,
                &format!("{PATH}/check"),
                Some(&s.viewer),
                body,
            )
            .await;
        let checked = checked.expect(200);
        let human = findings_of(checked, "human-error");
        assert_eq!(human.len(), 1, "{checked}");
        let f = human[0];
        assert_eq!(f["section"], "contributing_factors");
        assert_eq!(f["start"], start, "{f}");
        assert_eq!(f["end"], end, "{f}");
        assert_eq!(f["text"], "human error");
        assert_eq!(f["key"], "human-error:human error");
        assert!(f["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(f["suggestion"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!(findings_of(checked, "should-have").len(), 1, "{checked}");
    }
    assert_eq!(findings_of(&saved, "human-error").len(), 1, "{saved}");

    // Unsaved text is checked in place of the saved section, and nothing is saved.
    let unsaved = s
        .call(
            Method::POST,
            &format!("{PATH}/check"),
            Some(&s.viewer),
            Some(json!({"sections": [{"key": "contributing_factors", "markdown": "The deploy had no canary stage."}]})),
        )
        .await;
    let unsaved = unsaved.expect(200);
    assert!(
        unsaved["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["section"] != "contributing_factors"),
        "{unsaved}"
    );
    assert_eq!(s.get(PATH).await.expect(200)["version"], 2);

    // Dismissed with a reason, a finding is gone from the check and the body.
    let dismissed = s
        .post(
            &format!("{PATH}/dismiss"),
            json!({"key": "human-error:human error", "reason": "Quoting the customer's report"}),
        )
        .await;
    let dismissed = dismissed.expect(200).clone();
    assert!(
        findings_of(&dismissed, "human-error").is_empty(),
        "{dismissed}"
    );
    assert_eq!(dismissed["dismissed"][0]["key"], "human-error:human error");
    assert_eq!(dismissed["dismissed"][0]["by"], common::RESPONDER);
    let checked = s
        .call(
            Method::POST,
            &format!("{PATH}/check"),
            Some(&s.viewer),
            None,
        )
        .await;
    assert!(findings_of(checked.expect(200), "human-error").is_empty());
    s.post(
        &format!("{PATH}/dismiss"),
        json!({"key": "human-error:human error", "reason": "again"}),
    )
    .await
    .expect_problem(404);

    // "should have" is still open: publishing needs a confirmation, and the refusal names it.
    let blocked = s.post(&format!("{PATH}/publish"), json!({})).await;
    let p = blocked.expect_problem(409);
    assert!(p["detail"].as_str().unwrap().contains("should have"), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("confirm"), "{p}");
    let still = s.get(PATH).await.expect(200).clone();
    assert_eq!(still["status"], "draft");
    assert_eq!(still["version"], dismissed["version"]);

    // Publishing from a version someone has saved over is refused, and publishes nothing.
    let current = still["version"].as_i64().unwrap();
    let stale = s
        .post(
            &format!("{PATH}/publish"),
            json!({"confirm": true, "version": current - 1}),
        )
        .await;
    let p = stale.expect_problem(409);
    assert!(
        p["detail"].as_str().unwrap().contains("read it again"),
        "{p}"
    );
    assert_eq!(s.get(PATH).await.expect(200)["status"], "draft");

    let published = s
        .post(
            &format!("{PATH}/publish"),
            json!({"confirm": true, "version": current}),
        )
        .await;
    let published = published.expect(200).clone();
    assert_eq!(published["status"], "published");
    assert!(published["published_at"].is_string());
    // Publishing reviews the incident; it does not change it.
    assert_eq!(published["incident_status"], "resolved");
    assert_eq!(
        s.get(&format!("/api/v1/incidents/{id}")).await.expect(200)["status"],
        "resolved"
    );
    s.post(&format!("{PATH}/publish"), json!({"confirm": true}))
        .await
        .expect_problem(409);
    // A published postmortem is edited only after moving it back to draft.
    let mut edit = published.clone();
    edit["sections"] = json!([{"key": "summary", "markdown": "Changed after publishing"}]);
    s.put(PATH, edit.clone()).await.expect_problem(409);
    assert_eq!(s.get(PATH).await.expect(200)["status"], "published");

    // Every saved version, oldest first.
    let revisions = s.get(&format!("{PATH}/revisions")).await;
    let items = revisions.expect(200)["items"].as_array().unwrap().clone();
    let versions: Vec<i64> = items
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    let last = published["version"].as_i64().unwrap();
    assert_eq!(versions, (1..=last).collect::<Vec<_>>(), "{items:?}");
    assert_eq!(items[0]["status"], "draft");
    assert_eq!(items[0]["actor"], "firebreak");
    assert_eq!(
        section(&items[1], "contributing_factors")["markdown"],
        FACTORS
    );
    assert_eq!(items.last().unwrap()["status"], "published");

    // The whole document as Markdown.
    let md = s
        .http
        .get(format!("{}/api/v1/incidents/{id}/postmortem.md", s.base))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(md.status(), 200);
    assert_eq!(
        md.headers()["content-type"].to_str().unwrap(),
        "text/markdown; charset=utf-8"
    );
    assert_eq!(
        md.headers()["content-disposition"].to_str().unwrap(),
        "inline; filename=\"INC-1-postmortem.md\""
    );
    let text = md.text().await.unwrap();
    assert!(text.starts_with("# "), "{text}");
    assert!(text.lines().next().unwrap().contains("INC-1"), "{text}");
    assert!(text.contains("Checkout returns 500s"), "{text}");
    for sec in published["sections"].as_array().unwrap() {
        let heading = format!("## {}", sec["title"].as_str().unwrap());
        assert!(text.contains(&heading), "{heading} missing from {text}");
    }
    assert!(text.contains(FACTORS), "{text}");
    let missing = s
        .call(
            Method::GET,
            "/api/v1/incidents/INC-99/postmortem.md",
            Some(&s.viewer),
            None,
        )
        .await;
    missing.expect_problem(404);
}

on_both_stores!(
    editing_checking_and_publishing,
    a_postmortem_is_edited_checked_and_published_sqlite,
    a_postmortem_is_edited_checked_and_published_postgres,
    "pm_edit"
);

async fn bad_input_changes_nothing(s: TestServer) {
    s.declare("Search is slow", "SEV3").await;
    s.post(PATH, json!({})).await.expect(201);
    let before = s.get(PATH).await.expect(200).clone();
    let field_of = |p: &Value| p["errors"][0]["field"].as_str().unwrap_or("").to_string();

    let unknown = s
        .put(
            PATH,
            json!({"version": 1, "sections": [{"key": "lessons", "markdown": "x"}]}),
        )
        .await;
    assert_eq!(field_of(unknown.expect_problem(422)), "sections[0].key");

    let huge = "a".repeat(50_001);
    let too_long = s
        .put(
            PATH,
            json!({"version": 1, "sections": [{"key": "summary", "markdown": huge}]}),
        )
        .await;
    let p = too_long.expect_problem(422);
    assert_eq!(field_of(p), "sections[0].markdown");
    assert!(p["detail"].as_str().unwrap().contains("50000"), "{p}");

    for version in [json!("1"), json!(0), json!(1.5), json!(null)] {
        let bad = s
            .put(PATH, json!({"version": version, "sections": []}))
            .await;
        assert_eq!(field_of(bad.expect_problem(422)), "version", "{version}");
    }
    let missing = s.put(PATH, json!({"sections": []})).await;
    assert_eq!(field_of(missing.expect_problem(422)), "version");
    let bad_status = s.put(PATH, json!({"version": 1, "status": "final"})).await;
    assert_eq!(field_of(bad_status.expect_problem(422)), "status");
    // Publishing goes through its own route, which checks the findings.
    let publish = s
        .put(PATH, json!({"version": 1, "status": "published"}))
        .await;
    assert!(
        publish.expect_problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("/publish")
    );
    s.put(PATH, "not json".into()).await.expect_problem(422);
    s.call(
        Method::PUT,
        PATH,
        Some(&s.viewer),
        Some(json!({"version": 1})),
    )
    .await
    .expect_problem(403);
    s.put(
        "/api/v1/incidents/INC-99/postmortem",
        json!({"version": 1, "sections": []}),
    )
    .await
    .expect_problem(404);
    s.get("/api/v1/incidents/INC-99/postmortem")
        .await
        .expect_problem(404);
    s.get("/api/v1/incidents/nope/postmortem")
        .await
        .expect_problem(404);
    s.get("/api/v1/incidents/INC-99/postmortem/revisions")
        .await
        .expect_problem(404);

    let check = format!("{PATH}/check");
    let raw = s
        .http
        .post(format!("{}{check}", s.base))
        .bearer_auth(&s.viewer)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let extra = s.post(&check, json!({"text": "x"})).await;
    extra.expect_problem(422);
    let bad_key = s
        .post(
            &check,
            json!({"sections": [{"key": "nope", "markdown": "x"}]}),
        )
        .await;
    assert_eq!(field_of(bad_key.expect_problem(422)), "sections[0].key");
    s.post("/api/v1/incidents/INC-99/postmortem/check", json!({}))
        .await
        .expect_problem(404);

    let dismiss = format!("{PATH}/dismiss");
    let blank = s
        .post(
            &dismiss,
            json!({"key": "human-error:human error", "reason": " "}),
        )
        .await;
    assert_eq!(field_of(blank.expect_problem(422)), "reason");
    s.post(
        &dismiss,
        json!({"key": "human-error:human error", "reason": "fine"}),
    )
    .await
    .expect_problem(404);
    s.post(&format!("{PATH}/publish"), json!({"confirm": "yes"}))
        .await
        .expect_problem(422);

    // A body over the 8 MB limit is refused from its declared length, before any of it is
    // read. The request is written by hand and sends no body: a client still writing 9 MB
    // when the server answers and closes can lose the answer to the connection's reset.
    let (status, answer) = declare_oversized_put(&s.base, &s.responder, PATH).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("8 MB limit"), "{answer}");

    // None of it changed the postmortem or saved a version.
    let after = s.get(PATH).await.expect(200).clone();
    assert_eq!(after, before);
    let revisions = s.get(&format!("{PATH}/revisions")).await;
    assert_eq!(revisions.expect(200)["items"].as_array().unwrap().len(), 1);

    // Every section at its longest is saved whole, though the body is over the API's usual
    // 1 MB (50,000 characters of four bytes each, eight times).
    let longest = "😀".repeat(50_000);
    let all: Vec<Value> = before["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({"key": s["key"], "title": s["title"], "markdown": longest}))
        .collect();
    let body = json!({"version": 1, "sections": all});
    assert!(serde_json::to_vec(&body).unwrap().len() > 1024 * 1024);
    let saved = s.put(PATH, body).await;
    let saved = saved.expect(200);
    for sec in saved["sections"].as_array().unwrap() {
        assert_eq!(sec["markdown"], longest.as_str());
    }
}

on_both_stores!(
    bad_input_changes_nothing,
    bad_postmortem_input_is_refused_and_changes_nothing_sqlite,
    bad_postmortem_input_is_refused_and_changes_nothing_postgres,
    "pm_bad"
);

/// Sends the headers of a PUT that declares a 9 MB body, and returns the status and the whole
/// answer.
async fn declare_oversized_put(base: &str, token: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        9 * 1024 * 1024
    );
    conn.write_all(head.as_bytes()).await.expect("write head");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("the server answers without waiting for the body")
            .expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.ends_with(b"}") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    (status, text)
}

/// The incident keeps its lifecycle status and shows its postmortem's status beside it, in
/// `GET /api/v1/incidents/{id}`, the list (one read for the page) and `firebreak incident
/// show`; moving a published postmortem back to draft clears `published_at`.
async fn postmortem_status_beside_the_incident(s: TestServer) {
    s.declare("Checkout returns 500s", "SEV2").await;
    s.declare("Search is slow", "SEV3").await;
    let shown = s.get("/api/v1/incidents/INC-1").await;
    let shown = shown.expect(200);
    assert!(shown["postmortem_status"].is_null(), "{shown}");
    assert!(
        shown.as_object().unwrap().contains_key("postmortem_status"),
        "{shown}"
    );

    // Resolving drafts it (the worker's draft is awaited, so nothing changes it later).
    s.patch("/api/v1/incidents/INC-1", json!({"status": "resolved"}))
        .await
        .expect(200);
    drafted(&s, "INC-1").await;
    let statuses = |list: &Value| -> Vec<(String, Value)> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_string(),
                    i["postmortem_status"].clone(),
                )
            })
            .collect()
    };
    let list = s.get("/api/v1/incidents").await.expect(200).clone();
    let mut seen = statuses(&list);
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        vec![
            ("INC-1".to_string(), json!("draft")),
            ("INC-2".to_string(), Value::Null)
        ]
    );
    let one = s.get("/api/v1/incidents/INC-1").await.expect(200).clone();
    assert_eq!(one["status"], "resolved");
    assert_eq!(one["postmortem_status"], "draft");

    // The CLI's details table shows it.
    let o = s.cli(&s.viewer, &["incident", "show", "INC-1"]).await;
    let out = common::printed(&o);
    assert!(o.status.success(), "{out}");
    let row = out
        .lines()
        .find(|l| l.contains("postmortem"))
        .unwrap_or_else(|| panic!("no postmortem row in {out}"));
    assert!(row.contains("draft"), "{row}");

    // In review, published, and back to draft.
    let mut body = s.get(PATH).await.expect(200).clone();
    body["status"] = json!("in_review");
    s.put(PATH, body).await.expect(200);
    assert_eq!(
        s.get("/api/v1/incidents/INC-1").await.expect(200)["postmortem_status"],
        "in_review"
    );
    let published = s
        .post(&format!("{PATH}/publish"), json!({"confirm": true}))
        .await
        .expect(200)
        .clone();
    assert!(published["published_at"].is_string(), "{published}");
    let incident = s.get("/api/v1/incidents/INC-1").await.expect(200).clone();
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["postmortem_status"], "published");

    let mut back = published.clone();
    back["status"] = json!("draft");
    let back = s.put(PATH, back).await.expect(200).clone();
    assert_eq!(back["status"], "draft");
    assert!(back["published_at"].is_null(), "{back}");
    assert!(s.get(PATH).await.expect(200)["published_at"].is_null());
    let list = s.get("/api/v1/incidents?limit=1").await.expect(200).clone();
    assert_eq!(statuses(&list), vec![("INC-2".to_string(), Value::Null)]);
    let list = s
        .get(&format!(
            "/api/v1/incidents?limit=1&cursor={}",
            list["next_cursor"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(statuses(&list), vec![("INC-1".to_string(), json!("draft"))]);
}

on_both_stores!(
    postmortem_status_beside_the_incident,
    the_incident_shows_its_postmortem_status_sqlite,
    the_incident_shows_its_postmortem_status_postgres,
    "pm_status"
);

/// Reads the postmortem until `ready` holds (at most 20 s): the workers refresh it after the
/// incident's change commits.
async fn postmortem_when(s: &TestServer, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        last = s.get(PATH).await.expect(200).clone();
        if ready(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the postmortem did not get there within 20 s: {last}");
}

fn markdown_of(body: &Value, key: &str) -> String {
    section(body, key)["markdown"].as_str().unwrap().to_string()
}

/// A postmortem drafted while the incident is open gets the facts Firebreak filled in
/// refreshed when it is mitigated and resolved (a version by `firebreak`), and what people
/// wrote is never overwritten; a refresh on demand changes only what is stale; a published
/// postmortem is left alone.
async fn early_drafts_are_refreshed(s: TestServer) {
    s.declare("Checkout returns 500s", "SEV2").await;
    let drafted = s
        .call(Method::POST, PATH, Some(&s.responder), None)
        .await
        .expect(201)
        .clone();
    let impact = markdown_of(&drafted, "impact");
    assert!(impact.contains("**Mitigated:** not recorded"), "{impact}");
    assert!(impact.contains("**Resolved:** not recorded"), "{impact}");
    assert!(markdown_of(&drafted, "summary").contains("still open"));

    // Someone writes the summary while the incident is still open.
    let mine = "The cache cluster lost a node and checkout fell back to the database.";
    let mut edit = drafted.clone();
    edit["sections"] = json!([{"key": "summary", "markdown": mine}]);
    let edited = s.put(PATH, edit).await.expect(200).clone();
    assert_eq!(edited["version"], 2);

    s.clock.advance(jiff::SignedDuration::from_mins(20));
    s.patch("/api/v1/incidents/INC-1", json!({"status": "mitigated"}))
        .await
        .expect(200);
    let mitigated = postmortem_when(&s, |p| {
        !markdown_of(p, "impact").contains("**Mitigated:** not recorded")
    })
    .await;
    assert_eq!(mitigated["version"], 3);
    assert_eq!(mitigated["updated_by"], "firebreak");
    assert!(
        markdown_of(&mitigated, "impact").contains("20 min after detection"),
        "{mitigated}"
    );
    assert!(markdown_of(&mitigated, "impact").contains("**Resolved:** not recorded"));
    assert_eq!(markdown_of(&mitigated, "summary"), mine);

    s.clock.advance(jiff::SignedDuration::from_mins(40));
    s.patch("/api/v1/incidents/INC-1", json!({"status": "resolved"}))
        .await
        .expect(200);
    let resolved = postmortem_when(&s, |p| {
        !markdown_of(p, "impact").contains("**Resolved:** not recorded")
    })
    .await;
    assert_eq!(resolved["version"], 4);
    assert_eq!(resolved["status"], "draft");
    assert_eq!(markdown_of(&resolved, "summary"), mine);
    let impact = markdown_of(&resolved, "impact");
    assert!(impact.contains("1 h after detection"), "{impact}");
    let timeline = markdown_of(&resolved, "timeline");
    for moment in ["Mitigated", "Resolved"] {
        assert!(
            timeline
                .lines()
                .any(|l| l.contains(&format!("**{moment}**"))),
            "no {moment} row in {timeline}"
        );
    }

    // Every version kept; the refreshes are Firebreak's, and on the timeline.
    let revisions = s
        .get(&format!("{PATH}/revisions"))
        .await
        .expect(200)
        .clone();
    let actors: Vec<&str> = revisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors,
        [
            common::RESPONDER,
            common::RESPONDER,
            "firebreak",
            "firebreak"
        ]
    );
    let refreshed: Vec<Value> = s
        .timeline("INC-1")
        .await
        .into_iter()
        .filter(|e| e["kind"] == "postmortem_edited" && e["actor"] == "firebreak")
        .collect();
    assert_eq!(refreshed.len(), 2, "{refreshed:?}");
    assert!(
        refreshed[1]["data"]["sections"]
            .as_array()
            .unwrap()
            .contains(&json!("Impact")),
        "{refreshed:?}"
    );

    // Drafting again is refused, and says how to refresh; a refresh with nothing stale
    // makes no version.
    let again = s.call(Method::POST, PATH, Some(&s.responder), None).await;
    assert!(
        again.expect_problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("/postmortem/refresh"),
        "{}",
        again.body
    );
    let same = s
        .call(
            Method::POST,
            &format!("{PATH}/refresh"),
            Some(&s.responder),
            None,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(same["version"], 4);
    s.call(
        Method::POST,
        &format!("{PATH}/refresh"),
        Some(&s.viewer),
        None,
    )
    .await
    .expect_problem(403);
    let o = s
        .cli(&s.responder, &["postmortem", "draft", "INC-1", "--refresh"])
        .await;
    let out = common::printed(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Nothing to refresh"), "{out}");

    // A published postmortem is not refreshed.
    s.post(&format!("{PATH}/publish"), json!({"confirm": true}))
        .await
        .expect(200);
    s.call(
        Method::POST,
        &format!("{PATH}/refresh"),
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(409);
    s.call(
        Method::POST,
        "/api/v1/incidents/INC-9/postmortem/refresh",
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(404);
}

on_both_stores!(
    early_drafts_are_refreshed,
    an_early_draft_is_refreshed_without_losing_edits_sqlite,
    an_early_draft_is_refreshed_without_losing_edits_postgres,
    "pm_refresh"
);

/// An incident declared by hand with the time the problem was first noticed: the drafted
/// timeline says where its detection came from, not "the first alert started".
async fn detection_names_its_source(s: TestServer) {
    // The test clock stands at 03:00; noticed at 02:40.
    s.post(
        "/api/v1/incidents",
        json!({"title": "Checkout is slow", "severity": "SEV3",
               "detected_at": "2026-11-23T02:40:00Z"}),
    )
    .await
    .expect(201);
    let drafted = s
        .call(Method::POST, PATH, Some(&s.responder), None)
        .await
        .expect(201)
        .clone();
    let timeline = markdown_of(&drafted, "timeline");
    let row = timeline
        .lines()
        .find(|l| l.contains("**Detected**"))
        .unwrap_or_else(|| panic!("no Detected row in {timeline}"));
    assert!(
        row.contains("first noticed (the time given when declaring)"),
        "{row}"
    );
    assert!(!timeline.contains("the first alert started"), "{timeline}");
}

on_both_stores!(
    detection_names_its_source,
    a_declared_detection_is_labelled_as_given_sqlite,
    a_declared_detection_is_labelled_as_given_postgres,
    "pm_detected"
);
