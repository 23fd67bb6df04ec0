//! The worker runtime: every background task runs under one [`TaskTracker`] and one
//! [`CancellationToken`], each in its own small loop (one module per background process).
//!
//! - the outbox worker ([`crate::delivery`]);
//! - the follower, which keeps in-memory state in step with the change feed: the ingest index
//!   (keys, routes, silences, maintenance windows), the webhook subscriptions and the token
//!   cache; it reloads all of them when it falls behind, and every [`SAFETY_RELOAD`] anyway;
//! - the monitor, which logs the outbox's depth and oldest due age every minute while
//!   anything is overdue;
//! - the janitor, which forgets finished outbox messages and old sender requests, and deletes
//!   ended sessions, used or expired invitation links and forgotten failed sign-ins;
//! - the reviewer, which every hour reminds owners of overdue action items (once a day each)
//!   and commanders of postmortems still unpublished after `review.remind_after`;
//! - the heartbeat watcher, which takes down heartbeats whose last ping is older than their
//!   period plus grace ([`crate::heartbeats`]), waking at the soonest due time by the clock and
//!   when a heartbeat changes;
//! - the check runner, which claims due uptime checks under a lease and runs them
//!   ([`crate::checks`]), waking at the soonest due time by the clock and when a check is added
//!   or removed.
//!
//! A task that panics or returns while Firebreak is running is started again after a second,
//! with an error in the log. [`Runtime::shutdown`] cancels them all and waits: workers finish
//! what they started and give back their leases.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use firebreak_store::feed::Topic;
use firebreak_store::{Committed, transact};
use jiff::SignedDuration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Firebreak;

/// How often in-memory state is reloaded even when the feed says nothing.
pub const SAFETY_RELOAD: SignedDuration = SignedDuration::from_secs(30);
/// How often the outbox is checked for overdue work.
const MONITOR_EVERY: SignedDuration = SignedDuration::from_mins(1);
/// How often old rows are cleaned up, and how long they are kept.
const JANITOR_EVERY: SignedDuration = SignedDuration::from_hours(1);
/// How often overdue action items and missing postmortems are looked for.
const REVIEW_EVERY: SignedDuration = SignedDuration::from_hours(1);
const KEEP_FINISHED: SignedDuration = SignedDuration::from_hours(7 * 24);
const KEEP_REQUESTS: SignedDuration = SignedDuration::from_hours(48);

/// The running background tasks.
pub struct Runtime {
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Who this process is when it claims outbox messages.
    pub owner: String,
}

impl Runtime {
    /// Starts every background task for `app`.
    pub fn start(app: &Firebreak) -> Runtime {
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        let owner = format!(
            "{}-{}",
            hostname(),
            crate::short_id("w").unwrap_or_else(|_| "w_0".into())
        );
        let runtime = Runtime {
            tracker,
            cancel,
            owner,
        };
        {
            let (app, owner) = (app.clone(), runtime.owner.clone());
            runtime.supervise("outbox worker", move |cancel| {
                crate::delivery::run(app.clone(), owner.clone(), cancel)
            });
        }
        {
            let app = app.clone();
            runtime.supervise("change follower", move |cancel| follow(app.clone(), cancel));
        }
        {
            let app = app.clone();
            runtime.supervise("outbox monitor", move |cancel| monitor(app.clone(), cancel));
        }
        {
            let app = app.clone();
            runtime.supervise("janitor", move |cancel| janitor(app.clone(), cancel));
        }
        {
            let app = app.clone();
            runtime.supervise("action sweeper", move |cancel| sweep(app.clone(), cancel));
        }
        {
            let app = app.clone();
            runtime.supervise("reviewer", move |cancel| reviewer(app.clone(), cancel));
        }
        {
            let app = app.clone();
            runtime.supervise("heartbeat watcher", move |cancel| {
                heartbeat_watcher(app.clone(), cancel)
            });
        }
        {
            let (app, owner) = (app.clone(), runtime.owner.clone());
            runtime.supervise("check runner", move |cancel| {
                check_runner(app.clone(), owner.clone(), cancel)
            });
        }
        runtime.tracker.close();
        runtime
    }

    /// Runs `task` until cancelled, starting it again if it panics or stops early.
    fn supervise<F, Fut>(&self, name: &'static str, task: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            loop {
                let run = tokio::spawn(task(cancel.clone()));
                let outcome = run.await;
                if cancel.is_cancelled() {
                    break;
                }
                match outcome {
                    Ok(()) => {
                        tracing::error!(task = name, "a background task stopped; starting it again")
                    }
                    Err(e) if e.is_panic() => tracing::error!(
                        task = name,
                        "a background task panicked; starting it again in 1 s"
                    ),
                    Err(_) => tracing::error!(
                        task = name,
                        "a background task was cancelled; starting it again"
                    ),
                }
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }

    /// A token that is cancelled when the runtime shuts down.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops every task and waits (up to `patience`) for them to finish their work.
    pub async fn shutdown(&self, patience: Duration) {
        self.cancel.cancel();
        if tokio::time::timeout(patience, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop in time; stopping anyway");
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "firebreak".into())
}

/// Reloads what the feed says changed; everything when it fell behind or on the safety tick.
async fn follow(app: Firebreak, cancel: CancellationToken) {
    let mut feed = app.store.feed().subscribe();
    reload_all(&app).await;
    loop {
        let tick = app.clock.now() + SAFETY_RELOAD;
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = app.clock.sleep_until(tick) => reload_all(&app).await,
            changed = feed.recv() => match changed {
                Ok(c) => apply(&app, &c).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "the change follower fell behind; reloading everything");
                    reload_all(&app).await;
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
}

async fn apply(app: &Firebreak, c: &Committed) {
    if c.touches(Topic::Grants) {
        app.grants.changed();
    }
    if c.touches(Topic::Runbooks) {
        app.runbooks.changed();
    }
    if [
        Topic::Integrations,
        Topic::Routes,
        Topic::Silences,
        Topic::Maintenance,
        Topic::StatusPage,
    ]
    .into_iter()
    .any(|t| c.touches(t))
        && let Err(e) = app.refresh_alert_index().await
    {
        tracing::warn!(error = %e, "could not reload integration keys, routes and silences");
    }
    if c.touches(Topic::Subscriptions)
        && let Err(e) = app.reload_subscriptions().await
    {
        tracing::warn!(error = %e, "could not reload webhook subscriptions");
    }
    if [
        Topic::Policies,
        Topic::Services,
        Topic::Users,
        Topic::Contacts,
        Topic::Schedules,
    ]
    .into_iter()
    .any(|t| c.touches(t))
        && let Err(e) = app.reload_paging().await
    {
        tracing::warn!(error = %e, "could not reload escalation policies, contact methods and schedules");
    }
    if c.touches(Topic::Tokens) || c.touches(Topic::Users) {
        app.tokens.clear();
    }
    if c.touches(Topic::StatusPage)
        || c.changes
            .iter()
            .any(|x| matches!(x, firebreak_store::Change::Incident { .. }))
    {
        app.status.changed();
    }
}

async fn reload_all(app: &Firebreak) {
    if let Err(e) = app.refresh_alert_index().await {
        tracing::warn!(error = %e, "could not reload integration keys, routes and silences");
    }
    if let Err(e) = app.reload_subscriptions().await {
        tracing::warn!(error = %e, "could not reload webhook subscriptions");
    }
    if let Err(e) = app.reload_paging().await {
        tracing::warn!(error = %e, "could not reload escalation policies");
    }
    app.tokens.clear();
    app.grants.changed();
    app.runbooks.changed();
    app.status.changed();
}

/// Logs the outbox's state every minute while something is overdue.
async fn monitor(app: Firebreak, cancel: CancellationToken) {
    loop {
        let next = app.clock.now() + MONITOR_EVERY;
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = app.clock.sleep_until(next) => {}
        }
        let now = app.clock.now();
        match app.store.outbox_stats(now).await {
            Ok(stats) => {
                for s in stats.iter().filter(|s| s.overdue > 0) {
                    let oldest_s = s
                        .oldest_due
                        .map(|d| now.duration_since(d).as_secs())
                        .unwrap_or(0);
                    tracing::warn!(
                        kind = %s.kind,
                        depth = s.depth,
                        overdue = s.overdue,
                        oldest_due_age_s = oldest_s,
                        "outbox messages are overdue"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read outbox figures"),
        }
    }
}

/// Forgets finished outbox messages after a week and sender requests after two days.
/// Marks action runs whose process stopped as interrupted, and refuses approvals that came
/// too late: at once on start (a run this process was running before a crash), then every few
/// seconds. It never starts a run.
async fn sweep(app: Firebreak, cancel: CancellationToken) {
    loop {
        if let Err(e) = app.sweep_runs().await {
            tracing::warn!(error = %e, "could not check for interrupted action runs");
        }
        let next = app.clock.now() + crate::actions::HEARTBEAT_EVERY;
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = app.clock.sleep_until(next) => {}
        }
    }
}

/// Chases what reviews left open: overdue action items and unpublished postmortems. Both are
/// once-only per item and day (or per incident), kept in the store, so several instances
/// running this at once remind nobody twice.
async fn reviewer(app: Firebreak, cancel: CancellationToken) {
    loop {
        // The next round is an hour after this one began, however long this one took.
        let started = app.clock.now();
        match app.remind_overdue_items().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(items = n, "reminded owners of overdue action items"),
            Err(e) => tracing::warn!(error = %e, "could not remind owners of overdue action items"),
        }
        match app.remind_missing_postmortems().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(incidents = n, "reminded commanders of missing postmortems"),
            Err(e) => {
                tracing::warn!(error = %e, "could not remind commanders of missing postmortems")
            }
        }
        let next = started + REVIEW_EVERY;
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = app.clock.sleep_until(next) => {}
        }
    }
}

/// Takes missed heartbeats down. It sleeps until the soonest due time (at most
/// [`SAFETY_RELOAD`], for heartbeats changed where the feed does not reach), or until a
/// heartbeat is added, removed or goes up or down. Each one goes down under its lock, so
/// instances sharing a database take it down once.
async fn heartbeat_watcher(app: Firebreak, cancel: CancellationToken) {
    let mut feed = app.store.feed().subscribe();
    loop {
        let failed = match app.check_heartbeats().await {
            Ok(0) => false,
            Ok(n) => {
                tracing::info!(heartbeats = n, "heartbeats missed their period and grace");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not check heartbeats");
                true
            }
        };
        let now = app.clock.now();
        let next = match app.next_heartbeat_due().await {
            Ok(Some(due)) => due.min(now + SAFETY_RELOAD),
            Ok(None) => now + SAFETY_RELOAD,
            Err(e) => {
                tracing::warn!(error = %e, "could not read when the next heartbeat is due");
                now + SAFETY_RELOAD
            }
        };
        if !wait_until_due(&app, &cancel, &mut feed, Topic::Heartbeats, next, failed).await {
            break;
        }
    }
}

/// Waits until `next` by the clock, or until `topic` changes; after a failure, or when `next`
/// is already past, a second of real time instead, so a database that is away is not asked in
/// a tight loop. False once cancelled.
async fn wait_until_due(
    app: &Firebreak,
    cancel: &CancellationToken,
    feed: &mut tokio::sync::broadcast::Receiver<Arc<Committed>>,
    topic: Topic,
    next: jiff::Timestamp,
    failed: bool,
) -> bool {
    if failed || next <= app.clock.now() {
        return tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(Duration::from_secs(1)) => true,
        };
    }
    let changed = async {
        loop {
            match feed.recv().await {
                Ok(c) if c.touches(topic) => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = app.clock.sleep_until(next) => true,
        _ = changed => true,
    }
}

/// Runs due uptime checks, up to [`crate::checks::CONCURRENCY`] at once. It claims as many due
/// checks as it has free slots and starts each on its own task, so one slow target holds its
/// own slot only, never the checks due after it. Then it sleeps until the soonest due time or
/// lease end (at most [`SAFETY_RELOAD`], for checks added where the feed does not reach), until
/// a check is added or removed, or until a run finishes and frees a slot. On shutdown the runs
/// in flight are dropped: their leases end and they run again, on this instance or another.
async fn check_runner(app: Firebreak, owner: String, cancel: CancellationToken) {
    let mut feed = app.store.feed().subscribe();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let free = crate::checks::CONCURRENCY.saturating_sub(running.len());
        let mut failed = false;
        if free > 0 {
            let limit = (free as u32).min(crate::checks::ROUND);
            let claimed = tokio::select! {
                _ = cancel.cancelled() => break,
                claimed = app.claim_due_checks(&owner, limit) => claimed,
            };
            match claimed {
                Ok(claimed) => {
                    for c in claimed {
                        let (app, owner) = (app.clone(), owner.clone());
                        running.spawn(async move { app.run_claimed_check(c, &owner).await });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim uptime checks");
                    failed = true;
                }
            }
        }
        let now = app.clock.now();
        let next = match app.next_check_due().await {
            Ok(Some(due)) => due.min(now + SAFETY_RELOAD),
            Ok(None) => now + SAFETY_RELOAD,
            Err(e) => {
                tracing::warn!(error = %e, "could not read when the next uptime check is due");
                now + SAFETY_RELOAD
            }
        };
        // Every slot busy: wait for a run to finish (or shutdown), whatever is due.
        if running.len() >= crate::checks::CONCURRENCY {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = running.join_next() => continue,
            }
        }
        let finished = async {
            if running.is_empty() {
                std::future::pending::<()>().await;
            }
            running.join_next().await;
        };
        let go_on = tokio::select! {
            go_on = wait_until_due(&app, &cancel, &mut feed, Topic::Checks, next, failed) => go_on,
            _ = finished => true,
        };
        if !go_on {
            break;
        }
    }
    running.abort_all();
}

async fn janitor(app: Firebreak, cancel: CancellationToken) {
    loop {
        let now = app.clock.now();
        let store = Arc::clone(&app.store);
        let purged = transact(&*store, move |tx| {
            Box::pin(async move {
                let messages = tx.purge_finished(now - KEEP_FINISHED).await?;
                let requests = tx.purge_requests(now - KEEP_REQUESTS).await?;
                Ok((messages, requests))
            })
        })
        .await;
        match purged {
            Ok((0, 0)) => {}
            Ok((messages, requests)) => {
                tracing::info!(
                    messages,
                    requests,
                    "cleaned up finished outbox messages and old sender requests"
                )
            }
            Err(e) => tracing::warn!(error = %e, "could not clean up old outbox messages"),
        }
        let unconfirmed = transact(&*store, move |tx| {
            Box::pin(async move {
                tx.purge_unconfirmed_subscribers(now - crate::subscribers::KEEP_UNCONFIRMED)
                    .await
            })
        })
        .await;
        match unconfirmed {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                subscribers = n,
                "deleted status page subscriptions never confirmed within 7 days"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not delete unconfirmed status page subscriptions")
            }
        }
        app.status.forget_idle();
        app.reports.forget_idle(std::time::Instant::now()).await;
        prune_sign_ins(&app).await;
        match app.prune_check_history().await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "deleted old uptime check results and daily counts"),
            Err(e) => tracing::warn!(error = %e, "could not delete old uptime check results"),
        }
        let next = now + JANITOR_EVERY;
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = app.clock.sleep_until(next) => {}
        }
    }
}

/// Deletes the sign-in rows that are done with (`Firebreak::prune_sign_ins`), logging what it
/// deleted and how long it took.
async fn prune_sign_ins(app: &Firebreak) {
    let started = std::time::Instant::now();
    match app.prune_sign_ins().await {
        Ok(pruned) if pruned == Default::default() => {}
        Ok(pruned) => tracing::info!(
            sessions = pruned.sessions,
            invitations = pruned.invitations,
            failures = pruned.failures,
            took_ms = started.elapsed().as_millis() as u64,
            "deleted ended sessions, used or expired invitation links and forgotten failed sign-ins"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not delete ended sessions and invitation links")
        }
    }
}
