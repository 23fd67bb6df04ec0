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

#[tokio::test]
async fn an_incident_runs_its_course_on_postgres() {
    let schema = format!(
        "http_{}_{}",
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
    let store = Arc::new(store);
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
        .collect();
    assert_eq!(
        kinds,
        ["declared", "role_assigned", "note", "status_changed"]
    );
    s.call(reqwest::Method::GET, "/readyz", None, None)
        .await
        .expect(200);

    s.running.shutdown.cancel();
    store.drop_schema().await.expect("schema dropped");
}
