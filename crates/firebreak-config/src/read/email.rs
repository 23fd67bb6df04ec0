//! The `email` section: the SMTP server email is sent through (`smtp_url`) and the sender of
//! every email (`from`).
//!
//! The SMTP URL may carry a password (`smtp://user:password@host`): no message repeats it, and
//! it may be read from an environment variable, `smtp_url: {env: FIREBREAK_SMTP_URL}`, as an
//! integration key is.

use firebreak_domain::config::Email;
use firebreak_domain::contact::check_email;

use super::server::check_host_port;
use super::{EnvSecret, Reader};
use crate::node::Node;

pub(crate) const EMAIL_KEYS: &[&str] = &["smtp_url", "from"];

const SMTP_HINT: &str = "expected smtp://host:port or smtps://host:port (TLS), with an optional \
                         user:password@ and ?tls=required (STARTTLS), like \
                         smtp://mail.example.com:587?tls=required";
const FROM_HINT: &str = "expected a mailbox like Firebreak <firebreak@example.com> or an address \
                         like firebreak@example.com";

/// Checks an SMTP URL: scheme `smtp` or `smtps`, a host and an optional port. The message
/// never repeats the URL, which may hold a password.
pub(crate) fn check_smtp_url(url: &str) -> Result<(), String> {
    let invalid = |reason: &str| {
        format!("invalid SMTP URL (not shown: it may hold a password): {reason}; {SMTP_HINT}")
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("it has spaces or control characters"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("it has no scheme"));
    };
    if !matches!(scheme, "smtp" | "smtps") {
        // The scheme holds no secret, and is worth seeing when it is http or mailto.
        let scheme: String = scheme.chars().take(16).collect();
        return Err(invalid(&format!(
            "the scheme is {scheme}, not smtp or smtps"
        )));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    check_host_port(host_port).map_err(invalid)
}

/// Whether an SMTP URL holds something that may be secret: a user or password, or a query
/// parameter other than `tls`. Such a URL is never exported.
pub(crate) fn smtp_url_is_secret(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let query = rest
        .split_once('?')
        .map_or("", |(_, q)| q.split('#').next().unwrap_or(""));
    authority.contains('@')
        || query
            .split('&')
            .filter(|p| !p.is_empty())
            .any(|p| p.split('=').next() != Some("tls"))
}

/// Checks the sender of every email: a mailbox like `Firebreak <firebreak@example.com>` or a
/// bare address, holding exactly one address.
pub(crate) fn check_email_from(text: &str) -> Result<(), String> {
    let invalid = |reason: &str| format!("invalid sender \"{text}\": {reason}; {FROM_HINT}");
    // A line break would let the text write more header lines.
    if text.chars().any(char::is_control) {
        return Err(invalid("it has control characters"));
    }
    if text.matches('@').count() != 1 {
        return Err(invalid("it must hold exactly one address"));
    }
    let address = match text.split_once('<') {
        None if text.contains('>') => return Err(invalid("it has a > without a <")),
        None => text,
        Some((name, rest)) => {
            let Some(address) = rest.strip_suffix('>') else {
                return Err(invalid("the address in <...> must end the text"));
            };
            if address.contains(['<', '>']) || name.contains('>') {
                return Err(invalid("it has more than one <...>"));
            }
            let name = name.trim();
            let quoted = name.len() >= 2 && name.starts_with('"') && name.ends_with('"');
            let ok = if quoted {
                !name[1..name.len() - 1].contains(['"', '\\'])
            } else {
                !name.contains(['"', '(', ')', ',', ':', ';', '[', ']', '\\'])
            };
            if !ok {
                return Err(invalid(
                    "the name before <...> has characters that need quotes; write it in \
                     double quotes, like \"Firebreak, on call\" <firebreak@example.com>",
                ));
            }
            address
        }
    };
    check_email(address).map_err(|_| invalid(&format!("\"{address}\" is not an email address")))
}

impl Reader<'_> {
    /// The `email` section. With `smtp_url` set, `from` is required.
    pub(super) fn email(&mut self, node: &Node) -> Option<Email> {
        let f = self.fields(
            node,
            "email",
            EMAIL_KEYS,
            "a mapping with smtp_url and from",
        )?;
        let mut email = Email::default();
        if let Some(n) = f.get("smtp_url") {
            email.smtp_url = self.smtp_url(n, &f.path("smtp_url"));
        }
        if let Some(n) = f.get("from")
            && let Some(text) = self.text_of(n, &f.path("from"))
        {
            match check_email_from(&text) {
                Ok(()) => email.from = Some(text),
                Err(message) => self.error_at(n, &f.path("from"), message),
            }
        }
        if f.get("smtp_url").is_some() && f.get("from").is_none() {
            self.error_at(
                f.node,
                &f.path,
                "missing required key \"from\": with smtp_url set, every email needs a sender, \
                 like from: Firebreak <firebreak@example.com>",
            );
        }
        Some(email)
    }

    /// An SMTP URL, written in the file or read from the environment variable that
    /// `smtp_url: {env: NAME}` names. No message repeats it.
    fn smtp_url(&mut self, node: &Node, path: &str) -> Option<String> {
        let (url, _) = self.checked_secret(
            node,
            path,
            &EnvSecret {
                key: "smtp_url",
                holds: "the SMTP URL",
                example: "FIREBREAK_SMTP_URL",
                set_to: "the SMTP URL, like smtp://user:password@mail.example.com:587",
            },
            check_smtp_url,
            "an smtp:// or smtps:// URL, or {env: NAME} to read it from an environment variable",
        )?;
        Some(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtps://mail.example.com",
            "smtp://mail.example.com:587?tls=required",
            "smtp://user:p%40ss@mail.example.com:587",
            "smtp://[::1]:25",
        ] {
            assert_eq!(check_smtp_url(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("relay.internal:25", "it has no scheme"),
            (
                "https://relay.internal",
                "the scheme is https, not smtp or smtps",
            ),
            ("smtp://", "it has no host"),
            ("smtp://user:secret@", "it has no host"),
            ("smtp://user:secret@relay.internal:smtp", "the port"),
            ("smtp://relay internal", "spaces"),
        ] {
            let e = check_smtp_url(bad).unwrap_err();
            assert!(e.contains(reason), "{bad}: {e}");
            assert!(!e.contains("secret"), "{bad}: {e}");
            assert!(!e.contains("relay"), "{bad}: {e}");
            assert!(e.ends_with(SMTP_HINT), "{bad}: {e}");
        }
    }

    #[test]
    fn which_smtp_urls_are_secret() {
        assert!(!smtp_url_is_secret("smtp://127.0.0.1:2525"));
        assert!(!smtp_url_is_secret(
            "smtp://mail.example.com:587?tls=required"
        ));
        assert!(smtp_url_is_secret("smtp://user:pw@mail.example.com"));
        assert!(smtp_url_is_secret("smtp://user@mail.example.com"));
        assert!(smtp_url_is_secret(
            "smtp://mail.example.com?tls=required&password=x"
        ));
    }

    #[test]
    fn senders() {
        for ok in [
            "Firebreak <firebreak@example.com>",
            "firebreak@example.com",
            "<firebreak@example.com>",
            "\"Firebreak, on call\" <firebreak@example.com>",
            "Firebreak Inc. <firebreak@example.com>",
        ] {
            assert_eq!(check_email_from(ok), Ok(()), "{ok}");
        }
        for (bad, reason) in [
            ("Firebreak", "exactly one address"),
            ("a@example.com, b@example.com", "exactly one address"),
            ("Firebreak <firebreak@example.com", "must end the text"),
            ("Firebreak <firebreak@example.com> x", "must end the text"),
            ("Firebreak firebreak@example.com>", "a > without a <"),
            ("<<firebreak@example.com>>", "more than one"),
            ("Fire, break <firebreak@example.com>", "need quotes"),
            ("Firebreak <firebreak@localhost>", "is not an email address"),
            (
                "Firebreak\r\nBcc: x <firebreak@example.com>",
                "control characters",
            ),
        ] {
            let e = check_email_from(bad).unwrap_err();
            assert!(e.contains(reason), "{bad:?}: {e}");
            assert!(e.ends_with(FROM_HINT), "{bad:?}: {e}");
        }
    }
}
