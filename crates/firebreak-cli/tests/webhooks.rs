//! The `webhook` commands against a wiremock server: the request each sends (method, path,
//! query, body) and what it prints on standard output and standard error, including the
//! server's refusals.

use clap::{Parser, Subcommand};
use firebreak_cli::{CliError, ClientArgs, WEBHOOK_EVENTS, WebhookCommand, execute_webhook};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "whsec_FGs9c302Si1dwIbmiCX/+jGbDrFlSZBcWAI5whGLWSE=";

fn args(server: &str, json: bool) -> ClientArgs {
    ClientArgs {
        server: Some(server.to_string()),
        token: Some("tok-admin".to_string()),
        json,
    }
}

async fn webhook(cmd: WebhookCommand, a: &ClientArgs) -> (Result<(), CliError>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = execute_webhook(cmd, a, &mut out, &mut err).await;
    (
        r,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn problem(status: u16, title: &str, detail: &str, errors: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        serde_json::to_vec(&json!({
            "type": "about:blank", "title": title, "status": status,
            "detail": detail, "errors": errors
        }))
        .unwrap(),
        "application/problem+json",
    )
}

fn subscription(id: &str, url: &str) -> Value {
    json!({
        "id": id, "url": url, "events": ["alert.opened", "incident.declared"],
        "description": "Jira sync", "created_by": "admin",
        "created_at": "2026-11-23T10:00:00Z",
        "failing_since": null, "disabled_at": null, "disabled_reason": null
    })
}

fn add(url: &str, events: &[&str], description: Option<&str>) -> WebhookCommand {
    WebhookCommand::Add {
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        description: description.map(String::from),
    }
}

// --- add ------------------------------------------------------------------------------------

#[tokio::test]
async fn add_prints_the_secret_alone_and_the_id_on_stderr() {
    let server = MockServer::start().await;
    let mut created = subscription("wh_3f9c2a1b", "https://hooks.example.com/in?token=s3cret");
    created["secret"] = json!(SECRET);
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .and(header("authorization", "Bearer tok-admin"))
        .and(body_json(json!({
            "url": "https://hooks.example.com/in?token=s3cret",
            "events": ["incident.declared", "alert.opened"],
            "description": "Jira sync"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(created))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = add(
        " https://hooks.example.com/in?token=s3cret ",
        &["incident.declared", "alert.opened"],
        Some("Jira sync"),
    );
    let (r, out, err) = webhook(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(out, format!("{SECRET}\n"), "the secret alone on stdout");
    assert!(err.contains("Created webhook wh_3f9c2a1b"), "{err}");
    assert!(err.contains("shown only this once"), "{err}");
    assert!(
        err.contains("alert.opened, incident.declared to https://hooks.example.com/in?…"),
        "{err}"
    );
    assert!(
        !err.contains("s3cret"),
        "the URL's token stays off the screen: {err}"
    );
    assert!(
        err.contains("firebreak webhook deliveries wh_3f9c2a1b"),
        "{err}"
    );
}

#[tokio::test]
async fn add_json_prints_the_servers_object_with_the_secret() {
    let server = MockServer::start().await;
    let mut created = subscription("wh_1", "https://hooks.example.com/in");
    created["secret"] = json!(SECRET);
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .and(body_json(
            json!({"url": "https://hooks.example.com/in", "events": ["alert.opened"]}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(created.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = add("https://hooks.example.com/in", &["alert.opened"], None);
    let (r, out, err) = webhook(cmd, &args(&server.uri(), true)).await;
    r.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), created);
    assert!(err.is_empty(), "{err}");
}

#[tokio::test]
async fn add_refused_by_the_server_names_the_field_and_the_way_out() {
    let server = MockServer::start().await;
    // What the server answers for a loopback URL: the field and its message, also in `detail`.
    let message = "127.0.0.1 is a loopback address; add it to outbound.allow (or \
                   FIREBREAK_OUTBOUND_ALLOW) if Firebreak should reach it";
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .respond_with(problem(
            422,
            "Unprocessable Entity",
            &format!("url: {message}"),
            json!([{"field": "url", "message": message}]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = add("http://127.0.0.1:9000/hook", &["alert.opened"], None);
    let (r, out, err) = webhook(cmd, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert!(out.is_empty() && err.is_empty(), "{out}{err}");
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.report(),
        format!("error: Unprocessable Entity: url: {message}"),
        "the field error is said once"
    );

    // A refusal whose detail is general still lists each field.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks"))
        .respond_with(problem(
            422,
            "Unprocessable Entity",
            "the subscription is not valid",
            json!([{"field": "events[1]", "message": "`incident.closed` is not an event type"}]),
        ))
        .mount(&server)
        .await;
    let cmd = add("https://hooks.example.com/in", &["alert.opened"], None);
    let e = webhook(cmd, &args(&server.uri(), false))
        .await
        .0
        .unwrap_err();
    assert_eq!(
        e.report(),
        "error: Unprocessable Entity: the subscription is not valid\n  \
         events[1]: `incident.closed` is not an event type"
    );
}

#[tokio::test]
async fn a_responder_token_is_told_it_needs_admin() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks"))
        .respond_with(problem(
            403,
            "Forbidden",
            "this needs the admin role; the token has responder",
            json!([]),
        ))
        .mount(&server)
        .await;
    let (r, out, _) = webhook(WebhookCommand::List, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert!(out.is_empty());
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.report(),
        "error: Forbidden: this needs the admin role; the token has responder"
    );
}

// --- list -----------------------------------------------------------------------------------

#[tokio::test]
async fn list_follows_every_page_and_shows_status_without_query_strings() {
    let server = MockServer::start().await;
    let active = subscription("wh_a", "https://hooks.example.com/in?token=s3cret");
    let mut failing = subscription("wh_b", "https://bot.example.com/events");
    failing["failing_since"] = json!("2026-11-23T10:05:00Z");
    failing["description"] = json!("chat \u{1b}[2Jbot");
    let mut disabled = subscription("wh_c", "https://warehouse.example.com/ingest");
    disabled["failing_since"] = json!("2026-11-22T09:00:00Z");
    disabled["disabled_at"] = json!("2026-11-23T09:00:00Z");
    disabled["disabled_reason"] =
        json!("every delivery failed for 24 hours, since 2026-11-22T09:00:00Z");
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks"))
        .and(query_param("limit", "500"))
        .and(query_param_is_missing("cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [active, failing], "next_cursor": "wh_b"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks"))
        .and(query_param("cursor", "wh_b"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [disabled], "next_cursor": null})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (r, out, _) = webhook(WebhookCommand::List, &args(&server.uri(), false)).await;
    r.unwrap();
    for col in ["ID", "URL", "EVENTS", "STATUS", "DESCRIPTION"] {
        assert!(out.contains(col), "missing column {col} in\n{out}");
    }
    for cell in [
        "wh_a",
        "https://hooks.example.com/in?…",
        "alert.opened",
        "incident.declared",
        "active",
        "failing since 2026-11-23T10:05:00Z",
        "disabled: every delivery failed for 24 hours",
        "https://warehouse.example.com/ingest",
        "Jira sync",
    ] {
        assert!(out.contains(cell), "missing {cell} in\n{out}");
    }
    assert!(!out.contains("s3cret"), "{out}");
    assert!(!out.contains('\u{1b}'), "no terminal escapes: {out}");
    assert!(out.contains("chat \u{FFFD}[2Jbot"), "{out}");
    assert!(!out.contains("--cursor"), "every page was fetched: {out}");
}

#[tokio::test]
async fn list_empty_says_how_to_add_one_and_json_is_the_whole_list() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [], "next_cursor": null})),
        )
        .mount(&server)
        .await;
    let (r, out, _) = webhook(WebhookCommand::List, &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(
        out,
        "No webhook subscriptions. Add one with: firebreak webhook add URL --event TYPE\n"
    );
    let (r, out, _) = webhook(WebhookCommand::List, &args(&server.uri(), true)).await;
    r.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"items": [], "next_cursor": null})
    );
}

// --- deliveries -----------------------------------------------------------------------------

fn delivery(id: i64, status: &str, attempts: Value) -> Value {
    json!({
        "id": id, "event_id": format!("msg_01JD8Y4B7Q3VZ2K9X6M1R5T8W{id}"),
        "event_type": "incident.declared", "status": status, "attempts": attempts,
        "last_error": null, "created_at": "2026-11-23T10:00:00Z",
        "due_at": "2026-11-23T10:00:05Z", "deadline_at": "2026-11-24T10:00:00Z",
        "finished_at": null
    })
}

#[tokio::test]
async fn deliveries_show_status_attempts_last_answer_and_timing() {
    let server = MockServer::start().await;
    let mut delivered = delivery(
        3,
        "delivered",
        json!([{"at": "2026-11-23T10:00:00Z", "status_code": 204, "error": null, "duration_ms": 12}]),
    );
    delivered["finished_at"] = json!("2026-11-23T10:00:00Z");
    let pending = delivery(
        2,
        "pending",
        json!([{"at": "2026-11-23T10:00:00Z", "status_code": 503,
                "error": "the receiver answered 503 Service Unavailable", "duration_ms": 40}]),
    );
    let mut dead = delivery(
        1,
        "dead",
        json!([{"at": "2026-11-23T10:00:00Z", "status_code": null,
                "error": "could not connect to hooks.example.com:443: connection \u{1b}refused",
                "duration_ms": 3}]),
    );
    dead["event_type"] = json!("alert.opened");
    dead["finished_at"] = json!("2026-11-24T10:00:00Z");
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks/wh_a/deliveries"))
        .and(query_param("limit", "3"))
        .and(query_param_is_missing("cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [delivered, pending, dead], "next_cursor": "1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let cmd = WebhookCommand::Deliveries {
        id: "wh_a".into(),
        limit: Some(3),
        cursor: None,
    };
    let (r, out, _) = webhook(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    for col in [
        "DELIVERY",
        "EVENT TYPE",
        "EVENT ID",
        "STATUS",
        "ATTEMPTS",
        "LAST ANSWER",
        "NEXT / FINISHED",
    ] {
        assert!(out.contains(col), "missing column {col} in\n{out}");
    }
    for cell in [
        "msg_01JD8Y4B7Q3VZ2K9X6M1R5T8W3",
        "incident.declared",
        "alert.opened",
        "delivered",
        "HTTP 204",
        "finished 2026-11-23T10:00:00Z",
        "pending",
        "HTTP 503: the receiver answered 503",
        "due 2026-11-23T10:00:05Z",
        "dead",
        "could not connect to hooks.example.com:443",
        "finished 2026-11-24T10:00:00Z",
    ] {
        assert!(out.contains(cell), "missing {cell} in\n{out}");
    }
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(
        out.contains(
            "More on the next page: firebreak webhook deliveries wh_a --limit 3 --cursor 1"
        ),
        "{out}"
    );
}

#[tokio::test]
async fn deliveries_of_an_unknown_subscription_say_where_to_look() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks/wh_nope/deliveries"))
        .and(query_param("cursor", "7"))
        .respond_with(problem(
            404,
            "Not Found",
            "there is no webhook subscription wh_nope; `firebreak webhook list` shows them",
            json!([]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let cmd = WebhookCommand::Deliveries {
        id: "wh_nope".into(),
        limit: None,
        cursor: Some("7".into()),
    };
    let (r, out, _) = webhook(cmd, &args(&server.uri(), false)).await;
    let e = r.unwrap_err();
    assert!(out.is_empty());
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.report(),
        "error: Not Found: there is no webhook subscription wh_nope; `firebreak webhook list` shows them"
    );
}

#[tokio::test]
async fn no_deliveries_yet() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/webhooks/wh_a/deliveries"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [], "next_cursor": null})),
        )
        .mount(&server)
        .await;
    let cmd = WebhookCommand::Deliveries {
        id: "wh_a".into(),
        limit: None,
        cursor: None,
    };
    let (r, out, _) = webhook(cmd, &args(&server.uri(), false)).await;
    r.unwrap();
    assert!(out.starts_with("No deliveries yet"), "{out}");
}

// --- redeliver and remove -------------------------------------------------------------------

#[tokio::test]
async fn redeliver_posts_and_says_the_webhook_id_is_kept() {
    let server = MockServer::start().await;
    let queued = delivery(17, "pending", json!([]));
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks/wh_a/deliveries/17/redeliver"))
        .respond_with(ResponseTemplate::new(202).set_body_json(queued.clone()))
        .expect(2)
        .mount(&server)
        .await;
    let cmd = || WebhookCommand::Redeliver {
        id: "wh_a".into(),
        delivery: 17,
    };
    let (r, out, _) = webhook(cmd(), &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(
        out,
        "Queued delivery 17 of webhook wh_a again: incident.declared \
         msg_01JD8Y4B7Q3VZ2K9X6M1R5T8W17, with the same webhook-id.\n\
         Follow it with: firebreak webhook deliveries wh_a\n"
    );
    let (r, out, _) = webhook(cmd(), &args(&server.uri(), true)).await;
    r.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), queued);
}

#[tokio::test]
async fn redeliver_of_a_queued_delivery_shows_the_conflict() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks/wh_a/deliveries/2/redeliver"))
        .respond_with(problem(
            409,
            "Conflict",
            "delivery 2 is already queued (pending); it will be sent without asking",
            json!([]),
        ))
        .mount(&server)
        .await;
    let cmd = WebhookCommand::Redeliver {
        id: "wh_a".into(),
        delivery: 2,
    };
    let e = webhook(cmd, &args(&server.uri(), false))
        .await
        .0
        .unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.report(),
        "error: Conflict: delivery 2 is already queued (pending); it will be sent without asking"
    );
}

#[tokio::test]
async fn enable_posts_and_says_what_comes_next() {
    let server = MockServer::start().await;
    let enabled = subscription("wh_a", "https://hooks.example.com/firebreak");
    Mock::given(method("POST"))
        .and(path("/api/v1/webhooks/wh_a/enable"))
        .respond_with(ResponseTemplate::new(200).set_body_json(enabled.clone()))
        .expect(2)
        .mount(&server)
        .await;
    let cmd = || WebhookCommand::Enable { id: "wh_a".into() };
    let (r, out, _) = webhook(cmd(), &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(
        out,
        "Enabled webhook wh_a: events from now on are sent to https://hooks.example.com/firebreak.\n\
         Deliveries that failed while it was off: firebreak webhook deliveries wh_a, then\n\
         firebreak webhook redeliver wh_a DELIVERY for each one to send again.\n"
    );
    let (r, out, _) = webhook(cmd(), &args(&server.uri(), true)).await;
    r.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), enabled);
}

#[tokio::test]
async fn remove_deletes_and_confirms() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/webhooks/wh_a"))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&server)
        .await;
    let cmd = || WebhookCommand::Remove { id: "wh_a".into() };
    let (r, out, _) = webhook(cmd(), &args(&server.uri(), false)).await;
    r.unwrap();
    assert_eq!(
        out,
        "Removed webhook wh_a; deliveries still queued for it will not be sent.\n"
    );
    let (r, out, _) = webhook(cmd(), &args(&server.uri(), true)).await;
    r.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"id": "wh_a", "removed": true})
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
    Webhook(WebhookCommand),
}

fn parse(argv: &[&str]) -> Result<TestCli, clap::Error> {
    TestCli::try_parse_from(
        ["firebreak", "webhook"]
            .into_iter()
            .chain(argv.iter().copied()),
    )
}

fn events_of(argv: &[&str]) -> Vec<String> {
    match parse(argv).unwrap().cmd {
        TestCmd::Webhook(WebhookCommand::Add { events, .. }) => events,
        other => panic!("{other:?}"),
    }
}

#[test]
fn events_are_repeated_or_comma_separated_and_checked() {
    use clap::CommandFactory;
    TestCli::command().debug_assert();

    let url = "https://hooks.example.com/in";
    assert_eq!(
        events_of(&[
            "add",
            url,
            "--event",
            "incident.declared",
            "--event",
            "alert.opened"
        ]),
        ["incident.declared", "alert.opened"]
    );
    assert_eq!(
        events_of(&["add", url, "--events", "incident.declared,alert.opened"]),
        ["incident.declared", "alert.opened"]
    );
    assert_eq!(
        events_of(&[
            "add",
            url,
            "--events",
            "alert.opened",
            "--event",
            "deployment.recorded"
        ]),
        ["alert.opened", "deployment.recorded"]
    );
    for bad in [
        &["add", url][..],
        &["add", "--event", "alert.opened"],
        &["add", url, "--event", "incident.closed"],
        &["redeliver", "wh_a", "seventeen"],
        &["remove"],
    ] {
        let e = parse(bad).expect_err(&format!("{bad:?} should not parse"));
        assert_eq!(e.exit_code(), 2, "{bad:?}");
    }
    // An unknown event type is refused with the list of the real ones.
    let e = parse(&["add", url, "--event", "incident.closed"]).unwrap_err();
    assert!(e.to_string().contains("incident.declared"), "{e}");

    let cli = parse(&["rm", "wh_a"]).unwrap();
    assert!(matches!(cli.cmd, TestCmd::Webhook(WebhookCommand::Remove { ref id }) if id == "wh_a"));
    let cli = parse(&["redeliver", "wh_a", "17", "--json"]).unwrap();
    assert!(cli.client.json);
    assert!(matches!(
        cli.cmd,
        TestCmd::Webhook(WebhookCommand::Redeliver { delivery: 17, .. })
    ));
    assert_eq!(WEBHOOK_EVENTS.len(), 9);
}

#[test]
fn help_texts_carry_examples() {
    for sub in ["add", "list", "deliveries", "redeliver", "enable", "remove"] {
        let e = parse(&[sub, "--help"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = e.to_string();
        assert!(help.contains("Example"), "{sub}:\n{help}");
        assert!(help.contains(&format!("firebreak webhook {sub}")), "{help}");
    }
    let help = parse(&["add", "--help"]).unwrap_err().to_string();
    assert!(help.contains("SECRET=$(firebreak webhook add"), "{help}");
    assert!(help.contains("shown again"), "{help}");
}
