//! The built binary's `postmortem`, `action-item` and `report` commands against a real server:
//! a postmortem drafted, shown, exported, edited through an editor script (a concurrent save
//! meanwhile, and a heading that is not a section), checked with CI's exit codes, a finding
//! dismissed and the postmortem published; action items added, listed, closed and changed; and
//! the reports read as tables, JSON and CSV.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::TestServer;
use firebreak_domain::Config;
use jiff::SignedDuration;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_firebreak");

fn config() -> Config {
    let mut c = Config::default();
    c.services.push(common::service("checkout"));
    c.services.push(common::service("search"));
    c
}

/// Runs the CLI as the responder with `editor` as `$EDITOR` (and no `$VISUAL`).
async fn cli_editing(s: &TestServer, editor: &str, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    tokio::process::Command::new(BIN)
        .args(args)
        .env("FIREBREAK_CONFIG_DIR", home.path())
        .env("FIREBREAK_SERVER", &s.base)
        .env("FIREBREAK_TOKEN", &s.responder)
        .env_remove("VISUAL")
        .env("EDITOR", editor)
        .output()
        .await
        .expect("the CLI runs")
}

async fn cli(s: &TestServer, args: &[&str]) -> Output {
    s.cli(&s.responder, args).await
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("an exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert_eq!(code(o), 0, "{}", common::printed(o));
    stdout(o)
}

/// An editor: a shell script in `dir` that runs `body` with the file as `$1`.
fn editor(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    format!("sh {}", path.display())
}

/// The file an error says the user's text is kept in.
fn kept_file(o: &Output) -> PathBuf {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("Your text is kept in "))
        .unwrap_or_else(|| panic!("no kept file in {err}"));
    PathBuf::from(line.trim())
}

async fn declare(s: &TestServer, title: &str, severity: &str, services: &[&str]) -> String {
    s.post(
        "/api/v1/incidents",
        json!({"title": title, "severity": severity, "services": services}),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn set_status(s: &TestServer, id: &str, status: &str) {
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"status": status}),
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postmortem_from_draft_to_published_from_the_cli() {
    let s = common::spawn_with(config()).await;
    let id = declare(&s, "Checkout returns 500s", "SEV2", &["checkout"]).await;
    let scripts = tempfile::tempdir().unwrap();

    let out = ok(&cli(&s, &["postmortem", "draft", &id]).await);
    assert!(
        out.contains(&format!("Drafted the postmortem of {id} (version 1)")),
        "{out}"
    );
    let again = cli(&s, &["postmortem", "draft", &id]).await;
    assert_eq!(code(&again), 1, "one postmortem per incident");

    let out = ok(&cli(&s, &["postmortem", "show", &id]).await);
    assert!(
        out.contains(&format!("Postmortem of {id}: draft, version 1")),
        "{out}"
    );
    assert!(out.contains("Still to fill in:"), "{out}");
    for heading in ["## Summary", "## Impact", "## Contributing factors"] {
        assert!(out.contains(heading), "{heading} in {out}");
    }

    let exported = ok(&cli(&s, &["postmortem", "export", &id]).await);
    assert!(
        exported.starts_with(&format!("# {id}: Checkout returns 500s")),
        "{exported}"
    );
    let file = scripts.path().join("export.md");
    ok(&cli(
        &s,
        &["postmortem", "export", &id, "-o", file.to_str().unwrap()],
    )
    .await);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), exported);

    let check = cli(&s, &["postmortem", "check", &id]).await;
    assert_eq!(
        code(&check),
        0,
        "the draft blames nobody: {}",
        common::printed(&check)
    );

    // An editor that changes nothing sends nothing.
    let out = ok(&cli_editing(&s, "true", &["postmortem", "edit", &id]).await);
    assert_eq!(out, "No changes; nothing was saved.\n");

    // A real edit: a sentence under Contributing factors.
    let blame = editor(
        scripts.path(),
        "blame.sh",
        "sed -i '/^## Contributing factors$/a It was human error: the pool was too small.' \"$1\"",
    );
    let out = ok(&cli_editing(&s, &blame, &["postmortem", "edit", &id]).await);
    assert!(
        out.contains(&format!(
            "Saved version 2 of the postmortem of {id}: changed Contributing factors."
        )),
        "{out}"
    );
    assert!(
        out.contains("1 blameless-language finding is open"),
        "{out}"
    );

    // CI's gate: exit 1 with each finding and its key.
    let check = cli(&s, &["postmortem", "check", &id]).await;
    assert_eq!(code(&check), 1, "{}", common::printed(&check));
    let listed = stdout(&check);
    assert!(
        listed.contains("contributing_factors:") && listed.contains("\"human error\""),
        "{listed}"
    );
    assert!(
        listed.contains("    key: human-error:human error"),
        "{listed}"
    );
    let json_check = cli(&s, &["postmortem", "check", &id, "--json"]).await;
    assert_eq!(code(&json_check), 1);
    let v: Value = serde_json::from_slice(&json_check.stdout).unwrap();
    assert_eq!(v["findings"][0]["rule"], "human-error");

    // Text not saved yet is checked with --file.
    let draft = scripts.path().join("draft.md");
    std::fs::write(
        &draft,
        "## Impact\n\nCard payments failed for 12 minutes.\n\n## Contributing factors\n\nThe pool was too small.\n",
    )
    .unwrap();
    let check = cli(
        &s,
        &[
            "postmortem",
            "check",
            &id,
            "--file",
            draft.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code(&check), 0, "{}", common::printed(&check));

    // A heading that is not a section: its line is named, the text kept, nothing saved.
    let lessons = editor(
        scripts.path(),
        "lessons.sh",
        "printf '\\n## Lessons learned\\n\\nSmaller pools fail sooner.\\n' >> \"$1\"",
    );
    let refused = cli_editing(&s, &lessons, &["postmortem", "edit", &id]).await;
    assert_eq!(code(&refused), 1, "{}", common::printed(&refused));
    let kept = kept_file(&refused);
    let err = String::from_utf8_lossy(&refused.stderr);
    let text = std::fs::read_to_string(&kept).unwrap();
    let line = text
        .lines()
        .position(|l| l == "## Lessons learned")
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "{}:{line}: `## Lessons learned` is not a section",
            kept.display()
        )),
        "{err}"
    );
    // Fixed by hand, it is applied with --file.
    let fix = editor(
        scripts.path(),
        "fix.sh",
        "sed -i 's/^## Lessons learned$/### Lessons learned/' \"$1\"",
    );
    let out = ok(&cli_editing(
        &s,
        &fix,
        &["postmortem", "edit", &id, "--file", kept.to_str().unwrap()],
    )
    .await);
    assert!(out.contains("Saved version 3"), "{out}");
    std::fs::remove_file(&kept).unwrap();

    // Someone else saves while the editor is open: nothing is overwritten, the edit is kept
    // on top of their version, and --file applies it.
    let theirs = format!(
        "EDITOR=\"sed -i '/^## Summary\\$/a Bob: the pool filled after deploy v2.3.1.'\" {BIN} postmortem edit {id} >/dev/null\n\
         sed -i '/^## Impact$/a Card payments failed for 12 minutes.' \"$1\""
    );
    let concurrent = editor(scripts.path(), "concurrent.sh", &theirs);
    let refused = cli_editing(&s, &concurrent, &["postmortem", "edit", &id]).await;
    assert_eq!(code(&refused), 1, "{}", common::printed(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("changed since version 3"), "{err}");
    assert!(
        err.contains("The kept file now holds version 4 with your changes to Impact on top."),
        "{err}"
    );
    let kept = kept_file(&refused);
    let out = ok(&cli_editing(
        &s,
        "true",
        &["postmortem", "edit", &id, "--file", kept.to_str().unwrap()],
    )
    .await);
    assert!(
        out.contains("Saved version 5") && out.contains("changed Impact."),
        "{out}"
    );
    std::fs::remove_file(&kept).unwrap();
    let exported = ok(&cli(&s, &["postmortem", "export", &id]).await);
    for both in [
        "Bob: the pool filled after deploy v2.3.1.",
        "Card payments failed for 12 minutes.",
        "### Lessons learned",
    ] {
        assert!(exported.contains(both), "{both} in {exported}");
    }

    // Publishing waits for the finding: reworded, dismissed, or --confirm.
    let refused = cli(&s, &["postmortem", "publish", &id]).await;
    assert_eq!(code(&refused), 1, "{}", common::printed(&refused));
    assert!(
        common::printed(&refused).contains("--confirm"),
        "{}",
        common::printed(&refused)
    );
    let out = ok(&cli(
        &s,
        &[
            "postmortem",
            "check",
            &id,
            "--dismiss",
            "human-error:human error",
            "--reason",
            "the sentence says what the pool allowed",
        ],
    )
    .await);
    assert!(out.contains("0 findings are open"), "{out}");
    ok(&cli(&s, &["postmortem", "check", &id]).await);
    let out = ok(&cli(&s, &["postmortem", "publish", &id]).await);
    assert!(
        out.contains(&format!("Published the postmortem of {id}")),
        "{out}"
    );

    // A published postmortem is reopened to be edited.
    let refused = cli_editing(&s, &blame, &["postmortem", "edit", &id]).await;
    assert_eq!(code(&refused), 2, "{}", common::printed(&refused));
    assert!(
        common::printed(&refused).contains("--status draft"),
        "{}",
        common::printed(&refused)
    );
    // `--status` alone opens no editor (one that fails would fail the command).
    let out = ok(&cli_editing(
        &s,
        "false",
        &["postmortem", "edit", &id, "--status", "draft"],
    )
    .await);
    assert!(out.contains("it is draft now"), "{out}");
    let out = ok(&cli_editing(
        &s,
        "false",
        &["postmortem", "edit", &id, "--status", "draft"],
    )
    .await);
    assert!(out.contains("draft already"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_items_from_the_cli() {
    let s = common::spawn_with(config()).await;
    let id = declare(&s, "Checkout returns 500s", "SEV2", &["checkout"]).await;

    let added = cli(
        &s,
        &[
            "action-item",
            "add",
            "--incident",
            &id,
            "--title",
            "Alert on connection pool saturation",
            "--owner",
            common::RESPONDER,
            "--due",
            "2026-12-15",
            "--ticket",
            "https://tracker.example.com/OPS-412",
            "--json",
        ],
    )
    .await;
    let first: Value = serde_json::from_str(&ok(&added)).unwrap();
    let first_id = first["id"].to_string();
    let out = ok(&cli(
        &s,
        &[
            "action-item",
            "add",
            "--title",
            "Run a failover game day",
            "--owner",
            common::RESPONDER,
            "--due",
            "2026-11-30",
        ],
    )
    .await);
    assert!(out.starts_with("Added action item "), "{out}");
    let second_id = out
        .trim_start_matches("Added action item ")
        .split('.')
        .next()
        .unwrap()
        .to_string();

    let bad = cli(
        &s,
        &[
            "action-item",
            "add",
            "--title",
            "t",
            "--owner",
            "nobody",
            "--due",
            "2026-12-01",
        ],
    )
    .await;
    assert_eq!(code(&bad), 1);
    assert!(
        common::printed(&bad).contains("owner"),
        "{}",
        common::printed(&bad)
    );

    let out = ok(&cli(&s, &["action-item", "list", "--incident", &id]).await);
    assert!(out.contains("Alert on connection pool saturation"), "{out}");
    assert!(!out.contains("failover"), "only the incident's: {out}");
    let listed: Value =
        serde_json::from_str(&ok(&cli(&s, &["action-item", "list", "--json"]).await)).unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");

    // The game day is overdue once its day has passed (a day ends at midnight UTC).
    s.clock.advance(SignedDuration::from_hours(24 * 8));
    let out = ok(&cli(&s, &["action-item", "list", "--overdue"]).await);
    assert!(
        out.contains("failover") && out.contains("2026-11-30 (overdue)"),
        "{out}"
    );
    assert!(!out.contains("pool saturation"), "{out}");

    let out = ok(&cli(
        &s,
        &[
            "action-item",
            "edit",
            &first_id,
            "--due",
            "2026-12-20",
            "--ticket",
            "",
        ],
    )
    .await);
    assert!(out.contains("2026-12-20"), "{out}");
    assert!(!out.contains("OPS-412"), "the ticket is removed: {out}");

    ok(&cli(&s, &["action-item", "done", &first_id]).await);
    let out = ok(&cli(
        &s,
        &[
            "action-item",
            "wont-do",
            &second_id,
            "--reason",
            "the replica is retired in January",
        ],
    )
    .await);
    assert!(out.contains("won't do: the replica is retired"), "{out}");
    let out = ok(&cli(&s, &["action-item", "list", "--status", "done"]).await);
    assert!(
        out.contains("pool saturation") && !out.contains("failover"),
        "{out}"
    );
    let out = ok(&cli(&s, &["action-item", "list", "--status", "open"]).await);
    assert!(out.contains("No action items."), "{out}");
    // An incident that does not exist is said so, not "No action items".
    let typo = cli(&s, &["action-item", "list", "--incident", "INC-999"]).await;
    assert_eq!(code(&typo), 1, "{}", common::printed(&typo));
    assert!(
        common::printed(&typo).contains("there is no incident INC-999"),
        "{}",
        common::printed(&typo)
    );
}

/// CSV rows as fields, for CSV without quoted line breaks.
fn csv(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let mut fields = vec![String::new()];
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        chars.next();
                        fields.last_mut().unwrap().push('"');
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => fields.push(String::new()),
                    (c, _) => fields.last_mut().unwrap().push(c),
                }
            }
            fields
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_from_the_cli() {
    let s = common::spawn_with(config()).await;
    // A deploy of checkout, then an incident on checkout: the deploy is its suspect.
    s.post(
        "/api/v1/deployments",
        json!({"service": "checkout", "version": "v2.3.1", "previous_version": "v2.3.0"}),
    )
    .await
    .expect(201);
    s.post(
        "/api/v1/deployments",
        json!({"service": "search", "version": "v9"}),
    )
    .await
    .expect(201);
    s.clock.advance(SignedDuration::from_mins(2));
    let checkout = declare(&s, "Checkout returns 500s", "SEV2", &["checkout"]).await;
    // Declared by a person, so acknowledged at once; mitigated 1h 02m 10s after, resolved
    // two hours later.
    s.clock.advance(SignedDuration::from_secs(250 + 58 * 60));
    set_status(&s, &checkout, "mitigated").await;
    s.clock.advance(SignedDuration::from_hours(2));
    set_status(&s, &checkout, "resolved").await;
    let search = declare(&s, "Search is slow", "SEV3", &["search"]).await;
    s.clock.advance(SignedDuration::from_hours(1));
    // November 2026, as dates.
    let report = |args: &[&'static str]| {
        let mut args = [&["report"][..], args].concat();
        args.extend(["--from", "2026-11-01", "--to", "2026-12-01"]);
        let s = &s;
        async move { ok(&cli(s, &args).await) }
    };

    let table = report(&["incidents", "--group-by", "service"]).await;
    for want in [
        "checkout", "search", "0s", "1h 02m", "3h 02m", &checkout, &search,
    ] {
        assert!(table.contains(want), "{want} in {table}");
    }

    let v: Value = serde_json::from_str(&report(&["incidents", "--json"]).await).unwrap();
    assert_eq!(v["from"], "2026-11-01T00:00:00Z", "{v}");
    assert_eq!(v["groups"][0]["incidents"], 2, "{v}");
    assert_eq!(v["groups"][0]["mtta"]["count"], 1, "{v}");

    let rows = csv(&report(&["incidents", "--group-by", "severity", "--csv"]).await);
    assert_eq!(rows[0][0], "group");
    assert_eq!(rows.len(), 3, "a header and a row per severity: {rows:?}");
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let sev2 = rows.iter().find(|r| r[0] == "SEV2").expect("a SEV2 row");
    assert_eq!(sev2[col("mtta_mean")], "0");
    assert_eq!(
        sev2[col("time_to_mitigate_mean")],
        (250 + 58 * 60).to_string()
    );
    assert_eq!(sev2[col("numbers")], checkout);
    let sev3 = rows.iter().find(|r| r[0] == "SEV3").expect("a SEV3 row");
    assert_eq!(sev3[col("mttr_mean")], "", "not resolved: no figure");

    let dora = report(&["dora"]).await;
    assert!(dora.contains("change failure rate: 50.0%"), "{dora}");
    assert!(dora.contains("v2.3.1"), "{dora}");
    let v: Value = serde_json::from_str(&report(&["dora", "--json"]).await).unwrap();
    assert_eq!(v["deploys"], 2, "{v}");
    assert_eq!(v["failed_deploys"], 1, "{v}");
    let rows = csv(&report(&["dora", "--csv"]).await);
    let header = [
        "deploy",
        "service",
        "version",
        "at",
        "incidents",
        "rolled_back",
        "mitigated_at",
        "recovery_seconds",
    ];
    assert_eq!(rows[0], header);
    assert_eq!(rows.len(), 2, "a header and the failed deploy: {rows:?}");
    let failed: std::collections::HashMap<&str, &str> = header
        .into_iter()
        .zip(rows[1].iter().map(String::as_str))
        .collect();
    assert_eq!(failed["service"], "checkout");
    assert_eq!(failed["version"], "v2.3.1");
    assert_eq!(failed["incidents"], checkout);
    assert_eq!(failed["rolled_back"], "false");
    // From the deploy to the mitigation: 2 minutes, then 1h 02m 10s.
    assert_eq!(
        failed["recovery_seconds"],
        (120 + 250 + 58 * 60).to_string()
    );

    let both = cli(&s, &["report", "dora", "--json", "--csv"]).await;
    assert_eq!(code(&both), 2, "{}", common::printed(&both));
    let bad = cli(&s, &["report", "incidents", "--from", "last week"]).await;
    assert_eq!(code(&bad), 2, "{}", common::printed(&bad));
}
