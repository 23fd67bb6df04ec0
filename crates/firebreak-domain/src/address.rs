//! Where a request came from: the client's address when Firebreak sits behind proxies it
//! trusts (`server.trusted_proxies`), and the group of addresses that counts as one source for
//! sign-in backoff and rate limits.
//!
//! A proxy appends the address it received the request from to `X-Forwarded-For`, so the
//! header reads oldest hop first. Only the entries added by trusted proxies can be believed:
//! the client may have sent a header of its own with anything in it. So the list is read from
//! the right, past every trusted proxy, and the first address that is not one is the client.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The client's address for a request that reached Firebreak from `peer`, given the
/// `X-Forwarded-For` header values in the order they arrived and the proxies trusted to set
/// them. A peer that is not a trusted proxy is the client, whatever the header says.
///
/// Reading right to left, trusted proxies are skipped and the first other address is the
/// client. An entry that is not an address stops the walk at the last proxy that was
/// believed: its record of where the request came from is broken, so the proxy itself is
/// the best-known source. When every hop is trusted, the leftmost is the client.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| IpAddr::V6(ip).to_canonical());
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The addresses that count as one source: an IPv4 address alone, and an IPv6 address with
/// the rest of its /64, since one customer line or one cloud machine usually gets a whole
/// /64 to choose from.
pub fn source_group(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// How a source group is written in keys and the audit log: `192.0.2.7`, or
/// `2001:db8:1:2::/64`.
pub fn source_label(ip: IpAddr) -> String {
    match source_group(ip) {
        IpAddr::V6(v6) => format!("{v6}/64"),
        v4 => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("203.0.113.9"), ["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("203.0.113.9"), ["198.51.100.1"], &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        // The client forged the first entry; the proxy appended the real one.
        let forged = ["6.6.6.6, 198.51.100.20"];
        assert_eq!(
            client_address(ip("10.1.2.3"), forged, &trusted),
            ip("198.51.100.20")
        );
        // Two proxies, the header split over two lines.
        let two = ["198.51.100.20", "10.9.9.9"];
        assert_eq!(
            client_address(ip("10.1.2.3"), two, &trusted),
            ip("198.51.100.20")
        );
        assert_eq!(
            client_address(ip("fd00::1"), ["2001:db8::7"], &trusted),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn ports_and_mapped_addresses_are_understood() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), ["192.0.2.1:4711"], &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), ["[2001:db8::1]:4711"], &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), ["::ffff:192.0.2.5"], &trusted),
            ip("192.0.2.5")
        );
    }

    #[test]
    fn garbage_or_an_empty_header_leaves_the_nearest_proxy() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("10.0.0.1"), ["unknown"], &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), ["1.2.3.4, nonsense, 10.0.0.2"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), std::iter::empty(), &trusted),
            ip("10.0.0.1")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            client_address(ip("10.0.0.1"), ["10.0.0.3, 10.0.0.2"], &trusted),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn ipv6_sources_are_grouped_by_their_64() {
        assert_eq!(
            source_label(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            source_group(ip("2001:db8:1:2::1")),
            source_group(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            source_group(ip("2001:db8:1:2::1")),
            source_group(ip("2001:db8:1:3::1"))
        );
        assert_eq!(source_label(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(source_label(ip("::ffff:192.0.2.7")), "192.0.2.7");
    }
}
