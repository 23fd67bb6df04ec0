//! The `server` section: how Firebreak is reached from outside (`public_url`, the base of the
//! links pages carry), the PEM files it serves HTTPS with (`tls: {cert, key}`), and the
//! proxies in front of it whose `X-Forwarded-For` is believed (`trusted_proxies`).
//!
//! Only the paths are checked here: the files are read when the server starts (and again when
//! they change), on the machine it runs on.

use std::net::Ipv6Addr;

use firebreak_domain::config::{Server, TlsFiles};

use super::Reader;
use crate::node::Node;

pub(crate) const SERVER_KEYS: &[&str] = &["public_url", "tls", "trusted_proxies"];
pub(crate) const TLS_KEYS: &[&str] = &["cert", "key"];

const TLS_HINT: &str = "a mapping with cert and key, the paths of PEM files, like \
                        {cert: /etc/firebreak/tls/cert.pem, key: /etc/firebreak/tls/key.pem}";

const PUBLIC_URL_HINT: &str =
    "expected an absolute http:// or https:// URL with a host, like https://firebreak.example.com";

/// Checks a public URL: `http` or `https`, a host (and optional port), no user or password,
/// no query and no fragment. Returns it without its trailing slash, so paths can be appended.
/// The message never repeats a URL that carries a user or password.
pub(crate) fn check_public_url(text: &str) -> Result<String, String> {
    let has_userinfo = text
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .is_some_and(|authority| authority.contains('@'));
    let shown = if has_userinfo {
        "(not shown: it has a user or password)".to_string()
    } else {
        format!("\"{text}\"")
    };
    let invalid = |reason: &str| format!("invalid public URL {shown}: {reason}; {PUBLIC_URL_HINT}");
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("it has spaces or control characters"));
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(invalid("it has no scheme"));
    };
    if !matches!(scheme, "http" | "https") {
        return Err(invalid(&format!(
            "the scheme is {scheme}, not http or https"
        )));
    }
    if text.contains('?') {
        return Err(invalid(
            "it has a query (?...); links are made by adding paths to it",
        ));
    }
    if text.contains('#') {
        return Err(invalid(
            "it has a fragment (#...); links are made by adding paths to it",
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if has_userinfo {
        return Err(invalid(
            "it has a user or password (...@); the links in pages must not carry credentials",
        ));
    }
    check_host_port(authority).map_err(invalid)?;
    Ok(text.trim_end_matches('/').to_string())
}

/// Checks the `host[:port]` part of a URL: a host name or IPv4 address, or an IPv6 address in
/// brackets, and a port from 1 to 65535 if there is one.
pub(super) fn check_host_port(authority: &str) -> Result<(), &'static str> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let Some((address, after)) = rest.split_once(']') else {
                return Err("its IPv6 address has no closing ]");
            };
            if address.parse::<Ipv6Addr>().is_err() {
                return Err("the address in [...] is not an IPv6 address");
            }
            match after {
                "" => (address, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (address, Some(port)),
                    None => return Err("expected :port or nothing after the ]"),
                },
            }
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            {
                return Err("its host has characters a host name cannot have");
            }
            (host, port)
        }
    };
    if host.is_empty() {
        return Err("it has no host");
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err("the port must be a number from 1 to 65535");
    }
    Ok(())
}

impl Reader<'_> {
    /// The `server` section.
    pub(super) fn server(&mut self, node: &Node) -> Option<Server> {
        let f = self.fields(
            node,
            "server",
            SERVER_KEYS,
            "a mapping with public_url, tls and trusted_proxies",
        )?;
        let mut server = Server::default();
        if let Some(n) = f.get("public_url")
            && let Some(text) = self.text_of(n, &f.path("public_url"))
        {
            match check_public_url(&text) {
                Ok(url) => server.public_url = Some(url),
                Err(message) => self.error_at(n, &f.path("public_url"), message),
            }
        }
        if let Some(n) = f.get("tls") {
            server.tls = self.tls(n, &f.path("tls"));
        }
        if let Some(items) = self.text_list(&f, "trusted_proxies", "[127.0.0.1, 10.0.0.0/8]") {
            for (text, item, item_path) in items {
                match super::outbound::parse_network(&text) {
                    Ok(net) => server.trusted_proxies.push(net),
                    Err(message) => self.error_at(&item, &item_path, message),
                }
            }
        }
        Some(server)
    }

    /// `server.tls`: both files are required.
    fn tls(&mut self, node: &Node, path: &str) -> Option<TlsFiles> {
        let f = self.fields(node, path, TLS_KEYS, TLS_HINT)?;
        let cert = self.required_text(&f, "cert");
        let key = self.required_text(&f, "key");
        Some(TlsFiles {
            cert: cert?.0.trim().to_string(),
            key: key?.0.trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        for (text, url) in [
            (
                "https://firebreak.example.com",
                "https://firebreak.example.com",
            ),
            (
                "https://firebreak.example.com/",
                "https://firebreak.example.com",
            ),
            (
                "http://10.0.0.5:8080/firebreak/",
                "http://10.0.0.5:8080/firebreak",
            ),
            ("https://[fd00::1]:8443", "https://[fd00::1]:8443"),
            ("http://firebreak", "http://firebreak"),
        ] {
            assert_eq!(check_public_url(text).as_deref(), Ok(url), "{text}");
        }
        for (text, reason) in [
            ("firebreak.example.com", "it has no scheme"),
            (
                "ftp://firebreak.example.com",
                "the scheme is ftp, not http or https",
            ),
            ("https://", "it has no host"),
            ("https:///path", "it has no host"),
            ("https://:8080", "it has no host"),
            ("https://x.example.com/?a=1", "it has a query"),
            ("https://x.example.com/#top", "it has a fragment"),
            (
                "https://x.example.com:0",
                "the port must be a number from 1 to 65535",
            ),
            ("https://x.example.com:http", "the port must be a number"),
            ("https://x.example.com:70000", "the port must be a number"),
            ("https://x example.com", "spaces"),
            ("https://[fd00::1", "no closing ]"),
            ("https://[nope]:80", "not an IPv6 address"),
            (
                "https://ex%41mple.com",
                "characters a host name cannot have",
            ),
        ] {
            let e = check_public_url(text).unwrap_err();
            assert!(e.contains(reason), "{text}: {e}");
            assert!(e.contains(&format!("\"{text}\"")), "{text}: {e}");
            assert!(e.ends_with(PUBLIC_URL_HINT), "{text}: {e}");
        }
        // A password is never repeated.
        let e = check_public_url("https://admin:hunter2@x.example.com").unwrap_err();
        assert!(e.contains("it has a user or password"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
