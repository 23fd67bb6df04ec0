//! The `outbound` section: the networks the SSRF guard lets webhooks reach, and how failed
//! deliveries are retried.

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::SignedDuration;

use firebreak_domain::config::{Outbound, OutboundRetry};

use super::{DURATION_HINT, Fields, Reader, format_duration, parse_duration_or_zero};
use crate::node::Node;

pub(crate) const OUTBOUND_KEYS: &[&str] = &["allow", "retry"];
pub(crate) const RETRY_KEYS: &[&str] = &["first_delay", "max_delay", "give_up_after"];

const NETWORK_EXAMPLE: &str = "10.0.0.0/8, 192.168.1.20 or fd00::/8";

/// Parses one allowed network: a CIDR like `10.0.0.0/8` or `fd00::/8`, or a bare address,
/// which means that address alone (`/32` or `/128`).
///
/// A CIDR with bits set after its prefix (`10.1.2.3/8`) is refused rather than guessed at:
/// the message says how to write the network or the single address.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    let invalid = || {
        format!("invalid network \"{text}\"; expected an IP address or CIDR like {NETWORK_EXAMPLE}")
    };
    let Some((addr, prefix)) = text.split_once('/') else {
        return text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| invalid());
    };
    let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = match prefix.parse() {
        Ok(p) if p <= max => p,
        _ => {
            let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
            return Err(format!(
                "invalid network \"{text}\"; the prefix after / must be a number from 0 to \
                 {max} for an {family} address"
            ));
        }
    };
    let net = IpNet::new(addr, prefix).map_err(|_| invalid())?;
    if net.network() != addr {
        return Err(format!(
            "invalid network \"{text}\": it has bits set after the /{prefix} prefix; write {} \
             for the network, or {addr} for that one address",
            net.trunc()
        ));
    }
    Ok(net)
}

impl Reader<'_> {
    /// The `outbound` section; keys left out keep their defaults.
    pub(super) fn outbound(&mut self, node: &Node) -> Option<Outbound> {
        let f = self.fields(
            node,
            "outbound",
            OUTBOUND_KEYS,
            "a mapping with allow and retry",
        )?;
        let mut outbound = Outbound::default();
        if let Some(items) = self.text_list(&f, "allow", "[10.0.0.0/8, \"fd00::/8\"]") {
            for (text, item, item_path) in items {
                match parse_network(&text) {
                    Ok(net) => outbound.allow.push(net),
                    Err(message) => self.error_at(&item, &item_path, message),
                }
            }
        }
        if let Some(n) = f.get("retry")
            && let Some(retry) = self.retry(n, &f.path("retry"))
        {
            outbound.retry = retry;
        }
        Some(outbound)
    }

    /// A `retry` mapping, here or under `paging`; keys left out keep the defaults of
    /// [`OutboundRetry`].
    pub(super) fn retry(&mut self, node: &Node, path: &str) -> Option<OutboundRetry> {
        let f = self.fields(
            node,
            path,
            RETRY_KEYS,
            "a mapping with first_delay, max_delay and give_up_after",
        )?;
        let first = self.positive_duration(
            &f,
            "first_delay",
            "a failed delivery waits this long before it is tried again, e.g. 5s",
        );
        let max = self.positive_duration(
            &f,
            "max_delay",
            "the wait between tries grows up to this, e.g. 10m",
        );
        let give_up = self.positive_duration(
            &f,
            "give_up_after",
            "a delivery is abandoned this long after its first try, e.g. 24h",
        );
        let (first, max, give_up) = (first?, max?, give_up?);
        let defaults = OutboundRetry::default();
        let retry = OutboundRetry {
            first_delay: first.map_or(defaults.first_delay, |(d, _)| d),
            max_delay: max.map_or(defaults.max_delay, |(d, _)| d),
            give_up_after: give_up.map_or(defaults.give_up_after, |(d, _)| d),
        };
        let mut ok = true;
        for (key, value, node) in [
            ("max_delay", retry.max_delay, max.map(|(_, n)| n)),
            (
                "give_up_after",
                retry.give_up_after,
                give_up.map(|(_, n)| n),
            ),
        ] {
            if value >= retry.first_delay {
                continue;
            }
            ok = false;
            let first_text = format_duration(retry.first_delay);
            let text = format_duration(value);
            match node {
                // The later key is written: it is the one that falls short.
                Some(node) => self.error_at(
                    node,
                    &f.path(key),
                    format!(
                        "{key} {text} is shorter than first_delay {first_text}; make {key} at \
                         least {first_text}, or first_delay at most {text}"
                    ),
                ),
                // Only first_delay is written (the defaults agree with each other).
                None => {
                    let first_node = first.map_or(f.node, |(_, n)| n);
                    self.error_at(
                        first_node,
                        &f.path("first_delay"),
                        format!(
                            "first_delay {first_text} is longer than {key} ({text} by default); \
                             make first_delay at most {text}, or set {key} to at least \
                             {first_text}"
                        ),
                    );
                }
            }
        }
        ok.then_some(retry)
    }

    /// An optional duration that must be more than zero: `Some(None)` when absent, `None`
    /// (reported) when invalid. `purpose` says what it is for, in the message about zero.
    fn positive_duration<'n>(
        &mut self,
        f: &Fields<'n>,
        key: &str,
        purpose: &str,
    ) -> Option<Option<(SignedDuration, &'n Node)>> {
        let Some(node) = f.get(key) else {
            return Some(None);
        };
        let path = f.path(key);
        let text = self.text_of(node, &path)?;
        match parse_duration_or_zero(&text) {
            Some(d) if d.is_zero() => {
                self.error_at(
                    node,
                    &path,
                    format!("{key} must be more than 0s: {purpose}"),
                );
                None
            }
            Some(d) => Some(Some((d, node))),
            None => {
                self.error_at(
                    node,
                    &path,
                    format!("invalid duration \"{text}\"; {DURATION_HINT}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let net = |t: &str| parse_network(t).map(|n| n.to_string());
        assert_eq!(net("10.0.0.0/8").as_deref(), Ok("10.0.0.0/8"));
        assert_eq!(net(" 192.168.1.20 ").as_deref(), Ok("192.168.1.20/32"));
        assert_eq!(net("192.168.1.20/32").as_deref(), Ok("192.168.1.20/32"));
        assert_eq!(net("fd00::/8").as_deref(), Ok("fd00::/8"));
        assert_eq!(net("::1").as_deref(), Ok("::1/128"));
        assert_eq!(net("0.0.0.0/0").as_deref(), Ok("0.0.0.0/0"));
        for bad in ["", "10.0.0", "example.com", "/8", "10.0.0.0.0/8"] {
            let e = net(bad).unwrap_err();
            assert!(
                e.contains("expected an IP address or CIDR like"),
                "{bad}: {e}"
            );
        }
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1"] {
            let e = net(bad).unwrap_err();
            assert!(e.contains("from 0 to 32 for an IPv4 address"), "{bad}: {e}");
        }
        let e = net("fd00::/129").unwrap_err();
        assert!(e.contains("from 0 to 128 for an IPv6 address"), "{e}");
        let e = net("10.1.2.3/8").unwrap_err();
        assert!(
            e.contains("write 10.0.0.0/8 for the network, or 10.1.2.3 for that one address"),
            "{e}"
        );
    }
}
