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
