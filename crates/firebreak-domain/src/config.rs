//! The configuration model: severities, roles, checklists, services, users, alerting and
//! outbound delivery. `firebreak-config` reads it from YAML; [`Config::default`] is what a team
//! gets with no file.

use std::fmt;

use ipnet::IpNet;
use jiff::SignedDuration;

use crate::ids::Name;
use crate::rules::{Grouping, Route};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Most severe first.
    pub severities: Vec<Severity>,
    pub roles: Vec<Role>,
    pub checklists: Vec<Checklist>,
    pub services: Vec<Service>,
    pub users: Vec<User>,
    /// On-call schedules declared in the file.
    pub schedules: Vec<crate::schedule::Schedule>,
    /// Escalation policies declared in the file.
    pub escalation_policies: Vec<crate::escalation::Policy>,
    pub alerting: Alerting,
    pub outbound: Outbound,
    pub paging: Paging,
    pub server: Server,
    pub email: Email,
    pub status_page: StatusPage,
    pub comms: Comms,
    /// Runbooks and their actions.
    pub runbooks: Vec<crate::runbook::Runbook>,
    pub break_glass: crate::break_glass::BreakGlassPolicy,
    pub secrets: Secrets,
    /// Single sign-on through an OpenID provider; `None`: passwords only.
    pub oidc: Option<Oidc>,
    pub metrics: Metrics,
    pub review: Review,
    /// When customer reports open an alert (the `reports` section).
    pub reports: crate::customer_report::ReportRule,
    /// Uptime checks: the internal networks they may reach and their TLS defaults (the
    /// `checks` section).
    pub checks: crate::check::ChecksConfig,
}

/// How postmortems are reviewed and chased (the `review` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// After how long a resolved incident with no published postmortem reminds its commander.
    pub remind_after: SignedDuration,
    /// The severities whose incidents need a postmortem, by their configured names; `None`:
    /// the two most severe. Empty: no reminders.
    pub remind_severities: Option<Vec<String>>,
    /// Built-in blameless-language rules turned off, by id ([`crate::blameless::BUILT_IN`]).
    pub blameless_disable: Vec<String>,
    /// The team's own blameless-language rules, checked after the built-in ones.
    pub blameless_rules: Vec<crate::blameless::ExtraRule>,
}

impl Default for Review {
    /// Five days, for the two most severe severities, with every built-in rule.
    fn default() -> Self {
        Review {
            remind_after: SignedDuration::from_hours(24 * 5),
            remind_severities: None,
            blameless_disable: Vec::new(),
            blameless_rules: Vec::new(),
        }
    }
}

/// Firebreak's own Prometheus metrics (the `metrics` section).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// A separate listener (`127.0.0.1:9464`) serving only `/metrics`, without a token.
    /// `None`: `/metrics` is served on the main listener only, to a token of any role.
    pub listen: Option<String>,
}

/// Where actions' secrets come from: `FIREBREAK_SECRET_<NAME>` in the environment, or a
/// file of `name: value` lines readable only by its owner (mode 0600).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub file: Option<String>,
}

/// Where incident news is posted for the team.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comms {
    pub channels: Vec<Channel>,
    /// People emailed about the incidents they take (`comms.stakeholders`).
    pub stakeholders: Vec<Stakeholder>,
}

/// Someone outside the response (an executive, an account manager) emailed the internal
/// news of the incidents they take: declarations, internal status updates and resolutions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stakeholder {
    pub email: String,
    pub name: Option<String>,
    /// Only incidents on these services; empty means any service.
    pub services: Vec<Name>,
    /// Only incidents of these severities (configured names); empty means any severity.
    pub severities: Vec<String>,
}

impl Stakeholder {
    /// Whether an incident of `severity` on `services` is mailed to this stakeholder, by the
    /// channels' rule.
    pub fn takes(&self, severity: &str, services: &[Name]) -> bool {
        takes(&self.severities, &self.services, severity, services)
    }
}

/// The filter channels and stakeholders share: an incident must match both lists given (an
/// empty list matches everything).
fn takes(severities: &[String], services: &[Name], severity: &str, of: &[Name]) -> bool {
    let severity_ok =
        severities.is_empty() || severities.iter().any(|s| s.eq_ignore_ascii_case(severity));
    let service_ok = services.is_empty() || of.iter().any(|s| services.contains(s));
    severity_ok && service_ok
}

/// The chat tool a channel's webhook belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Slack,
    Mattermost,
    /// A Teams Workflows webhook that takes an Adaptive Card.
    Teams,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [
        ChannelKind::Slack,
        ChannelKind::Mattermost,
        ChannelKind::Teams,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Mattermost => "mattermost",
            ChannelKind::Teams => "teams",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A chat channel incident news goes to: declarations, severity and status changes, role
/// changes, internal updates and resolutions of the incidents it takes.
#[derive(Clone, PartialEq, Eq)]
pub struct Channel {
    /// Unique among channels, e.g. `incidents`.
    pub name: String,
    pub kind: ChannelKind,
    /// The incoming webhook URL: a secret, never logged or exported.
    pub url: String,
    /// The environment variable the URL was read from (`url: {env: NAME}`), so an export can
    /// name the variable instead of the URL. `None` when it was written inline.
    pub url_env: Option<String>,
    /// Only incidents on these services; empty means any service.
    pub services: Vec<Name>,
    /// Only incidents of these severities (configured names); empty means any severity.
    pub severities: Vec<String>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &crate::contact::mask_url(&self.url))
            .field("url_env", &self.url_env)
            .field("services", &self.services)
            .field("severities", &self.severities)
            .finish()
    }
}

impl Channel {
    /// Whether an incident of `severity` on `services` goes to this channel: it must match
    /// both lists the channel has (a channel with neither takes everything).
    pub fn takes(&self, severity: &str, services: &[Name]) -> bool {
        takes(&self.severities, &self.services, severity, services)
    }
}

/// The public status page: its branding and the components it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusPage {
    pub title: String,
    /// The IANA time zone the page shows times in.
    pub time_zone: String,
    /// A separate listener (`0.0.0.0:8081`) that serves the status page and nothing else.
    pub listen: Option<String>,
    /// The page's own public address, when it differs from `server.public_url` + `/status`.
    pub url: Option<String>,
    pub logo_url: Option<String>,
    /// The link back to the company's site.
    pub site_url: Option<String>,
    pub components: Vec<ComponentSpec>,
    /// Public update templates by status; a status not listed uses the default.
    pub templates: Vec<(crate::status_page::PublicStatus, String)>,
}

impl Default for StatusPage {
    fn default() -> Self {
        StatusPage {
            title: "Status".into(),
            time_zone: "UTC".into(),
            listen: None,
            url: None,
            logo_url: None,
            site_url: None,
            components: vec![],
            templates: vec![],
        }
    }
}

impl StatusPage {
    /// The template for a public update of `status`.
    pub fn template(&self, status: crate::status_page::PublicStatus) -> &str {
        self.templates
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| crate::status_page::default_template(status))
    }
}

/// A status page component declared in `firebreak.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSpec {
    pub name: String,
    pub description: Option<String>,
    pub group: Option<String>,
    pub services: Vec<Name>,
}

/// How pages are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// The policy of services that name none.
    pub default_policy: Option<Name>,
    /// Retries for pages; `None` uses `outbound.retry`.
    pub retry: Option<OutboundRetry>,
    /// How long one attempt to deliver a page may take.
    pub attempt_timeout: SignedDuration,
    /// How long the acknowledge link in a page works.
    pub ack_link_ttl: SignedDuration,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            default_policy: None,
            retry: None,
            attempt_timeout: SignedDuration::from_secs(10),
            ack_link_ttl: SignedDuration::from_hours(24),
        }
    }
}

/// How Firebreak is reached from outside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Server {
    /// The base URL people reach this Firebreak at (`https://firebreak.example.com`), used in
    /// the links pages carry. `None`: links use the address the server listens on.
    pub public_url: Option<String>,
    /// Serve HTTPS with these PEM files; `None`: plain HTTP (behind a TLS proxy).
    pub tls: Option<TlsFiles>,
    /// The proxies in front of Firebreak whose `X-Forwarded-For` is believed, so that sign-in
    /// backoff, rate limits and the audit log see each client's own address. Empty: the
    /// address a request arrived from is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The PEM files HTTPS is served with, as written (a relative path is taken from the
/// directory Firebreak runs in). They are read at start and again whenever they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate, then any intermediates.
    pub cert: String,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

/// Single sign-on through an OpenID Connect provider (the `oidc` section).
#[derive(Clone, PartialEq, Eq)]
pub struct Oidc {
    /// The provider's issuer URL, where `/.well-known/openid-configuration` is found.
    pub issuer: String,
    /// The name on the sign-in page's button ("Sign in with ...").
    pub name: String,
    pub client_id: String,
    /// A secret: never shown by `Debug` or the export.
    pub client_secret: String,
    /// The environment variable the secret was read from, when it was (`{env: NAME}`).
    pub client_secret_env: Option<String>,
    /// Asked for at sign-in; always includes `openid`.
    pub scopes: Vec<String>,
    /// The ID token claim that holds the user's groups.
    pub role_claim: String,
    /// Claim values that make a user an admin, a responder or a viewer; the highest wins.
    pub admin: Vec<String>,
    pub responder: Vec<String>,
    pub viewer: Vec<String>,
    /// The role of a user none of whose values is listed; `None`: they are refused.
    pub default_role: Option<crate::AccessRole>,
}

impl Oidc {
    /// The scopes asked for when the file names none.
    pub const DEFAULT_SCOPES: [&'static str; 3] = ["openid", "email", "profile"];
    /// The claim read for roles when the file names none.
    pub const DEFAULT_ROLE_CLAIM: &'static str = "groups";
}

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.issuer)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"…")
            .field("client_secret_env", &self.client_secret_env)
            .field("scopes", &self.scopes)
            .field("role_claim", &self.role_claim)
            .field("admin", &self.admin)
            .field("responder", &self.responder)
            .field("viewer", &self.viewer)
            .field("default_role", &self.default_role)
            .finish()
    }
}

/// How email is sent.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Email {
    /// `smtp://host:port`, `smtps://...` (TLS) or `smtp://...?tls=required` (STARTTLS), with
    /// optional `user:password@`. `None`: email contact methods cannot be sent to.
    pub smtp_url: Option<String>,
    /// The `From` of every email, like `Firebreak <firebreak@example.com>`.
    pub from: Option<String>,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The SMTP URL may carry a password.
        f.debug_struct("Email")
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "…"))
            .field("from", &self.from)
            .finish()
    }
}

/// How alerts are received and handled, across services.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// Requests each integration key may send, per second on average, before getting 429.
    pub rate_limit_per_second: u32,
    /// Requests a key may send at once above the average.
    pub rate_limit_burst: u32,
    /// Routing rules, tried in order before those added through the API.
    pub routes: Vec<Route>,
    /// How far before an incident's detection deploys are shown as suspects.
    pub suspect_window: SignedDuration,
}

impl Default for Alerting {
    fn default() -> Self {
        Alerting {
            rate_limit_per_second: 100,
            rate_limit_burst: 500,
            routes: vec![],
            suspect_window: SignedDuration::from_hours(2),
        }
    }
}

/// How Firebreak sends to other systems (webhooks), across all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbound {
    /// Networks the SSRF guard lets through although they are private, loopback or link-local
    /// (a single address is a /32 or /128). Empty: only public addresses are reachable.
    pub allow: Vec<IpNet>,
    pub retry: OutboundRetry,
}

/// When a delivery that failed is tried again: after `first_delay`, then after longer waits of
/// at most `max_delay`, until `give_up_after` has passed since the first try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundRetry {
    /// Positive.
    pub first_delay: SignedDuration,
    /// At least `first_delay`.
    pub max_delay: SignedDuration,
    /// At least `first_delay`.
    pub give_up_after: SignedDuration,
}

impl Default for OutboundRetry {
    fn default() -> Self {
        OutboundRetry {
            first_delay: SignedDuration::from_secs(5),
            max_delay: SignedDuration::from_mins(10),
            give_up_after: SignedDuration::from_hours(24),
        }
    }
}

/// An integration declared in the config file, with its key.
///
/// The key is a secret: `Debug` shows only its last four characters, like the key hints the
/// API shows, so a logged config never carries a usable key.
#[derive(Clone, PartialEq, Eq)]
pub struct IntegrationSpec {
    pub name: String,
    /// 32 characters from `[A-Za-z0-9]`.
    pub key: String,
    /// The environment variable the key was read from (`key: {env: NAME}` in the file), so an
    /// export can name the variable instead of the key. `None` when the key was written inline.
    pub key_env: Option<String>,
}

impl fmt::Debug for IntegrationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationSpec")
            .field("name", &self.name)
            .field("key", &RedactedKey(&self.key))
            .field("key_env", &self.key_env)
            .finish()
    }
}

/// A key shown as `"…wxyz"`: its last four characters, and nothing of a key too short for
/// four characters to be a small part of it.
struct RedactedKey<'a>(&'a str);

impl fmt::Debug for RedactedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.chars().count();
        let hint: String = if count >= 16 {
            self.0.chars().skip(count - 4).collect()
        } else {
            String::new()
        };
        write!(f, "\"…{hint}\"")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseTarget {
    Within(SignedDuration),
    NextBusinessDay,
}

/// Who gets paged when an incident of a severity is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageTarget {
    OnCall,
    Manager,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Severity {
    pub name: String,
    pub description: String,
    pub respond_within: ResponseTarget,
    /// Empty means internal only: nobody is paged.
    pub page: Vec<PageTarget>,
    /// How often stakeholders expect an update; `None` for internal-only severities.
    pub update_every: Option<SignedDuration>,
    /// Declaring an incident of this severity with no Incident Commander makes the declarer the IC.
    pub requires_commander: bool,
    /// What a public incident of this severity shows on the status page; `None` uses the
    /// default for its rank ([`crate::status_page::default_effect`]).
    pub public: Option<crate::status_page::SeverityEffect>,
    /// What an open incident of this severity freezes, and until when; `None` uses the
    /// default for its rank ([`crate::freeze::default_policy`]).
    pub freeze: Option<crate::freeze::FreezePolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The stable key used in URLs and JSON, e.g. `incident-commander`.
    pub key: String,
    /// The display name, e.g. `Incident Commander`.
    pub name: String,
    pub duty: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checklist {
    pub name: String,
    /// Severity names this checklist is attached to when an incident is declared.
    pub severities: Vec<String>,
    pub items: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: Name,
    pub description: String,
    pub team: Option<String>,
    pub runbook: Option<String>,
    pub integrations: Vec<IntegrationSpec>,
    pub grouping: Grouping,
    /// The escalation policy paged for the service's alerts and incidents.
    pub escalation_policy: Option<Name>,
    /// A user paged directly when a severity's `page` list names `manager`.
    pub manager: Option<Name>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub handle: Name,
    pub name: String,
    pub email: Option<String>,
    pub time_zone: Option<String>,
}

/// The role key of the Incident Commander, which declaring a severe incident fills.
pub const COMMANDER: &str = "incident-commander";

impl Role {
    fn new(key: &str, name: &str, duty: &str) -> Role {
        Role {
            key: key.into(),
            name: name.into(),
            duty: duty.into(),
        }
    }

    /// Turns a display name into a key: lowercase, words joined by `-`.
    pub fn key_for(name: &str) -> String {
        name.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join("-")
    }

    /// True when `given` names this role: its key, its display name, or either spelled with
    /// spaces, underscores or another case (`Incident Commander`, `incident_commander`).
    pub fn answers_to(&self, given: &str) -> bool {
        let k = Role::key_for(given);
        k == self.key
            || k == Role::key_for(&self.name)
            || (self.key == COMMANDER && (k == "ic" || k == "commander"))
    }
}

impl Config {
    /// What an open incident of `severity` freezes: the severity's own `freeze`, else the
    /// default for its rank. An unknown severity freezes nothing.
    pub fn freeze_policy(&self, severity: &str) -> crate::freeze::FreezePolicy {
        match self
            .severities
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(severity))
        {
            Some(rank) => self.severities[rank]
                .freeze
                .unwrap_or_else(|| crate::freeze::default_policy(rank)),
            None => crate::freeze::FreezePolicy {
                scope: crate::freeze::FreezeScope::None,
                until: crate::freeze::FreezeUntil::Mitigated,
            },
        }
    }

    /// The runbook named `name`.
    pub fn runbook(&self, name: &str) -> Option<&crate::runbook::Runbook> {
        self.runbooks.iter().find(|r| r.name.as_str() == name)
    }

    pub fn severity(&self, name: &str) -> Option<&Severity> {
        self.severities
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// What a public incident of `severity` shows on the status page.
    pub fn public_effect(&self, severity: &str) -> Option<crate::status_page::SeverityEffect> {
        let rank = self
            .severities
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(severity))?;
        Some(
            self.severities[rank]
                .public
                .clone()
                .unwrap_or_else(|| crate::status_page::default_effect(rank)),
        )
    }

    pub fn role(&self, given: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.answers_to(given))
    }

    pub fn escalation_policy(&self, name: &Name) -> Option<&crate::escalation::Policy> {
        self.escalation_policies.iter().find(|p| &p.name == name)
    }

    pub fn service(&self, name: &Name) -> Option<&Service> {
        self.services.iter().find(|s| &s.name == name)
    }

    pub fn severity_names(&self) -> String {
        self.severities
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The checklist items an incident of `severity` starts with, in order, without repeats.
    pub fn checklist_for(&self, severity: &str) -> Vec<String> {
        let mut items: Vec<String> = Vec::new();
        for list in &self.checklists {
            if list
                .severities
                .iter()
                .any(|s| s.eq_ignore_ascii_case(severity))
            {
                for item in &list.items {
                    if !items.contains(item) {
                        items.push(item.clone());
                    }
                }
            }
        }
        items
    }
}

impl Default for Config {
    fn default() -> Self {
        let minutes = |m: i64| SignedDuration::from_mins(m);
        Config {
            severities: vec![
                Severity {
                    name: "SEV1".into(),
                    description: "Total outage or data loss for many users".into(),
                    respond_within: ResponseTarget::Within(minutes(5)),
                    page: vec![PageTarget::OnCall, PageTarget::Manager],
                    update_every: Some(minutes(60)),
                    requires_commander: true,
                    public: None,
                    freeze: None,
                },
                Severity {
                    name: "SEV2".into(),
                    description: "Major feature broken or significant degradation".into(),
                    respond_within: ResponseTarget::Within(minutes(15)),
                    page: vec![PageTarget::OnCall],
                    update_every: Some(minutes(120)),
                    requires_commander: true,
                    public: None,
                    freeze: None,
                },
                Severity {
                    name: "SEV3".into(),
                    description: "Minor issue, no user-visible impact".into(),
                    respond_within: ResponseTarget::NextBusinessDay,
                    page: vec![],
                    update_every: None,
                    requires_commander: false,
                    public: None,
                    freeze: None,
                },
            ],
            roles: vec![
                Role::new(
                    COMMANDER,
                    "Incident Commander",
                    "Owns the incident: sets priorities, makes decisions and delegates the work.",
                ),
                Role::new(
                    "comms-lead",
                    "Comms Lead",
                    "Keeps stakeholders and customers informed at the severity's update cadence.",
                ),
                Role::new(
                    "operations-lead",
                    "Operations Lead",
                    "Directs the hands-on technical work to stabilise and recover the system.",
                ),
                Role::new(
                    "scribe",
                    "Scribe",
                    "Records decisions, actions and findings on the timeline as they happen.",
                ),
            ],
            checklists: vec![Checklist {
                name: "first 15 minutes".into(),
                severities: vec!["SEV1".into(), "SEV2".into()],
                items: [
                    "page acknowledged and IC declared",
                    "bridge opened",
                    "severity assigned",
                    "status page updated",
                    "most recent deploy identified",
                    "rollback considered before any code change",
                    "customer support told what to say",
                ]
                .into_iter()
                .map(String::from)
                .collect(),
            }],
            services: vec![],
            users: vec![],
            schedules: vec![],
            escalation_policies: vec![],
            alerting: Alerting::default(),
            outbound: Outbound::default(),
            paging: Paging::default(),
            server: Server::default(),
            email: Email::default(),
            status_page: StatusPage::default(),
            comms: Comms::default(),
            runbooks: Vec::new(),
            break_glass: crate::break_glass::BreakGlassPolicy::default(),
            secrets: Secrets::default(),
            oidc: None,
            metrics: Metrics::default(),
            review: Review::default(),
            reports: crate::customer_report::ReportRule::default(),
            checks: crate::check::ChecksConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_takes_what_matches_both_its_lists() {
        let name = |s: &str| Name::parse(s).unwrap();
        let channel = |services: &[&str], severities: &[&str]| Channel {
            name: "c".into(),
            kind: ChannelKind::Slack,
            url: "https://hooks.slack.com/services/T/B/secret".into(),
            url_env: None,
            services: services.iter().map(|s| name(s)).collect(),
            severities: severities.iter().map(|s| s.to_string()).collect(),
        };
        let checkout = [name("checkout")];
        assert!(channel(&[], &[]).takes("SEV3", &[]));
        assert!(channel(&[], &["SEV1", "SEV2"]).takes("sev2", &checkout));
        assert!(!channel(&[], &["SEV1", "SEV2"]).takes("SEV3", &checkout));
        assert!(channel(&["checkout"], &[]).takes("SEV3", &checkout));
        assert!(!channel(&["checkout"], &[]).takes("SEV1", &[]));
        assert!(channel(&["checkout"], &["SEV1"]).takes("SEV1", &checkout));
        assert!(!channel(&["checkout"], &["SEV1"]).takes("SEV2", &checkout));
        let shown = format!("{:?}", channel(&[], &[]));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn roles_answer_to_their_usual_spellings() {
        let config = Config::default();
        for given in [
            "incident-commander",
            "Incident Commander",
            "incident_commander",
            "IC",
            "commander",
        ] {
            assert_eq!(
                config.role(given).map(|r| r.key.as_str()),
                Some(COMMANDER),
                "{given}"
            );
        }
        assert_eq!(
            config.role("comms_lead").map(|r| r.name.as_str()),
            Some("Comms Lead")
        );
        assert!(config.role("janitor").is_none());
    }

    #[test]
    fn debug_never_shows_an_integration_key() {
        let key = "R0UT1NGKEYsecretsecretsecret0001";
        let spec = IntegrationSpec {
            name: "prometheus".into(),
            key: key.into(),
            key_env: None,
        };
        let shown = format!("{spec:?}");
        assert!(!shown.contains(key), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("prometheus") && shown.contains("…0001"),
            "{shown}"
        );

        let mut config = Config::default();
        config.services.push(Service {
            name: Name::parse("checkout").unwrap(),
            description: String::new(),
            team: None,
            runbook: None,
            integrations: vec![spec.clone()],
            grouping: Grouping::default(),
            escalation_policy: None,
            manager: None,
        });
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(!shown.contains(key), "{shown}");
        }
        // A short (invalid) key shows nothing of itself.
        let short = IntegrationSpec {
            key: "abcdef".into(),
            ..spec
        };
        assert!(!format!("{short:?}").contains("def"));
    }

    #[test]
    fn outbound_defaults() {
        let retry = Config::default().outbound.retry;
        assert_eq!(retry.first_delay, SignedDuration::from_secs(5));
        assert_eq!(retry.max_delay, SignedDuration::from_mins(10));
        assert_eq!(retry.give_up_after, SignedDuration::from_hours(24));
        assert!(Config::default().outbound.allow.is_empty());
    }

    #[test]
    fn default_checklist_is_for_sev1_and_sev2_only() {
        let config = Config::default();
        assert_eq!(config.checklist_for("SEV1").len(), 7);
        assert_eq!(config.checklist_for("sev2").len(), 7);
        assert!(config.checklist_for("SEV3").is_empty());
    }
}
