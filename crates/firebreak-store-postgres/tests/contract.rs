//! The PostgreSQL store against the shared storage contract, each run in its own fresh schema,
//! plus proof that the database itself refuses to rewrite the timeline or the audit log.

mod common;

use std::sync::{Arc, Mutex};

use firebreak_domain::{Actor, Config, Incident, NewIncident};
use firebreak_store::contract;
use firebreak_store::{AuditDraft, IncidentStore, TimelineDraft};
use firebreak_store_postgres::PostgresStore;
use jiff::Timestamp;

async fn expect_append_only(store: &PostgresStore, sql: &'static str) {
    let err = sqlx::query(sql)
        .execute(store.pool())
        .await
        .expect_err(&format!("the database accepted `{sql}`"));
    let message = err.to_string();
    assert!(
        message.contains("append-only"),
        "`{sql}` failed for another reason: {message}"
    );
}

#[tokio::test]
async fn the_database_refuses_to_rewrite_history() {
    let store = common::fresh_store().await;
    let now = Timestamp::from_millisecond(1_800_000_000_000).unwrap();
    let new = NewIncident {
        title: "Checkout is failing".into(),
        severity: "SEV2".into(),
        ..Default::default()
    };
    let (incident, events) =
        Incident::declare(new, &Config::default(), &Actor("alice".into()), now).unwrap();
    let drafts = events
        .into_iter()
        .map(|event| TimelineDraft {
            at: now,
            actor: "alice".into(),
            event,
        })
        .collect();
    let audit = AuditDraft {
        actor: "alice".into(),
        action: "incident.declare".into(),
        target: "INC-1".into(),
        at: now,
        source: None,
    };
    store
        .create_incident(incident, drafts, audit)
        .await
        .unwrap();

    expect_append_only(&store, "UPDATE timeline_entries SET actor = 'mallory'").await;
    expect_append_only(&store, "DELETE FROM timeline_entries").await;
    expect_append_only(&store, "TRUNCATE timeline_entries").await;
    expect_append_only(&store, "UPDATE audit_log SET actor = 'mallory'").await;
    expect_append_only(&store, "DELETE FROM audit_log").await;
    expect_append_only(&store, "TRUNCATE audit_log").await;

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM timeline_entries")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 2);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 1);
    store.drop_schema().await.unwrap();
}

/// One test per contract check, each on its own fresh schema, dropped afterwards.
macro_rules! contract_checks {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let store = common::fresh_store().await;
                contract::$check(&store).await;
                store.drop_schema().await.unwrap();
            }
        )*
    };
}

contract_checks!(
    numbers_are_sequential,
    incident_round_trips,
    stale_update_conflicts_and_changes_nothing,
    update_of_missing_incident_is_not_found,
    timeline_seq_ascends_and_continues,
    every_timeline_event_round_trips,
    list_filters,
    list_pagination_covers_every_row_once,
    services,
    users,
    sync_config_upserts_and_never_deletes,
    tokens,
    bootstrap_admin_happens_once,
    audit_written_with_each_mutation,
    integrations_create_list_and_keys,
    sync_integrations_upserts_and_never_deletes,
    ingest_inserts_and_dedups_alerts,
    ingest_error_rolls_everything_back,
    open_incident_for_finds_newest_unresolved,
    ingest_declares_incidents_and_appends_timeline,
    list_alerts_filters_and_pages,
    alerts_of_incidents_ascend_by_id,
    silences_create_list_expire,
    maintenance_create_list_end,
    routes_create_list_delete,
    deployments_record_list_between,
);

#[tokio::test]
async fn concurrent_creates_get_distinct_numbers() {
    let store = Arc::new(common::fresh_store().await);
    contract::concurrent_creates_get_distinct_numbers(store.clone()).await;
    store.drop_schema().await.unwrap();
}

/// Concurrent checks share one store between tasks.
macro_rules! concurrent_contract_checks {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let store = Arc::new(common::fresh_store().await);
                contract::$check(store.clone()).await;
                store.drop_schema().await.unwrap();
            }
        )*
    };
}

concurrent_contract_checks!(
    concurrent_triggers_open_one_alert,
    concurrent_alerts_declare_one_incident,
);

/// The whole suite through its own entry point, so checks added to it later are covered too.
/// `run_all` finishes each check before it makes the next store, so making a store drops the
/// previous one: the suite never holds more than one pool's connections.
#[tokio::test]
async fn run_all_contract_checks() {
    let last: Arc<Mutex<Option<PostgresStore>>> = Arc::default();
    let record = last.clone();
    contract::run_all(move || {
        let record = record.clone();
        async move {
            let previous = record.lock().unwrap().take();
            if let Some(previous) = previous {
                previous.drop_schema().await.unwrap();
            }
            let store = common::fresh_store().await;
            *record.lock().unwrap() = Some(store.clone());
            store
        }
    })
    .await;
    let previous = last.lock().unwrap().take();
    if let Some(store) = previous {
        store.drop_schema().await.unwrap();
    }
}
