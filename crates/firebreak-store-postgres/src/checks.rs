//! Uptime checks on PostgreSQL. Runners claim due checks with `FOR UPDATE SKIP LOCKED`, so two
//! instances never take the same check; a lease that ran out makes it claimable again. A run
//! is recorded only while its runner still holds the lease.

use async_trait::async_trait;
use firebreak_domain::check::{
    Check, CheckKind, CheckResult, CheckSpec, CheckState, DayUptime, Expect, Method, TlsSettings,
    day_from_number, day_number, day_of,
};
use firebreak_store::feed::Topic;
use firebreak_store::{Change, CheckStore, CheckWrites, Lease, Result, StoreError};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, get, ms_opt};
use crate::tx::PgTx;

const COLUMNS: &str = "id, name, service, kind, target, method, interval_ms, timeout_ms, \
     failures_before_alert, expect_status, expect_body, expect_body_regex, \
     expect_max_latency_ms, tls_warn_before_ms, tls_ca_file, component, state, \
     consecutive_failures, last_run, last_error, down_since, tls_expires_at, tls_warning, \
     next_due, created_by, created_at";

fn bad(what: &str, text: &str) -> StoreError {
    StoreError::backend(format!("unknown check {what} {text:?}"))
}

fn span(row: &PgRow, col: &str) -> Result<Option<SignedDuration>> {
    Ok(get::<Option<i64>>(row, col)?.map(SignedDuration::from_millis))
}

fn count(row: &PgRow, col: &str) -> Result<u32> {
    u32::try_from(get::<i64>(row, col)?).map_err(StoreError::backend)
}

fn check(row: &PgRow) -> Result<Check> {
    let kind: String = get(row, "kind")?;
    let method: String = get(row, "method")?;
    let state: String = get(row, "state")?;
    let status: Option<i64> = get(row, "expect_status")?;
    Ok(Check {
        id: get(row, "id")?,
        spec: CheckSpec {
            name: rows::name(&get::<String>(row, "name")?)?,
            service: rows::name(&get::<String>(row, "service")?)?,
            kind: CheckKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
            target: get(row, "target")?,
            method: Method::parse(&method).ok_or_else(|| bad("method", &method))?,
            interval: SignedDuration::from_millis(get(row, "interval_ms")?),
            timeout: SignedDuration::from_millis(get(row, "timeout_ms")?),
            failures_before_alert: count(row, "failures_before_alert")?,
            expect: Expect {
                status: status.and_then(|s| u16::try_from(s).ok()),
                body: get(row, "expect_body")?,
                body_regex: get(row, "expect_body_regex")?,
                max_latency: span(row, "expect_max_latency_ms")?,
            },
            tls: TlsSettings {
                warn_before: span(row, "tls_warn_before_ms")?,
                ca_file: get(row, "tls_ca_file")?,
            },
            component: get(row, "component")?,
        },
        state: CheckState::parse(&state).ok_or_else(|| bad("state", &state))?,
        consecutive_failures: count(row, "consecutive_failures")?,
        last_run: rows::ts_opt(get(row, "last_run")?)?,
        last_error: get(row, "last_error")?,
        down_since: rows::ts_opt(get(row, "down_since")?)?,
        tls_expires_at: rows::ts_opt(get(row, "tls_expires_at")?)?,
        tls_warning: get(row, "tls_warning")?,
        next_due: rows::ts(get(row, "next_due")?)?,
        created_by: get(row, "created_by")?,
        created_at: rows::ts(get(row, "created_at")?)?,
    })
}

fn result(row: &PgRow) -> Result<CheckResult> {
    let status: Option<i64> = get(row, "status")?;
    Ok(CheckResult {
        check_id: get(row, "check_id")?,
        at: rows::ts(get(row, "at")?)?,
        ok: get(row, "ok")?,
        status: status.and_then(|s| u16::try_from(s).ok()),
        latency_ms: get(row, "latency_ms")?,
        error: get(row, "error")?,
    })
}

fn day(row: &PgRow) -> Result<DayUptime> {
    let n: i64 = get(row, "day")?;
    Ok(DayUptime {
        day: day_from_number(n).ok_or_else(|| StoreError::backend(format!("bad day {n}")))?,
        successes: get(row, "successes")?,
        total: get(row, "total")?,
    })
}

fn opt_span(s: Option<SignedDuration>) -> Option<i64> {
    s.map(|d| d.as_millis() as i64)
}

#[async_trait]
impl CheckWrites for PgTx<'_> {
    async fn create_check(&mut self, c: &Check) -> Result<Check> {
        let s = &c.spec;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO checks (name, service, kind, target, method, interval_ms, timeout_ms, \
             failures_before_alert, expect_status, expect_body, expect_body_regex, \
             expect_max_latency_ms, tls_warn_before_ms, tls_ca_file, component, state, \
             consecutive_failures, last_run, last_error, down_since, tls_expires_at, \
             tls_warning, next_due, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, \
             $24, $25) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(s.name.as_str())
        .bind(s.service.as_str())
        .bind(s.kind.as_str())
        .bind(&s.target)
        .bind(s.method.as_str())
        .bind(s.interval.as_millis() as i64)
        .bind(s.timeout.as_millis() as i64)
        .bind(i64::from(s.failures_before_alert))
        .bind(s.expect.status.map(i64::from))
        .bind(s.expect.body.as_deref())
        .bind(s.expect.body_regex.as_deref())
        .bind(opt_span(s.expect.max_latency))
        .bind(opt_span(s.tls.warn_before))
        .bind(s.tls.ca_file.as_deref())
        .bind(s.component.as_deref())
        .bind(c.state.as_str())
        .bind(i64::from(c.consecutive_failures))
        .bind(ms_opt(c.last_run))
        .bind(c.last_error.as_deref())
        .bind(ms_opt(c.down_since))
        .bind(ms_opt(c.tls_expires_at))
        .bind(c.tls_warning)
        .bind(c.next_due.as_millisecond())
        .bind(&c.created_by)
        .bind(c.created_at.as_millisecond())
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?;
        let id = id.ok_or_else(|| {
            StoreError::Conflict(format!("a check named `{}` already exists", s.name))
        })?;
        self.changed(Change::Directory(Topic::Checks));
        Ok(Check { id, ..c.clone() })
    }

    async fn lock_check(&mut self, id: i64) -> Result<Option<Check>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM checks WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?
        .map(|r| check(&r))
        .transpose()
    }

    async fn delete_check(&mut self, id: i64) -> Result<()> {
        // Results and daily counts go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM checks WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        rows::found(done.rows_affected())?;
        self.changed(Change::Directory(Topic::Checks));
        Ok(())
    }

    async fn claim_checks(
        &mut self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<Check>> {
        let returning = COLUMNS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let found = sqlx::query(AssertSqlSafe(format!(
            "WITH due AS MATERIALIZED (
                 SELECT id FROM checks
                 WHERE next_due <= $3 AND (lease_until IS NULL OR lease_until <= $3)
                 ORDER BY next_due, id LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             UPDATE checks c SET lease_owner = $1, lease_until = $2
             FROM due WHERE c.id = due.id
             RETURNING {returning}"
        )))
        .bind(&lease.owner)
        .bind(lease.until.as_millisecond())
        .bind(now.as_millisecond())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?;
        let mut claimed = found.iter().map(check).collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|c| (c.next_due, c.id));
        Ok(claimed)
    }

    async fn record_check_run(&mut self, c: &Check, owner: &str, r: &CheckResult) -> Result<bool> {
        let saved = sqlx::query(
            "UPDATE checks SET state = $3, consecutive_failures = $4, last_run = $5, \
             last_error = $6, down_since = $7, tls_expires_at = $8, tls_warning = $9, \
             next_due = $10, lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(c.id)
        .bind(owner)
        .bind(c.state.as_str())
        .bind(i64::from(c.consecutive_failures))
        .bind(ms_opt(c.last_run))
        .bind(c.last_error.as_deref())
        .bind(ms_opt(c.down_since))
        .bind(ms_opt(c.tls_expires_at))
        .bind(c.tls_warning)
        .bind(c.next_due.as_millisecond())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        if saved.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "WITH kept AS (INSERT INTO check_results (check_id, at, ok, status, latency_ms, error) \
             VALUES ($1, $2, $3, $4, $5, $6)) \
             INSERT INTO check_days (check_id, day, successes, total) VALUES ($1, $7, $8, 1) \
             ON CONFLICT (check_id, day) DO UPDATE SET \
             successes = check_days.successes + excluded.successes, \
             total = check_days.total + 1",
        )
        .bind(c.id)
        .bind(r.at.as_millisecond())
        .bind(r.ok)
        .bind(r.status.map(i64::from))
        .bind(r.latency_ms)
        .bind(r.error.as_deref())
        .bind(day_number(day_of(r.at)))
        .bind(i64::from(r.ok))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(true)
    }

    async fn prune_check_history(
        &mut self,
        before: Timestamp,
        first_day: Date,
        limit: u32,
    ) -> Result<u64> {
        let results = sqlx::query(
            "DELETE FROM check_results WHERE id IN \
             (SELECT id FROM check_results WHERE at < $1 ORDER BY at LIMIT $2 \
              FOR UPDATE SKIP LOCKED)",
        )
        .bind(before.as_millisecond())
        .bind(i64::from(limit))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        let days = sqlx::query(
            "DELETE FROM check_days WHERE (check_id, day) IN \
             (SELECT check_id, day FROM check_days WHERE day < $1 LIMIT $2 \
              FOR UPDATE SKIP LOCKED)",
        )
        .bind(day_number(first_day))
        .bind(i64::from(limit))
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(results.rows_affected() + days.rows_affected())
    }
}

#[async_trait]
impl CheckStore for PostgresStore {
    async fn list_checks(&self) -> Result<Vec<Check>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM checks ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(check)
        .collect()
    }

    async fn get_check(&self, id: i64) -> Result<Option<Check>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM checks WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| check(&r))
        .transpose()
    }

    async fn check_results(&self, id: i64, limit: u32) -> Result<Vec<CheckResult>> {
        sqlx::query(
            "SELECT check_id, at, ok, status, latency_ms, error FROM check_results \
             WHERE check_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(result)
        .collect()
    }

    async fn check_days(&self, id: i64, first_day: Date) -> Result<Vec<DayUptime>> {
        sqlx::query(
            "SELECT day, successes, total FROM check_days WHERE check_id = $1 AND day >= $2 \
             ORDER BY day",
        )
        .bind(id)
        .bind(day_number(first_day))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(day)
        .collect()
    }

    async fn component_check_days(&self, first_day: Date) -> Result<Vec<(String, DayUptime)>> {
        sqlx::query(
            "SELECT c.component AS component, d.day AS day, \
             sum(d.successes)::BIGINT AS successes, sum(d.total)::BIGINT AS total \
             FROM check_days d JOIN checks c ON c.id = d.check_id \
             WHERE c.component IS NOT NULL AND d.day >= $1 \
             GROUP BY c.component, d.day ORDER BY c.component, d.day",
        )
        .bind(day_number(first_day))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|row| Ok((get(row, "component")?, day(row)?)))
        .collect()
    }

    async fn next_check_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT min(GREATEST(next_due, COALESCE(lease_until, next_due))) FROM checks",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        rows::ts_opt(due)
    }
}
