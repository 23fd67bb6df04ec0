//! Game days end to end: every example scenario in `examples/gamedays/` runs against a real
//! `firebreak serve` (the built binary, configured by `examples/gamedays/firebreak.yaml`)
//! through the real `firebreak gameday run`, while the test plays the team through the API:
//! it acknowledges the page, assigns the Incident Commander, posts a status update, mitigates
//! and drafts the postmortem. The score card (`--json`) passes every target and the command
//! exits 0. A team that does nothing gets `not met` and exit 1. `gameday check` points at
//! file:line; `gameday list` shows the history with its scores.

#[path = "support_proc/mod.rs"]
mod support_proc;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_proc::{BIN, Firebreak, http, serve};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gamedays")
}

/// A server on the example configuration, on port 0, with its admin token.
fn start(dir: &Path) -> (Firebreak, String) {
    let server = serve(dir, &examples().join("firebreak.yaml"), "127.0.0.1:0");
    let token = server
        .first_token
        .clone()
        .expect("a first start prints a token");
    (server, token)
}

/// The CLI, against `base` with `token`.
fn cli(base: &str, token: &str, home: &Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.args(args)
        .env("FIREBREAK_CONFIG_DIR", home)
        .env("FIREBREAK_SERVER", base)
        .env("FIREBREAK_TOKEN", token)
        .kill_on_drop(true);
    c
}

async fn call(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> Value {
    let mut req = http().request(method.clone(), url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("the server answers");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Plays the team for the running game day: waits for its drill incident and its alerts,
/// then acknowledges, assigns the IC, posts an internal update, mitigates and drafts the
/// postmortem. Returns the incident's id.
async fn play_the_team(base: &str, token: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (gameday, incident) = loop {
        assert!(Instant::now() < deadline, "no drill incident within 60s");
        let list = call(
            reqwest::Method::GET,
            &format!("{base}/api/v1/gamedays"),
            token,
            None,
        )
        .await;
        if let Some(g) = list["items"].as_array().and_then(|a| a.first()) {
            let id = g["id"].as_i64().unwrap();
            let live = call(
                reqwest::Method::GET,
                &format!("{base}/api/v1/gamedays/{id}"),
                token,
                None,
            )
            .await;
            if let Some(inc) = live["card"]["activity"]["incidents"]
                .as_array()
                .and_then(|a| a.first())
            {
                break (id, inc.as_str().unwrap().to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Acknowledge the game day's alerts (the page).
    let alerts = call(
        reqwest::Method::GET,
        &format!("{base}/api/v1/alerts?limit=200"),
        token,
        None,
    )
    .await;
    let mine: Vec<&Value> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["gameday"].as_i64() == Some(gameday))
        .collect();
    assert!(!mine.is_empty(), "{alerts}");
    for a in &mine {
        assert_eq!(a["drill"], true, "{a}");
        assert!(
            a["dedup_key"].as_str().unwrap().starts_with("drill:"),
            "{a}"
        );
    }
    call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/alerts/{}/acknowledge", mine[0]["id"]),
        token,
        None,
    )
    .await;
    let inc = format!("{base}/api/v1/incidents/{incident}");
    let shown = call(reqwest::Method::GET, &inc, token, None).await;
    assert_eq!(shown["drill"], true, "{shown}");
    call(
        reqwest::Method::PUT,
        &format!("{inc}/roles/incident-commander"),
        token,
        Some(json!({"user": "alice"})),
    )
    .await;
    call(
        reqwest::Method::POST,
        &format!("{inc}/status-updates"),
        token,
        Some(json!({"audience": "internal", "body": "Rolling back the last deploy."})),
    )
    .await;
    call(
        reqwest::Method::PATCH,
        &inc,
        token,
        Some(json!({"status": "mitigated"})),
    )
    .await;
    call(
        reqwest::Method::POST,
        &format!("{inc}/postmortem"),
        token,
        None,
    )
    .await;
    incident
}

/// Runs one example scenario with the team playing along: every target passes, exit 0.
async fn scenario_passes(file: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (server, token) = start(dir.path());
    let home = tempfile::tempdir().unwrap();
    let scenario = examples().join(file);
    let run = cli(
        &server.url,
        &token,
        home.path(),
        &[
            "gameday",
            "run",
            scenario.to_str().unwrap(),
            "--speed",
            "1000",
            "--until",
            "60s",
            "--json",
        ],
    )
    .output();
    let team = play_the_team(&server.url, &token);
    let (out, incident) = tokio::join!(run, team);
    let out = out.expect("the CLI runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{file}: {printed}");
    let card: Value = serde_json::from_slice(&out.stdout).expect("--json prints the game day");
    assert_eq!(card["status"], "finished", "{card}");
    assert_eq!(card["passed"], card["total"], "{card}");
    assert!(card["total"].as_u64().unwrap() >= 4, "{card}");
    for t in card["card"]["targets"].as_array().unwrap() {
        assert_eq!(t["outcome"], "passed", "{file}: {t}");
    }
    assert_eq!(card["incident"], incident, "{card}");
    let activity = &card["card"]["activity"];
    assert!(
        activity["roles"].to_string().contains("alice"),
        "{activity}"
    );
    assert_eq!(
        activity["status_updates"].as_array().unwrap().len(),
        1,
        "{activity}"
    );
    // Progress went to stderr, line by line when not a terminal.
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("injected alert"), "{progress}");
    assert!(progress.contains("finished"), "{progress}");
    // The score card is on the drill incident's timeline.
    let timeline = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/incidents/{incident}/timeline", server.url),
        &token,
        None,
    )
    .await;
    assert!(
        timeline.to_string().contains("Game day score card"),
        "{timeline}"
    );
    // Nothing of the drill reached the public status page: the page, its Statuspage JSON and
    // its feeds.
    let title = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/incidents/{incident}", server.url),
        &token,
        None,
    )
    .await["title"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        "/status",
        "/status/api/v2/summary.json",
        "/status/api/v2/incidents.json",
        "/status/history.atom",
        "/status/history.rss",
    ] {
        let res = http()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let body = res.text().await.unwrap();
        assert!(!body.contains(&title), "{path} shows the drill: {body}");
        assert!(!body.contains(&incident), "{path} shows the drill: {body}");
    }
    // Its deploys are drills: the drill incident's suspects, counted in DORA only when drills
    // are asked for.
    let deploys = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/deployments", server.url),
        &token,
        None,
    )
    .await;
    let deploys = deploys["items"].as_array().unwrap().clone();
    for d in &deploys {
        assert_eq!(d["drill"], true, "{d}");
        assert_eq!(d["source"], "gameday", "{d}");
    }
    if !deploys.is_empty() {
        let shown = call(
            reqwest::Method::GET,
            &format!("{}/api/v1/incidents/{incident}", server.url),
            &token,
            None,
        )
        .await;
        let suspects = shown["suspect_deploys"].as_array().unwrap();
        assert!(
            suspects.iter().any(|s| s["suspect"] == true),
            "the drill's deploy is its suspect: {shown}"
        );
    }
    let dora = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/reports/dora", server.url),
        &token,
        None,
    )
    .await;
    assert_eq!(dora["deploys"], 0, "{dora}");
    assert_eq!(dora["failed_deploys"], 0, "{dora}");
    let with_drills = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/reports/dora?drills=true", server.url),
        &token,
        None,
    )
    .await;
    let changes = deploys.iter().filter(|d| d["rollback"] == false).count();
    assert_eq!(with_drills["deploys"], changes, "{with_drills}");
    // The history lists it with its score.
    let listed = cli(&server.url, &token, home.path(), &["gameday", "list"])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{table}");
    let expected = format!("{}/{}", card["passed"], card["total"]);
    assert!(
        table.contains(&expected) && table.contains("finished"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deploy_scenario_scores_a_team_that_answers() {
    scenario_passes("failed-deploy.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_failover_scenario_scores_a_team_that_answers() {
    scenario_passes("database-failover.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_dependency_scenario_scores_a_team_that_answers() {
    scenario_passes("slow-dependency.yaml").await;
}

/// Runs `scenario` for 3 s with nobody answering; it must exit 1. Returns the card (`--json`)
/// and what the CLI said on standard error.
async fn unanswered(base: &str, token: &str, home: &Path, scenario: &Path) -> (Value, String) {
    let out = cli(
        base,
        token,
        home,
        &[
            "gameday",
            "run",
            scenario.to_str().unwrap(),
            "--speed",
            "1000",
            "--until",
            "3s",
            "--json",
        ],
    )
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let card = serde_json::from_slice(&out.stdout).expect("--json prints the game day");
    (card, stderr)
}

/// Nobody answers: at `--until` the open targets are `not met`, and the run exits 1. The
/// declaration passed by the grouping rule, which is what the team's configuration does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_that_does_nothing_gets_not_met_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (server, token) = start(dir.path());
    let home = tempfile::tempdir().unwrap();
    let scenario = examples().join("failed-deploy.yaml");
    let (card, stderr) = unanswered(&server.url, &token, home.path(), &scenario).await;
    let outcomes: Vec<(String, String)> = card["card"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (target, outcome) in &outcomes {
        let expected = if target == "declared_within" {
            "passed"
        } else {
            "not met"
        };
        assert_eq!(outcome, expected, "{target}: {card}");
    }
    assert!(stderr.contains("--until reached"), "{stderr}");
    // Finishing again answers the same card.
    let again = call(
        reqwest::Method::POST,
        &format!("{}/api/v1/gamedays/{}/finish", server.url, card["id"]),
        &token,
        None,
    )
    .await;
    assert_eq!(again["card"], card["card"]);
}

/// Work done on a drill incident before the game day started is not the team's answer to it:
/// a game day whose alert joins a drill left open (acknowledged, with its IC, an update,
/// mitigated and a postmortem) scores nothing for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_done_before_the_game_day_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let (server, token) = start(dir.path());
    let home = tempfile::tempdir().unwrap();
    let declared = call(
        reqwest::Method::POST,
        &format!("{}/api/v1/incidents", server.url),
        &token,
        Some(json!({"title": "An old drill", "severity": "SEV2", "services": ["checkout"], "drill": true})),
    )
    .await;
    let inc = format!(
        "{}/api/v1/incidents/{}",
        server.url,
        declared["id"].as_str().unwrap()
    );
    call(reqwest::Method::POST, &format!("{inc}/ack"), &token, None).await;
    call(
        reqwest::Method::PUT,
        &format!("{inc}/roles/incident-commander"),
        &token,
        Some(json!({"user": "alice"})),
    )
    .await;
    call(
        reqwest::Method::POST,
        &format!("{inc}/status-updates"),
        &token,
        Some(json!({"audience": "internal", "body": "Looking."})),
    )
    .await;
    call(
        reqwest::Method::PATCH,
        &inc,
        &token,
        Some(json!({"status": "mitigated"})),
    )
    .await;
    call(
        reqwest::Method::POST,
        &format!("{inc}/postmortem"),
        &token,
        None,
    )
    .await;
    // The game day starts after all that, on a later second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let scenario = examples().join("failed-deploy.yaml");
    let (card, _) = unanswered(&server.url, &token, home.path(), &scenario).await;
    for t in card["card"]["targets"].as_array().unwrap() {
        let target = t["target"].as_str().unwrap();
        if target == "declared_within" {
            continue;
        }
        assert_eq!(t["outcome"], "not met", "{target}: {card}");
    }
}

/// A scenario whose integration key the server does not know stops at its first alert with
/// exit 2 and says why, and the game day is finished, not left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_with_an_unknown_key_exits_2_and_finishes_its_game_day() {
    let dir = tempfile::tempdir().unwrap();
    let (server, token) = start(dir.path());
    let home = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(examples().join("failed-deploy.yaml"))
        .unwrap()
        .replace(
            "GAMEDAYcheckoutPrometheus0000001",
            "NOTAKEYcheckoutPrometheus0000001",
        );
    let scenario = dir.path().join("wrong-key.yaml");
    std::fs::write(&scenario, text).unwrap();
    let out = cli(
        &server.url,
        &token,
        home.path(),
        &[
            "gameday",
            "run",
            scenario.to_str().unwrap(),
            "--speed",
            "1000",
            "--until",
            "10s",
        ],
    )
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("finished early"), "{stderr}");
    let list = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/gamedays", server.url),
        &token,
        None,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_ne!(items[0]["status"], "running", "{list}");
}

/// `gameday check` prints the plan of a good scenario and exits 0; a bad one gets every
/// problem with file:line:column and its key, and exit 2.
#[tokio::test]
async fn check_points_at_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let good = examples().join("failed-deploy.yaml");
    let out = cli(
        "http://127.0.0.1:9",
        "",
        home.path(),
        &["gameday", "check", good.to_str().unwrap()],
    )
    .output()
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Scenario \"Failed deploy that needs a rollback\""),
        "{text}"
    );
    assert!(
        text.contains("at     30s  alert (alertmanager) `errors`"),
        "{text}"
    );
    assert!(text.contains("acknowledged within 5m"), "{text}");

    let bad = home.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: Broken\nservice: checkout\nseverity: SEV2\nintegrations:\n  generic: GAMEDAYcheckoutPrometheus0000001\nevents:\n  - at: 1m\n    check_failure: {check: web, error: down}\n  - at: 30s\n    report: {summary: slow}\n  - at: 2 minutes\n    resolve: {alert: nope}\n  - at: 3m\n    alert: {sender: alertmanager, body: {}}\ntargets:\n  acknowledged_within: 5 mins\n  colour: blue\n",
    )
    .unwrap();
    let out = cli(
        "http://127.0.0.1:9",
        "",
        home.path(),
        &["gameday", "check", bad.to_str().unwrap()],
    )
    .output()
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let f = bad.display().to_string();
    for expected in [
        format!(
            "{f}:9:9: events[1].at: events must be in order: 30s is before the previous event's 1m"
        ),
        format!("{f}:11:9: events[2].at: invalid duration \"2 minutes\""),
        format!("{f}:12:22: events[2].resolve.alert: no earlier alert has id \"nope\""),
        format!("{f}:14:21: events[3].alert.sender: no integration key for alertmanager"),
        format!("{f}:16:24: targets.acknowledged_within: invalid duration \"5 mins\""),
        format!("{f}:17:3: targets.colour: unknown key"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    let empty = home.path().join("empty.yaml");
    std::fs::write(
        &empty,
        "name: x\nservice: s\nseverity: SEV2\nevents: []\ntargets: {declared_within: 5m}\n",
    )
    .unwrap();
    let out = cli(
        "http://127.0.0.1:9",
        "",
        home.path(),
        &["gameday", "check", empty.to_str().unwrap()],
    )
    .output()
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:4:9: events: a scenario needs at least one event",
            empty.display()
        )),
        "{err}"
    );
}
