//! Customer reports on PostgreSQL. A unit of work that counts a subject's reports first takes
//! the subject's transaction-scoped advisory lock, so two reports about one subject, on any
//! instance, are counted one after the other.

use async_trait::async_trait;
use firebreak_domain::customer_report::CustomerReport;
use firebreak_store::customer_report::{RecentReports, ReportFilter};
use firebreak_store::{CustomerReportStore, CustomerReportWrites, IncidentWrites, Page, Result};
use jiff::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection};

use crate::PostgresStore;
use crate::error::db;
use crate::rows::{self, get};
use crate::tx::PgTx;

const COLUMNS: &str =
    "id, subject, component_id, component_name, service, summary, reporter, created_by, at";

fn report(row: &PgRow) -> Result<CustomerReport> {
    let id: Option<String> = get(row, "component_id")?;
    let name: Option<String> = get(row, "component_name")?;
    Ok(CustomerReport {
        id: get(row, "id")?,
        subject: get(row, "subject")?,
        component: id.map(|id| (id, name.unwrap_or_default())),
        service: rows::name(&get::<String>(row, "service")?)?,
        summary: get(row, "summary")?,
        reporter: get(row, "reporter")?,
        created_by: get(row, "created_by")?,
        at: rows::ts(get(row, "at")?)?,
    })
}

/// The reports about `subject` after `after`, counted, and the newest `limit`.
async fn about(
    conn: &mut PgConnection,
    subject: &str,
    after: Timestamp,
    limit: u32,
) -> Result<RecentReports> {
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customer_reports WHERE subject = $1 AND at > $2")
            .bind(subject)
            .bind(after.as_millisecond())
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
    let newest = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customer_reports WHERE subject = $1 AND at > $2 \
         ORDER BY at DESC, id DESC LIMIT $3"
    )))
    .bind(subject)
    .bind(after.as_millisecond())
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(report)
    .collect::<Result<Vec<_>>>()?;
    Ok(RecentReports {
        count: count.max(0) as u64,
        newest,
    })
}

#[async_trait]
impl CustomerReportWrites for PgTx<'_> {
    async fn add_customer_report(&mut self, r: &CustomerReport) -> Result<CustomerReport> {
        let (component_id, component_name) = match &r.component {
            Some((id, name)) => (Some(id.as_str()), Some(name.as_str())),
            None => (None, None),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customer_reports (subject, component_id, component_name, service, \
             summary, reporter, created_by, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id",
        )
        .bind(&r.subject)
        .bind(component_id)
        .bind(component_name)
        .bind(r.service.as_str())
        .bind(&r.summary)
        .bind(r.reporter.as_deref())
        .bind(&r.created_by)
        .bind(r.at.as_millisecond())
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(CustomerReport { id, ..r.clone() })
    }

    async fn lock_reports_about(
        &mut self,
        subject: &str,
        after: Timestamp,
        limit: u32,
    ) -> Result<RecentReports> {
        self.lock_name(&format!("customer_reports/{subject}"))
            .await?;
        about(&mut *self.conn, subject, after, limit).await
    }
}

#[async_trait]
impl CustomerReportStore for PostgresStore {
    async fn reports_about(
        &self,
        subject: &str,
        after: Timestamp,
        limit: u32,
    ) -> Result<RecentReports> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        about(&mut conn, subject, after, limit).await
    }

    async fn list_customer_reports(
        &self,
        filter: &ReportFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<CustomerReport>> {
        let mut items = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM customer_reports
             WHERE ($1::BIGINT IS NULL OR id < $1) AND ($2::TEXT IS NULL OR subject = $2)
               AND ($3::TEXT IS NULL OR service = $3)
             ORDER BY id DESC LIMIT $4"
        )))
        .bind(before)
        .bind(filter.subject.as_deref())
        .bind(filter.service.as_ref().map(|s| s.as_str()))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(report)
        .collect::<Result<Vec<_>>>()?;
        let next = rows::trim_page(&mut items, limit, |r| r.id);
        Ok(Page { items, next })
    }
}
