//! The audit log's hash chain. Each row carries the hash of the row before it and its own hash,
//! the SHA-256 of that previous hash and the row's canonical content, so changing, removing or
//! reordering any row breaks every hash after it. The stores compute the hashes as they insert;
//! `firebreak audit verify` recomputes them from an export with [`verify`].
//!
//! The canonical content is a fixed, unambiguous byte string (documented in `docs/audit.md`
//! so tools outside Firebreak can check an export):
//!
//! ```text
//! sha256_hex( prev_hash_hex "\n" "firebreak-audit-v1" field* )
//! field = len ":" bytes ","      (netstring; an absent value is "-,")
//! fields, in order: id, at (epoch milliseconds), actor, action, target, source, break_glass
//! ```

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What one audit row says, as hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContent<'a> {
    pub id: i64,
    pub at_ms: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub source: Option<&'a str>,
    /// The break-glass grant the action was done under.
    pub break_glass: Option<i64>,
}

fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            out.extend_from_slice(bytes.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(bytes);
            out.push(b',');
        }
        None => out.extend_from_slice(b"-,"),
    }
}

/// The bytes a row's hash covers after the previous hash.
pub fn canonical(c: &AuditContent<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + c.actor.len() + c.action.len() + c.target.len());
    out.extend_from_slice(b"firebreak-audit-v1");
    field(&mut out, Some(c.id.to_string().as_bytes()));
    field(&mut out, Some(c.at_ms.to_string().as_bytes()));
    field(&mut out, Some(c.actor.as_bytes()));
    field(&mut out, Some(c.action.as_bytes()));
    field(&mut out, Some(c.target.as_bytes()));
    field(&mut out, c.source.map(str::as_bytes));
    let grant = c.break_glass.map(|g| g.to_string());
    field(&mut out, grant.as_deref().map(str::as_bytes));
    out
}

/// The hash of a row whose predecessor's hash is `prev`, in lower-case hex.
pub fn chain_hash(prev: &str, content: &AuditContent<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical(content));
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Why a row does not belong to the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error(
        "row {id}: its prev_hash is not the hash of the row before it (a row was removed, added or reordered)"
    )]
    Link { id: i64 },
    #[error("row {id}: its content does not match its hash (the row was changed)")]
    Content { id: i64 },
    #[error("row {id}: it has no hash")]
    Unhashed { id: i64 },
    #[error("row {id}: ids must increase down the log")]
    Order { id: i64 },
}

impl Broken {
    pub fn id(&self) -> i64 {
        match self {
            Broken::Link { id }
            | Broken::Content { id }
            | Broken::Unhashed { id }
            | Broken::Order { id } => *id,
        }
    }
}

/// Walks a log in id order, one row at a time. Start it with [`Verifier::new`] for a whole log
/// (the first row's `prev_hash` must be [`GENESIS`]) or [`Verifier::after`] for an export that
/// starts later (the first row's `prev_hash` is taken as given).
#[derive(Debug, Clone)]
pub struct Verifier {
    last: Option<(i64, String)>,
    expect_genesis: bool,
    rows: u64,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            last: None,
            expect_genesis: true,
            rows: 0,
        }
    }

    pub fn after() -> Verifier {
        Verifier {
            expect_genesis: false,
            ..Verifier::new()
        }
    }

    /// Checks the next row against the ones before it.
    pub fn check(
        &mut self,
        content: &AuditContent<'_>,
        prev_hash: Option<&str>,
        hash: Option<&str>,
    ) -> Result<(), Broken> {
        let id = content.id;
        let (Some(prev_hash), Some(hash)) = (prev_hash, hash) else {
            return Err(Broken::Unhashed { id });
        };
        match &self.last {
            Some((last_id, _)) if *last_id >= id => return Err(Broken::Order { id }),
            Some((_, last_hash)) if last_hash != prev_hash => return Err(Broken::Link { id }),
            None if self.expect_genesis && prev_hash != GENESIS => {
                return Err(Broken::Link { id });
            }
            _ => {}
        }
        if chain_hash(prev_hash, content) != hash {
            return Err(Broken::Content { id });
        }
        self.last = Some((id, hash.to_string()));
        self.rows += 1;
        Ok(())
    }

    /// Rows checked so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The hash of the last row checked: the chain's head.
    pub fn head(&self) -> Option<&str> {
        self.last.as_ref().map(|(_, h)| h.as_str())
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, target: &str) -> AuditContent<'_> {
        AuditContent {
            id,
            at_ms: 1_800_000_000_000 + id,
            actor: "ada",
            action: "incident.update",
            target,
            source: Some("127.0.0.1"),
            break_glass: None,
        }
    }

    fn chain(rows: &[AuditContent<'_>]) -> Vec<(String, String)> {
        let mut prev = GENESIS.to_string();
        rows.iter()
            .map(|r| {
                let hash = chain_hash(&prev, r);
                let link = (prev.clone(), hash.clone());
                prev = hash;
                link
            })
            .collect()
    }

    fn verify(rows: &[AuditContent<'_>], links: &[(String, String)]) -> Result<u64, Broken> {
        let mut v = Verifier::new();
        for (r, (p, h)) in rows.iter().zip(links) {
            v.check(r, Some(p), Some(h))?;
        }
        Ok(v.rows())
    }

    #[test]
    fn an_untouched_chain_verifies_and_any_change_names_its_row() {
        let rows = vec![row(1, "INC-1"), row(2, "INC-2"), row(3, "INC-3")];
        let links = chain(&rows);
        assert_eq!(verify(&rows, &links), Ok(3));

        let mut changed = rows.clone();
        changed[1].target = "INC-9";
        assert_eq!(verify(&changed, &links), Err(Broken::Content { id: 2 }));

        let mut tagged = rows.clone();
        tagged[2].break_glass = Some(4);
        assert_eq!(verify(&tagged, &links), Err(Broken::Content { id: 3 }));

        // Removing a row breaks the link of the one after it.
        let removed = [rows[0].clone(), rows[2].clone()];
        let removed_links = [links[0].clone(), links[2].clone()];
        assert_eq!(
            verify(&removed, &removed_links),
            Err(Broken::Link { id: 3 })
        );

        // A row's hash rewritten to hide a change still breaks the next link.
        let mut rehashed = links.clone();
        rehashed[1].1 = chain_hash(&links[1].0, &changed[1]);
        assert_eq!(verify(&changed, &rehashed), Err(Broken::Link { id: 3 }));

        let mut v = Verifier::new();
        assert_eq!(
            v.check(&rows[0], None, None),
            Err(Broken::Unhashed { id: 1 })
        );
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let a = AuditContent {
            actor: "ab",
            action: "c",
            ..row(1, "t")
        };
        let b = AuditContent {
            actor: "a",
            action: "bc",
            ..row(1, "t")
        };
        assert_ne!(canonical(&a), canonical(&b));
        let none = AuditContent {
            source: None,
            ..row(1, "t")
        };
        let dash = AuditContent {
            source: Some("-"),
            ..row(1, "t")
        };
        assert_ne!(canonical(&none), canonical(&dash));
    }

    #[test]
    fn the_hash_is_stable() {
        // Pinned so that a change to the canonical form cannot pass unnoticed: exported logs
        // must keep verifying.
        let h = chain_hash(GENESIS, &row(1, "INC-1"));
        assert_eq!(h.len(), 64);
        assert_eq!(h, chain_hash(GENESIS, &row(1, "INC-1")));
        assert_eq!(
            String::from_utf8(canonical(&row(7, "x"))).unwrap(),
            "firebreak-audit-v11:7,13:1800000000007,3:ada,15:incident.update,1:x,9:127.0.0.1,-,"
        );
    }
}
