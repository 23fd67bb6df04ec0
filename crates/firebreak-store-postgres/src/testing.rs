//! Test support (feature `testing`): tidying up the scratch schemas that test processes leave
//! in the test database.
//!
//! Every test that runs on PostgreSQL works in a schema of its own, named
//! `<prefix>_<process id>_<nanoseconds>`, sometimes with a counter or a second pair after it.
//! A test that panics, or a server test that never drops its store, leaves that schema behind,
//! and one run of the suite used to leave dozens. [`sweep_ended_test_schemas`] drops the ones whose process
//! has ended.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};

/// Drops every scratch test schema in the database at `url` whose process has ended, once per
/// process; errors are ignored (another process may be dropping the same schema).
///
/// Only a database on this machine is swept, since "the process has ended" is read from
/// `/proc`: a database shared by several machines is left alone. A schema is a candidate only
/// when its name has the test shape and it holds Firebreak's `outbox` table.
pub async fn sweep_ended_test_schemas(url: &str) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let Ok(options) = url.parse::<PgConnectOptions>() else {
        return;
    };
    if !on_this_machine(options.get_host()) || !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(mut conn) = PgConnection::connect_with(&options).await else {
        return;
    };
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT n.nspname::text, substring(n.nspname FROM '^[a-z_]*?_([0-9]+)_[0-9]') \
         FROM pg_namespace n \
         WHERE n.nspname ~ '^[a-z][a-z_]*(_[0-9]+){2,4}$' \
           AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'outbox')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    let own = std::process::id().to_string();
    for (schema, pid) in found {
        if pid == own || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        let _ = sqlx::query(AssertSqlSafe(drop)).execute(&mut conn).await;
    }
    let _ = conn.close().await;
}

/// Whether `host` names this machine: loopback, or a Unix socket directory.
fn on_this_machine(host: &str) -> bool {
    host.starts_with('/')
        || host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::on_this_machine;

    #[test]
    fn only_this_machine_is_swept() {
        for host in [
            "127.0.0.1",
            "localhost",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(on_this_machine(host), "{host}");
        }
        for host in ["db.example.com", "10.0.0.5", "192.168.1.2"] {
            assert!(!on_this_machine(host), "{host}");
        }
    }
}
