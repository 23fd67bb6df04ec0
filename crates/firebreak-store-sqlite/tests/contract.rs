//! Runs the shared store contract suite against SQLite, each check on a fresh database file,
//! and proves the database itself keeps the timeline and the audit log append-only.

use std::path::Path;

use firebreak_store::contract;
use firebreak_store_sqlite::SqliteStore;
use rusqlite::Connection;

/// A store on a new file in a temporary directory. The directory is leaked so it lives as
/// long as the store.
async fn fresh() -> SqliteStore {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    SqliteStore::open(&dir.join("nested").join("firebreak.db"))
        .await
        .expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_store_contract() {
    contract::run_all(fresh).await;
}

#[tokio::test]
async fn opening_twice_migrates_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(&path).await.expect("open");
    contract::numbers_are_sequential(&store).await;
    store.migrate().await.expect("migrate again");
    drop(store);
    let store = SqliteStore::open(&path).await.expect("reopen");
    use firebreak_store::IncidentStore;
    let page = store
        .list_incidents(&Default::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(page.items.len(), 3, "data survives reopening");
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).expect("open")
}

#[tokio::test]
async fn the_database_refuses_to_change_timeline_and_audit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(&path).await.expect("open");
    contract::numbers_are_sequential(&store).await;
    let conn = raw(&path);
    for sql in [
        "UPDATE timeline_entries SET actor = 'mallory'",
        "DELETE FROM timeline_entries",
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
    ] {
        let err = conn.execute_batch(sql).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let count: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM timeline_entries WHERE actor = 'alice'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(count, 3);
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 3);
}
