//! Customer reports: "the checkout page is broken", as a support tool or the status page
//! passes it on. Each report is about one component of the status page or one service; when
//! `threshold` reports about the same one arrive within `window`, Firebreak opens an alert for
//! it (the `reports` section of `firebreak.yaml`, by default 3 reports in 10 minutes, at low
//! urgency). Every later report within the window updates that alert while it is open.
//!
//! A reporter's address is a customer's personal data: the rules here keep it, and the edges
//! show it to admins only. It never goes into the alert the reports open.

use jiff::{SignedDuration, Timestamp};

use crate::alert::Urgency;
use crate::ids::Name;

/// The longest summary kept, in characters.
pub const SUMMARY_MAX: usize = 2_000;
/// The longest reporter address, in characters (an email address is at most 254).
pub const REPORTER_MAX: usize = 254;
/// The most reports an alert's details list (the newest); its count covers them all.
pub const LISTED_MAX: usize = 50;
/// The bounds of `reports.threshold`.
pub const THRESHOLD_RANGE: (u32, u32) = (1, 1_000);
/// The bounds of `reports.window`: a minute to a day.
pub const WINDOW_RANGE: (SignedDuration, SignedDuration) =
    (SignedDuration::from_mins(1), SignedDuration::from_hours(24));

/// When reports become an alert (the `reports` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRule {
    /// How many reports about one component or service open an alert.
    pub threshold: u32,
    /// Within how long of each other: reports older than this before the newest do not count.
    pub window: SignedDuration,
    /// The urgency of the alert: `low` is recorded and shown, `high` pages like any alert.
    pub urgency: Urgency,
    /// Whether the public status page offers a "report a problem" form.
    pub status_page_form: bool,
}

impl Default for ReportRule {
    /// Three reports within ten minutes open a low-urgency alert; the status page has no form.
    fn default() -> Self {
        ReportRule {
            threshold: 3,
            window: SignedDuration::from_mins(10),
            urgency: Urgency::Low,
            status_page_form: false,
        }
    }
}

impl ReportRule {
    /// The earliest instant a report may have been made to count at `now`: reports made after
    /// it (strictly) are within the window.
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        now.checked_sub(self.window).unwrap_or(now)
    }

    /// Whether `count` reports within the window (the new one included) open or update the
    /// alert.
    pub fn reached(&self, count: u64) -> bool {
        count >= u64::from(self.threshold)
    }
}

/// What a report is about: what it is counted by, and what its alert's dedup key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A status page component, by its public id, with its name when reported.
    Component { id: String, name: String },
    /// A service.
    Service(Name),
}

impl Subject {
    /// The stable key reports are counted by: `component/ID` or `service/NAME`.
    pub fn key(&self) -> String {
        match self {
            Subject::Component { id, .. } => format!("component/{id}"),
            Subject::Service(name) => format!("service/{name}"),
        }
    }

    /// What people call it.
    pub fn label(&self) -> &str {
        match self {
            Subject::Component { name, .. } => name,
            Subject::Service(name) => name.as_str(),
        }
    }
}

/// A customer report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerReport {
    /// Assigned by the store; 0 until then.
    pub id: i64,
    /// What it is counted by ([`Subject::key`]).
    pub subject: String,
    /// The component it names (public id and name), if it names one.
    pub component: Option<(String, String)>,
    /// The service its alert goes to: the one it names, else its component's first.
    pub service: Name,
    pub summary: String,
    /// The customer's address, if given: shown to admins only.
    pub reporter: Option<String>,
    /// Who passed it on (the token's actor).
    pub created_by: String,
    pub at: Timestamp,
}

/// Why a report is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ReportError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> ReportError {
    ReportError {
        field,
        message: message.into(),
    }
}

/// A summary as kept: trimmed, control characters other than line breaks and tabs removed, at
/// most [`SUMMARY_MAX`] characters. Empty is refused.
pub fn clean_summary(text: &str) -> Result<String, ReportError> {
    let kept: String = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let kept = kept.trim();
    if kept.is_empty() {
        return Err(refuse("summary", "say what the customer reported"));
    }
    if kept.chars().count() > SUMMARY_MAX {
        return Err(refuse(
            "summary",
            format!("at most {SUMMARY_MAX} characters"),
        ));
    }
    Ok(kept.to_string())
}

/// A reporter's address as kept: trimmed, at most [`REPORTER_MAX`] characters, on one line.
/// Leave it out rather than send it empty.
pub fn clean_reporter(text: &str) -> Result<String, ReportError> {
    let kept = text.trim();
    if kept.is_empty() {
        return Err(refuse(
            "reporter",
            "empty; leave reporter out when the customer gave no address",
        ));
    }
    if kept.chars().any(char::is_control) {
        return Err(refuse(
            "reporter",
            "must be on one line, with no control characters",
        ));
    }
    if kept.chars().count() > REPORTER_MAX {
        return Err(refuse(
            "reporter",
            format!("at most {REPORTER_MAX} characters"),
        ));
    }
    Ok(kept.to_string())
}

impl CustomerReport {
    /// A new report about `subject`, checked and cleaned.
    pub fn new(
        subject: &Subject,
        service: Name,
        summary: &str,
        reporter: Option<&str>,
        created_by: String,
        at: Timestamp,
    ) -> Result<CustomerReport, ReportError> {
        let summary = clean_summary(summary)?;
        let reporter = reporter.map(clean_reporter).transpose()?;
        let component = match subject {
            Subject::Component { id, name } => Some((id.clone(), name.clone())),
            Subject::Service(_) => None,
        };
        Ok(CustomerReport {
            id: 0,
            subject: subject.key(),
            component,
            service,
            summary,
            reporter,
            created_by,
            at,
        })
    }
}

/// The dedup key of the alert reports about `subject` open: one per component or service, so
/// later reports update it instead of opening more.
pub fn dedup_key(subject: &Subject) -> String {
    format!("reports/{}", subject.key())
}

/// The first line of a text, cut to `max` characters (with an ellipsis when cut).
fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The alert's summary once `count` reports about `subject` arrived within the rule's window,
/// the newest saying `latest`: "3 customer reports about Checkout in 10m: can't pay".
pub fn alert_summary(subject: &Subject, count: u64, rule: &ReportRule, latest: &str) -> String {
    let reports = if count == 1 { "report" } else { "reports" };
    let head = format!(
        "{count} customer {reports} about {} in {}",
        subject.label(),
        crate::heartbeat::span_text(rule.window)
    );
    let room = crate::alert::SUMMARY_MAX.saturating_sub(head.chars().count() + 2);
    if room < 10 {
        return head.chars().take(crate::alert::SUMMARY_MAX).collect();
    }
    format!("{head}: {}", first_line(latest, room.min(200)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn checkout() -> Subject {
        Subject::Component {
            id: "abc123".into(),
            name: "Checkout".into(),
        }
    }

    fn service() -> Name {
        Name::parse("payments").unwrap()
    }

    #[test]
    fn the_defaults_are_three_reports_in_ten_minutes_at_low_urgency() {
        let rule = ReportRule::default();
        assert_eq!(rule.threshold, 3);
        assert_eq!(rule.window, SignedDuration::from_mins(10));
        assert_eq!(rule.urgency, Urgency::Low);
        assert!(!rule.reached(2));
        assert!(rule.reached(3));
        assert!(rule.reached(4));
        assert_eq!(rule.window_start(at(600)), at(0));
    }

    #[test]
    fn subjects_have_stable_keys() {
        assert_eq!(checkout().key(), "component/abc123");
        assert_eq!(dedup_key(&checkout()), "reports/component/abc123");
        let s = Subject::Service(service());
        assert_eq!(s.key(), "service/payments");
        assert_eq!(s.label(), "payments");
    }

    #[test]
    fn a_report_is_cleaned_and_checked() {
        let r = CustomerReport::new(
            &checkout(),
            service(),
            "  can't pay\u{7}\nat all  ",
            Some(" ann@example.com "),
            "support".into(),
            at(0),
        )
        .unwrap();
        assert_eq!(r.summary, "can't pay\nat all");
        assert_eq!(r.reporter.as_deref(), Some("ann@example.com"));
        assert_eq!(r.subject, "component/abc123");
        assert_eq!(r.component, Some(("abc123".into(), "Checkout".into())));

        let refused = |summary: &str, reporter: Option<&str>| {
            CustomerReport::new(&checkout(), service(), summary, reporter, "s".into(), at(0))
                .unwrap_err()
                .field
        };
        assert_eq!(refused("  \u{1b} ", None), "summary");
        assert_eq!(refused(&"x".repeat(SUMMARY_MAX + 1), None), "summary");
        assert_eq!(refused("ok", Some("  ")), "reporter");
        assert_eq!(refused("ok", Some("a\nb")), "reporter");
        assert_eq!(
            refused("ok", Some(&"a".repeat(REPORTER_MAX + 1))),
            "reporter"
        );
        assert!(
            CustomerReport::new(
                &checkout(),
                service(),
                &"é".repeat(SUMMARY_MAX),
                None,
                "s".into(),
                at(0)
            )
            .is_ok()
        );
    }

    #[test]
    fn the_alert_summary_counts_and_quotes_the_newest() {
        let rule = ReportRule::default();
        assert_eq!(
            alert_summary(&checkout(), 3, &rule, "can't pay\nsecond line"),
            "3 customer reports about Checkout in 10m: can't pay"
        );
        let long = alert_summary(&checkout(), 1, &rule, &"y".repeat(5_000));
        assert!(long.starts_with("1 customer report about Checkout in 10m: "));
        assert!(long.chars().count() <= crate::alert::SUMMARY_MAX);
        assert!(long.ends_with('…'));
    }
}
