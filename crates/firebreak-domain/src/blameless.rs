//! The blameless-language check for postmortems. A postmortem is a set of Markdown sections;
//! the check finds phrasing that makes a person the cause of an incident ("human error",
//! "Bob's fault", "we should have", "Alice broke the deploy") and suggests a reframing that
//! puts the system at the centre instead, so the review stays about what made the incident
//! possible rather than who to blame.
//!
//! The rules are configurable: each built-in rule has a stable id ([`BUILT_IN`]), any of them
//! can be disabled, and a team can add its own phrase rules ([`ExtraRule`]). A finding can be
//! dismissed with a reason; its [`Finding::key`] survives unrelated edits so the dismissal
//! sticks.
//!
//! What the built-in rules read, and what they deliberately leave alone:
//! - `human-error`: "human error", "operator error", "pilot error". Not when negated ("this was
//!   not human error").
//! - `fault`: "Bob's fault", "my fault", "the intern's fault", "the engineers' fault", "was at
//!   fault", "is to blame". Not "nobody's fault" or other negations, and not the engineering
//!   sense ("a disk fault", "fault injection", "our fault domains").
//! - `should-have`: "should have", "should've", "shouldn't have", "ought to have", with any
//!   subject: "we should have" and "I should have" are hindsight judgements too, and so is "the
//!   alert should have fired". A requirement is not: "the alert should fire within 5 minutes",
//!   "every alert should have an owner" (a determiner or number after "have" marks possession).
//! - `failed-to`: "failed to" when the one who failed is a person or team: a member of the
//!   team, a role ("the on-call engineer"), "I", "we", "you", "he", "she", "someone", or nobody
//!   named at all ("Failed to page the DBA."). A system failing is a fact, not a judgement:
//!   "the health check failed to detect the outage" is not flagged.
//! - `careless`: "careless", "sloppy", "negligent", "reckless", "incompetent" and their forms,
//!   unless negated.
//! - `forgot-to`: "forgot to", "forgotten to". Not "forget to": "it is easy to forget to drain
//!   a node" is the reframing this check asks for.
//! - `person-mistake`: a sentence whose subject is a person and whose verb is a mistake: "Alice
//!   broke the deploy", "Bob misconfigured the load balancer", "Dave didn't check the
//!   dashboard", "Carol ignored the alert". See [`check`] for who counts as a person.
//!
//! Code is never checked: fenced code blocks (```` ``` ```` or `~~~`) and inline code spans
//! hold quoted commands and log lines, not the team's words.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

use crate::Name;

/// The ids of the built-in rules, in the order they are checked.
pub const BUILT_IN: [&str; 7] = [
    "human-error",
    "fault",
    "should-have",
    "failed-to",
    "careless",
    "forgot-to",
    "person-mistake",
];

/// A rule a team adds in `firebreak.yaml`: its phrases are found by `pattern`, a regex matched
/// case-insensitively against the prose of each section (never inside code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraRule {
    /// The rule's id, shown with each finding and part of its key: 1 to 64 lowercase letters,
    /// digits, `-`, `_` or `.`.
    pub id: String,
    pub pattern: String,
    /// Why the phrase is a problem, shown with each finding.
    pub reason: String,
    /// How to say it instead.
    pub suggestion: String,
}

/// Why a set of rules cannot be built from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("blameless rule `{id}`: {reason}")]
    BadPattern { id: String, reason: String },
    #[error(
        "blameless rule id `{id}` is not valid: use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
    )]
    BadId { id: String },
    #[error(
        "blameless rule `{id}` is defined twice (to replace a built-in rule, disable it as well)"
    )]
    Duplicate { id: String },
    #[error("blameless rule `{id}`: `{field}` must not be empty")]
    Missing { id: String, field: &'static str },
    #[error(
        "cannot disable blameless rule `{id}`: there is no built-in rule by that id (the built-in rules are {})",
        BUILT_IN.join(", ")
    )]
    UnknownRule { id: String },
}

/// The rules a check applies: the built-in ones that are not disabled, then the extra ones, in
/// that order. Regexes are compiled once, when the rules are built.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    id: String,
    reason: String,
    suggestion: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    BuiltIn(BuiltIn),
    Extra(Regex),
}

/// Every built-in rule.
impl Default for Rules {
    fn default() -> Self {
        Rules {
            rules: BuiltIn::ALL.into_iter().map(BuiltIn::rule).collect(),
        }
    }
}

impl Rules {
    /// The built-in rules minus those in `disable`, plus `extra`. An extra rule may take the id
    /// of a built-in rule it replaces, if that one is disabled.
    pub fn configured(disable: &[String], extra: &[ExtraRule]) -> Result<Rules, RuleError> {
        if let Some(id) = disable.iter().find(|id| !BUILT_IN.contains(&id.as_str())) {
            return Err(RuleError::UnknownRule { id: id.clone() });
        }
        let mut rules: Vec<Rule> = BuiltIn::ALL
            .into_iter()
            .filter(|b| !disable.iter().any(|d| d == b.id()))
            .map(BuiltIn::rule)
            .collect();
        for e in extra {
            let rule = extra_rule(e)?;
            if rules.iter().any(|r| r.id == rule.id) {
                return Err(RuleError::Duplicate { id: e.id.clone() });
            }
            rules.push(rule);
        }
        Ok(Rules { rules })
    }

    /// The ids of the rules in force, in the order they are checked.
    pub fn ids(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.id.as_str()).collect()
    }
}

fn extra_rule(e: &ExtraRule) -> Result<Rule, RuleError> {
    if Name::parse(&e.id).is_err() {
        return Err(RuleError::BadId { id: e.id.clone() });
    }
    for (field, value) in [
        ("pattern", &e.pattern),
        ("reason", &e.reason),
        ("suggestion", &e.suggestion),
    ] {
        if value.trim().is_empty() {
            return Err(RuleError::Missing {
                id: e.id.clone(),
                field,
            });
        }
    }
    let bad = |reason: String| RuleError::BadPattern {
        id: e.id.clone(),
        reason,
    };
    // A small size limit: a pattern is configuration, and a huge one is a mistake.
    let regex = RegexBuilder::new(&e.pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|err| {
            let detail = err.to_string();
            bad(format!(
                "the pattern is not a valid regex: {}",
                detail.lines().last().unwrap_or("")
            ))
        })?;
    // A pattern that can match nothing at all would flag empty spans nobody can read.
    if ["", " ", "a", "a b.", "\n"]
        .iter()
        .any(|probe| regex.find_iter(probe).any(|m| m.is_empty()))
    {
        return Err(bad(
            "the pattern can match empty text; it must match at least one character".into(),
        ));
    }
    Ok(Rule {
        id: e.id.clone(),
        reason: e.reason.clone(),
        suggestion: e.suggestion.clone(),
        kind: Kind::Extra(regex),
    })
}

/// One piece of blaming phrasing in a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The id of the rule that found it.
    pub rule: String,
    /// The key of the section it is in, as given to [`check`].
    pub section: String,
    /// Where it starts in the section's Markdown, counted in characters (Unicode scalar
    /// values, as Python indexes strings; not bytes, not UTF-16 units).
    pub start: usize,
    /// Where it ends, in characters, exclusive.
    pub end: usize,
    /// Exactly the section's characters `start..end`.
    pub text: String,
    pub reason: String,
    pub suggestion: String,
}

impl Finding {
    /// A key that survives unrelated edits, for dismissing a finding: the rule id, `:`, and
    /// the text lowercased with each run of whitespace made one space. The same phrase found
    /// twice by the same rule has the same key, so one dismissal covers both.
    pub fn key(&self) -> String {
        let text = self.text.to_lowercase();
        let words: Vec<&str> = text.split_whitespace().collect();
        format!("{}:{}", self.rule, words.join(" "))
    }
}

/// Checks each section of a postmortem. `sections` are (section key, Markdown) in the order
/// the postmortem shows them; findings come in that order, then by where they start.
///
/// `people` names the team: user handles (`alice`, `@alice` in the text) and display names
/// (`Alice Ng`, or just `Alice` in the text). A sentence's subject is a person when it is one
/// of them, "he", "she", "someone", "who", or a role ("the on-call engineer", "the reviewer",
/// "the database team"). For the verbs only a person does (forgot, misconfigured, overlooked,
/// didn't check, made a mistake, ignored the alert...), a capitalised word that looks like a
/// name also counts ("Frank fat-fingered the config"), unless it is a common sentence opener
/// ("The", "We", "It", "Then"...) or follows a determiner ("the Postgres primary"). For verbs a
/// system can do too (broke, ignored, missed, caused, failed to), the subject must be a
/// person as above, so "Kubernetes ignored the memory limit" is not flagged. The check reads
/// the few words before a verb, not the grammar of the sentence: a subject cut off from its
/// verb ("Alice, who was on call, ignored the alert") is not recognised, and "they" (people
/// or pods) is not taken for a person.
///
/// When findings of different rules overlap, the longest is kept (it reads the most
/// context): "Alice forgot to drain the node" is one `person-mistake` finding ("Alice forgot
/// to"), not also a `forgot-to` one. Between equally long ones, the first; between those that
/// start together, the rule checked first. A match that reaches into code is not a finding.
pub fn check(rules: &Rules, sections: &[(&str, &str)], people: &[&str]) -> Vec<Finding> {
    let team = Team::new(people);
    let mut findings = Vec::new();
    for (key, markdown) in sections {
        let prose = Prose::new(markdown);
        let mut spans = Vec::new();
        for (index, rule) in rules.rules.iter().enumerate() {
            let mut add = |start: usize, end: usize| {
                if start < end && !prose.touches_code(start, end) {
                    spans.push(Span { start, end, index });
                }
            };
            match &rule.kind {
                Kind::BuiltIn(b) => b.find(&prose.masked, &team, &mut add),
                Kind::Extra(regex) => {
                    for m in regex.find_iter(&prose.masked) {
                        add(m.start(), m.end());
                    }
                }
            }
        }
        let kept = most_specific(spans);
        let chars = CharOffsets::new(markdown, &kept);
        for span in kept {
            let rule = &rules.rules[span.index];
            let Some(text) = markdown.get(span.start..span.end) else {
                continue;
            };
            findings.push(Finding {
                rule: rule.id.clone(),
                section: (*key).to_string(),
                start: chars.at(span.start),
                end: chars.at(span.end),
                text: text.to_string(),
                reason: rule.reason.clone(),
                suggestion: rule.suggestion.clone(),
            });
        }
    }
    findings
}

/// A candidate finding: a byte range of a section and the index of its rule.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    index: usize,
}

/// Keeps the longest of overlapping spans (then the first, then the earlier rule), in order
/// of where they start.
fn most_specific(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (std::cmp::Reverse(s.end - s.start), s.start, s.index));
    // Kept spans by start; they never overlap, so only the last one starting before a
    // candidate's end can overlap it.
    let mut kept: BTreeMap<usize, Span> = BTreeMap::new();
    for s in spans {
        let overlaps = kept
            .range(..s.end)
            .next_back()
            .is_some_and(|(_, k)| k.end > s.start);
        if !overlaps {
            kept.insert(s.start, s);
        }
    }
    kept.into_values().collect()
}

/// Byte offsets of one section turned into character offsets, for the few offsets asked.
struct CharOffsets(Vec<(usize, usize)>);

impl CharOffsets {
    fn new(text: &str, spans: &[Span]) -> CharOffsets {
        let mut bytes: Vec<usize> = spans.iter().flat_map(|s| [s.start, s.end]).collect();
        bytes.sort_unstable();
        bytes.dedup();
        let (mut at, mut chars) = (0, 0);
        let mut offsets = Vec::with_capacity(bytes.len());
        for b in bytes {
            chars += text.get(at..b).map_or(0, |s| s.chars().count());
            at = b;
            offsets.push((b, chars));
        }
        CharOffsets(offsets)
    }

    fn at(&self, byte: usize) -> usize {
        match self.0.binary_search_by_key(&byte, |&(b, _)| b) {
            Ok(i) => self.0[i].1,
            Err(_) => 0,
        }
    }
}

/// What inline code becomes in the masked text: not a letter, not a space, not punctuation,
/// so no rule matches it and no word containing it reads as a name.
const CODE: char = '\u{1A}';

/// A section's Markdown with its code masked, byte for byte, so offsets into the mask are
/// offsets into the Markdown.
struct Prose {
    /// Fenced blocks become newlines (a paragraph break), inline code [`CODE`].
    masked: String,
    /// The byte ranges of code, in order, not overlapping.
    code: Vec<(usize, usize)>,
}

impl Prose {
    fn new(text: &str) -> Prose {
        let ranges = code_ranges(text);
        let mut masked = String::with_capacity(text.len());
        let mut next = ranges.iter().peekable();
        for (i, c) in text.char_indices() {
            while next.peek().is_some_and(|r| r.end <= i) {
                next.next();
            }
            match next.peek() {
                Some(r) if r.start <= i => {
                    let fill = if r.fenced { '\n' } else { CODE };
                    masked.extend(std::iter::repeat_n(fill, c.len_utf8()));
                }
                _ => masked.push(c),
            }
        }
        Prose {
            masked,
            code: ranges.iter().map(|r| (r.start, r.end)).collect(),
        }
    }

    fn touches_code(&self, start: usize, end: usize) -> bool {
        let i = self.code.partition_point(|&(_, e)| e <= start);
        self.code.get(i).is_some_and(|&(s, _)| s < end)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CodeRange {
    start: usize,
    end: usize,
    fenced: bool,
}

/// The fenced code blocks and inline code spans of Markdown, in order. A fence opens with
/// three or more backticks or tildes at the start of a line (after indentation or `>` quote
/// marks) and closes with a line of at least as many of the same; an unclosed one runs to the
/// end. An inline span opens with a run of backticks and closes with the next run of the same
/// length; a run with no partner is plain text.
fn code_ranges(text: &str) -> Vec<CodeRange> {
    let mut ranges = Vec::new();
    let mut prose_from = 0;
    let mut fence: Option<(char, usize, usize)> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches([' ', '\t', '>']);
        let mark = body.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = mark.map_or(0, |m| body.chars().take_while(|c| *c == m).count());
        match fence {
            Some((m, len, start)) => {
                if mark == Some(m) && run >= len && body[run..].trim().is_empty() {
                    ranges.push(CodeRange {
                        start,
                        end: at + line.len(),
                        fenced: true,
                    });
                    fence = None;
                    prose_from = at + line.len();
                }
            }
            None => {
                if let Some(m) = mark
                    && run >= 3
                    && !(m == '`' && body[run..].contains('`'))
                {
                    inline_code(text, prose_from, at, &mut ranges);
                    fence = Some((m, run, at));
                }
            }
        }
        at += line.len();
    }
    match fence {
        Some((_, _, start)) => ranges.push(CodeRange {
            start,
            end: text.len(),
            fenced: true,
        }),
        None => inline_code(text, prose_from, text.len(), &mut ranges),
    }
    ranges
}

/// Adds the inline code spans of `text[from..to]`.
fn inline_code(text: &str, from: usize, to: usize, ranges: &mut Vec<CodeRange>) {
    let bytes = &text.as_bytes()[from.min(to)..to];
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let len = bytes[i..].iter().take_while(|b| **b == b'`').count();
            runs.push((from + i, len));
            i += len;
        } else {
            i += 1;
        }
    }
    // For each run, the next run of the same length, found in one pass from the end so a
    // text full of unpartnered backticks stays linear.
    let mut partner = vec![None; runs.len()];
    let mut last_of_len: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, &(_, len)) in runs.iter().enumerate().rev() {
        partner[i] = last_of_len.insert(len, i);
    }
    let mut i = 0;
    while i < runs.len() {
        match partner[i] {
            Some(j) => {
                let (start, _) = runs[i];
                let (close, len) = runs[j];
                ranges.push(CodeRange {
                    start,
                    end: close + len,
                    fenced: false,
                });
                i = j + 1;
            }
            None => i += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuiltIn {
    HumanError,
    Fault,
    ShouldHave,
    FailedTo,
    Careless,
    ForgotTo,
    PersonMistake,
}

impl BuiltIn {
    const ALL: [BuiltIn; 7] = [
        BuiltIn::HumanError,
        BuiltIn::Fault,
        BuiltIn::ShouldHave,
        BuiltIn::FailedTo,
        BuiltIn::Careless,
        BuiltIn::ForgotTo,
        BuiltIn::PersonMistake,
    ];

    fn id(self) -> &'static str {
        BUILT_IN[self as usize]
    }

    fn rule(self) -> Rule {
        let (reason, suggestion) = match self {
            BuiltIn::HumanError => (
                "\"Human error\" names a person as the cause and ends the inquiry where it \
                 should start.",
                "Describe what the system allowed: \"The deploy pipeline allowed …\", and which \
                 safeguard was missing.",
            ),
            BuiltIn::Fault => (
                "Assigning fault to someone turns the review into a search for who to blame.",
                "Describe the conditions instead: what made this outcome possible, and what \
                 would make it hard to repeat?",
            ),
            BuiltIn::ShouldHave => (
                "\"Should have\" judges past choices with hindsight nobody had at the time.",
                "Say what was known then and why the choice made sense: \"At the time, the \
                 dashboard showed …, so …\".",
            ),
            BuiltIn::FailedTo => (
                "\"Failed to\" with a person or team as its subject frames a gap as someone's \
                 failure.",
                "Describe the gap in the system: \"Nothing prompted the responder to …\" or \
                 \"The runbook did not include …\".",
            ),
            BuiltIn::Careless => (
                "Words like \"careless\" or \"sloppy\" judge a person's character instead of \
                 describing what happened.",
                "Describe the action and its circumstances: what made this step easy to get \
                 wrong?",
            ),
            BuiltIn::ForgotTo => (
                "\"Forgot to\" puts the gap in someone's memory rather than in the process.",
                "Ask why the step relied on memory: \"The release checklist did not include …\".",
            ),
            BuiltIn::PersonMistake => (
                "The sentence makes a person the cause of the incident.",
                "Ask what made the mistake easy: which check or guard was missing? Make the \
                 system the subject: \"The deploy pipeline allowed …\".",
            ),
        };
        Rule {
            id: self.id().to_string(),
            reason: reason.to_string(),
            suggestion: suggestion.to_string(),
            kind: Kind::BuiltIn(self),
        }
    }

    /// Calls `add` with the byte range of each finding in `masked`.
    fn find(self, masked: &str, team: &Team, add: &mut dyn FnMut(usize, usize)) {
        let p = &*PATTERNS;
        match self {
            BuiltIn::HumanError | BuiltIn::Careless | BuiltIn::ForgotTo => {
                let (phrases, negatable) = match self {
                    BuiltIn::HumanError => (&p.human_error, true),
                    BuiltIn::Careless => (&p.careless, true),
                    _ => (&p.forgot_to, false),
                };
                for m in phrases.find_iter(masked) {
                    if !(negatable && negated(masked, m.start())) {
                        add(m.start(), m.end());
                    }
                }
            }
            BuiltIn::Fault => {
                for m in p.fault.find_iter(masked) {
                    let possessor = m.as_str().split(['\'', '’', ' ']).next().unwrap_or("");
                    let diffuse = listed(NOBODY, &possessor.to_lowercase());
                    let technical =
                        word_after(masked, m.end()).is_some_and(|w| listed(FAULT_NOUNS, &w));
                    if !diffuse && !technical && !negated(masked, m.start()) {
                        add(m.start(), m.end());
                    }
                }
            }
            BuiltIn::ShouldHave => {
                for m in p.should_have.find_iter(masked) {
                    // "should have an owner" states a requirement, not a regret.
                    let requirement = word_after(masked, m.end()).is_some_and(|w| {
                        listed(POSSESSED, &w) || w.starts_with(|c: char| c.is_ascii_digit())
                    });
                    if !requirement {
                        add(m.start(), m.end());
                    }
                }
            }
            BuiltIn::FailedTo => {
                for m in p.failed_to.find_iter(masked) {
                    let (subject, _) = subject_before(masked, m.start(), team);
                    if matches!(subject, Subject::Person | Subject::Team | Subject::Missing) {
                        add(m.start(), m.end());
                    }
                }
            }
            BuiltIn::PersonMistake => {
                for (verbs, name_is_enough) in [(&p.human_verbs, true), (&p.any_verbs, false)] {
                    for m in verbs.find_iter(masked) {
                        let (subject, start) = subject_before(masked, m.start(), team);
                        if subject == Subject::Person
                            || (name_is_enough && subject == Subject::NameLike)
                        {
                            add(start, m.end());
                        }
                    }
                }
            }
        }
    }
}

struct Patterns {
    human_error: Regex,
    fault: Regex,
    should_have: Regex,
    failed_to: Regex,
    careless: Regex,
    forgot_to: Regex,
    /// Mistakes only a person makes.
    human_verbs: Regex,
    /// Mistakes a system can make too.
    any_verbs: Regex,
}

// The patterns are constants checked by the tests, so building them cannot fail at run time.
// They are written in verbose mode: whitespace in them is layout, `\s+` is a space.
static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(&format!("(?ix){p}")).expect("a built-in blameless pattern");
    Patterns {
        human_error: re(r"\b(?: human | operator | pilot ) (?: \s*-\s* | \s+ ) errors? \b"),
        fault: re(r"
            \b (?: (?: the | an? | our | their | your | his | her | my ) \s+ )?
                [\w-]+ (?: ['’]s | s['’] ) \s+ (?: own \s+ )? fault \b
            | \b (?: my | your | his | her | their | our ) \s+ (?: own \s+ )? fault \b
            | \b (?: is | was | are | were | be | been | being ) \s+
                (?: (?: partly | partially | entirely | completely | mostly | solely | largely
                    | clearly ) \s+ )?
                at \s+ fault \b
            | \b (?: is | was | are | were ) \s+
                (?: (?: partly | partially | entirely | solely | largely ) \s+ )? to \s+ blame \b
        "),
        should_have: re(r"
            \b (?: should (?: \s+not | n['’]?t )? | ought \s+ (?: not \s+ )? to )
                (?: \s+ have \b | ['’]ve \b )
            | \b shoulda \b
        "),
        failed_to: re(r"\b failed \s+ to \b"),
        careless: re(r"
            \b (?: careless (?: ly | ness )? | sloppy | sloppily | sloppiness
                | negligent (?: ly )? | negligence | reckless (?: ly | ness )?
                | incompetent | incompetence ) \b
        "),
        forgot_to: re(r"\b forgot (?: ten )? \s+ to \b"),
        human_verbs: re(r"
            \b (?: forgot (?: ten )? (?: \s+ to \b | \s+ about \b )?
            | mis-?configured | mis-?typed | fat [\s-]? finger (?: ed )?
            | overlooked | neglected (?: \s+ to \b )? | botched | bungled
            | (?: messed | screwed | fouled ) \s+ up | dropped \s+ the \s+ ball
            | made \s+ (?: a | an | the | another ) \s+ (?: [\w-]+ \s+ )?
                (?: mistake | error | typo | blunder ) s?
            | (?: did \s* n['’]?t | did \s+ not ) \s+ (?: bother \s+ to \s+ )?
                (?: check | test | verify | notice | read | follow | review | escalate | ack
                | acknowledge | respond | confirm | validate | double-check | look | wait
                | update | catch | realise | realize | report | run )
            | (?: had \s* n['’]?t | had \s+ not | never ) \s+
                (?: checked | tested | verified | noticed | read | followed | reviewed
                | escalated | acked | acknowledged | responded | confirmed | validated
                | double-checked | looked | waited | updated | caught | realised | realized
                | reported | ran )
            | (?: accidentally | mistakenly | inadvertently | wrongly | erroneously
                | carelessly ) \s+ [\w-]+
            | ignored \s+
                (?: (?: the | an? | all | our | their | his | her | several | multiple | both
                    | every ) \s+ )?
                (?: [\w-]+ \s+ )?
                (?: alerts? | pages? | alarms? | warnings? | runbook | checklist
                | notifications? | escalations? )
            ) \b
        "),
        any_verbs: re(r"
            \b (?: broke | ignored | missed | caused | failed \s+ to
            | (?: pushed | deployed | shipped | merged | rolled \s+ out ) \s+ (?: a | an | the ) \s+
                (?: bad | broken | buggy | faulty | wrong | untested )
            | introduced \s+ (?: a | an | the ) \s+
                (?: bug | regression | typo | breaking \s+ change )
            ) \b
        "),
    }
});

/// Whether `word` is one of the words of `list`, a list of lowercase words separated by spaces.
fn listed(list: &str, word: &str) -> bool {
    list.split_whitespace().any(|w| w == word)
}

/// Possessors of "fault" that spread it over everyone or no one: "nobody's fault".
const NOBODY: &str = "nobody noone no-one anybody anyone";

/// Words after "fault" that mean the engineering sense: "the controller's fault handling".
const FAULT_NOUNS: &str = "\
    tolerance tolerant handling handler handlers injection injector domain domains counter \
    counters code codes detection isolation line lines log logs rate mode modes state status \
    zone zones signal event events path report";

/// Words after "should have" that make it possession, a requirement: "should have an owner",
/// "should have access".
const POSSESSED: &str = "\
    a an the no some any more fewer less enough its their our his her my your one two three \
    four five ten at both every each exactly access permission permissions visibility \
    ownership coverage alerting monitoring alerts owners tests runbooks";

/// Words that negate what follows them in a clause.
const NEGATIONS: &str = "\
    not never no nobody neither nor without none noone no-one rather instead hardly";

/// Words between a subject and its verb: "Alice then broke", "Bob had forgotten".
const ADVERBS: &str = "\
    also then just simply apparently clearly obviously again still completely totally \
    initially repeatedly later quickly immediately unfortunately probably actually \
    reportedly subsequently ultimately eventually first had has have";

/// Subjects that are people without being named.
const PERSON_WORDS: &str = "\
    he she someone somebody who engineer engineers on-call oncall on-caller on-callers \
    oncaller oncallers operator operators responder responders developer developers dev devs \
    admin admins sysadmin sysadmins administrator administrators sre sres intern interns \
    reviewer reviewers approver approvers author authors manager managers lead commander ic \
    person staff employee employees contractor contractors team teams owner owners \
    maintainer maintainers hire";

/// The writer or the team: people, but not one person singled out.
const TEAM_WORDS: &str = "i we you";

/// Words before a noun that make it a thing: "the Postgres primary".
const DETERMINERS: &str = "the a an this that these those our their its his her my your";

/// Capitalised words that open sentences, never a person.
const NOT_NAMES: &str = "\
    the a an we i it its then they them this that these those there here when while after \
    before during at on in by for from to of with our their his her my your you he she \
    nobody somebody someone everyone everybody anyone anybody none nothing something \
    everything no not also but and or so because since once if finally eventually later \
    meanwhile next first second third unfortunately luckily fortunately however initially \
    ultimately instead still yet again apparently clearly obviously somehow which who what \
    where why how all both each every some many most one another other such until as though \
    although thus therefore today yesterday now previously originally subsequently";

/// The team's names, lowercased and split into words.
struct Team {
    names: Vec<Vec<String>>,
}

impl Team {
    fn new(people: &[&str]) -> Team {
        let mut names: Vec<Vec<String>> = people
            .iter()
            .map(|p| {
                p.split_whitespace()
                    .map(|w| w.trim_start_matches('@').to_lowercase())
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
            })
            // A handle that is also a common word ("it", "may") would make every sentence
            // that opens with it about a person.
            .filter(|n| (1..=3).contains(&n.len()) && !(n.len() == 1 && listed(NOT_NAMES, &n[0])))
            .collect();
        names.sort();
        names.dedup();
        Team { names }
    }

    /// Where the name ending at the nearest word starts, if the nearest words (nearest first)
    /// are a team member's handle, full name or first name.
    fn find(&self, words: &[Word<'_>]) -> Option<usize> {
        let lower: Vec<String> = words
            .iter()
            .map(|w| w.core.trim_start_matches('@').to_lowercase())
            .collect();
        let mut best: Option<(usize, usize)> = None;
        for name in &self.names {
            let k = name.len();
            let full = k <= lower.len() && name.iter().rev().zip(&lower).all(|(n, w)| n == w);
            let matched = if full {
                Some((k, words[k - 1].start))
            } else if k > 1 && lower.first() == Some(&name[0]) {
                Some((1, words[0].start))
            } else {
                None
            };
            if let Some(m) = matched
                && best.is_none_or(|b| m.0 > b.0)
            {
                best = Some(m);
            }
        }
        best.map(|(_, start)| start)
    }
}

/// Who the subject of a verb is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// A member of the team, he or she, someone, or a role.
    Person,
    /// A capitalised word that looks like a name of someone not on the team list.
    NameLike,
    /// I, we or you.
    Team,
    /// Nobody named: the verb opens its sentence, line or clause.
    Missing,
    /// A system, a thing, code, or a clause this check cannot read.
    Other,
}

/// Who the subject of the verb at byte `at` is, and where the subject starts (`at` when there
/// is none).
fn subject_before(text: &str, at: usize, team: &Team) -> (Subject, usize) {
    let mut words = Back::new(text, at);
    let mut nearest = words.next();
    for _ in 0..3 {
        match nearest {
            Some(w) if !w.ends_clause && listed(ADVERBS, &w.core.to_lowercase()) => {
                nearest = words.next();
            }
            _ => break,
        }
    }
    let Some(w1) = nearest else {
        return (Subject::Missing, at);
    };
    if w1.ends_clause || !w1.core.chars().any(char::is_alphabetic) {
        return (Subject::Missing, at);
    }
    if w1.core.contains(CODE) {
        return (Subject::Other, at);
    }
    // The words before it, as long as they are in the same clause.
    let mut phrase = vec![w1];
    while phrase.len() < 3 && !phrase[phrase.len() - 1].opens {
        match words.next() {
            Some(w) if !w.ends_clause => phrase.push(w),
            _ => break,
        }
    }
    if let Some(start) = team.find(&phrase) {
        return (Subject::Person, start);
    }
    let l1 = w1.core.to_lowercase();
    if listed(PERSON_WORDS, &l1) {
        return (Subject::Person, w1.start);
    }
    if listed(TEAM_WORDS, &l1) {
        return (Subject::Team, w1.start);
    }
    if name_like(w1.core) {
        return match phrase.get(1) {
            Some(w2) if listed(DETERMINERS, &w2.core.to_lowercase()) => (Subject::Other, at),
            Some(w2) if name_like(w2.core) => (Subject::NameLike, w2.start),
            _ => (Subject::NameLike, w1.start),
        };
    }
    (Subject::Other, at)
}

/// A capitalised word of letters, not all capitals, that is not a sentence opener: "Alice",
/// "O'Brien", "Zoë".
fn name_like(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(char::is_uppercase)
        && word.chars().any(char::is_lowercase)
        && word
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, '-' | '\'' | '’'))
        && word.chars().count() <= 40
        && !listed(NOT_NAMES, &word.to_lowercase())
}

/// Whether the words just before byte `at`, in the same clause, negate it: "not human error",
/// "nobody was at fault", "it wasn't careless".
fn negated(text: &str, at: usize) -> bool {
    for w in Back::new(text, at).take(4) {
        if w.ends_clause {
            return false;
        }
        let lower = w.core.to_lowercase();
        if listed(NEGATIONS, &lower) || lower.ends_with("n't") || lower.ends_with("n’t") {
            return true;
        }
        if w.opens {
            return false;
        }
    }
    false
}

/// The longest gap of whitespace, and the longest word, the word readers look through; past
/// that a phrase has no neighbour, which keeps every look linear however odd the text.
const MAX_GAP: usize = 64;
const MAX_WORD: usize = 64;

/// A word seen by [`Back`] or [`word_after`].
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    /// Where `core` starts, in bytes.
    start: usize,
    /// The word without emphasis, brackets, quotes or trailing punctuation.
    core: &'a str,
    /// It ends with punctuation that closes a clause: `.`, `,`, `;`, `:`, `!`, `?`, a closing
    /// bracket or quote.
    ends_clause: bool,
    /// It starts with an opening bracket or quote.
    opens: bool,
}

const OPENERS: &[char] = &['(', '[', '{', '"', '“', '‘', '<'];
const EMPHASIS: &[char] = &['*', '_', '~'];
const CLOSERS: &[char] = &[
    '.', ',', ';', ':', '!', '?', ')', ']', '}', '"', '”', '…', '—', '–',
];

fn word_at(text: &str, start: usize, end: usize) -> Option<Word<'_>> {
    let raw = text.get(start..end)?;
    let opens = raw.starts_with(OPENERS);
    let after_opening =
        raw.trim_start_matches(|c| OPENERS.contains(&c) || EMPHASIS.contains(&c) || c == '\'');
    let trimmed = after_opening.trim_end_matches(EMPHASIS);
    let core = trimmed.trim_end_matches(|c| CLOSERS.contains(&c) || EMPHASIS.contains(&c));
    Some(Word {
        start: end - after_opening.len(),
        core,
        ends_clause: trimmed.ends_with(CLOSERS),
        opens,
    })
}

/// The words before a byte offset, nearest first, within its paragraph.
struct Back<'a> {
    text: &'a str,
    at: usize,
    done: bool,
}

impl<'a> Back<'a> {
    fn new(text: &'a str, at: usize) -> Back<'a> {
        Back {
            text,
            at,
            done: false,
        }
    }
}

impl<'a> Iterator for Back<'a> {
    type Item = Word<'a>;

    fn next(&mut self) -> Option<Word<'a>> {
        if self.done {
            return None;
        }
        let head = self.text.get(..self.at)?;
        let (mut gap, mut newlines, mut length) = (0, 0, 0);
        let mut end = None;
        let mut start = 0;
        for (i, c) in head.char_indices().rev() {
            match end {
                None if c.is_whitespace() => {
                    gap += 1;
                    newlines += usize::from(c == '\n');
                    if newlines >= 2 || gap > MAX_GAP {
                        break;
                    }
                }
                None => {
                    end = Some(i + c.len_utf8());
                    start = i;
                    length = 1;
                }
                Some(_) if c.is_whitespace() => break,
                Some(_) => {
                    start = i;
                    length += 1;
                    if length >= MAX_WORD {
                        // Nothing further back can be read as a neighbour of so long a word.
                        self.done = true;
                        break;
                    }
                }
            }
        }
        let Some(end) = end.filter(|_| newlines < 2 && gap <= MAX_GAP) else {
            self.done = true;
            return None;
        };
        self.at = start;
        word_at(self.text, start, end)
    }
}

/// The word just after byte `at`, lowercased, within the paragraph.
fn word_after(text: &str, at: usize) -> Option<String> {
    let tail = text.get(at..)?;
    let (mut gap, mut newlines) = (0, 0);
    let mut start = None;
    let mut end = tail.len();
    let mut length = 0;
    for (i, c) in tail.char_indices() {
        match start {
            None if c.is_whitespace() => {
                gap += 1;
                newlines += usize::from(c == '\n');
                if newlines >= 2 || gap > MAX_GAP {
                    return None;
                }
            }
            None => {
                start = Some(i);
                length = 1;
            }
            Some(_) if c.is_whitespace() || length >= MAX_WORD => {
                end = i;
                break;
            }
            Some(_) => length += 1,
        }
    }
    let start = start?;
    word_at(tail, start, end).map(|w| w.core.to_lowercase())
}

#[cfg(test)]
mod tests;
