//! The `postmortem`, `action-item` and `report` commands against a wiremock server: the editor
//! flow of `postmortem edit` with a script for an editor (only changed sections sent, with the
//! version it started from; nothing sent when nothing changed; the user's text kept on a parse
//! error and on a conflict), `postmortem check`'s failure on findings, and the command lines.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use firebreak_cli::{
    ActionItemCommand, CliError, ClientArgs, Editor, PostmortemCommand, ReportCommand,
    execute_action_item, execute_postmortem,
};
use firebreak_domain::IncidentNumber;
use firebreak_domain::postmortem::{PostmortemStatus, Section, to_markdown};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn args(server: &str) -> ClientArgs {
    ClientArgs {
        server: Some(server.to_string()),
        token: Some("tok-1".to_string()),
        json: false,
    }
}

fn sections(summary: &str, impact: &str) -> Vec<Section> {
    vec![
        Section {
            key: "summary".into(),
            title: "Summary".into(),
            markdown: summary.into(),
        },
        Section {
            key: "impact".into(),
            title: "Impact".into(),
            markdown: impact.into(),
        },
    ]
}

fn view(version: i64, by: &str, sections: &[Section]) -> Value {
    json!({
        "incident": "INC-7", "incident_status": "resolved", "status": "draft",
        "version": version, "sections": sections, "findings": [],
        "prompts": [{"section": "impact", "count": 1}],
        "updated_at": "2026-11-24T10:00:00Z", "updated_by": by, "published_at": null
    })
}

fn markdown(sections: &[Section]) -> String {
    to_markdown(
        IncidentNumber(7),
        "Checkout returns 500s",
        PostmortemStatus::Draft,
        sections,
    )
}

const SUMMARY: &str = "Checkout returned 500s for 12 minutes.";
const IMPACT: &str = "> **To fill in:** Who noticed, and how?";

/// Serves version `version` of INC-7's postmortem, JSON and Markdown, `times` times at most.
async fn serve_postmortem(server: &MockServer, version: i64, by: &str, s: &[Section], times: u64) {
    Mock::given(method("GET"))
        .and(path("/api/v1/incidents/INC-7/postmortem"))
        .respond_with(ResponseTemplate::new(200).set_body_json(view(version, by, s)))
        .up_to_n_times(times)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/incidents/INC-7/postmortem.md"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/markdown; charset=utf-8")
                .set_body_string(markdown(s)),
        )
        .up_to_n_times(times)
        .mount(server)
        .await;
}

/// Fails the test if anything is saved.
async fn expect_no_save(server: &MockServer) {
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(server)
        .await;
}

/// An editor that answers the prompt under Impact with `answer`.
fn answering_impact(answer: &str) -> String {
    format!("sed -i 's/^> \\*\\*To fill in:\\*\\* Who noticed, and how?$/{answer}/'")
}

async fn edit(
    server: &MockServer,
    editor: &str,
    file: Option<PathBuf>,
) -> (Result<(), CliError>, String, String) {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let r = execute_postmortem(
        PostmortemCommand::Edit {
            id: "INC-7".into(),
            file,
            status: None,
        },
        &args(&server.uri()),
        &mut out,
        &mut notes,
        &Editor::new(editor, false),
    )
    .await;
    (
        r,
        String::from_utf8(out).unwrap(),
        String::from_utf8(notes).unwrap(),
    )
}

/// The path of the kept file an error names (`Your text is kept in PATH`).
fn kept_path(e: &CliError) -> PathBuf {
    let message = e.to_string();
    let line = message
        .lines()
        .find_map(|l| l.strip_prefix("Your text is kept in "))
        .unwrap_or_else(|| panic!("no kept file in {message}"));
    PathBuf::from(line.trim())
}

#[tokio::test]
async fn edit_sends_only_the_changed_section_with_the_version_it_started_from() {
    let server = MockServer::start().await;
    serve_postmortem(&server, 3, "alice", &sections(SUMMARY, IMPACT), 1).await;
    let after = sections(SUMMARY, "Every customer paying by card, for 12 minutes.");
    Mock::given(method("PUT"))
        .and(path("/api/v1/incidents/INC-7/postmortem"))
        .and(body_json(json!({
            "version": 3,
            "sections": [{"key": "impact", "markdown": "Every customer paying by card, for 12 minutes."}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "incident": "INC-7", "status": "draft", "version": 4, "sections": after,
            "findings": [], "prompts": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let answer = answering_impact("Every customer paying by card, for 12 minutes.");
    let (r, out, _) = edit(&server, &answer, None).await;
    r.unwrap();
    assert!(
        out.contains("Saved version 4 of the postmortem of INC-7: changed Impact."),
        "{out}"
    );
}

#[tokio::test]
async fn an_edit_that_changes_nothing_sends_nothing() {
    let server = MockServer::start().await;
    serve_postmortem(&server, 3, "alice", &sections(SUMMARY, IMPACT), 1).await;
    expect_no_save(&server).await;
    let (r, out, _) = edit(&server, "true", None).await;
    r.unwrap();
    assert_eq!(out, "No changes; nothing was saved.\n");
    // Trailing blank lines are not a change either: the sections read back the same.
    let (r, out, _) = {
        serve_postmortem(&server, 3, "alice", &sections(SUMMARY, IMPACT), 1).await;
        edit(&server, "printf '\\n\\n' >>", None).await
    };
    r.unwrap();
    assert_eq!(out, "No changes; nothing was saved.\n");
}

#[tokio::test]
async fn an_unknown_heading_is_shown_with_its_line_and_the_text_is_kept() {
    let server = MockServer::start().await;
    serve_postmortem(&server, 3, "alice", &sections(SUMMARY, IMPACT), 1).await;
    expect_no_save(&server).await;
    let (r, _, notes) = edit(
        &server,
        "printf '\\n## Lessons\\n\\nMy precious text.\\n' >>",
        None,
    )
    .await;
    assert_eq!(notes, "", "without a terminal nothing is asked");
    let e = r.unwrap_err();
    let kept = kept_path(&e);
    let text = std::fs::read_to_string(&kept).unwrap();
    assert!(text.contains("My precious text."), "{text}");
    let heading = text.lines().position(|l| l == "## Lessons").unwrap() + 1;
    let at = format!(
        "{}:{heading}: `## Lessons` is not a section",
        kept.display()
    );
    let message = e.to_string();
    assert!(message.starts_with(&at), "{at} in {message}");
    assert!(
        message.contains(&format!(
            "To apply it again: firebreak postmortem edit INC-7 --file {}",
            kept.display()
        )),
        "{message}"
    );
    std::fs::remove_file(kept).unwrap();
}

#[tokio::test]
async fn a_conflict_keeps_the_edit_on_top_of_the_new_version_and_the_retry_sends_only_it() {
    let server = MockServer::start().await;
    let v3 = sections(SUMMARY, IMPACT);
    serve_postmortem(&server, 3, "alice", &v3, 1).await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/incidents/INC-7/postmortem"))
        .and(body_json(json!({
            "version": 3,
            "sections": [{"key": "impact", "markdown": "Card payments failed."}]
        })))
        .respond_with(
            ResponseTemplate::new(409)
                .insert_header("content-type", "application/problem+json")
                .set_body_json(json!({
                    "type": "about:blank", "title": "Conflict", "status": 409,
                    "detail": "the postmortem of INC-7 changed since version 3: it is at version 4, saved by bob; read it again and reapply your edit"
                })),
        )
        .expect(1)
        .mount(&server)
        .await;
    // Bob saved version 4 meanwhile, with a new summary.
    let v4 = sections(
        "Checkout failed for 12 minutes after deploy v2.3.1.",
        IMPACT,
    );
    serve_postmortem(&server, 4, "bob", &v4, 2).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/incidents/INC-7"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "INC-7", "title": "Checkout returns 500s"})),
        )
        .mount(&server)
        .await;

    let (r, _, _) = edit(&server, &answering_impact("Card payments failed."), None).await;
    let e = r.unwrap_err();
    let message = e.to_string();
    assert!(message.contains("changed since version 3"), "{message}");
    assert!(
        message.contains("The kept file now holds version 4 with your changes to Impact on top."),
        "{message}"
    );
    let kept = kept_path(&e);
    let text = std::fs::read_to_string(&kept).unwrap();
    assert!(
        text.contains("after deploy v2.3.1") && text.contains("Card payments failed."),
        "bob's summary and the user's impact: {text}"
    );

    // Applying it again sends only the user's section, on top of version 4.
    Mock::given(method("PUT"))
        .and(path("/api/v1/incidents/INC-7/postmortem"))
        .and(body_json(json!({
            "version": 4,
            "sections": [{"key": "impact", "markdown": "Card payments failed."}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(view(
            5,
            "carol",
            &sections(
                "Checkout failed for 12 minutes after deploy v2.3.1.",
                "Card payments failed.",
            ),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let (r, out, _) = edit(&server, "true", Some(kept.clone())).await;
    r.unwrap();
    assert!(out.contains("Saved version 5"), "{out}");
    assert!(kept.exists(), "a file the user named is never deleted");
    std::fs::remove_file(kept).unwrap();
}

#[tokio::test]
async fn check_fails_while_findings_are_open_and_lists_their_keys() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/incidents/INC-7/postmortem/check"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"findings": [{
                "section": "contributing_factors", "start": 4, "end": 15, "text": "human error",
                "reason": "“Human error” names a person as the cause and ends the inquiry.",
                "suggestion": "Describe what made the mistake possible.",
                "rule": "human-error", "key": "human-error:human error"
            }]})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let check = || PostmortemCommand::Check {
        id: "INC-7".into(),
        file: None,
        dismiss: None,
        reason: None,
    };
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let editor = Editor::new("true", false);
    let r = execute_postmortem(check(), &args(&server.uri()), &mut out, &mut notes, &editor).await;
    let out = String::from_utf8(out).unwrap();
    assert!(r.is_err(), "findings fail the command: {out}");
    assert!(
        out.contains("contributing_factors:4-15  \"human error\"  “Human error” names"),
        "{out}"
    );
    assert!(out.contains("    key: human-error:human error"), "{out}");
    assert!(
        out.contains("--dismiss 'human-error:human error' --reason"),
        "{out}"
    );

    Mock::given(method("POST"))
        .and(path("/api/v1/incidents/INC-7/postmortem/check"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"findings": []})))
        .mount(&server)
        .await;
    let mut out = Vec::new();
    execute_postmortem(check(), &args(&server.uri()), &mut out, &mut notes, &editor)
        .await
        .unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with("No blameless-language findings")
    );
}

#[tokio::test]
async fn action_items_are_listed_across_pages_with_filters() {
    let server = MockServer::start().await;
    let item = |id: i64, overdue: bool| {
        json!({"id": id, "incident": "INC-7", "title": format!("Item {id}"), "owner": "alice",
               "due": "2026-12-01", "ticket_url": null, "status": "open", "reason": null,
               "overdue": overdue, "created_at": "2026-11-24T10:00:00Z", "version": 1})
    };
    Mock::given(method("GET"))
        .and(path("/api/v1/action-items"))
        .and(query_param("owner", "alice"))
        .and(query_param("overdue", "true"))
        .and(query_param("cursor", "c2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [item(2, true)], "next_cursor": null})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/action-items"))
        .and(query_param("owner", "alice"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [item(1, false)], "next_cursor": "c2"})),
        )
        .mount(&server)
        .await;
    let mut out = Vec::new();
    execute_action_item(
        ActionItemCommand::List {
            owner: Some("alice".into()),
            status: None,
            overdue: true,
            incident: None,
        },
        &args(&server.uri()),
        &mut out,
    )
    .await
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("Item 1") && out.contains("Item 2"), "{out}");
    assert!(out.contains("2026-12-01 (overdue)"), "{out}");
}

#[tokio::test]
async fn a_due_date_that_is_not_a_day_is_refused_before_asking() {
    let mut out = Vec::new();
    let e = execute_action_item(
        ActionItemCommand::Add {
            title: "Alert on pool saturation".into(),
            owner: "alice".into(),
            due: "15/12/2026".into(),
            ticket: None,
            incident: None,
        },
        &args("http://127.0.0.1:9"),
        &mut out,
    )
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
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
    Postmortem(PostmortemCommand),
    #[command(subcommand, name = "action-item")]
    ActionItem(ActionItemCommand),
    #[command(subcommand)]
    Report(ReportCommand),
}

fn parse(argv: &[&str]) -> Result<TestCli, clap::Error> {
    TestCli::try_parse_from(std::iter::once("firebreak").chain(argv.iter().copied()))
}

#[test]
fn command_lines_parse_and_mistakes_are_usage_errors() {
    use clap::CommandFactory;
    TestCli::command().debug_assert();
    for good in [
        &["postmortem", "edit", "INC-7", "--status", "in_review"][..],
        &[
            "postmortem",
            "check",
            "INC-7",
            "--dismiss",
            "k",
            "--reason",
            "r",
        ],
        &["postmortem", "export", "INC-7", "-o", "x.md"],
        &["action-item", "edit", "12", "--ticket", ""],
        &[
            "action-item",
            "list",
            "--status",
            "wont_do",
            "--overdue",
            "--json",
        ],
        &[
            "report",
            "incidents",
            "--group-by",
            "severity",
            "--from",
            "2026-11-01",
            "--csv",
        ],
        &[
            "report",
            "dora",
            "--service",
            "checkout",
            "--drills",
            "--json",
        ],
    ] {
        parse(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    for bad in [
        &["postmortem", "check", "INC-7", "--dismiss", "k"][..],
        &["postmortem", "check", "INC-7", "--reason", "r"],
        &["postmortem", "edit", "INC-7", "--status", "published"],
        &["action-item", "edit", "12"],
        &["action-item", "list", "--status", "closed"],
        &["action-item", "wont-do", "12"],
        &["action-item", "add", "--title", "t", "--owner", "o"],
        &["report", "incidents", "--group-by", "team"],
    ] {
        let e = parse(bad).expect_err(&format!("{bad:?} should not parse"));
        assert_eq!(e.exit_code(), 2, "{bad:?}");
    }
}

#[test]
fn every_help_text_has_an_example() {
    for argv in [
        &["postmortem", "draft"][..],
        &["postmortem", "show"],
        &["postmortem", "edit"],
        &["postmortem", "check"],
        &["postmortem", "publish"],
        &["postmortem", "export"],
        &["action-item", "list"],
        &["action-item", "add"],
        &["action-item", "done"],
        &["action-item", "wont-do"],
        &["action-item", "edit"],
        &["report", "incidents"],
        &["report", "dora"],
    ] {
        let mut with_help = argv.to_vec();
        with_help.push("--help");
        let e = parse(&with_help).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = e.to_string();
        assert!(help.contains("Example"), "{argv:?}:\n{help}");
        assert!(
            help.contains(&format!("firebreak {} {}", argv[0], argv[1])),
            "{help}"
        );
    }
}
