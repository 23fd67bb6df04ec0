//! The `reports` section: how many customer reports about one component or service, within
//! how long, open an alert, at which urgency, and whether the status page has a form for them.

use firebreak_domain::customer_report::{ReportRule, THRESHOLD_RANGE, WINDOW_RANGE};

use super::Reader;
use crate::node::Node;

pub(crate) const REPORTS_KEYS: &[&str] = &["threshold", "window", "urgency", "status_page_form"];

impl Reader<'_> {
    /// The `reports` section; keys left out keep their defaults (3 reports within 10m open a
    /// low-urgency alert).
    pub(super) fn reports(&mut self, node: &Node) -> Option<ReportRule> {
        let f = self.fields(
            node,
            "reports",
            REPORTS_KEYS,
            "a mapping with threshold, window, urgency and status_page_form, like \
             {threshold: 3, window: 10m, urgency: low}",
        )?;
        let mut rule = ReportRule::default();
        let (min, max) = THRESHOLD_RANGE;
        if let Some(threshold) = self.opt_whole_in(&f, "threshold", min, max) {
            rule.threshold = threshold;
        }
        if let Some(window) = self.bounded_duration(
            &f,
            "window",
            WINDOW_RANGE,
            "1m to 24h",
            "within how long the threshold's reports must arrive, e.g. 10m",
        ) {
            rule.window = window;
        }
        if let Some(Some(urgency)) = self.opt_word(&f, "urgency") {
            rule.urgency = urgency;
        }
        if let Some(form) = self.opt_bool(&f, "status_page_form") {
            rule.status_page_form = form;
        }
        Some(rule)
    }
}
