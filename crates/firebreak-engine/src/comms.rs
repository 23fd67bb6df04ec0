//! Incident channels (`comms.channels`): Slack, Mattermost and Teams webhooks that hear about
//! the incidents they take (by service and severity). A change's posts are outbox messages
//! (kind [`CHAT`], bulk) written in the change's own unit of work, rendered once, so posting
//! never holds up the API's answer and a retry sends the same bytes. The webhook URL, a
//! secret, is never stored with the message: the sender looks the channel up by name.
//!
//! Stakeholders (`comms.stakeholders`) are people emailed the internal news of the incidents
//! they take: the declaration, every internal status update and the resolution. Each email is
//! an outbox message (kind [`STAKEHOLDER_MAIL`], bulk) written in the change's unit of work,
//! rendered once, and sent through the `email:` SMTP server like subscriber mail.

use firebreak_domain::config::{Channel, ChannelKind, Stakeholder};
use firebreak_domain::status_page::Audience;
use firebreak_domain::{Incident, Name, Status, TimelineEvent};
use firebreak_outbound::delivery::{self as verdicts, Verdict};
use firebreak_store::outbox::{Attempt, Message, NewMessage, Outcome};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Firebreak;
use crate::paging::render::{ChatPost, chat_mattermost, chat_slack, chat_teams, escape_html};
use crate::subscribers::MailPayload;

/// The outbox kind of a post to an incident channel.
pub const CHAT: &str = "chat";
/// The outbox kind of an email to a stakeholder.
pub const STAKEHOLDER_MAIL: &str = "stakeholder_mail";

/// What a chat message holds: the channel's name and the exact body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPayload {
    pub channel: String,
    pub body: String,
}

/// What channels hear about a change, from the timeline events it wrote: one post for the
/// change, or none when nothing in it is news for a channel.
pub fn post_for(
    incident: &Incident,
    events: &[TimelineEvent],
    actor: &str,
    incident_url: Option<String>,
    now: Timestamp,
) -> Option<ChatPost> {
    let id = incident.number.to_string();
    let title = &incident.title;
    let mut headline = None;
    let mut lines = Vec::new();
    let mut urgent = false;
    let mut commander_needed = false;
    for e in events {
        match e {
            TimelineEvent::Declared { .. } => {
                headline = Some(format!("{} {id} declared: {title}", incident.severity));
                urgent = true;
                if !incident.summary.trim().is_empty() {
                    lines.push(incident.summary.clone());
                }
            }
            TimelineEvent::CommanderNeeded { role_name, .. } => {
                commander_needed = true;
                lines.push(format!("No {role_name} yet: someone should take it."));
            }
            TimelineEvent::SeverityChanged { from, to, reason } => {
                headline.get_or_insert_with(|| format!("{id} is now {to} (was {from}): {title}"));
                urgent |= incident.severity == *to;
                if let Some(r) = reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    lines.push(format!("Why: {r}"));
                }
            }
            TimelineEvent::StatusChanged { to, .. } | TimelineEvent::Reopened { to, .. } => {
                let text = if incident.status == Status::Resolved {
                    let open_for = now.duration_since(incident.declared_at);
                    lines.push(format!("Open for {}.", spoken(open_for)));
                    format!("{id} resolved: {title}")
                } else if matches!(e, TimelineEvent::Reopened { .. }) {
                    urgent = true;
                    format!("{id} reopened ({to}): {title}")
                } else {
                    format!("{id} is {to}: {title}")
                };
                headline.get_or_insert(text);
            }
            TimelineEvent::RoleAssigned {
                role_name, user, ..
            } => {
                headline.get_or_insert_with(|| format!("{user} is {role_name} of {id}: {title}"));
                if !headline.as_ref().is_some_and(|h| h.contains(user.as_str())) {
                    lines.push(format!("{user} is {role_name}."));
                }
            }
            TimelineEvent::RoleRemoved {
                role_name, user, ..
            } => {
                headline.get_or_insert_with(|| {
                    format!("{user} is no longer {role_name} of {id}: {title}")
                });
            }
            TimelineEvent::BreakGlassGranted {
                user,
                role,
                expires_at,
                reason,
                ..
            } => {
                urgent = true;
                headline.get_or_insert_with(|| {
                    format!("Break-glass on {id}: {user} holds {role} until {expires_at}")
                });
                lines.push(format!("Why: {reason}"));
            }
            TimelineEvent::BreakGlassRequested {
                user,
                role,
                duration,
                reason,
                ..
            } => {
                headline.get_or_insert_with(|| {
                    format!("Break-glass on {id}: {user} asks for {role} for {duration}")
                });
                lines.push(format!("Why: {reason}"));
                lines.push("The Incident Commander must approve it.".into());
            }
            TimelineEvent::StatusUpdate(u) if u.audience == Audience::Internal => {
                headline.get_or_insert_with(|| format!("Update on {id}: {title}"));
                lines.push(u.body.clone());
            }
            _ => {}
        }
    }
    let headline = headline?;
    let commander = incident
        .roles
        .get(firebreak_domain::config::COMMANDER)
        .cloned()
        .unwrap_or_else(|| {
            if commander_needed {
                "nobody yet".into()
            } else {
                "-".into()
            }
        });
    let services = incident
        .services
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Some(ChatPost {
        headline,
        drill: incident.drill,
        lines,
        facts: vec![
            ("Severity", incident.severity.clone()),
            ("Status", incident.status.to_string()),
            ("Commander", commander),
            ("Services", services),
            ("By", actor.to_string()),
        ],
        incident_url,
        urgent,
        at: now,
    })
}

/// A span as people say it: `1h 12m`, `12m`, `45s`.
fn spoken(d: jiff::SignedDuration) -> String {
    let s = d.as_secs().max(0);
    let (h, m) = (s / 3600, (s % 3600) / 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// Whom an incident is for, as channels choose: its severity and services at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub severity: String,
    pub services: Vec<Name>,
}

impl Reach {
    pub fn of(incident: &Incident) -> Reach {
        Reach {
            severity: incident.severity.clone(),
            services: incident.services.clone(),
        }
    }
}

/// Every reach an incident had, in order and each once, from its timeline: the declaration's,
/// then the one after each severity or services change. A channel that took any of them was
/// told about the incident (the declaration, or the change that brought it in, is news).
pub fn reaches<'e>(events: impl IntoIterator<Item = &'e TimelineEvent>) -> Vec<Reach> {
    use firebreak_domain::timeline::serde_json_free::Value;
    let mut out: Vec<Reach> = Vec::new();
    let mut at: Option<Reach> = None;
    for e in events {
        let next = match (e, &at) {
            (
                TimelineEvent::Declared {
                    severity, services, ..
                },
                _,
            ) => Reach {
                severity: severity.clone(),
                services: services
                    .iter()
                    .filter_map(|s| Name::parse(s).ok())
                    .collect(),
            },
            (TimelineEvent::SeverityChanged { to, .. }, Some(r)) => Reach {
                severity: to.clone(),
                services: r.services.clone(),
            },
            (
                TimelineEvent::FieldEdited {
                    field,
                    to: Value::List(to),
                    ..
                },
                Some(r),
            ) if field == "services" => Reach {
                severity: r.severity.clone(),
                services: to.iter().filter_map(|s| Name::parse(s).ok()).collect(),
            },
            _ => continue,
        };
        if !out.contains(&next) {
            out.push(next.clone());
        }
        at = Some(next);
    }
    out
}

/// The channels' outbox messages for `post` about `incident`: one per channel that takes it
/// now, or took it at a reach in `before` (so a channel that heard of an incident hears it
/// leave: a downgrade below its severities, a service moved off; and, given every reach the
/// incident had, its resolution however long after it left).
pub fn messages(
    channels: &[Channel],
    incident: &Incident,
    before: &[Reach],
    post: &ChatPost,
    give_up_after: jiff::SignedDuration,
    key: &str,
) -> Vec<NewMessage> {
    channels
        .iter()
        .filter(|c| {
            c.takes(&incident.severity, &incident.services)
                || before.iter().any(|b| c.takes(&b.severity, &b.services))
        })
        .map(|c| {
            let body = match c.kind {
                ChannelKind::Slack => chat_slack(post),
                ChannelKind::Mattermost => chat_mattermost(post),
                ChannelKind::Teams => chat_teams(post),
            };
            let payload = serde_json::to_string(&ChatPayload {
                channel: c.name.clone(),
                body,
            })
            .unwrap_or_default();
            NewMessage {
                kind: CHAT.to_string(),
                subject: c.name.clone(),
                idempotency_key: format!("{CHAT}:{}:{key}", c.name),
                payload,
                due_at: post.at,
                deadline_at: post.at + give_up_after,
                created_at: post.at,
                priority: firebreak_store::Priority::Bulk,
            }
        })
        .collect()
}

/// What stakeholders are emailed about a change: its subject (without the recipient) and the
/// lines of its body, or `None` when nothing in the change is news for them. News for
/// stakeholders is the declaration, an internal status update and the resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakeholderNews {
    pub subject: String,
    /// Paragraphs: the update's text, the summary, how long the incident was open.
    pub paragraphs: Vec<String>,
    pub facts: Vec<(&'static str, String)>,
    pub incident_url: Option<String>,
}

/// The stakeholders' email about a change, from the timeline events it wrote.
pub fn stakeholder_news(
    incident: &Incident,
    events: &[TimelineEvent],
    incident_url: Option<String>,
    now: Timestamp,
) -> Option<StakeholderNews> {
    let mut what: Option<(u8, &str)> = None;
    let mut paragraphs = Vec::new();
    // The most important news names the email: declared, then resolved, then an update.
    let mut name = |rank: u8, text: &'static str| {
        if what.is_none_or(|(r, _)| rank < r) {
            what = Some((rank, text));
        }
    };
    for e in events {
        match e {
            TimelineEvent::Declared { .. } => {
                name(0, "Declared");
                if !incident.summary.trim().is_empty() {
                    paragraphs.push(incident.summary.clone());
                }
            }
            TimelineEvent::StatusChanged { .. } if incident.status == Status::Resolved => {
                name(1, "Resolved");
                let open_for = now.duration_since(incident.declared_at);
                paragraphs.push(format!("Open for {}.", spoken(open_for)));
            }
            TimelineEvent::StatusUpdate(u) if u.audience == Audience::Internal => {
                name(2, "Internal update");
                paragraphs.push(u.body.clone());
            }
            _ => {}
        }
    }
    let (_, what) = what?;
    let drill = if incident.drill { "[DRILL] " } else { "" };
    let subject = format!(
        "{drill}[{} {}] {what}: {}",
        incident.number, incident.severity, incident.title
    );
    let commander = incident
        .roles
        .get(firebreak_domain::config::COMMANDER)
        .cloned()
        .unwrap_or_else(|| "nobody yet".into());
    let services = incident
        .services
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Some(StakeholderNews {
        subject,
        paragraphs,
        facts: vec![
            ("Status", incident.status.to_string()),
            ("Severity", incident.severity.clone()),
            (
                "Services",
                if services.is_empty() {
                    "-".into()
                } else {
                    services
                },
            ),
            ("Incident Commander", commander),
        ],
        incident_url,
    })
}

/// The email `news` makes for `to`, as plain text and HTML.
fn stakeholder_mail(
    news: &StakeholderNews,
    to: &Stakeholder,
    drill: bool,
    message_id: String,
) -> MailPayload {
    let mut text = String::new();
    let mut html = String::from("<!doctype html><html><body>");
    if let Some(name) = &to.name {
        text.push_str(&format!("Hello {name},\n\n"));
        html.push_str(&format!("<p>Hello {},</p>", escape_html(name)));
    }
    if drill {
        text.push_str("This is a drill.\n\n");
        html.push_str("<p><strong>This is a drill.</strong></p>");
    }
    for p in &news.paragraphs {
        text.push_str(p.trim_end());
        text.push_str("\n\n");
        html.push_str(&format!(
            "<p>{}</p>",
            escape_html(p.trim_end()).replace('\n', "<br>")
        ));
    }
    html.push_str("<table>");
    for (label, value) in &news.facts {
        text.push_str(&format!("{label}: {value}\n"));
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape_html(label),
            escape_html(value)
        ));
    }
    html.push_str("</table>");
    if let Some(url) = &news.incident_url {
        text.push_str(&format!("\nThe incident: {url}\n"));
        html.push_str(&format!(
            "<p><a href=\"{u}\">{u}</a></p>",
            u = escape_html(url)
        ));
    }
    text.push_str(
        "\nYou get this email as a stakeholder listed in this Firebreak's comms.stakeholders.\n",
    );
    html.push_str(
        "<p><small>You get this email as a stakeholder listed in this Firebreak's \
         comms.stakeholders.</small></p></body></html>",
    );
    MailPayload {
        to: to.email.clone(),
        subject: news.subject.clone(),
        text,
        html,
        unsubscribe: None,
        message_id,
    }
}

/// The stakeholders' outbox messages for `news` about `incident`: one per stakeholder that
/// takes it now, or took it `before` the change (as for channels).
pub fn stakeholder_messages(
    stakeholders: &[Stakeholder],
    incident: &Incident,
    before: &[Reach],
    news: &StakeholderNews,
    give_up_after: jiff::SignedDuration,
    key: &str,
    now: Timestamp,
) -> Vec<NewMessage> {
    stakeholders
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.takes(&incident.severity, &incident.services)
                || before.iter().any(|b| s.takes(&b.severity, &b.services))
        })
        .map(|(i, s)| {
            let mail = stakeholder_mail(news, s, incident.drill, format!("{key}.{i}"));
            NewMessage {
                kind: STAKEHOLDER_MAIL.to_string(),
                subject: s.email.clone(),
                idempotency_key: format!("{STAKEHOLDER_MAIL}:{}:{key}", s.email),
                payload: serde_json::to_string(&mail).unwrap_or_default(),
                due_at: now,
                deadline_at: now + give_up_after,
                created_at: now,
                priority: firebreak_store::Priority::Bulk,
            }
        })
        .collect()
}

/// The timeline kinds [`reaches`] reads.
const REACH_KINDS: [&str; 3] = ["declared", "severity_changed", "field_edited"];

/// Every reach incident `number` had, read from its timeline in `tx` (the resolving unit of
/// work, after the incident is locked, so no change to it is missed): the channels and
/// stakeholders that took the incident at any of them hear it resolved.
pub(crate) async fn earlier_reaches(
    tx: &mut (dyn firebreak_store::Tx + '_),
    number: firebreak_domain::IncidentNumber,
) -> Result<Vec<Reach>, firebreak_store::StoreError> {
    let entries = tx.timeline_of_kinds(number, &REACH_KINDS).await?;
    Ok(reaches(entries.iter().map(|e| &e.event)))
}

impl Firebreak {
    /// Whether anyone hears of incidents outside the timeline (channels or stakeholders).
    pub(crate) fn has_comms(&self) -> bool {
        !self.config.comms.channels.is_empty() || !self.config.comms.stakeholders.is_empty()
    }

    /// Everything a change tells people outside the timeline, for the change's own unit of
    /// work: the channels' posts and the stakeholders' emails.
    pub(crate) fn comms_news(
        &self,
        incident: &Incident,
        before: &[Reach],
        events: &[TimelineEvent],
        actor: &str,
        now: Timestamp,
    ) -> Vec<NewMessage> {
        let mut messages = self.chat_news(incident, before, events, actor, now);
        messages.extend(self.stakeholder_news(incident, before, events, now));
        messages
    }

    /// The emails that tell the stakeholders who take the incident about a change. Empty
    /// when none takes it or nothing is news for them.
    fn stakeholder_news(
        &self,
        incident: &Incident,
        before: &[Reach],
        events: &[TimelineEvent],
        now: Timestamp,
    ) -> Vec<NewMessage> {
        let stakeholders = &self.config.comms.stakeholders;
        if stakeholders.is_empty() {
            return vec![];
        }
        let url = self
            .config
            .server
            .public_url
            .as_deref()
            .map(|base| crate::incident_page_url(base, incident.number));
        let Some(news) = stakeholder_news(incident, events, url, now) else {
            return vec![];
        };
        let Ok(key) = crate::time_ordered_id("mail", now) else {
            return vec![];
        };
        stakeholder_messages(
            stakeholders,
            incident,
            before,
            &news,
            self.events.retry.give_up_after,
            &key,
            now,
        )
    }

    /// Sends one stakeholder email through the `email:` SMTP server; 4xx replies and lost
    /// connections are retried by the spine's schedule, 5xx replies fail.
    pub(crate) async fn send_stakeholder_mail(&self, message: &Message) -> (Attempt, Outcome) {
        let now = self.clock.now();
        let Ok(mail) = serde_json::from_str::<MailPayload>(&message.payload) else {
            return crate::subscribers::failed(now, "the stored email is unreadable".into());
        };
        let sent = self.send_list_mail(&mail).await;
        self.settle(message, now, sent)
    }

    /// The outbox messages that tell the incident's channels about a change, for the change's
    /// own unit of work. Empty when no channel takes the incident or nothing is news. `before`
    /// is whom the incident was for before the change, when the change may have moved it (for
    /// a resolution, every reach it ever had).
    pub(crate) fn chat_news(
        &self,
        incident: &Incident,
        before: &[Reach],
        events: &[TimelineEvent],
        actor: &str,
        now: Timestamp,
    ) -> Vec<NewMessage> {
        let channels = &self.config.comms.channels;
        if channels.is_empty() {
            return vec![];
        }
        let url = self
            .config
            .server
            .public_url
            .as_deref()
            .map(|base| crate::incident_page_url(base, incident.number));
        let Some(post) = post_for(incident, events, actor, url, now) else {
            return vec![];
        };
        let Ok(key) = crate::time_ordered_id("news", now) else {
            return vec![];
        };
        messages(
            channels,
            incident,
            before,
            &post,
            self.events.retry.give_up_after,
            &key,
        )
    }

    /// Posts one chat message to its channel, through the SSRF-guarded client. Slack's `200
    /// ok` is the only success Slack means; its text errors fail the message.
    pub(crate) async fn send_chat(&self, message: &Message) -> (Attempt, Outcome) {
        let now = self.clock.now();
        let failed = |reason: String| {
            (
                Attempt {
                    at: now,
                    status_code: None,
                    error: Some(reason),
                    duration_ms: 0,
                },
                Outcome::Failed,
            )
        };
        let Ok(payload) = serde_json::from_str::<ChatPayload>(&message.payload) else {
            return failed("the stored post is unreadable".into());
        };
        let Some(channel) = self
            .config
            .comms
            .channels
            .iter()
            .find(|c| c.name == payload.channel)
        else {
            return failed(format!(
                "the channel `{}` is no longer in comms.channels",
                payload.channel
            ));
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let answer = self
            .outbound
            .post(&channel.url, &headers, payload.body.into_bytes())
            .await;
        let recorded = verdicts::Attempt::record(now, &answer);
        let mut attempt = Attempt {
            at: now,
            status_code: recorded.status.map(|s| s.as_u16()),
            error: recorded.error,
            duration_ms: recorded.duration.as_millis() as i64,
        };
        let mut verdict = verdicts::classify(&answer);
        if channel.kind == ChannelKind::Slack
            && let (Verdict::Delivered, Ok(a)) = (&verdict, &answer)
            && a.body_excerpt.trim() != "ok"
        {
            let said = format!(
                "Slack answered {}: {}",
                a.status.as_u16(),
                a.body_excerpt.trim()
            );
            attempt.error = Some(said.clone());
            verdict = Verdict::Failed { reason: said };
        }
        // Retries count from the attempt's end: a timed-out try must not eat the wait.
        (attempt, self.next_after(message, self.clock.now(), verdict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebreak_domain::timeline::serde_json_free::Value;

    fn reach(severity: &str, services: &[&str]) -> Reach {
        Reach {
            severity: severity.into(),
            services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
        }
    }

    #[test]
    fn reaches_follow_the_declaration_and_each_move() {
        let list = |v: &[&str]| Value::List(v.iter().map(|s| s.to_string()).collect());
        let events = [
            TimelineEvent::Declared {
                title: "t".into(),
                severity: "SEV2".into(),
                services: vec!["checkout".into()],
                drill: false,
            },
            TimelineEvent::Note { body: "n".into() },
            TimelineEvent::SeverityChanged {
                from: "SEV2".into(),
                to: "SEV3".into(),
                reason: None,
            },
            TimelineEvent::FieldEdited {
                field: "title".into(),
                from: Value::Text(None),
                to: Value::Text(Some("u".into())),
            },
            TimelineEvent::FieldEdited {
                field: "services".into(),
                from: list(&["checkout"]),
                to: list(&["search"]),
            },
            // Back where it was: listed once.
            TimelineEvent::FieldEdited {
                field: "services".into(),
                from: list(&["search"]),
                to: list(&["checkout"]),
            },
        ];
        assert_eq!(
            reaches(&events),
            [
                reach("SEV2", &["checkout"]),
                reach("SEV3", &["checkout"]),
                reach("SEV3", &["search"]),
            ]
        );
    }
}
