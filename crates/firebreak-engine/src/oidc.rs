//! Single sign-on through an OpenID Connect provider: the authorization code flow with PKCE
//! (`openidconnect`, docs/adr/0012), and what a good sign-in does to the directory.
//!
//! Starting a sign-in makes a random `state`, `nonce` and PKCE verifier and seals them, with
//! where to go afterwards and when it started, into a value for a short-lived cookie: an HMAC
//! under the instance-shared key, so every instance can finish what another started and nothing
//! is stored. The callback must bring the same `state` within [`PENDING_TTL`]; the code is
//! exchanged once, with the verifier, and the ID token is checked (signature, issuer, audience,
//! expiry, nonce). The person is matched to a user by email without regard to case, or added
//! with a handle made from their preferred username or email; their role follows the configured
//! claim at every sign-in, and a disabled user is refused. Every sign-in and refusal is audited.
//!
//! The provider is reached through the SSRF-guarded client like every other outbound request.
//! Its issuer is configured by an admin, so the issuer host's addresses are allowed even when
//! private (a Keycloak on the internal network); other hosts the provider's metadata names must
//! be public or in `outbound.allow`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use firebreak_domain::config::Oidc;
use firebreak_domain::session::{SignInMethod, safe_next};
use firebreak_domain::{AccessRole, Actor, Name};
use firebreak_outbound::{OutboundClient, OutboundPolicy, SendError, Timeouts};
use firebreak_store::{AuditDraft, UserRecord};
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::accounts::SignedIn;
use crate::{EngineError, Firebreak, Principal, random_bytes};

/// How long a started sign-in may take to come back.
pub const PENDING_TTL: SignedDuration = SignedDuration::from_mins(10);
/// The provider's metadata and keys are fetched again after this long.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// The largest answer read from the provider.
const ANSWER_LIMIT: usize = 1024 * 1024;
/// The path of the callback, after `server.public_url`.
pub const CALLBACK_PATH: &str = "/login/oidc/callback";

/// Why a sign-in through the provider did not sign anybody in. Every message is for the person
/// at the browser and says what to do; none holds a secret, a code or a token.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("single sign-on is not set up on this Firebreak; sign in with your password")]
    NotConfigured,
    /// Refused: a stale or foreign sign-in, a code the provider refused, a disabled user...
    #[error("{0}")]
    Refused(String),
    /// The provider could not be reached or answered something Firebreak cannot use.
    #[error("{0}")]
    Provider(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The single sign-on settings and what was learnt from the provider.
pub struct OidcProvider {
    config: Oidc,
    /// `outbound.allow`, to which the issuer's addresses are added.
    allow: Vec<ipnet::IpNet>,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
}

#[derive(Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    http: OutboundClient,
    at: Instant,
}

impl OidcProvider {
    pub fn new(config: Oidc, allow: Vec<ipnet::IpNet>) -> OidcProvider {
        OidcProvider {
            config,
            allow,
            discovered: tokio::sync::Mutex::new(None),
        }
    }

    /// The name on the sign-in button.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The outbound client for this provider: the configured networks plus the issuer host's
    /// addresses, resolved now.
    async fn client(&self) -> Result<OutboundClient, OidcError> {
        let url = url::Url::parse(&self.config.issuer)
            .map_err(|e| OidcError::Provider(format!("the issuer URL cannot be read: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<std::net::IpAddr> = match host.parse() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| {
                    OidcError::Provider(format!(
                        "cannot find the identity provider {host}: {e}; try again in a minute, \
                         or ask an admin to check oidc.issuer"
                    ))
                })?
                .map(|a| a.ip())
                .collect(),
        };
        let mut allow = self.allow.clone();
        allow.extend(addresses.into_iter().map(ipnet::IpNet::from));
        OutboundClient::new(OutboundPolicy::new(allow), Timeouts::default())
            .map_err(|e| OidcError::Provider(e.to_string()))
    }

    /// The provider's metadata and signing keys, fetched at most every [`METADATA_TTL`], or
    /// again at once when `fresh`.
    async fn discover(&self, fresh: bool) -> Result<Discovered, OidcError> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref()
            && !fresh
            && d.at.elapsed() < METADATA_TTL
        {
            return Ok(d.clone());
        }
        let http = self.client().await?;
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Provider(format!("the issuer URL cannot be read: {e}")))?;
        let call = fetcher(&http);
        let metadata = CoreProviderMetadata::discover_async(issuer, &call)
            .await
            .map_err(|e| {
                OidcError::Provider(format!(
                    "cannot read the identity provider's OpenID configuration at {}: {}; try \
                     again in a minute, or ask an admin to check oidc.issuer",
                    self.config.issuer,
                    short(&e)
                ))
            })?;
        let d = Discovered {
            metadata,
            http,
            at: Instant::now(),
        };
        *cached = Some(d.clone());
        Ok(d)
    }
}

/// The request function `openidconnect` calls: our guarded client.
fn fetcher(
    http: &OutboundClient,
) -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, SendError>> + Send>,
> + use<> {
    let http = http.clone();
    move |request| {
        let http = http.clone();
        Box::pin(async move { http.fetch(request, ANSWER_LIMIT).await })
    }
}

/// An error and its causes on one line, for messages about the provider.
fn short(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(300).collect()
}

/// A sign-in under way: what the callback must match, sealed into the browser's cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    #[serde(rename = "s")]
    pub state: String,
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "v")]
    pub verifier: String,
    /// Where to go after signing in.
    #[serde(rename = "x")]
    pub next: String,
    /// Epoch milliseconds.
    #[serde(rename = "t")]
    pub started_at: i64,
}

/// Where to send the browser, and the sealed value of its sign-in cookie.
pub struct OidcStart {
    pub url: String,
    pub cookie: String,
}

fn random_text() -> Result<String, EngineError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// Makes a handle from a preferred username or an email's local part: lower case, other
/// characters as `-`, starting with a letter or digit, at most 48 characters.
pub fn handle_from(wanted: &str) -> Option<String> {
    let local = wanted.split('@').next().unwrap_or(wanted);
    let mut out = String::new();
    for c in local.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let out: String = out
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .trim_end_matches(['-', '.', '_'])
        .chars()
        .take(48)
        .collect();
    Name::parse(&out).ok().map(|n| n.to_string())
}

/// The values of `claim` in the ID token's payload: a list of strings, or one string.
fn claim_values(id_token: &str, claim: &str) -> Vec<String> {
    let payload = id_token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    match payload.as_ref().and_then(|p| p.get(claim)) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The role the claim's values give: the highest listed, else the default (`None`: refused).
pub fn role_from(config: &Oidc, values: &[String]) -> Option<AccessRole> {
    let listed = |names: &[String]| values.iter().any(|v| names.contains(v));
    if listed(&config.admin) {
        Some(AccessRole::Admin)
    } else if listed(&config.responder) {
        Some(AccessRole::Responder)
    } else if listed(&config.viewer) {
        Some(AccessRole::Viewer)
    } else {
        config.default_role
    }
}

impl Firebreak {
    /// The single sign-on provider, when `oidc` is configured.
    pub fn oidc(&self) -> Option<&OidcProvider> {
        self.oidc.as_deref()
    }

    fn oidc_or_refuse(&self) -> Result<&OidcProvider, OidcError> {
        self.oidc().ok_or(OidcError::NotConfigured)
    }

    fn redirect_url(&self) -> String {
        let base = self.config.server.public_url.as_deref().unwrap_or_default();
        format!("{}{CALLBACK_PATH}", base.trim_end_matches('/'))
    }

    async fn seal(&self, pending: &PendingSignIn) -> Result<String, EngineError> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(pending).map_err(|e| {
            EngineError::Store(firebreak_store::StoreError::backend(e.to_string()))
        })?);
        let key = self.ack_key().await?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .map_err(|e| EngineError::Store(firebreak_store::StoreError::backend(e.to_string())))?;
        mac.update(b"oidc:");
        mac.update(payload.as_bytes());
        Ok(format!(
            "{payload}.{}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }

    async fn unseal(&self, sealed: &str) -> Result<Option<PendingSignIn>, EngineError> {
        let Some((payload, tag)) = sealed.split_once('.') else {
            return Ok(None);
        };
        let Ok(tag) = hex::decode(tag) else {
            return Ok(None);
        };
        let key = self.ack_key().await?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .map_err(|e| EngineError::Store(firebreak_store::StoreError::backend(e.to_string())))?;
        mac.update(b"oidc:");
        mac.update(payload.as_bytes());
        if mac.verify_slice(&tag).is_err() {
            return Ok(None);
        }
        Ok(URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Starts a sign-in: the provider's authorization URL, and the sealed value the browser
    /// keeps until it comes back.
    pub async fn oidc_start(&self, next: &str) -> Result<OidcStart, OidcError> {
        let provider = self.oidc_or_refuse()?;
        let d = provider.discover(false).await?;
        let config = &provider.config;
        let redirect = RedirectUrl::new(self.redirect_url()).map_err(|e| {
            OidcError::Provider(format!(
                "the redirect URL cannot be made from server.public_url: {e}"
            ))
        })?;
        let client = CoreClient::from_provider_metadata(
            d.metadata,
            ClientId::new(config.client_id.clone()),
            Some(ClientSecret::new(config.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        let verifier = PkceCodeVerifier::new(random_text()?);
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        let (state, nonce) = (random_text()?, random_text()?);
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            {
                let state = state.clone();
                move || CsrfToken::new(state)
            },
            {
                let nonce = nonce.clone();
                move || Nonce::new(nonce)
            },
        );
        for scope in config.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.set_pkce_challenge(challenge).url();
        let pending = PendingSignIn {
            state,
            nonce,
            verifier: verifier.secret().clone(),
            next: if safe_next(next) { next } else { "/" }.to_string(),
            started_at: self.clock.now().as_millisecond(),
        };
        Ok(OidcStart {
            url: url.to_string(),
            cookie: self.seal(&pending).await?,
        })
    }

    /// Records a refused sign-in and returns the refusal.
    async fn oidc_refused(&self, source: Option<String>, who: &str, message: String) -> OidcError {
        let principal = Principal {
            actor: Actor("anonymous".into()),
            user: None,
            role: AccessRole::Viewer,
            source,
            break_glass: None,
        };
        let why: String = message.chars().take(200).collect();
        let audit = self.audit(
            &principal,
            "session.sign_in_failed",
            format!("oidc {who}: {why}"),
        );
        if let Err(e) = self.audit_alone(audit).await {
            return e.into();
        }
        OidcError::Refused(message)
    }

    async fn audit_alone(&self, audit: AuditDraft) -> Result<(), EngineError> {
        self.write(1, || {
            let audit = audit.clone();
            move |tx| Box::pin(async move { tx.audit(audit).await })
        })
        .await
        .map_err(EngineError::from)
    }

    /// Finishes a sign-in at the callback: `sealed` is the browser's cookie, `state` and
    /// `code` what the provider sent back. Returns the new session and where to go.
    pub async fn oidc_finish(
        &self,
        sealed: Option<&str>,
        state: &str,
        code: &str,
        source: Option<String>,
    ) -> Result<(SignedIn, String), OidcError> {
        let provider = self.oidc_or_refuse()?;
        let config = &provider.config;
        let pending = match sealed {
            Some(s) => self.unseal(s).await?,
            None => None,
        };
        let Some(pending) = pending else {
            return Err(self
                .oidc_refused(
                    source,
                    "unknown",
                    "this sign-in was not started in this browser (or its cookie is gone); \
                     start again from the sign-in page"
                        .into(),
                )
                .await);
        };
        let started = Timestamp::from_millisecond(pending.started_at).unwrap_or_default();
        if self.clock.now().duration_since(started) > PENDING_TTL {
            return Err(self
                .oidc_refused(
                    source,
                    "unknown",
                    "this sign-in took longer than 10 minutes; sign in again".into(),
                )
                .await);
        }
        let state_matches = {
            use subtle_compare::eq;
            eq(state.as_bytes(), pending.state.as_bytes())
        };
        if !state_matches {
            return Err(self
                .oidc_refused(
                    source,
                    "unknown",
                    "this sign-in's state does not match the one this browser started (it may \
                     come from another tab or another site); sign in again from the sign-in page"
                        .into(),
                )
                .await);
        }
        let d = provider.discover(false).await?;
        let redirect = RedirectUrl::new(self.redirect_url())
            .map_err(|e| OidcError::Provider(format!("the redirect URL cannot be made: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(config.client_id.clone()),
            Some(ClientSecret::new(config.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        let call = fetcher(&d.http);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| {
                OidcError::Provider(format!("the identity provider has no token endpoint: {e}"))
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
        let tokens = match exchange.request_async(&call).await {
            Ok(t) => t,
            Err(RequestTokenError::ServerResponse(answer)) => {
                let detail = match answer.error_description() {
                    Some(d) => format!("{}: {d}", answer.error()),
                    None => answer.error().to_string(),
                };
                return Err(self
                    .oidc_refused(
                        source,
                        "unknown",
                        format!(
                            "the identity provider refused this sign-in ({detail}); its code has \
                             expired or was already used. Sign in again"
                        ),
                    )
                    .await);
            }
            Err(e) => {
                return Err(OidcError::Provider(format!(
                    "the identity provider's token endpoint did not answer as expected: {}; try \
                     signing in again",
                    short(&e)
                )));
            }
        };
        let Some(id_token) = tokens.id_token() else {
            return Err(OidcError::Provider(
                "the identity provider sent no ID token; ask an admin to check that the openid \
                 scope is allowed for Firebreak's client"
                    .into(),
            ));
        };
        let verifier = client.id_token_verifier();
        let claims = match id_token.claims(&verifier, &Nonce::new(pending.nonce.clone())) {
            Ok(c) => c.clone(),
            Err(e) => {
                // The provider may have rotated its keys: fetch them again for next time.
                let _ = provider.discover(true).await;
                return Err(self
                    .oidc_refused(
                        source,
                        "unknown",
                        format!(
                            "the ID token could not be verified ({}); sign in again",
                            short(&e)
                        ),
                    )
                    .await);
            }
        };
        let Some(email) = claims.email().map(|e| e.as_str().trim().to_string()) else {
            return Err(self
                .oidc_refused(
                    source,
                    "unknown",
                    "the identity provider did not give your email address; ask an admin to \
                     let Firebreak's client read it (the email scope)"
                        .into(),
                )
                .await);
        };
        if claims.email_verified() == Some(false) {
            return Err(self
                .oidc_refused(
                    source,
                    &email,
                    "your email address is not verified at the identity provider; verify it \
                     there, then sign in again"
                        .into(),
                )
                .await);
        }
        let values = claim_values(&id_token.to_string(), &config.role_claim);
        let Some(role) = role_from(config, &values) else {
            return Err(self
                .oidc_refused(
                    source,
                    &email,
                    "your account at the identity provider is in none of the groups that may \
                     use Firebreak; ask an admin for access"
                        .into(),
                )
                .await);
        };
        let display = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string());
        let preferred = claims.preferred_username().map(|u| u.as_str().to_string());
        let user = self
            .oidc_user(&email, preferred, display, role, source.clone())
            .await?;
        let next = pending.next.clone();
        let signed = self
            .start_session(user, SignInMethod::Oidc, source, Vec::new())
            .await?;
        Ok((signed, next))
    }

    /// The user `email` signs in as: found without regard to case (their role set to `role`),
    /// or added.
    async fn oidc_user(
        &self,
        email: &str,
        preferred: Option<String>,
        display: Option<String>,
        role: AccessRole,
        source: Option<String>,
    ) -> Result<UserRecord, OidcError> {
        let users = self.store.list_users().await.map_err(EngineError::from)?;
        let who = Principal {
            source: source.clone(),
            ..Principal::local("oidc")
        };
        if let Some(user) = users.iter().find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
        }) {
            if user.disabled_at.is_some() {
                return Err(self
                    .oidc_refused(
                        source,
                        email,
                        format!(
                            "your Firebreak user `{}` is disabled; ask an admin to enable it",
                            user.handle
                        ),
                    )
                    .await);
            }
            if user.role == role {
                return Ok(user.clone());
            }
            let changed = UserRecord {
                role,
                ..user.clone()
            };
            return match self.update_user(&who, changed).await {
                Ok(updated) => Ok(updated),
                // The last admin keeps their role, or nobody could manage Firebreak.
                Err(EngineError::Conflict(why)) => {
                    tracing::warn!(user = %user.handle, "single sign-on left the role as it was: {why}");
                    Ok(user.clone())
                }
                Err(e) => Err(e.into()),
            };
        }
        let base = preferred
            .as_deref()
            .and_then(handle_from)
            .or_else(|| handle_from(email))
            .unwrap_or_else(|| "user".to_string());
        let taken = |h: &str| users.iter().any(|u| u.handle.as_str() == h);
        let mut handle = base.clone();
        let mut n = 2;
        while taken(&handle) {
            handle = format!("{base}-{n}");
            n += 1;
        }
        let handle = Name::parse(&handle).map_err(|e| crate::invalid("handle", e.to_string()))?;
        let user = UserRecord {
            handle: handle.clone(),
            name: display.unwrap_or_else(|| handle.to_string()),
            email: Some(email.to_string()),
            time_zone: None,
            role,
            from_config: false,
            created_at: self.clock.now(),
            disabled_at: None,
        };
        Ok(self.create_user(&who, user).await?)
    }
}

/// Comparing secrets without leaking where they differ.
mod subtle_compare {
    pub fn eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// How long a sign-in may take, for the cookie's `Max-Age`.
pub fn pending_max_age() -> i64 {
    PENDING_TTL.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_from_names_and_emails() {
        assert_eq!(handle_from("Ada.Lovelace").as_deref(), Some("ada.lovelace"));
        assert_eq!(handle_from("Ada@Example.com").as_deref(), Some("ada"));
        assert_eq!(
            handle_from("  jean pierre+ops@x").as_deref(),
            Some("jean-pierre-ops")
        );
        assert_eq!(handle_from("_x_").as_deref(), Some("x"));
        assert_eq!(handle_from("%%%"), None);
        assert_eq!(handle_from(&"a".repeat(100)).map(|h| h.len()), Some(48));
    }

    #[test]
    fn the_highest_listed_role_wins() {
        let config = Oidc {
            issuer: "https://x".into(),
            name: "x".into(),
            client_id: "c".into(),
            client_secret: "s".into(),
            client_secret_env: None,
            scopes: vec![],
            role_claim: "groups".into(),
            admin: vec!["admins".into()],
            responder: vec!["sre".into()],
            viewer: vec!["staff".into()],
            default_role: None,
        };
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            role_from(&config, &v(&["staff", "admins"])),
            Some(AccessRole::Admin)
        );
        assert_eq!(
            role_from(&config, &v(&["sre"])),
            Some(AccessRole::Responder)
        );
        assert_eq!(role_from(&config, &v(&["staff"])), Some(AccessRole::Viewer));
        assert_eq!(role_from(&config, &v(&["other"])), None);
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"groups":["a","b"],"role":"admin"}"#);
        let token = format!("h.{payload}.s");
        assert_eq!(claim_values(&token, "groups"), ["a", "b"]);
        assert_eq!(claim_values(&token, "role"), ["admin"]);
        assert!(claim_values(&token, "none").is_empty());
    }
}
