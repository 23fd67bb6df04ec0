//! Signed acknowledge links. A link is bound to one escalation and one user and expires
//! (`paging.ack_link_ttl`, 24 h by default). Its token is the claim as base64url JSON and an
//! HMAC-SHA256 of it under a key Firebreak keeps in the store, so every instance can check a
//! link any of them made. Opening a link (GET) only shows a page with a button: mail scanners
//! and chat previews fetch links, and a fetch must never acknowledge.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::Paging;
use crate::{EngineError, Firebreak, random_bytes};

/// The name of the kept secret that signs acknowledge links.
const KEY_NAME: &str = "ack-links";

/// What an acknowledge link says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckLink {
    #[serde(rename = "e")]
    pub escalation: String,
    #[serde(rename = "u")]
    pub user: String,
    /// Expiry, epoch seconds.
    #[serde(rename = "x")]
    pub expires: i64,
}

pub(crate) fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The HMAC-SHA256 of `data` under `key`, in hex.
pub(crate) fn mac_hex(key: &[u8], data: &[u8]) -> String {
    hex::encode(mac(key, data))
}

/// A token for `escalation` and `user` signed with `key`, good until `now` plus the link
/// lifetime.
pub(crate) fn sign(
    key: &[u8],
    paging: &Paging,
    escalation: &str,
    user: &str,
    now: Timestamp,
) -> String {
    let claim = AckLink {
        escalation: escalation.to_string(),
        user: user.to_string(),
        expires: (now + paging.ack_link_ttl).as_second(),
    };
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claim).unwrap_or_default());
    let sig = URL_SAFE_NO_PAD.encode(mac(key, body.as_bytes()));
    format!("{body}.{sig}")
}

impl Paging {
    /// The link people open to acknowledge.
    pub fn ack_url(&self, token: &str) -> String {
        format!("{}/ack/{token}", self.public_url)
    }
}

impl Firebreak {
    pub(crate) async fn ack_key(&self) -> Result<Arc<Vec<u8>>, EngineError> {
        if let Some(key) = self
            .paging
            .ack_key
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(key);
        }
        let fresh = hex::encode(random_bytes::<32>()?);
        let now = self.clock.now();
        let kept = self
            .write(1, || {
                let fresh = fresh.clone();
                move |tx| Box::pin(async move { tx.keep_secret(KEY_NAME, &fresh, now).await })
            })
            .await?;
        let key = Arc::new(kept.into_bytes());
        *self
            .paging
            .ack_key
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
        Ok(key)
    }

    /// A signed token for `escalation` and `user`, good until `now` plus the link lifetime.
    pub async fn ack_token(
        &self,
        escalation: &str,
        user: &str,
        now: Timestamp,
    ) -> Result<String, EngineError> {
        let key = self.ack_key().await?;
        Ok(sign(&key, &self.paging, escalation, user, now))
    }

    /// The link people open to acknowledge.
    pub fn ack_url(&self, token: &str) -> String {
        self.paging.ack_url(token)
    }

    /// Reads a token: its claim if the signature holds, whether or not it has expired (see
    /// [`AckLink::expired`]).
    pub async fn read_ack_token(&self, token: &str) -> Result<AckLink, EngineError> {
        let refused = || {
            EngineError::NotFound(
                "this acknowledge link is not valid; open the newest page, or acknowledge with `firebreak incident ack` or `firebreak alert ack`".into(),
            )
        };
        let (body, sig) = token.split_once('.').ok_or_else(refused)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| refused())?;
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.ack_key().await?)
            .expect("HMAC takes any key length");
        m.update(body.as_bytes());
        m.verify_slice(&sig).map_err(|_| refused())?;
        URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(refused)
    }
}

impl AckLink {
    /// True once the link's lifetime has passed.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires < now.as_second()
    }
}
