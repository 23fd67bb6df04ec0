//! The sections about reaching and signing in to Firebreak: `server.tls` and `oidc`, read
//! whole and refused with file, line, key and what to write instead.

use firebreak_config::{ConfigErrors, parse_with_env};
use firebreak_domain::AccessRole;
use firebreak_domain::config::TlsFiles;

fn env(name: &str) -> Option<String> {
    (name == "OIDC_SECRET").then(|| "s3cret-value\n".to_string())
}

fn read(source: &str) -> Result<firebreak_domain::Config, ConfigErrors> {
    parse_with_env(source, "firebreak.yaml", &env)
}

#[test]
fn tls_files() {
    let config = read("server:\n  tls: {cert: /etc/fb/cert.pem, key: /etc/fb/key.pem}\n").unwrap();
    assert_eq!(
        config.server.tls,
        Some(TlsFiles {
            cert: "/etc/fb/cert.pem".into(),
            key: "/etc/fb/key.pem".into()
        })
    );
    let e = read("server:\n  tls:\n    cert: /etc/fb/cert.pem\n").unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert_eq!(
        e.errors()[0].to_string(),
        "firebreak.yaml:3:5: server.tls: missing required key \"key\""
    );
    let e = read("server:\n  tls: /etc/fb/cert.pem\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("firebreak.yaml:2:8: server.tls: expected a mapping with cert and key"),
        "{e}"
    );
}

#[test]
fn oidc_with_defaults() {
    let config = read(
        "oidc:\n  issuer: https://login.example.com/\n  client_id: firebreak\n  client_secret: {env: OIDC_SECRET}\n",
    )
    .unwrap();
    let oidc = config.oidc.unwrap();
    assert_eq!(oidc.issuer, "https://login.example.com");
    assert_eq!(oidc.client_secret, "s3cret-value");
    assert_eq!(oidc.client_secret_env.as_deref(), Some("OIDC_SECRET"));
    assert_eq!(oidc.scopes, ["openid", "email", "profile"]);
    assert_eq!(oidc.role_claim, "groups");
    assert_eq!(oidc.default_role, Some(AccessRole::Viewer));
    assert_eq!(oidc.name, "single sign-on");
    // Debug never shows the secret.
    assert!(!format!("{oidc:?}").contains("s3cret"));
}

#[test]
fn oidc_roles() {
    let config = read(
        "oidc:
  issuer: http://127.0.0.1:9000
  name: Example SSO
  client_id: firebreak
  client_secret: {env: OIDC_SECRET}
  scopes: [email, groups]
  roles:
    claim: roles
    admin: [firebreak-admins]
    responder: [sre, oncall]
    default: refuse
",
    )
    .unwrap();
    let oidc = config.oidc.unwrap();
    assert_eq!(oidc.scopes, ["openid", "email", "groups"]);
    assert_eq!(oidc.role_claim, "roles");
    assert_eq!(oidc.admin, ["firebreak-admins"]);
    assert_eq!(oidc.responder, ["sre", "oncall"]);
    assert_eq!(oidc.default_role, None);
}

#[test]
fn oidc_mistakes_are_located_and_say_what_to_write() {
    let e = read(
        "oidc:
  issuer: http://login.example.com
  client_id: firebreak
  client_secret: hunter2-the-secret
  roles: {default: boss}
",
    )
    .unwrap_err();
    let text = e.to_string();
    assert_eq!(e.len(), 3, "{text}");
    assert!(text.contains("firebreak.yaml:2:11: oidc.issuer: invalid issuer \"http://login.example.com\": http:// is allowed only for a provider on this machine"), "{text}");
    assert!(text.contains("firebreak.yaml:4:18: oidc.client_secret: the client secret must not be written in the file; write client_secret: {env: NAME}"), "{text}");
    assert!(
        text.contains("firebreak.yaml:5:20: oidc.roles.default: unknown default \"boss\""),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");

    let e = read("oidc:\n  issuer: https://login.example.com\n  client_id: firebreak\n  client_secret: {env: UNSET_SECRET}\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("oidc.client_secret.env: environment variable UNSET_SECRET is not set"),
        "{e}"
    );
    let e =
        read("oidc:\n  issuer: https://login.example.com\n  client_id: firebreak\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("missing required key \"client_secret\""),
        "{e}"
    );
}
