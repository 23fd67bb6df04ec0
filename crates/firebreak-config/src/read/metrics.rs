//! The `metrics` section: where Firebreak's own Prometheus metrics are served besides the main
//! listener (which asks for a token of any role).

use firebreak_domain::config::Metrics;

use super::Reader;
use crate::node::Node;

pub(crate) const METRICS_KEYS: &[&str] = &["listen"];

impl Reader<'_> {
    /// The `metrics` section; `listen` left out means `/metrics` is served on the main
    /// listener only. `status_page` is the status page's own listener, which must be another.
    pub(super) fn metrics(&mut self, node: &Node, status_page: Option<&str>) -> Option<Metrics> {
        let f = self.fields(
            node,
            "metrics",
            METRICS_KEYS,
            "a mapping with listen, the address of a listener serving only /metrics, like \
             127.0.0.1:9464",
        )?;
        let mut metrics = Metrics::default();
        if let Some((listen, n)) = self.listen_address(&f, "127.0.0.1:9464 or [::1]:9464") {
            if status_page == Some(listen.as_str()) {
                self.error_at(
                    n,
                    &f.path("listen"),
                    format!(
                        "{listen} is also status_page.listen; the metrics need a listener of \
                         their own: choose another port"
                    ),
                );
            } else {
                metrics.listen = Some(listen);
            }
        }
        Some(metrics)
    }
}
