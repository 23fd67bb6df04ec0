//! Every HTTP request Firebreak sends to the outside world goes through this crate: webhooks,
//! chat notifications, anything whose URL a user typed in. It holds four things that belong
//! together because each sender would otherwise get one of them wrong:
//!
//! - [`guard`]: the SSRF guard. Private, loopback, link-local and other internal addresses are
//!   refused in every spelling, and so are host names that resolve to them, unless
//!   `outbound.allow` lists them.
//! - [`client`]: the one HTTP client, with the guard on URLs and DNS, no redirects, no proxy from
//!   the environment and short timeouts.
//! - [`delivery`]: what an answer means (delivered, retry later, failed) and when to retry.
//! - [`signing`]: Standard Webhooks signatures and their verification.
//!
//! The crate knows nothing about subscriptions or storage: callers keep the messages and their
//! attempt history, and pass the clock in where a decision depends on it.

pub mod client;
pub mod delivery;
pub mod guard;
pub mod probe;
pub mod signing;

pub use client::{Answer, BuildError, OutboundClient, SendError, Timeouts, parse_retry_after};
pub use delivery::{Attempt, RetryPolicy, Verdict, classify};
pub use guard::{
    AllowListError, BlockedRange, DnsRefusal, OutboundPolicy, Refusal, UrlRefusal,
    parse_allow_entry, parse_allow_list,
};
