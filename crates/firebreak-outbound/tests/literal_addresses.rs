//! The guard against IP literals in URLs, in every spelling the URL parser accepts: each internal
//! address is refused by default and allowed once its range is in the allow list; public
//! addresses pass.

use std::net::IpAddr;

use firebreak_outbound::{BlockedRange, OutboundPolicy, UrlRefusal, parse_allow_list};

/// (host as written in the URL, the address it means, its range, a CIDR that opens it)
const REFUSED: &[(&str, &str, BlockedRange, &str)] = &[
    (
        "127.0.0.1",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    ("127.1", "127.0.0.1", BlockedRange::Loopback, "127.0.0.0/8"),
    (
        "127.0.0.1.",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    (
        "2130706433",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    (
        "0177.0.0.1",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    (
        "0x7f000001",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    ("0x7f.1", "127.0.0.1", BlockedRange::Loopback, "127.0.0.0/8"),
    (
        "017700000001",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    (
        "127.255.255.254",
        "127.255.255.254",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    ("[::1]", "::1", BlockedRange::Loopback, "::1"),
    (
        "[0:0:0:0:0:0:0:1]",
        "::1",
        BlockedRange::Loopback,
        "::1/128",
    ),
    (
        "[::ffff:127.0.0.1]",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    (
        "[::ffff:7f00:1]",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    (
        "[::127.0.0.1]",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    ("10.0.0.1", "10.0.0.1", BlockedRange::Private, "10.0.0.0/8"),
    ("012.0.0.1", "10.0.0.1", BlockedRange::Private, "10.0.0.0/8"),
    ("167772161", "10.0.0.1", BlockedRange::Private, "10.0.0.0/8"),
    (
        "172.16.5.4",
        "172.16.5.4",
        BlockedRange::Private,
        "172.16.0.0/12",
    ),
    (
        "172.31.255.255",
        "172.31.255.255",
        BlockedRange::Private,
        "172.16.0.0/12",
    ),
    (
        "192.168.1.1",
        "192.168.1.1",
        BlockedRange::Private,
        "192.168.0.0/16",
    ),
    (
        "0xc0.0xa8.1.1",
        "192.168.1.1",
        BlockedRange::Private,
        "192.168.1.1",
    ),
    (
        "[::ffff:192.168.1.1]",
        "192.168.1.1",
        BlockedRange::Private,
        "192.168.0.0/16",
    ),
    ("[fc00::1]", "fc00::1", BlockedRange::Private, "fc00::/7"),
    (
        "[fd12:3456::1]",
        "fd12:3456::1",
        BlockedRange::Private,
        "fd00::/8",
    ),
    (
        "169.254.169.254",
        "169.254.169.254",
        BlockedRange::LinkLocal,
        "169.254.169.254/32",
    ),
    (
        "2852039166",
        "169.254.169.254",
        BlockedRange::LinkLocal,
        "169.254.0.0/16",
    ),
    (
        "[::ffff:169.254.169.254]",
        "169.254.169.254",
        BlockedRange::LinkLocal,
        "169.254.0.0/16",
    ),
    (
        "[64:ff9b::169.254.169.254]",
        "169.254.169.254",
        BlockedRange::LinkLocal,
        "169.254.0.0/16",
    ),
    ("[fe80::1]", "fe80::1", BlockedRange::LinkLocal, "fe80::/10"),
    (
        "100.64.0.1",
        "100.64.0.1",
        BlockedRange::SharedAddressSpace,
        "100.64.0.0/10",
    ),
    (
        "100.127.255.254",
        "100.127.255.254",
        BlockedRange::SharedAddressSpace,
        "100.64.0.0/10",
    ),
    ("0.0.0.0", "0.0.0.0", BlockedRange::Unspecified, "0.0.0.0/8"),
    ("0", "0.0.0.0", BlockedRange::Unspecified, "0.0.0.0/32"),
    ("[::]", "::", BlockedRange::Unspecified, "::/128"),
    (
        "[::ffff:0.0.0.0]",
        "0.0.0.0",
        BlockedRange::Unspecified,
        "0.0.0.0/8",
    ),
    (
        "224.0.0.1",
        "224.0.0.1",
        BlockedRange::Multicast,
        "224.0.0.0/4",
    ),
    (
        "239.255.255.250",
        "239.255.255.250",
        BlockedRange::Multicast,
        "224.0.0.0/4",
    ),
    ("[ff02::1]", "ff02::1", BlockedRange::Multicast, "ff00::/8"),
    (
        "255.255.255.255",
        "255.255.255.255",
        BlockedRange::Broadcast,
        "255.255.255.255",
    ),
    (
        "0xffffffff",
        "255.255.255.255",
        BlockedRange::Broadcast,
        "255.255.255.255/32",
    ),
    (
        "240.0.0.1",
        "240.0.0.1",
        BlockedRange::Reserved,
        "240.0.0.0/4",
    ),
    (
        "192.0.0.192",
        "192.0.0.192",
        BlockedRange::Reserved,
        "192.0.0.0/24",
    ),
    (
        "192.0.2.10",
        "192.0.2.10",
        BlockedRange::Documentation,
        "192.0.2.0/24",
    ),
    (
        "198.51.100.7",
        "198.51.100.7",
        BlockedRange::Documentation,
        "198.51.100.0/24",
    ),
    (
        "203.0.113.9",
        "203.0.113.9",
        BlockedRange::Documentation,
        "203.0.113.0/24",
    ),
    (
        "198.18.0.1",
        "198.18.0.1",
        BlockedRange::Benchmarking,
        "198.18.0.0/15",
    ),
    (
        "[2001:db8::1]",
        "2001:db8::1",
        BlockedRange::Documentation,
        "2001:db8::/32",
    ),
    (
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        BlockedRange::Teredo,
        "2001::/32",
    ),
    (
        "[2002:7f00:1::1]",
        "127.0.0.1",
        BlockedRange::Loopback,
        "127.0.0.0/8",
    ),
    (
        "[2002:a00:1::]",
        "10.0.0.1",
        BlockedRange::Private,
        "10.0.0.0/8",
    ),
];

const PUBLIC: &[&str] = &[
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "134744072",   // 8.8.8.8 as one number
    "100.128.0.1", // just past CGNAT
    "172.32.0.1",  // just past 172.16/12
    "[2606:4700::1111]",
    "[2001:4860:4860::8888]",
    "[::ffff:8.8.8.8]",
    "[64:ff9b::8.8.8.8]",
];

fn url(host: &str) -> String {
    format!("http://{host}/hooks/incident?token=s3cret")
}

#[test]
fn internal_addresses_are_refused_in_every_spelling() {
    let policy = OutboundPolicy::default();
    for (host, judged, range, _) in REFUSED {
        let judged: IpAddr = judged.parse().unwrap();
        match policy.check_url(&url(host)) {
            Err(UrlRefusal::Address(refusal)) => {
                assert_eq!(refusal.judged(), judged, "{host}");
                assert_eq!(refusal.range(), *range, "{host}");
                let message = UrlRefusal::Address(refusal).to_string();
                assert!(message.contains(&judged.to_string()), "{host}: {message}");
                assert!(message.contains("outbound.allow"), "{host}: {message}");
                assert!(!message.contains("s3cret"), "{host}: {message}");
            }
            other => panic!("{host}: expected a refused address, got {other:?}"),
        }
    }
}

#[test]
fn the_allow_list_opens_each_range() {
    for (host, _, _, cidr) in REFUSED {
        let policy = OutboundPolicy::new(parse_allow_list(cidr).unwrap());
        assert!(
            policy.check_url(&url(host)).is_ok(),
            "{host} should pass with {cidr} allowed"
        );
    }
}

#[test]
fn allowing_one_range_does_not_open_the_others() {
    let policy = OutboundPolicy::new(parse_allow_list("127.0.0.0/8").unwrap());
    assert!(policy.check_url(&url("127.1")).is_ok());
    for host in ["10.0.0.1", "169.254.169.254", "[::1]", "[fe80::1]"] {
        assert!(policy.check_url(&url(host)).is_err(), "{host}");
    }
}

#[test]
fn public_addresses_pass() {
    let policy = OutboundPolicy::default();
    for host in PUBLIC {
        assert!(policy.check_url(&url(host)).is_ok(), "{host}");
    }
}

#[test]
fn host_names_pass_until_they_are_resolved() {
    let policy = OutboundPolicy::default();
    for host in [
        "hooks.example.com",
        "localhost",
        "127.0.0.1.nip.io",
        "metadata.google.internal",
    ] {
        assert!(policy.check_url(&url(host)).is_ok(), "{host}");
    }
}

#[test]
fn malformed_literals_are_invalid_not_names() {
    let policy = OutboundPolicy::default();
    // The URL standard reads a host ending in a number as IPv4; these are not valid IPv4.
    for host in [
        "1.2.3.4.5",
        "127.0.0.256",
        "0x100000000",
        "[::ffff:127.0.0.1",
    ] {
        assert!(
            matches!(policy.check_url(&url(host)), Err(UrlRefusal::Invalid(_))),
            "{host}"
        );
    }
}
