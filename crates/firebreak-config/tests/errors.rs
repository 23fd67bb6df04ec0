//! Invalid configuration files: each kind of problem is reported with its line, column,
//! key path and a message saying what was expected, and all problems are reported together.

use firebreak_config::{ConfigError, ConfigErrors, parse};

fn errors(source: &str) -> ConfigErrors {
    match parse(source, "firebreak.yaml") {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(e) => e,
    }
}

/// Asserts there is exactly one error, at `line`:`column` under `path`, mentioning `needle`.
fn single(source: &str, line: u64, column: u64, path: &str, needle: &str) -> ConfigError {
    let errors = errors(source);
    assert_eq!(errors.len(), 1, "{errors}");
    let e = errors.errors()[0].clone();
    assert_eq!(
        (e.line, e.column, e.path.as_str()),
        (line, column, path),
        "{e}"
    );
    assert!(e.message.contains(needle), "{e}");
    assert_eq!(e.file, "firebreak.yaml");
    e
}

const SEVERITIES: &str = "\
severities:
  - name: SEV1
    description: Outage
    respond_within: 5m
    page: [on-call]
  - name: SEV2
    description: Degraded
    respond_within: 15m
    update_every: 5 mins
";

#[test]
fn invalid_duration_prints_file_line_column_key_and_expectation() {
    let e = single(
        SEVERITIES,
        9,
        19,
        "severities[1].update_every",
        "invalid duration",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:9:19: severities[1].update_every: invalid duration \"5 mins\"; \
         expected a duration like 90s, 15m, 2h or 1h30m"
    );
}

#[test]
fn invalid_response_target() {
    let source = "severities:\n  - name: SEV1\n    respond_within: soonish\n";
    single(
        source,
        3,
        21,
        "severities[0].respond_within",
        "next business day",
    );
}

#[test]
fn unknown_keys_at_every_level() {
    single(
        "severity:\n  - name: SEV1\n",
        1,
        1,
        "severity",
        "unknown key \"severity\"; expected one of severities",
    );
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    colour: red\n";
    single(
        source,
        4,
        5,
        "severities[0].colour",
        "expected one of name, description",
    );
    let source = "users:\n  - handle: alice\n    phone: 123\n";
    single(source, 3, 5, "users[0].phone", "unknown key \"phone\"");
}

#[test]
fn wrong_types() {
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    page: on-call\n";
    single(
        source,
        4,
        11,
        "severities[0].page",
        "expected a list like [on-call, manager], found text",
    );
    let source =
        "severities:\n  - name: SEV1\n    respond_within: 5m\n    requires_commander: maybe\n";
    single(
        source,
        4,
        25,
        "severities[0].requires_commander",
        "expected true or false",
    );
    single(
        "roles: Incident Commander\n",
        1,
        8,
        "roles",
        "expected a list, found text",
    );
    single(
        "services:\n  - checkout\n",
        2,
        5,
        "services[0]",
        "expected a service mapping",
    );
    let source = "checklists:\n  - name: x\n    severities: [SEV1]\n    items: [ok, [nested]]\n";
    single(
        source,
        4,
        17,
        "checklists[0].items[1]",
        "expected text, found a list",
    );
}

#[test]
fn empty_checklists_are_rejected_and_yaml_1_1_booleans_stay_text() {
    let source = "checklists:\n  - name: x\n    items: []\n";
    single(
        source,
        3,
        12,
        "checklists[0].items",
        "expected at least one checklist item",
    );
    let config = parse(
        "checklists:\n  - name: x\n    items: [no, y, on]\n",
        "f.yaml",
    )
    .unwrap();
    assert_eq!(config.checklists[0].items, ["no", "y", "on"]);
}

#[test]
fn missing_required_keys_point_at_the_mapping() {
    let source = "severities:\n  - description: no name\n    respond_within: 5m\n";
    single(
        source,
        2,
        5,
        "severities[0]",
        "missing required key \"name\"",
    );
}

#[test]
fn unknown_page_target() {
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    page: [on-call, boss]\n";
    single(
        source,
        4,
        21,
        "severities[0].page[1]",
        "unknown page target \"boss\"; expected on-call or manager",
    );
}

#[test]
fn duplicate_names_point_at_the_second_and_mention_the_first() {
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n  - name: sev1\n    respond_within: 15m\n";
    single(
        source,
        4,
        11,
        "severities[1].name",
        "duplicate severity name \"sev1\"; first defined on line 2",
    );

    let source = "roles:\n  - name: Scribe\n  - name: Note Taker\n    key: scribe\n";
    single(
        source,
        4,
        10,
        "roles[1].key",
        "duplicate role key \"scribe\"; first defined on line 2",
    );

    let source = "checklists:\n  - name: a\n    items: [x]\n  - name: a\n    items: [y]\n";
    single(
        source,
        4,
        11,
        "checklists[1].name",
        "duplicate checklist name \"a\"; first defined on line 2",
    );

    let source = "services:\n  - name: checkout\n  - name: search\n  - name: checkout\n";
    single(
        source,
        4,
        11,
        "services[2].name",
        "duplicate service name \"checkout\"; first defined on line 2",
    );

    let source = "users:\n  - handle: alice\n  - handle: alice\n    name: Other Alice\n";
    single(
        source,
        3,
        13,
        "users[1].handle",
        "duplicate user handle \"alice\"; first defined on line 2",
    );
}

#[test]
fn checklists_must_name_defined_severities() {
    let source = "checklists:\n  - name: x\n    severities: [SEV1, SEV9]\n    items: [a]\n";
    single(
        source,
        3,
        24,
        "checklists[0].severities[1]",
        "undefined severity \"SEV9\"; expected one of SEV1, SEV2, SEV3",
    );
    // Checked against the file's own severities when it defines them.
    let source = "severities:\n  - name: P1\n    respond_within: 5m\nchecklists:\n  - name: x\n    severities: [SEV1]\n    items: [a]\n";
    single(
        source,
        6,
        18,
        "checklists[0].severities[0]",
        "expected one of P1",
    );
}

#[test]
fn invalid_names() {
    single(
        "services:\n  - name: Checkout\n",
        2,
        11,
        "services[0].name",
        "not a valid name",
    );
    single(
        "users:\n  - handle: Alice Example\n",
        2,
        13,
        "users[0].handle",
        "not a valid name",
    );
    single(
        "roles:\n  - name: Lead\n    key: Lead Person\n",
        3,
        10,
        "roles[0].key",
        "invalid role key",
    );
}

#[test]
fn invalid_time_zone_and_email() {
    let source = "users:\n  - handle: alice\n    time_zone: Europe/Berlinn\n";
    single(
        source,
        3,
        16,
        "users[0].time_zone",
        "unknown time zone \"Europe/Berlinn\"",
    );
    let source = "users:\n  - handle: alice\n    email: alice.example.com\n";
    single(
        source,
        3,
        12,
        "users[0].email",
        "invalid email \"alice.example.com\"; expected an address like",
    );
}

#[test]
fn empty_severities_list() {
    single(
        "severities: []\n",
        1,
        13,
        "severities",
        "expected at least one severity",
    );
}

#[test]
fn runbook_must_be_an_http_url() {
    let source = "services:\n  - name: checkout\n    runbook: wiki/checkout\n";
    single(
        source,
        3,
        14,
        "services[0].runbook",
        "expected an http:// or https:// URL",
    );
    let source = "services:\n  - name: checkout\n    runbook: ftp://wiki.example.com/checkout\n";
    single(source, 3, 14, "services[0].runbook", "invalid runbook");
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let errors = errors("severities:\n  - name: SEV1\n   respond_within: [5m\n");
    assert_eq!(errors.len(), 1, "{errors}");
    let e = &errors.errors()[0];
    assert!(e.line >= 2, "{e}");
    assert!(e.column >= 1, "{e}");
    assert!(e.message.starts_with("invalid YAML"), "{e}");
}

#[test]
fn all_problems_are_reported_in_document_order() {
    let source = "\
severities:
  - name: SEV1
    respond_within: 5m
    update_every: often
    colour: red
checklists:
  - name: x
    severities: [SEV7]
    items: [a]
services:
  - name: Checkout
    runbook: nope
users:
  - handle: alice
    email: nope
    time_zone: Mars/Olympus
";
    let errors = errors(source);
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (4, "severities[0].update_every"),
            (5, "severities[0].colour"),
            (8, "checklists[0].severities[0]"),
            (11, "services[0].name"),
            (12, "services[0].runbook"),
            (15, "users[0].email"),
            (16, "users[0].time_zone"),
        ],
        "{errors}"
    );
    // One line per error in Display.
    assert_eq!(errors.to_string().lines().count(), 7);
}

#[test]
fn pretty_rendering_shows_the_source() {
    let errors = errors(SEVERITIES);
    let pretty = errors.render_pretty();
    assert!(pretty.contains("update_every: 5 mins"), "{pretty}");
    assert!(pretty.contains("severities[1].update_every"), "{pretty}");
    assert!(pretty.contains("firebreak.yaml"), "{pretty}");
    assert!(pretty.contains("1 problem in firebreak.yaml"), "{pretty}");
}

#[test]
fn route_matchers_are_checked() {
    let source = "\
alerting:
  routes:
    - match: ['env=\"dev\"']
      drop: true
    - match: ['severity', 'team=\"payments\"']
      urgency: high
";
    let e = single(
        source,
        5,
        15,
        "alerting.routes[1].match[0]",
        "`severity` is not a matcher: no operator",
    );
    assert!(
        e.to_string().starts_with(
            "firebreak.yaml:5:15: alerting.routes[1].match[0]: `severity` is not a matcher"
        ),
        "{e}"
    );
    let source = "alerting:\n  routes:\n    - match: ['service=~\"(\"']\n";
    single(source, 3, 15, "alerting.routes[0].match[0]", "bad regex");
    let source = "alerting:\n  routes:\n    - match: 'env=\"dev\"'\n      drop: true\n";
    single(
        source,
        3,
        14,
        "alerting.routes[0].match",
        "expected a list like",
    );
    let source = "alerting:\n  routes:\n    - drop: true\n";
    single(
        source,
        3,
        7,
        "alerting.routes[0]",
        "missing required key \"match\"; write match: [] to match every alert",
    );
}

#[test]
fn route_service_must_be_defined_in_the_file() {
    let source = "\
services:
  - name: checkout
alerting:
  routes:
    - match: []
      service: payments
";
    let e = single(
        source,
        6,
        16,
        "alerting.routes[0].service",
        "no service named \"payments\" is defined in services",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:6:16: alerting.routes[0].service: \
         no service named \"payments\" is defined in services"
    );
    // A service with some other problem still counts as defined.
    let source = "\
services:
  - name: payments
    runbook: nope
alerting:
  routes:
    - match: []
      service: payments
";
    single(source, 3, 14, "services[0].runbook", "invalid runbook");
    single(
        "alerting:\n  routes:\n    - match: []\n      service: Payments\n",
        4,
        16,
        "alerting.routes[0].service",
        "not a valid name",
    );
}

#[test]
fn route_severity_urgency_and_drop() {
    let source = "alerting:\n  routes:\n    - match: []\n      severity: crit\n";
    single(
        source,
        4,
        17,
        "alerting.routes[0].severity",
        "`crit` is not one of critical, error, warning, info",
    );
    let source = "alerting:\n  routes:\n    - match: []\n      urgency: urgent\n";
    single(
        source,
        4,
        16,
        "alerting.routes[0].urgency",
        "`urgent` is not one of high, low",
    );
    let source = "alerting:\n  routes:\n    - match: []\n      drop: yes\n";
    single(
        source,
        4,
        13,
        "alerting.routes[0].drop",
        "expected true or false, found text",
    );
    let source = "\
services:
  - name: checkout
alerting:
  routes:
    - match: ['env=\"dev\"']
      drop: true
      service: checkout
      urgency: low
";
    single(
        source,
        6,
        13,
        "alerting.routes[0].drop",
        "a dropping rule cannot also set service, severity or urgency (this one sets service, urgency)",
    );
    // drop: false with overrides is an ordinary rule.
    let source = "alerting:\n  routes:\n    - match: []\n      drop: false\n      urgency: low\n";
    let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.alerting.routes.len(), 1);
}

#[test]
fn rate_limits_are_positive_whole_numbers_and_windows_durations() {
    single(
        "alerting:\n  rate_limit:\n    per_second: 0\n",
        3,
        17,
        "alerting.rate_limit.per_second",
        "expected a whole number from 1 to 4294967295, found 0",
    );
    single(
        "alerting:\n  rate_limit:\n    burst: -5\n",
        3,
        12,
        "alerting.rate_limit.burst",
        "found -5",
    );
    single(
        "alerting:\n  rate_limit:\n    burst: 5000000000\n",
        3,
        12,
        "alerting.rate_limit.burst",
        "from 1 to 4294967295",
    );
    single(
        "alerting:\n  rate_limit:\n    per_second: 1.5\n",
        3,
        17,
        "alerting.rate_limit.per_second",
        "expected a positive whole number, found a number",
    );
    single(
        "alerting:\n  rate_limit: 100\n",
        2,
        15,
        "alerting.rate_limit",
        "expected a mapping with per_second and burst, found a number",
    );
    single(
        "alerting:\n  suspect_window: two hours\n",
        2,
        19,
        "alerting.suspect_window",
        "invalid duration \"two hours\"; expected a duration like",
    );
    single(
        "alerting:\n  routes:\n    match: []\n",
        3,
        5,
        "alerting.routes",
        "expected a list, found a mapping",
    );
}

#[test]
fn unknown_keys_in_the_new_sections() {
    single(
        "alerting:\n  rate_limits: {}\n",
        2,
        3,
        "alerting.rate_limits",
        "unknown key \"rate_limits\"; expected one of rate_limit, suspect_window, routes",
    );
    single(
        "alerting:\n  rate_limit:\n    per_minute: 5\n",
        3,
        5,
        "alerting.rate_limit.per_minute",
        "expected one of per_second, burst",
    );
    single(
        "alerting:\n  routes:\n    - match: []\n      team: payments\n",
        4,
        7,
        "alerting.routes[0].team",
        "expected one of match, service, severity, urgency, drop",
    );
    let source = "\
services:
  - name: checkout
    integrations:
      - name: prometheus
        key: R0UT1NGKEY0000000000000000000001
        url: https://example.com
    grouping:
      windw: 5m
      declare:
        - match: []
          severity: SEV1
          summary: x
";
    let errors = errors(source);
    let got: Vec<(u64, u64, &str)> = errors
        .iter()
        .map(|e| (e.line, e.column, e.path.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (6, 9, "services[0].integrations[0].url"),
            (8, 7, "services[0].grouping.windw"),
            (12, 11, "services[0].grouping.declare[0].summary"),
        ],
        "{errors}"
    );
    assert!(
        errors.errors()[0]
            .message
            .contains("expected one of name, key"),
        "{errors}"
    );
    assert!(
        errors.errors()[2]
            .message
            .contains("expected one of match, severity, title"),
        "{errors}"
    );
}

const BAD_KEY: &str = "SECRETsecret123";

#[test]
fn bad_integration_keys_are_reported_without_the_key() {
    let source = format!(
        "services:\n  - name: checkout\n    integrations:\n      - name: prometheus\n        key: {BAD_KEY}\n"
    );
    let e = single(
        &source,
        5,
        14,
        "services[0].integrations[0].key",
        "must be exactly 32 letters or digits",
    );
    assert!(!e.to_string().contains(BAD_KEY), "{e}");
    assert!(e.message.contains("it has 15 characters"), "{e}");

    // Right length, wrong characters.
    let key = "R0UT1NG-KEY-00000000000000000001";
    assert_eq!(key.len(), 32);
    let source = format!(
        "services:\n  - name: checkout\n    integrations:\n      - name: prometheus\n        key: {key}\n"
    );
    let e = single(
        &source,
        5,
        14,
        "services[0].integrations[0].key",
        "it has other characters",
    );
    assert!(!e.to_string().contains(key), "{e}");

    // A key of digits only is a YAML number unless quoted.
    let digits = "12345678901234567890123456789012";
    let source = format!(
        "services:\n  - name: checkout\n    integrations:\n      - name: prometheus\n        key: {digits}\n"
    );
    let e = single(
        &source,
        5,
        14,
        "services[0].integrations[0].key",
        "quote a key written only with digits",
    );
    assert!(!e.to_string().contains(digits), "{e}");
    let source = format!(
        "services:\n  - name: checkout\n    integrations:\n      - name: prometheus\n        key: '{digits}'\n"
    );
    let config = parse(&source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.services[0].integrations[0].key, digits);

    single(
        "services:\n  - name: checkout\n    integrations:\n      - name: prometheus\n",
        4,
        9,
        "services[0].integrations[0]",
        "missing required key \"key\"",
    );
}

#[test]
fn integration_keys_are_unique_in_the_file_and_names_in_the_service() {
    let key = "R0UT1NGKEY0000000000000000000001";
    let source = format!(
        "\
services:
  - name: checkout
    integrations:
      - name: prometheus
        key: {key}
  - name: search
    integrations:
      - name: prometheus
        key: {key}
"
    );
    let e = single(
        &source,
        9,
        14,
        "services[1].integrations[0].key",
        "duplicate integration key; the same key is used on line 5",
    );
    assert!(!e.to_string().contains(key), "{e}");

    let source = "\
services:
  - name: checkout
    integrations:
      - name: prometheus
        key: R0UT1NGKEY0000000000000000000001
      - name: Prometheus
        key: R0UT1NGKEY0000000000000000000002
      - name: ' '
        key: R0UT1NGKEY0000000000000000000003
";
    let errors = errors(source);
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "firebreak.yaml:6:15: services[0].integrations[1].name: \
             duplicate integration name \"Prometheus\"; first defined on line 4",
            "firebreak.yaml:8:15: services[0].integrations[2].name: expected non-empty text",
        ],
        "{errors}"
    );
}

#[test]
fn grouping_is_checked() {
    single(
        "services:\n  - name: checkout\n    grouping:\n      window: soon\n",
        4,
        15,
        "services[0].grouping.window",
        "invalid duration \"soon\"",
    );
    let source = "\
services:
  - name: checkout
    grouping:
      declare:
        - match: ['severity=\"critical\"']
          severity: SEV9
";
    single(
        source,
        6,
        21,
        "services[0].grouping.declare[0].severity",
        "undefined severity \"SEV9\"; expected one of SEV1, SEV2, SEV3",
    );
    single(
        "services:\n  - name: checkout\n    grouping:\n      declare:\n        - match: []\n",
        5,
        11,
        "services[0].grouping.declare[0]",
        "missing required key \"severity\"",
    );
    single(
        "services:\n  - name: checkout\n    grouping:\n      declare:\n        - severity: SEV1\n",
        5,
        11,
        "services[0].grouping.declare[0]",
        "missing required key \"match\"",
    );
    single(
        "services:\n  - name: checkout\n    grouping:\n      declare:\n        - match: ['sev']\n          severity: SEV1\n",
        5,
        19,
        "services[0].grouping.declare[0].match[0]",
        "`sev` is not a matcher",
    );
    let long = "x".repeat(201);
    let source = format!(
        "services:\n  - name: checkout\n    grouping:\n      declare:\n        - match: []\n          severity: SEV1\n          title: {long}\n"
    );
    single(
        &source,
        7,
        18,
        "services[0].grouping.declare[0].title",
        "must be at most 200 characters, found 201",
    );
    let source = "services:\n  - name: checkout\n    grouping:\n      declare:\n        - match: []\n          severity: SEV1\n          title: ''\n";
    single(
        source,
        7,
        18,
        "services[0].grouping.declare[0].title",
        "expected non-empty text",
    );
    single(
        "services:\n  - name: checkout\n    grouping: [30m]\n",
        3,
        15,
        "services[0].grouping",
        "expected a grouping mapping with window and declare, found a list",
    );
    // Severities are matched without case and stored as configured.
    let source = "services:\n  - name: checkout\n    grouping:\n      declare:\n        - match: []\n          severity: sev1\n";
    let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.services[0].grouping.declare[0].severity, "SEV1");
}

#[test]
fn outbound_networks_are_checked() {
    let e = single(
        "outbound:\n  allow: [10.0.0.0/8, \"192.168.1.20/32\", 10.0.0.0/33]\n",
        2,
        42,
        "outbound.allow[2]",
        "invalid network \"10.0.0.0/33\"; the prefix after / must be a number from 0 to 32",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:2:42: outbound.allow[2]: invalid network \"10.0.0.0/33\"; the prefix \
         after / must be a number from 0 to 32 for an IPv4 address"
    );
    single(
        "outbound:\n  allow:\n    - 10.0.0.0/8\n    - intranet\n",
        4,
        7,
        "outbound.allow[1]",
        "invalid network \"intranet\"; expected an IP address or CIDR like 10.0.0.0/8, \
         192.168.1.20 or fd00::/8",
    );
    single(
        "outbound:\n  allow: ['10.1.2.3/8']\n",
        2,
        11,
        "outbound.allow[0]",
        "write 10.0.0.0/8 for the network, or 10.1.2.3 for that one address",
    );
    single(
        "outbound:\n  allow: 10.0.0.0/8\n",
        2,
        10,
        "outbound.allow",
        "expected a list like [10.0.0.0/8, \"fd00::/8\"], found text",
    );
}

#[test]
fn trusted_proxies_are_checked() {
    single(
        "server:\n  trusted_proxies: [127.0.0.1, proxy.internal]\n",
        2,
        32,
        "server.trusted_proxies[1]",
        "invalid network \"proxy.internal\"; expected an IP address or CIDR",
    );
    single(
        "server:\n  trusted_proxies: 10.0.0.0/8\n",
        2,
        20,
        "server.trusted_proxies",
        "expected a list like [127.0.0.1, 10.0.0.0/8], found text",
    );
    let config = parse(
        "server:\n  trusted_proxies: [127.0.0.1, 'fd00::/8']\n",
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = config
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["127.0.0.1/32", "fd00::/8"]);
}

#[test]
fn outbound_retry_delays_are_checked() {
    single(
        "outbound:\n  retry:\n    first_delay: 0s\n",
        3,
        18,
        "outbound.retry.first_delay",
        "first_delay must be more than 0s: a failed delivery waits this long before it is tried again, e.g. 5s",
    );
    single(
        "outbound:\n  retry:\n    give_up_after: a day\n",
        3,
        20,
        "outbound.retry.give_up_after",
        "invalid duration \"a day\"; expected a duration like 90s, 15m, 2h or 1h30m",
    );
    let e = single(
        "outbound:\n  retry:\n    first_delay: 1m\n    max_delay: 30s\n",
        4,
        16,
        "outbound.retry.max_delay",
        "max_delay 30s is shorter than first_delay 1m; make max_delay at least 1m, or first_delay at most 30s",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:4:16: outbound.retry.max_delay: "),
        "{e}"
    );
    single(
        "outbound:\n  retry:\n    first_delay: 30s\n    give_up_after: 10s\n",
        4,
        20,
        "outbound.retry.give_up_after",
        "give_up_after 10s is shorter than first_delay 30s; make give_up_after at least 30s",
    );
    // Only first_delay is written: it is the one pointed at, and the default is named.
    let errors = errors("outbound:\n  retry:\n    first_delay: 25h\n");
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "firebreak.yaml:3:18: outbound.retry.first_delay: first_delay 25h is longer than \
             max_delay (10m by default); make first_delay at most 10m, or set max_delay to at \
             least 25h",
            "firebreak.yaml:3:18: outbound.retry.first_delay: first_delay 25h is longer than \
             give_up_after (24h by default); make first_delay at most 24h, or set give_up_after \
             to at least 25h",
        ],
        "{errors}"
    );
}

#[test]
fn unknown_keys_in_outbound() {
    single(
        "outbound:\n  allowed: []\n",
        2,
        3,
        "outbound.allowed",
        "unknown key \"allowed\"; expected one of allow, retry",
    );
    single(
        "outbound:\n  retry:\n    initial_delay: 5s\n",
        3,
        5,
        "outbound.retry.initial_delay",
        "unknown key \"initial_delay\"; expected one of first_delay, max_delay, give_up_after",
    );
    single(
        "outbound: [10.0.0.0/8]\n",
        1,
        11,
        "outbound",
        "expected a mapping with allow and retry, found a list",
    );
    single(
        "outbond: {}\n",
        1,
        1,
        "outbond",
        "expected one of severities, roles, checklists, services, users, schedules, \
         escalation_policies, paging, alerting, outbound, server, email",
    );
}

const SCHEDULE_USERS: &str = "\
users:
  - handle: alice
  - handle: bob
";

/// A schedule file with `layer` as its only layer (indented as a list item of `layers`).
fn schedule_with(layer: &str) -> String {
    format!(
        "{SCHEDULE_USERS}schedules:\n  - name: primary\n    time_zone: Europe/Berlin\n    layers:\n{layer}"
    )
}

#[test]
fn schedules_are_read_with_layers_rotations_and_restrictions() {
    let source = schedule_with(
        "      - name: week\n        members: [alice, bob]\n        rotation: {every: 1w, start: \"2026-03-23T09:00\"}\n        restrict:\n          - {days: [mon, fri], from: \"09:00\", to: \"17:00\"}\n",
    );
    let config = parse(&source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let s = &config.schedules[0];
    assert_eq!(s.name.as_str(), "primary");
    assert_eq!(s.time_zone_name, "Europe/Berlin");
    assert_eq!(s.layers[0].members.len(), 2);
    assert_eq!(s.layers[0].rotation.every.to_string(), "1w");
    assert_eq!(s.layers[0].restrict[0].days.len(), 2);
    // Unquoted times of day read the same.
    let unquoted = schedule_with(
        "      - name: week\n        members: [alice]\n        rotation: {every: 12h, start: 2026-03-23T09:00}\n        restrict:\n          - {days: [sat], from: 22:00, to: 06:00}\n",
    );
    let config = parse(&unquoted, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.schedules[0].layers[0].restrict[0].from.hour(), 22);
}

#[test]
fn schedule_problems_point_at_their_line_and_key() {
    single(
        &schedule_with(
            "      - name: week\n        members: [alice, mallory]\n        rotation: {every: 1w, start: \"2026-03-23T09:00\"}\n",
        ),
        9,
        26,
        "schedules[0].layers[0].members[1]",
        "unknown user \"mallory\"; declare them under users:",
    );
    single(
        &schedule_with(
            "      - name: week\n        members: [alice]\n        rotation: {every: 1 week, start: \"2026-03-23T09:00\"}\n",
        ),
        10,
        27,
        "schedules[0].layers[0].rotation.every",
        "invalid rotation length \"1 week\"; expected a number and a unit, like 8h, 12h, 1d or 1w",
    );
    single(
        &schedule_with(
            "      - name: week\n        members: [alice]\n        rotation: {every: 1d, start: \"2026-03-23T09:00Z\"}\n",
        ),
        10,
        38,
        "schedules[0].layers[0].rotation.start",
        "no zone: the schedule's time_zone applies",
    );
    single(
        &schedule_with(
            "      - name: week\n        members: [alice]\n        rotation: {every: 1d, start: \"2026-03-23T09:00\"}\n        restrict:\n          - {days: [mon, someday], from: \"09:00\", to: \"17:00\"}\n",
        ),
        12,
        26,
        "schedules[0].layers[0].restrict[0].days[1]",
        "unknown day \"someday\"",
    );
    let errors = errors(&schedule_with(
        "      - name: week\n        members: [alice]\n        rotation: {every: 1d, start: \"2026-03-23T09:00\"}\n        restrict:\n          - {days: [mon], from: \"09:00\", to: \"5pm\"}\n",
    ));
    assert!(
        errors.to_string().contains("invalid time \"5pm\""),
        "{errors}"
    );
    let tz = errors_of(
        "users:\n  - handle: alice\nschedules:\n  - name: primary\n    time_zone: Europe/Berln\n    layers:\n      - name: week\n        members: [alice]\n        rotation: {every: 1d, start: \"2026-03-23\"}\n",
    );
    assert!(tz.contains("firebreak.yaml:5:16"), "{tz}");
    assert!(tz.contains("unknown time zone \"Europe/Berln\""), "{tz}");
    let dup = errors_of(
        "users:\n  - handle: alice\nschedules:\n  - name: primary\n    time_zone: UTC\n    layers:\n      - name: a\n        members: [alice]\n        rotation: {every: 1d, start: \"2026-03-23\"}\n  - name: primary\n    time_zone: UTC\n    layers: []\n",
    );
    assert!(
        dup.contains("duplicate schedule \"primary\"; first defined on line 4"),
        "{dup}"
    );
    assert!(dup.contains("expected at least one layer"), "{dup}");
}

fn errors_of(source: &str) -> String {
    errors(source).to_string()
}

const ENV_KEY: &str = "R0UT1NGKEYfromTHEenvironment0001";

fn env_errors(source: &str) -> ConfigErrors {
    let env = |name: &str| match name {
        "GOOD_KEY" | "SAME_KEY" => Some(ENV_KEY.to_string()),
        "SHORT_KEY" => Some("SECRETsecret123".to_string()),
        "EMPTY_KEY" => Some(String::new()),
        _ => None,
    };
    match firebreak_config::parse_with_env(source, "firebreak.yaml", &env) {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(e) => e,
    }
}

fn env_single(source: &str, line: u64, column: u64, path: &str, needle: &str) -> ConfigError {
    let errors = env_errors(source);
    assert_eq!(errors.len(), 1, "{errors}");
    let e = errors.errors()[0].clone();
    assert_eq!(
        (e.line, e.column, e.path.as_str()),
        (line, column, path),
        "{e}"
    );
    assert!(e.message.contains(needle), "{e}");
    assert!(!e.to_string().contains(ENV_KEY), "{e}");
    assert!(!e.to_string().contains("SECRETsecret123"), "{e}");
    e
}

fn with_key(key: &str) -> String {
    format!(
        "services:\n  - name: checkout\n    integrations:\n      - name: prometheus\n        key: {key}\n"
    )
}

#[test]
fn keys_from_the_environment_are_checked_without_showing_them() {
    let e = env_single(
        &with_key("{env: MISSING_KEY}"),
        5,
        20,
        "services[0].integrations[0].key.env",
        "environment variable MISSING_KEY is not set; set it where Firebreak runs to this \
         integration's key",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:5:20: services[0].integrations[0].key.env: "),
        "{e}"
    );
    env_single(
        &with_key("{env: SHORT_KEY}"),
        5,
        20,
        "services[0].integrations[0].key.env",
        "the key in environment variable SHORT_KEY must be exactly 32 letters or digits \
         (A-Z, a-z, 0-9), but it has 15 characters",
    );
    env_single(
        &with_key("{env: EMPTY_KEY}"),
        5,
        20,
        "services[0].integrations[0].key.env",
        "but it is empty",
    );
    env_single(
        &with_key("{env: 'FIREBREAK KEY'}"),
        5,
        20,
        "services[0].integrations[0].key.env",
        "invalid environment variable name \"FIREBREAK KEY\"; expected letters, digits and _",
    );
    env_single(
        &with_key("{env: [GOOD_KEY]}"),
        5,
        20,
        "services[0].integrations[0].key.env",
        "expected an environment variable name like FIREBREAK_KEY_CHECKOUT_PROMETHEUS, found a list",
    );
    // Like any mapping: the unknown key, and the required one missing.
    let errors = env_errors(&with_key("{file: /run/secrets/key}"));
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "firebreak.yaml:5:14: services[0].integrations[0].key: missing required key \"env\"; \
             write key: {env: NAME} with the name of the environment variable that holds the key",
            "firebreak.yaml:5:15: services[0].integrations[0].key.file: unknown key \"file\"; \
             expected one of env",
        ],
        "{errors}"
    );
    env_single(
        &with_key("{}"),
        5,
        14,
        "services[0].integrations[0].key",
        "missing required key \"env\"",
    );
    env_single(
        &with_key("[GOOD_KEY]"),
        5,
        14,
        "services[0].integrations[0].key",
        "expected text (quote a key written only with digits), or {env: NAME} to read it from \
         an environment variable, found a list",
    );
    // A key from the environment is as unique as one written in the file.
    let source = format!(
        "\
services:
  - name: checkout
    integrations:
      - name: prometheus
        key: {ENV_KEY}
      - name: grafana
        key: {{env: SAME_KEY}}
"
    );
    env_single(
        &source,
        7,
        20,
        "services[0].integrations[1].key.env",
        "duplicate integration key; the same key is used on line 5",
    );
}

/// Users and schedules for escalation policies to page: 10 lines, so what follows starts on
/// line 11.
const PAGEABLE: &str = "\
users:
  - handle: alice
  - handle: bob
schedules:
  - name: primary
    time_zone: UTC
    layers:
      - name: week
        members: [alice, bob]
        rotation: {every: 1w, start: \"2026-03-23T09:00\"}
";

/// [`PAGEABLE`] and one policy `ops` whose first step has `targets` (line 15) and `delay`
/// (line 14).
fn policy_with(delay: &str, targets: &str) -> String {
    format!(
        "{PAGEABLE}escalation_policies:\n  - name: ops\n    steps:\n      - delay: {delay}\n        targets: {targets}\n"
    )
}

#[test]
fn targets_must_be_declared_in_the_file() {
    let e = single(
        &policy_with("5m", "[{user: alice}, {user: mallory}]"),
        15,
        41,
        "escalation_policies[0].steps[0].targets[1].user",
        "unknown user \"mallory\"; declare them under users:, with this handle",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:15:41: escalation_policies[0].steps[0].targets[1].user: unknown user \
         \"mallory\"; declare them under users:, with this handle"
    );
    single(
        &policy_with("5m", "[{schedule: secondary}]"),
        15,
        30,
        "escalation_policies[0].steps[0].targets[0].schedule",
        "unknown schedule \"secondary\"; declare it under schedules:, or name one of primary",
    );
    // A schedule is not a user, nor a user a schedule.
    single(
        &policy_with("5m", "[{user: primary}]"),
        15,
        26,
        "escalation_policies[0].steps[0].targets[0].user",
        "unknown user \"primary\"",
    );
    single(
        &policy_with("5m", "[{schedule: alice}]"),
        15,
        30,
        "escalation_policies[0].steps[0].targets[0].schedule",
        "unknown schedule \"alice\"",
    );
}

#[test]
fn a_target_is_one_user_or_one_schedule() {
    single(
        &policy_with("5m", "[{user: alice}, {user: bob, schedule: primary}]"),
        15,
        34,
        "escalation_policies[0].steps[0].targets[1]",
        "a target is either a user or a schedule, not both",
    );
    single(
        &policy_with("5m", "[{}]"),
        15,
        19,
        "escalation_policies[0].steps[0].targets[0]",
        "missing user or schedule; expected a target like {user: alice} or {schedule: primary}",
    );
    single(
        &policy_with("5m", "[alice]"),
        15,
        19,
        "escalation_policies[0].steps[0].targets[0]",
        "expected a target mapping with user or schedule, like [{user: alice}, {schedule: \
         primary}], found text",
    );
    // Like any mapping: the unknown key, and what is missing.
    let errors = errors(&policy_with("5m", "[{team: payments}]"));
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "firebreak.yaml:15:19: escalation_policies[0].steps[0].targets[0]: missing user or \
             schedule; expected a target like {user: alice} or {schedule: primary}",
            "firebreak.yaml:15:20: escalation_policies[0].steps[0].targets[0].team: unknown key \
             \"team\"; expected one of user, schedule",
        ],
        "{errors}"
    );
    single(
        &policy_with("5m", "[]"),
        15,
        18,
        "escalation_policies[0].steps[0].targets",
        "expected at least one target: a user or a schedule",
    );
    // What the domain checks is shown where it was written: here the second alice.
    single(
        &policy_with("5m", "[{user: alice}, {user: alice}]"),
        15,
        34,
        "escalation_policies[0].steps[0].targets[1]",
        "user alice is already a target of this step",
    );
}

#[test]
fn step_delays_are_from_1s_to_24h() {
    single(
        &policy_with("0s", "[{user: alice}]"),
        14,
        16,
        "escalation_policies[0].steps[0].delay",
        "a delay is at least 1s, found 0s; expected a delay from 1s to 24h, like 5m",
    );
    single(
        &policy_with("25h", "[{user: alice}]"),
        14,
        16,
        "escalation_policies[0].steps[0].delay",
        "a delay is at most 24h, found 25h",
    );
    single(
        &policy_with("soon", "[{user: alice}]"),
        14,
        16,
        "escalation_policies[0].steps[0].delay",
        "invalid duration \"soon\"; expected a duration like 90s, 15m, 2h or 1h30m",
    );
    // 1s and a day are the limits, inclusive.
    for delay in ["1s", "24h", "1d"] {
        let config = parse(&policy_with(delay, "[{user: alice}]"), "firebreak.yaml")
            .unwrap_or_else(|e| panic!("{delay}: {e}"));
        assert_eq!(config.escalation_policies.len(), 1);
    }
    let source = format!(
        "{PAGEABLE}escalation_policies:\n  - name: ops\n    steps:\n      - targets: [{{user: alice}}]\n"
    );
    single(
        &source,
        14,
        9,
        "escalation_policies[0].steps[0]",
        "missing required key \"delay\"",
    );
}

#[test]
fn policies_are_checked() {
    let source = format!(
        "{PAGEABLE}escalation_policies:\n  - name: ops\n    repeat: 21\n    steps:\n      - delay: 5m\n        targets: [{{user: alice}}]\n"
    );
    single(
        &source,
        13,
        13,
        "escalation_policies[0].repeat",
        "expected a whole number from 0 to 20: how many more times the steps run after the \
         first round, found 21",
    );
    let source = format!(
        "{PAGEABLE}escalation_policies:\n  - name: ops\n    steps: [{{delay: 5m, targets: [{{user: alice}}]}}]\n  - name: ops\n    steps: [{{delay: 5m, targets: [{{user: bob}}]}}]\n"
    );
    single(
        &source,
        14,
        11,
        "escalation_policies[1].name",
        "duplicate escalation policy \"ops\"; first defined on line 12",
    );
    single(
        &format!("{PAGEABLE}escalation_policies:\n  - name: ops\n"),
        12,
        5,
        "escalation_policies[0]",
        "missing required key \"steps\"",
    );
    single(
        &format!("{PAGEABLE}escalation_policies:\n  - name: ops\n    steps: []\n"),
        13,
        12,
        "escalation_policies[0].steps",
        "expected at least one step",
    );
    single(
        &format!(
            "{PAGEABLE}escalation_policies:\n  - name: Ops\n    steps: [{{delay: 5m, targets: [{{user: alice}}]}}]\n"
        ),
        12,
        11,
        "escalation_policies[0].name",
        "not a valid name",
    );
    // More steps than a policy may have: shown at the steps.
    let steps = "\n      - {delay: 1m, targets: [{user: alice}]}".repeat(21);
    single(
        &format!("{PAGEABLE}escalation_policies:\n  - name: ops\n    steps:{steps}\n"),
        14,
        7,
        "escalation_policies[0].steps",
        "a policy has at most 20 steps",
    );
}

/// [`PAGEABLE`], a policy `ops` and then `rest`, from line 14.
fn with_policy(rest: &str) -> String {
    format!(
        "{PAGEABLE}escalation_policies:\n  - name: ops\n    steps: [{{delay: 5m, targets: [{{user: alice}}]}}]\n{rest}"
    )
}

#[test]
fn services_name_declared_policies_and_managers() {
    let e = single(
        &with_policy("services:\n  - name: checkout\n    escalation_policy: payments\n"),
        16,
        24,
        "services[0].escalation_policy",
        "no escalation policy named \"payments\" is defined in escalation_policies; expected \
         one of ops",
    );
    assert!(e.to_string().starts_with("firebreak.yaml:16:24: "), "{e}");
    single(
        &with_policy("services:\n  - name: checkout\n    manager: carol\n"),
        16,
        14,
        "services[0].manager",
        "unknown user \"carol\"; declare them under users:, with this handle",
    );
    // Without policies in the file.
    single(
        "services:\n  - name: checkout\n    escalation_policy: ops\n",
        3,
        24,
        "services[0].escalation_policy",
        "no escalation policy named \"ops\" is defined in escalation_policies",
    );
    // Services come before the policies and users they name: still resolved.
    let source = "\
services:
  - name: checkout
    escalation_policy: ops
    manager: alice
escalation_policies:
  - name: ops
    steps: [{delay: 5m, targets: [{user: alice}]}]
users:
  - handle: alice
";
    let config = parse(source, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.services[0]
            .escalation_policy
            .as_ref()
            .map(|p| p.as_str()),
        Some("ops")
    );
}

#[test]
fn paging_is_checked() {
    single(
        &with_policy("paging:\n  default_policy: nope\n"),
        15,
        19,
        "paging.default_policy",
        "no escalation policy named \"nope\" is defined in escalation_policies; expected one of ops",
    );
    single(
        "paging:\n  attempt_timeout: 0s\n",
        2,
        20,
        "paging.attempt_timeout",
        "attempt_timeout must be from 1s to 5m, found 0s: how long one attempt to deliver a \
         page may take",
    );
    single(
        "paging:\n  attempt_timeout: 6m\n",
        2,
        20,
        "paging.attempt_timeout",
        "must be from 1s to 5m, found 6m",
    );
    single(
        "paging:\n  ack_link_ttl: 30s\n",
        2,
        17,
        "paging.ack_link_ttl",
        "ack_link_ttl must be from 1m to 30d, found 30s",
    );
    single(
        "paging:\n  ack_link_ttl: 31d\n",
        2,
        17,
        "paging.ack_link_ttl",
        "must be from 1m to 30d, found 31d",
    );
    // The same rules as outbound.retry.
    single(
        "paging:\n  retry:\n    first_delay: 1m\n    max_delay: 30s\n",
        4,
        16,
        "paging.retry.max_delay",
        "max_delay 30s is shorter than first_delay 1m",
    );
    single(
        "paging:\n  retry: {first_dalay: 1s}\n",
        2,
        11,
        "paging.retry.first_dalay",
        "expected one of first_delay, max_delay, give_up_after",
    );
    single(
        "paging:\n  default: ops\n",
        2,
        3,
        "paging.default",
        "unknown key \"default\"; expected one of default_policy, retry, attempt_timeout, \
         ack_link_ttl",
    );
}

#[test]
fn the_public_url_is_an_absolute_http_url() {
    let e = single(
        "server:\n  public_url: firebreak.example.com\n",
        2,
        15,
        "server.public_url",
        "invalid public URL \"firebreak.example.com\": it has no scheme; expected an absolute \
         http:// or https:// URL with a host, like https://firebreak.example.com",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:2:15: server.public_url: ")
    );
    single(
        "server:\n  public_url: https://firebreak.example.com/?x=1\n",
        2,
        15,
        "server.public_url",
        "it has a query",
    );
    single(
        "server:\n  public_url: ftp://firebreak.example.com\n",
        2,
        15,
        "server.public_url",
        "the scheme is ftp, not http or https",
    );
    single(
        "server: {public_uri: x}\n",
        1,
        10,
        "server.public_uri",
        "unknown key \"public_uri\"; expected one of public_url",
    );
}

#[test]
fn email_needs_a_sender_with_an_smtp_url() {
    let e = single(
        "email:\n  smtp_url: smtp://127.0.0.1:2525\n",
        2,
        3,
        "email",
        "missing required key \"from\": with smtp_url set, every email needs a sender, like \
         from: Firebreak <firebreak@example.com>",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:2:3: email: missing required key \"from\": with smtp_url set, every \
         email needs a sender, like from: Firebreak <firebreak@example.com>"
    );
    single(
        "email:\n  smtp_url: smtp://127.0.0.1:2525\n  from: Firebreak\n",
        3,
        9,
        "email.from",
        "invalid sender \"Firebreak\": it must hold exactly one address; expected a mailbox \
         like Firebreak <firebreak@example.com> or an address like firebreak@example.com",
    );
    single(
        "email:\n  from: Firebreak <firebreak@localhost>\n",
        2,
        9,
        "email.from",
        "\"firebreak@localhost\" is not an email address",
    );
    let e = single(
        "email:\n  smtp_url: https://firebreak:hunter2@mail.example.com\n  from: a@example.com\n",
        2,
        13,
        "email.smtp_url",
        "invalid SMTP URL (not shown: it may hold a password): the scheme is https, not smtp \
         or smtps",
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn an_smtp_url_from_the_environment_is_checked_without_showing_it() {
    let e = env_single(
        "email:\n  smtp_url: {env: MISSING_URL}\n  from: a@example.com\n",
        2,
        19,
        "email.smtp_url.env",
        "environment variable MISSING_URL is not set; set it where Firebreak runs to the SMTP URL",
    );
    assert!(e.to_string().starts_with("firebreak.yaml:2:19: "), "{e}");
    // The value of SHORT_KEY is no SMTP URL, and is not shown.
    env_single(
        "email:\n  smtp_url: {env: SHORT_KEY}\n  from: a@example.com\n",
        2,
        19,
        "email.smtp_url.env",
        "environment variable SHORT_KEY: invalid SMTP URL (not shown: it may hold a password): \
         it has no scheme",
    );
    env_single(
        "email:\n  smtp_url: [smtp://127.0.0.1]\n  from: a@example.com\n",
        2,
        13,
        "email.smtp_url",
        "expected an smtp:// or smtps:// URL, or {env: NAME} to read it from an environment \
         variable, found a list",
    );
}

/// Two services and the start of a `status_page` section (line 4); `rest` follows from line 5.
fn status_page_with(rest: &str) -> String {
    format!("services:\n  - name: checkout\n  - name: search\nstatus_page:\n{rest}")
}

#[test]
fn status_page_keys_and_values_are_checked() {
    let e = single(
        &status_page_with("  title: Status\n  colour: red\n"),
        6,
        3,
        "status_page.colour",
        "unknown key \"colour\"; expected one of title, time_zone, listen, url, logo_url, \
         site_url, components, templates",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:6:3: status_page.colour: unknown key \"colour\"; expected one of title, \
         time_zone, listen, url, logo_url, site_url, components, templates"
    );
    single(
        "status_page: Example Status\n",
        1,
        14,
        "status_page",
        "expected a mapping with title, time_zone, listen, url, logo_url, site_url, components \
         and templates, found text",
    );
    single(
        &status_page_with("  title: ''\n"),
        5,
        10,
        "status_page.title",
        "expected non-empty text",
    );
    single(
        &status_page_with("  time_zone: Mars/Olympus\n"),
        5,
        14,
        "status_page.time_zone",
        "unknown time zone \"Mars/Olympus\"; expected an IANA name like Europe/Berlin or \
         America/New_York",
    );
    let e = single(
        &status_page_with("  listen: localhost:8081\n"),
        5,
        11,
        "status_page.listen",
        "invalid listen address \"localhost:8081\"; expected an IP address and a port, like \
         0.0.0.0:8081 or [::]:8081",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:5:11: status_page.listen: invalid listen address \"localhost:8081\"; \
         expected an IP address and a port, like 0.0.0.0:8081 or [::]:8081"
    );
    // A port alone is no address either.
    single(
        &status_page_with("  listen: 8081\n"),
        5,
        11,
        "status_page.listen",
        "invalid listen address \"8081\"",
    );
    // The page's URL follows the rules of server.public_url.
    single(
        &status_page_with("  url: https://status.example.com/?page=1\n"),
        5,
        8,
        "status_page.url",
        "invalid public URL \"https://status.example.com/?page=1\": it has a query",
    );
    single(
        &status_page_with("  url: status.example.com\n"),
        5,
        8,
        "status_page.url",
        "it has no scheme",
    );
    single(
        &status_page_with("  logo_url: example.com/logo.png\n"),
        5,
        13,
        "status_page.logo_url",
        "invalid logo_url \"example.com/logo.png\"; expected an http:// or https:// URL",
    );
    single(
        &status_page_with("  logo_url: http://example.com/logo.png\n"),
        5,
        13,
        "status_page.logo_url",
        "logo_url \"http://example.com/logo.png\" must be an https:// URL",
    );
    single(
        &status_page_with("  site_url: ftp://example.com\n"),
        5,
        13,
        "status_page.site_url",
        "invalid site_url \"ftp://example.com\"; expected an http:// or https:// URL",
    );
    single(
        &status_page_with("  components: Checkout\n"),
        5,
        15,
        "status_page.components",
        "expected a list, found text",
    );
}

#[test]
fn components_are_checked() {
    let e = single(
        &status_page_with(
            "  components:\n    - name: Checkout\n      services: [checkout, payments]\n",
        ),
        7,
        28,
        "status_page.components[0].services[1]",
        "unknown service \"payments\"; declare it under services:, or name one of checkout, \
         search",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:7:28: status_page.components[0].services[1]: unknown service \
         \"payments\"; declare it under services:, or name one of checkout, search"
    );
    // Without services in the file.
    single(
        "status_page:\n  components:\n    - name: Checkout\n      services: [checkout]\n",
        4,
        18,
        "status_page.components[0].services[0]",
        "unknown service \"checkout\"; declare it under services:",
    );
    single(
        &status_page_with("  components:\n    - name: Checkout\n      services: [Checkout]\n"),
        7,
        18,
        "status_page.components[0].services[0]",
        "not a valid name",
    );
    single(
        &status_page_with(
            "  components:\n    - name: Checkout\n      services: [checkout, search, checkout]\n",
        ),
        7,
        36,
        "status_page.components[0].services[2]",
        "service \"checkout\" is listed twice; first on line 7",
    );
    single(
        &status_page_with(
            "  components:\n    - name: Checkout\n      services: [checkout]\n      team: shop\n",
        ),
        8,
        7,
        "status_page.components[0].team",
        "unknown key \"team\"; expected one of name, description, group, services",
    );
    single(
        &status_page_with("  components:\n    - description: no name\n"),
        6,
        7,
        "status_page.components[0]",
        "missing required key \"name\"",
    );
    single(
        &status_page_with("  components:\n    - Checkout\n"),
        6,
        7,
        "status_page.components[0]",
        "expected a component mapping with name, description, group and services, found text",
    );
}

#[test]
fn component_names_are_unique_and_well_formed() {
    let e = single(
        &status_page_with("  components:\n    - name: Checkout\n    - name: Checkout\n"),
        7,
        13,
        "status_page.components[1].name",
        "duplicate component name \"Checkout\"; first defined on line 6",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:7:13: status_page.components[1].name: duplicate component name \
         \"Checkout\"; first defined on line 6"
    );
    // Case matters, as it does where updates name components.
    let config = parse(
        &status_page_with("  components:\n    - name: Checkout\n    - name: checkout\n"),
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.status_page.components.len(), 2);
    single(
        &status_page_with("  components:\n    - name: ' Checkout'\n"),
        6,
        13,
        "status_page.components[0].name",
        "invalid component name \" Checkout\": must not start or end with spaces",
    );
    single(
        &status_page_with("  components:\n    - name: \"Check\\u0007out\"\n"),
        6,
        13,
        "status_page.components[0].name",
        "invalid component name \"Check\\u{7}out\": must not contain control characters",
    );
    single(
        &status_page_with(&format!("  components:\n    - name: {}\n", "x".repeat(101))),
        6,
        13,
        "status_page.components[0].name",
        "must be at most 100 characters, found 101",
    );
    single(
        &status_page_with("  components:\n    - name: ''\n"),
        6,
        13,
        "status_page.components[0].name",
        "expected non-empty text",
    );
    single(
        &status_page_with(&format!(
            "  components:\n    - name: Checkout\n      description: {}\n",
            "x".repeat(1001)
        )),
        7,
        20,
        "status_page.components[0].description",
        "must be at most 1000 characters, found 1001",
    );
}

#[test]
fn a_group_is_never_a_components_name() {
    let e = single(
        &status_page_with(
            "  components:\n    - name: Checkout\n      group: Search\n    - name: Search\n",
        ),
        7,
        14,
        "status_page.components[0].group",
        "group \"Search\" is also the name of a component; a group and a component cannot \
         share a name",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:7:14: status_page.components[0].group: group \"Search\" is also the name \
         of a component; a group and a component cannot share a name: rename the group or the \
         component"
    );
    single(
        &status_page_with("  components:\n    - name: Checkout\n      group: Checkout\n"),
        7,
        14,
        "status_page.components[0].group",
        "group \"Checkout\" is the component's own name",
    );
    single(
        &status_page_with("  components:\n    - name: Checkout\n      group: '  '\n"),
        7,
        14,
        "status_page.components[0].group",
        "expected 1 to 100 characters, with no control characters",
    );
}

#[test]
fn templates_are_checked() {
    let e = single(
        &status_page_with("  templates:\n    investigated: We are looking into it.\n"),
        6,
        5,
        "status_page.templates.investigated",
        "unknown key \"investigated\"; expected one of investigating, identified, monitoring, \
         resolved",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:6:5: status_page.templates.investigated: unknown key \"investigated\"; \
         expected one of investigating, identified, monitoring, resolved"
    );
    let e = single(
        &status_page_with(
            "  templates:\n    investigating: We are looking into it.\n    resolved: ''\n",
        ),
        7,
        15,
        "status_page.templates.resolved",
        "expected non-empty text",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:7:15: status_page.templates.resolved: expected non-empty text: the \
         update posted with this status, where {components} stands for the names of the \
         incident's components; leave the key out to use the default"
    );
    single(
        &status_page_with("  templates:\n    resolved: '   '\n"),
        6,
        15,
        "status_page.templates.resolved",
        "expected non-empty text",
    );
    single(
        &status_page_with("  templates: [investigating]\n"),
        5,
        14,
        "status_page.templates",
        "expected a mapping from public statuses (investigating, identified, monitoring, \
         resolved) to the text of their updates, found a list",
    );
    single(
        &status_page_with("  templates:\n    monitoring: [a, b]\n"),
        6,
        17,
        "status_page.templates.monitoring",
        "expected text, found a list",
    );
}

/// A severity SEV1 whose `status_page` is `effect` (line 4, column 18).
fn severity_with(effect: &str) -> String {
    format!("severities:\n  - name: SEV1\n    respond_within: 5m\n    status_page: {effect}\n")
}

#[test]
fn a_severitys_status_page_is_checked() {
    let e = single(
        &severity_with("{component_status: down, impact: critical}"),
        4,
        37,
        "severities[0].status_page.component_status",
        "unknown component status \"down\"; expected one of operational, degraded_performance, \
         partial_outage, major_outage, under_maintenance",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:4:37: severities[0].status_page.component_status: unknown component \
         status \"down\"; expected one of operational, degraded_performance, partial_outage, \
         major_outage, under_maintenance"
    );
    let e = single(
        &severity_with("{component_status: major_outage, impact: huge}"),
        4,
        59,
        "severities[0].status_page.impact",
        "unknown impact \"huge\"; expected one of none, minor, major, critical",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:4:59: severities[0].status_page.impact: unknown impact \"huge\"; \
         expected one of none, minor, major, critical"
    );
    // Maintenance is an impact, but not one an incident has.
    let e = single(
        &severity_with("{component_status: under_maintenance, impact: maintenance}"),
        4,
        64,
        "severities[0].status_page.impact",
        "impact \"maintenance\" is for scheduled maintenance, not incidents; expected one of \
         none, minor, major, critical",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:4:64: severities[0].status_page.impact: impact \"maintenance\" is for \
         scheduled maintenance, not incidents; expected one of none, minor, major, critical"
    );
    single(
        &severity_with("{impact: major}"),
        4,
        18,
        "severities[0].status_page",
        "missing required key \"component_status\": what the components of this severity's \
         public incidents show, one of operational, degraded_performance, partial_outage, \
         major_outage, under_maintenance",
    );
    single(
        &severity_with("{component_status: partial_outage}"),
        4,
        18,
        "severities[0].status_page",
        "missing required key \"impact\": the impact of this severity's public incidents, one \
         of none, minor, major, critical",
    );
    single(
        &severity_with("{component_status: partial_outage, impact: major, colour: red}"),
        4,
        68,
        "severities[0].status_page.colour",
        "unknown key \"colour\"; expected one of component_status, impact",
    );
    single(
        &severity_with("major_outage"),
        4,
        18,
        "severities[0].status_page",
        "expected a mapping with component_status and impact, like {component_status: \
         major_outage, impact: critical}, found text",
    );
    // Reported with the severity's other problems.
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    update_every: often\n    \
                  status_page: {component_status: down, impact: maintenance}\n";
    let errors = errors(source);
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (4, "severities[0].update_every"),
            (5, "severities[0].status_page.component_status"),
            (5, "severities[0].status_page.impact"),
        ],
        "{errors}"
    );
}

#[test]
fn every_status_page_problem_is_reported_in_document_order() {
    let source = "\
severities:
  - name: SEV1
    respond_within: 5m
    status_page: {component_status: down, impact: critical}
services:
  - name: checkout
status_page:
  time_zone: Mars/Olympus
  listen: nowhere
  components:
    - name: Checkout
      services: [payments]
    - name: Checkout
      group: Checkout
  templates:
    resolved: ''
    closed: done
";
    let errors = errors(source);
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (4, "severities[0].status_page.component_status"),
            (8, "status_page.time_zone"),
            (9, "status_page.listen"),
            (12, "status_page.components[0].services[0]"),
            (13, "status_page.components[1].name"),
            (14, "status_page.components[1].group"),
            (16, "status_page.templates.resolved"),
            (17, "status_page.templates.closed"),
        ],
        "{errors}"
    );
    assert_eq!(errors.to_string().lines().count(), 8);
}

/// A severity, two services and the start of a `comms` section with one channel (line 8);
/// `rest` follows from line 9, inside the channel.
fn channel_with(rest: &str) -> String {
    format!(
        "severities:\n  - name: SEV1\n    respond_within: 5m\nservices:\n  - name: checkout\n  - name: search\ncomms:\n  channels:\n{rest}"
    )
}

const HOOK: &str = "https://hooks.slack.com/services/T0SECRET/B0SECRET/s3cr3tT0k3n";

fn channel_errors(source: &str) -> ConfigErrors {
    let env = |name: &str| match name {
        "GOOD_HOOK" => Some(HOOK.to_string()),
        "FTP_HOOK" => Some("ftp://hooks.example.com/T0SECRET/s3cr3tT0k3n".to_string()),
        "EMPTY_HOOK" => Some(" \n".to_string()),
        _ => None,
    };
    match firebreak_config::parse_with_env(source, "firebreak.yaml", &env) {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(e) => e,
    }
}

/// Like [`single`], with channel URLs in the environment; no message shows a URL's secret
/// parts.
fn channel_single(source: &str, line: u64, column: u64, path: &str, needle: &str) -> ConfigError {
    let errors = channel_errors(source);
    assert_eq!(errors.len(), 1, "{errors}");
    let e = errors.errors()[0].clone();
    assert_eq!(
        (e.line, e.column, e.path.as_str()),
        (line, column, path),
        "{e}"
    );
    assert!(e.message.contains(needle), "{e}");
    assert_eq!(e.file, "firebreak.yaml");
    for secret in ["SECRET", "s3cr3t"] {
        assert!(!e.to_string().contains(secret), "{e}");
    }
    e
}

#[test]
fn comms_keys_are_checked() {
    let e = channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n      channel: '#incidents'\n",
        ),
        12,
        7,
        "comms.channels[0].channel",
        "unknown key \"channel\"; expected one of name, type, url, severities, services",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:12:7: comms.channels[0].channel: unknown key \"channel\"; expected one \
         of name, type, url, severities, services"
    );
    single(
        "comms:\n  slack: []\n",
        2,
        3,
        "comms.slack",
        "unknown key \"slack\"; expected one of channels",
    );
    single(
        "comms: [incidents]\n",
        1,
        8,
        "comms",
        "expected a mapping with channels, the chat channels incident news is posted to, and \
         stakeholders, the people it is emailed to, found a list",
    );
    single(
        "comms:\n  channels: incidents\n",
        2,
        13,
        "comms.channels",
        "expected a list, found text",
    );
    single(
        "comms:\n  channels:\n    - incidents\n",
        3,
        7,
        "comms.channels[0]",
        "expected a channel mapping with name, type, url, severities and services, found text",
    );
    // The top level names the section among the others.
    single("channels: []\n", 1, 1, "channels", "status_page, comms");
}

#[test]
fn a_channel_needs_a_name_a_type_and_a_url() {
    channel_single(
        &channel_with("    - type: slack\n      url: {env: GOOD_HOOK}\n"),
        9,
        7,
        "comms.channels[0]",
        "missing required key \"name\": the channel's name, 1 to 64 lowercase letters, digits, - \
         or _, like incidents or sev1-alerts",
    );
    let e = channel_single(
        &channel_with("    - name: incidents\n      url: {env: GOOD_HOOK}\n"),
        9,
        7,
        "comms.channels[0]",
        "missing required key \"type\": the chat tool the channel's webhook belongs to, one of \
         slack, mattermost, teams",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:9:7: comms.channels[0]: missing required key \"type\": the chat tool the \
         channel's webhook belongs to, one of slack, mattermost, teams"
    );
    channel_single(
        &channel_with("    - name: incidents\n      type: slack\n"),
        9,
        7,
        "comms.channels[0]",
        "missing required key \"url\": the channel's incoming webhook URL; write the URL, or \
         url: {env: NAME} to read it from an environment variable",
    );
    // Every problem of a channel at once.
    let errors = channel_errors(&channel_with("    - severities: [SEV1]\n"));
    let got: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(got.len(), 3, "{errors}");
    for key in ["name", "type", "url"] {
        assert!(
            got.iter()
                .any(|m| m.starts_with(&format!("missing required key \"{key}\""))),
            "{errors}"
        );
    }
}

#[test]
fn channel_names_are_well_formed_and_unique() {
    let e = channel_single(
        &channel_with("    - name: Incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n"),
        9,
        13,
        "comms.channels[0].name",
        "invalid channel name \"Incidents\": it has characters other than lowercase letters, \
         digits, - and _; expected 1 to 64 lowercase letters, digits, - or _, like incidents or \
         sev1-alerts",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:9:13: comms.channels[0].name: "),
        "{e}"
    );
    channel_single(
        &channel_with("    - name: '#incidents'\n      type: slack\n      url: {env: GOOD_HOOK}\n"),
        9,
        13,
        "comms.channels[0].name",
        "invalid channel name \"#incidents\": leave out the #",
    );
    let long = "x".repeat(65);
    channel_single(
        &channel_with(&format!(
            "    - name: {long}\n      type: slack\n      url: {{env: GOOD_HOOK}}\n"
        )),
        9,
        13,
        "comms.channels[0].name",
        "it has 65 characters; expected 1 to 64",
    );
    let e = channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n    - name: incidents\n      type: teams\n      url: {env: GOOD_HOOK}\n",
        ),
        12,
        13,
        "comms.channels[1].name",
        "duplicate channel name \"incidents\"; first defined on line 9",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:12:13: comms.channels[1].name: duplicate channel name \"incidents\"; \
         first defined on line 9"
    );
}

#[test]
fn a_channels_type_is_one_of_the_chat_tools() {
    let e = channel_single(
        &channel_with("    - name: incidents\n      type: discord\n      url: {env: GOOD_HOOK}\n"),
        10,
        13,
        "comms.channels[0].type",
        "unknown channel type \"discord\"; expected one of slack, mattermost, teams",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:10:13: comms.channels[0].type: unknown channel type \"discord\"; \
         expected one of slack, mattermost, teams"
    );
    channel_single(
        &channel_with("    - name: incidents\n      type: Slack\n      url: {env: GOOD_HOOK}\n"),
        10,
        13,
        "comms.channels[0].type",
        "unknown channel type \"Slack\"; expected one of slack, mattermost, teams",
    );
}

#[test]
fn a_channels_url_is_an_http_url_and_never_shown() {
    let e = channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: ftp://hooks.example.com/T0SECRET/s3cr3tT0k3n\n",
        ),
        11,
        12,
        "comms.channels[0].url",
        "invalid webhook URL (not shown: it is a secret): the scheme is ftp, not http or https; \
         expected the channel's incoming webhook, an http:// or https:// URL like \
         https://hooks.slack.com/services/T000/B000/XXXX",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:11:12: comms.channels[0].url: invalid webhook URL (not shown: it is a \
         secret): the scheme is ftp, not http or https; expected the channel's incoming webhook, \
         an http:// or https:// URL like https://hooks.slack.com/services/T000/B000/XXXX"
    );
    channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: hooks.slack.com/services/T0SECRET/s3cr3tT0k3n\n",
        ),
        11,
        12,
        "comms.channels[0].url",
        "invalid webhook URL (not shown: it is a secret): it has no scheme",
    );
    channel_single(
        &channel_with("    - name: incidents\n      type: slack\n      url: [GOOD_HOOK]\n"),
        11,
        12,
        "comms.channels[0].url",
        "expected an http:// or https:// webhook URL, or {env: NAME} to read it from an \
         environment variable, found a list",
    );
}

#[test]
fn a_channels_url_from_the_environment_is_checked_without_showing_it() {
    let e = channel_single(
        &channel_with("    - name: incidents\n      type: slack\n      url: {env: MISSING_HOOK}\n"),
        11,
        18,
        "comms.channels[0].url.env",
        "environment variable MISSING_HOOK is not set; set it where Firebreak runs to this \
         channel's incoming webhook URL",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:11:18: comms.channels[0].url.env: environment variable MISSING_HOOK is \
         not set; set it where Firebreak runs to this channel's incoming webhook URL, like \
         https://hooks.slack.com/services/T000/B000/XXXX"
    );
    channel_single(
        &channel_with("    - name: incidents\n      type: slack\n      url: {env: EMPTY_HOOK}\n"),
        11,
        18,
        "comms.channels[0].url.env",
        "environment variable EMPTY_HOOK: invalid webhook URL (not shown: it is a secret): it is \
         empty",
    );
    channel_single(
        &channel_with("    - name: incidents\n      type: slack\n      url: {env: FTP_HOOK}\n"),
        11,
        18,
        "comms.channels[0].url.env",
        "environment variable FTP_HOOK: invalid webhook URL (not shown: it is a secret): the \
         scheme is ftp, not http or https",
    );
    channel_single(
        &channel_with("    - name: incidents\n      type: slack\n      url: {env: 'SLACK HOOK'}\n"),
        11,
        18,
        "comms.channels[0].url.env",
        "invalid environment variable name \"SLACK HOOK\"; expected letters, digits and _",
    );
    let errors = channel_errors(&channel_with(
        "    - name: incidents\n      type: slack\n      url: {file: /run/secrets/hook}\n",
    ));
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "firebreak.yaml:11:12: comms.channels[0].url: missing required key \"env\"; write \
             url: {env: NAME} with the name of the environment variable that holds the webhook \
             URL",
            "firebreak.yaml:11:13: comms.channels[0].url.file: unknown key \"file\"; expected \
             one of env",
        ],
        "{errors}"
    );
}

#[test]
fn a_channels_severities_and_services_are_declared_in_the_file() {
    let e = channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n      severities: [sev1, SEV2]\n",
        ),
        12,
        26,
        "comms.channels[0].severities[1]",
        "undefined severity \"SEV2\"; expected one of SEV1",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:12:26: comms.channels[0].severities[1]: undefined severity \"SEV2\"; \
         expected one of SEV1"
    );
    // Without severities in the file, the default ones.
    single(
        "comms:\n  channels:\n    - name: incidents\n      type: slack\n      url: https://hooks.example.com/x\n      severities: [P1]\n",
        6,
        20,
        "comms.channels[0].severities[0]",
        "undefined severity \"P1\"; expected one of SEV1, SEV2, SEV3",
    );
    channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n      severities: [SEV1, sev1]\n",
        ),
        12,
        26,
        "comms.channels[0].severities[1]",
        "severity \"sev1\" is listed twice; first on line 12",
    );
    let e = channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n      services: [checkout, payments]\n",
        ),
        12,
        28,
        "comms.channels[0].services[1]",
        "unknown service \"payments\"; declare it under services:, or name one of checkout, search",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:12:28: comms.channels[0].services[1]: unknown service \"payments\"; \
         declare it under services:, or name one of checkout, search"
    );
    channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n      services: [Checkout]\n",
        ),
        12,
        18,
        "comms.channels[0].services[0]",
        "not a valid name",
    );
    channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n      services: [search, search]\n",
        ),
        12,
        26,
        "comms.channels[0].services[1]",
        "service \"search\" is listed twice; first on line 12",
    );
    channel_single(
        &channel_with(
            "    - name: incidents\n      type: slack\n      url: {env: GOOD_HOOK}\n      services: checkout\n",
        ),
        12,
        17,
        "comms.channels[0].services",
        "expected a list like [checkout, search-api], found text",
    );
}

#[test]
fn every_comms_problem_is_reported_in_document_order() {
    let source = "\
services:
  - name: checkout
comms:
  channels:
    - name: incidents
      type: discord
      url: ftp://hooks.example.com/T0SECRET/s3cr3tT0k3n
      severities: [SEV9]
      services: [payments]
    - name: incidents
      type: slack
      url: {env: MISSING_HOOK}
      colour: red
";
    let errors = channel_errors(source);
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (6, "comms.channels[0].type"),
            (7, "comms.channels[0].url"),
            (8, "comms.channels[0].severities[0]"),
            (9, "comms.channels[0].services[0]"),
            (10, "comms.channels[1].name"),
            (12, "comms.channels[1].url.env"),
            (13, "comms.channels[1].colour"),
        ],
        "{errors}"
    );
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), 7);
    for secret in ["SECRET", "s3cr3t"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn a_severitys_freeze_is_checked() {
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    freeze: everything\n";
    let e = single(
        source,
        4,
        13,
        "severities[0].freeze",
        "unknown freeze scope \"everything\"; expected one of services, all, none",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:4:13: severities[0].freeze: unknown freeze scope \"everything\"; \
         expected one of services, all, none"
    );
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    freeze_until: fixed\n";
    single(
        source,
        4,
        19,
        "severities[0].freeze_until",
        "unknown freeze end \"fixed\"; expected one of mitigated, resolved",
    );
    // Case matters, as in the other words of the file.
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    freeze: All\n";
    single(
        source,
        4,
        13,
        "severities[0].freeze",
        "unknown freeze scope \"All\"",
    );
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    freeze: false\n";
    single(
        source,
        4,
        13,
        "severities[0].freeze",
        "expected what an open incident of this severity freezes, one of services, all, none: \
         services (its own services), all (every service) or none, found a boolean",
    );
    // Both halves are reported together.
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    freeze: some\n    freeze_until: [resolved]\n";
    let errors = errors(source);
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (4, "severities[0].freeze"),
            (5, "severities[0].freeze_until")
        ],
        "{errors}"
    );
    assert!(
        errors.errors()[1]
            .message
            .starts_with("expected when an incident's freeze ends, one of mitigated, resolved"),
        "{errors}"
    );
    // The list of a severity's keys names them.
    let source = "severities:\n  - name: SEV1\n    respond_within: 5m\n    frozen: all\n";
    single(
        source,
        4,
        5,
        "severities[0].frozen",
        "unknown key \"frozen\"; expected one of name, description, respond_within, page, \
         update_every, requires_commander, status_page, freeze, freeze_until",
    );
}

#[test]
fn break_glass_is_checked() {
    let e = single(
        "break_glass:\n  max: 30s\n",
        2,
        8,
        "break_glass.max",
        "max must be from 1m to 24h, found 30s: the longest a break-glass grant may last, e.g. 1h",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:2:8: break_glass.max: max must be from 1m to 24h, found 30s: the longest \
         a break-glass grant may last, e.g. 1h"
    );
    single(
        "break_glass:\n  max: 1d1m\n",
        2,
        8,
        "break_glass.max",
        "max must be from 1m to 24h, found 1d1m",
    );
    single(
        "break_glass:\n  max: 0m\n",
        2,
        8,
        "break_glass.max",
        "max must be from 1m to 24h, found 0m",
    );
    single(
        "break_glass:\n  max: an hour\n",
        2,
        8,
        "break_glass.max",
        "invalid duration \"an hour\"; expected a duration like 90s, 15m, 2h or 1h30m",
    );
    // YAML 1.1 booleans stay text.
    single(
        "break_glass:\n  approval: yes\n",
        2,
        13,
        "break_glass.approval",
        "expected true (a grant waits for the incident's commander to approve it) or false, \
         found text",
    );
    single(
        "break_glass:\n  maximum: 1h\n",
        2,
        3,
        "break_glass.maximum",
        "unknown key \"maximum\"; expected one of max, approval",
    );
    single(
        "break_glass: 1h\n",
        1,
        14,
        "break_glass",
        "expected a mapping with max and approval, like {max: 1h, approval: false}, found text",
    );
}

#[test]
fn secrets_are_checked() {
    let e = single(
        "secrets:\n  file: ''\n",
        2,
        9,
        "secrets.file",
        "expected non-empty text: the path of a file of name: value lines readable only by its \
         owner (mode 0600), like /etc/firebreak/secrets.yaml",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:2:9: secrets.file: expected non-empty text"),
        "{e}"
    );
    single(
        "secrets:\n  file: [/etc/firebreak/secrets.yaml]\n",
        2,
        9,
        "secrets.file",
        "expected text, found a list",
    );
    single(
        "secrets:\n  path: /etc/firebreak/secrets.yaml\n",
        2,
        3,
        "secrets.path",
        "unknown key \"path\"; expected one of file",
    );
    single(
        "secrets: /etc/firebreak/secrets.yaml\n",
        1,
        10,
        "secrets",
        "expected a mapping with file, the path of a file of name: value lines",
    );
}

#[test]
fn the_top_level_names_the_new_sections() {
    let e = single(
        "runbook: []\n",
        1,
        1,
        "runbook",
        "unknown key \"runbook\"; expected one of severities, roles, checklists, services, \
         users, schedules, escalation_policies, paging, alerting, outbound, server, email, \
         status_page, comms, runbooks, break_glass, secrets, oidc, metrics, review, reports, \
         checks",
    );
    assert!(e.to_string().ends_with(
        "comms, runbooks, break_glass, secrets, oidc, metrics, review, reports, checks"
    ));
    single(
        "[runbooks]\n",
        1,
        1,
        "",
        "status_page, comms, runbooks, break_glass, secrets, oidc, metrics, review, reports and checks, found a list",
    );
}

/// Two services and the start of a `runbooks` section (line 4); `rest` follows from line 5.
fn runbook_with(rest: &str) -> String {
    format!("services:\n  - name: checkout\n  - name: search\nrunbooks:\n{rest}")
}

/// A runbook whose `actions` start on line 8; `actions` follows from line 9, each action's
/// `- ` at column 7 and its keys at column 9.
fn action_with(actions: &str) -> String {
    runbook_with(&format!(
        "  - name: checkout-errors\n    services: [checkout]\n    url: https://wiki.example.com/checkout\n    actions:\n{actions}"
    ))
}

#[test]
fn runbook_keys_are_checked() {
    let e = single(
        &runbook_with("  - name: x\n    services: [checkout]\n    body: b\n    steps: []\n"),
        8,
        5,
        "runbooks[0].steps",
        "unknown key \"steps\"; expected one of name, services, match, body, url, actions",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:8:5: runbooks[0].steps: unknown key \"steps\"; expected one of name, \
         services, match, body, url, actions"
    );
    single(
        "runbooks: checkout\n",
        1,
        11,
        "runbooks",
        "expected a list, found text",
    );
    single(
        &runbook_with("  - checkout\n"),
        5,
        5,
        "runbooks[0]",
        "expected a runbook mapping with name, services, match, body, url and actions, found \
         text",
    );
    let e = single(
        &action_with(
            "      - name: rollback\n        kind: command\n        run: [ls]\n        shell: bash\n",
        ),
        12,
        9,
        "runbooks[0].actions[0].shell",
        "unknown key \"shell\"; expected one of name, description, kind, run, cwd, env, method, \
         url, headers, body, params, timeout, role, approval, approval_within",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:12:9: runbooks[0].actions[0].shell: unknown key"),
        "{e}"
    );
    single(
        &runbook_with(
            "  - name: x\n    services: [checkout]\n    body: b\n    actions: rollback\n",
        ),
        8,
        14,
        "runbooks[0].actions",
        "expected a list, found text",
    );
    single(
        &action_with("      - rollback\n"),
        9,
        9,
        "runbooks[0].actions[0]",
        "expected an action mapping with name, kind and the keys of its kind: run, cwd and env \
         for a command; method, url, headers and body for an http request, found text",
    );
}

#[test]
fn a_runbook_needs_a_name_services_and_a_body_or_url() {
    single(
        &runbook_with("  - services: [checkout]\n    body: b\n"),
        5,
        5,
        "runbooks[0]",
        "missing required key \"name\"",
    );
    single(
        &runbook_with("  - name: Checkout Errors\n    services: [checkout]\n    body: b\n"),
        5,
        11,
        "runbooks[0].name",
        "`Checkout Errors` is not a valid name",
    );
    let e = single(
        &runbook_with("  - name: x\n    body: b\n"),
        5,
        5,
        "runbooks[0]",
        "missing required key \"services\": the services the runbook covers, each declared \
         under services:, like [checkout]",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:5:5: runbooks[0]: missing required key \"services\": the services the \
         runbook covers, each declared under services:, like [checkout]"
    );
    single(
        &runbook_with("  - name: x\n    services: []\n    body: b\n"),
        6,
        15,
        "runbooks[0].services",
        "expected at least one service: the services the runbook covers",
    );
    single(
        &runbook_with("  - name: x\n    services: checkout\n    body: b\n"),
        6,
        15,
        "runbooks[0].services",
        "expected a list like [checkout, search-api], found text",
    );
    let e = single(
        &runbook_with("  - name: x\n    services: [checkout]\n"),
        5,
        5,
        "runbooks[0]",
        "missing required key \"body\" or \"url\": a runbook needs its steps (body, in \
         Markdown), where it lives (url), or both",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:5:5: runbooks[0]: missing required key \"body\""),
        "{e}"
    );
    single(
        &runbook_with("  - name: x\n    services: [checkout]\n    body: '  '\n"),
        7,
        11,
        "runbooks[0].body",
        "expected non-empty text: the runbook's steps, in Markdown; leave body out when the \
         runbook lives at its url",
    );
    single(
        &runbook_with("  - name: x\n    services: [checkout]\n    url: wiki/checkout\n"),
        7,
        10,
        "runbooks[0].url",
        "invalid url \"wiki/checkout\"; expected an http:// or https:// URL, like \
         https://wiki.example.com/runbooks/checkout",
    );
}

#[test]
fn a_runbooks_services_are_declared_in_the_file() {
    let e = single(
        &runbook_with("  - name: x\n    services: [checkout, payments]\n    body: b\n"),
        6,
        26,
        "runbooks[0].services[1]",
        "unknown service \"payments\"; declare it under services:, or name one of checkout, \
         search",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:6:26: runbooks[0].services[1]: unknown service \"payments\"; declare it \
         under services:, or name one of checkout, search"
    );
    // Without services in the file.
    single(
        "runbooks:\n  - name: x\n    services: [checkout]\n    body: b\n",
        3,
        16,
        "runbooks[0].services[0]",
        "unknown service \"checkout\"; declare it under services:",
    );
    single(
        &runbook_with("  - name: x\n    services: [search, search]\n    body: b\n"),
        6,
        24,
        "runbooks[0].services[1]",
        "service \"search\" is listed twice; first on line 6",
    );
    // Runbooks may come before the services they name.
    let source = "runbooks:\n  - name: x\n    services: [checkout]\n    body: b\nservices:\n  - name: checkout\n";
    assert!(parse(source, "firebreak.yaml").is_ok());
}

#[test]
fn a_runbooks_matchers_are_checked() {
    let e = single(
        &runbook_with(
            "  - name: x\n    services: [checkout]\n    body: b\n    match: ['alertname=\"A\"', 'severity']\n",
        ),
        8,
        30,
        "runbooks[0].match[1]",
        "`severity` is not a matcher",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:8:30: runbooks[0].match[1]: `severity` is not a matcher"),
        "{e}"
    );
    single(
        &runbook_with(
            "  - name: x\n    services: [checkout]\n    body: b\n    match: 'alertname=\"A\"'\n",
        ),
        8,
        12,
        "runbooks[0].match",
        "expected a list like ['severity=\"critical\"', 'env!=\"dev\"'], found text",
    );
}

#[test]
fn runbook_and_action_names_are_unique() {
    let e = single(
        &runbook_with(
            "  - name: x\n    services: [checkout]\n    body: b\n  - name: x\n    services: [search]\n    body: c\n",
        ),
        8,
        11,
        "runbooks[1].name",
        "duplicate runbook name \"x\"; first defined on line 5",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:8:11: runbooks[1].name: duplicate runbook name \"x\"; first defined on \
         line 5"
    );
    single(
        &action_with(
            "      - name: rollback\n        kind: command\n        run: [ls]\n      - name: rollback\n        kind: http\n        url: https://deploy.example.com\n",
        ),
        12,
        15,
        "runbooks[0].actions[1].name",
        "duplicate action name \"rollback\"; first defined on line 9",
    );
    single(
        &action_with("      - name: Roll Back\n        kind: command\n        run: [ls]\n"),
        9,
        15,
        "runbooks[0].actions[0].name",
        "`Roll Back` is not a valid name",
    );
    // Action names are unique within their runbook only.
    let source = runbook_with(
        "  - name: a\n    services: [checkout]\n    body: b\n    actions: [{name: rollback, kind: command, run: [ls]}]\n  - name: b\n    services: [search]\n    body: b\n    actions: [{name: rollback, kind: command, run: [ls]}]\n",
    );
    assert!(parse(&source, "firebreak.yaml").is_ok());
}

#[test]
fn an_actions_keys_belong_to_its_kind() {
    let e = single(
        &action_with(
            "      - name: a\n        kind: http\n        url: https://deploy.example.com\n        run: [ls]\n",
        ),
        12,
        9,
        "runbooks[0].actions[0].run",
        "run is for actions of kind command, not http; leave it out, or write kind: command",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:12:9: runbooks[0].actions[0].run: run is for actions of kind command, \
         not http; leave it out, or write kind: command"
    );
    let errors = errors(&action_with(
        "      - name: a\n        kind: command\n        run: [ls]\n        method: GET\n        env: {A: b}\n        headers: {A: b}\n        body: x\n",
    ));
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "firebreak.yaml:12:9: runbooks[0].actions[0].method: method is for actions of kind \
             http, not command; leave it out, or write kind: http",
            "firebreak.yaml:14:9: runbooks[0].actions[0].headers: headers is for actions of \
             kind http, not command; leave it out, or write kind: http",
            "firebreak.yaml:15:9: runbooks[0].actions[0].body: body is for actions of kind \
             http, not command; leave it out, or write kind: http",
        ],
        "{errors}"
    );
    single(
        &action_with("      - name: a\n        run: [ls]\n"),
        9,
        9,
        "runbooks[0].actions[0]",
        "missing required key \"kind\": what the action does, command (run a program) or http \
         (send an HTTP request)",
    );
    single(
        &action_with("      - name: a\n        kind: shell\n        run: [ls]\n"),
        10,
        15,
        "runbooks[0].actions[0].kind",
        "unknown action kind \"shell\"; expected one of command, http",
    );
}

#[test]
fn a_commands_run_is_a_list_never_a_shell_string() {
    let e = single(
        &action_with(
            "      - name: a\n        kind: command\n        run: kubectl rollout undo deployment/checkout\n",
        ),
        11,
        14,
        "runbooks[0].actions[0].run",
        "expected a list of the program and its arguments, like [kubectl, rollout, undo, \
         \"deployment/{service}\"], found text: a command never goes through a shell, so write \
         each argument as an item of its own",
    );
    assert!(
        e.to_string().starts_with(
            "firebreak.yaml:11:14: runbooks[0].actions[0].run: expected a list of the program"
        ),
        "{e}"
    );
    single(
        &action_with("      - name: a\n        kind: command\n        run: []\n"),
        11,
        14,
        "runbooks[0].actions[0].run",
        "expected at least one item: the program to run, then its arguments",
    );
    single(
        &action_with("      - name: a\n        kind: command\n        run: {program: ls}\n"),
        11,
        14,
        "runbooks[0].actions[0].run",
        "expected a list of the program and its arguments, like [kubectl, rollout, undo, \
         \"deployment/{service}\"], found a mapping",
    );
    single(
        &action_with("      - name: a\n        kind: command\n"),
        9,
        9,
        "runbooks[0].actions[0]",
        "missing required key \"run\": the program to run and its arguments, a list like",
    );
    single(
        &action_with("      - name: a\n        kind: command\n        run: [sleep, 5]\n"),
        11,
        22,
        "runbooks[0].actions[0].run[1]",
        "expected an argument as text, found a number; quote it, so it is used exactly as \
         written",
    );
    single(
        &action_with("      - name: a\n        kind: command\n        run: ['', x]\n"),
        11,
        15,
        "runbooks[0].actions[0].run[0]",
        "expected the program to run, like kubectl, found empty text",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        cwd: ''\n",
        ),
        12,
        14,
        "runbooks[0].actions[0].cwd",
        "expected non-empty text: the directory the command runs in",
    );
}

#[test]
fn placeholders_are_built_in_or_declared() {
    let e = single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [kubectl, -n, \"{namespace}\"]\n",
        ),
        11,
        28,
        "runbooks[0].actions[0].run[2]",
        "unknown placeholder {namespace}",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:11:28: runbooks[0].actions[0].run[2]: unknown placeholder {namespace}; \
         expected one of {service}, {version}, {previous_version}, {incident}; declare namespace \
         under params, with the pattern its values must match, like params: {namespace: \
         '^[a-z0-9-]{1,63}$'}"
    );
    // The declared ones are known too; each unknown one is named once.
    single(
        &action_with(
            "      - name: a\n        kind: http\n        url: https://{host}.example.com/{region}/{host}\n        params: {region: 'eu|us'}\n",
        ),
        11,
        14,
        "runbooks[0].actions[0].url",
        "unknown placeholder {host}; expected one of {service}, {version}, {previous_version}, \
         {incident}, {region}; declare host under params",
    );
    // Braces that are not a placeholder are literal: a JSON body is written as it is, and a
    // brace left open is text.
    for ok in [
        "      - name: a\n        kind: http\n        url: https://deploy.example.com\n        body: '{\"service\": \"{service}\", \"n\": {\"a\": 1}}'\n",
        "      - name: a\n        kind: command\n        run: [kubectl, \"deployment/{service\"]\n",
    ] {
        let source = action_with(ok);
        assert!(parse(&source, "firebreak.yaml").is_ok(), "{ok}");
    }
    // Placeholders in other keys are not templates, and are left alone.
    let source = action_with(
        "      - name: a\n        kind: command\n        run: [ls, '{ x }']\n        cwd: /srv/{x}\n        env: {A: '{y}'}\n",
    );
    assert!(parse(&source, "firebreak.yaml").is_ok());
}

#[test]
fn an_actions_params_are_checked() {
    let e = single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [kubectl, -n, \"{namespace}\"]\n        params: {namespace: '[a-z'}\n",
        ),
        12,
        29,
        "runbooks[0].actions[0].params.namespace",
        "invalid pattern \"[a-z\": unclosed character class; expected a regular expression the \
         whole value must match, like ^[a-z0-9-]{1,63}$",
    );
    assert_eq!(
        e.to_string().lines().count(),
        1,
        "one line, without the regex crate's caret: {e}"
    );
    // A bad name is reported once, not again where a template uses it.
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [kubectl, -n, \"{Namespace}\"]\n        params: {Namespace: '[a-z]+'}\n",
        ),
        12,
        18,
        "runbooks[0].actions[0].params.Namespace",
        "invalid parameter name \"Namespace\"; expected lowercase letters, digits and _, not \
         starting with a digit, like namespace",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        params: {n: ''}\n",
        ),
        12,
        21,
        "runbooks[0].actions[0].params.n",
        "expected a pattern the whole value must match, like ^[a-z0-9-]{1,63}$, found empty text",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        params: {n: 5}\n",
        ),
        12,
        21,
        "runbooks[0].actions[0].params.n",
        "expected a pattern as text, found a number; quote it",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        params: [namespace]\n",
        ),
        12,
        17,
        "runbooks[0].actions[0].params",
        "expected a mapping from parameter names to the patterns their values must match",
    );
}

#[test]
fn env_and_headers_hold_text_or_named_secrets() {
    let e = single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        env: {'KUBE CONFIG': x}\n",
        ),
        12,
        15,
        "runbooks[0].actions[0].env.KUBE CONFIG",
        "invalid environment variable name \"KUBE CONFIG\"; expected letters, digits and _, not \
         starting with a digit, like KUBECONFIG",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:12:15: runbooks[0].actions[0].env.KUBE CONFIG: "),
        "{e}"
    );
    // Every message about a value says where secrets go.
    let e = single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        env: {REPLICAS: 3}\n",
        ),
        12,
        25,
        "runbooks[0].actions[0].env.REPLICAS",
        "expected text or {secret: NAME}, found a number; quote text so it is used exactly as \
         written; a value is text or {secret: NAME}, the name of a secret read when the action \
         runs; never write a secret itself in the file",
    );
    assert!(e.message.contains("never write a secret"), "{e}");
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        env: KUBECONFIG=/etc/kube\n",
        ),
        12,
        14,
        "runbooks[0].actions[0].env",
        "expected a mapping from environment variable names to values, like {KUBECONFIG: \
         {secret: kubeconfig}, MODE: fast}; a value is text or {secret: NAME}, the name of a \
         secret read when the action runs; never write a secret itself in the file, found text",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        env: {TOKEN: {secret: Deploy-Token}}\n",
        ),
        12,
        31,
        "runbooks[0].actions[0].env.TOKEN.secret",
        "`Deploy-Token` is not a valid name",
    );
    let errors = errors(&action_with(
        "      - name: a\n        kind: command\n        run: [ls]\n        env: {TOKEN: {env: DEPLOY_TOKEN}}\n",
    ));
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "firebreak.yaml:12:22: runbooks[0].actions[0].env.TOKEN: missing required key \
             \"secret\"; write {secret: NAME} with the name of the secret, read when the action \
             runs from the environment (FIREBREAK_SECRET_<NAME>) or the secrets file",
            "firebreak.yaml:12:23: runbooks[0].actions[0].env.TOKEN.env: unknown key \"env\"; \
             expected one of secret",
        ],
        "{errors}"
    );
    single(
        &action_with(
            "      - name: a\n        kind: http\n        url: https://deploy.example.com\n        headers: {'X Token': {secret: t}}\n",
        ),
        12,
        19,
        "runbooks[0].actions[0].headers.X Token",
        "invalid header name \"X Token\"; expected letters, digits and !#$%&'*+-.^_`|~, like \
         Authorization",
    );
    single(
        &action_with(
            "      - name: a\n        kind: http\n        url: https://deploy.example.com\n        headers: {Authorization: [Bearer, x]}\n",
        ),
        12,
        34,
        "runbooks[0].actions[0].headers.Authorization",
        "expected text or {secret: NAME}, found a list",
    );
}

#[test]
fn an_action_changes_production_so_viewers_never_run_one() {
    let e = single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        role: viewer\n",
        ),
        12,
        15,
        "runbooks[0].actions[0].role",
        "an action changes production; its role must be responder or admin, found viewer",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:12:15: runbooks[0].actions[0].role: an action changes production; its \
         role must be responder or admin, found viewer"
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        role: owner\n",
        ),
        12,
        15,
        "runbooks[0].actions[0].role",
        "unknown role \"owner\"; expected responder or admin, the least role that may run the \
         action",
    );
}

#[test]
fn an_actions_durations_and_approval_are_checked() {
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        timeout: 2h\n",
        ),
        12,
        18,
        "runbooks[0].actions[0].timeout",
        "timeout must be from 1s to 1h, found 2h: how long a run may take before it is stopped",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        timeout: 5 mins\n",
        ),
        12,
        18,
        "runbooks[0].actions[0].timeout",
        "invalid duration \"5 mins\"",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        approval_within: 1d1s\n",
        ),
        12,
        26,
        "runbooks[0].actions[0].approval_within",
        "approval_within must be from 1m to 24h, found 1d1s: how long a run waits for a second \
         person to approve it before it is refused",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        approval_within: 30s\n",
        ),
        12,
        26,
        "runbooks[0].actions[0].approval_within",
        "approval_within must be from 1m to 24h, found 30s",
    );
    single(
        &action_with(
            "      - name: a\n        kind: command\n        run: [ls]\n        approval: yes\n",
        ),
        12,
        19,
        "runbooks[0].actions[0].approval",
        "expected true or false, found text",
    );
}

#[test]
fn an_http_actions_method_and_url_are_checked() {
    single(
        &action_with(
            "      - name: a\n        kind: http\n        method: post\n        url: https://deploy.example.com\n",
        ),
        11,
        17,
        "runbooks[0].actions[0].method",
        "unknown method \"post\"; expected one of GET, POST, PUT, PATCH, DELETE",
    );
    single(
        &action_with("      - name: a\n        kind: http\n"),
        9,
        9,
        "runbooks[0].actions[0]",
        "missing required key \"url\": where the request goes, an http:// or https:// URL like \
         https://deploy.example.com/api/rollback",
    );
    single(
        &action_with(
            "      - name: a\n        kind: http\n        url: ftp://deploy.example.com/{service}\n",
        ),
        11,
        14,
        "runbooks[0].actions[0].url",
        "invalid url \"ftp://deploy.example.com/{service}\"; expected an http:// or https:// URL",
    );
    // The scheme cannot come from a placeholder.
    single(
        &action_with("      - name: a\n        kind: http\n        url: '{service}'\n"),
        11,
        14,
        "runbooks[0].actions[0].url",
        "invalid url \"{service}\"",
    );
    single(
        &action_with(
            "      - name: a\n        kind: http\n        url: https://deploy.example.com\n        body: 42\n",
        ),
        12,
        15,
        "runbooks[0].actions[0].body",
        "expected the request's body as text, found a number; quote it",
    );
}

#[test]
fn every_runbook_problem_is_reported_in_document_order() {
    let source = "\
services:
  - name: checkout
runbooks:
  - name: checkout-errors
    services: [payments]
    match: [nope]
    actions:
      - name: rollback
        kind: http
        run: kubectl rollout undo
        url: https://deploy.example.com/{namespace}
        role: viewer
      - name: rollback
        kind: command
        run: [ls]
        params: {ns: '('}
  - name: checkout-errors
    services: [checkout]
    body: b
break_glass: {max: 2d}
secrets: {file: ''}
";
    let errors = errors(source);
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (4, "runbooks[0]"),
            (5, "runbooks[0].services[0]"),
            (6, "runbooks[0].match[0]"),
            (10, "runbooks[0].actions[0].run"),
            (11, "runbooks[0].actions[0].url"),
            (12, "runbooks[0].actions[0].role"),
            (13, "runbooks[0].actions[1].name"),
            (16, "runbooks[0].actions[1].params.ns"),
            (17, "runbooks[1].name"),
            (20, "break_glass.max"),
            (21, "secrets.file"),
        ],
        "{errors}"
    );
    assert_eq!(errors.to_string().lines().count(), 11, "{errors}");
}

/// A file whose `metrics` section starts on line 3; `rest` follows from line 4.
fn metrics_with(rest: &str) -> String {
    format!("server:\n  public_url: https://firebreak.example.com\nmetrics:\n{rest}")
}

#[test]
fn a_listener_that_is_not_an_address_points_at_its_line() {
    let e = single(
        &metrics_with("  listen: localhost:9464\n"),
        4,
        11,
        "metrics.listen",
        "invalid listen address \"localhost:9464\"; expected an IP address and a port, like \
         127.0.0.1:9464 or [::1]:9464",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:4:11: metrics.listen: invalid listen address \"localhost:9464\"; \
         expected an IP address and a port, like 127.0.0.1:9464 or [::1]:9464"
    );
    // A port alone is no address either, nor is an address without a port.
    single(
        &metrics_with("  listen: 9464\n"),
        4,
        11,
        "metrics.listen",
        "invalid listen address \"9464\"",
    );
    single(
        &metrics_with("  listen: 127.0.0.1\n"),
        4,
        11,
        "metrics.listen",
        "invalid listen address \"127.0.0.1\"",
    );
    single(
        &metrics_with("  listen: 127.0.0.1:99999\n"),
        4,
        11,
        "metrics.listen",
        "invalid listen address",
    );
}

#[test]
fn a_listener_of_the_wrong_type_points_at_its_line() {
    single(
        &metrics_with("  listen: [127.0.0.1:9464]\n"),
        4,
        11,
        "metrics.listen",
        "expected text, found a list",
    );
    single(
        &metrics_with("  listen: {host: 127.0.0.1, port: 9464}\n"),
        4,
        11,
        "metrics.listen",
        "expected text, found a mapping",
    );
    single(
        "metrics: 127.0.0.1:9464\n",
        1,
        10,
        "metrics",
        "expected a mapping with listen, the address of a listener serving only /metrics, \
         like 127.0.0.1:9464, found text",
    );
    let e = single(
        &metrics_with("  port: 9464\n"),
        4,
        3,
        "metrics.port",
        "unknown key \"port\"; expected one of listen",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:4:3: metrics.port: unknown key \"port\"; expected one of listen"
    );
}

#[test]
fn the_status_page_and_the_metrics_need_listeners_of_their_own() {
    let source = "status_page:\n  listen: 0.0.0.0:8081\nmetrics:\n  listen: 0.0.0.0:8081\n";
    single(
        source,
        4,
        11,
        "metrics.listen",
        "0.0.0.0:8081 is also status_page.listen; the metrics need a listener of their own",
    );
}

/// A file whose `review` section starts on line 1; `rest` follows from line 2.
fn review_with(rest: &str) -> String {
    format!("review:\n{rest}")
}

#[test]
fn an_unknown_review_key_points_at_its_line() {
    let e = single(
        &review_with("  remind_after: 5d\n  remind_every: 1d\n"),
        3,
        3,
        "review.remind_every",
        "unknown key \"remind_every\"; expected one of remind_after, remind_severities, blameless",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:3:3: review.remind_every: unknown key \"remind_every\"; expected one of \
         remind_after, remind_severities, blameless"
    );
    single(
        &review_with("  blameless:\n    enable: [fault]\n"),
        3,
        5,
        "review.blameless.enable",
        "unknown key \"enable\"; expected one of disable, rules",
    );
    single(
        &review_with(
            "  blameless:\n    rules:\n      - id: rockstar\n        pattern: rockstar\n        \
             reason: r\n        suggestion: s\n        severity: high\n",
        ),
        8,
        9,
        "review.blameless.rules[0].severity",
        "unknown key \"severity\"; expected one of id, pattern, reason, suggestion",
    );
    single(
        "review: 5d\n",
        1,
        9,
        "review",
        "expected a mapping with remind_after, remind_severities and blameless",
    );
}

#[test]
fn a_review_duration_that_is_not_one_points_at_its_line() {
    single(
        &review_with("  remind_after: five days\n"),
        2,
        17,
        "review.remind_after",
        "invalid duration \"five days\"",
    );
    single(
        &review_with("  remind_after: 10m\n"),
        2,
        17,
        "review.remind_after",
        "remind_after must be from 1h to 90d, found 10m",
    );
}

#[test]
fn a_reminded_severity_must_be_configured() {
    let e = single(
        &review_with("  remind_severities: [SEV1, SEV9]\n"),
        2,
        29,
        "review.remind_severities[1]",
        "undefined severity \"SEV9\"; expected one of SEV1, SEV2, SEV3",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:2:29: review.remind_severities[1]: undefined severity \"SEV9\"; \
         expected one of SEV1, SEV2, SEV3"
    );
    single(
        &review_with("  remind_severities:\n    - SEV1\n    - sev1\n"),
        4,
        7,
        "review.remind_severities[1]",
        "severity \"SEV1\" is listed twice; first on line 3",
    );
    single(
        &review_with("  remind_severities: SEV1\n"),
        2,
        22,
        "review.remind_severities",
        "expected a list like [SEV1, SEV2], found text",
    );
}

#[test]
fn a_blameless_rule_the_check_refuses_points_at_its_line() {
    // A built-in rule id that does not exist.
    let e = single(
        &review_with("  blameless:\n    disable: [should-have, shouldve]\n"),
        3,
        28,
        "review.blameless.disable[1]",
        "cannot disable blameless rule `shouldve`: there is no built-in rule by that id",
    );
    assert!(e.message.contains("human-error, fault, should-have"), "{e}");
    // A pattern that is not a regex, or matches empty text.
    let rule = |id: &str, pattern: &str| {
        format!(
            "      - id: {id}\n        pattern: '{pattern}'\n        reason: Blames a person.\n        \
             suggestion: Name the system.\n"
        )
    };
    single(
        &review_with(&format!(
            "  blameless:\n    rules:\n{}",
            rule("rockstar", "(rockstar")
        )),
        5,
        18,
        "review.blameless.rules[0].pattern",
        "blameless rule `rockstar`: the pattern is not a valid regex",
    );
    single(
        &review_with(&format!(
            "  blameless:\n    rules:\n{}",
            rule("rockstar", "x*")
        )),
        5,
        18,
        "review.blameless.rules[0].pattern",
        "the pattern can match empty text",
    );
    // The same id twice, and a built-in id that is not disabled.
    let e = single(
        &review_with(&format!(
            "  blameless:\n    rules:\n{}{}",
            rule("rockstar", "rockstar"),
            rule("rockstar", "ninja")
        )),
        8,
        13,
        "review.blameless.rules[1].id",
        "blameless rule `rockstar` is defined twice",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:8:13: review.blameless.rules[1].id: blameless rule `rockstar` is defined \
         twice (to replace a built-in rule, disable it as well)"
    );
    single(
        &review_with(&format!(
            "  blameless:\n    rules:\n{}",
            rule("fault", "blame")
        )),
        4,
        13,
        "review.blameless.rules[0].id",
        "blameless rule `fault` is defined twice",
    );
    // An id that is not one, and a key left out.
    single(
        &review_with(&format!(
            "  blameless:\n    rules:\n{}",
            rule("Rock Star", "rockstar")
        )),
        4,
        13,
        "review.blameless.rules[0].id",
        "blameless rule id `Rock Star` is not valid",
    );
    single(
        &review_with(
            "  blameless:\n    rules:\n      - id: rockstar\n        pattern: rockstar\n        reason: r\n",
        ),
        4,
        9,
        "review.blameless.rules[0]",
        "missing required key \"suggestion\"",
    );
}

#[test]
fn every_review_problem_is_reported_at_once() {
    let errors = errors(
        "review:\n  remind_after: 0s\n  remind_severities: [SEV7]\n  blameless:\n    \
         disable: [nope]\n    rules: {id: x}\n",
    );
    assert_eq!(errors.len(), 4, "{errors}");
    let lines: Vec<u64> = errors.errors().iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3, 5, 6], "{errors}");
}

#[test]
fn checks_problems_point_at_their_lines() {
    single(
        "checks:\n  allow: [10.0.0.0/8, intranet]\n",
        2,
        23,
        "checks.allow[1]",
        "invalid network \"intranet\"",
    );
    single(
        "checks:\n  tls:\n    warn_before: soon\n",
        3,
        18,
        "checks.tls.warn_before",
        "invalid duration \"soon\"",
    );
    single(
        "checks:\n  tls:\n    ca_file: /nonexistent/ca.pem\n",
        3,
        14,
        "checks.tls.ca_file",
        "cannot read /nonexistent/ca.pem",
    );
    single(
        "checks:\n  every: 30s\n",
        2,
        3,
        "checks.every",
        "unknown key \"every\"; expected one of allow, tls",
    );
}

#[test]
fn reports_problems_point_at_their_lines() {
    single(
        "reports:\n  threshold: 0\n",
        2,
        14,
        "reports.threshold",
        "expected a whole number from 1 to 1000, found 0",
    );
    single(
        "reports:\n  threshold: 1001\n",
        2,
        14,
        "reports.threshold",
        "expected a whole number from 1 to 1000, found 1001",
    );
    single(
        "reports:\n  window: 30s\n",
        2,
        11,
        "reports.window",
        "window must be from 1m to 24h, found 30s",
    );
    single(
        "reports:\n  window: soon\n",
        2,
        11,
        "reports.window",
        "invalid duration \"soon\"",
    );
    single(
        "reports:\n  urgency: urgent\n",
        2,
        12,
        "reports.urgency",
        "`urgent` is not one of",
    );
    let e = single(
        "reports:\n  threshold: 3\n  per: 10m\n",
        3,
        3,
        "reports.per",
        "unknown key \"per\"; expected one of threshold, window, urgency, status_page_form",
    );
    assert!(
        e.to_string()
            .starts_with("firebreak.yaml:3:3: reports.per: "),
        "{e}"
    );
    single(
        "reports:\n  status_page_form: maybe\n",
        2,
        21,
        "reports.status_page_form",
        "true or false",
    );
    single(
        "reports: 3\n",
        1,
        10,
        "reports",
        "expected a mapping with threshold, window, urgency and status_page_form",
    );
    let errors = errors("reports:\n  threshold: -1\n  window: 2d\n  urgency: HIGH\n");
    let lines: Vec<u64> = errors.errors().iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3, 4], "every problem at once: {errors}");
}

/// A severity, two services and the start of a `comms` section with stakeholders (line 8);
/// `rest` follows from line 9.
fn stakeholders_with(rest: &str) -> String {
    format!(
        "severities:\n  - name: SEV1\n    respond_within: 5m\nservices:\n  - name: checkout\n  - name: search\ncomms:\n  stakeholders:\n{rest}"
    )
}

#[test]
fn stakeholders_are_read() {
    let config = firebreak_config::parse(
        &stakeholders_with(
            "    - email: cto@example.com\n      name: Dana\n      severities: [sev1]\n    - email: pay@example.com\n      services: [checkout]\n",
        ),
        "firebreak.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let s = &config.comms.stakeholders;
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].email.as_str(), s[0].name.as_deref()),
        ("cto@example.com", Some("Dana"))
    );
    // Severities as the file's severities spell them.
    assert_eq!(s[0].severities, ["SEV1"]);
    assert!(s[0].services.is_empty() && s[1].severities.is_empty());
    assert_eq!(s[1].services[0].as_str(), "checkout");
}

#[test]
fn stakeholder_errors_point_at_their_line_and_key() {
    let e = single(
        &stakeholders_with("    - email: cto.example.com\n"),
        9,
        14,
        "comms.stakeholders[0].email",
        "invalid email \"cto.example.com\"; expected an address like cto@example.com",
    );
    assert_eq!(
        e.to_string(),
        "firebreak.yaml:9:14: comms.stakeholders[0].email: invalid email \"cto.example.com\"; \
         expected an address like cto@example.com"
    );
    single(
        &stakeholders_with("    - email: cto@example.com\n      services: [billing]\n"),
        10,
        18,
        "comms.stakeholders[0].services[0]",
        "unknown service \"billing\"; declare it under services:",
    );
    single(
        &stakeholders_with("    - email: cto@example.com\n      severities: [SEV9]\n"),
        10,
        20,
        "comms.stakeholders[0].severities[0]",
        "undefined severity \"SEV9\"; expected one of SEV1",
    );
    single(
        &stakeholders_with("    - name: Dana\n"),
        9,
        7,
        "comms.stakeholders[0]",
        "missing required key \"email\"",
    );
    single(
        &stakeholders_with("    - email: cto@example.com\n      phone: '555'\n"),
        10,
        7,
        "comms.stakeholders[0].phone",
        "unknown key \"phone\"; expected one of email, name, severities, services",
    );
    single(
        &stakeholders_with("    - email: cto@example.com\n    - email: CTO@example.com\n"),
        10,
        14,
        "comms.stakeholders[1].email",
        "duplicate stakeholder \"CTO@example.com\"; first listed on line 9",
    );
}
