//! The one place that reads the wall clock, and a manual clock for tests.
//!
//! Time-driven work (retries, and later escalations and reminders) waits with
//! [`Clock::sleep_until`], never with `tokio::time` directly, so a test that advances a
//! [`ManualClock`] by ten minutes wakes what was due in ten minutes, at once, and nothing that
//! was due later.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Completes once the clock reads `at` or later.
    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()>;
}

/// The real clock, truncated to milliseconds so stored and returned times agree exactly.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        let wait = at.duration_since(self.now());
        let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told to. Sleepers wake when it is moved past their instant.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
    moved: watch::Sender<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
            moved: watch::Sender::new(start),
        }
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut t = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *t = t.checked_add(by).unwrap_or(*t);
        self.moved.send_replace(*t);
    }

    pub fn set(&self, to: Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = to;
        self.moved.send_replace(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        let mut moved = self.moved.subscribe();
        Box::pin(async move {
            // Fails only if the clock is dropped; then nothing will ever be due, so wait forever.
            if moved.wait_for(|now| *now >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()
    }

    #[tokio::test]
    async fn a_sleeper_wakes_when_the_clock_passes_its_instant_and_not_before() {
        let clock = std::sync::Arc::new(ManualClock::new(t(0)));
        let due = t(10 * 60_000);
        let sleeper = tokio::spawn(clock.sleep_until(due));
        clock.advance(SignedDuration::from_mins(9));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished(), "woke a minute early");
        clock.advance(SignedDuration::from_mins(1));
        tokio::time::timeout(Duration::from_secs(1), sleeper)
            .await
            .expect("woke when due")
            .unwrap();
    }

    #[tokio::test]
    async fn sleeping_until_the_past_returns_at_once() {
        let clock = ManualClock::new(t(5));
        tokio::time::timeout(Duration::from_millis(100), clock.sleep_until(t(0)))
            .await
            .expect("no wait");
        let past = Timestamp::from_second(1_000_000_000).unwrap();
        tokio::time::timeout(Duration::from_millis(100), SystemClock.sleep_until(past))
            .await
            .expect("no wait");
    }
}
