//! What an attempt's outcome means for the message, decided once for every channel: delivered,
//! retry later, or failed for good, and when the next try is due.
//!
//! - 2xx: delivered.
//! - 408, 429, 5xx, timeouts and connection errors: retried with exponential backoff and jitter,
//!   never sooner than the receiver's `Retry-After`, until the message's deadline; after that the
//!   message is dead.
//! - Any other answer (other 4xx, 3xx because redirects are not followed, 1xx) and a guard refusal
//!   (the address will not become acceptable by waiting): failed at once.
//!
//! Every attempt is recorded as an [`Attempt`]: time, status code, a short error and duration.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use http::StatusCode;
use jiff::Timestamp;

use crate::client::{Answer, SendError};

/// How many characters of a body excerpt go into a reason.
const REASON_EXCERPT_CHARS: usize = 120;

/// What one attempt's outcome means for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again; `after` is the receiver's `Retry-After`, when it sent one.
    RetryLater {
        after: Option<Duration>,
        reason: String,
    },
    /// Do not try again.
    Failed {
        reason: String,
    },
}

/// Classify the result of [`OutboundClient::post`](crate::OutboundClient::post).
pub fn classify(result: &Result<Answer, SendError>) -> Verdict {
    let answer = match result {
        Ok(answer) => answer,
        Err(SendError::Refused { message, .. }) => {
            return Verdict::Failed {
                reason: message.clone(),
            };
        }
        Err(
            err @ (SendError::Timeout { .. } | SendError::Connect { .. } | SendError::Other { .. }),
        ) => {
            // "Other" is a request that broke mid-way (a reset while sending, a malformed
            // answer): as transient as a connection error, from the sender's side.
            return Verdict::RetryLater {
                after: None,
                reason: err.message().to_string(),
            };
        }
    };
    let status = answer.status;
    let reason = status_reason(answer);
    if status.is_success() {
        Verdict::Delivered
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Verdict::RetryLater {
            after: answer.retry_after,
            reason,
        }
    } else if status.is_redirection() {
        Verdict::Failed {
            reason: format!(
                "{reason}: redirects are not followed; point the webhook at the final URL"
            ),
        }
    } else {
        Verdict::Failed { reason }
    }
}

/// "503 Service Unavailable: upstream down", with the excerpt shortened.
fn status_reason(answer: &Answer) -> String {
    let status = answer.status;
    let code = match status.canonical_reason() {
        Some(text) => format!("{} {text}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    let excerpt = answer.body_excerpt.trim();
    if excerpt.is_empty() {
        return code;
    }
    let mut short: String = excerpt.chars().take(REASON_EXCERPT_CHARS).collect();
    if short.len() < excerpt.len() {
        short.push('…');
    }
    format!("{code}: {short}")
}

/// The record of one attempt, as shown in a message's delivery history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: Timestamp,
    /// The answer's status; `None` when there was no answer.
    pub status: Option<StatusCode>,
    /// Why the attempt did not deliver; `None` when it did.
    pub error: Option<String>,
    pub duration: Duration,
}

impl Attempt {
    /// Record an attempt that started at `at`.
    pub fn record(at: Timestamp, result: &Result<Answer, SendError>) -> Self {
        let error = match classify(result) {
            Verdict::Delivered => None,
            Verdict::RetryLater { reason, .. } | Verdict::Failed { reason } => Some(reason),
        };
        match result {
            Ok(answer) => Self {
                at,
                status: Some(answer.status),
                error,
                duration: answer.duration,
            },
            Err(err) => Self {
                at,
                status: None,
                error,
                duration: err.duration(),
            },
        }
    }
}

/// When to try a message again, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The longest wait before the second attempt; each later wait may double.
    pub first_delay: Duration,
    /// No single wait is longer than this.
    pub max_delay: Duration,
    /// After this long since the first attempt the message is dead.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(10 * 60),
            give_up_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

// Past this many doublings every wait is `max_delay` anyway; the bound keeps an absurd attempt
// count from costing an absurd loop.
const MAX_DOUBLINGS: u32 = 64;

impl RetryPolicy {
    /// When the next attempt is due, after `attempts_so_far` attempts (the first one at
    /// `first_attempt_at`), or `None` when it would fall after the deadline, which makes the
    /// message dead. Never sooner than `retry_after`; a `retry_after` longer than the whole
    /// `give_up_after` is treated as that long, which is past the deadline.
    pub fn next_attempt(
        &self,
        attempts_so_far: u32,
        retry_after: Option<Duration>,
        first_attempt_at: Timestamp,
        now: Timestamp,
    ) -> Option<Timestamp> {
        self.next_attempt_seeded(
            attempts_so_far,
            retry_after,
            first_attempt_at,
            now,
            jitter_seed(now),
        )
    }

    fn next_attempt_seeded(
        &self,
        attempts_so_far: u32,
        retry_after: Option<Duration>,
        first_attempt_at: Timestamp,
        now: Timestamp,
        seed: u64,
    ) -> Option<Timestamp> {
        let deadline = first_attempt_at
            .checked_add(self.give_up_after)
            .unwrap_or(Timestamp::MAX);
        let backoff = self.backoff(attempts_so_far, seed);
        let wait = match retry_after {
            Some(asked) => backoff.max(asked.min(self.give_up_after)),
            None => backoff,
        };
        let next = now.checked_add(wait).ok()?;
        (next <= deadline).then_some(next)
    }

    /// The wait after `attempts_so_far` attempts, before `Retry-After` is considered. With
    /// `base = min(first_delay * 2^(attempts_so_far - 1), max_delay)` it lies in
    /// `[base / 2, base]` ("equal jitter"): half is fixed so waits still grow, half is random so
    /// receivers that fail together are not retried together. Zero before the first attempt.
    pub fn backoff(&self, attempts_so_far: u32, seed: u64) -> Duration {
        let Some(retries) = attempts_so_far.checked_sub(1) else {
            return Duration::ZERO;
        };
        // backon adds a random 0..100% to each delay, so halving its bounds gives equal jitter.
        // Its backoff is an iterator; the n-th item is this wait.
        let delay = ExponentialBuilder::new()
            .with_jitter()
            .with_jitter_seed(seed)
            .with_factor(2.0)
            .with_min_delay(self.first_delay / 2)
            .with_max_delay(self.max_delay / 2)
            .without_max_times()
            .build()
            .nth(retries.min(MAX_DOUBLINGS) as usize)
            .unwrap_or(self.max_delay);
        // backon computes in f32; clamp so rounding never pushes a wait past the cap.
        delay.min(self.max_delay)
    }
}

fn jitter_seed(now: Timestamp) -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        // Jitter only spreads load, so a clock-derived seed is an acceptable fallback.
        Err(_) => now.as_nanosecond() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answer(status: u16) -> Result<Answer, SendError> {
        Ok(Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body_excerpt: String::new(),
            duration: Duration::from_millis(12),
        })
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn classify_table() {
        for code in [200, 201, 202, 204] {
            assert_eq!(classify(&answer(code)), Verdict::Delivered, "{code}");
        }
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify(&answer(code)),
                    Verdict::RetryLater { after: None, .. }
                ),
                "{code}"
            );
        }
        for code in [100, 301, 302, 400, 401, 403, 404, 410, 422] {
            assert!(
                matches!(classify(&answer(code)), Verdict::Failed { .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_is_carried_into_the_verdict() {
        let result = Ok(Answer {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(Duration::from_secs(7)),
            body_excerpt: "slow down".into(),
            duration: Duration::from_millis(3),
        });
        assert_eq!(
            classify(&result),
            Verdict::RetryLater {
                after: Some(Duration::from_secs(7)),
                reason: "429 Too Many Requests: slow down".into()
            }
        );
    }

    #[test]
    fn errors_retry_except_refusals() {
        let d = Duration::from_millis(5);
        for err in [
            SendError::Timeout {
                message: "no answer".into(),
                duration: d,
            },
            SendError::Connect {
                message: "connection refused".into(),
                duration: d,
            },
        ] {
            assert!(matches!(
                classify(&Err(err)),
                Verdict::RetryLater { after: None, .. }
            ));
        }
        let refused = SendError::Refused {
            message: "127.0.0.1 is a loopback address".into(),
            duration: d,
        };
        assert_eq!(
            classify(&Err(refused)),
            Verdict::Failed {
                reason: "127.0.0.1 is a loopback address".into()
            }
        );
    }

    #[test]
    fn redirect_reason_says_what_to_do() {
        let Verdict::Failed { reason } = classify(&answer(302)) else {
            panic!("302 must fail");
        };
        assert_eq!(
            reason,
            "302 Found: redirects are not followed; point the webhook at the final URL"
        );
    }

    #[test]
    fn long_excerpts_are_shortened_in_the_reason() {
        let result = Ok(Answer {
            status: StatusCode::BAD_REQUEST,
            retry_after: None,
            body_excerpt: "x".repeat(300),
            duration: Duration::ZERO,
        });
        let Verdict::Failed { reason } = classify(&result) else {
            panic!("400 must fail");
        };
        assert_eq!(reason.chars().count(), "400 Bad Request: ".len() + 120 + 1);
    }

    #[test]
    fn attempt_records_status_error_and_duration() {
        let at = t("2026-11-20T14:20:05Z");
        assert_eq!(
            Attempt::record(at, &answer(204)),
            Attempt {
                at,
                status: Some(StatusCode::NO_CONTENT),
                error: None,
                duration: Duration::from_millis(12),
            }
        );
        let timeout = Err(SendError::Timeout {
            message: "no answer from hooks.example.com:443 within 10s".into(),
            duration: Duration::from_secs(10),
        });
        assert_eq!(
            Attempt::record(at, &timeout),
            Attempt {
                at,
                status: None,
                error: Some("no answer from hooks.example.com:443 within 10s".into()),
                duration: Duration::from_secs(10),
            }
        );
    }

    #[test]
    fn waits_grow_then_stop_at_the_cap() {
        let policy = RetryPolicy::default();
        let first = policy.backoff(1, 7);
        assert!(first >= Duration::from_millis(2500) && first <= Duration::from_secs(5));
        let tenth = policy.backoff(10, 7);
        assert!(tenth >= Duration::from_secs(300) && tenth <= Duration::from_secs(600));
        assert_eq!(policy.backoff(0, 7), Duration::ZERO);
        assert!(policy.backoff(u32::MAX, 7) <= Duration::from_secs(600));
    }

    #[test]
    fn a_message_dies_at_its_deadline() {
        let policy = RetryPolicy::default();
        let first = t("2026-11-20T00:00:00Z");
        assert!(
            policy
                .next_attempt(3, None, first, t("2026-11-20T00:01:00Z"))
                .is_some()
        );
        assert_eq!(
            policy.next_attempt(200, None, first, t("2026-11-20T23:59:59Z")),
            None
        );
        // A receiver asking for two days is past the 24 h deadline.
        assert_eq!(
            policy.next_attempt(
                1,
                Some(Duration::from_secs(2 * 86_400)),
                first,
                t("2026-11-20T00:00:01Z")
            ),
            None
        );
    }

    #[test]
    fn retry_after_pushes_the_next_attempt_back() {
        let policy = RetryPolicy::default();
        let now = t("2026-11-20T00:00:10Z");
        let next = policy
            .next_attempt(
                1,
                Some(Duration::from_secs(120)),
                t("2026-11-20T00:00:00Z"),
                now,
            )
            .unwrap();
        assert_eq!(next, t("2026-11-20T00:02:10Z"));
    }

    /// `min(first * 2^(n-1), max)`, without overflow.
    fn base(policy: &RetryPolicy, attempts: u32) -> Duration {
        let doublings = (attempts - 1).min(MAX_DOUBLINGS);
        let mut d = policy.first_delay;
        for _ in 0..doublings {
            if d >= policy.max_delay {
                break;
            }
            d = d.saturating_mul(2);
        }
        d.min(policy.max_delay)
    }

    /// backon works in f32, so bounds are checked with a small relative slack.
    fn slack(d: Duration) -> Duration {
        d / 10_000 + Duration::from_micros(1)
    }

    proptest! {
        #[test]
        fn backoff_stays_within_equal_jitter_bounds(
            first_ms in 1u64..60_000,
            max_ms in 1u64..3_600_000,
            attempts in 1u32..200,
            seed in any::<u64>(),
        ) {
            let policy = RetryPolicy {
                first_delay: Duration::from_millis(first_ms),
                max_delay: Duration::from_millis(max_ms),
                give_up_after: Duration::from_secs(86_400),
            };
            let base = base(&policy, attempts);
            let wait = policy.backoff(attempts, seed);
            prop_assert!(wait <= policy.max_delay);
            prop_assert!(wait <= base + slack(base), "{wait:?} > {base:?}");
            prop_assert!(wait + slack(base) >= base / 2, "{wait:?} < {base:?} / 2");
        }

        #[test]
        fn next_attempt_respects_retry_after_and_the_deadline(
            attempts in 1u32..100,
            since_first_s in 0u64..100_000,
            retry_after_s in proptest::option::of(0u64..200_000),
            seed in any::<u64>(),
        ) {
            let policy = RetryPolicy::default();
            let first = t("2026-11-20T00:00:00Z");
            let now = first.checked_add(Duration::from_secs(since_first_s)).unwrap();
            let deadline = first.checked_add(policy.give_up_after).unwrap();
            let retry_after = retry_after_s.map(Duration::from_secs);
            let asked = retry_after.unwrap_or_default().min(policy.give_up_after);
            let base = base(&policy, attempts);
            match policy.next_attempt_seeded(attempts, retry_after, first, now, seed) {
                Some(next) => {
                    prop_assert!(next <= deadline);
                    prop_assert!(next >= now.checked_add(asked).unwrap());
                    let earliest = now.checked_add((base / 2).saturating_sub(slack(base))).unwrap();
                    prop_assert!(next >= earliest);
                }
                None => {
                    // Dead only when even the longest possible wait is past the deadline.
                    let latest = now.checked_add(base.max(asked)).unwrap();
                    prop_assert!(latest > deadline);
                }
            }
        }
    }
}
