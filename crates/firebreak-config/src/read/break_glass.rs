//! The `break_glass` section: how long a break-glass grant (a responder taking a higher role
//! during an open incident) may last, and whether it waits for the incident's commander to
//! approve it.

use jiff::SignedDuration;

use firebreak_domain::break_glass::BreakGlassPolicy;

use super::Reader;
use crate::node::Node;

pub(crate) const BREAK_GLASS_KEYS: &[&str] = &["max", "approval"];

/// The range of `max`: a minute to a day.
const MAX: (SignedDuration, SignedDuration) =
    (SignedDuration::from_mins(1), SignedDuration::from_hours(24));

impl Reader<'_> {
    /// The `break_glass` section; keys left out keep their defaults (a grant lasts at most 1h
    /// and needs no approval).
    pub(super) fn break_glass(&mut self, node: &Node) -> Option<BreakGlassPolicy> {
        let f = self.fields(
            node,
            "break_glass",
            BREAK_GLASS_KEYS,
            "a mapping with max and approval, like {max: 1h, approval: false}",
        )?;
        let mut policy = BreakGlassPolicy::default();
        if let Some(max) = self.bounded_duration(
            &f,
            "max",
            MAX,
            "1m to 24h",
            "the longest a break-glass grant may last, e.g. 1h",
        ) {
            policy.max = max;
        }
        if let Some(n) = f.get("approval") {
            match n.value {
                crate::node::Value::Bool(approval) => policy.approval = approval,
                _ => self.wrong_type(
                    n,
                    &f.path("approval"),
                    "true (a grant waits for the incident's commander to approve it) or false",
                ),
            }
        }
        Some(policy)
    }
}
