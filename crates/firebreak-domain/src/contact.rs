//! How a user is reached: contact methods and what about them is secret.
//!
//! A chat webhook URL (Slack, Mattermost, Teams) is itself the credential to post, and an ntfy
//! topic may carry a bearer token, so those are secrets: kept, used to send, and shown only
//! masked after creation. A `webhook` contact's URL is not secret, but the signing secret
//! Firebreak makes for it is, and is shown once.

use std::fmt;

/// The kinds of contact method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactKind {
    /// An email address, sent to over SMTP.
    Email,
    /// A URL that gets a JSON page signed per Standard Webhooks.
    Webhook,
    /// A Slack incoming webhook URL.
    Slack,
    /// A Mattermost incoming webhook URL.
    Mattermost,
    /// A Microsoft Teams Workflows webhook URL (Adaptive Cards).
    Teams,
    /// An ntfy topic URL (`https://ntfy.example.com/oncall-alice`).
    Ntfy,
}

impl ContactKind {
    pub const ALL: [ContactKind; 6] = [
        ContactKind::Email,
        ContactKind::Webhook,
        ContactKind::Slack,
        ContactKind::Mattermost,
        ContactKind::Teams,
        ContactKind::Ntfy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::Webhook => "webhook",
            ContactKind::Slack => "slack",
            ContactKind::Mattermost => "mattermost",
            ContactKind::Teams => "teams",
            ContactKind::Ntfy => "ntfy",
        }
    }

    pub fn parse(text: &str) -> Option<ContactKind> {
        ContactKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// True when the target is a URL (every kind but email).
    pub fn takes_url(self) -> bool {
        self != ContactKind::Email
    }

    /// True when the target URL itself grants the right to post, so it is shown masked.
    pub fn target_is_secret(self) -> bool {
        matches!(
            self,
            ContactKind::Slack | ContactKind::Mattermost | ContactKind::Teams | ContactKind::Ntfy
        )
    }
}

impl fmt::Display for ContactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks an email address the way a person would write one on a form: `local@domain`,
/// with no spaces, no angle brackets and a dot in the domain. The SMTP library checks the
/// rest when it sends.
pub fn check_email(address: &str) -> Result<(), String> {
    let hint = "expected an email address like alice@example.com";
    if address.len() > 254 || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(hint.into());
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(hint.into());
    };
    let bad_char = |c: char| matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | ':' | '"' | '@');
    if local.is_empty()
        || local.len() > 64
        || local.chars().any(bad_char)
        || domain.is_empty()
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || domain.chars().any(|c| bad_char(c) || c == '[' || c == ']')
    {
        return Err(hint.into());
    }
    Ok(())
}

/// A secret URL as it may be shown: scheme, host and the last four characters
/// (`https://hooks.slack.com/…x9Qz`). Nothing of a URL too short for four characters to be a
/// small part of it.
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // Userinfo is a credential too.
    let host = &rest[..host_end];
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let tail = &rest[host_end..];
    let count = tail.chars().count();
    let hint: String = if count >= 16 {
        tail.chars().skip(count - 4).collect()
    } else {
        String::new()
    };
    if scheme.is_empty() {
        format!("{host}/…{hint}")
    } else {
        format!("{scheme}://{host}/…{hint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back() {
        for k in ContactKind::ALL {
            assert_eq!(ContactKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ContactKind::parse("sms"), None);
        assert!(!ContactKind::Email.takes_url());
        assert!(!ContactKind::Webhook.target_is_secret());
        assert!(ContactKind::Slack.target_is_secret());
    }

    #[test]
    fn email_addresses() {
        assert!(check_email("alice@example.com").is_ok());
        assert!(check_email("a.b+pager@mail.example.co.uk").is_ok());
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "alice@@example.com",
            "Alice <alice@example.com>",
            "alice@example..com",
            "al ice@example.com",
            "alice@example.com\r\nBcc: x@example.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn masked_urls_keep_the_host_and_four_characters() {
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXabcd"),
            "https://hooks.slack.com/…abcd"
        );
        assert_eq!(
            mask_url("https://user:pw@ntfy.example.com/t"),
            "https://ntfy.example.com/…"
        );
        assert_eq!(mask_url("nonsense"), "nonsense/…");
    }
}
