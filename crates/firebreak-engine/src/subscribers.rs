//! The status page's subscribers: email with double opt-in, and signed webhooks an admin adds.
//!
//! - Subscribing answers the same whatever the address, so addresses cannot be enumerated,
//!   and takes the same time: the form only queues a `status_subscribe` message, and the
//!   worker decides. A new address gets a confirmation email; an unconfirmed one gets another
//!   at most once per 10 minutes (and takes the components chosen last); a confirmed one gets
//!   nothing. Nothing else is sent before confirmation. Addresses still unconfirmed 7 days
//!   after their last confirmation email are deleted. Confirmation emails are paced across
//!   all addresses ([`CONFIRMATION_BURST`] at once, then one every few seconds; the rest wait
//!   in the queue), so the form cannot be used to mail the world, and nobody is turned away.
//! - Links carry a token only its SHA-256 is stored of. A confirmation's token is an HMAC of
//!   the subscriber's id and a random nonce under a kept key, made when the email is sent:
//!   the queued message holds the nonce, never the token. Opening a link (GET) shows a
//!   button; only the button's POST confirms or unsubscribes (mail scanners fetch links).
//!   Unsubscribing also answers RFC 8058's one-click POST.
//! - A public update with `notify` writes one fan-out message in its unit of work; the worker
//!   turns it into one message per subscriber that follows the update's components (bulk
//!   priority, so pages go first however many subscribers there are).

use base64::Engine as _;
use firebreak_domain::status_page::{Audience, PublicStatus, Subscriber, SubscriberKind};
use firebreak_domain::{IncidentNumber, TimelineEvent};
use firebreak_outbound::delivery::{self as verdicts, Verdict};
use firebreak_outbound::signing;
use firebreak_store::outbox::{Attempt, Message, NewMessage, Outcome};
use firebreak_store::{Priority, StoreError};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::paging::render::escape_html;
use crate::{EngineError, Firebreak, Principal, invalid, random_bytes};

/// One submission of the subscribe form, for the worker to act on.
pub const SUBSCRIBE: &str = "status_subscribe";
/// One confirmation email to one unconfirmed subscriber.
pub const CONFIRM: &str = "status_confirm";
/// One public update to hand out to subscribers.
pub const FANOUT: &str = "status_fanout";
/// One email to one subscriber.
pub const MAIL: &str = "status_mail";
/// One webhook to one subscriber.
pub const HOOK: &str = "status_hook";

/// How often an unconfirmed address may be sent a confirmation.
const CONFIRM_EVERY: SignedDuration = SignedDuration::from_mins(10);
/// How long an address that never confirmed is kept after its last confirmation email.
pub const KEEP_UNCONFIRMED: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Confirmation emails sent at once, whatever their addresses (per instance).
pub const CONFIRMATION_BURST: u32 = 200;
/// After the burst, one more confirmation email per this many seconds: 1,200 an hour.
pub const CONFIRMATION_EVERY_SECS: u64 = 3;
/// How many subscribers' messages a fan-out renders and queues per unit of work.
const FANOUT_CHUNK: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SubscribePayload {
    email: String,
    components: Option<Vec<String>>,
}

/// A confirmation to send: whom to, and the nonce its link token is made from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConfirmPayload {
    subscriber: String,
    nonce: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FanoutPayload {
    incident: i64,
    seq: i64,
}

/// An email as it will be sent, rendered once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailPayload {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The one-click unsubscribe link (`List-Unsubscribe`); none for mail that is not a
    /// list's (stakeholders').
    #[serde(default)]
    pub unsubscribe: Option<String>,
    pub message_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct HookPayload {
    subscriber: String,
    id: String,
    body: String,
}

/// Whether `token` has the shape of a link token: 32 base64url characters (a confirmation or
/// unsubscribe token), or `u.sub_<12 hex>.<32 hex>` (an update email's unsubscribe token).
/// Anything else is refused before the store is asked.
fn well_formed(token: &str) -> bool {
    let b64 = |t: &str| {
        t.len() == 32
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let hex = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = token.strip_prefix("u.sub_") {
        return rest
            .split_once('.')
            .is_some_and(|(id, sig)| hex(id, 12) && hex(sig, 32));
    }
    b64(token)
}

fn not_a_link() -> EngineError {
    EngineError::NotFound(
        "this link is not valid any more: the subscription was removed, or a newer email replaced it".into(),
    )
}

/// Equal, in time that does not depend on where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> Result<String, EngineError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<24>()?))
}

/// The link token of a confirmation email: 32 base64url characters of an HMAC of the
/// subscriber's id and the email's nonce under `key`.
fn confirmation_token(key: &[u8], subscriber: &str, nonce: &str) -> String {
    let mac = crate::paging::links::mac(key, format!("confirm:{subscriber}:{nonce}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac[..24])
}

/// The queued confirmation for subscriber `id` with `nonce`, and the hash of the token its
/// link will carry.
fn confirmation_message(
    key: &[u8],
    id: &str,
    nonce: String,
    now: Timestamp,
    deadline: Timestamp,
) -> (NewMessage, String) {
    let token_hash = hash(&confirmation_token(key, id, &nonce));
    let message = NewMessage {
        kind: CONFIRM.into(),
        subject: id.to_string(),
        idempotency_key: format!("{CONFIRM}:{id}:{nonce}"),
        payload: serde_json::to_string(&ConfirmPayload {
            subscriber: id.to_string(),
            nonce,
        })
        .unwrap_or_default(),
        due_at: now,
        deadline_at: deadline,
        created_at: now,
        priority: Priority::Bulk,
    };
    (message, token_hash)
}

/// A subscriber as people see them (admins only: addresses are personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberView {
    pub subscriber: Subscriber,
}

impl Firebreak {
    fn page_link(&self, path: &str) -> String {
        format!("{}{path}", self.status_page_url())
    }

    fn page_title(&self) -> String {
        self.config.status_page.title.clone()
    }

    /// A time as the page shows it: in the page's time zone (`status_page.time_zone`), named,
    /// like `2026-11-23 04:00 CET`.
    fn page_time(&self, at: jiff::Timestamp) -> String {
        let tz = jiff::tz::TimeZone::get(&self.config.status_page.time_zone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        at.to_zoned(tz).strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    fn mail_from_configured(&self) -> bool {
        self.paging.email.is_some()
    }

    /// A confirmation email for `to` with `token`, ready to send.
    fn confirmation(&self, to: &str, token: &str, message_id: String) -> MailPayload {
        let title = self.page_title();
        let confirm = self.page_link(&format!("/subscribe/confirm/{token}"));
        let unsubscribe = self.page_link(&format!("/unsubscribe/{token}"));
        let text = format!(
            "Someone (we hope you) asked to get {title}'s incident updates at this address.\n\n\
             To confirm, open this link and press the button:\n{confirm}\n\n\
             If it was not you, ignore this email: nothing more will be sent.\n\n\
             Unsubscribe: {unsubscribe}\n"
        );
        let html = format!(
            "<!doctype html><html><body><p>Someone (we hope you) asked to get {t}'s incident updates \
             at this address.</p><p><a href=\"{c}\">Confirm your subscription</a> (the link opens a \
             page with a button).</p><p>If it was not you, ignore this email: nothing more will be \
             sent.</p><p style=\"color:#666\"><a href=\"{u}\">Unsubscribe</a></p></body></html>",
            t = escape_html(&title),
            c = escape_html(&confirm),
            u = escape_html(&unsubscribe),
        );
        MailPayload {
            to: to.to_string(),
            subject: format!("Confirm your subscription to {title}"),
            text,
            html,
            unsubscribe: Some(unsubscribe),
            message_id,
        }
    }

    /// Subscribes an email address to the page's updates (all components, or these). The
    /// answer is the same whatever happened, and so is the work: the address is checked and
    /// one message queued; the worker ([`Firebreak::take_subscription`]) does the rest.
    pub async fn subscribe_email(
        &self,
        address: &str,
        components: Option<Vec<String>>,
    ) -> Result<(), EngineError> {
        let address = address.trim().to_lowercase();
        if address.len() > 254 || address.parse::<lettre::Address>().is_err() {
            return Err(invalid(
                "email",
                "is not an email address; write it like name@example.com",
            ));
        }
        if !self.mail_from_configured() {
            return Err(EngineError::Conflict(
                "this status page cannot send email yet: its operator has to set email.smtp_url and email.from".into(),
            ));
        }
        let components = self.known_components(components).await?;
        let now = self.clock.now();
        let message = NewMessage {
            kind: SUBSCRIBE.into(),
            subject: "subscribe".into(),
            idempotency_key: format!("{SUBSCRIBE}:{}", crate::time_ordered_id("req", now)?),
            payload: serde_json::to_string(&SubscribePayload {
                email: address,
                components,
            })
            .unwrap_or_default(),
            due_at: now,
            deadline_at: now + self.events.retry.give_up_after,
            created_at: now,
            priority: Priority::Bulk,
        };
        self.write(1, || {
            let message = message.clone();
            move |tx| Box::pin(async move { tx.enqueue(vec![message]).await.map(|_| ()) })
        })
        .await?;
        Ok(())
    }

    /// Acts on one submission of the subscribe form: a new address is stored and sent a
    /// confirmation; an unconfirmed one takes the new components and, at most once per 10
    /// minutes, another confirmation; a confirmed one is left as it is.
    pub(crate) async fn take_subscription(&self, message: &Message) -> (Outcome, Option<String>) {
        let Ok(p) = serde_json::from_str::<SubscribePayload>(&message.payload) else {
            return (
                Outcome::Failed,
                Some("the stored subscription is unreadable".into()),
            );
        };
        // Two submissions of one new address at once (on PostgreSQL): the second meets the
        // first's row in the unique index, and finds it when it runs again, at once.
        let taken = match self.subscribe_now(p.clone()).await {
            Err(EngineError::Conflict(_)) => self.subscribe_now(p).await,
            other => other,
        };
        match taken {
            Ok(()) => (Outcome::Delivered, None),
            Err(e) => {
                tracing::warn!(error = %e, "could not take a status page subscription; trying again shortly");
                (
                    again(message, self.clock.now(), SignedDuration::from_secs(10)),
                    Some(format!("could not take the subscription: {e}")),
                )
            }
        }
    }

    async fn subscribe_now(&self, p: SubscribePayload) -> Result<(), EngineError> {
        let now = self.clock.now();
        let id = crate::short_id("sub")?;
        let nonce = hex::encode(random_bytes::<12>()?);
        let key = self.ack_key().await?;
        let deadline = now + self.events.retry.give_up_after;
        self.write(2, || {
            let (p, id, nonce, key) = (p.clone(), id.clone(), nonce.clone(), key.clone());
            move |tx| {
                Box::pin(async move {
                    match tx.lock_subscriber(SubscriberKind::Email, &p.email).await? {
                        None => {
                            let (message, token_hash) =
                                confirmation_message(&key, &id, nonce, now, deadline);
                            tx.create_subscriber(&Subscriber {
                                id,
                                kind: SubscriberKind::Email,
                                target: p.email,
                                secret: None,
                                components: p.components,
                                token_hash,
                                created_at: now,
                                confirmed_at: None,
                                last_mailed_at: Some(now),
                            })
                            .await?;
                            tx.enqueue(vec![message]).await?;
                        }
                        Some(mut s) if s.confirmed_at.is_none() => {
                            s.components = p.components;
                            let recently = s
                                .last_mailed_at
                                .is_some_and(|at| now.duration_since(at) < CONFIRM_EVERY);
                            if recently {
                                tx.save_subscriber(&s).await?;
                            } else {
                                let (message, token_hash) =
                                    confirmation_message(&key, &s.id, nonce, now, deadline);
                                s.token_hash = token_hash;
                                s.last_mailed_at = Some(now);
                                tx.save_subscriber(&s).await?;
                                tx.enqueue(vec![message]).await?;
                            }
                        }
                        Some(_) => {}
                    }
                    Ok(())
                })
            }
        })
        .await?;
        Ok(())
    }

    /// Sends one confirmation email, its link token made now from the queued nonce. Nothing
    /// is sent when the subscriber is gone, confirmed already, or was sent a newer one.
    pub(crate) async fn send_confirmation(&self, message: &Message) -> (Attempt, Outcome) {
        let now = self.clock.now();
        let Ok(p) = serde_json::from_str::<ConfirmPayload>(&message.payload) else {
            return failed(now, "the stored confirmation is unreadable".into());
        };
        let s = match self.subscriber_still_there(&p.subscriber, now).await {
            Ok(s) => s,
            Err(stop) => return stop,
        };
        if s.confirmed_at.is_some() {
            return failed(now, "the subscriber confirmed already".into());
        }
        let key = match self.ack_key().await {
            Ok(key) => key,
            Err(e) => {
                return (
                    Attempt {
                        at: now,
                        status_code: None,
                        error: Some(format!("could not read the link key: {e}")),
                        duration_ms: 0,
                    },
                    Outcome::RetryAt(now + SignedDuration::from_secs(30)),
                );
            }
        };
        let token = confirmation_token(&key, &s.id, &p.nonce);
        if !same(hash(&token).as_bytes(), s.token_hash.as_bytes()) {
            return failed(now, "a newer confirmation email replaced this one".into());
        }
        // Paced across all addresses, so the form cannot be used to mail the world: the rest
        // wait their turn in the queue.
        if let Err(wait) = self.status.confirmation_allowed() {
            let after = SignedDuration::try_from(wait)
                .unwrap_or(SignedDuration::from_secs(1))
                .max(SignedDuration::from_millis(100));
            return (
                Attempt {
                    at: now,
                    status_code: None,
                    error: Some(format!(
                        "held back: at most {CONFIRMATION_BURST} confirmation emails at once, then one every {CONFIRMATION_EVERY_SECS} s"
                    )),
                    duration_ms: 0,
                },
                again(message, now, after),
            );
        }
        let mail = self.confirmation(&s.target, &token, format!("confirm-{}", p.nonce));
        let sent = self.send_list_mail(&mail).await;
        self.settle(message, now, sent)
    }

    /// Component names as given, checked against the page; `None` (or empty) follows all.
    async fn known_components(
        &self,
        given: Option<Vec<String>>,
    ) -> Result<Option<Vec<String>>, EngineError> {
        let Some(mut given) = given.filter(|g| !g.is_empty()) else {
            return Ok(None);
        };
        given.sort();
        given.dedup();
        let components = self.store.list_components().await?;
        for g in &given {
            if !components.iter().any(|c| &c.name == g) {
                return Err(invalid(
                    "components",
                    format!("there is no component `{g}` on this status page"),
                ));
            }
        }
        Ok(Some(given))
    }

    /// The subscriber a link's token belongs to, if any.
    pub async fn subscriber_for_token(&self, token: &str) -> Result<Subscriber, EngineError> {
        if !well_formed(token) || token.starts_with("u.") {
            return Err(not_a_link());
        }
        let h = hash(token);
        let found = self
            .write(0, || {
                let h = h.clone();
                move |tx| Box::pin(async move { tx.lock_subscriber_by_token(&h).await })
            })
            .await?;
        found.ok_or_else(|| {
            EngineError::NotFound(
                "this link is not valid any more: the subscription was removed, or a newer email replaced it".into(),
            )
        })
    }

    /// Confirms the subscription a link's token belongs to.
    pub async fn confirm_subscription(&self, token: &str) -> Result<Subscriber, EngineError> {
        if !well_formed(token) || token.starts_with("u.") {
            return Err(not_a_link());
        }
        let h = hash(token);
        let now = self.clock.now();
        let found = self
            .write(1, || {
                let h = h.clone();
                move |tx| {
                    Box::pin(async move {
                        let Some(mut s) = tx.lock_subscriber_by_token(&h).await? else {
                            return Ok(None);
                        };
                        if s.confirmed_at.is_none() {
                            s.confirmed_at = Some(now);
                            tx.save_subscriber(&s).await?;
                        }
                        Ok(Some(s))
                    })
                }
            })
            .await?;
        found.ok_or_else(|| {
            EngineError::NotFound(
                "this link is not valid any more: subscribe again on the status page".into(),
            )
        })
    }

    /// Removes the subscription a link's token belongs to. Unsubscribing twice is fine.
    pub async fn unsubscribe(&self, token: &str) -> Result<(), EngineError> {
        if !well_formed(token) {
            return Err(not_a_link());
        }
        if token.starts_with("u.") {
            return match self.unsubscribe_signed(token).await? {
                true => Ok(()),
                false => Err(EngineError::NotFound(
                    "this unsubscribe link is not valid".into(),
                )),
            };
        }
        let h = hash(token);
        self.write(1, || {
            let h = h.clone();
            move |tx| {
                Box::pin(async move {
                    if let Some(s) = tx.lock_subscriber_by_token(&h).await? {
                        tx.delete_subscriber(&s.id).await?;
                    }
                    Ok(())
                })
            }
        })
        .await?;
        Ok(())
    }

    /// Adds a webhook subscriber (admins): confirmed at once. Returns it with its signing
    /// secret, shown only now.
    pub async fn add_webhook_subscriber(
        &self,
        who: &Principal,
        url: &str,
        components: Option<Vec<String>>,
    ) -> Result<(Subscriber, String), EngineError> {
        let url = self.check_outbound_url("url", url)?;
        let components = self.known_components(components).await?;
        let now = self.clock.now();
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(random_bytes::<24>()?)
        );
        let s = Subscriber {
            id: crate::short_id("sub")?,
            kind: SubscriberKind::Webhook,
            target: url.to_string(),
            secret: Some(secret.clone()),
            components,
            token_hash: hash(&new_token()?),
            created_at: now,
            confirmed_at: Some(now),
            last_mailed_at: None,
        };
        let audit = self.audit(who, "status_page.subscriber.add", s.id.clone());
        let stored = s.clone();
        self.write(1, || {
            let (s, audit) = (stored.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.create_subscriber(&s).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                EngineError::Conflict("that URL is already a subscriber".into())
            }
            other => other.into(),
        })?;
        Ok((s, secret))
    }

    pub async fn list_subscribers(&self) -> Result<Vec<Subscriber>, EngineError> {
        Ok(self.store.list_subscribers().await?)
    }

    pub async fn remove_subscriber(&self, who: &Principal, id: &str) -> Result<(), EngineError> {
        let audit = self.audit(who, "status_page.subscriber.remove", id.to_string());
        let id = id.to_string();
        self.write(1, || {
            let (id, audit) = (id.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.delete_subscriber(&id).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => EngineError::NotFound(format!("there is no subscriber `{id}`")),
            other => other.into(),
        })?;
        Ok(())
    }

    /// The fan-out message for a public update, for the update's own unit of work.
    pub(crate) fn fanout(&self, number: IncidentNumber, seq: i64, now: Timestamp) -> NewMessage {
        NewMessage {
            kind: FANOUT.into(),
            subject: number.to_string(),
            idempotency_key: format!("{FANOUT}:{}:{seq}", number.0),
            payload: serde_json::to_string(&FanoutPayload {
                incident: number.0,
                seq,
            })
            .unwrap_or_default(),
            due_at: now,
            deadline_at: now + self.events.retry.give_up_after,
            created_at: now,
            priority: Priority::Bulk,
        }
    }

    /// Turns one fan-out message into one message per subscriber who follows the update.
    pub(crate) async fn fan_out(&self, message: &Message) -> (Outcome, Option<String>) {
        match self.expand(message).await {
            Ok(()) => (Outcome::Delivered, None),
            Err(e) => {
                tracing::warn!(error = %e, "could not hand a public update out to subscribers; trying again shortly");
                (
                    again(message, self.clock.now(), SignedDuration::from_secs(10)),
                    Some(format!("could not hand the update out to subscribers: {e}")),
                )
            }
        }
    }

    async fn expand(&self, message: &Message) -> Result<(), EngineError> {
        let Ok(p) = serde_json::from_str::<FanoutPayload>(&message.payload) else {
            return Ok(());
        };
        let number = IncidentNumber(p.incident);
        let Some(incident) = self.store.get_incident(number).await? else {
            return Ok(());
        };
        let entries = self.status_updates(number).await?;
        let Some(entry) = entries.iter().find(|e| e.seq == p.seq) else {
            return Ok(());
        };
        let TimelineEvent::StatusUpdate(update) = &entry.event else {
            return Ok(());
        };
        if update.audience != Audience::Public || incident.drill {
            return Ok(());
        }
        // The worker may run before the change feed marks the snapshot stale: make sure the
        // view it reads holds this update.
        self.status.changed();
        let view = self.status_view().await?;
        let public_id = view.ids.incident(number);
        let shown = view.incidents.iter().find(|i| i.id == public_id);
        let name = shown.map(|i| i.name.clone()).unwrap_or_else(|| {
            incident
                .public_title
                .clone()
                .unwrap_or(incident.title.clone())
        });
        let components: Vec<String> = shown
            .map(|i| {
                i.components
                    .iter()
                    .filter_map(|id| view.component(id))
                    .map(|c| c.component.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let status = update.status.unwrap_or(PublicStatus::Investigating);
        let link = self.page_link(&format!("/incidents/{public_id}"));
        let now = self.clock.now();
        let title = self.page_title();
        let link_key = self.ack_key().await?;
        // Rendered and queued a chunk at a time, so memory stays flat however many follow the
        // page. Run again (after a failure), the chunks already queued are kept as they were:
        // their idempotency keys match.
        let mut out = Vec::with_capacity(FANOUT_CHUNK);
        for s in self.store.list_subscribers().await? {
            if out.len() >= FANOUT_CHUNK {
                self.queue_chunk(std::mem::take(&mut out)).await?;
            }
            if s.confirmed_at.is_none() || !s.wants(&components) {
                continue;
            }
            let key = format!("{}:{}:{}", s.id, number.0, p.seq);
            match s.kind {
                SubscriberKind::Email => {
                    // A fresh link token per email would need a write per subscriber; the
                    // unsubscribe link names the subscriber and is signed instead.
                    let unsubscribe = self.page_link(&format!(
                        "/unsubscribe/{}",
                        Self::unsubscribe_token(&link_key, &s)
                    ));
                    let text = format!(
                        "{name}\n\n{label}: {body}\n\n{when}\n\nMore: {link}\n\nYou get this because \
                         you subscribed to {title}. Unsubscribe: {unsubscribe}\n",
                        label = status.label(),
                        body = update.body,
                        when = self.page_time(entry.at),
                    );
                    let html = format!(
                        "<!doctype html><html><body><h2>{n}</h2><p><strong>{l}</strong> - {b}</p>\
                         <p style=\"color:#666\">{w}</p><p><a href=\"{k}\">More on the status page</a></p>\
                         <p style=\"color:#666\">You get this because you subscribed to {t}. \
                         <a href=\"{u}\">Unsubscribe</a></p></body></html>",
                        n = escape_html(&name),
                        l = status.label(),
                        b = escape_html(&update.body),
                        w = self.page_time(entry.at),
                        k = escape_html(&link),
                        t = escape_html(&title),
                        u = escape_html(&unsubscribe),
                    );
                    let mail = MailPayload {
                        to: s.target.clone(),
                        subject: format!("[{title}] {name}: {}", status.label()),
                        text,
                        html,
                        unsubscribe: Some(unsubscribe),
                        message_id: format!("update-{key}").replace(':', "-"),
                    };
                    out.push(NewMessage {
                        kind: MAIL.into(),
                        subject: s.id.clone(),
                        idempotency_key: format!("{MAIL}:{key}"),
                        payload: serde_json::to_string(&mail).unwrap_or_default(),
                        due_at: now,
                        deadline_at: now + self.events.retry.give_up_after,
                        created_at: now,
                        priority: Priority::Bulk,
                    });
                }
                SubscriberKind::Webhook => {
                    let body = serde_json::json!({
                        "type": "status_page.update",
                        "page": {"name": title, "url": self.status_page_url()},
                        "incident": {"id": public_id, "name": name, "status": status.as_str(),
                                     "url": link, "components": components},
                        "update": {"status": status.as_str(), "body": update.body,
                                   "created_at": entry.at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()},
                    })
                    .to_string();
                    out.push(NewMessage {
                        kind: HOOK.into(),
                        subject: s.id.clone(),
                        idempotency_key: format!("{HOOK}:{key}"),
                        payload: serde_json::to_string(&HookPayload {
                            subscriber: s.id.clone(),
                            id: format!(
                                "msg_{}",
                                hex::encode(&Sha256::digest(key.as_bytes())[..12])
                            ),
                            body,
                        })
                        .unwrap_or_default(),
                        due_at: now,
                        deadline_at: now + self.events.retry.give_up_after,
                        created_at: now,
                        priority: Priority::Bulk,
                    });
                }
            }
        }
        if !out.is_empty() {
            self.queue_chunk(out).await?;
        }
        Ok(())
    }

    async fn queue_chunk(&self, chunk: Vec<NewMessage>) -> Result<(), EngineError> {
        self.write(chunk.len(), || {
            let chunk = chunk.clone();
            move |tx| Box::pin(async move { tx.enqueue(chunk).await.map(|_| ()) })
        })
        .await?;
        Ok(())
    }

    /// The token of a subscriber's unsubscribe link in update emails: their id, signed with
    /// the key of acknowledge links, so it needs no write per email.
    fn unsubscribe_token(key: &[u8], s: &Subscriber) -> String {
        let sig = crate::paging::links::mac_hex(key, format!("unsubscribe:{}", s.id).as_bytes());
        format!("u.{}.{}", s.id, &sig[..32])
    }

    /// Removes the subscriber a signed unsubscribe token (from an update email) names.
    async fn unsubscribe_signed(&self, token: &str) -> Result<bool, EngineError> {
        let Some(rest) = token.strip_prefix("u.") else {
            return Ok(false);
        };
        let Some((id, sig)) = rest.rsplit_once('.') else {
            return Ok(false);
        };
        let key = self.ack_key().await?;
        let want = crate::paging::links::mac_hex(&key, format!("unsubscribe:{id}").as_bytes());
        if !want
            .get(..32)
            .is_some_and(|w| same(w.as_bytes(), sig.as_bytes()))
        {
            return Ok(false);
        }
        let id = id.to_string();
        self.write(1, || {
            let id = id.clone();
            move |tx| {
                Box::pin(async move {
                    match tx.delete_subscriber(&id).await {
                        Ok(_) | Err(StoreError::NotFound) => Ok(()),
                        Err(e) => Err(e),
                    }
                })
            }
        })
        .await?;
        Ok(true)
    }

    /// Sends one subscriber email over SMTP, with RFC 8058's unsubscribe headers.
    pub(crate) async fn send_subscriber_mail(&self, message: &Message) -> (Attempt, Outcome) {
        let now = self.clock.now();
        let Ok(mail) = serde_json::from_str::<MailPayload>(&message.payload) else {
            return failed(now, "the stored email is unreadable".into());
        };
        // An update for someone who unsubscribed since it was queued is not sent.
        if message.subject.starts_with("sub_")
            && let Err(stop) = self.subscriber_still_there(&message.subject, now).await
        {
            return stop;
        }
        let sent = self.send_list_mail(&mail).await;
        self.settle(message, now, sent)
    }

    /// The subscriber a delivery is for, or what to record instead: failed when they are gone
    /// (unsubscribed or removed), a retry when the store cannot say.
    async fn subscriber_still_there(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Subscriber, (Attempt, Outcome)> {
        match self.store.get_subscriber(id).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(failed(
                now,
                "the subscriber unsubscribed or was removed".into(),
            )),
            Err(e) => Err((
                Attempt {
                    at: now,
                    status_code: None,
                    error: Some(format!("could not read the subscriber: {e}")),
                    duration_ms: 0,
                },
                Outcome::RetryAt(now + SignedDuration::from_secs(30)),
            )),
        }
    }

    /// Sends one subscriber webhook, signed per Standard Webhooks with their secret.
    pub(crate) async fn send_subscriber_hook(&self, message: &Message) -> (Attempt, Outcome) {
        let now = self.clock.now();
        let Ok(p) = serde_json::from_str::<HookPayload>(&message.payload) else {
            return failed(now, "the stored webhook is unreadable".into());
        };
        let s = match self.subscriber_still_there(&p.subscriber, now).await {
            Ok(s) => s,
            Err(stop) => return stop,
        };
        let Some(secret) = s.secret.as_deref() else {
            return failed(now, "the webhook subscriber has no signing secret".into());
        };
        let mut headers =
            match signing::headers(&[secret], &p.id, now.as_second(), p.body.as_bytes()) {
                Ok(h) => h,
                Err(e) => return failed(now, format!("could not sign the webhook: {e}")),
            };
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let answer = self
            .outbound
            .post(&s.target, &headers, p.body.into_bytes())
            .await;
        let recorded = verdicts::Attempt::record(now, &answer);
        let attempt = Attempt {
            at: now,
            status_code: recorded.status.map(|c| c.as_u16()),
            error: recorded.error,
            duration_ms: recorded.duration.as_millis() as i64,
        };
        let next = self.next_after(message, self.clock.now(), verdicts::classify(&answer));
        (attempt, next)
    }

    /// What comes after an attempt of a bulk delivery: done, failed for good, or the next
    /// try by the retry policy until the message's deadline. `now` is when the attempt
    /// ended, so the wait comes after a slow or timed-out try, not during it.
    pub(crate) fn next_after(
        &self,
        message: &Message,
        now: Timestamp,
        verdict: Verdict,
    ) -> Outcome {
        match verdict {
            Verdict::Delivered => Outcome::Delivered,
            Verdict::Failed { .. } => Outcome::Failed,
            Verdict::RetryLater { after, .. } => {
                let policy = crate::delivery::retry_policy(self);
                let attempts = u32::try_from(message.attempts).unwrap_or(u32::MAX);
                let first = message.deadline_at - self.events.retry.give_up_after;
                match policy.next_attempt(attempts, after, first, now) {
                    Some(at) if at <= message.deadline_at => Outcome::RetryAt(at),
                    _ => Outcome::Dead,
                }
            }
        }
    }

    pub(crate) fn settle(
        &self,
        message: &Message,
        now: Timestamp,
        sent: crate::paging::send::Sent,
    ) -> (Attempt, Outcome) {
        let attempt = Attempt {
            at: now,
            status_code: sent.status,
            error: match &sent.verdict {
                Verdict::Delivered => None,
                _ => sent.detail.clone(),
            },
            duration_ms: sent.duration_ms,
        };
        (
            attempt,
            self.next_after(message, self.clock.now(), sent.verdict),
        )
    }
}

/// Another try `after` from `now`, or dead once that is past the message's deadline.
fn again(message: &Message, now: Timestamp, after: SignedDuration) -> Outcome {
    let at = now + after;
    if at > message.deadline_at {
        Outcome::Dead
    } else {
        Outcome::RetryAt(at)
    }
}

/// What to record for a message refused before any attempt (this one's, or a page's): failed
/// for good, with `reason`.
pub(crate) fn failed(now: Timestamp, reason: String) -> (Attempt, Outcome) {
    (
        Attempt {
            at: now,
            status_code: None,
            error: Some(reason),
            duration_ms: 0,
        },
        Outcome::Failed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_link_tokens_reach_the_store() {
        let token = new_token().unwrap();
        assert!(well_formed(&token), "{token}");
        assert!(well_formed(&format!(
            "u.sub_0123456789ab.{}",
            "a".repeat(32)
        )));
        for bad in [
            "",
            "short",
            &format!("{token}x"),
            "u.sub_0123456789ab.short",
            "u.sub_zz23456789ab.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "../../ack/x",
            &"a".repeat(31),
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
