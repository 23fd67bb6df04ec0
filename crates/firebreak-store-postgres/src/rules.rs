//! What shapes alerts before they page, and what is kept beside them, on PostgreSQL: silences,
//! maintenance windows, API routing rules, deployments and sender requests. The writes are
//! called from the alert writes of [`PgTx`](crate::tx::PgTx) and the reads from the
//! `AlertStore` of [`PostgresStore`](crate::PostgresStore), both in `alerts.rs`.
//!
//! Ending a silence or a window early is the domain's rule; the store saves the span it is
//! given.

use firebreak_domain::rules::{MaintenanceWindow, Silence};
use firebreak_domain::{IncidentNumber, Name};
use firebreak_store::{
    DeploymentRecord, IngestRequest, Page, Result, RouteRecord, StoreError, codec,
};
use jiff::Timestamp;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{AssertSqlSafe, Executor, Postgres};

use crate::error::{conflict_message, db};
use crate::rows::{self, get, ts};

const SILENCE_COLUMNS: &str = "id, matchers, starts_at, ends_at, comment, created_by, created_at";
const MAINTENANCE_COLUMNS: &str =
    "id, service, starts_at, ends_at, comment, created_by, created_at";
const ROUTE_COLUMNS: &str =
    "id, matchers, service, severity, urgency, drop_event, created_by, created_at";
const DEPLOYMENT_COLUMNS: &str = "id, service, version, previous_version, commit_sha, author, \
    link, at, source, summary, created_at, freeze_reasons, rollback, rolls_back, incident, drill";
const REQUEST_COLUMNS: &str = "id, integration, action, success, status, alert, alias, at";

fn request(row: &PgRow) -> Result<IngestRequest> {
    Ok(IngestRequest {
        id: get(row, "id")?,
        integration: get(row, "integration")?,
        action: get(row, "action")?,
        success: get(row, "success")?,
        status: get(row, "status")?,
        alert: get(row, "alert")?,
        alias: get(row, "alias")?,
        at: ts(get(row, "at")?)?,
    })
}

/// Every row `sql` answers with `params` bound in order, as `map` reads it.
async fn all<'e, T>(
    on: impl Executor<'e, Database = Postgres>,
    sql: String,
    params: &[i64],
    map: fn(&PgRow) -> Result<T>,
) -> Result<Vec<T>> {
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for p in params {
        query = query.bind(*p);
    }
    query
        .fetch_all(on)
        .await
        .map_err(db)?
        .iter()
        .map(map)
        .collect()
}

pub(crate) async fn create_silence(conn: &mut PgConnection, mut s: Silence) -> Result<Silence> {
    s.id = sqlx::query_scalar(
        "INSERT INTO silences (matchers, starts_at, ends_at, comment, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(codec::matchers_json(&s.matchers))
    .bind(codec::millis(s.starts_at))
    .bind(codec::millis(s.ends_at))
    .bind(&s.comment)
    .bind(&s.created_by)
    .bind(codec::millis(s.created_at))
    .fetch_one(conn)
    .await
    .map_err(db)?;
    Ok(s)
}

pub(crate) async fn lock_silence(conn: &mut PgConnection, id: i64) -> Result<Option<Silence>> {
    let sql = format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE id = $1 FOR UPDATE");
    Ok(all(conn, sql, &[id], rows::silence).await?.pop())
}

/// Saves a span (`starts_at`, `ends_at`) of the silences or maintenance windows `table`.
pub(crate) async fn save_span(
    conn: &mut PgConnection,
    table: &'static str,
    id: i64,
    starts_at: Timestamp,
    ends_at: Timestamp,
) -> Result<()> {
    let done = sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET starts_at = $2, ends_at = $3 WHERE id = $1"
    )))
    .bind(id)
    .bind(codec::millis(starts_at))
    .bind(codec::millis(ends_at))
    .execute(conn)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn create_maintenance(
    conn: &mut PgConnection,
    mut w: MaintenanceWindow,
) -> Result<MaintenanceWindow> {
    w.id = sqlx::query_scalar(
        "INSERT INTO maintenance_windows (service, starts_at, ends_at, comment, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(w.service.as_str())
    .bind(codec::millis(w.starts_at))
    .bind(codec::millis(w.ends_at))
    .bind(&w.comment)
    .bind(&w.created_by)
    .bind(codec::millis(w.created_at))
    .fetch_one(conn)
    .await
    .map_err(db)?;
    Ok(w)
}

pub(crate) async fn lock_maintenance(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<MaintenanceWindow>> {
    let sql =
        format!("SELECT {MAINTENANCE_COLUMNS} FROM maintenance_windows WHERE id = $1 FOR UPDATE");
    Ok(all(conn, sql, &[id], rows::maintenance).await?.pop())
}

pub(crate) async fn create_route(
    conn: &mut PgConnection,
    mut route: RouteRecord,
) -> Result<RouteRecord> {
    let r = &route.route;
    route.id = sqlx::query_scalar(
        "INSERT INTO routes (matchers, service, severity, urgency, drop_event, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(codec::matchers_json(&r.matchers))
    .bind(r.service.as_ref().map(Name::as_str))
    .bind(r.severity.map(|s| s.as_str()))
    .bind(r.urgency.map(|u| u.as_str()))
    .bind(r.drop)
    .bind(&route.created_by)
    .bind(codec::millis(route.created_at))
    .fetch_one(conn)
    .await
    .map_err(db)?;
    Ok(route)
}

pub(crate) async fn delete_route(conn: &mut PgConnection, id: i64) -> Result<()> {
    let done = sqlx::query("DELETE FROM routes WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Records a deploy; with it, the incidents whose suspect it became.
pub(crate) async fn record_deployment(
    conn: &mut PgConnection,
    mut d: DeploymentRecord,
) -> Result<(DeploymentRecord, Vec<IncidentNumber>)> {
    // A deploy (not a rollback) is also the newest earlier deploy of every incident of its
    // service and kind (drill or real) detected at or after it whose suspect is older (a
    // deploy recorded late).
    let (id, changed): (i64, Vec<i64>) = sqlx::query_as(
        "WITH d AS (INSERT INTO deployments (service, version, previous_version, commit_sha,
             author, link, at, source, summary, created_at, freeze_reasons, rollback, rolls_back,
             incident, drill)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id),
         u AS (UPDATE incidents i SET suspect_deploy = d.id, suspect_at = $7,
             suspect_service = $1, suspect_version = $2 FROM d
           WHERE NOT $12 AND i.detected_at >= $7 AND i.drill = $15
             AND (i.suspect_at IS NULL OR i.suspect_at < $7
                  OR (i.suspect_at = $7 AND i.suspect_deploy < d.id))
             AND EXISTS (SELECT 1 FROM incident_services s
                         WHERE s.number = i.number AND s.service = $1)
           RETURNING i.number),
         dd AS (INSERT INTO deploy_days (drill, day, service, deploys)
           SELECT $15, $16, $1, 1 FROM d WHERE NOT $12
           ON CONFLICT (drill, day, service) DO UPDATE SET deploys = deploy_days.deploys + 1)
         SELECT d.id, ARRAY(SELECT number FROM u) FROM d",
    )
    .bind(d.service.as_str())
    .bind(&d.version)
    .bind(d.previous_version.as_deref())
    .bind(d.commit.as_deref())
    .bind(d.author.as_deref())
    .bind(d.link.as_deref())
    .bind(codec::millis(d.at))
    .bind(&d.source)
    .bind(d.summary.as_deref())
    .bind(codec::millis(d.created_at))
    .bind(codec::freeze_reasons_to(&d.freeze_reasons)?)
    .bind(d.rollback)
    .bind(d.rolls_back)
    .bind(d.incident.map(|n| n.0))
    .bind(d.drill)
    .bind(firebreak_store::deploy_day(d.at))
    .fetch_one(conn)
    .await
    .map_err(db)?;
    d.id = id;
    Ok((d, changed.into_iter().map(IncidentNumber).collect()))
}

pub(crate) async fn record_request(conn: &mut PgConnection, r: &IngestRequest) -> Result<()> {
    let added = sqlx::query(
        "INSERT INTO ingest_requests (id, integration, action, success, status, alert, alias, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(&r.id)
    .bind(&r.integration)
    .bind(&r.action)
    .bind(r.success)
    .bind(&r.status)
    .bind(r.alert)
    .bind(r.alias.as_deref())
    .bind(codec::millis(r.at))
    .execute(conn)
    .await
    .map_err(db)?
    .rows_affected();
    if added == 0 {
        return Err(StoreError::Conflict(conflict_message(
            "ingest_requests_pkey",
            &r.id,
        )));
    }
    Ok(())
}

pub(crate) async fn purge_requests(conn: &mut PgConnection, before: Timestamp) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM ingest_requests WHERE at < $1")
        .bind(codec::millis(before))
        .execute(conn)
        .await
        .map_err(db)?
        .rows_affected())
}

pub(crate) async fn list_silences(pool: &PgPool, after: Timestamp) -> Result<Vec<Silence>> {
    let sql = format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > $1 ORDER BY id DESC");
    all(pool, sql, &[codec::millis(after)], rows::silence).await
}

pub(crate) async fn list_maintenance(
    pool: &PgPool,
    after: Timestamp,
) -> Result<Vec<MaintenanceWindow>> {
    let sql = format!(
        "SELECT {MAINTENANCE_COLUMNS} FROM maintenance_windows WHERE ends_at > $1 ORDER BY starts_at, id"
    );
    all(pool, sql, &[codec::millis(after)], rows::maintenance).await
}

pub(crate) async fn list_routes(pool: &PgPool) -> Result<Vec<RouteRecord>> {
    let sql = format!("SELECT {ROUTE_COLUMNS} FROM routes ORDER BY id");
    all(pool, sql, &[], rows::route).await
}

pub(crate) async fn list_deployments(
    pool: &PgPool,
    service: Option<&Name>,
    before: Option<i64>,
    limit: u32,
) -> Result<Page<DeploymentRecord>> {
    let found = sqlx::query(AssertSqlSafe(format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
         WHERE ($1::BIGINT IS NULL OR id < $1) AND ($2::TEXT IS NULL OR service = $2)
         ORDER BY id DESC LIMIT $3"
    )))
    .bind(before)
    .bind(service.map(Name::as_str))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut items = found
        .iter()
        .map(rows::deployment)
        .collect::<Result<Vec<_>>>()?;
    let next = rows::trim_page(&mut items, limit, |d| d.id);
    Ok(Page { items, next })
}

pub(crate) async fn deployments_between(
    pool: &PgPool,
    services: &[Name],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<DeploymentRecord>> {
    let services: Vec<&str> = services.iter().map(Name::as_str).collect();
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
         WHERE service = ANY($1) AND at >= $2 AND at <= $3
         ORDER BY at DESC, id DESC"
    )))
    .bind(&services)
    .bind(codec::millis(from))
    .bind(codec::millis(to))
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::deployment)
    .collect()
}

pub(crate) async fn get_request(pool: &PgPool, id: &str) -> Result<Option<IngestRequest>> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM ingest_requests WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db)?
    .as_ref()
    .map(request)
    .transpose()
}
