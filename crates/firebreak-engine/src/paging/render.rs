//! The bodies Firebreak sends when it pages somebody, one per contact-method channel.
//!
//! A page is rendered once, when it is queued, and the bytes are kept: a retry sends exactly
//! what the first try sent. Everything here is pure text work. Titles, summaries, services and
//! names come from users and alert sources, so every channel escapes them its own way and
//! caps their length: a summary can neither forge a link or a mention nor make a body the
//! receiver rejects. JSON is always written with serde_json.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// What a page is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageKind {
    /// Somebody must look at an alert or incident.
    Page,
    /// A test sent to check that a contact method works.
    Test,
    /// A nudge about something that needs attention, e.g. an incident with no recent update.
    Reminder,
    /// Something the Incident Commander must know now, e.g. a break-glass grant.
    Notice,
}

impl PageKind {
    /// The name in webhook bodies: `page`, `page.test`, `reminder` or `notice`.
    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::Page => "page",
            PageKind::Test => "page.test",
            PageKind::Reminder => "reminder",
            PageKind::Notice => "notice",
        }
    }
}

/// The incident a page is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRef {
    /// `INC-12`.
    pub id: String,
    pub title: String,
    /// `SEV1`.
    pub severity: String,
    pub service: Option<String>,
    pub url: Option<String>,
}

/// The alert a page is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRef {
    pub id: i64,
    pub summary: String,
    /// The alert's own severity, e.g. `critical`.
    pub severity: String,
    pub service: String,
    pub url: Option<String>,
}

/// Everything a page says, before it is written for a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageView {
    pub kind: PageKind,
    /// `esc_…`.
    pub escalation: Option<String>,
    /// 0-based.
    pub step: Option<u32>,
    /// 0-based.
    pub round: Option<u32>,
    /// The handle of the user paged.
    pub user: String,
    pub incident: Option<IncidentRef>,
    pub alert: Option<AlertRef>,
    /// A signed link. Opening it shows a page with an Acknowledge button; only that button's
    /// POST acknowledges, so link previews and mail scanners acknowledge nothing.
    pub ack_url: Option<String>,
    pub runbook_url: Option<String>,
    /// Drills say `[DRILL]` in every title, subject and text.
    pub drill: bool,
    /// For a reminder, what it reminds of: `INC-12 has had no update for 1h`.
    pub reminder: Option<String>,
    pub at: Timestamp,
}

/// The three parts of a page email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

const DRILL: &str = "[DRILL]";
const ZWSP: char = '\u{200B}';
/// Said wherever the ack link is, so nobody expects a click alone to acknowledge.
const ACK_NOTE: &str = "The Acknowledge link opens a page with an Acknowledge button; \
                        opening the link alone does not acknowledge.";
/// Longer URLs are not linked in chat or email bodies (the webhook body still has them).
const MAX_URL: usize = 1000;
/// Slack's limits on header text, section text, field text and a whole message.
const SLACK_HEADER: usize = 150;
const SLACK_SECTION: usize = 3000;
const SLACK_FIELD: usize = 1900;
/// ntfy turns a message over 4096 bytes into an attachment.
const NTFY_MESSAGE_BYTES: usize = 3900;
const NTFY_TITLE: usize = 250;
const EMAIL_SUBJECT: usize = 200;
/// ntfy allows at most three actions.
const NTFY_ACTIONS: usize = 3;
/// Topics a default ntfy server refuses, because its own pages use those paths.
const NTFY_RESERVED: [&str; 10] = [
    "docs", "static", "file", "app", "metrics", "account", "settings", "signup", "login", "v1",
];

/// One line of a page: `[DRILL] SEV1 INC-12: Checkout down`,
/// `critical alert 42 on checkout: High error rate`, `Test page from Firebreak`, or a
/// reminder's text.
pub fn headline(v: &PageView) -> String {
    with_drill(v, plain_headline(v))
}

/// The headline without the drill marker.
fn plain_headline(v: &PageView) -> String {
    match v.kind {
        PageKind::Test => "Test page from Firebreak".to_string(),
        PageKind::Reminder | PageKind::Notice => reminder_text(v),
        PageKind::Page => page_headline(v),
    }
}

/// The JSON a `webhook` contact method gets (signed per Standard Webhooks by the sender).
/// Values are as given, unescaped: receivers get the data, not a rendering of it. Every named
/// key is present; what is absent is `null`.
pub fn webhook_body(v: &PageView) -> String {
    // Written straight from borrowed fields, with no JSON value (a map per object) between:
    // the body is rendered inside the alert's unit of work. Fields are declared in
    // alphabetical order, the order receivers have always seen.
    #[derive(serde::Serialize)]
    struct Incident<'a> {
        id: &'a str,
        service: &'a Option<String>,
        severity: &'a str,
        title: &'a str,
        url: &'a Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Alert<'a> {
        id: i64,
        service: &'a str,
        severity: &'a str,
        summary: &'a str,
        url: &'a Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        ack_url: &'a Option<String>,
        alert: Option<Alert<'a>>,
        drill: bool,
        escalation: &'a Option<String>,
        headline: String,
        incident: Option<Incident<'a>>,
        reminder: &'a Option<String>,
        round: Option<u32>,
        runbook_url: &'a Option<String>,
        step: Option<u32>,
        timestamp: String,
        #[serde(rename = "type")]
        kind: &'a str,
        user: &'a str,
    }
    let body = Body {
        ack_url: &v.ack_url,
        alert: v.alert.as_ref().map(|a| Alert {
            id: a.id,
            service: &a.service,
            severity: &a.severity,
            summary: &a.summary,
            url: &a.url,
        }),
        drill: v.drill,
        escalation: &v.escalation,
        headline: headline(v),
        incident: v.incident.as_ref().map(|i| Incident {
            id: &i.id,
            service: &i.service,
            severity: &i.severity,
            title: &i.title,
            url: &i.url,
        }),
        reminder: &v.reminder,
        round: v.round,
        runbook_url: &v.runbook_url,
        step: v.step,
        timestamp: rfc3339_ms(v.at),
        kind: v.kind.as_str(),
        user: &v.user,
    };
    // Serialising these fields cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// A Slack incoming-webhook body: a `text` fallback with the whole message (notifications and
/// clients without Block Kit show it) and Block Kit `blocks`. `&`, `<` and `>` in user text are
/// escaped, so it cannot make links or mentions.
pub fn slack_body(v: &PageView) -> String {
    let context = v
        .escalation
        .as_ref()
        .map(|e| format!("escalation `{}`", fit(&one_line(e), 100, esc_slack)));
    slack_of(&Model::of(v), v.at, context)
}

/// A Slack body from a message's parts; `context` (already escaped) goes after "Firebreak".
fn slack_of(m: &Model, at: Timestamp, context: Option<String>) -> String {
    let esc = esc_slack as Esc;
    let mut has_ack = false;
    let mut links = Vec::new();
    for l in &m.links {
        if let Some(link) = slack_link(&l.url, l.label) {
            has_ack |= l.ack;
            links.push(link);
        }
    }
    let when = format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.as_second(),
        human_time(at)
    );

    let mut text = vec![m.head(500, esc)];
    for line in &m.lines {
        text.push(fit(line, 1000, esc));
    }
    let facts: Vec<String> = m
        .facts
        .iter()
        .map(|(label, value)| format!("{label}: {}", fit(value, 300, esc)))
        .collect();
    if !facts.is_empty() {
        text.push(facts.join(" · "));
    }
    if !links.is_empty() {
        text.push(links.join(" · "));
    }
    if has_ack {
        text.push(ACK_NOTE.to_string());
    }

    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": m.head(SLACK_HEADER, esc), "emoji": true},
    })];
    if !m.lines.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": fit(&m.lines.join("\n"), SLACK_SECTION, esc)},
        }));
    }
    let fields: Vec<Value> = m
        .facts
        .iter()
        .map(|(label, value)| {
            json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", fit(value, SLACK_FIELD, esc))})
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if !links.is_empty() {
        let mut t = links.join("  ·  ");
        if has_ack {
            t.push_str(&format!("\n_{ACK_NOTE}_"));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": t}}));
    }
    let mut footer = "Firebreak".to_string();
    if let Some(c) = context {
        footer.push_str(&format!(" · {c}"));
    }
    footer.push_str(&format!(" · {when}"));
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]}));

    json!({
        "text": text.join("\n"),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
    .to_string()
}

/// A Mattermost incoming-webhook body. Mattermost shows only `text`, so it carries the whole
/// message in Markdown. In user text `\ [ ] < >` are backslash-escaped, so it cannot make a
/// link, and `@channel`, `@all` and `@here` are broken with an invisible space, so it cannot
/// notify a whole channel.
pub fn mattermost_body(v: &PageView) -> String {
    mattermost_of(&Model::of(v))
}

fn mattermost_of(m: &Model) -> String {
    let esc = esc_markdown as Esc;
    let mut out = vec![format!("#### {}", m.head(500, esc))];
    for line in &m.lines {
        out.push(fit(line, 1000, esc));
    }
    for (label, value) in &m.facts {
        out.push(format!("**{label}:** {}", fit(value, 300, esc)));
    }
    let links: Vec<String> = m
        .links
        .iter()
        .map(|l| format!("[{}]({})", l.label, l.url))
        .collect();
    if !links.is_empty() {
        out.push(links.join(" · "));
    }
    if m.links.iter().any(|l| l.ack) {
        out.push(format!("_{ACK_NOTE}_"));
    }
    json!({ "text": out.join("\n") }).to_string()
}

/// A Microsoft Teams Workflows webhook body: one Adaptive Card 1.4 with text blocks, a fact
/// set and buttons that open the ack page, the runbook and the incident. Card text is
/// Markdown, so an invisible space follows every `[`, `]` and `<` of user text: it reads the
/// same but cannot make a link.
pub fn teams_body(v: &PageView) -> String {
    let color = match v.kind {
        PageKind::Page => "Attention",
        PageKind::Reminder | PageKind::Notice => "Warning",
        PageKind::Test => "Default",
    };
    teams_of(&Model::of(v), color)
}

fn teams_of(m: &Model, color: &str) -> String {
    let esc = esc_card as Esc;
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": m.head(500, esc),
        "size": "Medium",
        "weight": "Bolder",
        "color": color,
        "wrap": true,
    })];
    for line in &m.lines {
        body.push(json!({"type": "TextBlock", "text": fit(line, 1000, esc), "wrap": true}));
    }
    let facts: Vec<Value> = m
        .facts
        .iter()
        .map(|(label, value)| json!({"title": label, "value": fit(value, 500, esc)}))
        .collect();
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if m.links.iter().any(|l| l.ack) {
        body.push(json!({
            "type": "TextBlock",
            "text": ACK_NOTE,
            "size": "Small",
            "isSubtle": true,
            "wrap": true,
        }));
    }
    let actions: Vec<Value> = m
        .links
        .iter()
        .map(|l| json!({"type": "Action.OpenUrl", "title": l.label, "url": l.url}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": actions,
            },
        }],
    })
    .to_string()
}

/// An ntfy JSON publish, to be POSTed to the server's root URL (see [`ntfy_publish_url`]).
/// Pages go at priority 5, notices (a break-glass grant) at 4, tests and reminders at 3. Tapping the notification opens the ack
/// page; the actions only open links (`view`): an `http` action would POST to the ack link,
/// which acknowledges nothing without the page's form.
pub fn ntfy_body(v: &PageView, topic: &str) -> String {
    let m = Model::of(v);
    let plain = esc_plain as Esc;
    let mut lines = Vec::new();
    if v.drill {
        lines.push(DRILL.to_string());
    }
    for line in &m.lines {
        lines.push(fit(line, 1000, plain));
    }
    for (label, value) in &m.facts {
        lines.push(format!("{label}: {}", fit(value, 300, plain)));
    }
    if m.links.iter().any(|l| l.ack) {
        lines.push(ACK_NOTE.to_string());
    }
    let message = fit_bytes(&lines.join("\n"), NTFY_MESSAGE_BYTES);

    let mut tags: Vec<String> = vec![
        match v.kind {
            PageKind::Page => "rotating_light",
            PageKind::Test => "test_tube",
            PageKind::Reminder => "alarm_clock",
            PageKind::Notice => "warning",
        }
        .to_string(),
    ];
    if v.drill {
        tags.push("drill".to_string());
    }
    for (label, value) in &m.facts {
        if *label == "Severity" || *label == "Service" {
            let tag = fit(&value.replace(',', " ").to_lowercase(), 64, plain);
            let tag = tag.trim().to_string();
            if !tag.is_empty() && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }

    let mut body = Map::new();
    body.insert("topic".into(), json!(topic));
    body.insert("title".into(), json!(m.head(NTFY_TITLE, plain)));
    body.insert("message".into(), json!(message));
    let priority = match v.kind {
        PageKind::Page => 5,
        PageKind::Notice => 4,
        PageKind::Test | PageKind::Reminder => 3,
    };
    body.insert("priority".into(), json!(priority));
    body.insert("tags".into(), json!(tags));
    let click = m
        .links
        .iter()
        .find(|l| l.ack)
        .or_else(|| m.links.iter().find(|l| l.open));
    if let Some(l) = click {
        body.insert("click".into(), json!(l.url));
    }
    let actions: Vec<Value> = m
        .links
        .iter()
        .take(NTFY_ACTIONS)
        .map(|l| json!({"action": "view", "label": l.label, "url": l.url}))
        .collect();
    body.insert("actions".into(), Value::Array(actions));
    Value::Object(body).to_string()
}

/// Splits an ntfy topic URL into the root URL a JSON publish is POSTed to and the topic:
/// `https://ntfy.example.com/oncall-alice` is (`https://ntfy.example.com/`, `oncall-alice`),
/// and a path prefix stays in the root (`https://example.com/ntfy/oncall` is
/// (`https://example.com/ntfy/`, `oncall`)). `None` for a URL that is not http(s), has no
/// topic, has a query or fragment, or whose topic ntfy would refuse.
pub fn ntfy_publish_url(topic_url: &str) -> Option<(String, String)> {
    if topic_url.is_empty()
        || topic_url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return None;
    }
    let scheme_end = topic_url.find("://")?;
    let scheme = &topic_url[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let rest = &topic_url[scheme_end + 3..];
    let host_end = rest.find('/')?;
    let host = &rest[..host_end];
    let host_only = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    if host_only.is_empty() || host_only.starts_with(':') {
        return None;
    }
    let path = &rest[host_end..];
    let (_, topic) = path.rsplit_once('/')?;
    let valid = (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid || NTFY_RESERVED.contains(&topic) {
        return None;
    }
    let root = &topic_url[..topic_url.len() - topic.len()];
    Some((root.to_string(), topic.to_string()))
}

/// A page email: a one-line subject of at most 200 characters, and plain-text and HTML bodies
/// with the same content. User text in the HTML is escaped.
pub fn email(v: &PageView) -> EmailContent {
    let m = Model::of(v);
    let subject = fit(&email_subject(v), EMAIL_SUBJECT, esc_plain);

    let mut sections = vec![m.head(usize::MAX, esc_plain)];
    if !m.lines.is_empty() {
        sections.push(m.lines.join("\n"));
    }
    let facts: Vec<String> = m
        .facts
        .iter()
        .map(|(label, value)| format!("{label}: {value}"))
        .collect();
    sections.push(facts.join("\n"));
    let mut links = Vec::new();
    for l in &m.links {
        links.push(format!("{}: {}", l.label, l.url));
        if l.ack {
            links.push(ACK_NOTE.to_string());
        }
    }
    if !links.is_empty() {
        sections.push(links.join("\n"));
    }
    sections.push("-- \nSent by Firebreak.".to_string());
    let text = sections.join("\n\n") + "\n";

    let h = |s: &str| fit(s, usize::MAX, esc_html);
    let mut html = String::from("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str(&format!("<title>{}</title>\n</head>\n", h(&subject)));
    html.push_str("<body style=\"font-family: sans-serif; line-height: 1.4\">\n");
    html.push_str(&format!("<h2>{}</h2>\n", m.head(usize::MAX, esc_html)));
    for line in &m.lines {
        html.push_str(&format!("<p>{}</p>\n", h(line)));
    }
    if !m.facts.is_empty() {
        html.push_str("<table>\n");
        for (label, value) in &m.facts {
            html.push_str(&format!(
                "<tr><th align=\"left\" style=\"padding-right: 1em\">{label}</th><td>{}</td></tr>\n",
                h(value)
            ));
        }
        html.push_str("</table>\n");
    }
    for l in &m.links {
        let url = h(&l.url);
        html.push_str(&format!(
            "<p><a href=\"{url}\"><strong>{}</strong></a><br>{url}</p>\n",
            l.label
        ));
        if l.ack {
            html.push_str(&format!("<p>{ACK_NOTE}</p>\n"));
        }
    }
    html.push_str("<p style=\"color: #666666\">Sent by Firebreak.</p>\n</body>\n</html>\n");

    EmailContent {
        subject,
        text,
        html,
    }
}

// ---------------------------------------------------------------------------------------------
// Posts to incident channels: the same shapes as pages, with what changed instead of who is
// paged.

/// A post to an incident channel, in raw (unescaped) text: every renderer escapes it for its
/// own format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPost {
    /// `SEV1 INC-7 declared: Checkout returns 500s`.
    pub headline: String,
    pub drill: bool,
    /// Details, each one line.
    pub lines: Vec<String>,
    /// Label and value: severity, status, commander, services.
    pub facts: Vec<(&'static str, String)>,
    /// A link back to the incident.
    pub incident_url: Option<String>,
    /// Whether it is urgent (declared, worse severity) or news.
    pub urgent: bool,
    pub at: Timestamp,
}

impl ChatPost {
    fn model(&self) -> Model {
        let mut links = Vec::new();
        if let Some(url) = self.incident_url.as_deref().and_then(safe_url) {
            links.push(Link {
                label: "Open incident",
                url,
                ack: false,
                open: true,
            });
        }
        let mut facts: Vec<(&'static str, String)> = self
            .facts
            .iter()
            .map(|(k, v)| (*k, clean(v, 500)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        facts.push(("Time", human_time(self.at)));
        Model {
            headline: clean(&self.headline, 500),
            drill: self.drill,
            lines: self.lines.iter().map(|l| clean(l, 3000)).collect(),
            facts,
            links,
        }
    }
}

/// A channel post's body for Slack: a `text` fallback and Block Kit blocks.
pub fn chat_slack(p: &ChatPost) -> String {
    slack_of(&p.model(), p.at, Some("incident channel".into()))
}

/// A channel post's body for Mattermost: all of it in `text`.
pub fn chat_mattermost(p: &ChatPost) -> String {
    mattermost_of(&p.model())
}

/// A channel post's body for a Teams Workflows webhook: one Adaptive Card.
pub fn chat_teams(p: &ChatPost) -> String {
    teams_of(&p.model(), if p.urgent { "Attention" } else { "Default" })
}

// ---------------------------------------------------------------------------------------------
// What every channel says, as clean one-line pieces of raw (unescaped) text.

struct Link {
    label: &'static str,
    /// Checked and made safe by [`safe_url`].
    url: String,
    ack: bool,
    open: bool,
}

struct Model {
    /// Without the drill marker, which is ours and never escaped.
    headline: String,
    drill: bool,
    /// Details under the headline, each one line.
    lines: Vec<String>,
    /// Label and value; labels are ours, values user text.
    facts: Vec<(&'static str, String)>,
    links: Vec<Link>,
}

impl Model {
    fn of(v: &PageView) -> Model {
        let mut lines = Vec::new();
        let user = clean(&v.user, 200);
        match v.kind {
            PageKind::Test => lines.push(format!(
                "This is a test page for {}. If you can read it, Firebreak can reach you here.",
                or(&user, "you")
            )),
            PageKind::Reminder if !user.is_empty() => lines.push(format!("Reminder for {user}.")),
            _ => {}
        }
        if v.drill {
            lines.push("This is a drill.".to_string());
        }
        if let Some(i) = &v.incident {
            let id = clean(&i.id, 100);
            let title = clean(&i.title, 1000);
            lines.push(join_colon(&format!("Incident {id}"), &title));
        }
        if let Some(a) = &v.alert {
            let mut head = format!("Alert {}", a.id);
            let sev = clean(&a.severity, 50);
            if !sev.is_empty() {
                head.push_str(&format!(" ({sev})"));
            }
            let service = clean(&a.service, 200);
            if !service.is_empty() {
                head.push_str(&format!(" on {service}"));
            }
            lines.push(join_colon(&head, &clean(&a.summary, 1000)));
        }

        let mut facts = Vec::new();
        let severity = severity(v);
        if !severity.is_empty() {
            facts.push(("Severity", severity));
        }
        let service = v
            .incident
            .as_ref()
            .and_then(|i| i.service.as_deref())
            .map(|s| clean(s, 200))
            .filter(|s| !s.is_empty())
            .or_else(|| v.alert.as_ref().map(|a| clean(&a.service, 200)))
            .unwrap_or_default();
        if !service.is_empty() {
            facts.push(("Service", service));
        }
        let position = position(v.step, v.round);
        let who = match (user.is_empty(), position) {
            (false, Some(p)) => format!("{user} ({p})"),
            (false, None) => user.clone(),
            (true, Some(p)) => p,
            (true, None) => String::new(),
        };
        if !who.is_empty() {
            facts.push((
                if v.kind == PageKind::Page {
                    "Paging"
                } else {
                    "User"
                },
                who,
            ));
        }
        if let Some(e) = v.escalation.as_deref().map(|e| clean(e, 100))
            && !e.is_empty()
        {
            facts.push(("Escalation", e));
        }
        facts.push(("Time", human_time(v.at)));

        let mut links = Vec::new();
        let mut link = |label, url: Option<&str>, ack, open| {
            if let Some(url) = url.and_then(safe_url) {
                links.push(Link {
                    label,
                    url,
                    ack,
                    open,
                });
            }
        };
        link("Acknowledge", v.ack_url.as_deref(), true, false);
        link("Runbook", v.runbook_url.as_deref(), false, false);
        let incident_url = v.incident.as_ref().and_then(|i| i.url.as_deref());
        let alert_url = v.alert.as_ref().and_then(|a| a.url.as_deref());
        if incident_url.and_then(safe_url).is_some() {
            link("Open incident", incident_url, false, true);
        } else {
            link("Open alert", alert_url, false, true);
        }

        Model {
            headline: plain_headline(v),
            drill: v.drill,
            lines,
            facts,
            links,
        }
    }
}

impl Model {
    /// The headline escaped with `esc`, at most `max` characters, after the drill marker.
    fn head(&self, max: usize, esc: Esc) -> String {
        if self.drill {
            let room = max.saturating_sub(DRILL.len() + 1);
            format!("{DRILL} {}", fit(&self.headline, room, esc))
        } else {
            fit(&self.headline, max, esc)
        }
    }
}

fn page_headline(v: &PageView) -> String {
    if let Some(i) = &v.incident {
        let head = words(&[clean(&i.severity, 50), clean(&i.id, 100)]);
        let title = clean(&i.title, 300);
        let line = join_colon(&head, &title);
        if !line.is_empty() {
            return line;
        }
    }
    if let Some(a) = &v.alert {
        let sev = clean(&a.severity, 50);
        let mut head = if sev.is_empty() {
            format!("Alert {}", a.id)
        } else {
            format!("{sev} alert {}", a.id)
        };
        let service = clean(&a.service, 100);
        if !service.is_empty() {
            head.push_str(&format!(" on {service}"));
        }
        return join_colon(&head, &clean(&a.summary, 300));
    }
    "Page from Firebreak".to_string()
}

fn reminder_text(v: &PageView) -> String {
    let text = v
        .reminder
        .as_deref()
        .map(|r| clean(r, 500))
        .unwrap_or_default();
    if !text.is_empty() {
        return text;
    }
    match &v.incident {
        Some(_) => format!("Reminder: {}", page_headline(v)),
        None => "Reminder from Firebreak".to_string(),
    }
}

fn email_subject(v: &PageView) -> String {
    let user = clean(&v.user, 100);
    let body = match v.kind {
        PageKind::Test => words(&["Firebreak test page for".into(), user]),
        PageKind::Reminder | PageKind::Notice => reminder_text(v),
        PageKind::Page => {
            let sev = severity(v);
            let sev = if sev.is_empty() {
                String::new()
            } else {
                format!("[{sev}]")
            };
            let incident = v
                .incident
                .as_ref()
                .map(|i| join_colon(&clean(&i.id, 100), &clean(&i.title, 300)))
                .filter(|s| !s.is_empty());
            let about = if let Some(about) = incident {
                about
            } else if let Some(a) = &v.alert {
                let summary = clean(&a.summary, 300);
                let service = clean(&a.service, 100);
                let what = match (summary.is_empty(), service.is_empty()) {
                    (_, true) => summary,
                    (true, false) => format!("on {service}"),
                    (false, false) => format!("{summary} on {service}"),
                };
                join_colon(&format!("Alert {}", a.id), &what)
            } else {
                words(&["Firebreak page for".into(), user])
            };
            words(&[sev, about])
        }
    };
    with_drill(v, body)
}

/// The incident's severity, else the alert's.
fn severity(v: &PageView) -> String {
    v.incident
        .as_ref()
        .map(|i| clean(&i.severity, 50))
        .filter(|s| !s.is_empty())
        .or_else(|| v.alert.as_ref().map(|a| clean(&a.severity, 50)))
        .unwrap_or_default()
}

/// `step 1`, `step 2, round 3`: 1-based, for people.
fn position(step: Option<u32>, round: Option<u32>) -> Option<String> {
    let human = |n: u32| u64::from(n) + 1;
    match (step, round) {
        (Some(s), Some(r)) if r > 0 => Some(format!("step {}, round {}", human(s), human(r))),
        (Some(s), _) => Some(format!("step {}", human(s))),
        (None, Some(r)) if r > 0 => Some(format!("round {}", human(r))),
        _ => None,
    }
}

fn with_drill(v: &PageView, body: String) -> String {
    if v.drill {
        format!("{DRILL} {body}")
    } else {
        body
    }
}

fn or<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() { default } else { s }
}

/// The non-empty words joined by spaces.
fn words(parts: &[String]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `head: tail`, or whichever of them is not empty.
fn join_colon(head: &str, tail: &str) -> String {
    match (head.is_empty(), tail.is_empty()) {
        (false, false) => format!("{head}: {tail}"),
        (false, true) => head.to_string(),
        (true, _) => tail.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Text: one line, length caps and each channel's escaping.

/// User text on one line, at most `max` characters: control characters and line breaks become
/// spaces, runs of spaces one space, and bidirectional overrides are dropped.
fn clean(s: &str, max: usize) -> String {
    fit(&one_line(s), max, esc_plain)
}

fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(4096));
    let mut space = false;
    for c in s.chars() {
        if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// Writes one character of user text, escaped; `rest` is the text after it.
type Esc = fn(char, &str, &mut String);

fn esc_plain(c: char, _: &str, out: &mut String) {
    out.push(c);
}

/// Slack's three control characters.
fn esc_slack(c: char, _: &str, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Mattermost Markdown: no link syntax, no channel-wide mention.
fn esc_markdown(c: char, rest: &str, out: &mut String) {
    match c {
        '\\' | '[' | ']' | '<' | '>' => {
            out.push('\\');
            out.push(c);
        }
        '@' => {
            out.push('@');
            let r = rest.as_bytes();
            let mentions = ["channel", "all", "here"]
                .iter()
                .any(|w| r.len() >= w.len() && r[..w.len()].eq_ignore_ascii_case(w.as_bytes()));
            if mentions {
                out.push(ZWSP);
            }
        }
        c => out.push(c),
    }
}

/// Adaptive Card Markdown: backslash escapes differ between Teams clients, an invisible space
/// after `[`, `]` and `<` breaks link syntax in all of them.
fn esc_card(c: char, _: &str, out: &mut String) {
    out.push(c);
    if matches!(c, '[' | ']' | '<') {
        out.push(ZWSP);
    }
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped. (The acknowledge page uses it too.)
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        esc_html(c, text, &mut out);
    }
    out
}

fn esc_html(c: char, _: &str, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// `s` escaped with `esc`, at most `max` characters counted after escaping. Longer text is cut
/// between escapes (never inside one) and ends with `…`.
fn fit(s: &str, max: usize, esc: Esc) -> String {
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut count = 0usize;
    // The longest prefix that leaves room for the ellipsis.
    let mut cut = 0usize;
    let mut piece = String::new();
    for (i, c) in s.char_indices() {
        piece.clear();
        esc(c, &s[i + c.len_utf8()..], &mut piece);
        count += piece.chars().count();
        if count > max {
            out.truncate(cut);
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        if count < max {
            cut = out.len();
        }
    }
    out
}

/// At most `max` bytes, cut at a character boundary, ending with `…` when cut.
fn fit_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// An http(s) URL fit to put in a link in any channel, or `None`. Characters that could end a
/// Markdown or Slack link or an HTML attribute are percent-encoded after the host; spaces too.
fn safe_url(url: &str) -> Option<String> {
    let url = url.trim();
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    if url.chars().any(char::is_control) {
        return None;
    }
    let rest = &url[scheme_end + 3..];
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || "<>\"'|\\^`{}()".contains(c))
    {
        return None;
    }
    let mut out = format!("{scheme}://{host}");
    for c in rest[host_end..].chars() {
        match c {
            ' ' | '"' | '\'' | '<' | '>' | '|' | '\\' | '^' | '`' | '{' | '}' | '(' | ')' | '['
            | ']' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_whitespace() => return None,
            c => out.push(c),
        }
    }
    (out.len() <= MAX_URL).then_some(out)
}

/// `<url|label>` with the URL escaped for Slack, or `None` for a URL too long for a section.
fn slack_link(url: &str, label: &str) -> Option<String> {
    let url = fit(url, usize::MAX, esc_slack);
    (url.len() <= MAX_URL).then(|| format!("<{url}|{label}>"))
}

fn rfc3339_ms(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn human_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = r#"<!channel> <https://evil|click> & "x""#;
    const MD_EVIL: &str = "[click](https://evil) ![img](https://evil/i.png) \\[x](https://evil)";

    fn at() -> Timestamp {
        "2026-11-20T14:20:05.083Z".parse().unwrap()
    }

    fn incident() -> IncidentRef {
        IncidentRef {
            id: "INC-12".into(),
            title: "Checkout is down".into(),
            severity: "SEV1".into(),
            service: Some("checkout".into()),
            url: Some("https://fb.example.com/incidents/INC-12".into()),
        }
    }

    fn alert() -> AlertRef {
        AlertRef {
            id: 42,
            summary: "High error rate".into(),
            severity: "critical".into(),
            service: "checkout".into(),
            url: Some("https://fb.example.com/alerts/42".into()),
        }
    }

    /// A page for an incident with its alert.
    fn page() -> PageView {
        PageView {
            kind: PageKind::Page,
            escalation: Some("esc_3f9c2a1b7e40".into()),
            step: Some(0),
            round: Some(0),
            user: "alice".into(),
            incident: Some(incident()),
            alert: Some(alert()),
            ack_url: Some("https://fb.example.com/ack/pg_01.sig".into()),
            runbook_url: Some("https://wiki.example.com/runbooks/checkout".into()),
            drill: false,
            reminder: None,
            at: at(),
        }
    }

    fn alert_only() -> PageView {
        PageView {
            incident: None,
            ..page()
        }
    }

    fn drill() -> PageView {
        PageView {
            drill: true,
            ..page()
        }
    }

    fn test_page() -> PageView {
        PageView {
            kind: PageKind::Test,
            escalation: None,
            step: None,
            round: None,
            incident: None,
            alert: None,
            ack_url: None,
            runbook_url: None,
            ..page()
        }
    }

    fn reminder() -> PageView {
        PageView {
            kind: PageKind::Reminder,
            alert: None,
            reminder: Some("INC-12 has had no update for 1h".into()),
            ..page()
        }
    }

    fn bare() -> PageView {
        PageView {
            escalation: None,
            step: None,
            round: None,
            incident: None,
            alert: None,
            ack_url: None,
            runbook_url: None,
            ..page()
        }
    }

    /// Every kind of view the tests look at.
    fn views() -> Vec<PageView> {
        vec![
            page(),
            alert_only(),
            drill(),
            test_page(),
            reminder(),
            bare(),
        ]
    }

    /// Views whose user text is hostile, empty, huge or spread over lines.
    fn odd_views() -> Vec<PageView> {
        let mut out = Vec::new();
        let long = "é𝄞<&>[]".repeat(5000);
        for text in [
            "",
            " ",
            "\n\r\t",
            EVIL,
            MD_EVIL,
            "line one\nline two\r\n[x]: https://evil",
            "@channel @ALL @here wake up",
            "\u{202E}evil\u{202C} \u{0000}\u{0007}\u{2028}x",
            long.as_str(),
            "&amp;&lt;",
            "\\",
            "…",
        ] {
            let s = text.to_string();
            let v = PageView {
                escalation: Some(s.clone()),
                step: Some(u32::MAX),
                round: Some(u32::MAX),
                user: s.clone(),
                incident: Some(IncidentRef {
                    id: s.clone(),
                    title: s.clone(),
                    severity: s.clone(),
                    service: Some(s.clone()),
                    url: Some(s.clone()),
                }),
                alert: Some(AlertRef {
                    id: i64::MIN,
                    summary: s.clone(),
                    severity: s.clone(),
                    service: s.clone(),
                    url: Some(s.clone()),
                }),
                ack_url: Some(s.clone()),
                runbook_url: Some(s.clone()),
                reminder: Some(s.clone()),
                ..page()
            };
            for kind in [
                PageKind::Page,
                PageKind::Test,
                PageKind::Reminder,
                PageKind::Notice,
            ] {
                for drill in [false, true] {
                    out.push(PageView {
                        kind,
                        drill,
                        ..v.clone()
                    });
                }
            }
            out.push(PageView {
                incident: None,
                ..v.clone()
            });
        }
        out
    }

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("invalid JSON ({e}): {s}"))
    }

    fn evil_view() -> PageView {
        let mut v = page();
        v.incident.as_mut().unwrap().title = EVIL.into();
        v.alert.as_mut().unwrap().summary = format!("{EVIL} {MD_EVIL}");
        v.incident.as_mut().unwrap().service = Some(EVIL.into());
        v
    }

    /// Every string anywhere in a JSON value.
    fn strings(v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().flat_map(strings).collect(),
            Value::Object(o) => o.values().flat_map(strings).collect(),
            _ => vec![],
        }
    }

    // --- headline and subject ---

    #[test]
    fn headlines() {
        assert_eq!(headline(&page()), "SEV1 INC-12: Checkout is down");
        assert_eq!(
            headline(&alert_only()),
            "critical alert 42 on checkout: High error rate"
        );
        assert_eq!(headline(&drill()), "[DRILL] SEV1 INC-12: Checkout is down");
        assert_eq!(headline(&test_page()), "Test page from Firebreak");
        assert_eq!(headline(&reminder()), "INC-12 has had no update for 1h");
        assert_eq!(headline(&bare()), "Page from Firebreak");
        let v = PageView {
            reminder: None,
            ..reminder()
        };
        assert_eq!(headline(&v), "Reminder: SEV1 INC-12: Checkout is down");
        let v = PageView {
            drill: true,
            ..test_page()
        };
        assert_eq!(headline(&v), "[DRILL] Test page from Firebreak");
    }

    #[test]
    fn headline_with_empty_parts() {
        let mut v = alert_only();
        let a = v.alert.as_mut().unwrap();
        a.severity = String::new();
        a.service = "  ".into();
        a.summary = "\n".into();
        assert_eq!(headline(&v), "Alert 42");
        let mut v = page();
        let i = v.incident.as_mut().unwrap();
        i.severity = String::new();
        i.title = String::new();
        assert_eq!(headline(&v), "INC-12");
        let mut v = page();
        let i = v.incident.as_mut().unwrap();
        i.severity = String::new();
        i.id = String::new();
        i.title = String::new();
        // Nothing of the incident is left to say: the alert says it.
        assert_eq!(
            headline(&v),
            "critical alert 42 on checkout: High error rate"
        );
    }

    #[test]
    fn headline_is_one_short_line() {
        let mut v = page();
        v.incident.as_mut().unwrap().title = format!("a\r\nb\u{0000}c\t{}", "x".repeat(10_000));
        let h = headline(&v);
        assert!(h.starts_with("SEV1 INC-12: a b c xxx"));
        assert!(!h.chars().any(char::is_control));
        assert!(h.chars().count() <= 400);
        assert!(h.ends_with('…'));
    }

    #[test]
    fn email_subjects() {
        assert_eq!(email(&page()).subject, "[SEV1] INC-12: Checkout is down");
        assert_eq!(
            email(&alert_only()).subject,
            "[critical] Alert 42: High error rate on checkout"
        );
        assert_eq!(
            email(&drill()).subject,
            "[DRILL] [SEV1] INC-12: Checkout is down"
        );
        assert_eq!(email(&test_page()).subject, "Firebreak test page for alice");
        assert_eq!(
            email(&reminder()).subject,
            "INC-12 has had no update for 1h"
        );
        assert_eq!(email(&bare()).subject, "Firebreak page for alice");
        // The incident's severity wins; without one, the alert's.
        let mut v = page();
        v.incident.as_mut().unwrap().severity = String::new();
        assert_eq!(email(&v).subject, "[critical] INC-12: Checkout is down");
    }

    #[test]
    fn email_subject_is_one_line_of_at_most_200_chars() {
        let mut v = drill();
        v.incident.as_mut().unwrap().title =
            format!("Bcc: x@evil.example\r\nSubject: hi\n{}", "é".repeat(1000));
        let s = email(&v).subject;
        assert!(s.starts_with("[DRILL] [SEV1] INC-12: Bcc: x@evil.example Subject: hi éé"));
        assert!(!s.contains('\r') && !s.contains('\n'));
        assert_eq!(s.chars().count(), 200);
        assert!(s.ends_with('…'));
        for v in odd_views() {
            let s = email(&v).subject;
            assert!(!s.is_empty());
            assert!(!s.chars().any(char::is_control), "{s:?}");
            assert!(s.chars().count() <= 200);
        }
    }

    // --- webhook ---

    #[test]
    fn webhook_body_text_is_stable() {
        // Receivers see these exact bytes (and sign over them): keys in this order, compact.
        let alert_only = PageView {
            escalation: None,
            step: None,
            round: None,
            ack_url: None,
            runbook_url: None,
            ..alert_only()
        };
        assert_eq!(
            webhook_body(&page()),
            r#"{"ack_url":"https://fb.example.com/ack/pg_01.sig","alert":{"id":42,"service":"checkout","severity":"critical","summary":"High error rate","url":"https://fb.example.com/alerts/42"},"drill":false,"escalation":"esc_3f9c2a1b7e40","headline":"SEV1 INC-12: Checkout is down","incident":{"id":"INC-12","service":"checkout","severity":"SEV1","title":"Checkout is down","url":"https://fb.example.com/incidents/INC-12"},"reminder":null,"round":0,"runbook_url":"https://wiki.example.com/runbooks/checkout","step":0,"timestamp":"2026-11-20T14:20:05.083Z","type":"page","user":"alice"}"#
        );
        assert_eq!(
            webhook_body(&alert_only),
            r#"{"ack_url":null,"alert":{"id":42,"service":"checkout","severity":"critical","summary":"High error rate","url":"https://fb.example.com/alerts/42"},"drill":false,"escalation":null,"headline":"critical alert 42 on checkout: High error rate","incident":null,"reminder":null,"round":null,"runbook_url":null,"step":null,"timestamp":"2026-11-20T14:20:05.083Z","type":"page","user":"alice"}"#
        );
    }

    #[test]
    fn webhook_body_shape() {
        let b = parse(&webhook_body(&page()));
        assert_eq!(b["type"], "page");
        assert_eq!(b["escalation"], "esc_3f9c2a1b7e40");
        assert_eq!(b["step"], 0);
        assert_eq!(b["round"], 0);
        assert_eq!(b["user"], "alice");
        assert_eq!(b["drill"], false);
        assert_eq!(b["ack_url"], "https://fb.example.com/ack/pg_01.sig");
        assert_eq!(
            b["runbook_url"],
            "https://wiki.example.com/runbooks/checkout"
        );
        assert_eq!(b["timestamp"], "2026-11-20T14:20:05.083Z");
        assert_eq!(b["headline"], "SEV1 INC-12: Checkout is down");
        assert_eq!(
            b["incident"],
            json!({"id": "INC-12", "title": "Checkout is down", "severity": "SEV1",
                   "service": "checkout", "url": "https://fb.example.com/incidents/INC-12"})
        );
        assert_eq!(
            b["alert"],
            json!({"id": 42, "summary": "High error rate", "severity": "critical",
                   "service": "checkout", "url": "https://fb.example.com/alerts/42"})
        );
    }

    #[test]
    fn webhook_body_has_null_for_what_is_absent() {
        let b = parse(&webhook_body(&test_page()));
        assert_eq!(b["type"], "page.test");
        for key in [
            "escalation",
            "step",
            "round",
            "incident",
            "alert",
            "ack_url",
            "runbook_url",
            "reminder",
        ] {
            assert!(b.get(key).is_some_and(Value::is_null), "{key}");
        }
        let b = parse(&webhook_body(&reminder()));
        assert_eq!(b["type"], "reminder");
        assert_eq!(b["reminder"], "INC-12 has had no update for 1h");
        assert!(b["alert"].is_null());
        assert!(b["incident"].is_object());
        let b = parse(&webhook_body(&drill()));
        assert_eq!(b["drill"], true);
        assert_eq!(b["headline"], "[DRILL] SEV1 INC-12: Checkout is down");
        let mut v = page();
        v.incident.as_mut().unwrap().service = None;
        let b = parse(&webhook_body(&v));
        assert!(b["incident"]["service"].is_null());
    }

    #[test]
    fn webhook_body_keeps_user_text_as_given() {
        let b = parse(&webhook_body(&evil_view()));
        assert_eq!(b["incident"]["title"], EVIL);
        let mut v = page();
        v.alert.as_mut().unwrap().summary = "a\nb\u{0000}".into();
        let b = parse(&webhook_body(&v));
        assert_eq!(b["alert"]["summary"], "a\nb\u{0000}");
    }

    #[test]
    fn timestamps_always_have_milliseconds() {
        let v = PageView {
            at: "2026-11-20T14:20:05Z".parse().unwrap(),
            ..page()
        };
        assert_eq!(
            parse(&webhook_body(&v))["timestamp"],
            "2026-11-20T14:20:05.000Z"
        );
        let v = PageView {
            at: "2026-11-20T16:20:05.999999+02:00".parse().unwrap(),
            ..page()
        };
        assert_eq!(
            parse(&webhook_body(&v))["timestamp"],
            "2026-11-20T14:20:05.999Z"
        );
        let v = PageView {
            at: "1969-12-31T23:59:59.5Z".parse().unwrap(),
            ..page()
        };
        assert_eq!(
            parse(&webhook_body(&v))["timestamp"],
            "1969-12-31T23:59:59.500Z"
        );
    }

    // --- Slack ---

    #[test]
    fn slack_body_shape() {
        let b = parse(&slack_body(&page()));
        let text = b["text"].as_str().unwrap();
        assert!(text.starts_with("SEV1 INC-12: Checkout is down\n"));
        for part in [
            "Alert 42 (critical) on checkout: High error rate",
            "Severity: SEV1",
            "Service: checkout",
            "Paging: alice (step 1)",
            "<https://fb.example.com/ack/pg_01.sig|Acknowledge>",
            "<https://wiki.example.com/runbooks/checkout|Runbook>",
            "<https://fb.example.com/incidents/INC-12|Open incident>",
            "opens a page with an Acknowledge button",
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
        assert_eq!(b["unfurl_links"], false);
        assert_eq!(b["unfurl_media"], false);
        let blocks = b["blocks"].as_array().unwrap();
        let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["header", "section", "section", "section", "context"]
        );
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[0]["text"]["text"], "SEV1 INC-12: Checkout is down");
        assert_eq!(blocks[0]["text"]["emoji"], true);
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        let fields = blocks[2]["fields"].as_array().unwrap();
        assert!(fields.len() <= 10);
        assert_eq!(
            fields[0],
            json!({"type": "mrkdwn", "text": "*Severity*\nSEV1"})
        );
        assert!(
            fields
                .iter()
                .all(|f| f["type"] == "mrkdwn" && f["text"].is_string())
        );
        let links = blocks[3]["text"]["text"].as_str().unwrap();
        assert!(links.contains("<https://fb.example.com/ack/pg_01.sig|Acknowledge>"));
        assert!(links.contains("<https://wiki.example.com/runbooks/checkout|Runbook>"));
        let context = blocks[4]["elements"][0]["text"].as_str().unwrap();
        assert_eq!(blocks[4]["elements"][0]["type"], "mrkdwn");
        assert!(context.contains("`esc_3f9c2a1b7e40`"));
        assert!(context.contains(&format!("<!date^{}^", at().as_second())));
        assert!(context.contains("|2026-11-20 14:20 UTC>"));
    }

    #[test]
    fn slack_body_for_each_kind() {
        let b = parse(&slack_body(&drill()));
        assert!(b["text"].as_str().unwrap().starts_with("[DRILL] "));
        assert!(
            b["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .starts_with("[DRILL] ")
        );
        let b = parse(&slack_body(&test_page()));
        assert!(b["text"].as_str().unwrap().contains("test page for alice"));
        assert!(!b["text"].as_str().unwrap().contains("Acknowledge"));
        assert_eq!(b["blocks"][0]["text"]["text"], "Test page from Firebreak");
        let b = parse(&slack_body(&reminder()));
        assert_eq!(
            b["blocks"][0]["text"]["text"],
            "INC-12 has had no update for 1h"
        );
        let b = parse(&slack_body(&alert_only()));
        assert!(
            b["text"]
                .as_str()
                .unwrap()
                .contains("<https://fb.example.com/alerts/42|Open alert>")
        );
        // Nothing to say but the fields: no empty section.
        let b = parse(&slack_body(&bare()));
        for block in b["blocks"].as_array().unwrap() {
            if block["type"] == "section" {
                let has_text = block["text"]["text"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty());
                let has_fields = block["fields"].as_array().is_some_and(|f| !f.is_empty());
                assert!(has_text || has_fields, "{block}");
            }
        }
    }

    #[test]
    fn slack_escapes_user_text() {
        let body = slack_body(&evil_view());
        let b = parse(&body);
        for s in strings(&b) {
            assert!(!s.contains("<!channel>"), "{s}");
            assert!(!s.contains("<https://evil"), "{s}");
            assert!(!s.contains("& \""), "{s}");
        }
        assert!(
            b["text"]
                .as_str()
                .unwrap()
                .contains("&lt;!channel&gt; &lt;https://evil|click&gt; &amp; \"x\"")
        );
        assert_eq!(
            b["blocks"][0]["text"]["text"],
            "SEV1 INC-12: &lt;!channel&gt; &lt;https://evil|click&gt; &amp; \"x\""
        );
    }

    #[test]
    fn slack_header_is_at_most_150_chars_and_cut_between_escapes() {
        let mut v = page();
        v.incident.as_mut().unwrap().title = "&".repeat(500);
        let b = parse(&slack_body(&v));
        let header = b["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= 150);
        assert!(header.ends_with("&amp;…"), "{header}");
        let mut v = page();
        v.incident.as_mut().unwrap().title = "a".repeat(500);
        let b = parse(&slack_body(&v));
        let header = b["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), 150);
        assert!(header.ends_with("a…"));
    }

    #[test]
    fn slack_blocks_stay_within_limits_on_any_input() {
        for v in odd_views() {
            let b = parse(&slack_body(&v));
            assert!(b["text"].as_str().unwrap().chars().count() <= 40_000);
            let blocks = b["blocks"].as_array().unwrap();
            assert!(blocks.len() <= 50);
            let header = blocks[0]["text"]["text"].as_str().unwrap();
            assert!(!header.is_empty() && header.chars().count() <= 150);
            for block in blocks {
                if let Some(t) = block["text"]["text"].as_str() {
                    assert!(!t.is_empty() && t.chars().count() <= 3000);
                }
                for f in block["fields"].as_array().into_iter().flatten() {
                    assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
                }
            }
            for s in strings(&b) {
                assert!(!s.contains("<!channel>"));
            }
        }
    }

    // --- Mattermost ---

    #[test]
    fn mattermost_body_shape() {
        let b = parse(&mattermost_body(&page()));
        assert_eq!(b.as_object().unwrap().len(), 1);
        let text = b["text"].as_str().unwrap();
        for part in [
            "#### SEV1 INC-12: Checkout is down",
            "Alert 42 (critical) on checkout: High error rate",
            "**Severity:** SEV1",
            "**Service:** checkout",
            "**Paging:** alice (step 1)",
            "[Acknowledge](https://fb.example.com/ack/pg_01.sig)",
            "[Runbook](https://wiki.example.com/runbooks/checkout)",
            "[Open incident](https://fb.example.com/incidents/INC-12)",
            "opens a page with an Acknowledge button",
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
        let text = parse(&mattermost_body(&drill()))["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.starts_with("#### [DRILL] SEV1"), "{text}");
        assert!(text.contains("This is a drill."));
        let text = parse(&mattermost_body(&test_page()))["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.starts_with("#### Test page from Firebreak\n"));
        assert!(!text.contains("]("));
        let text = parse(&mattermost_body(&reminder()))["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.starts_with("#### INC-12 has had no update for 1h\n"));
        assert!(text.contains("Reminder for alice."));
        assert!(text.contains("**User:** alice (step 1)"));
    }

    #[test]
    fn mattermost_escapes_links_and_channel_mentions() {
        let mut v = evil_view();
        v.alert.as_mut().unwrap().service = "@channel @here @All x@example.com".into();
        let text = parse(&mattermost_body(&v))["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!text.contains("<!channel>"));
        assert!(!text.contains("<https://evil|click>"));
        assert!(!text.contains(" [click]"));
        assert!(text.contains(r"\<!channel\> \<https://evil|click\> & "));
        assert!(text.contains(r"\[click\](https://evil)"));
        // A backslash of the user cannot undo the escape.
        assert!(text.contains(r"\\\[x\](https://evil)"));
        assert!(text.contains("@\u{200B}channel @\u{200B}here @\u{200B}All x@example.com"));
        // The only links are ours: every other `](` is escaped.
        let links = text
            .match_indices("](")
            .filter(|(i, _)| !text[..*i].ends_with('\\'))
            .count();
        assert_eq!(links, 3, "{text}");
    }

    #[test]
    fn mattermost_text_is_bounded() {
        for v in odd_views() {
            let b = parse(&mattermost_body(&v));
            let text = b["text"].as_str().unwrap();
            assert!(text.chars().count() <= 16_000);
            assert!(!text.contains("<!channel>"));
            // Every line is ours: user text never starts one.
            for line in text.lines() {
                assert!(!line.starts_with("[x]:"), "{line}");
            }
        }
    }

    // --- Teams ---

    #[test]
    fn teams_body_shape() {
        let b = parse(&teams_body(&page()));
        assert_eq!(b["type"], "message");
        let attachments = b["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        let a = &attachments[0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(a.get("contentUrl").is_some_and(Value::is_null));
        let c = &a["content"];
        assert_eq!(
            c["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        assert_eq!(c["type"], "AdaptiveCard");
        assert_eq!(c["version"], "1.4");
        assert_eq!(c["msteams"]["width"], "Full");
        let body = c["body"].as_array().unwrap();
        assert_eq!(body[0]["type"], "TextBlock");
        assert_eq!(body[0]["text"], "SEV1 INC-12: Checkout is down");
        assert_eq!(body[0]["weight"], "Bolder");
        assert_eq!(body[0]["color"], "Attention");
        assert_eq!(body[0]["wrap"], true);
        let facts = body.iter().find(|b| b["type"] == "FactSet").unwrap()["facts"]
            .as_array()
            .unwrap();
        assert_eq!(facts[0], json!({"title": "Severity", "value": "SEV1"}));
        assert!(
            facts
                .iter()
                .all(|f| f["title"].is_string() && f["value"].is_string())
        );
        assert!(facts.contains(&json!({"title": "Paging", "value": "alice (step 1)"})));
        assert!(body.iter().any(|b| {
            b["text"]
                .as_str()
                .is_some_and(|t| t.contains("opens a page with an Acknowledge button"))
        }));
        let actions = c["actions"].as_array().unwrap();
        assert_eq!(
            actions[0],
            json!({"type": "Action.OpenUrl", "title": "Acknowledge",
                   "url": "https://fb.example.com/ack/pg_01.sig"})
        );
        assert_eq!(actions[1]["title"], "Runbook");
        assert_eq!(
            actions[1]["url"],
            "https://wiki.example.com/runbooks/checkout"
        );
        assert_eq!(actions[2]["title"], "Open incident");
    }

    #[test]
    fn teams_body_for_each_kind() {
        let card = |v: &PageView| parse(&teams_body(v))["attachments"][0]["content"].clone();
        let c = card(&drill());
        assert!(
            c["body"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("[DRILL] ")
        );
        let c = card(&test_page());
        assert_eq!(c["body"][0]["text"], "Test page from Firebreak");
        assert_eq!(c["actions"], json!([]));
        let c = card(&reminder());
        assert_eq!(c["body"][0]["text"], "INC-12 has had no update for 1h");
        assert_eq!(c["body"][0]["color"], "Warning");
        let c = card(&alert_only());
        assert_eq!(c["actions"][2]["title"], "Open alert");
    }

    #[test]
    fn teams_breaks_link_syntax_in_user_text() {
        let b = parse(&teams_body(&evil_view()));
        let all = strings(&b).join("\n");
        assert!(!all.contains("<!channel>"));
        assert!(!all.contains("<https://evil"));
        assert!(!all.contains("](https://evil"));
        assert!(!all.contains("[click]"));
        // It still reads the same.
        assert!(
            all.replace('\u{200B}', "")
                .contains("[click](https://evil)")
        );
        for v in odd_views() {
            let b = parse(&teams_body(&v));
            let all = strings(&b).join("\n");
            assert!(!all.contains("<!channel>"));
            assert!(teams_body(&v).len() < 28 * 1024, "over Teams' 28 KB");
        }
    }

    // --- ntfy ---

    #[test]
    fn ntfy_body_shape() {
        let b = parse(&ntfy_body(&page(), "oncall-alice"));
        assert_eq!(b["topic"], "oncall-alice");
        assert_eq!(b["title"], "SEV1 INC-12: Checkout is down");
        assert_eq!(b["priority"], 5);
        assert_eq!(b["click"], "https://fb.example.com/ack/pg_01.sig");
        assert_eq!(b["tags"], json!(["rotating_light", "sev1", "checkout"]));
        let message = b["message"].as_str().unwrap();
        assert!(message.contains("Alert 42 (critical) on checkout: High error rate"));
        assert!(message.contains("Paging: alice (step 1)"));
        assert!(message.contains("opens a page with an Acknowledge button"));
        let actions = b["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 3);
        assert_eq!(
            actions[0],
            json!({"action": "view", "label": "Acknowledge",
                   "url": "https://fb.example.com/ack/pg_01.sig"})
        );
        assert_eq!(actions[1]["label"], "Runbook");
        assert!(actions.iter().all(|a| a["action"] == "view"));
    }

    #[test]
    fn ntfy_body_for_each_kind() {
        let b = parse(&ntfy_body(&drill(), "t"));
        assert!(b["title"].as_str().unwrap().starts_with("[DRILL] "));
        assert!(b["message"].as_str().unwrap().starts_with("[DRILL]"));
        assert_eq!(b["priority"], 5);
        assert!(b["tags"].as_array().unwrap().contains(&json!("drill")));
        let b = parse(&ntfy_body(&test_page(), "t"));
        assert_eq!(b["priority"], 3);
        assert_eq!(b["title"], "Test page from Firebreak");
        assert!(b.get("click").is_none());
        assert_eq!(b["actions"], json!([]));
        let b = parse(&ntfy_body(&reminder(), "t"));
        assert_eq!(b["priority"], 3);
        assert_eq!(b["title"], "INC-12 has had no update for 1h");
        // Without an ack link, a tap opens the incident.
        let v = PageView {
            ack_url: None,
            ..page()
        };
        let b = parse(&ntfy_body(&v, "t"));
        assert_eq!(b["click"], "https://fb.example.com/incidents/INC-12");
    }

    #[test]
    fn ntfy_body_is_bounded_on_any_input() {
        for v in odd_views() {
            let b = parse(&ntfy_body(&v, "t"));
            assert!(b["message"].as_str().unwrap().len() <= 4096);
            assert!(b["title"].as_str().unwrap().chars().count() <= 250);
            assert!(b["actions"].as_array().unwrap().len() <= 3);
            for tag in b["tags"].as_array().unwrap() {
                let tag = tag.as_str().unwrap();
                assert!(!tag.is_empty() && !tag.contains(',') && tag.chars().count() <= 64);
            }
        }
    }

    #[test]
    fn ntfy_publish_urls() {
        let split = |u: &str| ntfy_publish_url(u);
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(
            split("https://ntfy.example.com/oncall-alice"),
            pair("https://ntfy.example.com/", "oncall-alice")
        );
        assert_eq!(
            split("https://example.com/ntfy/oncall"),
            pair("https://example.com/ntfy/", "oncall")
        );
        assert_eq!(
            split("http://10.0.0.5:8080/a_B-9"),
            pair("http://10.0.0.5:8080/", "a_B-9")
        );
        assert_eq!(
            split("https://user:pw@ntfy.example.com/t"),
            pair("https://user:pw@ntfy.example.com/", "t")
        );
        let topic64 = "a".repeat(64);
        assert_eq!(
            split(&format!("https://ntfy.sh/{topic64}")),
            pair("https://ntfy.sh/", &topic64)
        );
        for bad in [
            "",
            "https://ntfy.example.com",
            "https://ntfy.example.com/",
            "https://ntfy.example.com/ntfy/",
            "https://ntfy.example.com/t?x=1",
            "https://ntfy.example.com/t#x",
            "https://ntfy.example.com/t?",
            "https://ntfy.example.com/a.b",
            "https://ntfy.example.com/a%20b",
            "https://ntfy.example.com/ä",
            "https://ntfy.example.com/a b",
            " https://ntfy.example.com/t",
            "https://ntfy.example.com/t\n",
            "ftp://ntfy.example.com/t",
            "ntfy.example.com/t",
            "https:///t",
            "https://ntfy.example.com/docs",
            "https://ntfy.example.com/v1",
            &format!("https://ntfy.sh/{}", "a".repeat(65)),
        ] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
    }

    // --- email ---

    #[test]
    fn email_bodies_carry_links_and_facts() {
        let e = email(&page());
        for body in [&e.text, &e.html] {
            for part in [
                "https://fb.example.com/ack/pg_01.sig",
                "https://wiki.example.com/runbooks/checkout",
                "checkout",
                "SEV1",
                "opens a page with an Acknowledge button",
                "High error rate",
            ] {
                assert!(body.contains(part), "{part} not in {body}");
            }
        }
        assert!(e.text.starts_with("SEV1 INC-12: Checkout is down\n"));
        assert!(
            e.text
                .contains("Acknowledge: https://fb.example.com/ack/pg_01.sig\n")
        );
        assert!(
            e.text
                .contains("Runbook: https://wiki.example.com/runbooks/checkout\n")
        );
        assert!(e.text.contains("Service: checkout\n"));
        assert!(e.text.contains("Severity: SEV1\n"));
        assert!(
            e.html
                .contains("<a href=\"https://fb.example.com/ack/pg_01.sig\">")
        );
        assert!(
            e.html
                .contains("<a href=\"https://wiki.example.com/runbooks/checkout\">")
        );
        assert!(
            e.html
                .contains("<title>[SEV1] INC-12: Checkout is down</title>")
        );

        let e = email(&drill());
        assert!(e.text.starts_with("[DRILL] "));
        assert!(e.html.contains("<h2>[DRILL] "));
        let e = email(&test_page());
        assert!(e.text.contains("This is a test page for alice."));
        assert!(!e.text.contains("Acknowledge"));
        let e = email(&reminder());
        assert!(e.text.starts_with("INC-12 has had no update for 1h\n"));
        let e = email(&alert_only());
        assert!(
            e.text
                .contains("Open alert: https://fb.example.com/alerts/42")
        );
    }

    #[test]
    fn email_html_escapes_user_text() {
        let mut v = evil_view();
        v.user = "<script>alert('x')</script>".into();
        let e = email(&v);
        assert!(!e.html.contains("<!channel>"));
        assert!(!e.html.contains("<https://evil"));
        assert!(!e.html.contains("<script>"));
        assert!(!e.html.contains("& \""));
        assert!(
            e.html
                .contains("&lt;!channel&gt; &lt;https://evil|click&gt; &amp; &quot;x&quot;")
        );
        assert!(
            e.html
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
        );
        // Plain text stays plain.
        assert!(e.text.contains(EVIL));
    }

    #[test]
    fn email_never_links_an_unsafe_url() {
        let mut v = page();
        v.runbook_url = Some("javascript:alert(1)".into());
        v.ack_url = Some("https://fb.example.com/ack?a=1&b=\"><script>".into());
        let e = email(&v);
        assert!(!e.html.contains("javascript:"));
        assert!(!e.text.contains("javascript:"));
        assert!(!e.html.contains("<script>"));
        assert!(
            e.html
                .contains("href=\"https://fb.example.com/ack?a=1&amp;b=%22%3E%3Cscript%3E\"")
        );
    }

    #[test]
    fn email_text_lines_are_ours() {
        let mut v = page();
        v.alert.as_mut().unwrap().summary =
            "x\nAcknowledge: https://evil.example/ack\r\nRunbook: https://evil".into();
        let e = email(&v);
        assert!(
            !e.text
                .lines()
                .any(|l| l.starts_with("Acknowledge: https://evil"))
        );
        assert!(
            !e.text
                .lines()
                .any(|l| l.starts_with("Runbook: https://evil"))
        );
        for v in odd_views() {
            let e = email(&v);
            assert!(!e.html.contains("<!channel>"));
            assert!(e.html.ends_with("</html>\n"));
        }
    }

    // --- everything at once ---

    #[test]
    fn every_channel_writes_valid_json_on_any_input() {
        for v in views().into_iter().chain(odd_views()) {
            for body in [
                webhook_body(&v),
                slack_body(&v),
                mattermost_body(&v),
                teams_body(&v),
                ntfy_body(&v, "t"),
            ] {
                assert!(parse(&body).is_object());
            }
            let _ = email(&v);
            let h = headline(&v);
            assert!(!h.is_empty() && !h.contains('\n'));
        }
    }

    #[test]
    fn drills_are_marked_everywhere() {
        for v in [
            drill(),
            PageView {
                drill: true,
                ..alert_only()
            },
            PageView {
                drill: true,
                ..reminder()
            },
        ] {
            let slack = parse(&slack_body(&v));
            assert!(slack["text"].as_str().unwrap().contains(DRILL));
            assert!(
                slack["blocks"][0]["text"]["text"]
                    .as_str()
                    .unwrap()
                    .contains(DRILL)
            );
            assert!(
                parse(&mattermost_body(&v))["text"]
                    .as_str()
                    .unwrap()
                    .contains(DRILL)
            );
            let teams = parse(&teams_body(&v));
            assert!(
                teams["attachments"][0]["content"]["body"][0]["text"]
                    .as_str()
                    .unwrap()
                    .contains(DRILL)
            );
            let ntfy = parse(&ntfy_body(&v, "t"));
            assert!(ntfy["title"].as_str().unwrap().starts_with(DRILL));
            assert!(ntfy["message"].as_str().unwrap().starts_with(DRILL));
            let e = email(&v);
            assert!(e.subject.starts_with(DRILL));
            assert!(e.text.starts_with(DRILL));
            assert!(e.html.contains(DRILL));
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        for v in views() {
            assert_eq!(slack_body(&v), slack_body(&v));
            assert_eq!(webhook_body(&v), webhook_body(&v));
            assert_eq!(email(&v), email(&v));
        }
    }

    // --- helpers ---

    #[test]
    fn positions_are_1_based_for_people() {
        assert_eq!(position(Some(0), Some(0)).as_deref(), Some("step 1"));
        assert_eq!(position(Some(0), None).as_deref(), Some("step 1"));
        assert_eq!(
            position(Some(1), Some(2)).as_deref(),
            Some("step 2, round 3")
        );
        assert_eq!(position(None, Some(1)).as_deref(), Some("round 2"));
        assert_eq!(position(None, Some(0)), None);
        assert_eq!(
            position(Some(u32::MAX), Some(u32::MAX)).as_deref(),
            Some("step 4294967296, round 4294967296")
        );
    }

    #[test]
    fn fit_cuts_between_escapes() {
        assert_eq!(fit("abc", 3, esc_plain), "abc");
        assert_eq!(fit("abcd", 3, esc_plain), "ab…");
        assert_eq!(fit("abcd", 1, esc_plain), "…");
        assert_eq!(fit("abcd", 0, esc_plain), "");
        assert_eq!(fit("", 5, esc_slack), "");
        assert_eq!(fit("a&b", 7, esc_slack), "a&amp;b");
        assert_eq!(fit("a&b", 6, esc_slack), "a…");
        assert_eq!(fit("𝄞𝄞𝄞", 2, esc_plain), "𝄞…");
        assert_eq!(fit("a[b", 10, esc_markdown), r"a\[b");
        assert_eq!(fit("@here", 10, esc_markdown), "@\u{200B}here");
        assert_eq!(fit("@", 10, esc_markdown), "@");
        assert_eq!(fit("a]b", 10, esc_card), "a]\u{200B}b");
        assert_eq!(fit("<'\">&", 100, esc_html), "&lt;&#39;&quot;&gt;&amp;");
    }

    #[test]
    fn fit_bytes_cuts_at_char_boundaries() {
        assert_eq!(fit_bytes("abc", 3), "abc");
        assert_eq!(fit_bytes("abcdef", 5), "ab…");
        assert_eq!(fit_bytes("ééé", 5), "é…");
        assert_eq!(fit_bytes("ééé", 4), "…");
        assert_eq!(fit_bytes("ééé", 6), "ééé");
        assert!(fit_bytes(&"𝄞".repeat(2000), 3900).len() <= 3900);
        assert_eq!(fit_bytes("abcdef", 1), "…");
    }

    #[test]
    fn one_line_cleans() {
        assert_eq!(one_line("  a\r\n\tb  \u{0000} c "), "a b c");
        assert_eq!(one_line("\u{202E}abc\u{202C}"), "abc");
        assert_eq!(one_line("a\u{2028}b\u{85}c"), "a b c");
        assert_eq!(one_line("\n\n"), "");
    }

    #[test]
    fn safe_urls() {
        assert_eq!(
            safe_url("https://wiki.example.com/a_(b)|c d?x=<y>&z=[1]").as_deref(),
            Some("https://wiki.example.com/a_%28b%29%7Cc%20d?x=%3Cy%3E&z=%5B1%5D")
        );
        assert_eq!(
            safe_url("HTTP://[::1]:8080/x").as_deref(),
            Some("HTTP://[::1]:8080/x")
        );
        assert_eq!(
            safe_url(" https://a.example/ ").as_deref(),
            Some("https://a.example/")
        );
        assert_eq!(
            safe_url("https://a.example").as_deref(),
            Some("https://a.example")
        );
        for bad in [
            "",
            "javascript:alert(1)",
            "data:text/html,x",
            "//a.example/x",
            "https://",
            "https://a.example/\nx",
            "https://a>b.example/",
            "https://a.example/a\u{3000}b",
        ] {
            assert_eq!(safe_url(bad), None, "{bad:?}");
        }
        assert_eq!(
            safe_url(&format!("https://a.example/{}", "x".repeat(2000))),
            None
        );
    }

    #[test]
    fn long_or_unsafe_links_are_left_out_of_chat_but_not_the_webhook() {
        let mut v = page();
        v.runbook_url = Some(format!("https://wiki.example.com/{}", "x".repeat(5000)));
        let slack = slack_body(&v);
        assert!(!slack.contains("|Runbook>"));
        assert!(slack.contains("|Acknowledge>"));
        assert!(!teams_body(&v).contains("\"Runbook\""));
        assert_eq!(
            parse(&webhook_body(&v))["runbook_url"]
                .as_str()
                .unwrap()
                .len(),
            5025
        );
        let mut v = page();
        v.ack_url = Some("https://fb.example.com/ack?a=1&b=2".into());
        let slack = parse(&slack_body(&v));
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .contains("<https://fb.example.com/ack?a=1&amp;b=2|Acknowledge>")
        );
        let teams = parse(&teams_body(&v));
        assert_eq!(
            teams["attachments"][0]["content"]["actions"][0]["url"],
            "https://fb.example.com/ack?a=1&b=2"
        );
    }
}
