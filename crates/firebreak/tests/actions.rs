//! Runbooks and their actions through the real server: a real script stands in for kubectl
//! and records its argv and environment. Templating cannot add arguments; secrets reach the
//! command but never the run's output, the timeline, the audit log or the server's answers
//! (also base64-encoded); the timeout kills the whole process group; approvals need a second
//! person in time; a viewer runs nothing; HTTP actions go through the outbound rules to a real
//! receiver; the one-step rollback ticks the checklist and records a deploy; `firebreak exec`
//! records a laptop's command and keeps it when Firebreak is away. On SQLite and PostgreSQL.

mod common;
mod support_receiver;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::TestServer;
use firebreak_domain::runbook::{Action, ActionKind, Param, Runbook, Value as Setting};
use firebreak_domain::{AccessRole, Config, Name};
use firebreak_engine::Clock;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};
use support_receiver::{Receiver, Reply};

const KUBECONFIG: &str = "canary-kubeconfig-7f3a9c1e";
const DEPLOY_TOKEN: &str = "canary-deploy-token-51d2";

fn script() -> String {
    format!("{}/tests/scripts/fake-kubectl", env!("CARGO_MANIFEST_DIR"))
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn command(
    action: &str,
    run: &[&str],
    params: &[(&str, &str)],
    record: &Path,
    timeout: SignedDuration,
) -> Action {
    let mut env = BTreeMap::new();
    env.insert(
        "RECORD_DIR".to_string(),
        Setting::Text(record.display().to_string()),
    );
    env.insert(
        "KUBECONFIG".to_string(),
        Setting::Secret(name("kubeconfig")),
    );
    let mut argv = vec![script()];
    argv.extend(run.iter().map(|s| s.to_string()));
    Action {
        name: name(action),
        description: String::new(),
        kind: ActionKind::Command {
            run: argv,
            cwd: None,
            env,
        },
        params: params
            .iter()
            .map(|(k, p)| (k.to_string(), Param::new(p).unwrap()))
            .collect(),
        timeout,
        role: AccessRole::Responder,
        approval: false,
        approval_within: SignedDuration::from_mins(15),
    }
}

fn config(record: &Path, receiver: &str) -> Config {
    let mut c = Config::default();
    c.services.push(common::service("checkout"));
    c.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    let secs = SignedDuration::from_secs;
    let mut guarded = command("guarded", &[], &[], record, secs(30));
    guarded.approval = true;
    let mut admin_only = command("restart", &[], &[], record, secs(30));
    admin_only.role = AccessRole::Admin;
    let mut headers = BTreeMap::new();
    headers.insert(
        "Authorization".to_string(),
        Setting::Secret(name("deploy_token")),
    );
    let http = Action {
        name: name("rollback-via-api"),
        description: String::new(),
        kind: ActionKind::Http {
            method: "POST".into(),
            url: format!("{receiver}/api/rollback"),
            headers,
            body: Some(r#"{"service": "{service}", "to": "{previous_version}"}"#.into()),
        },
        params: BTreeMap::new(),
        timeout: secs(10),
        role: AccessRole::Responder,
        approval: false,
        approval_within: SignedDuration::from_mins(15),
    };
    c.runbooks = vec![Runbook {
        name: name("checkout-errors"),
        services: vec![name("checkout")],
        matchers: vec![],
        body: "1. Check the error rate panel.".into(),
        url: None,
        actions: vec![
            command(
                "rollback",
                &[
                    "rollout",
                    "undo",
                    "deployment/{service}",
                    "-n",
                    "{namespace}",
                ],
                &[("namespace", "^[a-z0-9-]{1,63}$")],
                record,
                secs(30),
            ),
            command(
                "slow",
                &["sleep", "{seconds}"],
                &[("seconds", "[0-9]+")],
                record,
                secs(1),
            ),
            command("broken", &["fail"], &[], record, secs(30)),
            command("watch", &["sleep", "3"], &[], record, secs(30)),
            guarded,
            admin_only,
            http,
        ],
    }];
    c
}

fn set_secrets() {
    // SAFETY: every test in this binary sets the same values before its server starts.
    unsafe {
        std::env::set_var("FIREBREAK_SECRET_KUBECONFIG", KUBECONFIG);
        std::env::set_var(
            "FIREBREAK_SECRET_DEPLOY_TOKEN",
            format!("Bearer {DEPLOY_TOKEN}"),
        );
    }
}

async fn run(
    s: &TestServer,
    token: &str,
    incident: &str,
    action: &str,
    body: Value,
) -> common::Answer {
    s.call(
        Method::POST,
        &format!("/api/v1/incidents/{incident}/actions/{action}/runs"),
        Some(token),
        Some(body),
    )
    .await
}

async fn wait_done(s: &TestServer, id: i64) -> Value {
    for _ in 0..200 {
        let r = s
            .call(
                Method::GET,
                &format!("/api/v1/runs/{id}"),
                Some(&s.viewer),
                None,
            )
            .await;
        let r = r.expect(200).clone();
        if r["status"] != "running" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not end");
}

async fn audit_text(s: &TestServer) -> String {
    s.http
        .get(format!("{}/api/v1/audit/export", s.base))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn lines(path: PathBuf) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn assert_no_secret(what: &str, text: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(KUBECONFIG);
    for secret in [KUBECONFIG, b64.as_str(), DEPLOY_TOKEN] {
        assert!(!text.contains(secret), "{what} shows a secret: {text}");
    }
}

async fn actions(s: TestServer, record: &Path, receiver: &Receiver) {
    // A deploy before the incident: the suspect, with a version to roll back to.
    s.call(
        Method::POST,
        "/api/v1/deployments",
        Some(&s.responder),
        Some(json!({"service": "checkout", "version": "v2", "previous_version": "v1"})),
    )
    .await
    .expect(201);
    s.clock.advance(SignedDuration::from_mins(1));
    let inc = s
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(&s.responder),
            Some(json!({"title": "Checkout errors", "severity": "SEV2", "services": ["checkout"]})),
        )
        .await;
    let inc = inc.expect(201)["id"].as_str().unwrap().to_string();

    // The runbook shows next to the incident, with the one-step rollback prefilled.
    let rb = s
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{inc}/runbooks"),
            Some(&s.viewer),
            None,
        )
        .await;
    let rb = rb.expect(200).clone();
    assert_eq!(rb["items"][0]["name"], "checkout-errors", "{rb}");
    assert_eq!(rb["rollback"]["previous_version"], "v1", "{rb}");
    assert_eq!(rb["rollback"]["action"], "rollback");

    // A dry run shows the exact argv, secrets masked, and records nothing.
    let dry = run(
        &s,
        &s.responder,
        &inc,
        "rollback",
        json!({"params": {"namespace": "shop"}, "dry_run": true}),
    )
    .await;
    let dry = dry.expect(200).clone();
    assert_eq!(dry["status"], "dry_run");
    assert_eq!(
        dry["argv"],
        json!([
            script(),
            "rollout",
            "undo",
            "deployment/checkout",
            "-n",
            "shop"
        ])
    );
    assert!(
        dry["env"]
            .as_array()
            .unwrap()
            .contains(&json!("KUBECONFIG=<secret kubeconfig>")),
        "{dry}"
    );
    assert!(!record.join("runs").exists(), "a dry run runs nothing");

    // Values are checked and stay one argument: `api --all` is refused, so is a bad namespace.
    let injected = run(
        &s,
        &s.responder,
        &inc,
        "rollback",
        json!({"params": {"namespace": "shop", "service": "api --all"}}),
    )
    .await;
    injected.expect_problem(422);
    let bad = run(
        &s,
        &s.responder,
        &inc,
        "rollback",
        json!({"params": {"namespace": "shop; rm -rf /"}}),
    )
    .await;
    bad.expect_problem(422);
    let unknown = run(
        &s,
        &s.responder,
        &inc,
        "rollback",
        json!({"params": {"namespace": "shop", "extra": "x"}}),
    )
    .await;
    unknown.expect_problem(422);
    // A viewer runs nothing; an admin-only action refuses a responder.
    run(
        &s,
        &s.viewer,
        &inc,
        "rollback",
        json!({"params": {"namespace": "shop"}}),
    )
    .await
    .expect_problem(403);
    run(&s, &s.responder, &inc, "restart", json!({}))
        .await
        .expect_problem(403);
    assert!(!record.join("runs").exists());

    // The real run: 202, then it succeeds; the script got its argv and the secret.
    let started = run(
        &s,
        &s.responder,
        &inc,
        "rollback",
        json!({"params": {"namespace": "shop"}}),
    )
    .await;
    assert_eq!(started.status, 202, "{}", started.body);
    let id = started.body["id"].as_i64().unwrap();
    let done = wait_done(&s, id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(
        lines(record.join("argv")),
        vec!["rollout", "undo", "deployment/checkout", "-n", "shop"]
    );
    let env = lines(record.join("env"));
    assert!(env.contains(&format!("KUBECONFIG={KUBECONFIG}")), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("FIREBREAK_SECRET_")),
        "the command gets only its own environment: {env:?}"
    );
    let output = done["output"].as_str().unwrap();
    assert!(
        output.contains("rolled back") && output.contains("[redacted]"),
        "{output}"
    );
    assert_no_secret("the run", &done.to_string());

    // The rollback ticked "rollback considered" and recorded a deploy back to v1.
    let incident = s
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{inc}"),
            Some(&s.viewer),
            None,
        )
        .await;
    let checklist = incident.expect(200)["checklist"].to_string();
    assert!(checklist.contains("rollback considered"), "{checklist}");
    let deploys = s
        .call(
            Method::GET,
            "/api/v1/deployments?service=checkout",
            Some(&s.viewer),
            None,
        )
        .await;
    let newest = deploys.expect(200)["items"][0].clone();
    assert_eq!(newest["version"], "v1", "{newest}");
    let t = s.timeline(&inc).await;
    let kinds: Vec<&str> = t.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["action_requested", "action_started", "action_finished"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    assert_no_secret("the timeline", &Value::Array(t.clone()).to_string());
    assert_no_secret("the audit log", &audit_text(&s).await);
    assert!(audit_text(&s).await.contains("action.request"));

    // A failing command fails, with its exit code.
    let broken = run(&s, &s.responder, &inc, "broken", json!({})).await;
    let failed = wait_done(&s, broken.expect(202)["id"].as_i64().unwrap()).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["exit_code"], 3);
    assert!(
        failed["output"]
            .as_str()
            .unwrap()
            .contains("deployment not found")
    );

    // The timeout kills the whole process group, the child it started too.
    let slow = run(
        &s,
        &s.responder,
        &inc,
        "slow",
        json!({"params": {"seconds": "30"}}),
    )
    .await;
    let slow_id = slow.expect(202)["id"].as_i64().unwrap();
    // One run of an action at a time.
    run(
        &s,
        &s.responder,
        &inc,
        "slow",
        json!({"params": {"seconds": "1"}}),
    )
    .await
    .expect_problem(409);
    let timed_out = wait_done(&s, slow_id).await;
    assert_eq!(timed_out["status"], "failed");
    assert!(
        timed_out["error"].as_str().unwrap().contains("timed out"),
        "{timed_out}"
    );
    let child: i32 = std::fs::read_to_string(record.join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut gone = false;
    for _ in 0..50 {
        // SAFETY: signal 0 only asks whether the process exists.
        if unsafe { libc::kill(child, 0) } != 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone,
        "the timed-out action's child process is still running"
    );

    // Approval: the requester cannot approve; an admin (a second person) can, in time.
    let asked = run(&s, &s.responder, &inc, "guarded", json!({})).await;
    let asked = asked.expect(202).clone();
    assert_eq!(asked["status"], "pending_approval");
    let gid = asked["id"].as_i64().unwrap();
    let before = std::fs::read_to_string(record.join("runs")).unwrap();
    s.call(
        Method::POST,
        &format!("/api/v1/runs/{gid}/approve"),
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(403);
    s.call(
        Method::POST,
        &format!("/api/v1/runs/{gid}/approve"),
        Some(&s.viewer),
        None,
    )
    .await
    .expect_problem(403);
    // A token of no user could be the requester's own: it approves nothing.
    let shared = s
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "ci", "role": "admin"})),
        )
        .await
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let p = s
        .call(
            Method::POST,
            &format!("/api/v1/runs/{gid}/approve"),
            Some(&shared),
            None,
        )
        .await
        .expect_problem(403)
        .clone();
    assert!(p["detail"].as_str().unwrap().contains("by a person"), "{p}");
    // Refusals are on the record: the timeline and the audit log.
    let denied: Vec<Value> = s
        .timeline(&inc)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "action_denied")
        .collect();
    assert!(
        denied
            .iter()
            .any(|e| e["data"]["by"] == "token:ci" && e["data"]["run"] == gid),
        "{denied:?}"
    );
    assert!(
        denied.iter().any(|e| e["data"]["by"] == common::RESPONDER),
        "{denied:?}"
    );
    let audit = audit_text(&s).await;
    assert!(audit.contains(r#""action":"action.denied""#), "{audit}");
    assert_eq!(
        std::fs::read_to_string(record.join("runs")).unwrap(),
        before,
        "nothing ran yet"
    );
    let approved = s
        .call(
            Method::POST,
            &format!("/api/v1/runs/{gid}/approve"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(approved.expect(200)["approved_by"], "admin");
    assert_eq!(wait_done(&s, gid).await["status"], "succeeded");
    // An approval that comes too late refuses the run.
    let late = run(&s, &s.responder, &inc, "guarded", json!({})).await;
    let late_id = late.expect(202)["id"].as_i64().unwrap();
    s.clock.advance(SignedDuration::from_mins(16));
    let refused = s
        .call(
            Method::POST,
            &format!("/api/v1/runs/{late_id}/approve"),
            Some(&s.admin),
            None,
        )
        .await;
    refused.expect_problem(409);
    let shown = s
        .call(
            Method::GET,
            &format!("/api/v1/runs/{late_id}"),
            Some(&s.viewer),
            None,
        )
        .await;
    assert_eq!(shown.expect(200)["status"], "refused");

    // An HTTP action goes to a real receiver through the outbound rules, secret in its header.
    let h = run(&s, &s.responder, &inc, "rollback-via-api", json!({})).await;
    let h = h.expect(202).clone();
    assert_eq!(
        h["request"]["headers"]["Authorization"],
        "<secret deploy_token>"
    );
    let hd = wait_done(&s, h["id"].as_i64().unwrap()).await;
    assert_eq!(hd["status"], "succeeded", "{hd}");
    let got = receiver.received();
    let last = got.last().expect("the receiver got the request");
    assert_eq!(
        last.headers["authorization"].to_str().unwrap(),
        format!("Bearer {DEPLOY_TOKEN}")
    );
    // The deploy API call happened after the rollback recorded v1, so the suspect is v1 now.
    assert_eq!(last.json()["service"], "checkout");
    assert_no_secret("the HTTP run", &hd.to_string());

    // The CLI: a dry run prints the argv; a run waits and prints the output.
    let o = s
        .cli(
            &s.responder,
            &[
                "action",
                "run",
                "rollback",
                "--incident",
                &inc,
                "--param",
                "namespace=shop",
                "--dry-run",
            ],
        )
        .await;
    assert_eq!(o.status.code(), Some(0), "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains("deployment/checkout"),
        "{}",
        common::printed(&o)
    );
    let o = s
        .cli(
            &s.responder,
            &["action", "run", "broken", "--incident", &inc],
        )
        .await;
    assert_eq!(o.status.code(), Some(1), "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains("failed"),
        "{}",
        common::printed(&o)
    );
    let o = s.cli(&s.viewer, &["runbook", "list"]).await;
    assert!(
        common::printed(&o).contains("checkout-errors"),
        "{}",
        common::printed(&o)
    );

    // A running action's output streams to the incident's watchers as it grows, redacted.
    let last = s.timeline(&inc).await.last().unwrap()["seq"]
        .as_i64()
        .unwrap();
    let mut stream = s
        .http
        .get(format!(
            "{}/api/v1/incidents/{inc}/events?after={last}",
            s.base
        ))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let watched = run(&s, &s.responder, &inc, "watch", json!({})).await;
    let watched = watched.expect(202)["id"].as_i64().unwrap();
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(seen.contains("event: output") && seen.contains("using kubeconfig")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no output event: {seen}"
        );
        // The heartbeat that stores the output so far runs on the clock.
        s.clock.advance(SignedDuration::from_secs(3));
        while let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_millis(300), stream.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let events: Vec<&str> = seen.split("\n\n").collect();
    let output = events
        .iter()
        .position(|e| e.contains("event: output"))
        .unwrap();
    assert!(
        events[output].contains(&format!(r#""run":{watched}"#)),
        "{}",
        events[output]
    );
    assert_no_secret("the output event", &seen);
    // It came before the run ended.
    let ran = format!(r#""run":{watched}"#);
    assert!(
        !events[..output]
            .iter()
            .any(|e| e.contains("action_finished") && e.contains(&ran)),
        "{seen}"
    );
    assert!(
        events[..output]
            .iter()
            .any(|e| e.contains("action_started") && e.contains(&ran)),
        "{seen}"
    );
    assert_eq!(wait_done(&s, watched).await["status"], "succeeded");
    s.running.stop().await.expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_run_once_recorded_with_secrets_kept_out_sqlite() {
    set_secrets();
    let record = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(Reply::OK).await;
    let s = common::spawn_with(config(record.path(), &receiver.url)).await;
    actions(s, record.path(), &receiver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_run_once_recorded_with_secrets_kept_out_postgres() {
    set_secrets();
    let record = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(Reply::OK).await;
    let store = common::postgres_store("actions").await;
    let s = common::spawn_on(
        Arc::new(store),
        config(record.path(), &receiver.url),
        tempfile::tempdir().unwrap(),
    )
    .await;
    actions(s, record.path(), &receiver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_records_a_laptops_command_and_keeps_it_while_firebreak_is_away() {
    set_secrets();
    let record = tempfile::tempdir().unwrap();
    let s = common::spawn_with(config(record.path(), "http://127.0.0.1:9")).await;
    let inc = s
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(&s.responder),
            Some(json!({"title": "Checkout errors", "severity": "SEV2", "services": ["checkout"]})),
        )
        .await;
    let inc = inc.expect(201)["id"].as_str().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_firebreak"));
    let o = cmd
        .args([
            "exec",
            "--incident",
            &inc,
            "--",
            "sh",
            "-c",
            "echo restarting with $API_TOKEN; exit 3",
        ])
        .env("FIREBREAK_CONFIG_DIR", home.path())
        .env("FIREBREAK_SERVER", &s.base)
        .env("FIREBREAK_TOKEN", &s.responder)
        .env("API_TOKEN", "canary-laptop-token-99")
        .output()
        .await
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "exits with the command's own code: {}",
        common::printed(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("restarting"),
        "the output shows as usual"
    );
    let t = s.timeline(&inc).await;
    let ran: Vec<&Value> = t.iter().filter(|e| e["kind"] == "command_run").collect();
    assert_eq!(ran.len(), 1, "{t:?}");
    assert_eq!(ran[0]["data"]["exit_code"], 3);
    assert_eq!(ran[0]["data"]["argv"][0], "sh");
    let text = ran[0].to_string();
    assert!(text.contains("restarting with [redacted]"), "{text}");
    assert!(!text.contains("canary-laptop-token-99"));

    // Firebreak away: the command still runs and exits with its code; the record is kept.
    let o = common::cli_at(
        "http://127.0.0.1:9",
        &s.responder,
        &["exec", "--incident", &inc, "--", "true"],
        home.path(),
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains("kept in"),
        "{}",
        common::printed(&o)
    );
    // Back: the next exec sends what was kept, then its own.
    let o = common::cli_at(
        &s.base,
        &s.responder,
        &["exec", "--incident", &inc, "--", "false"],
        home.path(),
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", common::printed(&o));
    let t = s.timeline(&inc).await;
    let ran: Vec<&Value> = t.iter().filter(|e| e["kind"] == "command_run").collect();
    assert_eq!(ran.len(), 3, "{t:?}");
    assert_eq!(ran[1]["data"]["argv"][0], "true");
    s.running.stop().await.expect("the server stops");
    let _ = s.clock.now();
}

/// Runbooks through the API take the file's shape and are checked by the file's rules; one
/// added this way shows next to incidents and its actions run like any other.
async fn runbooks_through_the_api(s: TestServer, record: &Path) {
    let body = json!({
        "name": "search-slow",
        "services": ["checkout"],
        "match": ["alertname=\"SearchSlow\""],
        "body": "1. Look at the search latency panel.",
        "actions": [{
            "name": "restart-search",
            "kind": "command",
            "run": [script(), "restart", "{namespace}"],
            "env": {"RECORD_DIR": record.display().to_string(), "KUBECONFIG": {"secret": "kubeconfig"}},
            "params": {"namespace": "^[a-z-]+$"},
            "timeout": "30s",
        }],
    });
    let made = s
        .call(
            Method::POST,
            "/api/v1/runbooks",
            Some(&s.admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(made.expect(201)["actions"][0]["name"], "restart-search");
    // Only admins manage runbooks; the same name twice is a conflict.
    s.call(
        Method::POST,
        "/api/v1/runbooks",
        Some(&s.responder),
        Some(body.clone()),
    )
    .await
    .expect_problem(403);
    s.call(
        Method::POST,
        "/api/v1/runbooks",
        Some(&s.admin),
        Some(body.clone()),
    )
    .await
    .expect_problem(409);
    // The file's rules, with the field named inside the body.
    let mut bad = body.clone();
    bad["name"] = json!("other");
    bad["actions"][0]["run"] = json!(["kubectl", "{nope}"]);
    let p = s
        .call(Method::POST, "/api/v1/runbooks", Some(&s.admin), Some(bad))
        .await;
    let p = p.expect_problem(422).clone();
    assert_eq!(p["errors"][0]["field"], "actions[0].run[1]", "{p}");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("{nope}"),
        "{p}"
    );
    let mut unknown_service = body.clone();
    unknown_service["name"] = json!("other");
    unknown_service["services"] = json!(["nope"]);
    s.call(
        Method::POST,
        "/api/v1/runbooks",
        Some(&s.admin),
        Some(unknown_service),
    )
    .await
    .expect_problem(422);
    // A runbook from firebreak.yaml is changed there.
    let mut file_one = body.clone();
    file_one["name"] = json!("checkout-errors");
    s.call(
        Method::PUT,
        "/api/v1/runbooks/checkout-errors",
        Some(&s.admin),
        Some(file_one),
    )
    .await
    .expect_problem(409);
    // It shows next to an incident, and its action runs.
    let inc = s
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(&s.responder),
            Some(json!({"title": "Search slow", "severity": "SEV3", "services": ["checkout"]})),
        )
        .await;
    let inc = inc.expect(201)["id"].as_str().unwrap().to_string();
    let rb = s
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{inc}/runbooks"),
            Some(&s.viewer),
            None,
        )
        .await;
    let names: Vec<String> = rb.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    // search-slow has matchers, and the incident has no alert it selects.
    assert_eq!(names, vec!["checkout-errors"]);
    let mut no_match = body.clone();
    no_match.as_object_mut().unwrap().remove("match");
    let replaced = s
        .call(
            Method::PUT,
            "/api/v1/runbooks/search-slow",
            Some(&s.admin),
            Some(no_match),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    // An alert on the incident carries the namespace as a label: the parameter is filled from
    // it, and the sender's runbook link shows next to the alert.
    let key = s.integration("checkout", "prometheus").await;
    let sent = s
        .send_json(
            &format!("/api/v1/ingest/generic/{key}"),
            &json!({
                "summary": "search is slow",
                "dedup_key": "search-slow",
                "labels": {"alertname": "SearchSlow", "namespace": "search"},
                "links": [{"href": "https://runbooks.example.com/search", "text": "Runbook"}],
            }),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let alert = sent.body["alerts"][0]["alert"]
        .as_i64()
        .expect("an alert id");
    let for_alert = s
        .call(
            Method::GET,
            &format!("/api/v1/alerts/{alert}/runbooks"),
            Some(&s.viewer),
            None,
        )
        .await;
    let for_alert = for_alert.expect(200).clone();
    assert_eq!(
        for_alert["links"][0]["href"], "https://runbooks.example.com/search",
        "{for_alert}"
    );
    let r = run(&s, &s.responder, &inc, "restart-search", json!({})).await;
    let r = r.expect(202).clone();
    assert_eq!(r["argv"][2], "search", "{r}");
    let done = wait_done(&s, r["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(lines(record.join("argv")), vec!["restart", "search"]);
    // An approval runs exactly what was asked for: if the runbook changes meanwhile, it is
    // refused and asked again.
    let gated = |arg: &str| {
        json!({
            "name": "gated",
            "services": ["checkout"],
            "body": "Needs a second person.",
            "actions": [{
                "name": "gated-restart",
                "kind": "command",
                "run": [script(), "restart", arg],
                "env": {"RECORD_DIR": record.display().to_string(), "KUBECONFIG": {"secret": "kubeconfig"}},
                "approval": true,
            }],
        })
    };
    s.call(
        Method::PUT,
        "/api/v1/runbooks/gated",
        Some(&s.admin),
        Some(gated("one")),
    )
    .await
    .expect(201);
    let asked = run(&s, &s.responder, &inc, "gated-restart", json!({})).await;
    let asked_id = asked.expect(202)["id"].as_i64().unwrap();
    s.call(
        Method::PUT,
        "/api/v1/runbooks/gated",
        Some(&s.admin),
        Some(gated("two")),
    )
    .await
    .expect(200);
    let refused = s
        .call(
            Method::POST,
            &format!("/api/v1/runs/{asked_id}/approve"),
            Some(&s.admin),
            None,
        )
        .await;
    let p = refused.expect_problem(409).clone();
    assert!(p["detail"].as_str().unwrap().contains("changed"), "{p}");
    // Resolving the incident refuses what still waits for approval (the run above does).
    let waiting_id = asked_id;
    s.call(
        Method::PATCH,
        &format!("/api/v1/incidents/{inc}"),
        Some(&s.responder),
        Some(json!({"status": "resolved"})),
    )
    .await
    .expect(200);
    let shown = s
        .call(
            Method::GET,
            &format!("/api/v1/runs/{waiting_id}"),
            Some(&s.viewer),
            None,
        )
        .await;
    assert_eq!(shown.expect(200)["status"], "refused");
    // Removed, it is gone.
    let gone = s
        .call(
            Method::DELETE,
            "/api/v1/runbooks/search-slow",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(gone.status, 204);
    s.call(
        Method::GET,
        "/api/v1/runbooks/search-slow",
        Some(&s.viewer),
        None,
    )
    .await
    .expect_problem(404);
    s.running.stop().await.expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbooks_are_managed_through_the_api_sqlite() {
    set_secrets();
    let record = tempfile::tempdir().unwrap();
    let s = common::spawn_with(config(record.path(), "http://127.0.0.1:9")).await;
    runbooks_through_the_api(s, record.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbooks_are_managed_through_the_api_postgres() {
    set_secrets();
    let record = tempfile::tempdir().unwrap();
    let store = common::postgres_store("runbooks").await;
    let s = common::spawn_on(
        Arc::new(store),
        config(record.path(), "http://127.0.0.1:9"),
        tempfile::tempdir().unwrap(),
    )
    .await;
    runbooks_through_the_api(s, record.path()).await;
}
