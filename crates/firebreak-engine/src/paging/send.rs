//! Sending one page to one contact method, through the SSRF-guarded client (webhooks, chat,
//! ntfy) or SMTP (email). Every HTTP answer goes through the spine's one classification, so
//! a 4xx is not retried and a 5xx or a timeout is; Slack's text error bodies
//! (`channel_not_found`, ...) are kept as the reason.

use std::time::Duration;

use firebreak_domain::contact::ContactKind;
use firebreak_domain::escalation::EscalationStatus;
use firebreak_outbound::delivery::{self as verdicts, RetryPolicy, Verdict};
use firebreak_outbound::signing;
use firebreak_store::{Attempt, ContactRecord, Message, Outcome};
use http::{HeaderMap, HeaderValue, header};
use jiff::{SignedDuration, Timestamp};

use super::escalate::PagePayload;
use crate::Firebreak;
use crate::subscribers::failed;

/// What one attempt did.
pub(crate) struct Sent {
    pub verdict: Verdict,
    pub status: Option<u16>,
    pub detail: Option<String>,
    pub duration_ms: i64,
}

impl Sent {
    pub fn delivered(&self) -> bool {
        matches!(self.verdict, Verdict::Delivered)
    }

    fn failed(reason: impl Into<String>) -> Sent {
        let reason = reason.into();
        Sent {
            verdict: Verdict::Failed {
                reason: reason.clone(),
            },
            status: None,
            detail: Some(reason),
            duration_ms: 0,
        }
    }
}

/// The SMTP client pages go out through.
pub(crate) type Smtp = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;

/// Why an SMTP attempt failed, in a line: the reply code and text, or the connection problem.
/// Never the SMTP URL (it may hold a password).
fn smtp_reason(e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    format!("SMTP: {text}")
}

/// The email for a page: plain text and HTML alternatives, with a Message-ID from the page id.
fn email_message(from: &str, to: &str, page: &PagePayload) -> Result<lettre::Message, String> {
    use lettre::message::{Mailbox, MultiPart};
    let from: Mailbox = from
        .parse()
        .map_err(|e| format!("email.from is not a usable address: {e}"))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("the contact method's address is not usable: {e}"))?;
    let subject = page
        .email_subject
        .clone()
        .unwrap_or_else(|| "Firebreak page".into());
    let html = page.email_html.clone().unwrap_or_default();
    let domain = from.email.domain().to_string();
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{}@{domain}>", page.id)))
        .multipart(MultiPart::alternative_plain_html(page.body.clone(), html))
        .map_err(|e| format!("could not build the email: {e}"))
}

impl Firebreak {
    /// Sends a rendered page to `contact` once.
    pub(crate) async fn deliver(
        &self,
        contact: &ContactRecord,
        page: &PagePayload,
        now: Timestamp,
    ) -> Sent {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let url = match contact.kind {
            ContactKind::Email => return self.send_email(contact, page).await,
            ContactKind::Webhook => {
                let Some(secret) = contact.secret.as_deref() else {
                    return Sent::failed("the webhook contact method has no signing secret");
                };
                match signing::headers(&[secret], &page.id, now.as_second(), page.body.as_bytes()) {
                    Ok(signed) => headers.extend(signed),
                    Err(e) => return Sent::failed(format!("could not sign the page: {e}")),
                }
                contact.target.clone()
            }
            ContactKind::Ntfy => {
                let Some((root, _)) = super::render::ntfy_publish_url(&contact.target) else {
                    return Sent::failed("the ntfy topic URL is not valid");
                };
                if let Some(token) = contact.secret.as_deref() {
                    match HeaderValue::from_str(&format!("Bearer {token}")) {
                        Ok(mut v) => {
                            v.set_sensitive(true);
                            headers.insert(header::AUTHORIZATION, v);
                        }
                        Err(_) => {
                            return Sent::failed("the ntfy token is not a valid header value");
                        }
                    }
                }
                root
            }
            ContactKind::Slack | ContactKind::Mattermost | ContactKind::Teams => {
                contact.target.clone()
            }
        };
        let answer = self
            .paging
            .client
            .post(&url, &headers, page.body.clone().into_bytes())
            .await;
        let recorded = verdicts::Attempt::record(now, &answer);
        let verdict = verdicts::classify(&answer);
        // Slack means `200 ok`; any other 200 body is an error in its words
        // (`invalid_payload`, `channel_not_found`, ...), and sending it again would not help.
        if contact.kind == ContactKind::Slack
            && let (Verdict::Delivered, Ok(a)) = (&verdict, &answer)
            && a.body_excerpt.trim() != "ok"
        {
            let said = a.body_excerpt.trim();
            return Sent {
                verdict: Verdict::Failed {
                    reason: format!("Slack answered {}: {said}", a.status.as_u16()),
                },
                status: Some(a.status.as_u16()),
                detail: Some(format!("Slack answered {}: {said}", a.status.as_u16())),
                duration_ms: recorded.duration.as_millis() as i64,
            };
        }
        Sent {
            verdict,
            status: recorded.status.map(|s| s.as_u16()),
            detail: recorded.error.or_else(|| {
                answer
                    .as_ref()
                    .ok()
                    .map(|a| a.body_excerpt.trim().to_string())
                    .filter(|t| !t.is_empty())
            }),
            duration_ms: recorded.duration.as_millis() as i64,
        }
    }

    /// Sends an email page over SMTP. A 4xx reply is retried, a 5xx reply fails, and a
    /// connection that fails or times out is retried. The `Message-ID` comes from the page's
    /// id, so a retry is the same message to the mail system.
    async fn send_email(&self, contact: &ContactRecord, page: &PagePayload) -> Sent {
        let Some((_, from)) = &self.paging.email else {
            return Sent::failed(
                "email is not set up on this Firebreak: set email.smtp_url and email.from in firebreak.yaml (or FIREBREAK_SMTP_URL and FIREBREAK_EMAIL_FROM)",
            );
        };
        let smtp = match self.paging.smtp.get_or_init(|| self.smtp_client()) {
            Ok(smtp) => smtp,
            Err(reason) => return Sent::failed(reason.clone()),
        };
        let message = match email_message(from, &contact.target, page) {
            Ok(m) => m,
            Err(reason) => return Sent::failed(reason),
        };
        self.smtp_send(smtp, message).await
    }

    /// Sends a status page subscriber's email (or a stakeholder's): plain text and HTML, with
    /// `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058) when it has an unsubscribe
    /// link, so mail clients offer one-click unsubscribe.
    /// Classified like email pages: 4xx retried, 5xx failed.
    pub(crate) async fn send_list_mail(&self, mail: &crate::subscribers::MailPayload) -> Sent {
        use lettre::message::header::{HeaderName, HeaderValue as MailHeader};
        use lettre::message::{Mailbox, MultiPart};
        let Some((_, from)) = &self.paging.email else {
            return Sent::failed(
                "email is not set up on this Firebreak: set email.smtp_url and email.from in firebreak.yaml",
            );
        };
        let smtp = match self.paging.smtp.get_or_init(|| self.smtp_client()) {
            Ok(smtp) => smtp,
            Err(reason) => return Sent::failed(reason.clone()),
        };
        let (Ok(from), Ok(to)) = (from.parse::<Mailbox>(), mail.to.parse::<Mailbox>()) else {
            return Sent::failed("the sender or the subscriber's address is not usable");
        };
        let domain = from.email.domain().to_string();
        let header = |name: &'static str, value: String| {
            MailHeader::new(HeaderName::new_from_ascii_str(name), value)
        };
        let mut message = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{}@{domain}>", mail.message_id)));
        if let Some(unsubscribe) = &mail.unsubscribe {
            message = message
                .raw_header(header("List-Unsubscribe", format!("<{unsubscribe}>")))
                .raw_header(header(
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        let message = message.multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ));
        let message = match message {
            Ok(m) => m,
            Err(e) => return Sent::failed(format!("could not build the email: {e}")),
        };
        self.smtp_send(smtp, message).await
    }

    async fn smtp_send(&self, smtp: &Smtp, message: lettre::Message) -> Sent {
        let started = std::time::Instant::now();
        let sent = lettre::AsyncTransport::send(smtp, message).await;
        let duration_ms = started.elapsed().as_millis() as i64;
        let code = |e: &lettre::transport::smtp::Error| {
            e.status().and_then(|c| c.to_string().parse::<u16>().ok())
        };
        match sent {
            Ok(reply) => Sent {
                verdict: Verdict::Delivered,
                status: reply.code().to_string().parse().ok(),
                detail: reply.message().next().map(|m| m.to_string()),
                duration_ms,
            },
            Err(e) if e.is_permanent() => Sent {
                verdict: Verdict::Failed {
                    reason: smtp_reason(&e),
                },
                status: code(&e),
                detail: Some(smtp_reason(&e)),
                duration_ms,
            },
            Err(e) => Sent {
                verdict: Verdict::RetryLater {
                    after: None,
                    reason: smtp_reason(&e),
                },
                status: code(&e),
                detail: Some(smtp_reason(&e)),
                duration_ms,
            },
        }
    }

    fn smtp_client(&self) -> Result<Smtp, String> {
        let Some((url, _)) = &self.paging.email else {
            return Err("email is not set up".into());
        };
        let timeout =
            Duration::try_from(self.paging.attempt_timeout).unwrap_or(Duration::from_secs(10));
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            .map(|b| b.timeout(Some(timeout)).build())
            .map_err(|e| format!("email.smtp_url is not usable: {e}"))
    }

    /// Sends one claimed page and says what to record, counting the attempt in the page
    /// delivery metric. A page whose escalation was acknowledged or resolved before it went
    /// out is not sent.
    pub(crate) async fn send_page(&self, message: &Message) -> (Attempt, Outcome) {
        let now = self.clock.now();
        let Ok(page) = serde_json::from_str::<PagePayload>(&message.payload) else {
            crate::metrics::page_attempted("", Outcome::Failed);
            return failed(now, "the stored page is unreadable".into());
        };
        if let Some(reason) = self.escalation_ended(&page).await {
            crate::metrics::page_cancelled(&page.method);
            return failed(now, reason);
        }
        let (attempt, outcome) = self.page_once(message, &page, now).await;
        crate::metrics::page_attempted(&page.method, outcome);
        (attempt, outcome)
    }

    /// Why `page` must not be sent: its escalation was acknowledged or resolved.
    async fn escalation_ended(&self, page: &PagePayload) -> Option<String> {
        let id = page.escalation.as_ref()?;
        match self.store.get_escalation(id).await {
            Ok(Some(e))
                if !matches!(
                    e.status,
                    EscalationStatus::Active | EscalationStatus::Exhausted
                ) =>
            {
                Some(format!(
                    "not sent: the escalation was {} before this page went out",
                    e.status
                ))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not read an escalation before paging; sending anyway");
                None
            }
        }
    }

    /// One attempt to send `page` to its contact method.
    async fn page_once(
        &self,
        message: &Message,
        page: &PagePayload,
        now: Timestamp,
    ) -> (Attempt, Outcome) {
        // The contact method as the index knows it, else as the store does (one added a moment
        // ago on another instance).
        let known = self.paging.index().contact(&page.contact).cloned();
        let found = match known {
            Some(c) => Ok(Some(c)),
            None => self.store.get_contact(&page.contact).await,
        };
        let contact = match found {
            Ok(Some(c)) => c,
            Ok(None) => return failed(now, "the contact method was removed".into()),
            Err(e) => {
                return (
                    Attempt {
                        at: now,
                        status_code: None,
                        error: Some(format!("could not read the contact method: {e}")),
                        duration_ms: 0,
                    },
                    Outcome::RetryAt(now + SignedDuration::from_secs(2)),
                );
            }
        };
        let sent = self.deliver(&contact, page, now).await;
        let attempt = Attempt {
            at: now,
            status_code: sent.status,
            error: (!sent.delivered()).then(|| sent.detail.clone()).flatten(),
            duration_ms: sent.duration_ms,
        };
        let outcome = match sent.verdict {
            Verdict::Delivered => Outcome::Delivered,
            Verdict::Failed { .. } => Outcome::Failed,
            Verdict::RetryLater { after, .. } => {
                let r = self.paging.retry;
                let std = |d: SignedDuration| Duration::try_from(d).unwrap_or(Duration::ZERO);
                let policy = RetryPolicy {
                    first_delay: std(r.first_delay),
                    max_delay: std(r.max_delay),
                    give_up_after: std(r.give_up_after),
                };
                let attempts = u32::try_from(message.attempts).unwrap_or(u32::MAX);
                let first = message.deadline_at - r.give_up_after;
                // From the attempt's end: a timed-out try must not eat the wait.
                match policy.next_attempt(attempts, after, first, self.clock.now()) {
                    Some(at) if at <= message.deadline_at => Outcome::RetryAt(at),
                    _ => Outcome::Dead,
                }
            }
        };
        (attempt, outcome)
    }
}
