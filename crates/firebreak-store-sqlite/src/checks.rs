//! Uptime checks on SQLite. Claims run on the one writer, so two claimers never take the same
//! check; a lease that ran out makes it claimable again.

use async_trait::async_trait;
use firebreak_domain::check::{
    Check, CheckKind, CheckResult, CheckSpec, CheckState, DayUptime, Expect, Method, TlsSettings,
    day_from_number, day_number, day_of,
};
use firebreak_store::feed::Topic;
use firebreak_store::{Change, CheckStore, CheckWrites, Lease, Result, StoreError};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Row, params};

use crate::SqliteStore;
use crate::rows::{self, ms, opt_ms};
use crate::tx::SqliteTx;

const COLUMNS: &str = "id, name, service, kind, target, method, interval_ms, timeout_ms, \
     failures_before_alert, expect_status, expect_body, expect_body_regex, \
     expect_max_latency_ms, tls_warn_before_ms, tls_ca_file, component, state, \
     consecutive_failures, last_run, last_error, down_since, tls_expires_at, tls_warning, \
     next_due, created_by, created_at";

fn bad(what: &str, text: &str) -> StoreError {
    StoreError::backend(format!("unknown check {what} {text:?}"))
}

fn span(row: &Row<'_>, col: &str) -> Result<Option<SignedDuration>> {
    Ok(rows::get::<Option<i64>>(row, col)?.map(SignedDuration::from_millis))
}

fn check(row: &Row<'_>) -> Result<Check> {
    let kind: String = rows::get(row, "kind")?;
    let method: String = rows::get(row, "method")?;
    let state: String = rows::get(row, "state")?;
    let count = |col: &str| -> Result<u32> {
        u32::try_from(rows::get::<i64>(row, col)?).map_err(StoreError::backend)
    };
    let status: Option<i64> = rows::get(row, "expect_status")?;
    Ok(Check {
        id: rows::get(row, "id")?,
        spec: CheckSpec {
            name: rows::name_at(row, "name")?,
            service: rows::name_at(row, "service")?,
            kind: CheckKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
            target: rows::get(row, "target")?,
            method: Method::parse(&method).ok_or_else(|| bad("method", &method))?,
            interval: SignedDuration::from_millis(rows::get(row, "interval_ms")?),
            timeout: SignedDuration::from_millis(rows::get(row, "timeout_ms")?),
            failures_before_alert: count("failures_before_alert")?,
            expect: Expect {
                status: status.and_then(|s| u16::try_from(s).ok()),
                body: rows::get(row, "expect_body")?,
                body_regex: rows::get(row, "expect_body_regex")?,
                max_latency: span(row, "expect_max_latency_ms")?,
            },
            tls: TlsSettings {
                warn_before: span(row, "tls_warn_before_ms")?,
                ca_file: rows::get(row, "tls_ca_file")?,
            },
            component: rows::get(row, "component")?,
        },
        state: CheckState::parse(&state).ok_or_else(|| bad("state", &state))?,
        consecutive_failures: count("consecutive_failures")?,
        last_run: rows::opt_ts(row, "last_run")?,
        last_error: rows::get(row, "last_error")?,
        down_since: rows::opt_ts(row, "down_since")?,
        tls_expires_at: rows::opt_ts(row, "tls_expires_at")?,
        tls_warning: rows::get(row, "tls_warning")?,
        next_due: rows::ts(row, "next_due")?,
        created_by: rows::get(row, "created_by")?,
        created_at: rows::ts(row, "created_at")?,
    })
}

fn result(row: &Row<'_>) -> Result<CheckResult> {
    let status: Option<i64> = rows::get(row, "status")?;
    Ok(CheckResult {
        check_id: rows::get(row, "check_id")?,
        at: rows::ts(row, "at")?,
        ok: rows::get(row, "ok")?,
        status: status.and_then(|s| u16::try_from(s).ok()),
        latency_ms: rows::get(row, "latency_ms")?,
        error: rows::get(row, "error")?,
    })
}

fn day(row: &Row<'_>) -> Result<DayUptime> {
    let n: i64 = rows::get(row, "day")?;
    Ok(DayUptime {
        day: day_from_number(n).ok_or_else(|| StoreError::backend(format!("bad day {n}")))?,
        successes: rows::get(row, "successes")?,
        total: rows::get(row, "total")?,
    })
}

fn opt_span(s: Option<SignedDuration>) -> Option<i64> {
    s.map(|d| d.as_millis() as i64)
}

#[async_trait]
impl CheckWrites for SqliteTx<'_> {
    async fn create_check(&mut self, c: &Check) -> Result<Check> {
        let s = &c.spec;
        let name = s.name.clone();
        self.exec_unique(
            "INSERT INTO checks (name, service, kind, target, method, interval_ms, timeout_ms, \
             failures_before_alert, expect_status, expect_body, expect_body_regex, \
             expect_max_latency_ms, tls_warn_before_ms, tls_ca_file, component, state, \
             consecutive_failures, last_run, last_error, down_since, tls_expires_at, \
             tls_warning, next_due, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
             ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, \
             ?24, ?25)",
            params![
                s.name.as_str(),
                s.service.as_str(),
                s.kind.as_str(),
                s.target,
                s.method.as_str(),
                s.interval.as_millis() as i64,
                s.timeout.as_millis() as i64,
                i64::from(s.failures_before_alert),
                s.expect.status.map(i64::from),
                s.expect.body,
                s.expect.body_regex,
                opt_span(s.expect.max_latency),
                opt_span(s.tls.warn_before),
                s.tls.ca_file,
                s.component,
                c.state.as_str(),
                i64::from(c.consecutive_failures),
                opt_ms(c.last_run),
                c.last_error,
                opt_ms(c.down_since),
                opt_ms(c.tls_expires_at),
                c.tls_warning,
                ms(c.next_due),
                c.created_by,
                ms(c.created_at)
            ],
            || format!("a check named `{name}` already exists"),
        )?;
        let id = self.conn().last_insert_rowid();
        self.changed(Change::Directory(Topic::Checks));
        Ok(Check { id, ..c.clone() })
    }

    async fn lock_check(&mut self, id: i64) -> Result<Option<Check>> {
        let sql = format!("SELECT {COLUMNS} FROM checks WHERE id = ?1");
        rows::one(self.conn(), &sql, [id], check)
    }

    async fn delete_check(&mut self, id: i64) -> Result<()> {
        self.exec("DELETE FROM check_results WHERE check_id = ?1", [id])?;
        self.exec("DELETE FROM check_days WHERE check_id = ?1", [id])?;
        if self.exec("DELETE FROM checks WHERE id = ?1", [id])? == 0 {
            return Err(StoreError::NotFound);
        }
        self.changed(Change::Directory(Topic::Checks));
        Ok(())
    }

    async fn claim_checks(
        &mut self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<Check>> {
        let sql = format!(
            "UPDATE checks SET lease_owner = ?1, lease_until = ?2 WHERE id IN (
                 SELECT id FROM checks WHERE next_due <= ?3
                   AND (lease_until IS NULL OR lease_until <= ?3)
                 ORDER BY next_due, id LIMIT ?4)
             RETURNING {COLUMNS}"
        );
        let mut claimed = rows::all(
            self.conn(),
            &sql,
            params![lease.owner, ms(lease.until), ms(now), limit],
            check,
        )?;
        claimed.sort_by_key(|c| (c.next_due, c.id));
        Ok(claimed)
    }

    async fn record_check_run(&mut self, c: &Check, owner: &str, r: &CheckResult) -> Result<bool> {
        let saved = self.exec(
            "UPDATE checks SET state = ?3, consecutive_failures = ?4, last_run = ?5, \
             last_error = ?6, down_since = ?7, tls_expires_at = ?8, tls_warning = ?9, \
             next_due = ?10, lease_owner = NULL, lease_until = NULL \
             WHERE id = ?1 AND lease_owner = ?2",
            params![
                c.id,
                owner,
                c.state.as_str(),
                i64::from(c.consecutive_failures),
                opt_ms(c.last_run),
                c.last_error,
                opt_ms(c.down_since),
                opt_ms(c.tls_expires_at),
                c.tls_warning,
                ms(c.next_due)
            ],
        )?;
        if saved == 0 {
            return Ok(false);
        }
        self.exec(
            "INSERT INTO check_results (check_id, at, ok, status, latency_ms, error) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.id,
                ms(r.at),
                r.ok,
                r.status.map(i64::from),
                r.latency_ms,
                r.error
            ],
        )?;
        self.exec(
            "INSERT INTO check_days (check_id, day, successes, total) VALUES (?1, ?2, ?3, 1) \
             ON CONFLICT (check_id, day) DO UPDATE SET \
             successes = successes + excluded.successes, total = total + 1",
            params![c.id, day_number(day_of(r.at)), i64::from(r.ok)],
        )?;
        Ok(true)
    }

    async fn prune_check_history(
        &mut self,
        before: Timestamp,
        first_day: Date,
        limit: u32,
    ) -> Result<u64> {
        let results = self.exec(
            "DELETE FROM check_results WHERE id IN \
             (SELECT id FROM check_results WHERE at < ?1 ORDER BY at LIMIT ?2)",
            params![ms(before), limit],
        )?;
        let days = self.exec(
            "DELETE FROM check_days WHERE rowid IN \
             (SELECT rowid FROM check_days WHERE day < ?1 LIMIT ?2)",
            params![day_number(first_day), limit],
        )?;
        Ok((results + days) as u64)
    }
}

#[async_trait]
impl CheckStore for SqliteStore {
    async fn list_checks(&self) -> Result<Vec<Check>> {
        self.read(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM checks ORDER BY name");
            rows::all(conn, &sql, [], check)
        })
        .await
    }

    async fn get_check(&self, id: i64) -> Result<Option<Check>> {
        self.read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM checks WHERE id = ?1");
            rows::one(conn, &sql, [id], check)
        })
        .await
    }

    async fn check_results(&self, id: i64, limit: u32) -> Result<Vec<CheckResult>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT check_id, at, ok, status, latency_ms, error FROM check_results \
                 WHERE check_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
                params![id, limit],
                result,
            )
        })
        .await
    }

    async fn check_days(&self, id: i64, first_day: Date) -> Result<Vec<DayUptime>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT day, successes, total FROM check_days WHERE check_id = ?1 AND day >= ?2 \
                 ORDER BY day",
                params![id, day_number(first_day)],
                day,
            )
        })
        .await
    }

    async fn component_check_days(&self, first_day: Date) -> Result<Vec<(String, DayUptime)>> {
        self.read(move |conn| {
            rows::all(
                conn,
                "SELECT c.component AS component, d.day AS day, sum(d.successes) AS successes, \
                 sum(d.total) AS total FROM check_days d JOIN checks c ON c.id = d.check_id \
                 WHERE c.component IS NOT NULL AND d.day >= ?1 \
                 GROUP BY c.component, d.day ORDER BY c.component, d.day",
                [day_number(first_day)],
                |row| Ok((rows::get(row, "component")?, day(row)?)),
            )
        })
        .await
    }

    async fn next_check_due(&self) -> Result<Option<Timestamp>> {
        self.read(|conn| {
            let due: Option<i64> = rows::one(
                conn,
                "SELECT min(CASE WHEN lease_until > next_due THEN lease_until ELSE next_due END) \
                 AS due FROM checks",
                [],
                |r| rows::get(r, "due"),
            )?
            .flatten();
            due.map(|d| Timestamp::from_millisecond(d).map_err(StoreError::backend))
                .transpose()
        })
        .await
    }
}
