//! The `oidc` section: single sign-on through an OpenID Connect provider (Okta, Entra ID,
//! Google, Keycloak, Authentik, Dex...).
//!
//! ```yaml
//! oidc:
//!   issuer: https://login.example.com/realms/main
//!   name: Example SSO                     # on the sign-in button; "single sign-on" if left out
//!   client_id: firebreak
//!   client_secret: {env: FIREBREAK_OIDC_CLIENT_SECRET}
//!   scopes: [openid, email, profile]      # the default; openid is always asked for
//!   roles:
//!     claim: groups                       # the default
//!     admin: [firebreak-admins]
//!     responder: [sre, oncall]
//!     viewer: []
//!     default: viewer                     # or refuse: no listed group, no sign-in
//! ```
//!
//! The client secret is never written in the file: it is read from the environment variable
//! `{env: NAME}` names. The redirect URL to register with the provider is
//! `server.public_url` followed by `/login/oidc/callback`.

use firebreak_domain::AccessRole;
use firebreak_domain::config::Oidc;

use super::{EnvSecret, Reader};
use crate::node::{Node, Value};

pub(crate) const OIDC_KEYS: &[&str] = &[
    "issuer",
    "name",
    "client_id",
    "client_secret",
    "scopes",
    "roles",
];
pub(crate) const OIDC_ROLE_KEYS: &[&str] = &["claim", "admin", "responder", "viewer", "default"];

const ISSUER_HINT: &str = "expected the provider's issuer URL, https:// (http:// only for a \
                           provider on this machine, like http://127.0.0.1:9000), like \
                           https://login.example.com/realms/main";

/// Checks an issuer URL: https, or http to a loopback host; a host; no query, fragment or
/// user. Returned without a trailing slash unless it is the whole path.
pub(crate) fn check_issuer(text: &str) -> Result<String, String> {
    let invalid = |reason: &str| format!("invalid issuer \"{text}\": {reason}; {ISSUER_HINT}");
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("it has spaces or control characters"));
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(invalid("it has no scheme"));
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(invalid("it has a user or password"));
    }
    if text.contains(['?', '#']) {
        return Err(invalid("it has a query or fragment"));
    }
    super::server::check_host_port(authority).map_err(invalid)?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid(
                "http:// is allowed only for a provider on this machine",
            ));
        }
        other => return Err(invalid(&format!("the scheme is {other}, not https"))),
    }
    Ok(text.trim_end_matches('/').to_string())
}

impl Reader<'_> {
    /// The `oidc` section.
    pub(super) fn oidc(&mut self, node: &Node) -> Option<Oidc> {
        let f = self.fields(
            node,
            "oidc",
            OIDC_KEYS,
            "a mapping with issuer, client_id, client_secret, and optionally name, scopes and roles",
        )?;
        let issuer = self.required_text(&f, "issuer").and_then(|(text, n)| {
            match check_issuer(text.trim()) {
                Ok(url) => Some(url),
                Err(message) => {
                    self.error_at(&n, &f.path("issuer"), message);
                    None
                }
            }
        });
        let client_id = self
            .required_text(&f, "client_id")
            .map(|(t, _)| t.trim().to_string());
        let name = self
            .opt_text(&f, "name")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "single sign-on".to_string());
        let secret = match f.get("client_secret") {
            None => {
                self.error_at(
                    f.node,
                    &f.path,
                    "missing required key \"client_secret\"; write client_secret: {env: NAME} \
                     with the environment variable that holds the secret the provider gave \
                     Firebreak's client",
                );
                None
            }
            Some(n) if matches!(n.value, Value::Map(_)) => self
                .env_secret(
                    n,
                    &f.path("client_secret"),
                    &EnvSecret {
                        key: "client_secret",
                        holds: "the OpenID client's secret",
                        example: "FIREBREAK_OIDC_CLIENT_SECRET",
                        set_to: "the client secret the OpenID provider gave Firebreak",
                    },
                )
                .and_then(|env| {
                    if env.value.is_empty() {
                        self.error_at(
                            env.node,
                            &env.path,
                            format!(
                                "environment variable {} is empty; set it to the client secret \
                                 the OpenID provider gave Firebreak",
                                env.var
                            ),
                        );
                        None
                    } else {
                        Some((env.value, env.var.to_string()))
                    }
                }),
            Some(n) => {
                // Never repeat what was written: it may be the secret itself.
                self.error_at(
                    n,
                    &f.path("client_secret"),
                    "the client secret must not be written in the file; write client_secret: \
                     {env: NAME} and set that environment variable where Firebreak runs",
                );
                None
            }
        };
        let scopes = match self.text_list(&f, "scopes", "[openid, email, profile]") {
            None => Oidc::DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            Some(items) => {
                let mut scopes = vec!["openid".to_string()];
                for (text, item, path) in items {
                    let scope = text.trim().to_string();
                    if scope.is_empty() || scope.contains(char::is_whitespace) {
                        self.error_at(&item, &path, "expected one scope, like email");
                    } else if !scopes.contains(&scope) {
                        scopes.push(scope);
                    }
                }
                scopes
            }
        };
        let mut oidc = Oidc {
            issuer: issuer.clone().unwrap_or_default(),
            name,
            client_id: client_id.clone().unwrap_or_default(),
            client_secret: String::new(),
            client_secret_env: None,
            scopes,
            role_claim: Oidc::DEFAULT_ROLE_CLAIM.to_string(),
            admin: Vec::new(),
            responder: Vec::new(),
            viewer: Vec::new(),
            default_role: Some(AccessRole::Viewer),
        };
        if let Some(n) = f.get("roles") {
            self.oidc_roles(n, &f.path("roles"), &mut oidc);
        }
        let (secret, var) = secret?;
        oidc.client_secret = secret;
        oidc.client_secret_env = Some(var);
        issuer?;
        client_id?;
        Some(oidc)
    }

    fn oidc_roles(&mut self, node: &Node, path: &str, oidc: &mut Oidc) {
        let Some(f) = self.fields(
            node,
            path,
            OIDC_ROLE_KEYS,
            "a mapping with claim, admin, responder, viewer and default, like {claim: groups, \
             admin: [firebreak-admins], default: viewer}",
        ) else {
            return;
        };
        if let Some(claim) = self.opt_text(&f, "claim") {
            let claim = claim.trim().to_string();
            if claim.is_empty() {
                self.error_at(
                    f.get("claim").unwrap_or(f.node),
                    &f.path("claim"),
                    "expected the name of a claim in the ID token, like groups or roles",
                );
            } else {
                oidc.role_claim = claim;
            }
        }
        for (key, values) in [
            ("admin", &mut oidc.admin),
            ("responder", &mut oidc.responder),
            ("viewer", &mut oidc.viewer),
        ] {
            if let Some(items) = self.text_list(&f, key, "[firebreak-admins]") {
                *values = items.into_iter().map(|(t, _, _)| t).collect();
            }
        }
        if let Some(n) = f.get("default")
            && let Some(text) = self.text_of(n, &f.path("default"))
        {
            match text.trim() {
                "refuse" => oidc.default_role = None,
                word => match word.parse::<AccessRole>() {
                    Ok(role) => oidc.default_role = Some(role),
                    Err(_) => self.error_at(
                        n,
                        &f.path("default"),
                        format!(
                            "unknown default \"{word}\"; expected viewer, responder, admin, or \
                             refuse (a user in none of the listed groups cannot sign in)"
                        ),
                    ),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers() {
        for (text, url) in [
            ("https://login.example.com/", "https://login.example.com"),
            (
                "https://login.example.com/realms/main",
                "https://login.example.com/realms/main",
            ),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            ("http://localhost:9000/", "http://localhost:9000"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ] {
            assert_eq!(check_issuer(text).as_deref(), Ok(url), "{text}");
        }
        for (text, reason) in [
            (
                "http://login.example.com",
                "only for a provider on this machine",
            ),
            ("login.example.com", "no scheme"),
            ("ftp://login.example.com", "not https"),
            ("https://login.example.com/?x=1", "query"),
            ("https://u:p@login.example.com", "user or password"),
            ("https://", "no host"),
        ] {
            let e = check_issuer(text).unwrap_err();
            assert!(e.contains(reason), "{text}: {e}");
        }
    }
}
