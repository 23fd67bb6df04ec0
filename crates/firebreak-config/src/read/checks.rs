//! The `checks` section: the internal networks uptime checks may reach, on top of
//! `outbound.allow` (which counts for checks too), and the TLS defaults every HTTPS check takes
//! unless it sets its own. The checks themselves are made through the API or the CLI.

use firebreak_domain::check::{ChecksConfig, MAX_TLS_WARN};

use super::Reader;
use super::outbound::parse_network;
use crate::node::Node;

pub(crate) const CHECKS_KEYS: &[&str] = &["allow", "tls"];
pub(crate) const CHECK_TLS_KEYS: &[&str] = &["warn_before", "ca_file"];

impl Reader<'_> {
    /// The `checks` section; keys left out keep their defaults (public addresses only, a
    /// certificate warning 14 days before expiry, the system's CA certificates).
    pub(super) fn checks(&mut self, node: &Node) -> Option<ChecksConfig> {
        let f = self.fields(
            node,
            "checks",
            CHECKS_KEYS,
            "a mapping with allow and tls, like {allow: [10.0.0.0/8], tls: {warn_before: 14d}}",
        )?;
        let mut checks = ChecksConfig::default();
        if let Some(items) = self.text_list(&f, "allow", "[10.0.0.0/8, \"fd00::/8\"]") {
            for (text, item, item_path) in items {
                match parse_network(&text) {
                    Ok(net) => checks.allow.push(net),
                    Err(message) => self.error_at(&item, &item_path, message),
                }
            }
        }
        if let Some(tls_node) = f.get("tls") {
            let path = f.path("tls");
            let t = self.fields(
                tls_node,
                &path,
                CHECK_TLS_KEYS,
                "a mapping with warn_before and ca_file, like {warn_before: 14d, ca_file: /etc/firebreak/ca.pem}",
            )?;
            if let Some(n) = t.get("warn_before")
                && let Some(warn) = self.duration(n, &t.path("warn_before"))
            {
                if warn.is_negative() || warn > MAX_TLS_WARN {
                    self.error_at(
                        n,
                        &t.path("warn_before"),
                        "warn_before must be from 0s to 366d: how long before a certificate \
                         expires its warning opens, e.g. 14d",
                    );
                } else {
                    checks.tls.warn_before = Some(warn);
                }
            }
            if let Some(ca) = self.opt_text(&t, "ca_file") {
                let n = t.get("ca_file").expect("read above");
                match std::fs::read_to_string(&ca) {
                    Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {
                        checks.tls.ca_file = Some(ca)
                    }
                    Ok(_) => self.error_at(
                        n,
                        &t.path("ca_file"),
                        format!("{ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
                    ),
                    Err(e) => self.error_at(
                        n,
                        &t.path("ca_file"),
                        format!(
                            "cannot read {ca}: {e}; give the path of the private CA's PEM file"
                        ),
                    ),
                }
            }
        }
        Some(checks)
    }
}
