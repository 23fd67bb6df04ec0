//! Standard Webhooks signing (<https://www.standardwebhooks.com>), symmetric scheme `v1`.
//!
//! Every outbound webhook carries `webhook-id` (the message's idempotency key, the same on every
//! retry), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`:
//! `v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")), where the key is the base64 text after
//! `whsec_` in the subscription's secret. During a secret rotation the header holds one signature
//! per secret, space-separated, and a receiver accepts any of them.
//!
//! This is written with `hmac`, `sha2` and `base64` rather than the `standardwebhooks` crate:
//! that crate brings a third major version of `base64`, a second SHA-256 implementation
//! (`hmac-sha256`) and `time` next to `jiff`, for what is a dozen lines here.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const SECRET_PREFIX: &str = "whsec_";
pub const MESSAGE_ID_PREFIX: &str = "msg_";
/// How far `webhook-timestamp` may be from the receiver's clock, either way, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

const SECRET_BYTES: usize = 32;

// Secrets are pasted around by people; accept them with or without `=` padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The system's random source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator is unavailable: {0}")]
pub struct RandomUnavailable(getrandom::Error);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the signing secret is not valid: it must be whsec_ followed by base64")]
    InvalidSecret,
    #[error("the message id is not a valid header value")]
    InvalidId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {0} header is missing")]
    MissingHeader(HeaderName),
    #[error("the webhook-timestamp header is not a Unix time in seconds")]
    InvalidTimestamp,
    #[error("timestamp too old")]
    TimestampTooOld,
    #[error("timestamp too far in the future")]
    TimestampTooNew,
    #[error("no v1 signature matches")]
    NoMatchingSignature,
    #[error("a verification secret is not valid: it must be whsec_ followed by base64")]
    InvalidSecret,
}

/// A new signing secret: `whsec_` + base64 of 32 random bytes. Shown to the user once.
pub fn new_secret() -> Result<String, RandomUnavailable> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::fill(&mut key).map_err(RandomUnavailable)?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// A new message id: `msg_` + a ULID (26 Crockford base32 characters) made of `now_ms` and 80
/// random bits, so ids sort by creation time.
///
/// Ids are monotonic within this process, as the ULID specification describes: within one
/// millisecond (or if the clock steps back), the next id is the last one plus one, so ids
/// never repeat and always sort in the order they were made. That also makes each new id the
/// last entry of the outbox's key index, where it costs the least to insert, and draws random
/// bits only once per millisecond.
pub fn message_id(now_ms: i64) -> Result<String, RandomUnavailable> {
    let next = {
        let mut last = LAST_ID.lock().unwrap_or_else(|p| p.into_inner());
        let ms = ulid_ms(now_ms);
        let next = match *last {
            Some((last_ms, random)) if ms <= last_ms && random < RANDOM_MAX => {
                (last_ms, random + 1)
            }
            Some((last_ms, _)) if ms <= last_ms => {
                // 2^80 ids in one millisecond: move on to the next one.
                (last_ms + 1, fresh_random()?)
            }
            _ => (ms, fresh_random()?),
        };
        *last = Some(next);
        next
    };
    Ok(message_id_from(next.0 as i64, random_bytes(next.1)))
}

/// The last id made: its millisecond and random part.
static LAST_ID: std::sync::Mutex<Option<(u64, u128)>> = std::sync::Mutex::new(None);
const RANDOM_MAX: u128 = (1 << 80) - 1;

/// A ULID's time is 48 bits of milliseconds, enough until the year 10889.
fn ulid_ms(now_ms: i64) -> u64 {
    now_ms.clamp(0, (1 << 48) - 1) as u64
}

/// 80 random bits, with the top one clear so that a millisecond has room to count up.
fn fresh_random() -> Result<u128, RandomUnavailable> {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).map_err(RandomUnavailable)?;
    random[0] &= 0x7f;
    Ok(random.iter().fold(0u128, |v, b| (v << 8) | u128::from(*b)))
}

fn random_bytes(random: u128) -> [u8; 10] {
    let bytes = random.to_be_bytes();
    let mut out = [0u8; 10];
    out.copy_from_slice(&bytes[6..]);
    out
}

/// [`message_id`] with the random part given: for tests and reproducible fixtures.
pub fn message_id_from(now_ms: i64, random: [u8; 10]) -> String {
    const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let ms = u128::from(ulid_ms(now_ms));
    let mut value = ms << 80;
    for (i, byte) in random.iter().enumerate() {
        value |= u128::from(*byte) << (8 * (9 - i));
    }
    let mut id = String::with_capacity(MESSAGE_ID_PREFIX.len() + 26);
    id.push_str(MESSAGE_ID_PREFIX);
    for i in (0..26).rev() {
        id.push(CROCKFORD[((value >> (5 * i)) & 31) as usize] as char);
    }
    id
}

fn key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
    LENIENT.decode(encoded).ok().filter(|k| !k.is_empty())
}

fn mac(key: &[u8], id: &str, timestamp_secs: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for one secret: `v1,<base64>`.
pub fn sign(secret: &str, id: &str, timestamp_secs: i64, body: &[u8]) -> Result<String, SignError> {
    let key = key(secret).ok_or(SignError::InvalidSecret)?;
    let tag = mac(&key, id, timestamp_secs, body).finalize().into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// The three Standard Webhooks headers for a message. With more than one secret (a rotation in
/// progress) the signature header holds one signature per secret, in the order given.
pub fn headers(
    secrets: &[&str],
    id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<HeaderMap, SignError> {
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp_secs, body))
        .collect::<Result<Vec<_>, _>>()?;
    if signatures.is_empty() {
        return Err(SignError::InvalidSecret);
    }
    let mut map = HeaderMap::with_capacity(3);
    map.insert(
        WEBHOOK_ID,
        HeaderValue::from_str(id).map_err(|_| SignError::InvalidId)?,
    );
    map.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp_secs));
    let signature = HeaderValue::from_str(&signatures.join(" "))
        .unwrap_or_else(|_| unreachable!("base64 is a valid header value"));
    map.insert(WEBHOOK_SIGNATURE, signature);
    Ok(map)
}

/// Check a received webhook against any of `secrets`, the way a receiver should: all three
/// headers present, the timestamp within [`TOLERANCE_SECS`] of `now_secs`, and at least one `v1`
/// signature matching (compared in constant time). Other schemes (`v1a,`) are ignored.
pub fn verify(
    secrets: &[&str],
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), VerifyError> {
    let header = |name: HeaderName| {
        headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .ok_or(VerifyError::MissingHeader(name))
    };
    let id = header(WEBHOOK_ID)?;
    let timestamp = header(WEBHOOK_TIMESTAMP)?;
    let signatures = header(WEBHOOK_SIGNATURE)?;

    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    if now_secs.saturating_sub(timestamp) > TOLERANCE_SECS {
        return Err(VerifyError::TimestampTooOld);
    }
    if timestamp.saturating_sub(now_secs) > TOLERANCE_SECS {
        return Err(VerifyError::TimestampTooNew);
    }

    let candidates: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .collect();
    for secret in secrets {
        let key = key(secret).ok_or(VerifyError::InvalidSecret)?;
        let expected = mac(&key, id, timestamp, body);
        if candidates
            .iter()
            .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
        {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatchingSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_secret_is_32_random_bytes() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"));
        assert_eq!(key(&a).unwrap().len(), 32);
    }

    #[test]
    fn message_ids_are_ulids_that_sort_by_time() {
        let id = message_id_from(0x0191_2345_6789, [0xff; 10]);
        assert_eq!(id.len(), 4 + 26);
        assert!(id.starts_with("msg_"));
        let earlier = message_id_from(1_795_184_405_083, [0xff; 10]);
        let later = message_id_from(1_795_184_405_084, [0x00; 10]);
        assert!(earlier < later);
        // The highest representable ULID starts with 7: only 128 of the 130 bits are used.
        assert_eq!(
            message_id_from(i64::MAX, [0xff; 10]),
            "msg_7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        assert_eq!(
            message_id_from(-5, [0; 10]),
            "msg_00000000000000000000000000"
        );
        assert_ne!(message_id(1).unwrap(), message_id(1).unwrap());
    }

    #[test]
    fn message_ids_made_in_one_millisecond_or_after_a_step_back_still_sort() {
        let now = 1_795_184_405_083;
        let first = message_id(now).unwrap();
        let second = message_id(now).unwrap();
        let after_step_back = message_id(now - 60_000).unwrap();
        let later = message_id(now + 1).unwrap();
        assert!(first < second, "{first} then {second}");
        assert!(second < after_step_back, "{second} then {after_step_back}");
        assert!(after_step_back < later, "{after_step_back} then {later}");
        // Within the millisecond the random part counts up; the time part stays.
        assert_eq!(first[..14], second[..14]);
    }

    #[test]
    fn secrets_without_prefix_or_padding_are_read() {
        assert_eq!(key("whsec_AAAA"), Some(vec![0, 0, 0]));
        assert_eq!(key("AAAA"), Some(vec![0, 0, 0]));
        assert_eq!(key("whsec_AA"), Some(vec![0]));
        assert_eq!(key("whsec_AA=="), Some(vec![0]));
        assert_eq!(key("whsec_"), None);
        assert_eq!(key("whsec_not base64!"), None);
        assert_eq!(
            sign("whsec_", "msg_1", 1, b""),
            Err(SignError::InvalidSecret)
        );
    }

    #[test]
    fn headers_refuse_an_id_that_is_not_a_header_value() {
        let secret = "whsec_AAAA";
        assert_eq!(
            headers(&[secret], "msg\n1", 1, b""),
            Err(SignError::InvalidId)
        );
        assert_eq!(headers(&[], "msg_1", 1, b""), Err(SignError::InvalidSecret));
    }
}
