//! Valid configuration files: a full file, the shipped example, empty files and `load`.

use firebreak_config::{load, parse};
use firebreak_domain::alert::{AlertSeverity, Urgency};
use firebreak_domain::config::{
    Alerting, Checklist, Config, IntegrationSpec, PageTarget, ResponseTarget, Role, Service,
    Severity, User,
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
";

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
            },
            Service {
                name: Name::parse("search").unwrap(),
                description: String::new(),
                team: None,
                runbook: None,
                integrations: vec![],
                grouping: Grouping::default(),
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
fn the_shipped_example_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/firebreak.yaml");
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
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
            },
            IntegrationSpec {
                name: "stripe-status".into(),
                key: "EXAMPLEKEYcheckoutStripe00000002".into(),
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
    assert_eq!(search.integrations.len(), 1);
    assert_eq!(search.integrations[0].name, "grafana");
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
