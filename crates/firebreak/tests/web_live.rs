//! The live streams over real HTTP: an incident's events resume from `Last-Event-ID` with
//! nothing lost, the all-changes stream, the room's HTML stream, and two instances on one
//! PostgreSQL seeing each other's notes (fails, never skips, without PostgreSQL).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, spawn};
use firebreak::{start, system_clock};
use firebreak_domain::Config;
use firebreak_store::Store;
use serde_json::{Value, json};

/// One server-sent event: its type, id and data.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
}

/// Reads a `text/event-stream` response event by event.
struct Stream {
    res: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(url: &str, token: Option<&str>, last_id: Option<&str>) -> Stream {
        let mut req = client().get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.expect("the stream opens");
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Stream {
            res,
            buf: String::new(),
        }
    }

    /// The next event, skipping keep-alive comments; panics after `within`.
    async fn next(&mut self, within: Duration) -> Sse {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = Sse {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        e.event = v.trim().to_string();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        e.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !e.data.is_empty() {
                            e.data.push('\n');
                        }
                        e.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return e;
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.res.chunk())
                .await
                .expect("an event arrives in time")
                .expect("the stream stays open")
                .expect("the stream has not ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until one of type `event` whose data contains `needle`.
    async fn until(&mut self, event: &str, needle: &str, within: Duration) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let e = self.next(within).await;
            let done = e.event == event && e.data.contains(needle);
            seen.push(e);
            if done {
                return seen;
            }
        }
    }
}

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_stream_resumed_from_last_event_id_loses_nothing() {
    let s = spawn().await;
    let incident = s.declare("Checkout is down", "SEV3").await;
    let id = incident["id"].as_str().unwrap().to_string();
    for n in 1..=3 {
        s.post(
            &format!("/api/v1/incidents/{id}/notes"),
            json!({"body": format!("note {n}")}),
        )
        .await
        .expect(201);
    }
    let timeline = s.timeline(&id).await;
    let first_note = timeline
        .iter()
        .find(|e| e["data"]["body"] == "note 1")
        .unwrap()["seq"]
        .as_i64()
        .unwrap();
    let url = format!("{}/api/v1/incidents/{id}/events", s.base);
    // Reconnecting after note 1: notes 2 and 3 come, in order, and note 1 does not.
    let mut stream = Stream::open(&url, Some(&s.viewer), Some(&first_note.to_string())).await;
    let got = stream.until("timeline", "note 3", WAIT).await;
    let bodies: Vec<String> = got
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(&e.data).unwrap()["data"]["body"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(bodies, vec!["note 2", "note 3"]);
    assert_eq!(
        got[0].id.as_deref(),
        Some((first_note + 1).to_string().as_str())
    );
    // Then live: a new note and the incident's change arrive.
    s.post(
        &format!("/api/v1/incidents/{id}/notes"),
        json!({"body": "note 4"}),
    )
    .await
    .expect(201);
    let got = stream.until("timeline", "note 4", WAIT).await;
    assert_eq!(got.len(), 1);
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"status": "identified"}),
    )
    .await
    .expect(200);
    let got = stream.until("incident", "identified", WAIT).await;
    assert!(
        got.iter()
            .any(|e| e.event == "timeline" && e.data.contains("status_changed"))
    );
    let last: Value = serde_json::from_str(&got.last().unwrap().data).unwrap();
    assert_eq!(last["status"], "identified");
    // `?after=` starts a fresh stream at a given entry; 0 gives the whole timeline.
    let mut all = Stream::open(&format!("{url}?after=0"), Some(&s.viewer), None).await;
    let first = all.next(WAIT).await;
    assert_eq!(first.id.as_deref(), Some("1"));
    assert!(first.data.contains("declared"));
    // No token, no stream; an unknown incident is a 404 problem.
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = client()
        .get(format!("{}/api/v1/incidents/INC-99/events", s.base))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn the_changes_stream_carries_incidents_and_alerts() {
    let s = spawn().await;
    let mut stream =
        Stream::open(&format!("{}/api/v1/events", s.base), Some(&s.viewer), None).await;
    let incident = s.declare("Payments are slow", "SEV3").await;
    let got = stream.until("incident", "Payments are slow", WAIT).await;
    let body: Value = serde_json::from_str(&got.last().unwrap().data).unwrap();
    assert_eq!(body["id"], incident["id"]);
    let key = s.integration("payments", "events-test").await;
    let raw = s
        .send_json(
            "/v2/enqueue",
            &json!({"routing_key": key, "event_action": "trigger", "dedup_key": "p-1",
                    "payload": {"summary": "p99 latency high", "source": "prom", "severity": "error"}}),
        )
        .await;
    assert_eq!(raw.status, 202, "{}", raw.body);
    let got = stream.until("alert", "p99 latency high", WAIT).await;
    let alert: Value = serde_json::from_str(&got.last().unwrap().data).unwrap();
    assert_eq!(alert["dedup_key"], "p-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_see_each_others_notes_live() {
    let schema = format!(
        "fb_live_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond() % 1_000_000_000
    );
    let store_a = common::postgres_store(&schema).await;
    let url = std::env::var("FIREBREAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let store_b = firebreak_store_postgres::PostgresStore::connect_with_schema(
        &url,
        store_a.schema().expect("a schema"),
    )
    .await
    .expect("a second connection to the same schema");
    let a = start(
        "127.0.0.1:0",
        Arc::new(store_a.clone()),
        Config::default(),
        system_clock(),
    )
    .await
    .expect("instance A starts");
    let b = start(
        "127.0.0.1:0",
        Arc::new(store_b.clone()),
        Config::default(),
        system_clock(),
    )
    .await
    .expect("instance B starts");
    let token = a.initial_admin_token.clone().expect("an admin token");
    let (base_a, base_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));
    let declared: Value = client()
        .post(format!("{base_a}/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&json!({"title": "Two instances", "severity": "SEV3"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = declared["id"].as_str().unwrap().to_string();
    // A browser-like client on A; the note is written through B.
    let mut on_a = Stream::open(
        &format!("{base_a}/api/v1/incidents/{id}/events"),
        Some(&token),
        None,
    )
    .await;
    on_a.until("timeline", "declared", WAIT).await;
    let sent = Instant::now();
    let res = client()
        .post(format!("{base_b}/api/v1/incidents/{id}/notes"))
        .bearer_auth(&token)
        .json(&json!({"body": "written on B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    on_a.until("timeline", "written on B", WAIT).await;
    eprintln!(
        "a note written on B reached a stream on A in {:?}",
        sent.elapsed()
    );
    drop(on_a);
    a.app.store.close().await;
    b.app.store.close().await;
    let _ = store_a.backend();
}

#[tokio::test]
async fn watchers_of_one_incident_share_one_reader_and_each_gets_everything() {
    let s = spawn().await;
    let incident = s.declare("Search is down", "SEV3").await;
    let id = incident["id"].as_str().unwrap().to_string();
    let url = format!("{}/api/v1/incidents/{id}/events", s.base);
    let tokens = [&s.admin, &s.responder, &s.viewer];
    let mut streams = Vec::new();
    for i in 0..12 {
        streams.push(Stream::open(&url, Some(tokens[i % 3]), None).await);
    }
    assert_eq!(
        s.running.app.followers.count(),
        1,
        "one reader for every watcher of the incident"
    );
    for n in 1..=5 {
        s.post(
            &format!("/api/v1/incidents/{id}/notes"),
            json!({"body": format!("shared note {n}")}),
        )
        .await
        .expect(201);
    }
    let expected: Vec<String> = (1..=5).map(|n| format!("shared note {n}")).collect();
    for stream in &mut streams {
        let got = stream.until("timeline", "shared note 5", WAIT).await;
        let notes: Vec<String> = got
            .iter()
            .filter(|e| e.event == "timeline")
            .filter_map(|e| {
                serde_json::from_str::<Value>(&e.data).unwrap()["data"]["body"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(notes, expected, "every watcher gets every note, in order");
        assert!(
            got.iter().all(|e| e.event == "timeline"),
            "a note changes no field of the incident, so no `incident` event comes: {got:?}"
        );
    }
    // A watcher that joins later and resumes from a note gets what followed it, from the
    // store, then the shared changes.
    let timeline = s.timeline(&id).await;
    let third = timeline
        .iter()
        .find(|e| e["data"]["body"] == "shared note 3")
        .unwrap()["seq"]
        .as_i64()
        .unwrap();
    let mut late = Stream::open(&url, Some(&s.viewer), Some(&third.to_string())).await;
    late.until("timeline", "shared note 5", WAIT).await;
    s.post(
        &format!("/api/v1/incidents/{id}/notes"),
        json!({"body": "shared note 6"}),
    )
    .await
    .expect(201);
    let got = late.until("timeline", "shared note 6", WAIT).await;
    assert_eq!(got.iter().filter(|e| e.event == "timeline").count(), 1);
    for stream in &mut streams {
        stream.until("timeline", "shared note 6", WAIT).await;
    }
    // Once every watcher has gone, the reader stops at the next change.
    drop(streams);
    drop(late);
    let deadline = Instant::now() + WAIT;
    let mut n = 7;
    while s.running.app.followers.count() > 0 {
        assert!(
            Instant::now() < deadline,
            "the reader outlived its watchers"
        );
        s.post(
            &format!("/api/v1/incidents/{id}/notes"),
            json!({"body": format!("shared note {n}")}),
        )
        .await
        .expect(201);
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
