//! The HTTP API on PostgreSQL: the same server, a fresh schema per test. Fails (never skips)
//! when PostgreSQL is not reachable.

mod common;

use std::sync::Arc;

use firebreak_domain::Config;
use serde_json::json;

fn url() -> String {
    std::env::var("FIREBREAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn fresh_store(prefix: &str) -> firebreak_store_postgres::PostgresStore {
    let schema = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond() % 1_000_000_000
    );
    let store = firebreak_store_postgres::PostgresStore::connect_with_schema(&url(), &schema)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for this test and was not reachable at {}: {e}",
                url()
            )
        });
    store.migrate().await.expect("migrations run");
    store
}

#[tokio::test]
async fn an_incident_runs_its_course_on_postgres() {
    let store = Arc::new(fresh_store("http").await);
    let s = common::spawn_on(
        store.clone(),
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await;

    let inc = s.declare("Database failover", "SEV1").await;
    assert_eq!(inc["id"], "INC-1");
    s.post(
        "/api/v1/incidents/INC-1/notes",
        json!({"body": "promoted replica"}),
    )
    .await
    .expect(201);
    s.patch("/api/v1/incidents/INC-1", json!({"status": "resolved"}))
        .await
        .expect(200);
    s.patch("/api/v1/incidents/INC-1", json!({"status": "identified"}))
        .await
        .expect_problem(409);
    let t = s.get("/api/v1/incidents/INC-1/timeline").await;
    let kinds: Vec<String> = t.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        // The postmortem is drafted by a worker after the resolve commits, at its own pace.
        .filter(|k| k != "postmortem_drafted")
        .collect();
    assert_eq!(
        kinds,
        [
            "declared",
            "role_assigned",
            "checklist_item_done",
            "checklist_item_done",
            "note",
            "status_changed"
        ]
    );
    s.call(reqwest::Method::GET, "/readyz", None, None)
        .await
        .expect(200);

    s.running.shutdown.cancel();
    store.drop_schema().await.expect("schema dropped");
}

#[tokio::test]
async fn alerts_dedupe_group_and_resolve_on_postgres() {
    let store = Arc::new(fresh_store("ingest").await);
    let s = common::spawn_on(
        store.clone(),
        Config::default(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let key = s.integration("checkout", "pd").await;
    let trigger = |dedup: &str| {
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
               "payload": {"summary": "errors up", "source": "web-1", "severity": "critical"}})
    };
    // Concurrent repeats of one key: one alert, every event counted.
    let mut tasks = vec![];
    for _ in 0..8 {
        let (http, base, body) = (s.http.clone(), s.base.clone(), trigger("same"));
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/v2/enqueue"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    let open = s.alerts("status=open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["count"], 8);

    s.post(
        "/api/v1/incidents",
        json!({"title": "Checkout errors", "severity": "SEV2", "services": ["checkout"]}),
    )
    .await
    .expect(201);
    assert_eq!(
        s.send_json("/v2/enqueue", &trigger("second")).await.status,
        202
    );
    assert_eq!(s.alerts("incident=INC-1").await.len(), 1);
    let resolve = json!({"routing_key": key, "event_action": "resolve", "dedup_key": "second"});
    assert_eq!(s.send_json("/v2/enqueue", &resolve).await.status, 202);
    let incident = s.get("/api/v1/incidents/INC-1").await;
    assert_eq!(incident.expect(200)["alerts_resolved"], true);

    s.running.shutdown.cancel();
    store.drop_schema().await.expect("schema dropped");
}
