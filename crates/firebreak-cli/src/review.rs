//! `firebreak postmortem` and `firebreak action-item`: reviewing an incident after it is over.
//!
//! `postmortem edit` is the one command here that is not a single request. It opens the
//! Markdown in the user's editor, parses it back into sections with the domain's parser (so the
//! CLI and the server agree on the format), and sends only the sections that changed, with the
//! version the edit started from. The user's text is never lost: when the file does not parse,
//! or the server refuses the save (someone else saved meanwhile), the file is kept and the
//! command says how to apply it again with `--file`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use firebreak_domain::IncidentNumber;
use firebreak_domain::postmortem::{PostmortemStatus, Section, from_markdown, to_markdown};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{ActionItemCommand, PostmortemCommand};
use crate::error::CliError;
use crate::render::{printable, table};
use crate::{ApiClient, ClientArgs, client_for, write_json};

fn text(v: &Value) -> String {
    crate::render::text(Some(v))
}

/// The editor `postmortem edit` opens, and whether it may ask the user what to do next.
#[derive(Debug, Clone)]
pub struct Editor {
    command: String,
    interactive: bool,
}

impl Editor {
    /// `$VISUAL`, else `$EDITOR`, else `vi`, as git and crontab choose; interactive when both
    /// standard input and standard error are terminals.
    pub fn from_env() -> Editor {
        use std::io::IsTerminal;
        let command = ["VISUAL", "EDITOR"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "vi".into());
        Editor::new(
            command,
            std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        )
    }

    /// An editor command line (run by `sh`, so `code --wait` works), for tests and embedding.
    pub fn new(command: impl Into<String>, interactive: bool) -> Editor {
        Editor {
            command: command.into(),
            interactive,
        }
    }

    /// Runs the editor on `path` with the terminal, and waits for it.
    fn open(&self, path: &Path) -> Result<(), String> {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} \"$@\"", self.command))
            .arg(&self.command)
            .arg(path)
            .status()
            .map_err(|e| format!("could not start the editor `{}`: {e}", self.command))?;
        match status.code() {
            Some(0) => Ok(()),
            Some(127) => Err(format!(
                "could not start the editor `{}`; set VISUAL or EDITOR to the editor you use",
                self.command
            )),
            _ => Err(format!(
                "the editor `{}` did not finish cleanly ({status})",
                self.command
            )),
        }
    }

    /// Asks a yes/no question on the terminal; the answer is yes (Enter) unless it starts with `n`.
    /// Never asks (and answers no) when not interactive.
    fn ask(&self, notes: &mut dyn Write, question: &str) -> bool {
        if !self.interactive {
            return false;
        }
        let _ = write!(notes, "{question} [Y/n] ");
        let _ = notes.flush();
        let mut answer = String::new();
        // End of input (Ctrl-D) is a no, or the editor would reopen for ever.
        match std::io::stdin().lock().read_line(&mut answer) {
            Ok(0) | Err(_) => false,
            Ok(_) => !answer.trim().to_lowercase().starts_with('n'),
        }
    }
}

/// Quotes `s` for a POSIX shell, so a printed command can be pasted as it is.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn sections_of(view: &Value) -> Vec<Section> {
    serde_json::from_value(view["sections"].clone()).unwrap_or_default()
}

/// The sections of `edited` whose text differs from `base`, and the titles of the sections of
/// `base` that `edited` leaves out (they keep their saved text).
fn changes(base: &[Section], edited: &[Section]) -> (Vec<Section>, Vec<String>) {
    let changed = edited
        .iter()
        .filter(|e| {
            base.iter()
                .find(|b| b.key == e.key)
                .is_none_or(|b| b.markdown != e.markdown)
        })
        .cloned()
        .collect();
    let left_out = base
        .iter()
        .filter(|b| !edited.iter().any(|e| e.key == b.key))
        .map(|b| b.title.clone())
        .collect();
    (changed, left_out)
}

fn titles(sections: &[Section]) -> String {
    sections
        .iter()
        .map(|s| s.title.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn sections_body(sections: &[Section]) -> Value {
    Value::Array(
        sections
            .iter()
            .map(|s| json!({"key": s.key, "markdown": s.markdown}))
            .collect(),
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What is left to do on a postmortem: open findings, prompts to fill in.
fn print_to_do(out: &mut dyn Write, id: &str, view: &Value) -> Result<(), CliError> {
    let findings = view["findings"].as_array().map_or(0, Vec::len);
    if findings > 0 {
        writeln!(
            out,
            "{} open: firebreak postmortem check {id}",
            plural(
                findings,
                "blameless-language finding is",
                "blameless-language findings are"
            )
        )?;
    }
    let sections = sections_of(view);
    let prompts: Vec<String> = view["prompts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let key = p["section"].as_str().unwrap_or_default();
            let title = sections
                .iter()
                .find(|s| s.key == key)
                .map_or(key, |s| s.title.as_str());
            let n = p["count"].as_u64().unwrap_or(0) as usize;
            format!("{} ({})", printable(title), plural(n, "prompt", "prompts"))
        })
        .collect();
    if !prompts.is_empty() {
        writeln!(out, "Still to fill in: {}", prompts.join(", "))?;
    }
    Ok(())
}

fn status_line(id: &str, view: &Value) -> String {
    let mut line = format!(
        "Postmortem of {id}: {}, version {}, saved by {} at {}",
        text(&view["status"]),
        text(&view["version"]),
        text(&view["updated_by"]),
        text(&view["updated_at"]),
    );
    if view["published_at"].is_string() {
        line.push_str(&format!("; published at {}", text(&view["published_at"])));
    }
    if view["incident_status"].is_string() {
        line.push_str(&format!(
            ". The incident is {}.",
            text(&view["incident_status"])
        ));
    }
    line
}

/// Run a `postmortem` subcommand. `notes` is written at once (the editor flow asks questions
/// there); `out` is the command's result.
pub async fn execute_postmortem(
    cmd: PostmortemCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
    notes: &mut dyn Write,
    editor: &Editor,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    match cmd {
        PostmortemCommand::Draft { id, refresh: true } => {
            let before = api.get(&["incidents", &id, "postmortem"], &[]).await?;
            let view = api
                .send(
                    Method::POST,
                    &["incidents", &id, "postmortem", "refresh"],
                    &json!({}),
                )
                .await?;
            if json {
                return write_json(out, &view);
            }
            let changed: Vec<String> = view["sections"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| {
                    before["sections"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|b| b["key"] == s["key"])
                        .is_none_or(|b| b["markdown"] != s["markdown"])
                })
                .map(|s| text(&s["title"]))
                .collect();
            if changed.is_empty() {
                writeln!(
                    out,
                    "Nothing to refresh in the postmortem of {id} (version {}): every section \
                     Firebreak wrote is up to date, or people changed it.",
                    text(&view["version"])
                )?;
            } else {
                writeln!(
                    out,
                    "Refreshed {} in the postmortem of {id} (version {}); sections people \
                     changed were kept.",
                    changed.join(", "),
                    text(&view["version"])
                )?;
            }
            Ok(())
        }
        PostmortemCommand::Draft { id, .. } => {
            let view = api
                .send(Method::POST, &["incidents", &id, "postmortem"], &json!({}))
                .await
                .map_err(|e| match e {
                    CliError::Problem { status: 409, .. } => CliError::Other(format!(
                        "{e}\nRead it: firebreak postmortem show {id}\nChange it: firebreak postmortem edit {id}\nRefresh what Firebreak wrote: firebreak postmortem draft {id} --refresh"
                    )),
                    e => e,
                })?;
            if json {
                return write_json(out, &view);
            }
            writeln!(
                out,
                "Drafted the postmortem of {id} (version {}) from what Firebreak recorded.",
                text(&view["version"])
            )?;
            print_to_do(out, &id, &view)?;
            writeln!(
                out,
                "Read it: firebreak postmortem show {id}\nFill it in: firebreak postmortem edit {id}"
            )?;
            Ok(())
        }
        PostmortemCommand::Show { id } => {
            let view = api.get(&["incidents", &id, "postmortem"], &[]).await?;
            if json {
                return write_json(out, &view);
            }
            writeln!(out, "{}", status_line(&id, &view))?;
            print_to_do(out, &id, &view)?;
            for s in sections_of(&view) {
                writeln!(out, "\n## {}\n", printable(&s.title))?;
                let body = s.markdown.trim_end();
                writeln!(out, "{}", if body.is_empty() { "_(empty)_" } else { body })?;
            }
            Ok(())
        }
        PostmortemCommand::Export { id, output } => {
            let markdown = api
                .get_text(&["incidents", &id, "postmortem.md"], &[])
                .await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &markdown).map_err(|e| {
                        CliError::Other(format!("cannot write {}: {e}", path.display()))
                    })?;
                    writeln!(notes, "Wrote the postmortem of {id} to {}", path.display())?;
                }
                None => out.write_all(markdown.as_bytes())?,
            }
            Ok(())
        }
        PostmortemCommand::Check {
            id,
            file,
            dismiss,
            reason,
        } => check(&api, &id, file, dismiss, reason, json, out).await,
        PostmortemCommand::Publish { id, confirm } => {
            let body = if confirm {
                json!({"confirm": true})
            } else {
                json!({})
            };
            let view = api
                .send(
                    Method::POST,
                    &["incidents", &id, "postmortem", "publish"],
                    &body,
                )
                .await?;
            if json {
                return write_json(out, &view);
            }
            writeln!(
                out,
                "Published the postmortem of {id} (version {}).",
                text(&view["version"])
            )?;
            let open = view["findings"].as_array().map_or(0, Vec::len);
            if open > 0 {
                writeln!(
                    out,
                    "It was published with {} open.",
                    plural(
                        open,
                        "blameless-language finding",
                        "blameless-language findings"
                    )
                )?;
            }
            Ok(())
        }
        PostmortemCommand::Edit { id, file, status } => {
            edit(&api, &id, file, status, json, out, notes, editor).await
        }
    }
}

async fn check(
    api: &ApiClient,
    id: &str,
    file: Option<PathBuf>,
    dismiss: Option<String>,
    reason: Option<String>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if let Some(key) = dismiss {
        let view = api
            .send(
                Method::POST,
                &["incidents", id, "postmortem", "dismiss"],
                &json!({"key": key, "reason": reason.unwrap_or_default()}),
            )
            .await?;
        if json {
            return write_json(out, &view);
        }
        let left = view["findings"].as_array().map_or(0, Vec::len);
        writeln!(
            out,
            "Dismissed {}; {} open.",
            printable(&key),
            plural(left, "finding is", "findings are")
        )?;
        return Ok(());
    }
    let body = match &file {
        Some(path) => {
            let markdown = read_file(path)?;
            let sections = from_markdown(&markdown).map_err(|e| {
                CliError::Usage(format!("{}: {}", at_line(path, e.line), e.message))
            })?;
            json!({"sections": sections_body(&sections)})
        }
        None => json!({}),
    };
    let answer = api
        .send(
            Method::POST,
            &["incidents", id, "postmortem", "check"],
            &body,
        )
        .await?;
    let findings = answer["findings"].as_array().cloned().unwrap_or_default();
    if json {
        write_json(out, &answer)?;
    } else if findings.is_empty() {
        writeln!(
            out,
            "No blameless-language findings in the postmortem of {id}."
        )?;
    } else {
        for f in &findings {
            writeln!(
                out,
                "{}:{}-{}  \"{}\"  {}  → {}",
                text(&f["section"]),
                text(&f["start"]),
                text(&f["end"]),
                text(&f["text"]),
                text(&f["reason"]),
                text(&f["suggestion"]),
            )?;
            writeln!(out, "    key: {}", text(&f["key"]))?;
        }
        let first = findings[0]["key"].as_str().unwrap_or("KEY");
        writeln!(
            out,
            "\nReword them (firebreak postmortem edit {id}), or dismiss one that is fine as written:\n  \
             firebreak postmortem check {id} --dismiss {} --reason \"...\"",
            shell_quote(first)
        )?;
    }
    if findings.is_empty() {
        return Ok(());
    }
    Err(CliError::Other(format!(
        "{} in the postmortem of {id}",
        plural(
            findings.len(),
            "blameless-language finding",
            "blameless-language findings"
        )
    )))
}

fn read_file(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

fn at_line(path: &Path, line: usize) -> String {
    format!("{}:{line}", path.display())
}

/// A new file in the temporary directory for the user to edit, readable only by them.
fn scratch_file(id: &str, version: &str, markdown: &str) -> Result<PathBuf, CliError> {
    let dir = std::env::temp_dir();
    for n in 0..100u32 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = dir.join(format!(
            "firebreak-{}-postmortem-v{version}{suffix}.md",
            id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut f) => {
                f.write_all(markdown.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(CliError::Other(format!(
                    "cannot write a file to edit in {}: {e}",
                    dir.display()
                )));
            }
        }
    }
    Err(CliError::Other(format!(
        "cannot find a free file name in {} to edit in",
        dir.display()
    )))
}

/// An error that leaves the user's text in `path`, with how to go on from it.
fn kept(why: impl std::fmt::Display, id: &str, path: &Path) -> CliError {
    let shown = path.display().to_string();
    CliError::Other(format!(
        "{why}\nYour text is kept in {shown}\nTo apply it again: firebreak postmortem edit {id} --file {}",
        shell_quote(&shown)
    ))
}

#[allow(clippy::too_many_arguments)]
async fn edit(
    api: &ApiClient,
    id: &str,
    file: Option<PathBuf>,
    status: Option<String>,
    json: bool,
    out: &mut dyn Write,
    notes: &mut dyn Write,
    editor: &Editor,
) -> Result<(), CliError> {
    let view = api.get(&["incidents", id, "postmortem"], &[]).await?;
    let version = view["version"]
        .as_i64()
        .ok_or_else(|| CliError::Other("the server sent a postmortem without a version".into()))?;
    if view["status"] == "published" && status.as_deref() != Some("draft") {
        return Err(CliError::Usage(format!(
            "the postmortem of {id} is published; reopen it to edit it: \
             firebreak postmortem edit {id} --status draft"
        )));
    }
    // The sections as saved at `version`: the edit is compared with these, so only what the
    // user changed is sent.
    let base = sections_of(&view);
    // `--status` alone moves the postmortem, with no editor: a script (or a reviewer who is
    // done) changes only the status.
    if let (None, Some(to)) = (&file, &status) {
        if view["status"] == to.as_str() {
            writeln!(
                out,
                "The postmortem of {id} is {to} already; nothing was saved."
            )?;
            return Ok(());
        }
        let saved = api
            .send(
                Method::PUT,
                &["incidents", id, "postmortem"],
                &json!({"version": version, "sections": [], "status": to}),
            )
            .await?;
        if json {
            return write_json(out, &saved);
        }
        writeln!(
            out,
            "Saved version {} of the postmortem of {id}: it is {} now.",
            text(&saved["version"]),
            text(&saved["status"])
        )?;
        return print_to_do(out, id, &saved);
    }
    let (path, ours, before) = match file {
        Some(path) => {
            let before = read_file(&path)?;
            (path, false, before)
        }
        None => {
            let markdown = api
                .get_text(&["incidents", id, "postmortem.md"], &[])
                .await?;
            let path = scratch_file(id, &version.to_string(), &markdown)?;
            (path, true, markdown)
        }
    };
    let edited = loop {
        editor
            .open(&path)
            .map_err(|why| kept(format!("{why}; nothing was saved"), id, &path))?;
        let after = read_file(&path)?;
        if ours && after == before {
            break None;
        }
        match from_markdown(&after) {
            Ok(sections) => break Some((after, sections)),
            Err(e) => {
                let at = at_line(&path, e.line);
                if !editor.ask(
                    notes,
                    &format!("{at}: {}\nOpen the editor again to fix it?", e.message),
                ) {
                    return Err(kept(
                        format!("{at}: {}; nothing was saved", e.message),
                        id,
                        &path,
                    ));
                }
            }
        }
    };
    let (changed, left_out) = match &edited {
        Some((_, sections)) => changes(&base, sections),
        None => (Vec::new(), Vec::new()),
    };
    if let Some(written) = edited.as_ref().and_then(|(text, _)| status_written(text))
        && view["status"] != written
        && status.as_deref() != Some(written)
    {
        writeln!(
            notes,
            "The status line is not read back: to move the postmortem, use --status draft or \
             --status in_review, or `firebreak postmortem publish {id}`."
        )?;
    }
    for title in &left_out {
        writeln!(
            notes,
            "The file has no `## {}` heading; that section keeps its saved text.",
            printable(title)
        )?;
    }
    let moves = status.as_ref().filter(|s| view["status"] != s.as_str());
    if changed.is_empty() && moves.is_none() {
        if ours {
            let _ = std::fs::remove_file(&path);
        }
        writeln!(out, "No changes; nothing was saved.")?;
        return Ok(());
    }
    let mut body = json!({"version": version, "sections": sections_body(&changed)});
    if let Some(s) = moves {
        body["status"] = json!(s);
    }
    let saved = match api
        .send(Method::PUT, &["incidents", id, "postmortem"], &body)
        .await
    {
        Ok(saved) => saved,
        Err(e) => {
            let mut why = e.to_string();
            if matches!(e, CliError::Problem { status: 409, .. })
                && let Some(rebased) = rebase(api, id, version, &base, &changed, &path).await
            {
                why = format!("{why}\n{rebased}");
            }
            return Err(kept(why, id, &path));
        }
    };
    if ours {
        let _ = std::fs::remove_file(&path);
    }
    if json {
        return write_json(out, &saved);
    }
    let what = match (changed.is_empty(), moves) {
        (false, Some(s)) => format!("changed {}, and it is {s} now", titles(&changed)),
        (false, None) => format!("changed {}", titles(&changed)),
        (true, _) => format!("it is {} now", text(&saved["status"])),
    };
    writeln!(
        out,
        "Saved version {} of the postmortem of {id}: {}.",
        text(&saved["version"]),
        printable(&what)
    )?;
    print_to_do(out, id, &saved)
}

/// The status an edited file's `**Status:**` line names, if it has one.
fn status_written(markdown: &str) -> Option<&str> {
    markdown
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .find_map(|l| l.trim().strip_prefix("**Status:**"))
        .map(str::trim)
}

/// After someone else saved meanwhile: rewrites the kept file as what is saved now with the
/// user's changed sections on top, so applying it again with `--file` sends only those, and
/// says so, naming the sections both changed. Best effort: when it cannot (`None`), the file
/// stays as it was.
async fn rebase(
    api: &ApiClient,
    id: &str,
    base_version: i64,
    base: &[Section],
    changed: &[Section],
    path: &Path,
) -> Option<String> {
    let now = api.get(&["incidents", id, "postmortem"], &[]).await.ok()?;
    if now["version"] == base_version {
        // Refused for another reason (a status it cannot move to): nobody else saved.
        return None;
    }
    let incident = api.get(&["incidents", id], &[]).await.ok()?;
    let number = id.parse::<IncidentNumber>().ok()?;
    let status = now["status"].as_str().and_then(PostmortemStatus::parse)?;
    let current = sections_of(&now);
    let unchanged_since = |s: &Section| {
        base.iter().find(|b| b.key == s.key).map(|b| &b.markdown)
            == current.iter().find(|c| c.key == s.key).map(|c| &c.markdown)
    };
    let both: Vec<Section> = changed
        .iter()
        .filter(|s| !unchanged_since(s))
        .cloned()
        .collect();
    let merged: Vec<Section> = current
        .iter()
        .map(|c| changed.iter().find(|s| s.key == c.key).unwrap_or(c).clone())
        .collect();
    let markdown = to_markdown(
        number,
        incident["title"].as_str().unwrap_or_default(),
        status,
        &merged,
    );
    std::fs::write(path, markdown).ok()?;
    let mut said = format!(
        "The kept file now holds version {} with your changes to {} on top.",
        text(&now["version"]),
        printable(&titles(changed))
    );
    if !both.is_empty() {
        said.push_str(&format!(
            "\n{} changed {} too: your text there replaces theirs unless you merge them \
             (theirs: firebreak postmortem show {id}).",
            text(&now["updated_by"]),
            printable(&titles(&both))
        ));
    }
    Some(said)
}

/// Checks a due date before asking: `YYYY-MM-DD`.
fn due_date(due: &str) -> Result<String, CliError> {
    let due = due.trim();
    due.parse::<jiff::civil::Date>()
        .map(|d| d.to_string())
        .map_err(|_| CliError::Usage(format!("--due {due:?}: expected a date like 2026-12-15")))
}

fn item_table(items: &[Value]) -> String {
    let mut t = table(&[
        "ID", "INCIDENT", "TITLE", "OWNER", "DUE", "STATUS", "TICKET",
    ]);
    for i in items {
        let mut due = text(&i["due"]);
        if i["overdue"] == true {
            due.push_str(" (overdue)");
        }
        let status = match (i["status"].as_str(), i["reason"].as_str()) {
            (Some("wont_do"), Some(r)) => format!("won't do: {}", printable(r)),
            (Some("wont_do"), None) => "won't do".into(),
            _ => text(&i["status"]),
        };
        t.add_row(vec![
            text(&i["id"]),
            text(&i["incident"]),
            text(&i["title"]),
            text(&i["owner"]),
            due,
            status,
            text(&i["ticket_url"]),
        ]);
    }
    t.to_string()
}

/// One item after a change: the server's JSON, or `said` (given the item's id) and its row.
fn print_item(
    out: &mut dyn Write,
    json: bool,
    item: &Value,
    said: impl Fn(&str) -> String,
) -> Result<(), CliError> {
    if json {
        return write_json(out, item);
    }
    writeln!(out, "{}", said(&text(&item["id"])))?;
    writeln!(out, "{}", item_table(std::slice::from_ref(item)))?;
    Ok(())
}

/// Run an `action-item` subcommand with an explicit output writer.
pub async fn execute_action_item(
    cmd: ActionItemCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let api = client_for(args)?;
    let json = args.json;
    match cmd {
        ActionItemCommand::List {
            owner,
            status,
            overdue,
            incident,
        } => {
            let mut query = Vec::new();
            if let Some(o) = owner {
                query.push(("owner", o));
            }
            if let Some(s) = status {
                query.push(("status", s));
            }
            if overdue {
                query.push(("overdue", "true".to_string()));
            }
            if let Some(i) = incident {
                query.push(("incident", i));
            }
            let all =
                crate::all_pages_where(&api, &["action-items"], &query, "action items").await?;
            if json {
                return write_json(out, &json!({"items": all, "next_cursor": null}));
            }
            if all.is_empty() {
                writeln!(out, "No action items.")?;
            } else {
                writeln!(out, "{}", item_table(&all))?;
            }
            Ok(())
        }
        ActionItemCommand::Add {
            title,
            owner,
            due,
            ticket,
            incident,
        } => {
            let mut body = json!({"title": title, "owner": owner, "due": due_date(&due)?});
            if let Some(t) = ticket {
                body["ticket_url"] = json!(t);
            }
            if let Some(i) = incident {
                body["incident"] = json!(i);
            }
            let item = api.send(Method::POST, &["action-items"], &body).await?;
            print_item(out, json, &item, |id| format!("Added action item {id}."))
        }
        ActionItemCommand::Done { id } => {
            let item = api
                .send(
                    Method::PATCH,
                    &["action-items", &id],
                    &json!({"status": "done"}),
                )
                .await?;
            print_item(out, json, &item, |id| format!("Action item {id} is done."))
        }
        ActionItemCommand::WontDo { id, reason } => {
            let item = api
                .send(
                    Method::PATCH,
                    &["action-items", &id],
                    &json!({"status": "wont_do", "reason": reason}),
                )
                .await?;
            print_item(out, json, &item, |id| {
                format!("Action item {id} is closed: it won't be done.")
            })
        }
        ActionItemCommand::Edit {
            id,
            title,
            owner,
            due,
            ticket,
        } => {
            let mut body = json!({});
            if let Some(t) = title {
                body["title"] = json!(t);
            }
            if let Some(o) = owner {
                body["owner"] = json!(o);
            }
            if let Some(d) = due {
                body["due"] = json!(due_date(&d)?);
            }
            if let Some(t) = ticket {
                // An empty link removes it, which the API spells `null`.
                body["ticket_url"] = if t.trim().is_empty() {
                    Value::Null
                } else {
                    json!(t)
                };
            }
            let item = api
                .send(Method::PATCH, &["action-items", &id], &body)
                .await?;
            print_item(out, json, &item, |id| format!("Changed action item {id}."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(key: &str, markdown: &str) -> Section {
        Section {
            key: key.into(),
            title: key.to_uppercase(),
            markdown: markdown.into(),
        }
    }

    #[test]
    fn only_changed_sections_are_sent_and_left_out_ones_are_named() {
        let base = [section("summary", "It broke."), section("impact", "Slow.")];
        let edited = [section("summary", "It broke.")];
        assert_eq!(
            changes(&base, &edited),
            (vec![], vec!["IMPACT".to_string()])
        );
        let edited = [
            section("summary", "Checkout failed."),
            section("impact", "Slow."),
        ];
        let (changed, left_out) = changes(&base, &edited);
        assert_eq!(changed, vec![section("summary", "Checkout failed.")]);
        assert!(left_out.is_empty());
    }

    #[test]
    fn printed_commands_paste_into_a_shell() {
        assert_eq!(shell_quote("/tmp/a-b.md"), "/tmp/a-b.md");
        assert_eq!(
            shell_quote("human-error:human error"),
            "'human-error:human error'"
        );
        assert_eq!(shell_quote("fault:bob's fault"), r"'fault:bob'\''s fault'");
    }

    #[test]
    fn a_due_date_is_a_day() {
        assert_eq!(due_date(" 2026-12-15 ").unwrap(), "2026-12-15");
        let e = due_date("next friday").unwrap_err();
        assert!(matches!(e, CliError::Usage(_)) && e.to_string().contains("--due"));
    }
}
