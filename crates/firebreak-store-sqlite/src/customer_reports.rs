//! Customer reports on SQLite. The one writer runs units of work one at a time, so a unit that
//! counts a subject's reports sees every report committed before it, and none after.

use async_trait::async_trait;
use firebreak_domain::customer_report::CustomerReport;
use firebreak_store::customer_report::{RecentReports, ReportFilter};
use firebreak_store::{CustomerReportStore, CustomerReportWrites, Page, Result};
use jiff::Timestamp;
use rusqlite::{Connection, Row, params};

use crate::SqliteStore;
use crate::rows::{self, ms};
use crate::tx::SqliteTx;

const COLUMNS: &str =
    "id, subject, component_id, component_name, service, summary, reporter, created_by, at";

fn report(row: &Row<'_>) -> Result<CustomerReport> {
    let id: Option<String> = rows::get(row, "component_id")?;
    let name: Option<String> = rows::get(row, "component_name")?;
    Ok(CustomerReport {
        id: rows::get(row, "id")?,
        subject: rows::get(row, "subject")?,
        component: id.map(|id| (id, name.unwrap_or_default())),
        service: rows::name_at(row, "service")?,
        summary: rows::get(row, "summary")?,
        reporter: rows::get(row, "reporter")?,
        created_by: rows::get(row, "created_by")?,
        at: rows::ts(row, "at")?,
    })
}

/// The reports about `subject` after `after`, counted, and the newest `limit`.
fn about(conn: &Connection, subject: &str, after: Timestamp, limit: u32) -> Result<RecentReports> {
    let count: i64 = rows::one(
        conn,
        "SELECT count(*) AS n FROM customer_reports WHERE subject = ?1 AND at > ?2",
        params![subject, ms(after)],
        |r| rows::get(r, "n"),
    )?
    .unwrap_or(0);
    let sql = format!(
        "SELECT {COLUMNS} FROM customer_reports WHERE subject = ?1 AND at > ?2 \
         ORDER BY at DESC, id DESC LIMIT ?3"
    );
    let newest = rows::all(conn, &sql, params![subject, ms(after), limit], report)?;
    Ok(RecentReports {
        count: count.max(0) as u64,
        newest,
    })
}

#[async_trait]
impl CustomerReportWrites for SqliteTx<'_> {
    async fn add_customer_report(&mut self, r: &CustomerReport) -> Result<CustomerReport> {
        let (component_id, component_name) = match &r.component {
            Some((id, name)) => (Some(id.as_str()), Some(name.as_str())),
            None => (None, None),
        };
        self.exec(
            "INSERT INTO customer_reports (subject, component_id, component_name, service, \
             summary, reporter, created_by, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.subject,
                component_id,
                component_name,
                r.service.as_str(),
                r.summary,
                r.reporter,
                r.created_by,
                ms(r.at)
            ],
        )?;
        let id = self.conn().last_insert_rowid();
        Ok(CustomerReport { id, ..r.clone() })
    }

    async fn lock_reports_about(
        &mut self,
        subject: &str,
        after: Timestamp,
        limit: u32,
    ) -> Result<RecentReports> {
        // One writer, one unit of work at a time: the subject is already held.
        about(self.conn(), subject, after, limit)
    }
}

#[async_trait]
impl CustomerReportStore for SqliteStore {
    async fn reports_about(
        &self,
        subject: &str,
        after: Timestamp,
        limit: u32,
    ) -> Result<RecentReports> {
        let subject = subject.to_string();
        self.read(move |conn| about(conn, &subject, after, limit))
            .await
    }

    async fn list_customer_reports(
        &self,
        filter: &ReportFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<CustomerReport>> {
        let subject = filter.subject.clone();
        let service = filter.service.as_ref().map(|s| s.to_string());
        self.read(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM customer_reports WHERE (?1 IS NULL OR id < ?1) \
                 AND (?2 IS NULL OR subject = ?2) AND (?3 IS NULL OR service = ?3) \
                 ORDER BY id DESC LIMIT ?4"
            );
            let items = rows::all(
                conn,
                &sql,
                params![before, subject, service, i64::from(limit) + 1],
                report,
            )?;
            Ok(rows::page(items, limit, |r| r.id))
        })
        .await
    }
}
