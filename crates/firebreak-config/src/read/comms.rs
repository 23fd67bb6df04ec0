//! The `comms` section: the chat `channels` incident news is posted to, each a `name`, the chat
//! tool it belongs to (`type`), its incoming webhook `url` and the `severities` and `services`
//! of the incidents it takes.
//!
//! A webhook URL is a secret (whoever has it can post to the channel): no message repeats it,
//! and it may be read from an environment variable, `url: {env: NAME}`, as an integration key
//! is.
//!
//! `stakeholders` are people emailed the internal news of the incidents they take: each an
//! `email`, an optional `name`, and the same `severities` and `services` filter as a channel.

use firebreak_domain::config::{Channel, ChannelKind, Comms, Stakeholder};
use firebreak_domain::ids::Name;

use super::server::check_host_port;
use super::{Declared, EnvSecret, Fields, Reader, first_seen, looks_like_email};
use crate::node::Node;

pub(crate) const COMMS_KEYS: &[&str] = &["channels", "stakeholders"];
pub(crate) const STAKEHOLDER_KEYS: &[&str] = &["email", "name", "severities", "services"];
pub(crate) const CHANNEL_KEYS: &[&str] = &["name", "type", "url", "severities", "services"];

/// The longest channel name, in characters.
const MAX_CHANNEL_NAME: usize = 64;

const NAME_HINT: &str = "expected 1 to 64 lowercase letters, digits, - or _, like incidents or \
                         sev1-alerts";
const URL_HINT: &str = "expected the channel's incoming webhook, an http:// or https:// URL like \
                        https://hooks.slack.com/services/T000/B000/XXXX";

/// The chat tools a channel may belong to, as the file spells them: `slack, mattermost, teams`.
fn kinds() -> String {
    ChannelKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a channel's name: 1 to [`MAX_CHANNEL_NAME`] lowercase letters, digits, `-` or `_`,
/// like a Slack channel's name without its `#`.
fn check_channel_name(name: &str) -> Result<(), String> {
    let invalid = |reason: &str| format!("invalid channel name \"{name}\": {reason}; {NAME_HINT}");
    let length = name.chars().count();
    if length == 0 {
        return Err(invalid("it is empty"));
    }
    if length > MAX_CHANNEL_NAME {
        return Err(invalid(&format!("it has {length} characters")));
    }
    if name.starts_with('#') {
        return Err(invalid("leave out the #"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
    {
        return Err(invalid(
            "it has characters other than lowercase letters, digits, - and _",
        ));
    }
    Ok(())
}

/// Checks a channel's webhook URL: scheme `http` or `https` and a host (and optional port);
/// any path and query. The message never repeats the URL, which is a secret.
pub(crate) fn check_channel_url(url: &str) -> Result<(), String> {
    let invalid = |reason: &str| {
        format!("invalid webhook URL (not shown: it is a secret): {reason}; {URL_HINT}")
    };
    if url.is_empty() {
        return Err(invalid("it is empty"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("it has spaces or control characters"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("it has no scheme"));
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        // The scheme holds no secret, and is worth seeing when it is ftp or slack.
        let scheme: String = scheme.chars().take(16).collect();
        return Err(invalid(&format!(
            "the scheme is {scheme}, not http or https"
        )));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(invalid(
            "it holds a user name or password (user:pass@); leave them out, Firebreak does not \
             send credentials in a URL",
        ));
    }
    if authority.starts_with('[') && authority.split(']').next().is_some_and(|h| h.contains('%')) {
        return Err(invalid(
            "its IPv6 address has a zone id (%25...), which names a network interface of one \
             machine; give an address or host name that works from anywhere",
        ));
    }
    // An international host name (bücher.de) is sent as its punycode (xn--bcher-kva.de): its
    // letters count as a host name's letters here.
    let host_port: String = authority
        .chars()
        .map(|c| if c.is_ascii() { c } else { 'x' })
        .collect();
    check_host_port(&host_port).map_err(invalid)
}

impl Reader<'_> {
    /// The `comms` section. A channel's `severities` and `services` must be among those the
    /// file declares (its severities, or the default ones when it has none).
    pub(super) fn comms(&mut self, node: &Node, declared: &Declared) -> Option<Comms> {
        let f = self.fields(
            node,
            "comms",
            COMMS_KEYS,
            "a mapping with channels, the chat channels incident news is posted to, and \
             stakeholders, the people it is emailed to",
        )?;
        let mut comms = Comms::default();
        if let Some(n) = f.get("channels")
            && let Some(items) = self.section(n, &f.path("channels"))
        {
            let path = f.path("channels");
            let mut seen = Vec::new();
            comms.channels = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.channel(item, &format!("{path}[{i}]"), &mut seen, declared)
                })
                .collect();
        }
        if let Some(n) = f.get("stakeholders")
            && let Some(items) = self.section(n, &f.path("stakeholders"))
        {
            let path = f.path("stakeholders");
            let mut seen = Vec::new();
            comms.stakeholders = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.stakeholder(item, &format!("{path}[{i}]"), &mut seen, declared)
                })
                .collect();
        }
        Some(comms)
    }

    fn stakeholder(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        declared: &Declared,
    ) -> Option<Stakeholder> {
        let f = self.fields(
            node,
            path,
            STAKEHOLDER_KEYS,
            "a stakeholder mapping with email, name, severities and services",
        )?;
        let email = self.stakeholder_email(&f, seen);
        let name = match f.get("name") {
            Some(n) => Some(self.text_of(n, &f.path("name"))?),
            None => None,
        };
        let severities = self.channel_severities(&f, &declared.severities);
        let services = self.channel_services(&f, &declared.services);
        Some(Stakeholder {
            email: email?,
            name: name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
            services: services?,
            severities: severities?,
        })
    }

    /// The stakeholder's `email`, reported when it is not an address or an earlier
    /// stakeholder has it.
    fn stakeholder_email(&mut self, f: &Fields, seen: &mut Vec<(String, u64)>) -> Option<String> {
        let Some(node) = f.get("email") else {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"email\": the address the stakeholder is emailed at, \
                 like cto@example.com",
            );
            return None;
        };
        let path = f.path("email");
        let email = self.text_of(node, &path)?.trim().to_string();
        if !looks_like_email(&email) || email.len() > 254 {
            self.error_at(
                node,
                &path,
                format!("invalid email \"{email}\"; expected an address like cto@example.com"),
            );
            return None;
        }
        if let Some(line) = first_seen(seen, &email.to_ascii_lowercase(), node) {
            self.error_at(
                node,
                &path,
                format!("duplicate stakeholder \"{email}\"; first listed on line {line}"),
            );
            return None;
        }
        Some(email)
    }

    fn channel(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        declared: &Declared,
    ) -> Option<Channel> {
        let f = self.fields(
            node,
            path,
            CHANNEL_KEYS,
            "a channel mapping with name, type, url, severities and services",
        )?;
        let name = self.channel_name(&f, seen);
        let kind = self.channel_kind(&f);
        let url = self.channel_url(&f);
        let severities = self.channel_severities(&f, &declared.severities);
        let services = self.channel_services(&f, &declared.services);
        let (url, url_env) = url?;
        Some(Channel {
            name: name?,
            kind: kind?,
            url,
            url_env,
            services: services?,
            severities: severities?,
        })
    }

    /// The channel's `name`, reported when an earlier channel took it.
    fn channel_name(&mut self, f: &Fields, seen: &mut Vec<(String, u64)>) -> Option<String> {
        let Some(node) = f.get("name") else {
            self.error_at(
                f.node,
                &f.path,
                format!(
                    "missing required key \"name\": the channel's name, {}",
                    NAME_HINT.trim_start_matches("expected ")
                ),
            );
            return None;
        };
        let path = f.path("name");
        let name = self.text_of(node, &path)?;
        if let Err(message) = check_channel_name(&name) {
            self.error_at(node, &path, message);
            return None;
        }
        if let Some(line) = first_seen(seen, &name, node) {
            self.error_at(
                node,
                &path,
                format!("duplicate channel name \"{name}\"; first defined on line {line}"),
            );
            return None;
        }
        Some(name)
    }

    /// The chat tool the channel's webhook belongs to (`type`).
    fn channel_kind(&mut self, f: &Fields) -> Option<ChannelKind> {
        let Some(node) = f.get("type") else {
            self.error_at(
                f.node,
                &f.path,
                format!(
                    "missing required key \"type\": the chat tool the channel's webhook belongs \
                     to, one of {}",
                    kinds()
                ),
            );
            return None;
        };
        let path = f.path("type");
        let text = self.text_of(node, &path)?;
        let kind = ChannelKind::parse(&text);
        if kind.is_none() {
            self.error_at(
                node,
                &path,
                format!(
                    "unknown channel type \"{text}\"; expected one of {}",
                    kinds()
                ),
            );
        }
        kind
    }

    /// The channel's webhook URL, written in the file or read from the environment variable
    /// that `url: {env: NAME}` names; with the variable's name in the second case. It is a
    /// secret: messages never include it.
    fn channel_url(&mut self, f: &Fields) -> Option<(String, Option<String>)> {
        let Some(node) = f.get("url") else {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"url\": the channel's incoming webhook URL; write the URL, \
                 or url: {env: NAME} to read it from an environment variable",
            );
            return None;
        };
        self.checked_secret(
            node,
            &f.path("url"),
            &EnvSecret {
                key: "url",
                holds: "the webhook URL",
                example: "FIREBREAK_CHANNEL_INCIDENTS_URL",
                set_to: "this channel's incoming webhook URL, like \
                         https://hooks.slack.com/services/T000/B000/XXXX",
            },
            check_channel_url,
            "an http:// or https:// webhook URL, or {env: NAME} to read it from an environment \
             variable",
        )
    }

    /// The severities whose incidents the channel takes, as the file's severities spell them;
    /// empty (any severity) when left out.
    fn channel_severities(&mut self, f: &Fields, severities: &[String]) -> Option<Vec<String>> {
        let before = self.errors.len();
        let mut out = Vec::new();
        let mut listed: Vec<(String, u64)> = Vec::new();
        for (text, item, item_path) in self
            .text_list(f, "severities", "[SEV1, SEV2]")
            .unwrap_or_default()
        {
            let Some(severity) = self.severity_ref(&text, &item, &item_path, severities) else {
                continue;
            };
            if let Some(line) = first_seen(&mut listed, &severity, &item) {
                self.error_at(
                    &item,
                    &item_path,
                    format!("severity \"{text}\" is listed twice; first on line {line}"),
                );
                continue;
            }
            out.push(severity);
        }
        (self.errors.len() == before).then_some(out)
    }

    /// The services whose incidents the channel takes, each declared in the file; empty (any
    /// service) when left out.
    fn channel_services(&mut self, f: &Fields, services: &[String]) -> Option<Vec<Name>> {
        let before = self.errors.len();
        let out = self.service_refs(f, services);
        (self.errors.len() == before).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        for ok in [
            "incidents",
            "sev1-alerts",
            "team_payments",
            "a",
            &"x".repeat(64),
        ] {
            assert_eq!(check_channel_name(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("", "it is empty"),
            (&"x".repeat(65), "it has 65 characters"),
            ("#incidents", "leave out the #"),
            ("Incidents", "other than lowercase"),
            ("sev 1", "other than lowercase"),
            ("ops.alerts", "other than lowercase"),
        ] {
            let e = check_channel_name(bad).unwrap_err();
            assert!(e.contains(reason), "{bad}: {e}");
            assert!(e.ends_with(NAME_HINT), "{bad}: {e}");
        }
    }

    #[test]
    fn webhook_urls() {
        for ok in [
            "https://hooks.slack.com/services/T000/B000/XXXX",
            "http://127.0.0.1:8065/hooks/abc",
            "https://prod-01.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=secret",
            "https://[::1]:8443/hooks/x",
            "HTTPS://hooks.example.com/x",
            "Https://hooks.example.com/x",
            "https://bücher.de/x",
            "https://xn--bcher-kva.de/x",
        ] {
            assert_eq!(check_channel_url(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("", "it is empty"),
            ("hooks.example.com/T1/s3cr3t", "it has no scheme"),
            (
                "ftp://hooks.example.com/T1/s3cr3t",
                "the scheme is ftp, not http or https",
            ),
            ("https:///T1/s3cr3t", "it has no host"),
            ("https://hooks example.com/T1/s3cr3t", "spaces"),
            ("https://hooks.example.com:0/T1/s3cr3t", "the port"),
            ("https://u:s3cr3t@/T1", "user name or password"),
            (
                "https://u:s3cr3t@hooks.example.com/T1",
                "user name or password",
            ),
            ("http://[fe80::1%25eth0]/T1/s3cr3t", "zone id"),
        ] {
            let e = check_channel_url(bad).unwrap_err();
            assert!(e.contains(reason), "{bad}: {e}");
            for part in ["s3cr3t", "T1", "hooks.example.com"] {
                assert!(!e.contains(part), "{bad}: {e}");
            }
            assert!(e.ends_with(URL_HINT), "{bad}: {e}");
        }
    }

    #[test]
    fn the_kinds_are_listed_as_the_file_spells_them() {
        assert_eq!(kinds(), "slack, mattermost, teams");
    }
}
