//! Customer reports: round trips, counting a subject's reports after an instant, listing with
//! filters and pages, a failed unit leaving nothing, and reports about one subject racing
//! counted one after another.

use std::collections::BTreeSet;
use std::sync::Arc;

use firebreak_domain::customer_report::{CustomerReport, Subject};

use super::{at, commit, name};
use crate::customer_report::ReportFilter;
use crate::{Store, StoreError, transact};

fn checkout() -> Subject {
    Subject::Component {
        id: "c0ffee".into(),
        name: "Checkout".into(),
    }
}

fn report(subject: &Subject, summary: &str, reporter: Option<&str>, when: i64) -> CustomerReport {
    CustomerReport::new(
        subject,
        name("payments"),
        summary,
        reporter,
        "support-tool".into(),
        at(when),
    )
    .expect("valid report")
}

async fn add<S: Store + ?Sized>(store: &S, r: CustomerReport) -> CustomerReport {
    commit(store, "add report", move |tx| {
        Box::pin(async move { tx.add_customer_report(&r).await })
    })
    .await
}

/// Reports are stored whole, counted by subject after an instant (strictly), read newest
/// first, listed newest first by id with filters and a cursor; a unit that fails stores none.
pub async fn customer_reports_round_trip_count_and_list<S: Store>(store: &S) {
    let payments = Subject::Service(name("payments"));
    let first = add(
        store,
        report(&checkout(), "can't pay", Some("ann@example.com"), 0),
    )
    .await;
    assert!(first.id > 0);
    assert_eq!(first.component, Some(("c0ffee".into(), "Checkout".into())));
    let second = add(store, report(&checkout(), "card refused", None, 60_000)).await;
    let other = add(
        store,
        report(&payments, "refunds stuck", Some("bo@example.com"), 90_000),
    )
    .await;
    let third = add(store, report(&checkout(), "still broken", None, 120_000)).await;

    let recent = store
        .reports_about(&checkout().key(), at(0), 10)
        .await
        .unwrap();
    assert_eq!(
        recent.count, 2,
        "a report made at the instant itself is out"
    );
    assert_eq!(recent.newest, vec![third.clone(), second.clone()]);
    let all = store
        .reports_about(&checkout().key(), at(-1), 1)
        .await
        .unwrap();
    assert_eq!(all.count, 3);
    assert_eq!(
        all.newest,
        vec![third.clone()],
        "the newest, up to the limit"
    );
    let theirs = store
        .reports_about(&payments.key(), at(-1), 10)
        .await
        .unwrap();
    assert_eq!(theirs.count, 1);
    assert_eq!(theirs.newest[0], other);
    assert_eq!(theirs.newest[0].reporter.as_deref(), Some("bo@example.com"));
    assert_eq!(theirs.newest[0].component, None);

    // Inside a unit of work: the same reads, and the unit's own report.
    let mine = report(&checkout(), "and again", None, 150_000);
    let (before, after) = commit(store, "lock and add", move |tx| {
        Box::pin(async move {
            let before = tx.lock_reports_about("component/c0ffee", at(-1), 2).await?;
            tx.add_customer_report(&mine).await?;
            let after = tx.lock_reports_about("component/c0ffee", at(-1), 2).await?;
            Ok((before, after))
        })
    })
    .await;
    assert_eq!((before.count, after.count), (3, 4));
    assert_eq!(before.newest[0], third);
    assert_eq!(after.newest[0].summary, "and again");

    // A unit that fails after adding one stores nothing.
    let lost = report(&checkout(), "never stored", None, 160_000);
    let failed = transact(store, move |tx| {
        Box::pin(async move {
            tx.add_customer_report(&lost).await?;
            Err::<(), _>(StoreError::Conflict("changed my mind".into()))
        })
    })
    .await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    let counted = store
        .reports_about("component/c0ffee", at(-1), 10)
        .await
        .unwrap();
    assert_eq!(counted.count, 4);

    // Lists: newest first, by subject or service, in pages.
    let everything = ReportFilter::default();
    let page = store
        .list_customer_reports(&everything, None, 2)
        .await
        .unwrap();
    let ids: Vec<i64> = page.items.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1], "newest first: {ids:?}");
    let rest = store
        .list_customer_reports(&everything, page.next, 10)
        .await
        .unwrap();
    assert_eq!(rest.next, None);
    let mut seen: Vec<i64> = ids
        .into_iter()
        .chain(rest.items.iter().map(|r| r.id))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "every report once");
    let by_subject = ReportFilter {
        subject: Some(payments.key()),
        service: None,
    };
    let listed = store
        .list_customer_reports(&by_subject, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.items, vec![other]);
    let by_service = ReportFilter {
        subject: None,
        service: Some(name("payments")),
    };
    let listed = store
        .list_customer_reports(&by_service, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 5);
    let nobody = ReportFilter {
        subject: None,
        service: Some(name("search")),
    };
    assert!(
        store
            .list_customer_reports(&nobody, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(first.reporter.as_deref(), Some("ann@example.com"));
}

/// Units of work about one subject, racing, each lock its reports, count them and add one:
/// each sees a different count, so exactly one of them reaches any threshold.
pub async fn concurrent_reports_are_counted_one_after_another<S: Store + 'static>(store: Arc<S>) {
    let tasks = (0..6).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let r = report(&checkout(), &format!("report {i}"), None, i);
            transact(&*store, move |tx| {
                Box::pin(async move {
                    let seen = tx
                        .lock_reports_about("component/c0ffee", at(-1_000), 1)
                        .await?;
                    tx.add_customer_report(&r).await?;
                    Ok(seen.count)
                })
            })
            .await
        })
    });
    let mut counts = BTreeSet::new();
    for t in tasks {
        counts.insert(t.await.expect("task").expect("unit of work"));
    }
    assert_eq!(
        counts,
        (0..6).collect::<BTreeSet<u64>>(),
        "each unit counted the others before it"
    );
}
