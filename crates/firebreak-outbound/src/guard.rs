//! The SSRF guard: the one place that decides whether Firebreak may send a request to an address.
//!
//! Webhook URLs are typed in by users, so without a guard Firebreak would happily POST to its own
//! admin port, the database next door or the cloud metadata service at 169.254.169.254. By default
//! the guard refuses every address that is not a public unicast address: unspecified, loopback,
//! private, link-local, CGNAT, multicast, broadcast, and the reserved, documentation and
//! benchmarking ranges. `outbound.allow` (or `FIREBREAK_OUTBOUND_ALLOW`, comma-separated) lists the
//! CIDRs that are let through anyway, for example an internal chat server.
//!
//! The guard judges the address the socket will actually connect to:
//!
//! - IPv6 forms that carry an IPv4 address (`::ffff:127.0.0.1`, the deprecated `::127.0.0.1`,
//!   NAT64's `64:ff9b::/96`, 6to4's `2002::/16`) are judged as that IPv4 address, because that is
//!   where the packets end up.
//! - A URL's IP literal is judged after the WHATWG URL parser has normalised it, so `2130706433`,
//!   `0177.0.0.1`, `0x7f.1` and `127.1` are all judged as `127.0.0.1`
//!   ([`OutboundPolicy::check_url`]).
//! - A host name is resolved once by [`GuardedResolver`]; if any answer is refused the request is
//!   refused, and otherwise the connection goes to exactly the addresses that were checked, so a
//!   second, different DNS answer (DNS rebinding) never gets a say.
//!
//! Messages never contain a whole URL: a webhook URL often holds a token in its path or query.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// The environment variable that lists extra allowed CIDRs, comma-separated.
pub const ALLOW_ENV: &str = "FIREBREAK_OUTBOUND_ALLOW";

/// Which addresses Firebreak may send requests to: every public address, plus the `allow` CIDRs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allow: Vec<IpNet>,
}

/// Why an address is refused: the kind of range it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedRange {
    /// `0.0.0.0/8`, `::`: "this host", which reaches local services on most systems.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, `fc00::/7`, `fec0::/10`, `64:ff9b:1::/48`.
    Private,
    /// `169.254/16` (cloud metadata services live here), `fe80::/10`.
    LinkLocal,
    /// `100.64.0.0/10`, carrier-grade NAT.
    SharedAddressSpace,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4`, `192.0.0.0/24`, `192.88.99.0/24`, `100::/64`: reserved or special-purpose.
    Reserved,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// `2001::/32`: a tunnel to an IPv4 address Firebreak cannot see, so it cannot judge it.
    Teredo,
}

impl BlockedRange {
    /// The range as a phrase that follows "is": "a loopback address".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified (\"this host\") address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::LinkLocal => "a link-local address (cloud metadata services live there)",
            Self::SharedAddressSpace => "a carrier-grade NAT (shared) address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Reserved => "a reserved address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Teredo => "a Teredo tunnel address",
        }
    }
}

/// An address the guard will not connect to, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.reason())]
pub struct Refusal {
    address: IpAddr,
    judged: IpAddr,
    range: BlockedRange,
}

impl Refusal {
    /// The address as it was given (after URL normalisation, for a URL).
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The address that was judged: the IPv4 address inside a mapped or tunnelled IPv6 one,
    /// otherwise [`address`](Self::address).
    pub fn judged(&self) -> IpAddr {
        self.judged
    }

    pub fn range(&self) -> BlockedRange {
        self.range
    }

    /// A sentence a user can act on, naming the address and the way to allow it.
    pub fn reason(&self) -> String {
        let what = if self.address == self.judged {
            format!("{} is {}", self.address, self.range.describe())
        } else {
            format!(
                "{} leads to {}, which is {}",
                self.address,
                self.judged,
                self.range.describe()
            )
        };
        format!("{what}; add it to outbound.allow (or {ALLOW_ENV}) if Firebreak should reach it")
    }
}

/// Why a URL cannot be used for outbound requests. Never contains the URL itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("the URL is not valid: {0}")]
    Invalid(url::ParseError),
    // The scheme is not echoed: a pasted secret can look like one ("token:abc...").
    #[error("the URL must start with http:// or https://")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL's port 0 is not one a server can listen on; give the receiver's port")]
    PortZero,
    #[error(
        "the URL holds a user name or password (user:pass@); leave them out: Firebreak does not \
         send credentials in a URL, and would keep them in plain sight"
    )]
    Credentials,
    #[error(
        "the URL's IPv6 address has a zone id (%25...), which names a network interface of one \
         machine; give an address or host name that works from anywhere"
    )]
    ZoneId,
    #[error("the URL's address is not allowed: {0}")]
    Address(Refusal),
}

/// A host name whose DNS answer includes a refused address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the name {name} resolves to a refused address: {refusal}")]
pub struct DnsRefusal {
    name: String,
    refusal: Refusal,
}

impl DnsRefusal {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn refusal(&self) -> &Refusal {
        &self.refusal
    }
}

/// An `outbound.allow` entry that is neither a CIDR nor an IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "outbound allow-list entry {entry:?} is not a CIDR (such as 10.0.0.0/8 or fd00::/8) or an IP address"
)]
pub struct AllowListError {
    entry: String,
}

impl AllowListError {
    pub fn entry(&self) -> &str {
        &self.entry
    }
}

/// Parse one allow-list entry: a CIDR, or a bare IP address meaning just that address.
pub fn parse_allow_entry(entry: &str) -> Result<IpNet, AllowListError> {
    let entry = entry.trim();
    let net = if entry.contains('/') {
        entry.parse::<IpNet>().ok()
    } else {
        entry.parse::<IpAddr>().ok().map(IpNet::from)
    };
    // `trunc` so that "10.1.2.3/8" reads back as the network it covers.
    net.map(|n| n.trunc()).ok_or_else(|| AllowListError {
        entry: entry.to_string(),
    })
}

/// Parse the comma-separated form used by `FIREBREAK_OUTBOUND_ALLOW`. Blank entries (a trailing
/// comma, an empty variable) are skipped.
pub fn parse_allow_list(text: &str) -> Result<Vec<IpNet>, AllowListError> {
    text.split(',')
        .filter(|e| !e.trim().is_empty())
        .map(parse_allow_entry)
        .collect()
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

// The first match wins, so narrower ranges come before the ranges that contain them.
const BLOCKED_V4: &[(Ipv4Net, BlockedRange)] = &[
    (v4(0, 0, 0, 0, 8), BlockedRange::Unspecified),
    (v4(10, 0, 0, 0, 8), BlockedRange::Private),
    (v4(100, 64, 0, 0, 10), BlockedRange::SharedAddressSpace),
    (v4(127, 0, 0, 0, 8), BlockedRange::Loopback),
    (v4(169, 254, 0, 0, 16), BlockedRange::LinkLocal),
    (v4(172, 16, 0, 0, 12), BlockedRange::Private),
    // Protocol assignments; some clouds serve metadata from 192.0.0.192.
    (v4(192, 0, 0, 0, 24), BlockedRange::Reserved),
    (v4(192, 0, 2, 0, 24), BlockedRange::Documentation),
    (v4(192, 88, 99, 0, 24), BlockedRange::Reserved),
    (v4(192, 168, 0, 0, 16), BlockedRange::Private),
    (v4(198, 18, 0, 0, 15), BlockedRange::Benchmarking),
    (v4(198, 51, 100, 0, 24), BlockedRange::Documentation),
    (v4(203, 0, 113, 0, 24), BlockedRange::Documentation),
    (v4(224, 0, 0, 0, 4), BlockedRange::Multicast),
    (v4(255, 255, 255, 255, 32), BlockedRange::Broadcast),
    (v4(240, 0, 0, 0, 4), BlockedRange::Reserved),
];

// IPv6 forms that embed an IPv4 address are handled by `connect_target` before this table.
const BLOCKED_V6: &[(Ipv6Net, BlockedRange)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), BlockedRange::Unspecified),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), BlockedRange::Loopback),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        BlockedRange::Private,
    ),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), BlockedRange::Reserved),
    (
        v6([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48),
        BlockedRange::Benchmarking,
    ),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), BlockedRange::Teredo),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        BlockedRange::Documentation,
    ),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        BlockedRange::Documentation,
    ),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), BlockedRange::Private),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        BlockedRange::LinkLocal,
    ),
    // Site-local was deprecated in 2004 but still routes inside some networks.
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), BlockedRange::Private),
    (
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        BlockedRange::Multicast,
    ),
];

/// The address the packets really go to: the IPv4 address inside the IPv6 forms that carry one.
fn connect_target(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let bits = u128::from(v6);
    let low32 = Ipv4Addr::from(bits as u32);
    let segments = v6.segments();
    match segments {
        // ::ffff:a.b.c.d, IPv4-mapped: a dual-stack socket connects to a.b.c.d.
        [0, 0, 0, 0, 0, 0xffff, _, _] => IpAddr::V4(low32),
        // ::ffff:0:a.b.c.d, IPv4-translated (SIIT).
        [0, 0, 0, 0, 0xffff, 0, _, _] => IpAddr::V4(low32),
        // ::a.b.c.d, deprecated IPv4-compatible; `::` and `::1` are themselves, not IPv4.
        [0, 0, 0, 0, 0, 0, _, _] if bits > 1 => IpAddr::V4(low32),
        // 64:ff9b::a.b.c.d, NAT64: the translator connects to a.b.c.d.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => IpAddr::V4(low32),
        // 2002:aabb:ccdd::/48, 6to4: a relay sends the packets to aa.bb.cc.dd.
        [0x2002, hi, lo, ..] => IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => ip,
    }
}

/// Whether `url`'s host is a bracketed IPv6 address with a zone id (`[fe80::1%25eth0]`).
fn has_zone_id(url: &str) -> bool {
    let rest = url.trim().split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.starts_with('[') && host.split(']').next().is_some_and(|h| h.contains('%'))
}

fn blocked_range(ip: IpAddr) -> Option<BlockedRange> {
    match ip {
        IpAddr::V4(v4) => BLOCKED_V4
            .iter()
            .find(|(net, _)| net.contains(&v4))
            .map(|(_, range)| *range),
        IpAddr::V6(v6) => BLOCKED_V6
            .iter()
            .find(|(net, _)| net.contains(&v6))
            .map(|(_, range)| *range),
    }
}

impl OutboundPolicy {
    /// A policy that allows public addresses plus everything in `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// The extra CIDRs this policy lets through.
    pub fn allow(&self) -> &[IpNet] {
        &self.allow
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Whether Firebreak may connect to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let judged = connect_target(ip);
        let Some(range) = blocked_range(judged) else {
            return Ok(());
        };
        // Either spelling may be listed: 127.0.0.0/8 opens ::ffff:127.0.0.1 as well.
        if self.allowed(judged) || self.allowed(ip) {
            return Ok(());
        }
        Err(Refusal {
            address: ip,
            judged,
            range,
        })
    }

    /// Parse `url` and check what can be checked before DNS: the scheme, and the host when it is
    /// an IP literal in any spelling. A host name passes here and is judged when it is resolved.
    pub fn check_url(&self, url: &str) -> Result<Url, UrlRefusal> {
        let parsed = Url::parse(url.trim()).map_err(|e| {
            if has_zone_id(url) {
                UrlRefusal::ZoneId
            } else {
                UrlRefusal::Invalid(e)
            }
        })?;
        self.check_parsed_url(&parsed)?;
        Ok(parsed)
    }

    /// [`check_url`](Self::check_url) for a URL Firebreak is asked to keep and send to (a
    /// webhook, a contact method): it must also hold no user name or password. Returns the URL
    /// as the `url` crate normalises it (scheme in lowercase, an international host name in
    /// punycode).
    pub fn check_destination(&self, url: &str) -> Result<Url, UrlRefusal> {
        let parsed = self.check_url(url)?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlRefusal::Credentials);
        }
        Ok(parsed)
    }

    /// [`check_url`](Self::check_url) for a URL that is already parsed.
    pub fn check_parsed_url(&self, url: &Url) -> Result<(), UrlRefusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefusal::Scheme);
        }
        if url.port() == Some(0) {
            return Err(UrlRefusal::PortZero);
        }
        let ip = match url.host() {
            None => return Err(UrlRefusal::NoHost),
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        self.check_ip(ip).map_err(UrlRefusal::Address)
    }

    /// Check every address a DNS lookup of `name` returned. One refused address refuses the
    /// name: a mix of public and private answers is how DNS rebinding attacks look.
    pub fn check_resolved(&self, name: &str, addrs: &[IpAddr]) -> Result<(), DnsRefusal> {
        for ip in addrs {
            self.check_ip(*ip).map_err(|refusal| DnsRefusal {
                name: name.to_string(),
                refusal,
            })?;
        }
        Ok(())
    }
}

/// A `reqwest` DNS resolver that resolves a name once, with the system resolver, and hands back
/// only addresses the policy allows, so the connection goes to exactly what was checked.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let name = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's) on every address.
            let mut addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            addrs.dedup();
            if addrs.is_empty() {
                return Err(format!("the name {name} has no addresses").into());
            }
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            policy.check_resolved(&name, &ips)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allow_list_accepts_cidrs_and_bare_addresses() {
        let list = parse_allow_list(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1,").unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8", "::1/128"]
        );
        assert!(parse_allow_list("").unwrap().is_empty());
    }

    #[test]
    fn allow_list_error_names_the_bad_entry() {
        let err = parse_allow_list("10.0.0.0/8, intranet, 127.0.0.1").unwrap_err();
        assert_eq!(err.entry(), "intranet");
        assert!(err.to_string().contains("\"intranet\""), "{err}");
        assert!(parse_allow_list("10.0.0.0/33").is_err());
    }

    #[test]
    fn embedded_ipv4_is_judged_as_ipv4() {
        let policy = OutboundPolicy::default();
        for (written, judged) in [
            ("::ffff:127.0.0.1", "127.0.0.1"),
            ("::ffff:0:10.0.0.1", "10.0.0.1"),
            ("::127.0.0.1", "127.0.0.1"),
            ("64:ff9b::169.254.169.254", "169.254.169.254"),
            ("2002:c0a8:0101::1", "192.168.1.1"),
        ] {
            let refusal = policy.check_ip(ip(written)).unwrap_err();
            assert_eq!(refusal.judged(), ip(judged), "{written}");
            assert_eq!(refusal.address(), ip(written));
        }
        // The same forms around a public address are fine.
        for written in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:0808:0808::1"] {
            assert_eq!(policy.check_ip(ip(written)), Ok(()), "{written}");
        }
    }

    #[test]
    fn reason_names_the_address_and_the_way_out() {
        let refusal = OutboundPolicy::default()
            .check_ip(ip("127.0.0.1"))
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "127.0.0.1 is a loopback address; add it to outbound.allow (or \
             FIREBREAK_OUTBOUND_ALLOW) if Firebreak should reach it"
        );
        let mapped = OutboundPolicy::default()
            .check_ip(ip("::ffff:10.1.2.3"))
            .unwrap_err();
        assert!(
            mapped
                .to_string()
                .starts_with("::ffff:10.1.2.3 leads to 10.1.2.3, which is a private address;"),
            "{mapped}"
        );
    }

    #[test]
    fn allowing_the_ipv4_range_opens_its_mapped_form() {
        let policy = OutboundPolicy::new(parse_allow_list("127.0.0.0/8").unwrap());
        assert_eq!(policy.check_ip(ip("::ffff:127.0.0.1")), Ok(()));
        assert!(policy.check_ip(ip("::1")).is_err());
    }

    #[test]
    fn url_errors_do_not_echo_the_url() {
        let policy = OutboundPolicy::default();
        for url in [
            "ftp://user:hunter2@files.example.com/token-abc",
            "http://127.0.0.1/hooks/token-abc?key=hunter2",
            "http://user:hunter2@[::1]:8080/token-abc",
            "not a url token-abc",
            "token-abc:hunter2",
        ] {
            let err = policy.check_url(url).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(!err.contains("token-abc"), "{err}");
        }
    }

    #[test]
    fn scheme_and_host_are_required() {
        let policy = OutboundPolicy::default();
        assert_eq!(
            policy.check_url("file:///etc/passwd"),
            Err(UrlRefusal::Scheme)
        );
        assert_eq!(
            policy.check_url("gopher://example.com/"),
            Err(UrlRefusal::Scheme)
        );
        assert!(matches!(
            policy.check_url("/relative"),
            Err(UrlRefusal::Invalid(_))
        ));
        assert!(policy.check_url("https://hooks.example.com/x").is_ok());
        assert!(policy.check_url("HTTPS://Hooks.Example.com/x").is_ok());
        assert_eq!(
            policy.check_url("https://hooks.example.com:0/x"),
            Err(UrlRefusal::PortZero)
        );
    }

    #[test]
    fn destinations_take_any_case_and_idn_and_refuse_credentials_and_zone_ids() {
        let policy = OutboundPolicy::default();
        let ok = |u: &str| policy.check_destination(u).unwrap().to_string();
        assert_eq!(
            ok("HTTPS://hooks.example.com/x"),
            "https://hooks.example.com/x"
        );
        assert_eq!(
            ok("Https://hooks.example.com/x"),
            "https://hooks.example.com/x"
        );
        assert_eq!(ok("https://bücher.de/x"), "https://xn--bcher-kva.de/x");
        assert_eq!(
            ok("https://xn--bcher-kva.de/x"),
            "https://xn--bcher-kva.de/x"
        );
        for creds in [
            "https://user:pass@example.com/a",
            "https://user@example.com/a",
        ] {
            assert_eq!(
                policy.check_destination(creds),
                Err(UrlRefusal::Credentials)
            );
        }
        assert_eq!(
            policy.check_destination("http://[fe80::1%25eth0]/"),
            Err(UrlRefusal::ZoneId)
        );
        assert_eq!(
            policy.check_url("http://[fe80::1%eth0]:80/"),
            Err(UrlRefusal::ZoneId)
        );
    }

    #[test]
    fn a_mixed_dns_answer_is_refused_naming_the_bad_address() {
        let policy = OutboundPolicy::default();
        let err = policy
            .check_resolved("rebind.example.com", &[ip("93.184.216.34"), ip("10.0.0.5")])
            .unwrap_err();
        assert_eq!(err.name(), "rebind.example.com");
        assert_eq!(err.refusal().address(), ip("10.0.0.5"));
        let text = err.to_string();
        assert!(text.contains("rebind.example.com"), "{text}");
        assert!(text.contains("10.0.0.5 is a private address"), "{text}");
        assert_eq!(
            policy.check_resolved("example.com", &[ip("93.184.216.34"), ip("2606:2800::1")]),
            Ok(())
        );
    }
}
