//! A throughput check for the group-commit writer: 32 concurrent clients appending notes with
//! durable commits. Ignored by default (timing depends on the disk); run it with
//! `cargo test -p firebreak-store-sqlite --release --test throughput -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::Instant;

use firebreak_domain::{Actor, Config, Incident, IncidentNumber, NewIncident, TimelineEvent};
use firebreak_store::{AuditDraft, IncidentStore, StoreWrites, TimelineDraft};
use firebreak_store_sqlite::SqliteStore;
use jiff::Timestamp;

const CLIENTS: usize = 32;
const PER_CLIENT: usize = 500;

fn audit(now: Timestamp) -> AuditDraft {
    AuditDraft {
        actor: "bench".into(),
        action: "incident.note".into(),
        target: "INC-1".into(),
        at: now,
        source: None,
        break_glass: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "timing benchmark"]
async fn durable_mutations_per_second_at_32_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("open"),
    );
    let now = Timestamp::now();
    let new = NewIncident {
        title: "bench".into(),
        severity: "SEV3".into(),
        ..Default::default()
    };
    let (incident, _) =
        Incident::declare(new, &Config::default(), &Actor("bench".into()), None, now)
            .expect("declare");
    store
        .create_incident(incident, vec![], audit(now))
        .await
        .expect("create");

    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..PER_CLIENT {
                    let draft = TimelineDraft {
                        at: now,
                        actor: "bench".into(),
                        event: TimelineEvent::Note {
                            body: format!("client {c} note {i}"),
                        },
                    };
                    store
                        .append_timeline(IncidentNumber(1), vec![draft], audit(now))
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = started.elapsed();
    let total = CLIENTS * PER_CLIENT;
    let rate = total as f64 / elapsed.as_secs_f64();
    println!("{total} durable mutations in {elapsed:?}: {rate:.0}/s");
    let page = store
        .timeline(IncidentNumber(1), None, u32::MAX - 1)
        .await
        .expect("timeline");
    assert_eq!(page.items.len(), total);
    let mut seqs: Vec<i64> = page.items.iter().map(|e| e.seq).collect();
    seqs.dedup();
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>());
}
