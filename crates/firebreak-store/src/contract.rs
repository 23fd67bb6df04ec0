//! The store contract suite: behaviour every backend must show, written once against the
//! traits. A backend's tests call [`run_all`] with a function that makes a fresh, empty store,
//! or call the individual checks. Every check panics with a message naming what broke.
//!
//! Checks are grouped by aggregate: incidents, the directory (services, users, tokens, audit),
//! on-call schedules, units of work and their locks, alerts and grouping, integrations, alert rules (silences,
//! maintenance, routes, deployments), the outbox, webhook subscriptions, the change feed and
//! signing in (passwords, sessions, invitations, failed sign-ins), and reviewing (postmortems,
//! action items and the reports' reads).
//! Every instant is fixed ([`at`]); only the feed checks wait on the wall clock, and only to
//! give up.

mod accounts;
mod alerts;
mod checks;
mod customer_reports;
mod directory;
mod feed;
mod gamedays;
mod grouping;
mod heartbeats;
mod incidents;
mod integrations;
mod outbox;
mod paging;
mod queue;
mod review;
mod rules;
mod schedules;
mod stabilize;
mod status;
mod subscriptions;
mod units;

pub use accounts::*;
pub use alerts::*;
pub use checks::*;
pub use customer_reports::*;
pub use directory::*;
pub use feed::*;
pub use gamedays::*;
pub use grouping::*;
pub use heartbeats::*;
pub use incidents::*;
pub use integrations::*;
pub use outbox::*;
pub use paging::*;
pub use queue::*;
pub use review::*;
pub use rules::*;
pub use schedules::*;
pub use stabilize::*;
pub use status::*;
pub use subscriptions::*;
pub use units::*;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use firebreak_domain::{
    Actor, Alert, AlertFormat, AlertSeverity, AlertStatus, Config, Image, Incident, IncidentNumber,
    Link, Name, NewIncident, TimelineEvent, Urgency,
};
use futures_util::future::BoxFuture;
use jiff::Timestamp;

use crate::{
    AuditDraft, NewMessage, Result, Store, StoreError, StoreWrites, TimelineDraft, TimelineEntry,
    Tx, Upserted, transact,
};

/// Runs every check, each on a fresh store from `make`. Each check finishes before the next
/// store is made, so a backend may drop the previous store's database in `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    // Incidents and their timeline.
    numbers_are_sequential(&make().await).await;
    incident_round_trips(&make().await).await;
    stale_update_conflicts_and_changes_nothing(&make().await).await;
    update_of_missing_incident_is_not_found(&make().await).await;
    timeline_seq_ascends_and_continues(&make().await).await;
    timeline_tail_reads_the_newest_and_pages_back(&make().await).await;
    every_timeline_event_round_trips(&make().await).await;
    timeline_of_kinds_reads_those_kinds_in_order(&make().await).await;
    list_filters(&make().await).await;
    list_pagination_covers_every_row_once(&make().await).await;
    concurrent_creates_get_distinct_numbers(Arc::new(make().await)).await;

    // The directory and the audit log.
    services(&make().await).await;
    users(&make().await).await;
    sync_config_upserts_and_never_deletes(&make().await).await;
    tokens(&make().await).await;
    any_admin_ignores_disabled_admins(&make().await).await;
    bootstrap_admin_happens_once(&make().await).await;
    bootstrap_admin_is_safe_to_race(Arc::new(make().await)).await;
    audit_written_with_each_mutation(&make().await).await;

    // On-call schedules and overrides.
    schedules_round_trip(&make().await).await;
    overrides_add_list_remove(&make().await).await;
    sync_schedules_upserts_and_publishes(&make().await).await;

    // Paging: contact methods, policies, escalations, kept secrets, page priority.
    contact_methods_round_trip(&make().await).await;
    policies_round_trip(&make().await).await;
    escalations_round_trip(&make().await).await;
    secrets_and_service_paging_fields(&make().await).await;
    pages_are_claimed_before_bulk(&make().await).await;

    // The status page: components, public names and status updates.
    status_components_round_trip(&make().await).await;
    sync_components_keeps_what_people_set(&make().await).await;
    status_updates_and_public_title_round_trip(&make().await).await;
    scheduled_maintenance_round_trips(&make().await).await;
    subscribers_round_trip(&make().await).await;

    // Units of work and locks.
    failed_work_leaves_nothing_behind(&make().await).await;
    committed_work_keeps_everything_and_returns_its_value(&make().await).await;
    concurrent_units_of_work_all_commit(Arc::new(make().await)).await;
    locked_incident_updates_serialise(Arc::new(make().await)).await;
    lock_name_serialises_declarations(Arc::new(make().await)).await;
    store_reports_health(&make().await).await;

    // Alerts.
    upsert_opens_then_repeats_by_the_domain_rule(&make().await).await;
    repeats_keep_status_and_resolving_frees_the_key(&make().await).await;
    upsert_batches_keep_order_and_keys_are_per_integration(&make().await).await;
    locks_read_alerts_inside_the_unit(&make().await).await;
    list_alerts_filters_and_pages(&make().await).await;
    alerts_of_incidents_ascend_by_id(&make().await).await;
    concurrent_triggers_open_one_alert(Arc::new(make().await)).await;

    // Grouping alerts into incidents, and sender requests.
    open_incidents_finds_newest_unresolved(&make().await).await;
    ingest_declares_incidents_and_appends_timeline(&make().await).await;
    concurrent_alerts_declare_one_incident(Arc::new(make().await)).await;
    ingest_requests_round_trip_and_purge(&make().await).await;

    // Integrations.
    integrations_create_list_and_keys(&make().await).await;
    sync_integrations_upserts_and_never_deletes(&make().await).await;

    // Silences, maintenance windows, routes and deployments.
    silences_create_list_expire(&make().await).await;
    maintenance_create_list_end(&make().await).await;
    routes_create_list_delete(&make().await).await;
    deployments_record_list_between(&make().await).await;

    // The outbox.
    outbox_message_lifecycle(&make().await).await;
    outbox_retry_fail_and_attempts(&make().await).await;
    expired_lease_passes_to_another_owner(&make().await).await;
    release_hands_messages_back(&make().await).await;
    tidy_outbox_keeps_every_message(&make().await).await;
    settle_all_records_each_outcome(&make().await).await;
    redeliver_requeues_a_finished_message(&make().await).await;
    list_messages_newest_first_and_pages(&make().await).await;
    outbox_stats_and_next_due(&make().await).await;
    purge_finished_removes_only_old_finished(&make().await).await;
    claimers_race_without_double_delivery(Arc::new(make().await)).await;

    // Webhook subscriptions.
    subscriptions_create_list_delete(&make().await).await;
    subscription_health_round_trips(&make().await).await;

    // The change feed.
    feed_publishes_one_commit_with_its_changes(Arc::new(make().await)).await;
    failed_or_read_only_work_publishes_nothing(&make().await).await;
    feed_names_what_each_write_changed(&make().await).await;
    directory_writes_publish_their_topic(&make().await).await;

    // Stabilizing: the audit chain, freezes and break-glass grants.
    audit_rows_form_one_chain(&make().await).await;
    concurrent_audited_writes_make_one_chain(Arc::new(make().await)).await;
    freezes_round_trip_and_lift(&make().await).await;
    grants_round_trip_and_end(&make().await).await;
    action_runs_round_trip(&make().await).await;
    runbooks_round_trip(&make().await).await;

    // Signing in: passwords, sessions, invitations and failed sign-ins.
    passwords_set_replace_and_count(&make().await).await;
    sessions_round_trip_touch_and_revoke(&make().await).await;
    revoke_sessions_of_keeps_one(&make().await).await;
    live_sessions_newest_first(&make().await).await;
    invitations_lock_and_use(&make().await).await;
    failures_count_forget_and_clear(&make().await).await;
    concurrent_failures_all_count(Arc::new(make().await)).await;
    failed_account_work_leaves_nothing(&make().await).await;
    sign_in_rows_pruned_only_when_due(&make().await).await;

    // Reviewing: postmortems, action items and the reports' reads.
    postmortems_round_trip_with_revisions(&make().await).await;
    postmortem_statuses_of_many_incidents(&make().await).await;
    action_items_round_trip_filter_and_page(&make().await).await;
    report_reads_count_and_link_deploys(&make().await).await;
    suspects_follow_deploys_and_incident_changes(&make().await).await;
    deploy_counts_match_deploys_across_days(&make().await).await;

    // Heartbeats.
    heartbeats_round_trip(&make().await).await;
    overdue_heartbeats_are_those_up_and_due(&make().await).await;
    concurrent_watchers_take_a_heartbeat_down_once(Arc::new(make().await)).await;

    // Customer reports.
    customer_reports_round_trip_count_and_list(&make().await).await;
    concurrent_reports_are_counted_one_after_another(Arc::new(make().await)).await;

    // Uptime checks.
    checks_round_trip(&make().await).await;
    checks_are_claimed_under_a_lease(&make().await).await;
    concurrent_claimers_never_share_a_check(Arc::new(make().await)).await;
    failed_check_work_stores_nothing(&make().await).await;
    // Game days and drills.
    gamedays_round_trip_finish_and_list(&make().await).await;
    gameday_alerts_are_drills_of_their_game_day(&make().await).await;
    open_incidents_keep_drills_apart(&make().await).await;
}

/// A fixed instant plus `ms` milliseconds: millisecond precision, what stores keep.
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_800_000_000_000 + ms).expect("valid timestamp")
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("valid name")
}

fn audit(action: &str, target: &str) -> AuditDraft {
    AuditDraft {
        actor: "alice".into(),
        action: action.into(),
        target: target.into(),
        at: at(0),
        source: Some("127.0.0.1".into()),
        break_glass: None,
    }
}

fn drafts(events: Vec<TimelineEvent>, when: Timestamp) -> Vec<TimelineDraft> {
    events
        .into_iter()
        .map(|event| TimelineDraft {
            at: when,
            actor: "alice".into(),
            event,
        })
        .collect()
}

fn note(body: &str) -> TimelineEvent {
    TimelineEvent::Note { body: body.into() }
}

fn declare(
    title: &str,
    severity: &str,
    services: &[&str],
    drill: bool,
) -> (Incident, Vec<TimelineEvent>) {
    let new = NewIncident {
        title: title.into(),
        severity: severity.into(),
        services: services.iter().map(|s| name(s)).collect(),
        summary: Some(format!("summary of {title}")),
        customer_impact: Some(format!("impact of {title}")),
        drill,
        detected_at: Some(at(-61_001)),
    };
    Incident::declare(
        new,
        &Config::default(),
        &Actor("alice".into()),
        Some(&name("alice")),
        at(0),
    )
    .expect("valid incident")
}

/// Declares an incident through [`StoreWrites::create_incident`], with its audit record.
async fn create<S: Store + ?Sized>(
    store: &S,
    title: &str,
    severity: &str,
    services: &[&str],
    drill: bool,
) -> Incident {
    let (incident, events) = declare(title, severity, services, drill);
    store
        .create_incident(
            incident,
            drafts(events, at(0)),
            audit("incident.declare", title),
        )
        .await
        .expect("create_incident")
}

/// Runs `work` as one unit of work and returns its value; panics naming `what` if it fails.
async fn commit<S, T, F>(store: &S, what: &str, work: F) -> T
where
    S: Store + ?Sized,
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    match transact(store, work).await {
        Ok(value) => value,
        Err(e) => panic!("{what}: the unit of work failed: {e:?}"),
    }
}

async fn all_timeline<S: Store + ?Sized>(store: &S, number: IncidentNumber) -> Vec<TimelineEntry> {
    store
        .timeline(number, None, 1000)
        .await
        .expect("timeline")
        .items
}

async fn audit_count<S: Store + ?Sized>(store: &S) -> usize {
    store
        .list_audit(None, 10_000)
        .await
        .expect("list_audit")
        .items
        .len()
}

async fn all_numbers<S: Store + ?Sized>(store: &S) -> Vec<i64> {
    store
        .list_incidents(&Default::default(), None, 100)
        .await
        .expect("list_incidents")
        .items
        .iter()
        .map(|i| i.number.0)
        .collect()
}

fn assert_client_safe(message: &str) {
    let upper = message.to_uppercase();
    for word in ["INSERT", "UPDATE ", "SELECT", "UNIQUE CONSTRAINT", "SQL"] {
        assert!(
            !upper.contains(word),
            "conflict message leaks SQL: {message}"
        );
    }
}

fn expect_conflict<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    match result {
        Err(StoreError::Conflict(message)) => assert_client_safe(&message),
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

fn expect_not_found<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// An open alert with every field set, as the engine would store it.
fn alert(integration: &str, service: &str, dedup_key: &str, first_seen: Timestamp) -> Alert {
    Alert {
        id: 0,
        integration: integration.into(),
        service: name(service),
        dedup_key: dedup_key.into(),
        format: AlertFormat::Alertmanager,
        status: AlertStatus::Open,
        severity: AlertSeverity::Critical,
        urgency: Urgency::High,
        summary: format!("{dedup_key} is on fire"),
        source: "db-1".into(),
        labels: BTreeMap::from([
            ("env".to_string(), "prod".to_string()),
            ("team".to_string(), "payments \"core\"".to_string()),
        ]),
        details: "{\"disk\": \"97%\",  \"note\": \"spacing kept\"}".into(),
        links: vec![
            Link {
                href: "https://grafana.example/d/1".into(),
                text: Some("dashboard".into()),
            },
            Link {
                href: "https://runbooks.example/db".into(),
                text: None,
            },
        ],
        images: vec![Image {
            src: "https://img.example/1.png".into(),
            href: None,
            alt: Some("graph".into()),
        }],
        started_at: Some(at(-5_000)),
        ended_at: None,
        first_seen,
        last_seen: first_seen,
        count: 1,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        suppressed_reason: None,
        drill: false,
        gameday: None,
        incident: None,
        raw: "{\"status\":\"firing\"}".into(),
    }
}

/// Stores `triggers` in one unit of work through `upsert_triggers`.
async fn upsert<S: Store + ?Sized>(store: &S, triggers: Vec<Alert>) -> Vec<Upserted> {
    let sent = triggers.len();
    let stored = commit(store, "upsert_triggers", move |tx| {
        Box::pin(async move { tx.upsert_triggers(triggers).await })
    })
    .await;
    assert_eq!(stored.len(), sent, "upsert_triggers answers every trigger");
    stored
}

/// Opens `alert` (its key must have no open alert) and returns its id.
async fn insert<S: Store + ?Sized>(store: &S, alert: Alert) -> i64 {
    let key = alert.dedup_key.clone();
    let stored = upsert(store, vec![alert]).await.remove(0);
    assert!(
        stored.opened,
        "a trigger of the new key {key} opens an alert"
    );
    assert!(stored.alert.id > 0, "the store assigns alert ids");
    stored.alert.id
}

/// Saves every field of `alert` (which has its id) in its own unit of work.
async fn update<S: Store + ?Sized>(store: &S, alert: Alert) {
    commit(store, "update_alert", move |tx| {
        Box::pin(async move { tx.update_alert(&alert).await })
    })
    .await;
}

async fn resolve_alert<S: Store + ?Sized>(store: &S, id: i64, when: Timestamp) -> Alert {
    let mut alert = store
        .get_alert(id)
        .await
        .expect("get_alert")
        .expect("alert exists");
    alert.status = AlertStatus::Resolved;
    alert.resolved_at = Some(when);
    alert.resolved_by = Some("alertmanager".into());
    alert.ended_at = Some(when);
    update(store, alert.clone()).await;
    alert
}

/// A webhook message for `subject`, due at `due`, with a deadline an hour later.
fn message(subject: &str, key: &str, due: Timestamp) -> NewMessage {
    NewMessage {
        kind: "webhook".into(),
        subject: subject.into(),
        idempotency_key: key.into(),
        payload: format!("{{\"id\":\"{key}\",\"type\":\"incident.declared\"}}"),
        due_at: due,
        deadline_at: due + jiff::SignedDuration::from_hours(1),
        created_at: at(-1),
        priority: crate::Priority::Bulk,
    }
}
