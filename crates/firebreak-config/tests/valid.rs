//! Valid configuration files: a full file, the shipped example, empty files and `load`.

use std::collections::BTreeMap;

use firebreak_config::{apply_env, load, parse, parse_allow_env, parse_with_env};
use firebreak_domain::access::AccessRole;
use firebreak_domain::alert::{AlertSeverity, Urgency};
use firebreak_domain::break_glass::BreakGlassPolicy;
use firebreak_domain::config::{
    Alerting, Channel, ChannelKind, Checklist, Comms, ComponentSpec, Config, Email,
    IntegrationSpec, Outbound, OutboundRetry, PageTarget, Paging, ResponseTarget, Role, Secrets,
    Server, Service, Severity, StatusPage, User,
};
use firebreak_domain::escalation::{Policy, Step, Target};
use firebreak_domain::freeze::{FreezePolicy, FreezeScope, FreezeUntil};
use firebreak_domain::ids::Name;
use firebreak_domain::matcher::Matcher;
use firebreak_domain::rules::{DeclareRule, Grouping, Route};
use firebreak_domain::runbook::{
    Action, ActionKind, DEFAULT_APPROVAL_WITHIN, DEFAULT_TIMEOUT, Param, Runbook, Value,
};
use firebreak_domain::schedule::{Every, Layer, Rotation, Schedule, parse_local_start};
use firebreak_domain::status_page::{ComponentStatus, Impact, PublicStatus, SeverityEffect};
use jiff::SignedDuration;

const FULL: &str = "\
severities:
  - name: SEV1
    description: Total outage or data loss for many users
    respond_within: 5m
    page: [on-call, manager]
    update_every: 60m
  - name: SEV2
    description: Degraded
    respond_within: 1h30m
    page: [on-call]
    update_every: 2h
    requires_commander: false
  - name: SEV3
    description: Minor
    respond_within: next business day
roles:
  - name: Incident Commander
    duty: Owns the incident
  - name: Ops Lead
    key: operations-lead
    duty: Fixes things
checklists:
  - name: first 15 minutes
    severities: [SEV1, sev2]
    items: [page acknowledged and IC declared, bridge opened]
services:
  - name: checkout
    description: Takes payments
    team: payments
    runbook: https://wiki.example.com/runbooks/checkout
    integrations:
      - name: prometheus
        key: R0UT1NGKEY0000000000000000000001
    grouping:
      window: 30m
      declare:
        - match: ['severity=\"critical\"']
          severity: sev2
          title: \"{summary}\"
        - match: []
          severity: SEV3
  - name: search
users:
  - handle: alice
    name: Alice Example
    email: alice@example.com
    time_zone: Europe/Berlin
  - handle: bob
alerting:
  rate_limit:
    per_second: 20
    burst: 1
  suspect_window: 1h30m
  routes:
    - match: ['env=\"dev\"']
      drop: true
    - match: ['team=\"payments\"', 'severity=~\"critical|error\"']
      service: checkout
      severity: critical
      urgency: high
    - match: []
      drop: false
outbound:
  allow: [10.0.0.0/8, '192.168.1.20', 'fd00::/8']
  retry:
    first_delay: 10s
    max_delay: 5m
    give_up_after: 12h
";

fn nets(texts: &[&str]) -> Vec<ipnet::IpNet> {
    texts.iter().map(|t| t.parse().unwrap()).collect()
}

fn matchers(texts: &[&str]) -> Vec<Matcher> {
    texts.iter().map(|t| Matcher::parse(t).unwrap()).collect()
}

#[test]
fn full_file_reads_into_the_expected_config() {
    let config = parse(FULL, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let expected = Config {
        severities: vec![
            Severity {
                name: "SEV1".into(),
                description: "Total outage or data loss for many users".into(),
                respond_within: ResponseTarget::Within(SignedDuration::from_mins(5)),
                page: vec![PageTarget::OnCall, PageTarget::Manager],
                update_every: Some(SignedDuration::from_mins(60)),
                requires_commander: true,
                public: None,
                freeze: None,
            },
            Severity {
                name: "SEV2".into(),
                description: "Degraded".into(),
                respond_within: ResponseTarget::Within(SignedDuration::from_mins(90)),
                page: vec![PageTarget::OnCall],
                update_every: Some(SignedDuration::from_hours(2)),
                requires_commander: false,
                public: None,
                freeze: None,
            },
            Severity {
                name: "SEV3".into(),
                description: "Minor".into(),
                respond_within: ResponseTarget::NextBusinessDay,
                page: vec![],
                update_every: None,
                requires_commander: false,
                public: None,
                freeze: None,
            },
        ],
        roles: vec![
            Role {
                key: "incident-commander".into(),
                name: "Incident Commander".into(),
                duty: "Owns the incident".into(),
            },
            Role {
                key: "operations-lead".into(),
                name: "Ops Lead".into(),
                duty: "Fixes things".into(),
            },
        ],
        checklists: vec![Checklist {
            name: "first 15 minutes".into(),
            severities: vec!["SEV1".into(), "SEV2".into()],
            items: vec![
                "page acknowledged and IC declared".into(),
                "bridge opened".into(),
            ],
        }],
        services: vec![
            Service {
                name: Name::parse("checkout").unwrap(),
                description: "Takes payments".into(),
                team: Some("payments".into()),
                runbook: Some("https://wiki.example.com/runbooks/checkout".into()),
                integrations: vec![IntegrationSpec {
                    name: "prometheus".into(),
                    key: "R0UT1NGKEY0000000000000000000001".into(),
                    key_env: None,
                }],
                grouping: Grouping {
                    window: Some(SignedDuration::from_mins(30)),
                    declare: vec![
                        DeclareRule {
                            matchers: matchers(&[r#"severity="critical""#]),
                            severity: "SEV2".into(),
                            title: Some("{summary}".into()),
                        },
                        DeclareRule {
                            matchers: vec![],
                            severity: "SEV3".into(),
                            title: None,
                        },
                    ],
                },
                escalation_policy: None,
                manager: None,
            },
            Service {
                name: Name::parse("search").unwrap(),
                description: String::new(),
                team: None,
                runbook: None,
                integrations: vec![],
                grouping: Grouping::default(),
                escalation_policy: None,
                manager: None,
            },
        ],
        users: vec![
            User {
                handle: Name::parse("alice").unwrap(),
                name: "Alice Example".into(),
                email: Some("alice@example.com".into()),
                time_zone: Some("Europe/Berlin".into()),
            },
            User {
                handle: Name::parse("bob").unwrap(),
                name: "bob".into(),
                email: None,
                time_zone: None,
            },
        ],
        schedules: vec![],
        alerting: Alerting {
            rate_limit_per_second: 20,
            rate_limit_burst: 1,
            routes: vec![
                Route {
                    matchers: matchers(&[r#"env="dev""#]),
                    service: None,
                    severity: None,
                    urgency: None,
                    drop: true,
                },
                Route {
                    matchers: matchers(&[r#"team="payments""#, r#"severity=~"critical|error""#]),
                    service: Some(Name::parse("checkout").unwrap()),
                    severity: Some(AlertSeverity::Critical),
                    urgency: Some(Urgency::High),
                    drop: false,
                },
                Route {
                    matchers: vec![],
                    service: None,
                    severity: None,
                    urgency: None,
                    drop: false,
                },
            ],
            suspect_window: SignedDuration::from_mins(90),
        },
        outbound: Outbound {
            allow: nets(&["10.0.0.0/8", "192.168.1.20/32", "fd00::/8"]),
            retry: OutboundRetry {
                first_delay: SignedDuration::from_secs(10),
                max_delay: SignedDuration::from_mins(5),
                give_up_after: SignedDuration::from_hours(12),
            },
        },
        ..Config::default()
    };
    assert_eq!(config, expected);
}

#[test]
fn empty_files_mean_the_defaults() {
    for source in ["", "\n\n", "# nothing configured yet\n", "---\n", "~\n"] {
        let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{source:?}: {e}"));
        assert_eq!(config, Config::default(), "{source:?}");
    }
}

#[test]
fn missing_sections_keep_their_defaults() {
    let config = parse("services:\n  - name: checkout\n", "firebreak.yaml").unwrap();
    let defaults = Config::default();
    assert_eq!(config.severities, defaults.severities);
    assert_eq!(config.roles, defaults.roles);
    assert_eq!(config.checklists, defaults.checklists);
    assert_eq!(config.services.len(), 1);
    assert_eq!(config.services[0].integrations, []);
    assert_eq!(config.services[0].grouping, Grouping::default());
    assert!(config.users.is_empty());
    assert_eq!(config.alerting, Alerting::default());
    assert_eq!(config.outbound, Outbound::default());
    assert!(config.runbooks.is_empty());
    assert_eq!(config.break_glass, BreakGlassPolicy::default());
    assert_eq!(config.secrets, Secrets::default());
    assert!(config.severities.iter().all(|s| s.freeze.is_none()));
}

#[test]
fn alerting_keys_left_out_keep_their_defaults() {
    let config = parse(
        "alerting:\n  rate_limit:\n    burst: 50\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.alerting,
        Alerting {
            rate_limit_burst: 50,
            ..Alerting::default()
        }
    );
    let config = parse("alerting:\n", "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.alerting, Alerting::default());
}

#[test]
fn outbound_keys_left_out_keep_their_defaults() {
    let config = parse("outbound:\n  retry:\n    max_delay: 1h\n", "firebreak.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.outbound,
        Outbound {
            allow: vec![],
            retry: OutboundRetry {
                max_delay: SignedDuration::from_hours(1),
                ..OutboundRetry::default()
            },
        }
    );
    // A first delay as long as the default max delay is allowed: the limits are inclusive.
    let config = parse(
        "outbound:\n  retry:\n    first_delay: 10m\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.outbound.retry.first_delay,
        SignedDuration::from_mins(10)
    );
    let config = parse("outbound:\n  allow: []\n", "firebreak.yaml").unwrap();
    assert_eq!(config.outbound, Outbound::default());
}

#[test]
fn the_allow_variable_takes_comma_separated_networks() {
    assert_eq!(
        parse_allow_env("10.0.0.0/8, 192.168.1.20 ,fd00::/8,"),
        Ok(nets(&["10.0.0.0/8", "192.168.1.20/32", "fd00::/8"]))
    );
    assert_eq!(parse_allow_env(""), Ok(vec![]));
    assert_eq!(parse_allow_env(" , "), Ok(vec![]));
    let e = parse_allow_env("10.0.0.0/8, 10.0.0.0/33").unwrap_err();
    assert_eq!(
        e,
        "FIREBREAK_OUTBOUND_ALLOW, entry 2: invalid network \"10.0.0.0/33\"; the prefix after / \
         must be a number from 0 to 32 for an IPv4 address"
    );
    let e = parse_allow_env("10.0.0.0/8;192.168.0.0/16").unwrap_err();
    assert!(
        e.starts_with(
            "FIREBREAK_OUTBOUND_ALLOW, entry 1: invalid network \"10.0.0.0/8;192.168.0.0/16\""
        ),
        "{e}"
    );
    assert!(e.ends_with("; separate entries with commas"), "{e}");
    let e = parse_allow_env("10.0.0.0/8, fd00::/8 192.168.0.1").unwrap_err();
    assert!(
        e.starts_with(
            "FIREBREAK_OUTBOUND_ALLOW, entry 2: invalid network \"fd00::/8 192.168.0.1\""
        ),
        "{e}"
    );
}

#[test]
fn integration_keys_can_come_from_the_environment() {
    let source = "\
services:
  - name: checkout
    integrations:
      - name: prometheus
        key: {env: CHECKOUT_PROMETHEUS_KEY}
      - name: grafana
        key:
          env: CHECKOUT_GRAFANA_KEY
";
    let env = |name: &str| match name {
        "CHECKOUT_PROMETHEUS_KEY" => Some("R0UT1NGKEY0000000000000000000001".to_string()),
        // A trailing newline, as a key read from a secret file often has.
        "CHECKOUT_GRAFANA_KEY" => Some("R0UT1NGKEY0000000000000000000002\n".to_string()),
        _ => None,
    };
    let config = parse_with_env(source, "firebreak.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.services[0].integrations,
        [
            IntegrationSpec {
                name: "prometheus".into(),
                key: "R0UT1NGKEY0000000000000000000001".into(),
                key_env: Some("CHECKOUT_PROMETHEUS_KEY".into()),
            },
            IntegrationSpec {
                name: "grafana".into(),
                key: "R0UT1NGKEY0000000000000000000002".into(),
                key_env: Some("CHECKOUT_GRAFANA_KEY".into()),
            },
        ]
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let key = "R0UT1NGKEYsecretSECRETsecret0001";
    let source = format!(
        "services:\n  - name: checkout\n    integrations:\n      - name: prometheus\n        key: {key}\n"
    );
    let mut config = parse(&source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    config.email.smtp_url = Some("smtp://firebreak:secret@127.0.0.1:2525".into());
    let spec = &config.services[0].integrations[0];
    assert_eq!(spec.key, key);
    for shown in [
        format!("{spec:?}"),
        format!("{spec:#?}"),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!shown.contains(key), "{shown}");
        // The only "secret" is the name of the field that says where actions' secrets are.
        let without_field = shown.replace("secrets: Secrets", "");
        assert!(!without_field.contains("secret"), "{shown}");
    }
}

#[test]
fn the_shipped_example_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/firebreak.yaml");
    let source = std::fs::read_to_string(&path).unwrap();
    let env = |name: &str| match name {
        "FIREBREAK_KEY_SEARCH_API_GRAFANA" => Some("EXAMPLEKEYsearchApiGrafana000003".to_string()),
        "FIREBREAK_CHANNEL_INCIDENTS_URL" => {
            Some("https://hooks.slack.com/services/T000/B000/XXXX".to_string())
        }
        "FIREBREAK_OIDC_CLIENT_SECRET" => Some("example-oidc-client-secret".to_string()),
        _ => None,
    };
    let config = parse_with_env(&source, "firebreak.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.severity_names(), "SEV1, SEV2, SEV3");
    assert_eq!(
        config.severity("SEV3").unwrap().respond_within,
        ResponseTarget::NextBusinessDay
    );
    assert!(!config.severity("SEV3").unwrap().requires_commander);
    assert!(config.severity("SEV2").unwrap().requires_commander);
    assert_eq!(config.role("IC").unwrap().key, "incident-commander");
    assert_eq!(config.role("ops-lead").unwrap().name, "Operations Lead");
    assert_eq!(config.checklist_for("SEV1").len(), 10);
    assert_eq!(config.checklist_for("SEV2").len(), 7);
    assert_eq!(config.services.len(), 3);
    assert_eq!(config.users.len(), 3);
    assert_eq!(config.users[2].name, "Chandra S.");

    let checkout = &config.services[0];
    assert_eq!(
        checkout.integrations,
        [
            IntegrationSpec {
                name: "prometheus".into(),
                key: "EXAMPLEKEYcheckoutPrometheus0001".into(),
                key_env: None,
            },
            IntegrationSpec {
                name: "stripe-status".into(),
                key: "EXAMPLEKEYcheckoutStripe00000002".into(),
                key_env: None,
            },
        ]
    );
    assert_eq!(
        checkout.grouping,
        Grouping {
            window: Some(SignedDuration::from_mins(30)),
            declare: vec![DeclareRule {
                matchers: matchers(&[r#"severity="critical""#]),
                severity: "SEV2".into(),
                title: Some("Checkout: {summary}".into()),
            }],
        }
    );
    let search = &config.services[1];
    assert_eq!(
        search.integrations,
        [IntegrationSpec {
            name: "grafana".into(),
            key: "EXAMPLEKEYsearchApiGrafana000003".into(),
            key_env: Some("FIREBREAK_KEY_SEARCH_API_GRAFANA".into()),
        }]
    );
    assert_eq!(
        search.grouping,
        Grouping {
            window: None,
            declare: vec![DeclareRule {
                matchers: matchers(&[r#"severity="critical""#, r#"env="prod""#]),
                severity: "SEV1".into(),
                title: None,
            }],
        }
    );
    assert_eq!(config.services[2].integrations, []);

    assert_eq!(
        config.alerting,
        Alerting {
            rate_limit_per_second: 100,
            rate_limit_burst: 500,
            suspect_window: SignedDuration::from_hours(2),
            routes: vec![
                Route {
                    matchers: matchers(&[r#"env=~"dev|staging""#]),
                    service: None,
                    severity: None,
                    urgency: None,
                    drop: true,
                },
                Route {
                    matchers: matchers(&[r#"team="payments""#, r#"severity=~"critical|error""#]),
                    service: Some(Name::parse("checkout").unwrap()),
                    severity: None,
                    urgency: Some(Urgency::High),
                    drop: false,
                },
                Route {
                    matchers: matchers(&[r#"alertname="DiskAlmostFull""#]),
                    service: None,
                    severity: Some(AlertSeverity::Warning),
                    urgency: Some(Urgency::Low),
                    drop: false,
                },
            ],
        }
    );
    assert_eq!(
        config.outbound,
        Outbound {
            allow: nets(&["10.0.0.0/8", "192.168.1.20/32", "fd00::/8"]),
            retry: OutboundRetry::default(),
        }
    );

    assert_eq!(checkout.escalation_policy, Some(name("payments")));
    assert_eq!(checkout.manager, Some(name("alice")));
    assert_eq!(search.escalation_policy, None);
    let policies: Vec<&str> = config
        .escalation_policies
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(policies, ["payments", "everyone"]);
    let payments = config.escalation_policy(&name("payments")).unwrap();
    assert_eq!(payments.repeat, 2);
    assert_eq!(payments.schedules(), [&name("primary")]);
    assert_eq!(payments.users(), [&name("alice"), &name("bob")]);
    assert_eq!(config.paging.default_policy, Some(name("everyone")));
    assert_eq!(
        config.paging.retry.map(|r| r.give_up_after),
        Some(SignedDuration::from_hours(1))
    );
    assert_eq!(
        config.server.public_url.as_deref(),
        Some("https://firebreak.example.com")
    );
    assert_eq!(
        config.email.from.as_deref(),
        Some("Firebreak <firebreak@example.com>")
    );

    let page = &config.status_page;
    assert_eq!(page.title, "Example Status");
    assert_eq!(page.time_zone, "Europe/Berlin");
    assert_eq!(page.listen.as_deref(), Some("0.0.0.0:8081"));
    let components: Vec<(&str, Option<&str>)> = page
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.group.as_deref()))
        .collect();
    assert_eq!(
        components,
        [
            ("Checkout", Some("Shop")),
            ("Search", Some("Shop")),
            ("Notifications", None)
        ]
    );
    assert_eq!(page.components[1].services, [name("search-api")]);
    assert!(
        page.template(PublicStatus::Resolved)
            .starts_with("The problems with {components} are resolved.")
    );
    assert_eq!(
        config.public_effect("SEV2"),
        Some(SeverityEffect {
            component_status: ComponentStatus::DegradedPerformance,
            impact: Impact::Major,
        })
    );
    assert_eq!(config.severity("SEV3").unwrap().public, None);

    // SEV1 says until when; SEV2 and SEV3 keep the defaults for their ranks.
    assert_eq!(
        config.severity("SEV1").unwrap().freeze,
        Some(FreezePolicy {
            scope: FreezeScope::Services,
            until: FreezeUntil::Resolved,
        })
    );
    assert_eq!(config.severity("SEV2").unwrap().freeze, None);
    assert_eq!(config.freeze_policy("SEV3").scope, FreezeScope::None);

    let runbook = config.runbook("checkout-errors").unwrap();
    assert_eq!(runbook.services, [name("checkout")]);
    assert_eq!(
        runbook.matchers,
        matchers(&[r#"alertname="HighErrorRate""#])
    );
    assert!(runbook.body.starts_with("1. Check the error rate panel"));
    assert!(
        runbook.body.ends_with("status page.\n"),
        "{:?}",
        runbook.body
    );
    let rollback = runbook.action("rollback").unwrap();
    assert_eq!(
        rollback.kind,
        ActionKind::Command {
            run: strings(&[
                "kubectl",
                "rollout",
                "undo",
                "deployment/{service}",
                "-n",
                "{namespace}"
            ]),
            cwd: Some("/srv/ops".into()),
            env: BTreeMap::from([("KUBECONFIG".to_string(), Value::Secret(name("kubeconfig")))]),
        }
    );
    assert!(rollback.params["namespace"].accepts("payments-prod"));
    assert!(rollback.approval);
    let api = runbook.action("rollback-via-deploy-api").unwrap();
    assert_eq!(api.role, AccessRole::Admin);
    assert_eq!(api.timeout, DEFAULT_TIMEOUT);
    let ActionKind::Http { body, .. } = &api.kind else {
        panic!("{api:?}")
    };
    assert_eq!(
        body.as_deref(),
        Some(r#"{"service": "{service}", "to": "{previous_version}"}"#)
    );
    assert_eq!(
        config.break_glass,
        BreakGlassPolicy {
            max: SignedDuration::from_mins(30),
            approval: true,
        }
    );
    assert_eq!(
        config.secrets.file.as_deref(),
        Some("/etc/firebreak/secrets.yaml")
    );
}

#[test]
fn load_reads_files_and_reports_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("firebreak.yaml");
    std::fs::write(&path, "users:\n  - handle: alice\n").unwrap();
    assert_eq!(load(&path).unwrap().users[0].handle.as_str(), "alice");

    let missing = dir.path().join("nope.yaml");
    let errors = load(&missing).unwrap_err();
    assert_eq!(errors.len(), 1);
    let text = errors.to_string();
    assert!(text.starts_with(&missing.display().to_string()), "{text}");
    assert!(
        text.contains("cannot read the configuration file"),
        "{text}"
    );
}

/// The paging sections, with every reference written before what it names: services before
/// users, schedules and policies, `paging` before `escalation_policies`.
const PAGING: &str = "\
services:
  - name: checkout
    escalation_policy: ops
    manager: carol
  - name: search
paging:
  default_policy: ops
  retry: {first_delay: 2s, max_delay: 5m, give_up_after: 24h}
  attempt_timeout: 3s
  ack_link_ttl: 30d
server: {public_url: https://firebreak.example.com/}
email: {smtp_url: \"smtp://127.0.0.1:2525\", from: \"Firebreak <firebreak@example.com>\"}
escalation_policies:
  - name: ops
    repeat: 2
    steps:
      - delay: 5m
        targets: [{user: alice}, {schedule: primary}]
      - delay: 3s
        targets:
          - schedule: secondary
  - name: quiet
    steps:
      - delay: 24h
        targets: [{user: carol}]
users:
  - handle: alice
  - handle: carol
schedules:
  - name: primary
    time_zone: UTC
    layers:
      - name: week
        members: [alice]
        rotation: {every: 1w, start: \"2026-03-23T09:00\"}
  - name: secondary
    time_zone: UTC
    layers:
      - name: week
        members: [carol]
        rotation: {every: 1w, start: \"2026-03-23T09:00\"}
";

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn schedule(schedule: &str, member: &str) -> Schedule {
    let layer = Layer {
        name: "week".into(),
        members: vec![name(member)],
        rotation: Rotation {
            every: Every::parse("1w").unwrap(),
            start: parse_local_start("2026-03-23T09:00").unwrap(),
        },
        restrict: vec![],
    };
    Schedule::new(name(schedule), "UTC", vec![layer]).unwrap()
}

fn service(service: &str, policy: Option<&str>, manager: Option<&str>) -> Service {
    Service {
        name: name(service),
        description: String::new(),
        team: None,
        runbook: None,
        integrations: vec![],
        grouping: Grouping::default(),
        escalation_policy: policy.map(name),
        manager: manager.map(name),
    }
}

fn user(handle: &str) -> User {
    User {
        handle: name(handle),
        name: handle.into(),
        email: None,
        time_zone: None,
    }
}

#[test]
fn paging_sections_read_into_the_expected_config() {
    let config = parse(PAGING, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let step = |secs: i64, targets: Vec<Target>| Step {
        delay: SignedDuration::from_secs(secs),
        targets,
    };
    let expected = Config {
        services: vec![
            service("checkout", Some("ops"), Some("carol")),
            service("search", None, None),
        ],
        users: vec![user("alice"), user("carol")],
        schedules: vec![schedule("primary", "alice"), schedule("secondary", "carol")],
        escalation_policies: vec![
            Policy::new(
                name("ops"),
                2,
                vec![
                    step(
                        300,
                        vec![
                            Target::User(name("alice")),
                            Target::Schedule(name("primary")),
                        ],
                    ),
                    step(3, vec![Target::Schedule(name("secondary"))]),
                ],
            )
            .unwrap(),
            Policy::new(
                name("quiet"),
                0,
                vec![step(86_400, vec![Target::User(name("carol"))])],
            )
            .unwrap(),
        ],
        paging: Paging {
            default_policy: Some(name("ops")),
            retry: Some(OutboundRetry {
                first_delay: SignedDuration::from_secs(2),
                max_delay: SignedDuration::from_mins(5),
                give_up_after: SignedDuration::from_hours(24),
            }),
            attempt_timeout: SignedDuration::from_secs(3),
            ack_link_ttl: SignedDuration::from_hours(30 * 24),
        },
        // The trailing slash is removed.
        server: Server {
            public_url: Some("https://firebreak.example.com".into()),
            tls: None,
            trusted_proxies: Vec::new(),
        },
        email: Email {
            smtp_url: Some("smtp://127.0.0.1:2525".into()),
            from: Some("Firebreak <firebreak@example.com>".into()),
        },
        ..Config::default()
    };
    assert_eq!(config, expected);
}

#[test]
fn paging_keys_left_out_keep_their_defaults() {
    let config = parse("paging:\n  attempt_timeout: 5m\n", "firebreak.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.paging,
        Paging {
            attempt_timeout: SignedDuration::from_mins(5),
            ..Paging::default()
        }
    );
    // A retry with some keys takes the others from the defaults, as outbound.retry does.
    let config = parse("paging:\n  retry: {max_delay: 1h}\n", "firebreak.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.paging.retry,
        Some(OutboundRetry {
            max_delay: SignedDuration::from_hours(1),
            ..OutboundRetry::default()
        })
    );
    let config = parse(
        "paging: {}\nserver: {}\nemail: {from: firebreak@example.com}\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.paging, Paging::default());
    assert_eq!(config.server, Server::default());
    assert_eq!(config.email.smtp_url, None);
    assert_eq!(config.email.from.as_deref(), Some("firebreak@example.com"));
}

#[test]
fn the_smtp_url_can_come_from_the_environment() {
    let url = "smtp://firebreak:hunter2@mail.example.com:587?tls=required";
    let env = |n: &str| (n == "MAIL_URL").then(|| format!("{url}\n"));
    let source = "email:\n  smtp_url: {env: MAIL_URL}\n  from: firebreak@example.com\n";
    let config = parse_with_env(source, "firebreak.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.email.smtp_url.as_deref(), Some(url));
    for shown in [format!("{config:?}"), format!("{:?}", config.email)] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[test]
fn the_environment_overrides_the_file() {
    let mut config = parse(PAGING, "firebreak.yaml").unwrap();
    config.outbound.allow = nets(&["10.0.0.0/8"]);
    let env = env_of(&[
        ("FIREBREAK_PUBLIC_URL", " https://incidents.example.com/ \n"),
        ("FIREBREAK_SMTP_URL", "smtps://u:hunter2@mail.example.com\n"),
        (
            "FIREBREAK_EMAIL_FROM",
            "\"Firebreak, on call\" <oncall@example.com>",
        ),
        ("FIREBREAK_OUTBOUND_ALLOW", "10.0.0.0/8, 192.168.1.20"),
    ]);
    apply_env(&mut config, &env).unwrap();
    assert_eq!(
        config.server.public_url.as_deref(),
        Some("https://incidents.example.com")
    );
    assert_eq!(
        config.email,
        Email {
            smtp_url: Some("smtps://u:hunter2@mail.example.com".into()),
            from: Some("\"Firebreak, on call\" <oncall@example.com>".into()),
        }
    );
    // Networks are added, once.
    assert_eq!(
        config.outbound.allow,
        nets(&["10.0.0.0/8", "192.168.1.20/32"])
    );

    // Unset and blank variables change nothing.
    let before = parse(PAGING, "firebreak.yaml").unwrap();
    let mut config = before.clone();
    apply_env(&mut config, &env_of(&[("FIREBREAK_PUBLIC_URL", "  ")])).unwrap();
    assert_eq!(config, before);
    // They apply to the defaults too, when there is no file.
    let mut config = Config::default();
    apply_env(
        &mut config,
        &env_of(&[("FIREBREAK_PUBLIC_URL", "http://localhost:8080")]),
    )
    .unwrap();
    assert_eq!(
        config.server.public_url.as_deref(),
        Some("http://localhost:8080")
    );
}

#[test]
fn invalid_environment_values_are_errors_naming_the_variable() {
    let before = parse(PAGING, "firebreak.yaml").unwrap();
    let mut config = before.clone();
    let e = apply_env(
        &mut config,
        &env_of(&[
            ("FIREBREAK_PUBLIC_URL", "firebreak.example.com"),
            ("FIREBREAK_SMTP_URL", "https://u:hunter2@mail.example.com"),
            ("FIREBREAK_EMAIL_FROM", "Firebreak"),
            ("FIREBREAK_OUTBOUND_ALLOW", "10.0.0.0/33"),
        ]),
    )
    .unwrap_err();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 4, "{e}");
    assert!(
        lines[0].starts_with("FIREBREAK_OUTBOUND_ALLOW, entry 1: invalid network"),
        "{e}"
    );
    assert!(
        lines[1].starts_with(
            "FIREBREAK_PUBLIC_URL: invalid public URL \"firebreak.example.com\": it has no scheme"
        ),
        "{e}"
    );
    assert!(
        lines[2].starts_with(
            "FIREBREAK_SMTP_URL: invalid SMTP URL (not shown: it may hold a password): the \
             scheme is https, not smtp or smtps"
        ),
        "{e}"
    );
    assert!(
        lines[3].starts_with("FIREBREAK_EMAIL_FROM: invalid sender \"Firebreak\""),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    // Nothing was applied.
    assert_eq!(config, before);

    // An SMTP URL needs a sender, from the file or the environment.
    let mut config = Config::default();
    let e = apply_env(
        &mut config,
        &env_of(&[("FIREBREAK_SMTP_URL", "smtp://127.0.0.1:2525")]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        "FIREBREAK_SMTP_URL is set but no sender is: set FIREBREAK_EMAIL_FROM, or email.from in \
         the configuration file, to a mailbox like Firebreak <firebreak@example.com>"
    );
    assert_eq!(config, Config::default());
    apply_env(
        &mut config,
        &env_of(&[
            ("FIREBREAK_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("FIREBREAK_EMAIL_FROM", "firebreak@example.com"),
        ]),
    )
    .unwrap();
    assert_eq!(config.email.from.as_deref(), Some("firebreak@example.com"));
}

/// A status page with every key, and severities that say what their public incidents show.
const STATUS_PAGE: &str = "\
severities:
  - name: SEV1
    respond_within: 5m
    page: [on-call]
    status_page: {component_status: major_outage, impact: critical}
  - name: SEV2
    respond_within: 15m
    status_page:
      component_status: under_maintenance
      impact: none
  - name: SEV3
    respond_within: next business day
services:
  - name: checkout
  - name: search
status_page:
  title: Example Status
  time_zone: Europe/Berlin
  listen: '[::]:8081'
  url: https://status.example.com/
  logo_url: https://example.com/logo.png?v=2
  site_url: https://example.com
  components:
    - name: Checkout
      description: POST /v1/checkout
      group: Shop
      services: [checkout]
    - name: Search & Browse
      group: Shop
      services: [search, checkout]
    - name: checkout
    - name: API
      description: ''
      services: []
  templates:
    resolved: '{components} are working normally again.'
    investigating: We are looking into problems with {components}.
    monitoring:
";

#[test]
fn the_status_page_reads_into_the_expected_model() {
    let config = parse(STATUS_PAGE, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let component = |n: &str, description: Option<&str>, group: Option<&str>, services: &[&str]| {
        ComponentSpec {
            name: n.into(),
            description: description.map(String::from),
            group: group.map(String::from),
            services: services.iter().map(|s| name(s)).collect(),
        }
    };
    assert_eq!(
        config.status_page,
        StatusPage {
            title: "Example Status".into(),
            time_zone: "Europe/Berlin".into(),
            listen: Some("[::]:8081".into()),
            // Without its trailing slash, as server.public_url.
            url: Some("https://status.example.com".into()),
            logo_url: Some("https://example.com/logo.png?v=2".into()),
            site_url: Some("https://example.com".into()),
            components: vec![
                component(
                    "Checkout",
                    Some("POST /v1/checkout"),
                    Some("Shop"),
                    &["checkout"]
                ),
                component(
                    "Search & Browse",
                    None,
                    Some("Shop"),
                    &["search", "checkout"]
                ),
                // Names are case-sensitive: this is not Checkout.
                component("checkout", None, None, &[]),
                component("API", Some(""), None, &[]),
            ],
            // In status order; `monitoring:` with nothing is left out, like any null.
            templates: vec![
                (
                    PublicStatus::Investigating,
                    "We are looking into problems with {components}.".into()
                ),
                (
                    PublicStatus::Resolved,
                    "{components} are working normally again.".into()
                ),
            ],
        }
    );
    let effects: Vec<Option<SeverityEffect>> =
        config.severities.iter().map(|s| s.public.clone()).collect();
    assert_eq!(
        effects,
        [
            Some(SeverityEffect {
                component_status: ComponentStatus::MajorOutage,
                impact: Impact::Critical,
            }),
            Some(SeverityEffect {
                component_status: ComponentStatus::UnderMaintenance,
                impact: Impact::None,
            }),
            None,
        ]
    );
    // A severity without one takes the default for its rank.
    assert_eq!(
        config.public_effect("SEV3").map(|e| e.component_status),
        Some(ComponentStatus::DegradedPerformance)
    );
    assert_eq!(
        config.status_page.template(PublicStatus::Monitoring),
        firebreak_domain::status_page::default_template(PublicStatus::Monitoring)
    );
}

#[test]
fn status_page_keys_left_out_keep_their_defaults() {
    for source in [
        "status_page:\n",
        "status_page: {}\n",
        "status_page: {components: [], templates: {}}\n",
    ] {
        let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(config.status_page, StatusPage::default(), "{source}");
    }
    let config = parse("status_page:\n  title: Acme Status\n", "firebreak.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.status_page,
        StatusPage {
            title: "Acme Status".into(),
            ..StatusPage::default()
        }
    );
    assert_eq!(config.status_page.time_zone, "UTC");
    // Components may come before the services they name.
    let config = parse(
        "status_page:\n  components:\n    - {name: Checkout, services: [checkout]}\nservices:\n  - name: checkout\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.status_page.components[0].services,
        [name("checkout")]
    );
}

/// Chat channels with every key, one URL from the environment, and severities and services
/// declared in the file.
const COMMS: &str = "\
severities:
  - name: SEV1
    respond_within: 5m
  - name: SEV2
    respond_within: 15m
  - name: P3
    respond_within: next business day
services:
  - name: checkout
  - name: search-api
comms:
  channels:
    - name: incidents
      type: slack
      url: \"https://hooks.slack.com/services/T000/B000/XXXX\"
      severities: [SEV1, sev2]
      services: [checkout]
    - name: search_team-2
      type: mattermost
      url: {env: SEARCH_HOOK}
      services: [search-api, checkout]
    - name: everything
      type: teams
      url:
        env: TEAMS_HOOK
      severities: [p3]
      services: []
";

const TEAMS_HOOK: &str = "https://prod-01.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s3cr3t";

fn channel(
    channel: &str,
    kind: ChannelKind,
    url: &str,
    url_env: Option<&str>,
    severities: &[&str],
    services: &[&str],
) -> Channel {
    Channel {
        name: channel.into(),
        kind,
        url: url.into(),
        url_env: url_env.map(String::from),
        services: services.iter().map(|s| name(s)).collect(),
        severities: severities.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn comms_reads_into_the_expected_model() {
    let env = env_of(&[
        // A trailing newline, as a URL read from a secret file often has.
        (
            "SEARCH_HOOK",
            "http://mattermost.internal:8065/hooks/abc123\n",
        ),
        ("TEAMS_HOOK", TEAMS_HOOK),
    ]);
    let config = parse_with_env(COMMS, "firebreak.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.comms,
        Comms {
            channels: vec![
                // Severities as the file's severities spell them.
                channel(
                    "incidents",
                    ChannelKind::Slack,
                    "https://hooks.slack.com/services/T000/B000/XXXX",
                    None,
                    &["SEV1", "SEV2"],
                    &["checkout"],
                ),
                channel(
                    "search_team-2",
                    ChannelKind::Mattermost,
                    "http://mattermost.internal:8065/hooks/abc123",
                    Some("SEARCH_HOOK"),
                    &[],
                    &["search-api", "checkout"],
                ),
                channel(
                    "everything",
                    ChannelKind::Teams,
                    TEAMS_HOOK,
                    Some("TEAMS_HOOK"),
                    &["P3"],
                    &[],
                ),
            ],
            stakeholders: vec![],
        }
    );
    // The URLs are secrets: debug output masks them.
    let shown = format!("{config:?}");
    for secret in ["XXXX/", "B000", "abc123", "s3cr3t"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn channels_name_the_default_severities_when_the_file_has_none() {
    let source = "\
comms:
  channels:
    - name: incidents
      type: slack
      url: https://hooks.slack.com/services/T000/B000/XXXX
      severities: [sev1, SEV3]
";
    let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.comms.channels[0].severities, ["SEV1", "SEV3"]);
    assert!(config.comms.channels[0].services.is_empty());
}

#[test]
fn comms_left_out_or_empty_has_no_channels() {
    for source in [
        "comms:\n",
        "comms: {}\n",
        "comms: {channels: []}\n",
        "comms:\n  channels:\n",
    ] {
        let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(config.comms, Comms::default(), "{source}");
    }
    assert_eq!(
        parse("services: []\n", "firebreak.yaml").unwrap().comms,
        Comms::default()
    );
}

/// The shipped example with its `comms` section, which it shows commented out, in use.
fn example_with_comms() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/firebreak.yaml");
    let source = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in source.lines() {
        inside = line == "# comms:" || (inside && line.starts_with("#   "));
        out.push_str(if inside { &line[2..] } else { line });
        out.push('\n');
    }
    assert!(out.contains("\ncomms:\n  channels:\n"), "{out}");
    out
}

#[test]
fn the_shipped_examples_comms_section_reads_once_uncommented() {
    let url = "https://hooks.slack.com/services/T000/B000/XXXX";
    let vars = [
        (
            "FIREBREAK_KEY_SEARCH_API_GRAFANA",
            "EXAMPLEKEYsearchApiGrafana000003",
        ),
        ("FIREBREAK_CHANNEL_INCIDENTS_URL", url),
        ("FIREBREAK_OIDC_CLIENT_SECRET", "example-oidc-client-secret"),
    ];
    let env = env_of(&vars);
    let config = parse_with_env(&example_with_comms(), "firebreak.yaml", &env)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.comms.channels,
        [channel(
            "incidents",
            ChannelKind::Slack,
            url,
            Some("FIREBREAK_CHANNEL_INCIDENTS_URL"),
            &["SEV1", "SEV2"],
            &["checkout"],
        )]
    );
    // Without the variable, the error names it.
    let env = env_of(&[(
        "FIREBREAK_KEY_SEARCH_API_GRAFANA",
        "EXAMPLEKEYsearchApiGrafana000003",
    )]);
    let e = parse_with_env(&example_with_comms(), "firebreak.yaml", &env).unwrap_err();
    assert!(
        e.to_string()
            .contains("comms.channels[0].url.env: environment variable FIREBREAK_CHANNEL_INCIDENTS_URL is not set"),
        "{e}"
    );
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| t.to_string()).collect()
}

/// Each severity says what its open incidents freeze in another way: both keys, one, or none.
const FREEZE: &str = "\
severities:
  - name: SEV1
    respond_within: 5m
    freeze: all
    freeze_until: resolved
  - name: SEV2
    respond_within: 15m
    freeze_until: resolved
  - name: SEV3
    respond_within: 1h
    freeze: services
  - name: SEV4
    respond_within: 1h
  - name: SEV5
    respond_within: 1h
    freeze: none
    freeze_until:
";

#[test]
fn freeze_policies_take_the_half_left_out_from_the_default_for_the_rank() {
    let config = parse(FREEZE, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let policy = |scope, until| Some(FreezePolicy { scope, until });
    let freezes: Vec<Option<FreezePolicy>> = config.severities.iter().map(|s| s.freeze).collect();
    assert_eq!(
        freezes,
        [
            policy(FreezeScope::All, FreezeUntil::Resolved),
            // Rank 1 freezes its services by default.
            policy(FreezeScope::Services, FreezeUntil::Resolved),
            // Rank 2 and below freeze nothing by default, until mitigated.
            policy(FreezeScope::Services, FreezeUntil::Mitigated),
            None,
            // freeze_until: with nothing is left out, like any null.
            policy(FreezeScope::None, FreezeUntil::Mitigated),
        ]
    );
    assert_eq!(config.freeze_policy("SEV4").scope, FreezeScope::None);
    assert_eq!(config.freeze_policy("sev3").scope, FreezeScope::Services);
}

/// Runbooks with every key, a command and an http action, and placeholders both built in and
/// declared.
const RUNBOOKS: &str = r#"
services:
  - name: checkout
  - name: search
runbooks:
  - name: checkout-errors
    services: [checkout, search]
    match: ['alertname="HighErrorRate"', 'env!="dev"']
    body: |
      1. Check the error rate panel.
      2. Roll back if a deploy is suspect.
    url: https://wiki.example.com/checkout
    actions:
      - name: rollback
        description: Roll back the last deploy
        kind: command
        run: [kubectl, rollout, undo, "deployment/{service}", -n, "{namespace}", "--selector={\"app\": 1}"]
        cwd: /srv/ops
        env: {KUBECONFIG: {secret: kubeconfig}, MODE: fast, EMPTY: ''}
        params: {namespace: "^[a-z0-9-]{1,63}$", region: 'eu|us'}
        timeout: 2m
        role: responder
        approval: true
        approval_within: 1h30m
      - name: restart-via-deploy-api
        kind: http
        method: PUT
        url: https://deploy.example.com/api/{service}/rollback?incident={incident}
        headers:
          Authorization: {secret: deploy_token}
          X-Requested-By: firebreak
        body: '{"service": "{service}", "to": "{previous_version}", "from": "{version}"}'
        timeout: 1h
        role: admin
        approval_within: 24h
  - name: search-slow
    services: [search]
    url: https://wiki.example.com/search
"#;

#[test]
fn runbooks_read_into_the_expected_model() {
    let config = parse(RUNBOOKS, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let params = |pairs: &[(&str, &str)]| -> BTreeMap<String, Param> {
        pairs
            .iter()
            .map(|(k, p)| (k.to_string(), Param::new(p).unwrap()))
            .collect()
    };
    let settings = |pairs: &[(&str, Value)]| -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    assert_eq!(
        config.runbooks,
        [
            Runbook {
                name: name("checkout-errors"),
                services: vec![name("checkout"), name("search")],
                matchers: matchers(&[r#"alertname="HighErrorRate""#, r#"env!="dev""#]),
                body: "1. Check the error rate panel.\n2. Roll back if a deploy is suspect.\n"
                    .into(),
                url: Some("https://wiki.example.com/checkout".into()),
                actions: vec![
                    Action {
                        name: name("rollback"),
                        description: "Roll back the last deploy".into(),
                        kind: ActionKind::Command {
                            run: strings(&[
                                "kubectl",
                                "rollout",
                                "undo",
                                "deployment/{service}",
                                "-n",
                                "{namespace}",
                                "--selector={\"app\": 1}",
                            ]),
                            cwd: Some("/srv/ops".into()),
                            env: settings(&[
                                ("KUBECONFIG", Value::Secret(name("kubeconfig"))),
                                ("MODE", Value::Text("fast".into())),
                                ("EMPTY", Value::Text(String::new())),
                            ]),
                        },
                        params: params(&[("namespace", "^[a-z0-9-]{1,63}$"), ("region", "eu|us")]),
                        timeout: SignedDuration::from_mins(2),
                        role: AccessRole::Responder,
                        approval: true,
                        approval_within: SignedDuration::from_mins(90),
                    },
                    Action {
                        name: name("restart-via-deploy-api"),
                        description: String::new(),
                        kind: ActionKind::Http {
                            method: "PUT".into(),
                            url: "https://deploy.example.com/api/{service}/rollback?incident={incident}"
                                .into(),
                            headers: settings(&[
                                ("Authorization", Value::Secret(name("deploy_token"))),
                                ("X-Requested-By", Value::Text("firebreak".into())),
                            ]),
                            body: Some(
                                r#"{"service": "{service}", "to": "{previous_version}", "from": "{version}"}"#
                                    .into()
                            ),
                        },
                        params: BTreeMap::new(),
                        timeout: SignedDuration::from_hours(1),
                        role: AccessRole::Admin,
                        approval: false,
                        approval_within: SignedDuration::from_hours(24),
                    },
                ],
            },
            Runbook {
                name: name("search-slow"),
                services: vec![name("search")],
                matchers: vec![],
                body: String::new(),
                url: Some("https://wiki.example.com/search".into()),
                actions: vec![],
            },
        ]
    );
    // The patterns are anchored whether or not they say so.
    let rollback = config.runbooks[0].action("rollback").unwrap();
    assert!(rollback.params["region"].accepts("eu"));
    assert!(!rollback.params["region"].accepts("europe"));
    // Secrets are named, never held.
    let shown = format!("{config:?}");
    assert!(shown.contains("Secret(Name(\"deploy_token\"))"), "{shown}");
}

#[test]
fn runbook_keys_left_out_keep_their_defaults() {
    let source = "\
runbooks:
  - name: checkout
    services: [checkout]
    body: Restart it.
    actions:
      - name: restart
        kind: command
        run: [systemctl, restart, checkout]
      - name: ping
        kind: http
        url: https://deploy.example.com/ping
services:
  - name: checkout
";
    let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let runbook = &config.runbooks[0];
    assert_eq!(runbook.matchers, []);
    assert_eq!(runbook.body, "Restart it.");
    assert_eq!(runbook.url, None);
    let restart = &runbook.actions[0];
    assert_eq!(
        *restart,
        Action {
            name: name("restart"),
            description: String::new(),
            kind: ActionKind::Command {
                run: strings(&["systemctl", "restart", "checkout"]),
                cwd: None,
                env: BTreeMap::new(),
            },
            params: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            role: AccessRole::Responder,
            approval: false,
            approval_within: DEFAULT_APPROVAL_WITHIN,
        }
    );
    assert_eq!(
        runbook.actions[1].kind,
        ActionKind::Http {
            method: "POST".into(),
            url: "https://deploy.example.com/ping".into(),
            headers: BTreeMap::new(),
            body: None,
        }
    );
    for source in ["runbooks:\n", "runbooks: []\n"] {
        let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{source}: {e}"));
        assert!(config.runbooks.is_empty(), "{source}");
    }
}

#[test]
fn break_glass_and_secrets_read_into_the_expected_model() {
    let config = parse(
        "break_glass:\n  max: 1h30m\n  approval: true\nsecrets:\n  file: /etc/firebreak/secrets.yaml\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.break_glass,
        BreakGlassPolicy {
            max: SignedDuration::from_mins(90),
            approval: true,
        }
    );
    assert_eq!(
        config.secrets,
        Secrets {
            file: Some("/etc/firebreak/secrets.yaml".into()),
        }
    );
    // The limits are inclusive.
    for (max, expected) in [("1m", 1), ("24h", 24 * 60), ("1d", 24 * 60)] {
        let config = parse(&format!("break_glass: {{max: {max}}}\n"), "firebreak.yaml")
            .unwrap_or_else(|e| panic!("{max}: {e}"));
        assert_eq!(
            config.break_glass,
            BreakGlassPolicy {
                max: SignedDuration::from_mins(expected),
                approval: false,
            }
        );
    }
}

#[test]
fn break_glass_and_secrets_keys_left_out_keep_their_defaults() {
    for source in [
        "break_glass:\nsecrets:\n",
        "break_glass: {}\nsecrets: {}\n",
        "break_glass: {max: ~}\nsecrets: {file: ~}\n",
    ] {
        let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(config.break_glass, BreakGlassPolicy::default(), "{source}");
        assert_eq!(config.secrets, Secrets::default(), "{source}");
    }
    let config = parse("break_glass: {approval: true}\n", "firebreak.yaml").unwrap();
    assert_eq!(config.break_glass.max, SignedDuration::from_hours(1));
    assert!(config.break_glass.approval);
}

#[test]
fn the_metrics_listener_reads_into_the_config() {
    let config = parse("metrics:\n  listen: 127.0.0.1:9464\n", "firebreak.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.metrics.listen.as_deref(), Some("127.0.0.1:9464"));
    let config = parse("metrics:\n  listen: '[::1]:9464'\n", "firebreak.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.metrics.listen.as_deref(), Some("[::1]:9464"));
    // Left out, or null: served on the main listener only.
    for source in ["severities: null\n", "metrics:\n  listen: null\n"] {
        let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.metrics.listen, None);
    }
}

#[test]
fn the_reports_section_reads_into_the_config() {
    let config = parse(
        "reports:\n  threshold: 5\n  window: 15m\n  urgency: high\n  status_page_form: true\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.reports.threshold, 5);
    assert_eq!(config.reports.window, SignedDuration::from_mins(15));
    assert_eq!(config.reports.urgency, firebreak_domain::Urgency::High);
    assert!(config.reports.status_page_form);
    // Keys left out keep their defaults: 3 reports within 10m, at low urgency.
    let config = parse("reports:\n  window: 1h\n", "firebreak.yaml").unwrap();
    assert_eq!(config.reports.threshold, 3);
    assert_eq!(config.reports.window, SignedDuration::from_hours(1));
    assert_eq!(config.reports.urgency, firebreak_domain::Urgency::Low);
    for source in ["reports: null\n", "severities: null\n"] {
        let config = parse(source, "firebreak.yaml").unwrap();
        assert_eq!(
            config.reports,
            firebreak_domain::customer_report::ReportRule::default()
        );
    }
}

#[test]
fn the_review_section_reads_into_the_config() {
    let config = parse(
        "review:\n  remind_after: 3d\n  remind_severities: [sev1]\n  blameless:\n    \
         disable: [should-have, failed-to]\n    rules:\n      - id: rockstar\n        \
         pattern: '\\brockstar\\b'\n        reason: Credits one person.\n        \
         suggestion: Say what the team did.\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let review = &config.review;
    assert_eq!(review.remind_after, SignedDuration::from_hours(72));
    // Written as configured, whatever the case it was referred to in.
    assert_eq!(review.remind_severities, Some(vec!["SEV1".to_string()]));
    assert_eq!(review.blameless_disable, ["should-have", "failed-to"]);
    assert_eq!(
        review.blameless_rules,
        [firebreak_domain::blameless::ExtraRule {
            id: "rockstar".into(),
            pattern: r"\brockstar\b".into(),
            reason: "Credits one person.".into(),
            suggestion: "Say what the team did.".into(),
        }]
    );
    // A built-in rule disabled may be replaced by one of the team's, under its id.
    let config = parse(
        "review:\n  blameless:\n    disable: [fault]\n    rules:\n      - {id: fault, \
         pattern: blame, reason: r, suggestion: s}\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.review.blameless_rules[0].id, "fault");
    // No severities: no reminders.
    let config = parse("review:\n  remind_severities: []\n", "firebreak.yaml").unwrap();
    assert_eq!(config.review.remind_severities, Some(Vec::new()));
    // Left out, or null: the defaults.
    for source in [
        "severities: null\n",
        "review: null\n",
        "review:\n  remind_after: null\n  blameless: null\n",
    ] {
        let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.review,
            firebreak_domain::config::Review::default(),
            "{source}"
        );
        assert_eq!(config.review.remind_after, SignedDuration::from_hours(120));
        assert_eq!(config.review.remind_severities, None);
    }
}

/// The example file's commented-out `section` block, uncommented and read.
fn example_block(section: &str) -> Config {
    let example = include_str!("../examples/firebreak.yaml");
    let start = example
        .find(&format!("# {section}:"))
        .unwrap_or_else(|| panic!("the example has a {section} block"));
    let block: String = example[start..]
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or("")))
        .collect();
    parse(&block, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}\n{block}"))
}

#[test]
fn the_example_reports_block_reads_once_uncommented() {
    let config = example_block("reports");
    assert_eq!(
        config.reports,
        firebreak_domain::customer_report::ReportRule::default(),
        "the example shows the defaults"
    );
}

#[test]
fn the_example_review_block_reads_once_uncommented() {
    let config = example_block("review");
    assert_eq!(config.review.remind_after, SignedDuration::from_hours(120));
    assert_eq!(
        config.review.remind_severities,
        Some(vec!["SEV1".to_string(), "SEV2".to_string()])
    );
    assert_eq!(config.review.blameless_disable, ["should-have"]);
    assert_eq!(config.review.blameless_rules[0].id, "rockstar");
    assert_eq!(config.review.blameless_rules[0].pattern, r"\brockstar\b");
}
