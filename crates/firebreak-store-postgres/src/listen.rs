//! Hearing other instances: each store listens on its schema's channel and re-publishes on its
//! own feed what other Firebreak instances committed, marked remote.
//!
//! A notification's payload is `<instance id> <Committed::to_wire()>`; every store has a random
//! instance id and ignores its own notifications (its committer already published them). While
//! the listening connection is down, notifications are lost; so when it comes back, the task
//! publishes a resync (every directory topic and the outbox, due now) and consumers reload what
//! they keep. It reconnects with a backoff from 1 s to 10 s, and logs once per outage.

use std::sync::Arc;
use std::time::Duration;

use firebreak_store::feed::Topic;
use firebreak_store::{Change, ChangeFeed, Committed};
use jiff::Timestamp;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// PostgreSQL refuses channel names longer than this.
const MAX_CHANNEL: usize = 63;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Where a store's commits are announced, and who this store is on it.
#[derive(Debug)]
pub(crate) struct Channel {
    name: String,
    instance: String,
}

impl Channel {
    /// The channel of `schema`, with a fresh random instance id.
    pub(crate) fn new(schema: &str) -> Channel {
        let instance = getrandom::u64().unwrap_or_else(|_| {
            // No randomness from the system: the clock and the process still tell instances apart.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            nanos ^ u64::from(std::process::id()).rotate_left(32)
        });
        Channel {
            name: channel_name(schema),
            instance: format!("{instance:016x}"),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The payload announcing `wire` from this instance.
    pub(crate) fn payload(&self, wire: &str) -> String {
        format!("{} {wire}", self.instance)
    }

    /// What another instance committed, or `None` for our own notification.
    fn heard(&self, payload: &str) -> Option<Committed> {
        let (from, wire) = payload.split_once(' ').unwrap_or((payload, ""));
        (from != self.instance).then(|| Committed::from_wire(wire))
    }
}

/// `firebreak_changes_<schema>`, shortened with a hash of the schema when too long.
fn channel_name(schema: &str) -> String {
    let name = format!("firebreak_changes_{schema}");
    if name.len() <= MAX_CHANNEL {
        return name;
    }
    // FNV-1a: stable across builds and platforms, unlike the std hasher.
    let hash = schema.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut prefix: String = name.chars().take(MAX_CHANNEL - 17).collect();
    while prefix.len() > MAX_CHANNEL - 17 {
        prefix.pop();
    }
    format!("{prefix}_{hash:016x}")
}

/// What consumers are told after the listener was away: reload everything you keep.
/// Everything may have changed while the connection was down: every cache reloads, and the
/// outbox worker looks at once (a due time long past is due whatever the clock says).
fn resync() -> Committed {
    let mut changes: Vec<Change> = Topic::ALL.into_iter().map(Change::Directory).collect();
    changes.push(Change::Outbox {
        due: Timestamp::UNIX_EPOCH,
    });
    Committed {
        changes,
        remote: true,
    }
}

/// Starts the listening task. `ready` fires once it first listens.
pub(crate) fn spawn(
    pool: PgPool,
    channel: Arc<Channel>,
    feed: ChangeFeed,
    stop: CancellationToken,
    ready: oneshot::Sender<()>,
) -> JoinHandle<()> {
    tokio::spawn(listen(pool, channel, feed, stop, ready))
}

async fn listen(
    pool: PgPool,
    channel: Arc<Channel>,
    feed: ChangeFeed,
    stop: CancellationToken,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut backoff = FIRST_BACKOFF;
    // Listened before: a new connection means notifications may have been missed.
    let mut listened = false;
    // Logged once per outage: when the connection is lost, or when the first connect fails.
    let mut outage = false;
    loop {
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            c = subscribe(&pool, channel.name()) => c,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(e) => {
                if !outage {
                    tracing::warn!(error = %e, channel = channel.name(),
                        "cannot listen for other Firebreak instances' changes; retrying until PostgreSQL answers");
                    outage = true;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if outage {
            tracing::info!(
                channel = channel.name(),
                "listening for other Firebreak instances' changes again"
            );
        }
        backoff = FIRST_BACKOFF;
        if listened {
            feed.publish(resync());
        }
        listened = true;
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return,
                n = listener.try_recv() => n,
            };
            match next {
                Ok(Some(n)) => {
                    if let Some(committed) = channel.heard(n.payload()) {
                        feed.publish(committed);
                    }
                }
                Ok(None) => {
                    tracing::warn!(
                        channel = channel.name(),
                        "lost the connection that listens for other instances' changes"
                    );
                    outage = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, channel = channel.name(), "lost the connection that listens for other instances' changes");
                    outage = true;
                    break;
                }
            }
        }
    }
}

async fn subscribe(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection is ours to notice, so that we can resync after it.
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    listener.listen(channel).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_fit_postgres() {
        assert_eq!(channel_name("public"), "firebreak_changes_public");
        let long = "s".repeat(63);
        let name = channel_name(&long);
        assert!(name.len() <= MAX_CHANNEL, "{name}");
        assert_ne!(name, channel_name(&"t".repeat(63)));
    }

    #[test]
    fn an_instance_ignores_its_own_notifications() {
        let a = Channel::new("public");
        let b = Channel::new("public");
        assert_ne!(a.instance, b.instance);
        let payload = a.payload("i7 dtokens");
        assert_eq!(a.heard(&payload), None);
        let heard = b.heard(&payload).expect("another instance's commit");
        assert!(heard.remote);
        assert_eq!(heard.changes.len(), 2);
    }

    #[test]
    fn a_resync_names_every_topic_and_the_outbox() {
        let r = resync();
        assert!(r.remote);
        assert!(Topic::ALL.iter().all(|t| r.touches(*t)));
        assert_eq!(r.outbox_due(), Some(Timestamp::UNIX_EPOCH), "due at once");
    }
}
