//! The SQLite writer under faults: a unit of work that panics on the writer thread is rolled
//! back alone, the failure is logged at error level and counted, `/readyz` stays green and
//! writes go on; a writer that has stopped turns `/readyz` red and writes into 503s.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::spawn_on;
use firebreak_domain::Config;
use firebreak_store::{Store, StoreError};
use firebreak_store_sqlite::SqliteStore;
use reqwest::Method;
use serde_json::json;

/// Everything logged in this test binary, as text.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        // The writer logs from its own thread, so the subscriber must be global.
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other subscriber in this test binary");
        buffer
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("firebreak.db"))
        .await
        .expect("open sqlite");
    (store, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_on_the_writer_is_logged_and_the_writer_carries_on() {
    let logs = logs();
    let (store, dir) = sqlite().await;
    let s = spawn_on(Arc::new(store.clone()), Config::default(), dir).await;
    s.declare("Before the panic", "SEV3").await;
    assert_eq!(store.health().writer_restarts, 0);

    // Ten declarations race the panic onto the writer; only the panicking unit is lost.
    let declares: Vec<_> = (0..10)
        .map(|n| {
            let (http, base, token) = (s.http.clone(), s.base.clone(), s.responder.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/api/v1/incidents"))
                    .bearer_auth(token)
                    .json(&json!({"title": format!("Beside the panic {n}"), "severity": "SEV3"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let panicked = store.panic_in_writer().await;
    let mut statuses = Vec::new();
    for d in declares {
        statuses.push(d.await.unwrap());
    }
    match panicked {
        Err(StoreError::Backend(cause)) => assert_eq!(
            cause.to_string(),
            "the write failed inside Firebreak and was rolled back"
        ),
        other => panic!("the panicking unit of work must fail, not {other:?}"),
    }
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");

    // Not silent: counted, and logged at error level.
    let health = store.health();
    assert_eq!(health.writer_restarts, 1);
    assert!(health.writer_alive);
    let log = logged();
    let line = log
        .lines()
        .find(|l| l.contains("a unit of work panicked on the SQLite writer"))
        .unwrap_or_else(|| panic!("the panic was not logged:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    drop(logs);

    // Ready, and writes still work.
    s.call(Method::GET, "/readyz", None, None).await.expect(200);
    s.declare("After the panic", "SEV3").await;
    let list = s.get("/api/v1/incidents?limit=500").await;
    assert_eq!(list.expect(200)["items"].as_array().unwrap().len(), 12);
    s.running.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_has_stopped_fails_readyz_and_refuses_writes() {
    let _logs = logs();
    let (store, dir) = sqlite().await;
    let s = spawn_on(Arc::new(store.clone()), Config::default(), dir).await;
    s.call(Method::GET, "/readyz", None, None).await.expect(200);
    // Remember the token, so the refusal below is the writer's and not the token lookup's.
    s.get("/api/v1/incidents").await.expect(200);

    store.close().await;
    assert!(!store.health().writer_alive);
    let ready = s.call(Method::GET, "/readyz", None, None).await;
    let body = ready.expect_problem(503);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("writer has stopped"),
        "{body}"
    );
    let refused = s
        .http
        .post(format!("{}/api/v1/incidents", s.base))
        .bearer_auth(&s.responder)
        .json(&json!({"title": "After the writer stopped", "severity": "SEV3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(
        refused.headers().contains_key("retry-after"),
        "{:?}",
        refused.headers()
    );
    s.running.shutdown.cancel();
}
