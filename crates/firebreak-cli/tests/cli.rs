//! Integration tests for the Firebreak CLI library against a wiremock
//! server: request bodies, table and JSON output, problem+json errors,
//! unreachable servers, login storage and server/token resolution.

use clap::{Parser, Subcommand};
use firebreak_cli::{
    CliError, ClientArgs, Credentials, IncidentCommand, LoginArgs, TokenCommand, execute_incident,
    execute_login, execute_token_api, load_credentials, resolve_with,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn incident() -> Value {
    json!({
        "id": "INC-7", "number": 7, "title": "Checkout down", "severity": "sev1",
        "status": "investigating", "services": ["checkout", "payments"],
        "summary": "500s on checkout", "customer_impact": null, "drill": false,
        "roles": {"Incident Commander": "alice"},
        "role_assignments": [{"role": "incident-commander", "name": "Incident Commander", "user": "alice"}],
        "checklist": [
            {"id": 1, "text": "Page on-call", "done": true, "done_by": "alice", "done_at": "2026-11-23T10:01:00Z"},
            {"id": 2, "text": "Open status page", "done": false, "done_by": null, "done_at": null}
        ],
        "detected_at": "2026-11-23T09:58:00Z", "declared_at": "2026-11-23T10:00:00Z",
        "acknowledged_at": null, "mitigated_at": null, "resolved_at": null,
        "updated_at": "2026-11-23T10:01:00Z", "declared_by": "alice"
    })
}

fn args(server: &str, json: bool) -> ClientArgs {
    ClientArgs {
        server: Some(server.to_string()),
        token: Some("tok-1".to_string()),
        json,
    }
}

async fn run(cmd: IncidentCommand, a: &ClientArgs) -> (Result<(), CliError>, String) {
    let mut out = Vec::new();
    let r = execute_incident(cmd, a, &mut out).await;
    (r, String::from_utf8(out).unwrap())
}

fn declare() -> IncidentCommand {
    IncidentCommand::Declare {
        title: "Checkout down".into(),
        severity: "sev1".into(),
        services: vec!["checkout".into(), "payments".into()],
        summary: Some("500s on checkout".into()),
        drill: false,
    }
}

#[tokio::test]
async fn declare_sends_body_and_prints_table() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/incidents"))
        .and(header("authorization", "Bearer tok-1"))
        .and(body_json(json!({
            "title": "Checkout down", "severity": "sev1",
            "services": ["checkout", "payments"], "summary": "500s on checkout"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(incident()))
        .expect(1)
        .mount(&server)
        .await;
    let (r, out) = run(declare(), &args(&server.uri(), false)).await;
    r.unwrap();
    assert!(out.contains("Declared INC-7: Checkout down"), "{out}");
    assert!(
        out.contains("sev1") && out.contains("checkout, payments") && out.contains("alice"),
        "{out}"
    );
}

#[tokio::test]
async fn declare_json_prints_server_object() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/incidents"))
        .respond_with(ResponseTemplate::new(201).set_body_json(incident()))
        .mount(&server)
        .await;
    let (r, out) = run(declare(), &args(&format!("{}/", server.uri()), true)).await;
    r.unwrap();
    let printed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed, incident());
}

#[tokio::test]
async fn problem_response_exits_1_with_detail() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/incidents/INC-7"))
        .and(body_json(json!({"status": "resolved"})))
        .respond_with(
            ResponseTemplate::new(409).set_body_raw(
                serde_json::to_vec(&json!({
                    "type": "https://firebreak.dev/problems/invalid-transition",
                    "title": "Conflict", "status": 409,
                    "detail": "INC-7 is already resolved",
                    "errors": [{"field": "status", "message": "no transition"}]
                }))
                .unwrap(),
                "application/problem+json",
            ),
        )
        .mount(&server)
        .await;
    let cmd = IncidentCommand::Status {
        id: "INC-7".into(),
        status: "resolved".into(),
        public_update: None,
        no_public_update: false,
    };
    let (r, out) = run(cmd, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(out.is_empty());
    let report = e.report();
    assert!(
        report.starts_with("error: Conflict: INC-7 is already resolved"),
        "{report}"
    );
    assert!(report.contains("status: no transition"), "{report}");
}

#[tokio::test]
async fn unreachable_server_names_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}");
    let cmd = IncidentCommand::List {
        status: None,
        severity: None,
        service: None,
        open: true,
        closed: false,
        drill: None,
        limit: None,
        all: false,
    };
    let (r, _) = run(cmd, &args(&url, false)).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let report = e.report();
    let want =
        format!("error: could not reach Firebreak at http://127.0.0.1:{port}/api/v1/incidents: ");
    assert!(report.starts_with(&want), "{report}");
    assert!(report.len() > want.len(), "{report}");
}

#[tokio::test]
async fn list_all_follows_cursor() {
    let server = MockServer::start().await;
    let mut second = incident();
    second["id"] = json!("INC-8");
    Mock::given(method("GET"))
        .and(path("/api/v1/incidents"))
        .and(query_param("open", "true"))
        .and(query_param("drill", "false"))
        .and(query_param_is_missing("cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [incident()], "next_cursor": "c2"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/incidents"))
        .and(query_param("cursor", "c2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [second], "next_cursor": null})),
        )
        .mount(&server)
        .await;
    let cmd = IncidentCommand::List {
        status: None,
        severity: None,
        service: None,
        open: true,
        closed: false,
        drill: Some(false),
        limit: Some(1),
        all: true,
    };
    let (r, out) = run(cmd.clone(), &args(&server.uri(), true)).await;
    r.unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert_eq!(v["next_cursor"], Value::Null);
    let (r, out) = run(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    assert!(out.contains("INC-7") && out.contains("INC-8"), "{out}");
}

#[tokio::test]
async fn show_prints_details_roles_checklist_timeline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/incidents/INC-7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(incident()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/incidents/INC-7/timeline"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"seq": 1, "at": "2026-11-23T10:00:00Z", "actor": "alice", "kind": "declared", "data": {"title": "Checkout down"}},
            {"seq": 2, "at": "2026-11-23T10:02:00Z", "actor": "bob", "kind": "status_changed", "data": {"from": "investigating", "to": "identified"}},
            {"seq": 3, "at": "2026-11-23T10:03:00Z", "actor": "bob", "kind": "note", "data": {"body": "rolled back\ndeploy 42"}}
        ], "next_cursor": null})))
        .mount(&server)
        .await;
    let (r, out) = run(
        IncidentCommand::Show { id: "INC-7".into() },
        &args(&server.uri(), false),
    )
    .await;
    r.unwrap();
    let pos = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("missing {s:?} in\n{out}"))
    };
    assert!(pos("Checkout down") < pos("Roles"));
    assert!(pos("Roles") < pos("Incident Commander"));
    assert!(pos("Checklist") < pos("[x]"));
    assert!(pos("[ ]") < pos("Timeline"));
    assert!(pos("Timeline") < pos("investigating → identified"));
    pos("rolled back deploy 42");
}

#[tokio::test]
async fn assign_remove_uses_delete_and_checklist_done_puts() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/incidents/INC-7/roles/scribe"))
        .respond_with(ResponseTemplate::new(200).set_body_json(incident()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/incidents/INC-7/checklist/2"))
        .and(body_json(json!({"done": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(incident()))
        .expect(1)
        .mount(&server)
        .await;
    let a = args(&server.uri(), false);
    let cmd = IncidentCommand::Assign {
        id: "INC-7".into(),
        role: "scribe".into(),
        user: None,
        remove: true,
    };
    run(cmd, &a).await.0.unwrap();
    let cmd = IncidentCommand::Checklist {
        id: "INC-7".into(),
        action: Some(firebreak_cli::ChecklistAction::Done),
        item: Some(2),
    };
    let (r, out) = run(cmd, &a).await;
    r.unwrap();
    assert!(out.contains("[x]"), "{out}");
}

#[tokio::test]
async fn token_create_shows_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/tokens"))
        .and(body_json(json!({"name": "ci", "role": "responder"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "tok_1", "name": "ci", "role": "responder", "token": "fb_secret", "created_at": "2026-11-23T10:00:00Z"
        })))
        .mount(&server)
        .await;
    let mut out = Vec::new();
    let cmd = TokenCommand::Create {
        name: "ci".into(),
        role: "responder".into(),
        user: None,
        expires: None,
    };
    execute_token_api(cmd, &args(&server.uri(), false), &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out, "fb_secret\n", "the token alone on stdout");
}

#[tokio::test]
async fn login_verifies_and_writes_0600_file() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/me"))
        .and(header("authorization", "Bearer good"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"actor": "alice", "role": "admin"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("firebreak");
    let login = LoginArgs {
        server: Some(server.uri()),
        token: Some("good".into()),
    };
    let mut out = Vec::new();
    execute_login(login, &ClientArgs::default(), &dir, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    let file = dir.join("credentials.json");
    assert!(
        out.contains("alice") && out.contains(&file.display().to_string()),
        "{out}"
    );
    let stored = load_credentials(&dir).unwrap().unwrap();
    assert_eq!(
        stored,
        Credentials {
            server: server.uri(),
            token: "good".into()
        }
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}

#[tokio::test]
async fn login_with_bad_token_stores_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/me"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "unknown token"
        })))
        .mount(&server)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let login = LoginArgs {
        server: Some(server.uri()),
        token: Some("bad".into()),
    };
    let e = execute_login(login, &ClientArgs::default(), tmp.path(), &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(e.report(), "error: Unauthorized: unknown token");
    assert!(load_credentials(tmp.path()).unwrap().is_none());
    let e = execute_login(
        LoginArgs::default(),
        &ClientArgs::default(),
        tmp.path(),
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.report()
            .contains("firebreak login --server URL --token TOKEN")
    );
}

#[test]
fn resolution_order_flag_env_stored() {
    let stored = Credentials {
        server: "http://stored:1/".into(),
        token: "stored-token".into(),
    };
    let env = |k: &str| match k {
        "FIREBREAK_SERVER" => Some("http://env:2".to_string()),
        "FIREBREAK_TOKEN" => Some("env-token".to_string()),
        _ => None,
    };
    let no_env = |_: &str| None;
    let flags = args("http://flag:3", false);
    let r = resolve_with(&flags, env, Some(&stored)).unwrap();
    assert_eq!(
        (r.server.as_str(), r.token.as_str()),
        ("http://flag:3", "tok-1")
    );
    let r = resolve_with(&ClientArgs::default(), env, Some(&stored)).unwrap();
    assert_eq!(
        (r.server.as_str(), r.token.as_str()),
        ("http://env:2", "env-token")
    );
    let r = resolve_with(&ClientArgs::default(), no_env, Some(&stored)).unwrap();
    assert_eq!(
        (r.server.as_str(), r.token.as_str()),
        ("http://stored:1", "stored-token")
    );
    // A stored token is not sent to a different server.
    let other = ClientArgs {
        server: Some("http://other:4".into()),
        ..ClientArgs::default()
    };
    let e = resolve_with(&other, no_env, Some(&stored)).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let e = resolve_with(&ClientArgs::default(), no_env, None).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.report()
            .contains("run firebreak login --server URL --token TOKEN"),
        "{}",
        e.report()
    );
}

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
    Incident(IncidentCommand),
    #[command(subcommand)]
    Token(TokenCommand),
    Login(LoginArgs),
}

#[test]
fn clap_definitions_are_valid_and_globals_go_anywhere() {
    use clap::CommandFactory;
    TestCli::command().debug_assert();
    let cli = TestCli::try_parse_from([
        "firebreak",
        "incident",
        "declare",
        "Checkout down",
        "--severity",
        "sev1",
        "--service",
        "a",
        "--service",
        "b",
        "--json",
        "--server",
        "http://x:1",
        "--token",
        "t",
    ])
    .unwrap();
    assert!(cli.client.json);
    assert_eq!(cli.client.server.as_deref(), Some("http://x:1"));
    match cli.cmd {
        TestCmd::Incident(IncidentCommand::Declare { services, .. }) => {
            assert_eq!(services, ["a", "b"])
        }
        other => panic!("{other:?}"),
    }
    let cli = TestCli::try_parse_from([
        "firebreak",
        "--json",
        "incident",
        "checklist",
        "INC-1",
        "done",
        "3",
    ])
    .unwrap();
    assert!(matches!(
        cli.cmd,
        TestCmd::Incident(IncidentCommand::Checklist { item: Some(3), .. })
    ));
    assert!(
        TestCli::try_parse_from(["firebreak", "incident", "list", "--open", "--closed"]).is_err()
    );
    assert!(
        TestCli::try_parse_from(["firebreak", "incident", "checklist", "INC-1", "done"]).is_err()
    );
    let cli =
        TestCli::try_parse_from(["firebreak", "login", "--server", "http://s", "--token", "t"])
            .unwrap();
    assert!(matches!(
        cli.cmd,
        TestCmd::Login(LoginArgs {
            server: Some(_),
            token: Some(_)
        })
    ));
}
