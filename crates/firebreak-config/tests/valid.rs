//! Valid configuration files: a full file, the shipped example, empty files and `load`.

use firebreak_config::{load, parse, parse_allow_env, parse_with_env};
use firebreak_domain::alert::{AlertSeverity, Urgency};
use firebreak_domain::config::{
    Alerting, Checklist, Config, IntegrationSpec, Outbound, OutboundRetry, PageTarget,
    ResponseTarget, Role, Service, Severity, User,
};
use firebreak_domain::ids::Name;
use firebreak_domain::matcher::Matcher;
use firebreak_domain::rules::{DeclareRule, Grouping, Route};
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
            },
            Severity {
                name: "SEV2".into(),
                description: "Degraded".into(),
                respond_within: ResponseTarget::Within(SignedDuration::from_mins(90)),
                page: vec![PageTarget::OnCall],
                update_every: Some(SignedDuration::from_hours(2)),
                requires_commander: false,
            },
            Severity {
                name: "SEV3".into(),
                description: "Minor".into(),
                respond_within: ResponseTarget::NextBusinessDay,
                page: vec![],
                update_every: None,
                requires_commander: false,
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
    let config = parse(&source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let spec = &config.services[0].integrations[0];
    assert_eq!(spec.key, key);
    for shown in [
        format!("{spec:?}"),
        format!("{spec:#?}"),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!shown.contains(key), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}

#[test]
fn the_shipped_example_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/firebreak.yaml");
    let source = std::fs::read_to_string(&path).unwrap();
    let env = |name: &str| {
        (name == "FIREBREAK_KEY_SEARCH_API_GRAFANA")
            .then(|| "EXAMPLEKEYsearchApiGrafana000003".to_string())
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
