//! Action items through the real server, on SQLite and PostgreSQL: added from an incident (and
//! on its timeline) or on their own, listed soonest due first and filtered by owner, status,
//! incident and overdue (on the manual clock: a day ends at midnight UTC), closed as done, or
//! as won't do with a reason; a change from a stale version is refused; and bad input names its
//! field and changes nothing.

mod common;

use std::sync::Arc;

use common::TestServer;
use firebreak_domain::Config;
use jiff::SignedDuration;
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

const ITEMS: &str = "/api/v1/action-items";

fn ids(list: &Value) -> Vec<i64> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

/// The list with `query`, read by a viewer.
async fn list(s: &TestServer, query: &str) -> common::Answer {
    s.call(
        Method::GET,
        &format!("{ITEMS}?{query}"),
        Some(&s.viewer),
        None,
    )
    .await
}

async fn listed(s: &TestServer, query: &str) -> Vec<i64> {
    ids(list(s, query).await.expect(200))
}

fn field_of(p: &Value) -> String {
    p["errors"][0]["field"].as_str().unwrap_or("").to_string()
}

async fn items_are_chased_until_closed(s: TestServer) {
    // The manual clock starts at 2026-11-23T03:00:00Z.
    s.declare("Checkout returns 500s", "SEV2").await;
    let canary = s
        .post(
            ITEMS,
            json!({
                "title": "  Add a canary stage to the deploy pipeline ",
                "owner": common::RESPONDER,
                "due": "2026-11-30",
                "ticket_url": "https://tracker.example.com/OPS-42",
                "incident": "INC-1",
            }),
        )
        .await;
    let canary = canary.expect(201).clone();
    assert_eq!(canary["title"], "Add a canary stage to the deploy pipeline");
    assert_eq!(canary["incident"], "INC-1");
    assert_eq!(canary["owner"], common::RESPONDER);
    assert_eq!(canary["due"], "2026-11-30");
    assert_eq!(canary["ticket_url"], "https://tracker.example.com/OPS-42");
    assert_eq!(canary["status"], "open");
    assert_eq!(canary["overdue"], false);
    assert_eq!(canary["version"], 1);
    assert_eq!(canary["created_by"], common::RESPONDER);
    assert!(canary["reason"].is_null() && canary["closed_at"].is_null());
    let canary_id = canary["id"].as_i64().unwrap();

    // The incident's timeline shows the item added.
    let timeline = s.timeline("INC-1").await;
    let added = timeline
        .iter()
        .find(|e| e["kind"] == "action_item_added")
        .unwrap_or_else(|| panic!("no action_item_added in {timeline:?}"));
    assert_eq!(added["data"]["item"], canary_id);
    assert_eq!(added["actor"], common::RESPONDER);

    // Due today is fine; an item needs no incident.
    let runbook = s
        .post(
            ITEMS,
            json!({"title": "Write the cache runbook", "owner": common::VIEWER, "due": "2026-11-23"}),
        )
        .await;
    let runbook_id = runbook.expect(201)["id"].as_i64().unwrap();
    let alerts = s
        .post(
            ITEMS,
            json!({"title": "Alert on error budget burn", "owner": common::RESPONDER, "due": "2026-12-10", "incident": "1"}),
        )
        .await;
    let alerts_id = alerts.expect(201)["id"].as_i64().unwrap();

    // Bad input names its field and adds nothing.
    let bad = [
        (
            json!({"title": "x", "owner": "nobody", "due": "2026-12-01"}),
            "owner",
        ),
        (
            json!({"title": "x", "owner": "Not A Handle", "due": "2026-12-01"}),
            "owner",
        ),
        (
            json!({"title": "x", "owner": common::RESPONDER, "due": "2026-11-22"}),
            "due",
        ),
        (
            json!({"title": "x", "owner": common::RESPONDER, "due": "2026-02-30"}),
            "due",
        ),
        (
            json!({"title": "x", "owner": common::RESPONDER, "due": "30/11/2026"}),
            "due",
        ),
        (
            json!({"title": " ", "owner": common::RESPONDER, "due": "2026-12-01"}),
            "title",
        ),
        (
            json!({"title": "a\nb", "owner": common::RESPONDER, "due": "2026-12-01"}),
            "title",
        ),
        (
            json!({"title": "x", "owner": common::RESPONDER, "due": "2026-12-01", "incident": "INC-99"}),
            "incident",
        ),
        (
            json!({"title": "x", "owner": common::RESPONDER, "due": "2026-12-01", "ticket_url": "ftp://x/1"}),
            "ticket_url",
        ),
        (
            json!({"title": "x", "owner": common::RESPONDER, "due": "2026-12-01", "colour": "red"}),
            "colour",
        ),
        (
            json!({"owner": common::RESPONDER, "due": "2026-12-01"}),
            "title",
        ),
    ];
    for (body, field) in bad {
        let a = s.post(ITEMS, body.clone()).await;
        let p = a.expect_problem(422);
        assert!(
            field_of(p).starts_with(field) || p["detail"].as_str().unwrap().contains(field),
            "{body}: {p}"
        );
    }
    s.call(
        Method::POST,
        ITEMS,
        Some(&s.viewer),
        Some(json!({"title": "x", "owner": common::VIEWER, "due": "2026-12-01"})),
    )
    .await
    .expect_problem(403);

    // Soonest due first, and filtered.
    assert_eq!(listed(&s, "").await, vec![runbook_id, canary_id, alerts_id]);
    assert_eq!(
        listed(&s, &format!("owner={}", common::VIEWER)).await,
        vec![runbook_id]
    );
    assert_eq!(
        listed(&s, "incident=INC-1").await,
        vec![canary_id, alerts_id]
    );
    assert_eq!(
        listed(&s, "status=open").await,
        vec![runbook_id, canary_id, alerts_id]
    );
    assert!(listed(&s, "status=done").await.is_empty());
    assert!(listed(&s, "overdue=true").await.is_empty());
    assert_eq!(listed(&s, "overdue=false").await.len(), 3);
    // Pages of one.
    let first = s.get(&format!("{ITEMS}?limit=1")).await;
    let first = first.expect(200).clone();
    assert_eq!(ids(&first), vec![runbook_id]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    assert_eq!(
        listed(&s, &format!("limit=1&cursor={cursor}")).await,
        vec![canary_id]
    );
    for (query, param) in [
        ("status=closed", "status"),
        ("overdue=maybe", "overdue"),
        ("incident=x7", "incident"),
        ("limit=0", "limit"),
        ("owner=A%20B", "owner"),
    ] {
        let a = list(&s, query).await;
        assert_eq!(field_of(a.expect_problem(422)), param, "{query}");
    }

    // A change from the version read applies; one from a stale version is refused, says what
    // to do, and changes nothing. (A reminder that an item is overdue is no edit: it leaves
    // the version alone; the store's contract checks that.)
    let path = format!("{ITEMS}/{alerts_id}");
    let renamed = s
        .patch(&path, json!({"title": "Alert on burn rate", "version": 1}))
        .await;
    let renamed = renamed.expect(200).clone();
    assert_eq!(renamed["title"], "Alert on burn rate");
    assert_eq!(renamed["version"], 2);
    let stale = s
        .patch(&path, json!({"title": "Something else", "version": 1}))
        .await;
    let p = stale.expect_problem(409);
    assert!(
        p["detail"].as_str().unwrap().contains("read it again"),
        "{p}"
    );
    assert_eq!(s.get(&path).await.expect(200), &renamed);

    // A day later the runbook item is overdue (due yesterday, UTC); eight days later so is
    // the canary.
    s.clock.advance(SignedDuration::from_hours(20));
    assert!(
        listed(&s, "overdue=true").await.is_empty(),
        "not before midnight UTC"
    );
    s.clock.advance(SignedDuration::from_hours(1));
    assert_eq!(listed(&s, "overdue=true").await, vec![runbook_id]);
    s.clock.advance(SignedDuration::from_hours(24 * 7));
    assert_eq!(
        listed(&s, "overdue=true").await,
        vec![runbook_id, canary_id]
    );
    assert_eq!(
        listed(&s, &format!("overdue=true&owner={}", common::RESPONDER)).await,
        vec![canary_id]
    );
    let shown = s.get(&format!("{ITEMS}/{canary_id}")).await;
    assert_eq!(shown.expect(200)["overdue"], true);

    // Done: no longer overdue, and on the incident's timeline.
    let done = s
        .patch(&format!("{ITEMS}/{canary_id}"), json!({"status": "done"}))
        .await;
    let done = done.expect(200).clone();
    assert_eq!(done["status"], "done");
    assert_eq!(done["overdue"], false);
    assert!(done["closed_at"].is_string());
    assert_eq!(listed(&s, "overdue=true").await, vec![runbook_id]);
    assert_eq!(listed(&s, "status=done").await, vec![canary_id]);
    let timeline = s.timeline("INC-1").await;
    let changed = timeline
        .iter()
        .find(|e| e["kind"] == "action_item_changed")
        .unwrap_or_else(|| panic!("no action_item_changed in {timeline:?}"));
    assert_eq!(changed["data"]["item"], canary_id);
    assert_eq!(changed["data"]["status"], "done");

    // Won't do needs a reason.
    let path = format!("{ITEMS}/{runbook_id}");
    let no_reason = s.patch(&path, json!({"status": "wont_do"})).await;
    assert_eq!(field_of(no_reason.expect_problem(422)), "reason");
    let blank = s
        .patch(&path, json!({"status": "wont_do", "reason": "  "}))
        .await;
    assert_eq!(field_of(blank.expect_problem(422)), "reason");
    let dropped = s
        .patch(
            &path,
            json!({"status": "wont_do", "reason": "The cache is being retired"}),
        )
        .await;
    let dropped = dropped.expect(200).clone();
    assert_eq!(dropped["status"], "wont_do");
    assert_eq!(dropped["reason"], "The cache is being retired");
    assert_eq!(dropped["overdue"], false);

    // Other fields, and a link removed with null.
    let path = format!("{ITEMS}/{alerts_id}");
    let moved = s
        .patch(
            &path,
            json!({"owner": common::VIEWER, "due": "2027-01-15", "ticket_url": "https://tracker.example.com/OPS-43"}),
        )
        .await;
    let moved = moved.expect(200).clone();
    assert_eq!(moved["owner"], common::VIEWER);
    assert_eq!(moved["due"], "2027-01-15");
    assert_eq!(moved["title"], "Alert on burn rate");
    assert_eq!(moved["ticket_url"], "https://tracker.example.com/OPS-43");
    let unlinked = s.patch(&path, json!({"ticket_url": null})).await;
    assert!(unlinked.expect(200)["ticket_url"].is_null());

    // Bad changes name the field and change nothing.
    let before = s.get(&path).await.expect(200).clone();
    for (body, field) in [
        (json!({"owner": "nobody"}), "owner"),
        (json!({"status": "closed"}), "status"),
        (json!({"due": "2027-13-01"}), "due"),
        (json!({"version": "2"}), "version"),
        (json!({"version": 0}), "version"),
        (json!({"title": ""}), "title"),
        (json!({"priority": "high"}), "priority"),
    ] {
        let a = s.patch(&path, body.clone()).await;
        let p = a.expect_problem(422);
        assert!(
            field_of(p) == field || p["detail"].as_str().unwrap().contains(field),
            "{body}: {p}"
        );
    }
    assert_eq!(s.get(&path).await.expect(200), &before);
    s.patch(&format!("{ITEMS}/999"), json!({"status": "done"}))
        .await
        .expect_problem(404);
    s.get(&format!("{ITEMS}/999")).await.expect_problem(404);
    s.get(&format!("{ITEMS}/x")).await.expect_problem(404);
    s.call(
        Method::PATCH,
        &path,
        Some(&s.viewer),
        Some(json!({"status": "done"})),
    )
    .await
    .expect_problem(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_items_are_chased_until_closed_sqlite() {
    items_are_chased_until_closed(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_items_are_chased_until_closed_postgres() {
    items_are_chased_until_closed(postgres("items").await).await;
}
