//! Outgoing-webhook subscriptions: an admin subscribes a URL to event types; Firebreak signs
//! every delivery with the subscription's own secret (Standard Webhooks), keeps a delivery log
//! with every attempt, lets a person send a delivery again, and disables a subscription whose
//! deliveries have failed for [`DISABLE_AFTER`].

use firebreak_outbound::guard::UrlRefusal;
use firebreak_store::{
    Attempt, AuditDraft, Message, MessageStatus, Page, StoreError, Subscription,
};
use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;

use crate::events::{EventType, WEBHOOK};
use crate::{EngineError, Firebreak, Principal, invalid, short_id};

/// A subscription whose every delivery has failed for this long is disabled.
pub const DISABLE_AFTER: SignedDuration = SignedDuration::from_hours(24);
const URL_MAX: usize = 2000;
const DESCRIPTION_MAX: usize = 500;

/// What an admin asks for.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// A new subscription and its signing secret, shown once.
pub struct CreatedSubscription {
    pub subscription: Subscription,
    pub secret: SecretString,
}

/// One delivery in a subscription's log: the outbox message and its attempts.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Message,
    /// The event's id (the `webhook-id` header) and type.
    pub event_id: String,
    pub event_type: String,
    pub attempts: Vec<Attempt>,
}

fn not_found(id: &str) -> EngineError {
    EngineError::NotFound(format!(
        "there is no webhook subscription {id}; `firebreak webhook list` shows them"
    ))
}

impl Firebreak {
    /// Checks an outbound URL the way every delivery will be checked, naming `field`.
    /// Returns the URL as it will be kept: normalised as the `url` crate does (the scheme in
    /// lowercase, an international host name in punycode).
    pub fn check_outbound_url(&self, field: &str, url: &str) -> Result<String, EngineError> {
        if url.chars().count() > URL_MAX {
            return Err(invalid(
                field,
                format!("must be at most {URL_MAX} characters"),
            ));
        }
        match self.outbound.policy().check_destination(url) {
            Ok(parsed) => Ok(parsed.to_string()),
            Err(UrlRefusal::Address(refusal)) => Err(invalid(field, refusal.to_string())),
            Err(other) => Err(invalid(field, other.to_string())),
        }
    }

    pub async fn create_webhook(
        &self,
        who: &Principal,
        new: NewSubscription,
    ) -> Result<CreatedSubscription, EngineError> {
        let url = self.check_outbound_url("url", new.url.trim())?;
        if new.events.is_empty() {
            return Err(invalid(
                "events",
                format!("name at least one event type: {}", event_list()),
            ));
        }
        let mut events = Vec::with_capacity(new.events.len());
        for (i, e) in new.events.iter().enumerate() {
            let kind = EventType::parse(e.trim()).ok_or_else(|| {
                invalid(
                    &format!("events[{i}]"),
                    format!("`{e}` is not an event type; use one of {}", event_list()),
                )
            })?;
            if !events.contains(&kind) {
                events.push(kind);
            }
        }
        events.sort();
        let description = new
            .description
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > DESCRIPTION_MAX)
        {
            return Err(invalid(
                "description",
                format!("must be at most {DESCRIPTION_MAX} characters"),
            ));
        }
        let secret = firebreak_outbound::signing::new_secret()
            .map_err(|e| EngineError::Store(StoreError::backend(e.to_string())))?;
        let subscription = Subscription {
            id: short_id("wh")?,
            url,
            events: events.iter().map(|e| e.as_str().to_string()).collect(),
            description,
            secret: secret.clone(),
            created_by: who.actor.0.clone(),
            created_at: self.clock.now(),
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
        };
        let audit = self.audit(
            who,
            "webhook.create",
            format!("webhook/{}", subscription.id),
        );
        let stored = subscription.clone();
        self.write(1, || {
            let (s, audit) = (stored.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.create_subscription(&s).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        self.reload_subscriptions().await?;
        Ok(CreatedSubscription {
            subscription,
            secret: SecretString::from(secret),
        })
    }

    pub async fn list_webhooks(&self) -> Result<Vec<Subscription>, EngineError> {
        Ok(self.store.list_subscriptions().await?)
    }

    pub async fn webhook(&self, id: &str) -> Result<Subscription, EngineError> {
        self.list_webhooks()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| not_found(id))
    }

    /// Removes a subscription. Deliveries still queued for it are not sent.
    pub async fn delete_webhook(&self, who: &Principal, id: &str) -> Result<(), EngineError> {
        let audit = self.audit(who, "webhook.delete", format!("webhook/{id}"));
        let id_owned = id.to_string();
        self.write(1, || {
            let (id, audit) = (id_owned.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.delete_subscription(&id).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => not_found(id),
            other => other.into(),
        })?;
        self.reload_subscriptions().await
    }

    /// Turns a subscription back on after Firebreak disabled it (or clears its failing state),
    /// once its receiver is fixed. Events from now on are sent to it again; deliveries that
    /// failed meanwhile can be sent again with `redeliver`. Enabling one that is enabled changes
    /// nothing.
    pub async fn enable_webhook(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<Subscription, EngineError> {
        let audit = self.audit(who, "webhook.enable", format!("webhook/{id}"));
        let id_owned = id.to_string();
        let enabled = self
            .write(1, || {
                let (id, audit) = (id_owned.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let Some(mut s) = tx.lock_subscription(&id).await? else {
                            return Err(StoreError::NotFound);
                        };
                        if s.disabled_at.is_none() && s.failing_since.is_none() {
                            return Ok(s);
                        }
                        s.disabled_at = None;
                        s.disabled_reason = None;
                        s.failing_since = None;
                        tx.save_subscription_health(&s).await?;
                        tx.audit(audit).await?;
                        Ok(s)
                    })
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_found(id),
                other => other.into(),
            })?;
        self.reload_subscriptions().await?;
        Ok(enabled)
    }

    /// A subscription's deliveries, newest first, each with its attempts.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Delivery>, EngineError> {
        self.webhook(id).await?;
        let page = self.store.list_messages(WEBHOOK, id, before, limit).await?;
        let ids: Vec<i64> = page.items.iter().map(|m| m.id).collect();
        let mut attempts = self.store.attempts_of(&ids).await?;
        let items = page
            .items
            .into_iter()
            .map(|message| {
                let mine: Vec<Attempt> = attempts
                    .extract_if(.., |(m, _)| *m == message.id)
                    .map(|(_, a)| a)
                    .collect();
                let (event_id, event_type) = event_of(&message);
                Delivery {
                    message,
                    event_id,
                    event_type,
                    attempts: mine,
                }
            })
            .collect();
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// Sends a delivery again, with the same event id and body, as soon as a worker is free.
    pub async fn redeliver(
        &self,
        who: &Principal,
        id: &str,
        delivery: i64,
    ) -> Result<Delivery, EngineError> {
        let subscription = self.webhook(id).await?;
        if subscription.disabled_at.is_some() {
            return Err(EngineError::Conflict(format!(
                "webhook {id} is disabled ({}); remove it and subscribe again to re-enable it",
                subscription
                    .disabled_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            )));
        }
        let message = self
            .store
            .get_message(delivery)
            .await?
            .filter(|m| m.kind == WEBHOOK && m.subject == id)
            .ok_or_else(|| {
                EngineError::NotFound(format!("webhook {id} has no delivery {delivery}"))
            })?;
        if matches!(
            message.status,
            MessageStatus::Pending | MessageStatus::Sending
        ) {
            return Err(EngineError::Conflict(format!(
                "delivery {delivery} is already queued ({}); it will be sent without asking",
                message.status.as_str()
            )));
        }
        let now = self.clock.now();
        let deadline = now + self.events.retry.give_up_after;
        let audit = self.audit(
            who,
            "webhook.redeliver",
            format!("webhook/{id}/deliveries/{delivery}"),
        );
        let message = self
            .write(1, || {
                let audit = audit.clone();
                move |tx| {
                    Box::pin(async move {
                        let m = tx.redeliver(delivery, now, deadline).await?;
                        tx.audit(audit).await?;
                        Ok(m)
                    })
                }
            })
            .await?;
        let (event_id, event_type) = event_of(&message);
        // The answer shows the delivery as its log does, earlier attempts included.
        let attempts = self
            .store
            .attempts_of(&[message.id])
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        Ok(Delivery {
            message,
            event_id,
            event_type,
            attempts,
        })
    }

    /// Reloads the subscriptions every unit of work emits events for.
    pub async fn reload_subscriptions(&self) -> Result<(), EngineError> {
        let subscriptions = self.store.list_subscriptions().await?;
        self.events.set_subscriptions(subscriptions);
        Ok(())
    }

    /// After a delivery: a success clears the subscription's failing streak; a failure starts
    /// one, and a streak of [`DISABLE_AFTER`] disables the subscription, in the audit log.
    pub(crate) async fn note_delivery_health(
        &self,
        id: &str,
        delivered: bool,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let known = self.events.subscriptions();
        let Some(current) = known.iter().find(|s| s.id == id) else {
            return Ok(());
        };
        let needs = match (delivered, current.failing_since) {
            (true, Some(_)) => true,
            (false, None) => true,
            (false, Some(since)) => now.duration_since(since) >= DISABLE_AFTER,
            (true, None) => false,
        };
        if !needs || current.disabled_at.is_some() {
            return Ok(());
        }
        let id_owned = id.to_string();
        let disabled = self
            .write(1, || {
                let id = id_owned.clone();
                move |tx| {
                    Box::pin(async move {
                        let Some(mut s) = tx.lock_subscription(&id).await? else {
                            return Ok(false);
                        };
                        let mut disabled = false;
                        if delivered {
                            s.failing_since = None;
                        } else {
                            let since = *s.failing_since.get_or_insert(now);
                            if s.disabled_at.is_none() && now.duration_since(since) >= DISABLE_AFTER
                            {
                                s.disabled_at = Some(now);
                                s.disabled_reason = Some(format!(
                                    "every delivery failed for 24 hours, since {since}"
                                ));
                                tx.audit(AuditDraft {
                                    actor: "firebreak".into(),
                                    action: "webhook.disable".into(),
                                    target: format!("webhook/{id}"),
                                    at: now,
                                    source: Some(format!("every delivery failed since {since}")),
                                    break_glass: None,
                                })
                                .await?;
                                disabled = true;
                            }
                        }
                        tx.save_subscription_health(&s).await?;
                        Ok(disabled)
                    })
                }
            })
            .await?;
        if disabled {
            tracing::warn!(
                webhook = id,
                "a webhook subscription was disabled: every delivery failed for 24 hours"
            );
        }
        self.reload_subscriptions().await
    }
}

fn event_list() -> String {
    EventType::ALL
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The event id and type a webhook message carries.
fn event_of(message: &Message) -> (String, String) {
    match crate::events::WebhookPayload::from_stored(&message.payload) {
        Ok(p) => (p.id, p.kind),
        Err(_) => (String::new(), String::new()),
    }
}

impl Firebreak {
    /// The outbox's depth and overdue age per kind of message.
    pub async fn outbox_stats(&self) -> Result<Vec<firebreak_store::OutboxStats>, EngineError> {
        Ok(self.store.outbox_stats(self.clock.now()).await?)
    }
}
