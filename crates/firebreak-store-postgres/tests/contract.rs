//! The PostgreSQL store against the shared storage contract: one test per check, each on its own
//! fresh schema (so a failure names its check and checks run side by side), and the whole suite
//! through its own entry point, so checks added to it later are covered too.

mod common;

use std::sync::{Arc, Mutex};

use firebreak_store::contract;
use firebreak_store_postgres::PostgresStore;

/// One test per check that takes the store by reference.
macro_rules! contract_checks {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = common::fresh_store().await;
                contract::$check(&store).await;
                store.drop_schema().await.expect("drop schema");
            }
        )*
    };
}

/// One test per check that shares the store between tasks.
macro_rules! concurrent_contract_checks {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let store = Arc::new(common::fresh_store().await);
                contract::$check(store.clone()).await;
                store.drop_schema().await.expect("drop schema");
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
    timeline_tail_reads_the_newest_and_pages_back,
    every_timeline_event_round_trips,
    timeline_of_kinds_reads_those_kinds_in_order,
    list_filters,
    list_pagination_covers_every_row_once,
    services,
    users,
    sync_config_upserts_and_never_deletes,
    tokens,
    any_admin_ignores_disabled_admins,
    bootstrap_admin_happens_once,
    audit_written_with_each_mutation,
    schedules_round_trip,
    overrides_add_list_remove,
    sync_schedules_upserts_and_publishes,
    contact_methods_round_trip,
    policies_round_trip,
    escalations_round_trip,
    secrets_and_service_paging_fields,
    pages_are_claimed_before_bulk,
    status_components_round_trip,
    sync_components_keeps_what_people_set,
    status_updates_and_public_title_round_trip,
    scheduled_maintenance_round_trips,
    subscribers_round_trip,
    failed_work_leaves_nothing_behind,
    committed_work_keeps_everything_and_returns_its_value,
    store_reports_health,
    upsert_opens_then_repeats_by_the_domain_rule,
    repeats_keep_status_and_resolving_frees_the_key,
    upsert_batches_keep_order_and_keys_are_per_integration,
    locks_read_alerts_inside_the_unit,
    list_alerts_filters_and_pages,
    alerts_of_incidents_ascend_by_id,
    open_incidents_finds_newest_unresolved,
    ingest_declares_incidents_and_appends_timeline,
    ingest_requests_round_trip_and_purge,
    integrations_create_list_and_keys,
    sync_integrations_upserts_and_never_deletes,
    silences_create_list_expire,
    maintenance_create_list_end,
    routes_create_list_delete,
    deployments_record_list_between,
    outbox_message_lifecycle,
    outbox_retry_fail_and_attempts,
    expired_lease_passes_to_another_owner,
    release_hands_messages_back,
    tidy_outbox_keeps_every_message,
    settle_all_records_each_outcome,
    redeliver_requeues_a_finished_message,
    list_messages_newest_first_and_pages,
    outbox_stats_and_next_due,
    purge_finished_removes_only_old_finished,
    subscriptions_create_list_delete,
    subscription_health_round_trips,
    failed_or_read_only_work_publishes_nothing,
    feed_names_what_each_write_changed,
    directory_writes_publish_their_topic,
    audit_rows_form_one_chain,
    freezes_round_trip_and_lift,
    grants_round_trip_and_end,
    action_runs_round_trip,
    runbooks_round_trip,
    passwords_set_replace_and_count,
    sessions_round_trip_touch_and_revoke,
    revoke_sessions_of_keeps_one,
    live_sessions_newest_first,
    invitations_lock_and_use,
    failures_count_forget_and_clear,
    failed_account_work_leaves_nothing,
    sign_in_rows_pruned_only_when_due,
    postmortems_round_trip_with_revisions,
    postmortem_statuses_of_many_incidents,
    action_items_round_trip_filter_and_page,
    report_reads_count_and_link_deploys,
    suspects_follow_deploys_and_incident_changes,
    deploy_counts_match_deploys_across_days,
    heartbeats_round_trip,
    overdue_heartbeats_are_those_up_and_due,
    customer_reports_round_trip_count_and_list,
);

concurrent_contract_checks!(
    concurrent_creates_get_distinct_numbers,
    bootstrap_admin_is_safe_to_race,
    concurrent_units_of_work_all_commit,
    locked_incident_updates_serialise,
    lock_name_serialises_declarations,
    concurrent_triggers_open_one_alert,
    concurrent_alerts_declare_one_incident,
    claimers_race_without_double_delivery,
    feed_publishes_one_commit_with_its_changes,
    concurrent_audited_writes_make_one_chain,
    concurrent_failures_all_count,
    concurrent_watchers_take_a_heartbeat_down_once,
    concurrent_reports_are_counted_one_after_another,
);

/// The whole suite through `run_all`. It finishes each check before it makes the next store, so
/// making a store drops the previous one's schema: the suite never holds more than one pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_store_contract() {
    let last: Arc<Mutex<Option<PostgresStore>>> = Arc::default();
    let record = last.clone();
    contract::run_all(move || {
        let record = record.clone();
        async move {
            let previous = record.lock().unwrap().take();
            if let Some(previous) = previous {
                previous.drop_schema().await.expect("drop schema");
            }
            let store = common::fresh_store().await;
            *record.lock().unwrap() = Some(store.clone());
            store
        }
    })
    .await;
    let previous = last.lock().unwrap().take();
    if let Some(store) = previous {
        store.drop_schema().await.expect("drop schema");
    }
}
