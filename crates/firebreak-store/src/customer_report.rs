//! Customer reports: each row is one report a support tool passed on, about one component or
//! service. The domain (`firebreak_domain::customer_report`) checks them and decides when they
//! open an alert; the store keeps them and counts them.

use async_trait::async_trait;
use firebreak_domain::Name;
use firebreak_domain::customer_report::CustomerReport;
use jiff::Timestamp;

use crate::{Page, Result};

/// The reports about one subject made after an instant, as a unit of work reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentReports {
    /// How many there are.
    pub count: u64,
    /// The newest of them, newest first, up to the limit asked for.
    pub newest: Vec<CustomerReport>,
}

/// Which reports a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Only those counted by this subject (`component/ID` or `service/NAME`).
    pub subject: Option<String>,
    /// Only those whose alert goes to this service.
    pub service: Option<Name>,
}

/// Customer report writes, inside a unit of work.
#[async_trait]
pub trait CustomerReportWrites: Send {
    /// Stores a new report and returns it with its id.
    async fn add_customer_report(&mut self, report: &CustomerReport) -> Result<CustomerReport>;
    /// Holds `subject` until commit (units of work about one subject run one at a time), then
    /// reads its reports made after `after`: how many, and the newest `limit`.
    async fn lock_reports_about(
        &mut self,
        subject: &str,
        after: Timestamp,
        limit: u32,
    ) -> Result<RecentReports>;
}

/// Customer report reads.
#[async_trait]
pub trait CustomerReportStore: Send + Sync {
    /// The reports about `subject` made after `after`: how many, and the newest `limit`.
    async fn reports_about(
        &self,
        subject: &str,
        after: Timestamp,
        limit: u32,
    ) -> Result<RecentReports>;
    /// Most recently recorded first (by id); `before` is a cursor (an id) from a previous page.
    async fn list_customer_reports(
        &self,
        filter: &ReportFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<CustomerReport>>;
}
