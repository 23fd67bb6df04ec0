//! Two Firebreak instances on one PostgreSQL schema, as in a deployment with two replicas:
//! events made through either are delivered by whichever claims them first, and the receiver
//! sees each event exactly once while both live. Fails (never skips) when PostgreSQL is not
//! reachable.

mod support_receiver;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use firebreak::{Running, start, system_clock};
use firebreak_domain::Config;
use firebreak_store::Store;
use firebreak_store_postgres::PostgresStore;
use serde_json::{Value, json};
use support_receiver::{Receiver, Reply};

fn url() -> String {
    std::env::var("FIREBREAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn connect(schema: &str) -> PostgresStore {
    PostgresStore::connect_with_schema(&url(), schema)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for this test and was not reachable at {}: {e}. \
                 Start it there or set FIREBREAK_TEST_POSTGRES_URL.",
                url()
            )
        })
}

/// Declares `count` incidents through `base`, each with a note; returns what was acknowledged
/// as `(event type, title or note text)`.
async fn make_events(
    base: String,
    token: String,
    name: &str,
    count: usize,
) -> Vec<(String, String)> {
    let http = client();
    let mut acked = Vec::new();
    for n in 1..=count {
        let title = format!("{name} incident {n}");
        let r = http
            .post(format!("{base}/api/v1/incidents"))
            .bearer_auth(&token)
            .json(&json!({"title": title, "severity": "SEV3"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        acked.push(("incident.declared".to_string(), title));
        let note = format!("{name} note {n}");
        let r = http
            .post(format!("{base}/api/v1/incidents/{id}/notes"))
            .bearer_auth(&token)
            .json(&json!({"body": note}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        acked.push(("incident.note_added".to_string(), note));
    }
    acked
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn event_of(body: &Value) -> (String, String) {
    let kind = body["type"].as_str().unwrap_or_default().to_string();
    let text = match kind.as_str() {
        "incident.declared" => &body["data"]["incident"]["title"],
        "incident.note_added" => &body["data"]["note"]["data"]["body"],
        _ => &Value::Null,
    };
    (kind, text.as_str().unwrap_or_default().to_string())
}

async fn stop(running: Running) {
    running.shutdown.cancel();
    let _ = running.task.await;
    running.runtime.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_deliver_each_event_once() {
    const PER_INSTANCE: usize = 15;
    let schema = format!(
        "fb_instances_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond() % 1_000_000_000
    );
    let store_a = connect(&schema).await;
    store_a.migrate().await.expect("migrations run");
    let store_b = connect(&schema).await;
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];

    let a = start(
        "127.0.0.1:0",
        Arc::new(store_a.clone()),
        config.clone(),
        system_clock(),
    )
    .await
    .expect("instance A starts");
    let b = start(
        "127.0.0.1:0",
        Arc::new(store_b.clone()),
        config,
        system_clock(),
    )
    .await
    .expect("instance B starts");
    let token = a
        .initial_admin_token
        .clone()
        .expect("the first instance on an empty schema creates the admin");
    assert!(
        b.initial_admin_token.is_none(),
        "one admin for one database"
    );
    let (base_a, base_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));

    let receiver = Receiver::start(Reply::OK).await;
    let r = client()
        .post(format!("{base_a}/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": receiver.url, "events": ["incident.declared", "incident.note_added"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Instance B hears of the subscription through LISTEN/NOTIFY, within milliseconds.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (made_a, made_b) = tokio::join!(
        make_events(base_a.clone(), token.clone(), "A", PER_INSTANCE),
        make_events(base_b.clone(), token.clone(), "B", PER_INSTANCE),
    );
    let expected: BTreeSet<(String, String)> = made_a.into_iter().chain(made_b).collect();
    assert_eq!(expected.len(), 4 * PER_INSTANCE);

    let all = receiver
        .wait_until(Duration::from_secs(20), |got| {
            got.iter()
                .map(|r| event_of(&r.json()))
                .collect::<BTreeSet<_>>()
                .is_superset(&expected)
        })
        .await;
    let got = receiver.received();
    let seen: BTreeSet<(String, String)> = got.iter().map(|r| event_of(&r.json())).collect();
    assert!(
        all,
        "missing events: {:?}",
        expected.difference(&seen).collect::<Vec<_>>()
    );
    // Both still live: give a late duplicate time to show up.
    receiver
        .expect_no_more(got.len(), Duration::from_secs(2))
        .await;
    let by_id = receiver.by_id();
    let twice: Vec<_> = by_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(by_id.len(), expected.len(), "one webhook-id per event");
    assert_eq!(seen, expected, "no event that was not made");

    stop(a).await;
    stop(b).await;
    store_a.close().await;
    store_b.drop_schema().await.expect("schema dropped");
}
