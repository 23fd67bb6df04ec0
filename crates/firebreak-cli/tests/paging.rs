//! The paging commands (`contact`, `policy`, `escalation`, `oncall --me`) against a wiremock
//! server: who "you" are, the request each sends, and what it prints, including answers that
//! must not reach the terminal as they are.

use clap::{Parser, Subcommand};
use firebreak_cli::{
    CliError, ClientArgs, ContactCommand, EscalationCommand, OncallArgs, PolicyCommand,
    execute_contact, execute_escalation, execute_oncall, execute_policy,
};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn args(server: &str, json: bool) -> ClientArgs {
    ClientArgs {
        server: Some(server.to_string()),
        token: Some("tok-1".to_string()),
        json,
    }
}

async fn me(server: &MockServer, actor: &str) {
    Mock::given(method("GET"))
        .and(path("/api/v1/me"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"actor": actor, "role": "responder"})),
        )
        .mount(server)
        .await;
}

async fn contact(cmd: ContactCommand, a: &ClientArgs) -> (Result<(), CliError>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = execute_contact(cmd, a, &mut out, &mut err).await;
    (
        r,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn problem(status: u16, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        serde_json::to_vec(
            &json!({"type": "about:blank", "title": "Not found", "status": status, "detail": detail}),
        )
        .unwrap(),
        "application/problem+json",
    )
}

#[tokio::test]
async fn contact_add_is_for_the_token_user_and_sends_the_ntfy_token() {
    let server = MockServer::start().await;
    me(&server, "alice").await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/alice/contact-methods"))
        .and(body_json(json!({
            "type": "ntfy", "target": "https://ntfy.example.com/oncall-alice",
            "name": "phone", "token": "tk_abc"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "cm_1", "type": "ntfy", "name": "phone", "user": "alice",
            "target": "https://ntfy.example.com/…lice", "created_at": "2026-12-01T10:00:00Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = ContactCommand::Add {
        kind: "ntfy".into(),
        target: " https://ntfy.example.com/oncall-alice ".into(),
        name: Some("phone".into()),
        ntfy_token: Some("tk_abc".into()),
        user: None,
    };
    let (r, out, err) = contact(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(out, "cm_1\n", "the id alone on stdout");
    assert!(
        err.contains("https://ntfy.example.com/…lice")
            && err.contains("firebreak contact test cm_1"),
        "{err}"
    );
    assert!(!err.contains("--user"), "{err}");
}

#[tokio::test]
async fn a_webhook_contact_prints_its_secret_alone_and_says_it_is_shown_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/bob/contact-methods"))
        .and(body_json(
            json!({"type": "webhook", "target": "https://pager.example.com/in?k=1"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "cm_2", "type": "webhook", "name": "webhook", "user": "bob",
            "target": "https://pager.example.com/in?k=1", "created_at": "2026-12-01T10:00:00Z",
            "secret": "whsec_abc"
        })))
        .mount(&server)
        .await;
    let cmd = ContactCommand::Add {
        kind: "webhook".into(),
        target: "https://pager.example.com/in?k=1".into(),
        name: None,
        ntfy_token: None,
        user: Some("bob".into()),
    };
    let (r, out, err) = contact(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(out, "whsec_abc\n");
    assert!(
        err.contains("shown only this once")
            && err.contains("Standard Webhooks")
            && err.contains("firebreak contact test cm_2 --user bob"),
        "{err}"
    );
    assert!(!err.contains("k=1"), "no query string: {err}");
    // `/me` was not asked: --user named the user.
    let asked = server.received_requests().await.unwrap();
    assert!(asked.iter().all(|r| r.url.path() != "/api/v1/me"));
}

#[tokio::test]
async fn a_token_of_no_user_must_name_one() {
    let server = MockServer::start().await;
    me(&server, "token:ci").await;
    let (r, _, _) = contact(
        ContactCommand::List { user: None },
        &args(&server.uri(), false),
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(e.to_string().contains("--user HANDLE"), "{e}");
}

#[tokio::test]
async fn a_test_page_that_was_not_taken_shows_the_answer_and_fails() {
    let server = MockServer::start().await;
    me(&server, "alice").await;
    Mock::given(method("POST"))
        .and(path("/api/v1/users/alice/contact-methods/cm_1/test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "delivered": false, "status": 404, "detail": "no \u{1b}[2J hook", "duration_ms": 12
        })))
        .mount(&server)
        .await;
    let cmd = ContactCommand::Test {
        id: "cm_1".into(),
        user: None,
    };
    let (r, out, _) = contact(cmd, &args(&server.uri(), false)).await;
    assert_eq!(r.unwrap_err().exit_code(), 1);
    assert!(
        out.contains("Not delivered") && out.contains("404") && out.contains("12 ms"),
        "{out}"
    );
    assert!(
        out.contains("no \u{FFFD}[2J hook") && !out.contains('\u{1b}'),
        "{out:?}"
    );
}

#[tokio::test]
async fn policy_show_numbers_steps_from_zero() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/escalation-policies/ops"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "ops", "repeat": 0, "services": [], "from_config": true,
            "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z",
            "steps": [
                {"delay": "5m", "targets": [{"user": "alice"}]},
                {"delay": "10m", "targets": [{"schedule": "primary"}]}
            ]
        })))
        .mount(&server)
        .await;
    let mut out = Vec::new();
    let cmd = PolicyCommand::Show { name: "ops".into() };
    execute_policy(cmd, &args(&server.uri(), false), &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    let rows: Vec<&str> = out.lines().filter(|l| l.contains('┆')).collect();
    assert!(
        rows[1].contains(" 0 ") && rows[1].contains("alice") && rows[1].contains("5m"),
        "{out}"
    );
    assert!(
        rows[2].contains(" 1 ") && rows[2].contains("whoever is on call on primary"),
        "{out}"
    );
    assert!(
        out.contains("exhausted") && out.contains("firebreak.yaml"),
        "{out}"
    );
}

#[tokio::test]
async fn escalations_of_an_unknown_incident_are_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/escalations"))
        .and(query_param("incident", "INC-9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/incidents/INC-9"))
        .respond_with(problem(404, "there is no incident INC-9"))
        .mount(&server)
        .await;
    let mut out = Vec::new();
    let cmd = EscalationCommand::List {
        incident: Some("INC-9".into()),
        alert: None,
    };
    let e = execute_escalation(cmd, &args(&server.uri(), false), &mut out)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no incident INC-9"), "{e}");
}

#[tokio::test]
async fn oncall_me_asks_every_schedule_from_at_for_seven_days() {
    let server = MockServer::start().await;
    me(&server, "alice").await;
    Mock::given(method("GET"))
        .and(path("/api/v1/schedules"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [{"name": "primary"}, {"name": "secondary"}]})),
        )
        .mount(&server)
        .await;
    for (name, on_call, shifts) in [
        (
            "primary",
            "alice",
            json!([
                {"user": "bob", "start": "2026-12-25T09:00:00Z", "end": "2026-12-26T09:00:00Z", "layer": "week"},
                {"user": "alice", "start": "2026-12-24T20:00:00Z", "end": "2026-12-25T09:00:00Z", "layer": "week"}
            ]),
        ),
        (
            "secondary",
            "bob",
            json!([
                {"user": "alice", "start": "2026-12-24T21:00:00Z", "end": "2026-12-24T22:00:00Z", "layer": "override"}
            ]),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/schedules/{name}/on-call")))
            .and(query_param("at", "2026-12-24T20:00:00Z"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"at": "2026-12-24T20:00:00Z", "users": [on_call], "layer": "week"}),
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/schedules/{name}/shifts")))
            .and(query_param("from", "2026-12-24T20:00:00Z"))
            .and(query_param("to", "2026-12-31T20:00:00Z"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": shifts})))
            .mount(&server)
            .await;
    }
    let on = OncallArgs {
        schedule: None,
        at: Some("2026-12-24T20:00:00Z".into()),
        me: true,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    execute_oncall(on.clone(), &args(&server.uri(), true), &mut out, &mut err)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["user"], "alice");
    assert_eq!(v["on_call"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["on_call"][0]["schedule"], "primary");
    let shifts: Vec<(&str, &str)> = v["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["schedule"].as_str().unwrap(),
                s["start"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shifts,
        [
            ("primary", "2026-12-24T20:00:00Z"),
            ("secondary", "2026-12-24T21:00:00Z")
        ],
        "only alice's, in order of start"
    );
    let mut text = Vec::new();
    execute_oncall(on, &args(&server.uri(), false), &mut text, &mut err)
        .await
        .unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("alice is on call at 2026-12-24T20:00:00Z on: primary (layer week)")
            && text.contains("(already on call)"),
        "{text}"
    );
}

// --- command lines --------------------------------------------------------------------------

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
    Contact(ContactCommand),
    #[command(subcommand)]
    Escalation(EscalationCommand),
}

#[test]
fn escalation_list_needs_exactly_one_of_incident_and_alert() {
    let parse = |argv: &[&str]| {
        TestCli::try_parse_from(["firebreak", "escalation", "list"].iter().chain(argv))
    };
    let neither = parse(&[]).unwrap_err();
    assert_eq!(neither.exit_code(), 2);
    let text = neither.to_string();
    assert!(
        text.contains("--incident") && text.contains("--alert"),
        "{text}"
    );
    assert_eq!(
        parse(&["--incident", "INC-1", "--alert", "3"])
            .unwrap_err()
            .exit_code(),
        2
    );
    assert_eq!(parse(&["--alert", "three"]).unwrap_err().exit_code(), 2);
    assert!(parse(&["--alert", "3"]).is_ok());
}

#[test]
fn contact_add_takes_a_known_type_and_leaves_the_api_token_alone() {
    let cli = TestCli::try_parse_from([
        "firebreak",
        "--token",
        "fbt_api",
        "contact",
        "add",
        "--type",
        "ntfy",
        "https://ntfy.example.com/t",
        "--ntfy-token",
        "tk_1",
    ])
    .unwrap();
    assert_eq!(cli.client.token.as_deref(), Some("fbt_api"));
    match cli.cmd {
        TestCmd::Contact(ContactCommand::Add { ntfy_token, .. }) => {
            assert_eq!(ntfy_token.as_deref(), Some("tk_1"))
        }
        other => panic!("{other:?}"),
    }
    let sms = TestCli::try_parse_from(["firebreak", "contact", "add", "--type", "sms", "+1"]);
    assert_eq!(sms.unwrap_err().exit_code(), 2);
}
