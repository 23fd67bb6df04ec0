//! Customer reports: what support tools pass on (`POST /api/v1/reports`), about one status
//! page component or one service.
//!
//! Recording a report is one unit of work. When, with it, `reports.threshold` reports about
//! the same component or service were made within `reports.window` (the `reports` section of
//! `firebreak.yaml`; by default 3 in 10 minutes), the same unit of work triggers their alert
//! through the ingest pipeline every sender uses (routing rules, silences, maintenance windows,
//! grouping and paging, by the alert's urgency, `reports.urgency`). The alert has one dedup
//! key per component or service (`reports/component/ID`, `reports/service/NAME`) on the
//! integration `customer_reports`, so later reports update the open alert instead of opening
//! more. Its summary counts the reports within the window and its details list them (the
//! newest 50), without the reporters' addresses: alerts are read by every role, and a
//! reporter's address is shown to admins only.
//!
//! The alert is planned (routed) before the unit of work, from the reports as read then; the
//! unit locks the subject's reports, reads them again, and stores the report and the alert
//! only if nothing changed meanwhile. Otherwise it writes nothing and the report is planned
//! again, so two reports at once are counted one after the other and the threshold is crossed
//! once.

use std::collections::BTreeMap;
use std::sync::Arc;

use firebreak_domain::customer_report::{self, CustomerReport, LISTED_MAX, ReportRule, Subject};
use firebreak_domain::heartbeat::span_text;
use firebreak_domain::{AlertAction, AlertEvent, AlertFormat, AlertSeverity, Name};
use firebreak_store::customer_report::{RecentReports, ReportFilter};
use firebreak_store::{IngestOutcome, Page, StoreError};
use jiff::Timestamp;
use serde_json::json;

use crate::alerts::{Planned, Sender, store_events};
use crate::{EngineError, Firebreak, Principal, invalid};

/// The integration every customer report alert is stored under.
pub const INTEGRATION: &str = "customer_reports";
/// How many times a report is planned again when other reports about its subject arrived
/// while it was planned.
const ATTEMPTS: usize = 8;

/// A report as a support tool sends it.
#[derive(Debug, Clone, Default)]
pub struct NewReport {
    /// A status page component, by its id or its name.
    pub component: Option<String>,
    /// A service, by name.
    pub service: Option<String>,
    pub summary: String,
    /// The customer's address: shown to admins only.
    pub reporter: Option<String>,
    /// A rehearsal: a drill report counts only with other drill reports (of its game day, if
    /// any), and its alert is a drill.
    pub drill: firebreak_domain::Drill,
}

/// A report as recorded, with what it did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub report: CustomerReport,
    /// The reports about its component or service within the window, itself included.
    pub count: u64,
    /// What its alert did, once the threshold is reached (`None` below it).
    pub alert: Option<IngestOutcome>,
}

/// The routed trigger of a subject's alert: the outcome when a routing rule dropped it, else
/// the event to store.
struct AlertPlan {
    dropped: Option<IngestOutcome>,
    planned: Vec<Planned>,
}

/// The alert event once `report` joins `seen`, the reports about `subject` within the window.
fn alert_event(
    subject: &Subject,
    report: &CustomerReport,
    seen: &RecentReports,
    rule: &ReportRule,
) -> AlertEvent {
    let count = seen.count + 1;
    let summary = customer_report::alert_summary(subject, count, rule, &report.summary);
    let listed: Vec<&CustomerReport> = std::iter::once(report)
        .chain(seen.newest.iter())
        .take(LISTED_MAX)
        .collect();
    // Never the reporter: every role reads alerts.
    let reports: Vec<_> = listed
        .iter()
        .map(|r| {
            json!({
                "at": r.at.to_string(),
                "summary": r.summary,
                "recorded_by": r.created_by,
            })
        })
        .collect();
    let (component_id, component_name) = match subject {
        Subject::Component { id, name } => (Some(id.as_str()), Some(name.as_str())),
        Subject::Service(_) => (None, None),
    };
    let details = json!({
        "about": subject.key(),
        "component": component_name,
        "component_id": component_id,
        "service": report.service.as_str(),
        "count": count,
        "threshold": rule.threshold,
        "window": span_text(rule.window),
        "reports": reports,
    })
    .to_string();
    let mut labels = BTreeMap::from([
        ("alertname".to_string(), "CustomerReports".to_string()),
        ("service".to_string(), report.service.to_string()),
    ]);
    if let Some(name) = component_name {
        labels.insert("component".to_string(), name.to_string());
    }
    AlertEvent {
        format: AlertFormat::CustomerReport,
        action: AlertAction::Trigger,
        dedup_key: Some(customer_report::dedup_key(subject)),
        severity: AlertSeverity::Warning,
        urgency: Some(rule.urgency),
        summary,
        source: "customer reports".to_string(),
        labels,
        details: details.clone(),
        links: Vec::new(),
        images: Vec::new(),
        starts_at: listed.last().map(|r| r.at),
        ends_at: None,
        raw: details,
    }
}

impl Firebreak {
    /// Records a customer report, and opens or updates the alert of its component or service
    /// when the reports within the window reach the threshold, in one unit of work.
    pub async fn record_customer_report(
        &self,
        who: &Principal,
        new: NewReport,
    ) -> Result<Recorded, EngineError> {
        let (subject, service) = self
            .report_subject(new.component.as_deref(), new.service.as_deref())
            .await?;
        let rule = self.config.reports;
        let now = self.clock.now();
        let mut report = CustomerReport::new(
            &subject,
            service.clone(),
            &new.summary,
            new.reporter.as_deref(),
            who.actor.0.clone(),
            now,
        )
        .map_err(|e| invalid(e.field, e.message))?;
        // Drill reports are counted apart from real ones, under their own key.
        let key = new.drill.dedup_key(&subject.key());
        report.subject = key.clone();
        let after = rule.window_start(now);
        let listed = LISTED_MAX as u32;
        let audit = self.audit(who, "customer_report.create", "customer_report");
        for _ in 0..ATTEMPTS {
            let seen = self.store.reports_about(&key, after, listed).await?;
            let plan = if rule.reached(seen.count + 1) {
                let event = alert_event(&subject, &report, &seen, &rule);
                Some(Arc::new(
                    self.plan_report_alert(&service, who, event, new.drill, now)
                        .await?,
                ))
            } else {
                None
            };
            let seen = Arc::new(seen);
            let stored = self
                .write(3, || {
                    let (key, report, seen, plan, audit) = (
                        key.clone(),
                        report.clone(),
                        seen.clone(),
                        plan.clone(),
                        audit.clone(),
                    );
                    move |tx| {
                        Box::pin(async move {
                            let locked = tx.lock_reports_about(&key, after, listed).await?;
                            if locked != *seen {
                                // Another report came first: plan again from what is there now.
                                return Ok(None);
                            }
                            let stored = tx.add_customer_report(&report).await?;
                            let alert = match plan.as_deref() {
                                None => None,
                                Some(AlertPlan {
                                    dropped: Some(dropped),
                                    ..
                                }) => Some(dropped.clone()),
                                Some(AlertPlan { planned, .. }) => {
                                    store_events(tx, planned).await?.into_iter().next()
                                }
                            };
                            tx.audit(audit.naming(stored.id)).await?;
                            Ok(Some((stored, alert, locked.count + 1)))
                        })
                    }
                })
                .await?;
            let Some((report, alert, count)) = stored else {
                continue;
            };
            if let Some(outcome) = &alert {
                crate::metrics::ingested(
                    AlertFormat::CustomerReport.as_str(),
                    1,
                    &Ok::<_, EngineError>(vec![outcome.clone()]),
                );
            }
            return Ok(Recorded {
                report,
                count,
                alert,
            });
        }
        Err(EngineError::Unavailable(StoreError::Retryable(
            "too many reports about one component or service at once; try again".into(),
        )))
    }

    /// Customer reports, most recently recorded first: about one component (by id or name)
    /// or for one service.
    pub async fn list_customer_reports(
        &self,
        component: Option<&str>,
        service: Option<&Name>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<CustomerReport>, EngineError> {
        let subject = match component {
            Some(c) => {
                let c = c.trim();
                let id = self
                    .store
                    .list_components()
                    .await?
                    .into_iter()
                    .find(|x| x.id == c || x.name == c)
                    .map_or_else(|| c.to_string(), |x| x.id);
                Some(
                    Subject::Component {
                        id,
                        name: String::new(),
                    }
                    .key(),
                )
            }
            None => None,
        };
        let filter = ReportFilter {
            subject,
            service: service.cloned(),
        };
        Ok(self
            .store
            .list_customer_reports(&filter, before, limit)
            .await?)
    }

    /// What a report is about, and the service its alert goes to: the component named (by id
    /// or name) and the service named, else the component's first service. Each named one must
    /// exist; at least one must be named.
    async fn report_subject(
        &self,
        component: Option<&str>,
        service: Option<&str>,
    ) -> Result<(Subject, Name), EngineError> {
        let service = match service {
            Some(s) => {
                let name = Name::parse(s.trim()).map_err(|e| invalid("service", e.to_string()))?;
                if self.store.get_service(&name).await?.is_none() {
                    return Err(invalid(
                        "service",
                        format!("there is no service named `{name}`"),
                    ));
                }
                Some(name)
            }
            None => None,
        };
        let Some(component) = component else {
            return match service {
                Some(s) => Ok((Subject::Service(s.clone()), s)),
                None => Err(invalid(
                    "component",
                    "name the component or the service the customer reports a problem with \
                     (component, service, or both)",
                )),
            };
        };
        let wanted = component.trim();
        let found = self
            .store
            .list_components()
            .await?
            .into_iter()
            .find(|c| c.id == wanted || c.name == wanted)
            .ok_or_else(|| {
                invalid(
                    "component",
                    "there is no status page component with this id or name",
                )
            })?;
        let service = match service.or_else(|| found.services.first().cloned()) {
            Some(s) => s,
            None => {
                return Err(invalid(
                    "component",
                    format!(
                        "component `{}` stands for no service, so its alert would have nowhere \
                         to go; name the service too",
                        found.name
                    ),
                ));
            }
        };
        Ok((
            Subject::Component {
                id: found.id,
                name: found.name,
            },
            service,
        ))
    }

    /// Routes a subject's alert as the ingest pipeline does for any sender.
    async fn plan_report_alert(
        &self,
        service: &Name,
        who: &Principal,
        event: AlertEvent,
        drill: firebreak_domain::Drill,
        now: Timestamp,
    ) -> Result<AlertPlan, EngineError> {
        let sender = Sender {
            integration: INTEGRATION.to_string(),
            name: who.actor.0.clone(),
            service: service.clone(),
            drill,
        };
        let (mut outcomes, planned) = self.plan(&sender, vec![event], now).await?;
        Ok(AlertPlan {
            dropped: outcomes.pop().flatten(),
            planned,
        })
    }
}
