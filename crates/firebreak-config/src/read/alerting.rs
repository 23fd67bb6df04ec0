//! The `alerting` section: the ingest rate limit, the suspect window for deploys and the
//! routing rules.

use firebreak_domain::alert::{AlertSeverity, Urgency};
use firebreak_domain::config::Alerting;
use firebreak_domain::rules::Route;

use super::Reader;
use crate::node::Node;

pub(crate) const ALERTING_KEYS: &[&str] = &["rate_limit", "suspect_window", "routes"];
pub(crate) const RATE_LIMIT_KEYS: &[&str] = &["per_second", "burst"];
pub(crate) const ROUTE_KEYS: &[&str] = &["match", "service", "severity", "urgency", "drop"];

impl Reader<'_> {
    /// The `alerting` section; keys left out keep their defaults.
    pub(super) fn alerting(&mut self, node: &Node, services: &[String]) -> Option<Alerting> {
        let f = self.fields(
            node,
            "alerting",
            ALERTING_KEYS,
            "a mapping with rate_limit, suspect_window and routes",
        )?;
        let mut alerting = Alerting::default();
        if let Some(n) = f.get("rate_limit")
            && let Some(limit) = self.fields(
                n,
                &f.path("rate_limit"),
                RATE_LIMIT_KEYS,
                "a mapping with per_second and burst",
            )
        {
            if let Some(v) = self.opt_positive(&limit, "per_second") {
                alerting.rate_limit_per_second = v;
            }
            if let Some(v) = self.opt_positive(&limit, "burst") {
                alerting.rate_limit_burst = v;
            }
        }
        if let Some(n) = f.get("suspect_window")
            && let Some(d) = self.duration(n, &f.path("suspect_window"))
        {
            alerting.suspect_window = d;
        }
        if let Some(n) = f.get("routes")
            && let Some(items) = self.section(n, &f.path("routes"))
        {
            let path = f.path("routes");
            alerting.routes = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.route(item, &format!("{path}[{i}]"), services))
                .collect();
        }
        Some(alerting)
    }

    fn route(&mut self, node: &Node, path: &str, services: &[String]) -> Option<Route> {
        let f = self.fields(
            node,
            path,
            ROUTE_KEYS,
            "a routing rule mapping with match and service, severity, urgency or drop",
        )?;
        let matchers = self.matchers(&f);
        let service = match f.get("service") {
            None => Some(None),
            Some(_) => self.name(&f, "service").and_then(|(name, name_node)| {
                if services.iter().any(|s| s == name.as_str()) {
                    Some(Some(name))
                } else {
                    self.error_at(
                        &name_node,
                        &f.path("service"),
                        format!("no service named \"{name}\" is defined in services"),
                    );
                    None
                }
            }),
        };
        let severity = self.opt_word::<AlertSeverity>(&f, "severity");
        let urgency = self.opt_word::<Urgency>(&f, "urgency");
        let drop = self.opt_bool(&f, "drop");
        if drop == Some(true)
            && let Some(drop_node) = f.get("drop")
        {
            let set: Vec<&str> = ["service", "severity", "urgency"]
                .into_iter()
                .filter(|k| f.get(k).is_some())
                .collect();
            if !set.is_empty() {
                let set = set.join(", ");
                self.error_at(
                    drop_node,
                    &f.path("drop"),
                    format!(
                        "a dropping rule cannot also set service, severity or urgency (this one sets {set}); \
                         remove drop: true to route the alert, or remove {set}"
                    ),
                );
                return None;
            }
        }
        Some(Route {
            matchers: matchers?,
            service: service?,
            severity: severity?,
            urgency: urgency?,
            drop: drop.unwrap_or(false),
        })
    }
}
