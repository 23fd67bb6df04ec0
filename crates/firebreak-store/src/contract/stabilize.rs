//! The audit log's hash chain, declared freezes and break-glass grants.

use std::sync::Arc;

use firebreak_domain::audit::Verifier;
use firebreak_domain::break_glass::Grant;
use firebreak_domain::freeze::Freeze;
use firebreak_domain::{AccessRole, IncidentNumber};
use jiff::SignedDuration;

use super::{at, audit, commit, create, name};
use crate::{Store, StoreError, transact};

/// Walks the whole log through `audit_after`, as `audit verify` does.
async fn verify_chain<S: Store + ?Sized>(store: &S) -> u64 {
    let mut v = Verifier::new();
    let mut after = 0;
    loop {
        let rows = store
            .audit_after(after, None, 100)
            .await
            .expect("audit_after");
        let Some(last) = rows.last() else {
            return v.rows();
        };
        after = last.id;
        for r in &rows {
            v.check(&r.content(), r.prev_hash.as_deref(), r.hash.as_deref())
                .unwrap_or_else(|b| panic!("the chain breaks: {b}"));
        }
    }
}

/// Every audit record is chained to the one before it, through units of work that commit,
/// roll back or carry a break-glass tag; `audit_after` pages oldest first and filters by time.
pub async fn audit_rows_form_one_chain<S: Store>(store: &S) {
    for i in 0..5 {
        let mut a = audit("incident.update", &format!("INC-{i}"));
        a.at = at(i * 1000);
        a.break_glass = (i == 3).then_some(9);
        commit(store, "audit", move |tx| {
            Box::pin(async move { tx.audit(a).await })
        })
        .await;
        // A unit that fails leaves no row, and no gap in the chain.
        let rolled_back = transact(store, |tx| {
            Box::pin(async move {
                tx.audit(audit("never", "x")).await?;
                Err::<(), _>(StoreError::Conflict("refused".into()))
            })
        })
        .await;
        assert!(rolled_back.is_err());
    }
    assert_eq!(verify_chain(store).await, 5);
    let rows = store.audit_after(0, None, 100).await.unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[0].prev_hash.as_deref(),
        Some(firebreak_domain::audit::GENESIS)
    );
    assert_eq!(rows[3].break_glass, Some(9));
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    let since = store.audit_after(0, Some(at(3000)), 100).await.unwrap();
    assert_eq!(since.len(), 2, "rows at or after the time");
    let page = store.audit_after(rows[1].id, None, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![rows[2].id, rows[3].id]
    );
    // The newest-first list shows the same rows with their hashes.
    let listed = store.list_audit(None, 10).await.unwrap().items;
    assert_eq!(listed[0].hash, rows[4].hash);
}

/// Many writers at once still make one chain: no two rows share a predecessor.
pub async fn concurrent_audited_writes_make_one_chain<S: Store + 'static>(store: Arc<S>) {
    let writers = 1000;
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                commit(&*store, "audit", move |tx| {
                    Box::pin(async move {
                        tx.audit(audit("silence.create", &format!("silence/{i}")))
                            .await
                    })
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer task");
    }
    assert_eq!(verify_chain(&*store).await, writers);
}

fn freeze(services: &[&str], from: i64, to: i64) -> Freeze {
    Freeze {
        id: 0,
        starts_at: at(from),
        ends_at: at(to),
        services: services.iter().map(|s| name(s)).collect(),
        reason: "Black Friday".into(),
        created_by: "alice".into(),
        created_at: at(0),
        ended_at: None,
    }
}

/// Declared freezes round-trip, list while they have not ended, and can be lifted early.
pub async fn freezes_round_trip_and_lift<S: Store>(store: &S) {
    let f = freeze(&["checkout", "search"], 1000, 5000);
    let stored = commit(store, "create freeze", move |tx| {
        Box::pin(async move { tx.create_freeze(&f).await })
    })
    .await;
    assert!(stored.id > 0);
    let all = freeze(&[], 0, 2000);
    commit(store, "create freeze", move |tx| {
        Box::pin(async move { tx.create_freeze(&all).await.map(|_| ()) })
    })
    .await;
    let listed = store.list_freezes(at(1500)).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], stored, "soonest start first, every field kept");
    assert_eq!(store.list_freezes(at(2000)).await.unwrap().len(), 1);
    let id = stored.id;
    commit(store, "lift", move |tx| {
        Box::pin(async move {
            let locked = tx.lock_freeze(id).await?.expect("the freeze");
            assert_eq!(locked.id, id);
            tx.end_freeze(id, at(3000)).await
        })
    })
    .await;
    assert!(store.list_freezes(at(3000)).await.unwrap().is_empty());
    let missing = transact(store, |tx| {
        Box::pin(async move { tx.end_freeze(999_999, at(1)).await })
    })
    .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

/// Grants round-trip; live grants are the waiting ones and those not expired or ended; an
/// incident's open grants can be locked and ended together.
pub async fn grants_round_trip_and_end<S: Store>(store: &S) {
    let incident = create(store, "Database on fire", "SEV1", &["checkout"], false).await;
    let n: IncidentNumber = incident.number;
    let grant = |granted: Option<i64>| Grant {
        id: 0,
        incident: n,
        user: name("riley"),
        role: AccessRole::Admin,
        reason: "failover".into(),
        requested_at: at(0),
        duration: SignedDuration::from_mins(30),
        granted_at: granted.map(at),
        approved_by: None,
        ended_at: None,
        end_reason: None,
    };
    let (a, b) = (grant(Some(0)), grant(None));
    let (a, b) = commit(store, "grants", move |tx| {
        Box::pin(async move { Ok((tx.create_grant(&a).await?, tx.create_grant(&b).await?)) })
    })
    .await;
    assert_eq!(store.get_grant(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.live_grants(at(1000)).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    // Thirty minutes on, the granted one has expired; the waiting one is still live.
    let later = at(30 * 60 * 1000);
    assert_eq!(store.live_grants(later).await.unwrap(), vec![b.clone()]);
    let approved_id = b.id;
    commit(store, "approve", move |tx| {
        Box::pin(async move {
            let mut g = tx.lock_grant(approved_id).await?.expect("grant");
            g.granted_at = Some(at(5000));
            g.approved_by = Some("ida".into());
            tx.save_grant(&g).await
        })
    })
    .await;
    let approved = store.get_grant(b.id).await.unwrap().unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("ida"));
    commit(store, "end", move |tx| {
        Box::pin(async move {
            let open = tx.lock_open_grants(n).await?;
            assert_eq!(open.len(), 2);
            for mut g in open {
                g.ended_at = Some(at(6000));
                g.end_reason = Some("incident resolved".into());
                tx.save_grant(&g).await?;
            }
            Ok(())
        })
    })
    .await;
    assert!(store.live_grants(at(6000)).await.unwrap().is_empty());
    let all = store.incident_grants(n).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|g| g.end_reason.as_deref() == Some("incident resolved"))
    );
}

fn action_run(n: IncidentNumber, action: &str) -> firebreak_domain::action::ActionRun {
    use firebreak_domain::action::{ActionRun, RunStatus, Shown};
    ActionRun {
        id: 0,
        incident: n,
        runbook: "checkout-errors".into(),
        action: action.into(),
        requested_by: "riley".into(),
        params: [("namespace".to_string(), "shop".to_string())].into(),
        shown: Shown::Command {
            argv: vec!["kubectl".into(), "deployment/api --all".into()],
            env: vec!["KUBECONFIG=<secret kubeconfig>".into()],
            cwd: Some("/srv".into()),
        },
        status: RunStatus::Running,
        requested_at: at(0),
        approve_by: None,
        approved_by: None,
        started_at: Some(at(0)),
        finished_at: None,
        heartbeat_at: Some(at(0)),
        exit_code: None,
        output: String::new(),
        error: None,
        break_glass: Some(3),
    }
}

/// Action runs round-trip; an incident's open runs of one action can be locked; stale runs
/// (a silent heartbeat, an approval past its time) are found for the sweeper.
pub async fn action_runs_round_trip<S: Store>(store: &S) {
    use firebreak_domain::action::{RunStatus, Shown, ShownRequest};
    let incident = create(store, "Database on fire", "SEV1", &["checkout"], false).await;
    let n = incident.number;
    let running = action_run(n, "rollback");
    let mut waiting = action_run(n, "restart");
    waiting.status = RunStatus::PendingApproval;
    waiting.approve_by = Some(at(60_000));
    waiting.started_at = None;
    waiting.heartbeat_at = None;
    waiting.shown = Shown::Http(ShownRequest {
        method: "POST".into(),
        url: "https://deploy.example.com/rollback".into(),
        headers: vec![("Authorization".into(), "<secret deploy_token>".into())],
        body: Some(r#"{"service": "api"}"#.into()),
    });
    let (a, b) = commit(store, "runs", move |tx| {
        Box::pin(async move {
            Ok((
                tx.create_run(&running).await?,
                tx.create_run(&waiting).await?,
            ))
        })
    })
    .await;
    assert!(a.id > 0 && b.id > a.id);
    assert_eq!(
        store.get_run(a.id).await.unwrap(),
        Some(a.clone()),
        "every field kept"
    );
    assert_eq!(store.get_run(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(
        store.incident_runs(n).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    let open = commit(store, "open runs", move |tx| {
        Box::pin(async move { tx.lock_open_runs(n, "rollback").await })
    })
    .await;
    assert_eq!(open, vec![a.clone()]);
    let waiting = commit(store, "waiting runs", move |tx| {
        Box::pin(async move { tx.lock_waiting_runs(n).await })
    })
    .await;
    assert_eq!(waiting, vec![b.clone()]);
    // Nothing is stale yet; later the silent runner and the late approval both are.
    assert!(store.stale_runs(at(-1), at(1)).await.unwrap().is_empty());
    let stale = store.stale_runs(at(1), at(60_000)).await.unwrap();
    assert_eq!(
        stale.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![a.id, b.id]
    );
    let id = a.id;
    commit(store, "finish", move |tx| {
        Box::pin(async move {
            let mut r = tx.lock_run(id).await?.expect("the run");
            r.status = RunStatus::Succeeded;
            r.finished_at = Some(at(5000));
            r.exit_code = Some(0);
            r.output = "rolled back\n".into();
            tx.save_run(&r).await
        })
    })
    .await;
    let done = store.get_run(a.id).await.unwrap().unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.exit_code, Some(0));
    assert_eq!(done.output, "rolled back\n");
    let none = commit(store, "open runs", move |tx| {
        Box::pin(async move { tx.lock_open_runs(n, "rollback").await })
    })
    .await;
    assert!(none.is_empty());
    let missing = transact(store, move |tx| {
        Box::pin(async move {
            let mut r = action_run(n, "x");
            r.id = 999_999;
            tx.save_run(&r).await
        })
    })
    .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

/// Runbooks added through the API round-trip whole (actions of both kinds, secrets by name,
/// matchers, params), are replaced by name, listed by name and deleted.
pub async fn runbooks_round_trip<S: Store>(store: &S) {
    use crate::RunbookRecord;
    use firebreak_domain::Matcher;
    use firebreak_domain::runbook::{Action, ActionKind, Param, Runbook, Value as Setting};
    let action = |n: &str, kind: ActionKind| Action {
        name: name(n),
        description: format!("does {n}"),
        kind,
        params: [("namespace".to_string(), Param::new("[a-z-]+").unwrap())].into(),
        timeout: SignedDuration::from_secs(90),
        role: AccessRole::Admin,
        approval: true,
        approval_within: SignedDuration::from_mins(10),
    };
    let runbook = Runbook {
        name: name("checkout-errors"),
        services: vec![name("checkout")],
        matchers: vec![Matcher::parse(r#"alertname="HighErrorRate""#).unwrap()],
        body: "1. Check the panel.".into(),
        url: Some("https://wiki.example.com/checkout".into()),
        actions: vec![
            action(
                "rollback",
                ActionKind::Command {
                    run: vec!["kubectl".into(), "deployment/{service}".into()],
                    cwd: Some("/srv".into()),
                    env: [
                        (
                            "KUBECONFIG".to_string(),
                            Setting::Secret(name("kubeconfig")),
                        ),
                        ("MODE".to_string(), Setting::Text("fast".into())),
                    ]
                    .into(),
                },
            ),
            action(
                "restart",
                ActionKind::Http {
                    method: "POST".into(),
                    url: "https://deploy.example.com/{service}".into(),
                    headers: [("Authorization".to_string(), Setting::Secret(name("token")))].into(),
                    body: Some(r#"{"to": "{previous_version}"}"#.into()),
                },
            ),
        ],
    };
    let record = RunbookRecord {
        runbook: runbook.clone(),
        created_by: "alice".into(),
        created_at: at(0),
        updated_at: at(0),
    };
    let first = record.clone();
    let added = commit(store, "put", move |tx| {
        Box::pin(async move { tx.put_runbook(&first).await })
    })
    .await;
    assert!(added);
    assert_eq!(store.list_runbooks().await.unwrap(), vec![record.clone()]);
    let mut changed = record.clone();
    changed.runbook.body = "2. Roll back.".into();
    changed.updated_at = at(5);
    let again = changed.clone();
    let added = commit(store, "put again", move |tx| {
        Box::pin(async move { tx.put_runbook(&again).await })
    })
    .await;
    assert!(!added, "the same name replaces");
    let listed = store.list_runbooks().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].runbook.body, "2. Roll back.");
    assert_eq!(listed[0].created_at, at(0), "created_at is kept");
    commit(store, "delete", |tx| {
        Box::pin(async move { tx.delete_runbook("checkout-errors").await })
    })
    .await;
    assert!(store.list_runbooks().await.unwrap().is_empty());
    let missing = transact(store, |tx| {
        Box::pin(async move { tx.delete_runbook("checkout-errors").await })
    })
    .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}
