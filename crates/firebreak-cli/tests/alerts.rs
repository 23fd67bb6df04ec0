//! The `alert`, `silence`, `integration` and `deploy` commands against a
//! wiremock server: the request each sends (method, path, query, body) and
//! what it prints, on standard output and standard error.

use clap::{Parser, Subcommand};
use firebreak_cli::{
    AlertCommand, CliError, ClientArgs, DeployCommand, IntegrationCommand, SilenceCommand,
    execute_alert, execute_deploy, execute_integration, execute_silence,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn args(server: &str, json: bool) -> ClientArgs {
    ClientArgs {
        server: Some(server.to_string()),
        token: Some("tok-1".to_string()),
        json,
    }
}

fn alert() -> Value {
    json!({
        "id": 42, "dedup_key": "DiskFull/db-1", "status": "open", "severity": "critical",
        "urgency": "high",
        "summary": "Disk full on db-1: /var is at 100% and writes are failing across the whole primary",
        "source": "db-1", "service": "checkout", "integration": "int_prom", "format": "alertmanager",
        "incident": "INC-7", "count": 3,
        "first_seen": "2026-11-23T10:00:00Z", "last_seen": "2026-11-23T10:05:00Z",
        "started_at": "2026-11-23T09:59:00Z", "ended_at": null,
        "acknowledged_at": null, "acknowledged_by": null, "resolved_at": null, "resolved_by": null,
        "suppressed_reason": null,
        "labels": {"alertname": "DiskFull", "instance": "db-1:9100"},
        "details": {"runbook": "disk-full", "free_bytes": 0},
        "links": [{"href": "https://grafana.example/d/disk", "text": "Disk dashboard"}],
        "images": [{"src": "https://grafana.example/render/disk.png", "href": null, "alt": "disk graph"}]
    })
}

fn problem(status: u16, detail: &str, errors: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        serde_json::to_vec(&json!({
            "type": "about:blank", "title": "Unprocessable Entity", "status": status,
            "detail": detail, "errors": errors
        }))
        .unwrap(),
        "application/problem+json",
    )
}

async fn alert_cmd(cmd: AlertCommand, a: &ClientArgs) -> (Result<(), CliError>, String) {
    let mut out = Vec::new();
    let r = execute_alert(cmd, a, &mut out).await;
    (r, String::from_utf8(out).unwrap())
}

async fn silence_cmd(cmd: SilenceCommand, a: &ClientArgs) -> (Result<(), CliError>, String) {
    let mut out = Vec::new();
    let r = execute_silence(cmd, a, &mut out).await;
    (r, String::from_utf8(out).unwrap())
}

async fn integration_cmd(
    cmd: IntegrationCommand,
    a: &ClientArgs,
) -> (Result<(), CliError>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = execute_integration(cmd, a, &mut out, &mut err).await;
    (
        r,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

async fn deploy_cmd(cmd: DeployCommand, a: &ClientArgs) -> (Result<(), CliError>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = execute_deploy(cmd, a, &mut out, &mut err).await;
    (
        r,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

// --- alerts ---------------------------------------------------------------------------------

#[tokio::test]
async fn alert_list_sends_filters_and_prints_table() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/alerts"))
        .and(header("authorization", "Bearer tok-1"))
        .and(query_param("status", "open"))
        .and(query_param("service", "checkout"))
        .and(query_param("incident", "INC-7"))
        .and(query_param("limit", "1"))
        .and(query_param_is_missing("cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [alert()], "next_cursor": "41"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let cmd = AlertCommand::List {
        status: Some("open".into()),
        service: Some("checkout".into()),
        incident: Some("INC-7".into()),
        limit: Some(1),
        cursor: None,
    };
    let (r, out) = alert_cmd(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    for col in [
        "ID",
        "STATUS",
        "SEV",
        "URGENCY",
        "SERVICE",
        "INCIDENT",
        "COUNT",
        "LAST SEEN",
        "SUMMARY",
    ] {
        assert!(out.contains(col), "missing column {col} in\n{out}");
    }
    for cell in [
        "42",
        "open",
        "critical",
        "high",
        "checkout",
        "INC-7",
        "2026-11-23T10:05:00Z",
    ] {
        assert!(out.contains(cell), "missing {cell} in\n{out}");
    }
    assert!(out.contains("Disk full on db-1"), "{out}");
    assert!(!out.contains("whole primary"), "summary is cut: {out}");
    assert!(out.contains('…'), "{out}");
    assert!(
        out.contains(
            "firebreak alert list --status open --service checkout --incident INC-7 --limit 1 --cursor 41"
        ),
        "{out}"
    );
}

#[tokio::test]
async fn alert_list_cursor_and_json_prints_server_page() {
    let server = MockServer::start().await;
    let page = json!({"items": [alert()], "next_cursor": null});
    Mock::given(method("GET"))
        .and(path("/api/v1/alerts"))
        .and(query_param("cursor", "41"))
        .and(query_param_is_missing("status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = AlertCommand::List {
        status: None,
        service: None,
        incident: None,
        limit: None,
        cursor: Some("41".into()),
    };
    let (r, out) = alert_cmd(cmd, &args(&server.uri(), true)).await;
    r.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), page);
}

#[tokio::test]
async fn alert_list_empty() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/alerts"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [], "next_cursor": null})),
        )
        .mount(&server)
        .await;
    let cmd = AlertCommand::List {
        status: None,
        service: None,
        incident: None,
        limit: None,
        cursor: None,
    };
    let (r, out) = alert_cmd(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(out, "No alerts.\n");
}

#[tokio::test]
async fn alert_show_prints_every_field_labels_links_details() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/alerts/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(alert()))
        .expect(1)
        .mount(&server)
        .await;
    let (r, out) = alert_cmd(
        AlertCommand::Show { id: "42".into() },
        &args(&server.uri(), false),
    )
    .await;
    r.unwrap();
    let pos = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("missing {s:?} in\n{out}"))
    };
    for s in [
        "dedup key",
        "DiskFull/db-1",
        "int_prom",
        "alertmanager",
        "2026-11-23T09:59:00Z",
        "acknowledged by",
        "suppressed because",
        "whole primary",
    ] {
        pos(s);
    }
    assert!(pos("Labels") < pos("alertname"));
    assert!(pos("alertname") < pos("db-1:9100"));
    assert!(pos("Links") < pos("Disk dashboard"));
    assert!(pos("Disk dashboard") < pos("https://grafana.example/d/disk"));
    pos("disk graph");
    assert!(pos("Details") < pos("\"runbook\": \"disk-full\""));
}

#[tokio::test]
async fn alert_ack_and_resolve_post_and_confirm_in_one_line() {
    let server = MockServer::start().await;
    let mut acked = alert();
    acked["status"] = json!("acknowledged");
    acked["acknowledged_by"] = json!("alice");
    Mock::given(method("POST"))
        .and(path("/api/v1/alerts/42/acknowledge"))
        .respond_with(ResponseTemplate::new(200).set_body_json(acked))
        .expect(1)
        .mount(&server)
        .await;
    let mut resolved = alert();
    resolved["status"] = json!("resolved");
    resolved["incident"] = Value::Null;
    Mock::given(method("POST"))
        .and(path("/api/v1/alerts/42/resolve"))
        .respond_with(ResponseTemplate::new(200).set_body_json(resolved.clone()))
        .expect(2)
        .mount(&server)
        .await;
    let a = args(&server.uri(), false);
    let (r, out) = alert_cmd(AlertCommand::Ack { id: "42".into() }, &a).await;
    r.unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("Acknowledged alert 42 [checkout, critical] Disk full on db-1"));
    assert!(
        out.trim_end()
            .ends_with("now acknowledged (incident INC-7)"),
        "{out}"
    );
    let (r, out) = alert_cmd(AlertCommand::Resolve { id: "42".into() }, &a).await;
    r.unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("Resolved alert 42"), "{out}");
    assert!(out.trim_end().ends_with("now resolved"), "{out}");
    let (r, out) = alert_cmd(
        AlertCommand::Resolve { id: "42".into() },
        &args(&server.uri(), true),
    )
    .await;
    r.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), resolved);
}

#[tokio::test]
async fn alert_not_found_shows_problem_detail() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/alerts/999/acknowledge"))
        .respond_with(
            ResponseTemplate::new(404).set_body_raw(
                serde_json::to_vec(&json!({
                    "type": "about:blank", "title": "Not Found", "status": 404,
                    "detail": "there is no alert 999"
                }))
                .unwrap(),
                "application/problem+json",
            ),
        )
        .mount(&server)
        .await;
    let (r, out) = alert_cmd(
        AlertCommand::Ack { id: "999".into() },
        &args(&server.uri(), false),
    )
    .await;
    let e = r.unwrap_err();
    assert!(out.is_empty());
    assert_eq!(e.exit_code(), 1);
    assert_eq!(e.report(), "error: Not Found: there is no alert 999");
}

// --- silences -------------------------------------------------------------------------------

fn silence(active: bool) -> Value {
    json!({
        "id": 12, "matchers": ["alertname=\"DiskFull\"", "env!=\"dev\""],
        "starts_at": "2026-11-23T10:00:00Z", "ends_at": "2026-11-23T12:00:00Z",
        "comment": "cleaning up /var/log", "created_by": "alice",
        "created_at": "2026-11-23T10:00:00Z", "active": active
    })
}

#[tokio::test]
async fn silence_add_with_duration_posts_and_prints_id_and_end() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/silences"))
        .and(body_json(json!({
            "matchers": ["alertname=\"DiskFull\"", "env!=\"dev\""],
            "comment": "cleaning up /var/log",
            "duration": "2h"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(silence(true)))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = SilenceCommand::Add {
        matchers: vec!["alertname=\"DiskFull\"".into(), "env!=\"dev\"".into()],
        duration: Some("2h".into()),
        until: None,
        starts: None,
        comment: "cleaning up /var/log".into(),
    };
    let (r, out) = silence_cmd(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(out, "Created silence 12: ends 2026-11-23T12:00:00Z\n");
}

#[tokio::test]
async fn silence_add_with_until_and_starts_sends_times() {
    let server = MockServer::start().await;
    let mut pending = silence(false);
    pending["starts_at"] = json!("2026-11-24T01:00:00Z");
    pending["ends_at"] = json!("2026-11-24T04:00:00Z");
    Mock::given(method("POST"))
        .and(path("/api/v1/silences"))
        .and(body_json(json!({
            "matchers": ["alertname=~\"Backup.*\""],
            "comment": "backup migration",
            "starts_at": "2026-11-24T01:00:00Z",
            "ends_at": "2026-11-24T04:00:00Z"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(pending))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = SilenceCommand::Add {
        matchers: vec!["alertname=~\"Backup.*\"".into()],
        duration: None,
        until: Some("2026-11-24T04:00:00Z".into()),
        starts: Some("2026-11-24T01:00:00Z".into()),
        comment: "backup migration".into(),
    };
    let (r, out) = silence_cmd(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(
        out,
        "Created silence 12: starts 2026-11-24T01:00:00Z, ends 2026-11-24T04:00:00Z\n"
    );
}

#[tokio::test]
async fn silence_add_bad_matcher_shows_detail_and_field_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/silences"))
        .respond_with(problem(
            422,
            "the silence is not valid",
            json!([{"field": "matchers[0]", "message": "`alertname DiskFull` is not a matcher like name=\"value\""}]),
        ))
        .mount(&server)
        .await;
    let cmd = SilenceCommand::Add {
        matchers: vec!["alertname DiskFull".into()],
        duration: Some("2h".into()),
        until: None,
        starts: None,
        comment: "why".into(),
    };
    let (r, out) = silence_cmd(cmd, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert!(out.is_empty(), "{out}");
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.report(),
        "error: Unprocessable Entity: the silence is not valid\n  \
         matchers[0]: `alertname DiskFull` is not a matcher like name=\"value\""
    );
}

#[tokio::test]
async fn bad_times_are_usage_errors_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let a = args(&server.uri(), false);
    for (until, starts) in [
        (Some("tomorrow"), None),
        (Some("2026-11-24T09:00:00"), None),
        (Some("2026-11-24"), None),
        (
            Some("2026-11-24T09:00:00Z"),
            Some("2026…11-24T09:00:00+01:00"),
        ),
    ] {
        let cmd = SilenceCommand::Add {
            matchers: vec!["a=\"b\"".into()],
            duration: None,
            until: until.map(String::from),
            starts: starts.map(String::from),
            comment: "why".into(),
        };
        let e = silence_cmd(cmd, &a).await.0.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{until:?} {starts:?}");
        assert!(
            e.report().contains("2026-11-24T09:00:00Z"),
            "{}",
            e.report()
        );
    }
    let cmd = DeployCommand::Record {
        service: "checkout".into(),
        version: "1".into(),
        previous_version: None,
        commit: None,
        author: None,
        link: None,
        at: Some("yesterday".into()),
        summary: None,
        rollback: false,
        rolls_back: None,
        incident: None,
        drill: false,
    };
    let e = deploy_cmd(cmd, &a).await.0.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.report().starts_with("error: --at `yesterday`"),
        "{}",
        e.report()
    );
}

#[tokio::test]
async fn field_error_repeated_in_detail_is_shown_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/silences"))
        .respond_with(problem(
            422,
            "duration: `2` is not a duration like 30m, 2h or 1h30m",
            json!([{"field": "duration", "message": "`2` is not a duration like 30m, 2h or 1h30m"}]),
        ))
        .mount(&server)
        .await;
    let cmd = SilenceCommand::Add {
        matchers: vec!["a=\"b\"".into()],
        duration: Some("2".into()),
        until: None,
        starts: Some("2026-11-24T10:00:00.5+01:00".into()),
        comment: "why".into(),
    };
    let e = silence_cmd(cmd, &args(&server.uri(), false))
        .await
        .0
        .unwrap_err();
    assert_eq!(
        e.report(),
        "error: Unprocessable Entity: duration: `2` is not a duration like 30m, 2h or 1h30m"
    );
}

#[tokio::test]
async fn silence_list_and_expired_flag() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/silences"))
        .and(query_param_is_missing("expired"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [silence(true)], "next_cursor": null})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/silences"))
        .and(query_param("expired", "true"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [], "next_cursor": null})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let a = args(&server.uri(), false);
    let (r, out) = silence_cmd(SilenceCommand::List { expired: false }, &a).await;
    r.unwrap();
    for s in [
        "ACTIVE",
        "MATCHERS",
        "12",
        "yes",
        "alertname=\"DiskFull\"",
        "env!=\"dev\"",
        "2026-11-23T12:00:00Z",
        "alice",
        "cleaning up /var/log",
    ] {
        assert!(out.contains(s), "missing {s} in\n{out}");
    }
    let (r, out) = silence_cmd(SilenceCommand::List { expired: true }, &a).await;
    r.unwrap();
    assert!(out.starts_with("No silences"), "{out}");
}

#[tokio::test]
async fn silence_expire_deletes() {
    let server = MockServer::start().await;
    let mut ended = silence(false);
    ended["ends_at"] = json!("2026-11-23T10:30:00Z");
    Mock::given(method("DELETE"))
        .and(path("/api/v1/silences/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ended))
        .expect(1)
        .mount(&server)
        .await;
    let (r, out) = silence_cmd(
        SilenceCommand::Expire { id: "12".into() },
        &args(&server.uri(), false),
    )
    .await;
    r.unwrap();
    assert_eq!(out, "Expired silence 12: ended 2026-11-23T10:30:00Z\n");
}

// --- integrations ---------------------------------------------------------------------------

fn integration(keys: Value) -> Value {
    json!({
        "id": "int_abc", "service": "checkout", "name": "prometheus", "from_config": false,
        "created_at": "2026-11-23T10:00:00Z", "keys": keys
    })
}

fn key(id: &str, hint: &str, revoked: bool) -> Value {
    json!({
        "id": id, "hint": hint, "created_at": "2026-11-23T10:00:00Z",
        "revoked_at": if revoked { json!("2026-11-23T11:00:00Z") } else { Value::Null }
    })
}

#[tokio::test]
async fn integration_create_prints_only_the_key_on_stdout() {
    let server = MockServer::start().await;
    let mut created = integration(json!([key("key_1", "x7Qz", false)]));
    created["key"] = json!("fbk_secretkeyx7Qz");
    created["key_id"] = json!("key_1");
    Mock::given(method("POST"))
        .and(path("/api/v1/services/checkout/integrations"))
        .and(header("authorization", "Bearer tok-1"))
        .and(body_json(json!({"name": "prometheus"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(created.clone()))
        .expect(2)
        .mount(&server)
        .await;
    let cmd = IntegrationCommand::Create {
        service: "checkout".into(),
        name: "prometheus".into(),
    };
    let (r, out, err) = integration_cmd(cmd.clone(), &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(out, "fbk_secretkeyx7Qz\n", "the key alone on stdout");
    let root = server.uri();
    for s in [
        "int_abc".to_string(),
        "key_1".to_string(),
        "shown only this once".to_string(),
        format!("{root}/api/v1/ingest/alertmanager/<KEY>"),
        format!("{root}/v2/enqueue"),
    ] {
        assert!(err.contains(&s), "missing {s} in stderr:\n{err}");
    }
    assert!(!err.contains("fbk_secret"), "no key on stderr: {err}");
    let (r, out, err) = integration_cmd(cmd, &args(&server.uri(), true)).await;
    r.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), created);
    assert!(err.is_empty(), "{err}");
}

#[tokio::test]
async fn integration_create_unknown_service_shows_detail() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/services/nope/integrations"))
        .respond_with(
            ResponseTemplate::new(404).set_body_raw(
                serde_json::to_vec(&json!({
                    "type": "about:blank", "title": "Not Found", "status": 404,
                    "detail": "there is no service named `nope`"
                }))
                .unwrap(),
                "application/problem+json",
            ),
        )
        .mount(&server)
        .await;
    let cmd = IntegrationCommand::Create {
        service: "nope".into(),
        name: "prometheus".into(),
    };
    let (r, out, err) = integration_cmd(cmd, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert!(out.is_empty() && err.is_empty());
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.report(),
        "error: Not Found: there is no service named `nope`"
    );
}

#[tokio::test]
async fn integration_list_all_and_by_service() {
    let server = MockServer::start().await;
    let mut from_config = integration(json!([key("key_9", "AAAA", false)]));
    from_config["id"] = json!("int_cfg");
    from_config["from_config"] = json!(true);
    let listing = json!({"items": [
        integration(json!([key("key_1", "x7Qz", true), key("key_2", "b2Cd", false), key("key_3", "z9Yy", false)])),
        from_config
    ]});
    Mock::given(method("GET"))
        .and(path("/api/v1/integrations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/services/checkout/integrations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let a = args(&server.uri(), false);
    let (r, out, _) = integration_cmd(IntegrationCommand::List { service: None }, &a).await;
    r.unwrap();
    for s in [
        "ID",
        "SERVICE",
        "NAME",
        "KEYS",
        "HINTS",
        "FROM CONFIG",
        "int_abc",
        "prometheus",
        "…b2Cd (key_2)",
        "…z9Yy (key_3)",
        "int_cfg",
        "yes",
    ] {
        assert!(out.contains(s), "missing {s} in\n{out}");
    }
    assert!(!out.contains("x7Qz"), "revoked keys are not hints: {out}");
    let row = out
        .lines()
        .find(|l| l.contains("int_abc"))
        .expect("a row for int_abc");
    let cells: Vec<&str> = row.split(['│', '┆']).map(str::trim).collect();
    assert_eq!(cells[4], "2", "two live keys: {row}");
    let (r, out, _) = integration_cmd(
        IntegrationCommand::List {
            service: Some("checkout".into()),
        },
        &a,
    )
    .await;
    r.unwrap();
    assert!(out.starts_with("No integrations."), "{out}");
}

#[tokio::test]
async fn integration_rotate_prints_new_key_and_how_to_revoke_old() {
    let server = MockServer::start().await;
    let mut rotated = integration(json!([
        key("key_1", "x7Qz", false),
        key("key_2", "n3wK", false)
    ]));
    rotated["key"] = json!("fbk_newkeyn3wK");
    rotated["key_id"] = json!("key_2");
    Mock::given(method("POST"))
        .and(path("/api/v1/integrations/int_abc/rotate"))
        .respond_with(ResponseTemplate::new(201).set_body_json(rotated))
        .expect(1)
        .mount(&server)
        .await;
    let (r, out, err) = integration_cmd(
        IntegrationCommand::Rotate {
            id: "int_abc".into(),
        },
        &args(&server.uri(), false),
    )
    .await;
    r.unwrap();
    assert_eq!(out, "fbk_newkeyn3wK\n");
    assert!(
        err.contains("firebreak integration revoke-key int_abc key_1"),
        "{err}"
    );
    assert!(!err.contains("revoke-key int_abc key_2"), "{err}");
    assert!(!err.contains("fbk_newkey"), "{err}");
}

#[tokio::test]
async fn integration_revoke_key_deletes() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/integrations/int_abc/keys/key_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(integration(json!([
            key("key_1", "x7Qz", true),
            key("key_2", "n3wK", false)
        ]))))
        .expect(1)
        .mount(&server)
        .await;
    let (r, out, err) = integration_cmd(
        IntegrationCommand::RevokeKey {
            id: "int_abc".into(),
            key_id: "key_1".into(),
        },
        &args(&server.uri(), false),
    )
    .await;
    r.unwrap();
    assert_eq!(
        out,
        "Revoked key key_1 of integration int_abc; 1 live key left\n"
    );
    assert!(err.is_empty(), "{err}");
}

// --- deployments ----------------------------------------------------------------------------

fn deployment() -> Value {
    json!({
        "id": 17, "service": "checkout", "version": "1.4.2", "previous_version": "1.4.1",
        "commit": "0123456789abcdef0123", "author": "ci-bot", "link": "https://ci.example/p/9",
        "at": "2026-11-23T09:50:00Z", "source": "api", "summary": "faster cart"
    })
}

#[tokio::test]
async fn deploy_record_sends_every_field_and_prints_the_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/deployments"))
        .and(body_json(json!({
            "service": "checkout", "version": "1.4.2", "previous_version": "1.4.1",
            "commit": "0123456789abcdef0123", "author": "ci-bot",
            "link": "https://ci.example/p/9", "at": "2026-11-23T09:50:00Z",
            "summary": "faster cart", "source": "cli"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(deployment()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/deployments"))
        .and(body_json(json!({
            "service": "checkout", "version": "1.4.1", "source": "cli",
            "rollback": true, "rolls_back": 17, "incident": "INC-7"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json({
            let mut d = deployment();
            d["id"] = json!(18);
            d["version"] = json!("1.4.1");
            d["previous_version"] = json!("1.4.2");
            d["rollback"] = json!(true);
            d["rolls_back"] = json!(17);
            d["incident"] = json!("INC-7");
            d
        }))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = DeployCommand::Record {
        service: "checkout".into(),
        version: "1.4.2".into(),
        previous_version: Some("1.4.1".into()),
        commit: Some("0123456789abcdef0123".into()),
        author: Some("ci-bot".into()),
        link: Some("https://ci.example/p/9".into()),
        at: Some("2026-11-23T09:50:00Z".into()),
        summary: Some("faster cart".into()),
        rollback: false,
        rolls_back: None,
        incident: None,
        drill: false,
    };
    let a = args(&server.uri(), false);
    let (r, out, err) = deploy_cmd(cmd, &a).await;
    r.unwrap();
    assert_eq!(out, "17\n");
    assert!(
        err.contains("Recorded deployment 17 of checkout 1.4.2 (was 1.4.1)"),
        "{err}"
    );
    // A rollback that names what it undid; --rolls-back alone makes it one.
    let cmd = DeployCommand::Record {
        service: "checkout".into(),
        version: "1.4.1".into(),
        previous_version: None,
        commit: None,
        author: None,
        link: None,
        at: None,
        summary: None,
        rollback: false,
        rolls_back: Some(17),
        incident: Some("INC-7".into()),
        drill: false,
    };
    let (r, out, err) = deploy_cmd(cmd, &a).await;
    r.unwrap();
    assert_eq!(out, "18\n");
    assert!(
        err.contains("a rollback of deployment 17 for INC-7"),
        "{err}"
    );
}

#[tokio::test]
async fn deploy_record_invalid_shows_field_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/deployments"))
        .respond_with(problem(
            422,
            "the deployment is not valid",
            json!([{"field": "link", "message": "must be an http(s) URL"}]),
        ))
        .mount(&server)
        .await;
    let cmd = DeployCommand::Record {
        service: "checkout".into(),
        version: "1.4.2".into(),
        previous_version: None,
        commit: None,
        author: None,
        link: Some("ftp://x".into()),
        at: None,
        summary: None,
        rollback: false,
        rolls_back: None,
        incident: None,
        drill: false,
    };
    let (r, out, _) = deploy_cmd(cmd, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert!(out.is_empty());
    assert_eq!(e.exit_code(), 1);
    let report = e.report();
    assert!(
        report.starts_with("error: Unprocessable Entity: the deployment is not valid"),
        "{report}"
    );
    assert!(
        report.contains("\n  link: must be an http(s) URL"),
        "{report}"
    );
}

#[tokio::test]
async fn deploy_list_filters_by_service() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/deployments"))
        .and(query_param("service", "checkout"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [deployment()], "next_cursor": "16"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let cmd = DeployCommand::List {
        service: Some("checkout".into()),
        limit: None,
        cursor: None,
    };
    let (r, out, _) = deploy_cmd(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    for s in [
        "17",
        "checkout",
        "1.4.2",
        "1.4.1",
        "0123456789ab",
        "ci-bot",
        "faster cart",
        "firebreak deploy list --service checkout --cursor 16",
    ] {
        assert!(out.contains(s), "missing {s} in\n{out}");
    }
    assert!(!out.contains("0123456789abc"), "commit is shortened: {out}");
}

// --- command line ---------------------------------------------------------------------------

#[derive(Parser, Debug)]
struct TestCli {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    cmd: TestCmd,
}

#[derive(Subcommand, Debug)]
enum TestCmd {
    #[command(subcommand)]
    Alert(AlertCommand),
    #[command(subcommand)]
    Silence(SilenceCommand),
    #[command(subcommand)]
    Integration(IntegrationCommand),
    #[command(subcommand)]
    Deploy(DeployCommand),
}

fn parse(argv: &[&str]) -> Result<TestCli, clap::Error> {
    TestCli::try_parse_from(std::iter::once("firebreak").chain(argv.iter().copied()))
}

#[test]
fn command_lines_parse_and_usage_errors_exit_2() {
    use clap::CommandFactory;
    TestCli::command().debug_assert();

    let cli = parse(&[
        "silence",
        "add",
        "--match",
        "alertname=\"DiskFull\"",
        "--match",
        "env!=\"dev\"",
        "--duration",
        "2h",
        "--comment",
        "why",
        "--json",
    ])
    .unwrap();
    assert!(cli.client.json);
    match cli.cmd {
        TestCmd::Silence(SilenceCommand::Add {
            matchers, duration, ..
        }) => {
            assert_eq!(matchers, ["alertname=\"DiskFull\"", "env!=\"dev\""]);
            assert_eq!(duration.as_deref(), Some("2h"));
        }
        other => panic!("{other:?}"),
    }
    // --duration or --until, one of them, not both; --match and --comment required.
    for bad in [
        &["silence", "add", "--match", "a=\"b\"", "--comment", "c"][..],
        &[
            "silence",
            "add",
            "--match",
            "a=\"b\"",
            "--comment",
            "c",
            "--duration",
            "2h",
            "--until",
            "2026-11-24T00:00:00Z",
        ],
        &["silence", "add", "--duration", "2h", "--comment", "c"],
        &["silence", "add", "--match", "a=\"b\"", "--duration", "2h"],
        &["alert", "list", "--status", "closed"],
        &["alert", "ack"],
        &["integration", "create", "--service", "checkout"],
        &["integration", "revoke-key", "int_abc"],
        &["deploy", "record", "--service", "checkout"],
    ] {
        let e = parse(bad).expect_err(&format!("{bad:?} should not parse"));
        assert_eq!(e.exit_code(), 2, "{bad:?}");
    }

    let cli = parse(&["alert", "acknowledge", "42", "--server", "http://x:1"]).unwrap();
    assert!(matches!(cli.cmd, TestCmd::Alert(AlertCommand::Ack { ref id }) if id == "42"));
    let cli = parse(&["alert", "list", "--status", "suppressed", "--limit", "5"]).unwrap();
    assert!(matches!(
        cli.cmd,
        TestCmd::Alert(AlertCommand::List { limit: Some(5), .. })
    ));
    let cli = parse(&["integration", "revoke-key", "int_abc", "key_1"]).unwrap();
    assert!(matches!(
        cli.cmd,
        TestCmd::Integration(IntegrationCommand::RevokeKey { .. })
    ));
    let cli = parse(&[
        "deploy",
        "record",
        "--service",
        "checkout",
        "--version",
        "1.4.2",
        "--previous-version",
        "1.4.1",
    ])
    .unwrap();
    assert!(matches!(
        cli.cmd,
        TestCmd::Deploy(DeployCommand::Record {
            previous_version: Some(_),
            ..
        })
    ));
}

#[test]
fn help_texts_carry_examples() {
    for argv in [
        &["alert", "list", "--help"][..],
        &["silence", "add", "--help"],
        &["integration", "create", "--help"],
        &["deploy", "record", "--help"],
    ] {
        let e = parse(argv).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = e.to_string();
        assert!(help.contains("Examples:"), "{argv:?}:\n{help}");
        assert!(
            help.contains(&format!("firebreak {} {}", argv[0], argv[1])),
            "{help}"
        );
    }
}
