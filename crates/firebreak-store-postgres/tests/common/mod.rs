//! Shared test setup: every test gets a fresh, randomly named schema in the test database, so
//! tests run in parallel without seeing each other. The database must be reachable: a test
//! fails loudly, naming the URL it tried, rather than skipping.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use firebreak_store_postgres::PostgresStore;

pub const DEFAULT_URL: &str = "postgres://127.0.0.1:5432/test?user=postgres";

/// The test database: `FIREBREAK_TEST_POSTGRES_URL`, or the local default.
pub fn url() -> String {
    std::env::var("FIREBREAK_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A schema name no other test (in this run or a concurrent one) uses.
pub fn fresh_schema() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "fb_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Connects to `schema` and migrates it. Panics, naming the URL, if PostgreSQL is unreachable.
pub async fn store_in(schema: &str) -> PostgresStore {
    let url = url();
    firebreak_store_postgres::testing::sweep_ended_test_schemas(&url).await;
    let store = PostgresStore::connect_with_schema(&url, schema)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for these tests but {url} could not be used ({e}). \
             Start PostgreSQL there or set FIREBREAK_TEST_POSTGRES_URL."
            )
        });
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating schema {schema} at {url} failed: {e}"));
    store
}

/// A migrated store in a fresh schema. Call `drop_schema` at the end of the test.
pub async fn fresh_store() -> PostgresStore {
    store_in(&fresh_schema()).await
}

/// The test database's URL with `application_name` set to `name`, so a test can find its own
/// connections in `pg_stat_activity` (and only those).
pub fn url_named(name: &str) -> String {
    let url = url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={name}")
}

/// Like [`store_in`], with every connection named `name` (see [`url_named`]).
pub async fn named_store_in(schema: &str, name: &str) -> PostgresStore {
    let url = url_named(name);
    let store = PostgresStore::connect_with_schema(&url, schema)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for these tests but {url} could not be used ({e}). \
             Start PostgreSQL there or set FIREBREAK_TEST_POSTGRES_URL."
            )
        });
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating schema {schema} at {url} failed: {e}"));
    store
}
