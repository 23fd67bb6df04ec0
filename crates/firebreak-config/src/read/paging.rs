//! The `paging` section: the policy of services that name none, how pages are retried, how
//! long one attempt may take and how long the acknowledge link in a page works.

use jiff::SignedDuration;

use firebreak_domain::config::Paging;

use super::{DURATION_HINT, Declared, Fields, Reader, parse_duration_or_zero};
use crate::node::Node;

pub(crate) const PAGING_KEYS: &[&str] =
    &["default_policy", "retry", "attempt_timeout", "ack_link_ttl"];

/// The range of `attempt_timeout`.
const ATTEMPT_TIMEOUT: (SignedDuration, SignedDuration) =
    (SignedDuration::from_secs(1), SignedDuration::from_mins(5));
/// The range of `ack_link_ttl`: a minute to 30 days.
const ACK_LINK_TTL: (SignedDuration, SignedDuration) = (
    SignedDuration::from_mins(1),
    SignedDuration::from_hours(30 * 24),
);

impl Reader<'_> {
    /// The `paging` section; keys left out keep their defaults (`retry` left out means pages
    /// are retried like other deliveries, by `outbound.retry`).
    pub(super) fn paging(&mut self, node: &Node, declared: &Declared) -> Option<Paging> {
        let f = self.fields(
            node,
            "paging",
            PAGING_KEYS,
            "a mapping with default_policy, retry, attempt_timeout and ack_link_ttl",
        )?;
        let mut paging = Paging::default();
        if f.get("default_policy").is_some() {
            paging.default_policy = self.policy_ref(&f, "default_policy", declared);
        }
        if let Some(n) = f.get("retry") {
            paging.retry = self.retry(n, &f.path("retry"));
        }
        if let Some(d) = self.bounded_duration(
            &f,
            "attempt_timeout",
            ATTEMPT_TIMEOUT,
            "1s to 5m",
            "how long one attempt to deliver a page may take, e.g. 10s",
        ) {
            paging.attempt_timeout = d;
        }
        if let Some(d) = self.bounded_duration(
            &f,
            "ack_link_ttl",
            ACK_LINK_TTL,
            "1m to 30d",
            "how long the acknowledge link in a page works, e.g. 24h",
        ) {
            paging.ack_link_ttl = d;
        }
        Some(paging)
    }

    /// An optional duration within `(min, max)`, written `range` in messages; `None` when
    /// absent or invalid (reported).
    pub(super) fn bounded_duration(
        &mut self,
        f: &Fields,
        key: &str,
        (min, max): (SignedDuration, SignedDuration),
        range: &str,
        purpose: &str,
    ) -> Option<SignedDuration> {
        let node = f.get(key)?;
        let path = f.path(key);
        let text = self.text_of(node, &path)?;
        let Some(d) = parse_duration_or_zero(&text) else {
            self.error_at(
                node,
                &path,
                format!("invalid duration \"{text}\"; {DURATION_HINT}"),
            );
            return None;
        };
        if d < min || d > max {
            self.error_at(
                node,
                &path,
                format!("{key} must be from {range}, found {text}: {purpose}"),
            );
            return None;
        }
        Some(d)
    }
}
