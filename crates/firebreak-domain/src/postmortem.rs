//! Blameless postmortems: the sections a review fills in, how a postmortem moves from draft to
//! published, the checks on what people write, and the Markdown a postmortem is exported as and
//! edited in.
//!
//! Firebreak drafts a postmortem from what it recorded ([`draft`]): it prefills the facts and
//! leaves a prompt wherever only the people who were there can answer. Every prompt is one line
//! in one form, [`PROMPT`] followed by the question, so [`open_prompts`] can say what is still
//! unanswered before publishing.
//!
//! A postmortem's Markdown is `# INC-7: title`, a status line, then one `## <Title>` per
//! section, in [`SECTIONS`] order. Inside a section, headings are `###` and below: a `## `
//! line starts the next section, so [`check_sections`] refuses one (and a code fence left
//! open, which would swallow the headings after it). With that, reading an export back with
//! [`from_markdown`] gives the same sections.

mod draft;
mod refresh;
mod table;

use serde::{Deserialize, Serialize};

use crate::ids::IncidentNumber;

pub use draft::{AttachedAlert, DraftInput, Entry, ItemLine, ItemState, SuspectDeploy, draft};
pub use refresh::{Saved, last_generated, refresh};

/// The sections of a postmortem, in order: (key, title). Keys are stable; titles are what
/// people read and what the Markdown's `## ` headings say.
pub const SECTIONS: [(&str, &str); 8] = [
    ("summary", "Summary"),
    ("impact", "Impact"),
    ("timeline", "Timeline"),
    ("contributing_factors", "Contributing factors"),
    ("went_well", "What went well"),
    ("went_poorly", "What went poorly"),
    ("action_items", "Action items"),
    ("security_review", "Security review"),
];

/// The most characters one section's Markdown may hold.
pub const MARKDOWN_MAX: usize = 50_000;

/// How every prompt line starts: the question follows on the same line.
pub const PROMPT: &str = "> **To fill in:**";

/// The title of the section `key`.
pub fn title_of(key: &str) -> Option<&'static str> {
    SECTIONS.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
}

fn key_of_title(title: &str) -> Option<&'static str> {
    SECTIONS
        .iter()
        .find(|(_, t)| t.eq_ignore_ascii_case(title))
        .map(|(k, _)| *k)
}

fn known_keys() -> String {
    SECTIONS.map(|(k, _)| format!("`{k}`")).join(", ")
}

fn known_titles() -> String {
    SECTIONS.map(|(_, t)| t).join(", ")
}

/// Where a postmortem stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostmortemStatus {
    Draft,
    /// Sent to the team for review.
    InReview,
    Published,
}

impl PostmortemStatus {
    pub const ALL: [PostmortemStatus; 3] = [
        PostmortemStatus::Draft,
        PostmortemStatus::InReview,
        PostmortemStatus::Published,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostmortemStatus::Draft => "draft",
            PostmortemStatus::InReview => "in_review",
            PostmortemStatus::Published => "published",
        }
    }

    pub fn parse(s: &str) -> Option<PostmortemStatus> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Where a postmortem may go from here, each with what the move is called.
    pub fn moves(self) -> &'static [(PostmortemStatus, &'static str)] {
        use PostmortemStatus::*;
        match self {
            Draft => &[(InReview, "send it for review"), (Published, "publish")],
            InReview => &[(Draft, "back for changes"), (Published, "publish")],
            Published => &[(Draft, "reopen it")],
        }
    }
}

/// A move the status rules do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.explain())]
pub struct MoveError {
    pub from: PostmortemStatus,
    pub to: PostmortemStatus,
}

impl MoveError {
    fn explain(&self) -> String {
        let allowed = self
            .from
            .moves()
            .iter()
            .map(|(to, what)| format!("`{}` ({what})", to.as_str()))
            .collect::<Vec<_>>()
            .join(" or ");
        let (from, to) = (self.from.as_str(), self.to.as_str());
        if self.from == self.to {
            format!("the postmortem is already `{from}`; from `{from}` it can go to {allowed}")
        } else {
            format!(
                "a postmortem cannot go from `{from}` to `{to}`; from `{from}` it can go to {allowed}"
            )
        }
    }
}

/// Checks a status move: draft → in_review, in_review → draft, draft or in_review →
/// published, published → draft. Staying put is not a move.
pub fn check_move(from: PostmortemStatus, to: PostmortemStatus) -> Result<(), MoveError> {
    if from.moves().iter().any(|(allowed, _)| *allowed == to) {
        Ok(())
    } else {
        Err(MoveError { from, to })
    }
}

/// One section of a postmortem: its stable key, its title and its Markdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub key: String,
    pub title: String,
    pub markdown: String,
}

impl Section {
    /// The section `key` (one of [`SECTIONS`]) with its title.
    fn new(key: &'static str, markdown: String) -> Section {
        Section {
            key: key.to_string(),
            title: title_of(key).unwrap_or(key).to_string(),
            markdown,
        }
    }
}

/// Why sections a person sent were refused. Each names the section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    #[error("there is no section `{key}`; the sections are {}", known_keys())]
    Unknown { key: String },
    #[error("section `{key}` is sent twice; send each section at most once")]
    Duplicate { key: String },
    #[error(
        "section `{key}` is {chars} characters long; a section may hold at most {MARKDOWN_MAX}"
    )]
    TooLong { key: String, chars: usize },
    #[error("section `{key}` contains a NUL character")]
    Nul { key: String },
    #[error(
        "section `{key}`, line {line}: a `## ` heading starts a new section in the exported \
         Markdown; use `###` and below inside a section"
    )]
    Heading { key: String, line: usize },
    #[error(
        "section `{key}`, line {line}: this code fence is never closed; close it with a line \
         of the same backticks or tildes"
    )]
    OpenFence { key: String, line: usize },
}

/// Checks sections a person sent: every key known and sent once, at most [`MARKDOWN_MAX`]
/// characters and no NUL each, no `## ` heading and no open code fence. Returns them tidied
/// (line endings as `\n`, no blank lines at either end) with each title taken from its key:
/// a title sent along is ignored.
pub fn check_sections(sent: &[Section]) -> Result<Vec<Section>, SectionError> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::with_capacity(sent.len());
    for s in sent {
        let Some((key, _)) = SECTIONS.iter().find(|(k, _)| *k == s.key) else {
            return Err(SectionError::Unknown { key: s.key.clone() });
        };
        if seen.contains(key) {
            return Err(SectionError::Duplicate { key: s.key.clone() });
        }
        seen.push(key);
        let chars = s.markdown.chars().count();
        if chars > MARKDOWN_MAX {
            return Err(SectionError::TooLong {
                key: s.key.clone(),
                chars,
            });
        }
        if s.markdown.contains('\0') {
            return Err(SectionError::Nul { key: s.key.clone() });
        }
        let markdown = tidy(&s.markdown);
        let mut fences = Fences::default();
        for (i, line) in markdown.split('\n').enumerate() {
            if fences.is_code(line, i + 1) {
                continue;
            }
            if section_heading(line).is_some() {
                return Err(SectionError::Heading {
                    key: s.key.clone(),
                    line: i + 1,
                });
            }
        }
        if let Some(line) = fences.open_at() {
            return Err(SectionError::OpenFence {
                key: s.key.clone(),
                line,
            });
        }
        out.push(Section::new(key, markdown));
    }
    Ok(out)
}

/// Applies sections a person sent to the current ones, after [`check_sections`]. A section
/// that is not sent keeps its current text, so an editor may send only what it changed (and
/// deleting a whole section from the Markdown keeps it; to empty one, keep its heading with
/// nothing below). Returns every section in [`SECTIONS`] order, and the titles of the sections
/// whose text changed.
pub fn apply_edit(
    current: &[Section],
    sent: &[Section],
) -> Result<(Vec<Section>, Vec<String>), SectionError> {
    let sent = check_sections(sent)?;
    let mut merged = Vec::with_capacity(SECTIONS.len());
    let mut changed = Vec::new();
    for (key, title) in SECTIONS {
        let now = current.iter().find(|s| s.key == key);
        match (sent.iter().find(|s| s.key == key), now) {
            (Some(new), old) => {
                if old.is_none_or(|o| o.markdown != new.markdown) {
                    changed.push(title.to_string());
                }
                merged.push(new.clone());
            }
            (None, Some(old)) => merged.push(old.clone()),
            (None, None) => {}
        }
    }
    // A section of a key no longer known keeps its text at the end rather than vanish.
    merged.extend(
        current
            .iter()
            .filter(|s| title_of(&s.key).is_none())
            .cloned(),
    );
    Ok((merged, changed))
}

/// The sections that still hold prompts, with how many, in section order.
pub fn open_prompts(sections: &[Section]) -> Vec<(String, usize)> {
    sections
        .iter()
        .filter_map(|s| {
            let mut fences = Fences::default();
            let n = s
                .markdown
                .split('\n')
                .enumerate()
                .filter(|(i, line)| {
                    !fences.is_code(line, i + 1) && line.trim_start().starts_with(PROMPT)
                })
                .count();
            (n > 0).then(|| (s.key.clone(), n))
        })
        .collect()
}

/// The postmortem as one Markdown document: `# INC-7: title`, a status line, then each
/// section under its `## ` title.
pub fn to_markdown(
    number: IncidentNumber,
    title: &str,
    status: PostmortemStatus,
    sections: &[Section],
) -> String {
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = format!("# {number}: {title}\n\n{STATUS_LINE} {}\n", status.as_str());
    for s in sections {
        out.push_str(&format!("\n## {}\n", s.title));
        if !s.markdown.is_empty() {
            out.push_str(&format!("\n{}\n", s.markdown));
        }
    }
    out
}

const STATUS_LINE: &str = "**Status:**";

/// Where an edited postmortem's Markdown cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Reads sections back from Markdown in the [`to_markdown`] form. The `# ` header and the
/// status line are ignored (the status changes through its own command); each `## <title>`
/// of a known section starts that section, and its text runs to the next one. A `## ` inside
/// a fenced code block is code, not a heading. Sections come back in the order they are
/// written, tidied, with their titles spelled as in [`SECTIONS`]; a section left out is not
/// returned (see [`apply_edit`]).
pub fn from_markdown(md: &str) -> Result<Vec<Section>, ParseError> {
    let fail = |line: usize, message: String| Err(ParseError { line, message });
    // (key, heading line, body lines)
    let mut found: Vec<(&'static str, usize, Vec<&str>)> = Vec::new();
    let mut fences = Fences::default();
    let mut header_seen = false;
    for (i, raw) in md.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if fences.is_code(line, n) {
            if let Some((_, _, body)) = found.last_mut() {
                body.push(line);
            } else {
                return fail(n, before_first(line));
            }
            continue;
        }
        if let Some(title) = section_heading(line) {
            let Some(key) = key_of_title(title) else {
                return fail(
                    n,
                    format!(
                        "`## {title}` is not a section of a postmortem; the sections are {} \
                         (for a heading inside a section, use `###`)",
                        known_titles()
                    ),
                );
            };
            if let Some((_, first, _)) = found.iter().find(|(k, _, _)| *k == key) {
                return fail(
                    n,
                    format!(
                        "a second `## {}` section; the first is on line {first}",
                        title_of(key).unwrap_or(key)
                    ),
                );
            }
            found.push((key, n, Vec::new()));
            continue;
        }
        match found.last_mut() {
            Some((_, _, body)) => body.push(line),
            None if line.trim().is_empty() => {}
            None if !header_seen && line.starts_with("# ") => header_seen = true,
            None if line.trim_start().starts_with(STATUS_LINE) => {}
            None => return fail(n, before_first(line)),
        }
    }
    if let Some(line) = fences.open_at() {
        return fail(
            line,
            "this code fence is never closed, so every heading after it is read as code; close \
             it with a line of the same backticks or tildes"
                .to_string(),
        );
    }
    Ok(found
        .into_iter()
        .map(|(key, _, body)| Section::new(key, tidy(&body.join("\n"))))
        .collect())
}

fn before_first(line: &str) -> String {
    let shown: String = line.trim().chars().take(40).collect();
    format!(
        "`{shown}` comes before the first section; everything belongs under a `## ` section \
         heading (the sections are {})",
        known_titles()
    )
}

/// The title of a `## ` heading (an ATX level-2 heading: at most three spaces of indent, then
/// `##` and a space, or `##` alone), without a closing run of `#`.
fn section_heading(line: &str) -> Option<&str> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = line[indent..].strip_prefix("##")?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let title = rest.trim();
    let without_closing = title.trim_end_matches('#');
    if without_closing.is_empty() {
        Some("")
    } else if without_closing.ends_with([' ', '\t']) {
        Some(without_closing.trim_end())
    } else {
        Some(title)
    }
}

/// Markdown with `\n` line endings and no blank lines at its start or end: the form every
/// stored section has, so the export reads back to the same text.
fn tidy(md: &str) -> String {
    let lines: Vec<&str> = md
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => lines[a..=b].join("\n"),
        _ => String::new(),
    }
}

/// Follows fenced code blocks line by line: a fence opens with three or more backticks or
/// tildes after at most three spaces, and closes with a line of at least as many of the same
/// character and nothing else.
#[derive(Debug, Default)]
struct Fences {
    /// The open fence: its character, its length and the line it opened on.
    open: Option<(char, usize, usize)>,
}

impl Fences {
    /// Whether `line` (numbered `n`) is part of a code block, its fences included.
    fn is_code(&mut self, line: &str, n: usize) -> bool {
        let body = line.trim_start_matches(' ');
        let indented = line.len() - body.len() > 3;
        let mark = body.chars().next().filter(|c| matches!(c, '`' | '~'));
        let run = mark.map_or(0, |m| body.chars().take_while(|c| *c == m).count());
        match self.open {
            Some((m, len, _)) => {
                if !indented && mark == Some(m) && run >= len && body[run..].trim().is_empty() {
                    self.open = None;
                }
                true
            }
            None => match mark {
                Some(m) if !indented && run >= 3 && !(m == '`' && body[run..].contains('`')) => {
                    self.open = Some((m, run, n));
                    true
                }
                _ => false,
            },
        }
    }

    /// The line of a fence still open.
    fn open_at(&self) -> Option<usize> {
        self.open.map(|(_, _, n)| n)
    }
}

#[cfg(test)]
mod tests;
