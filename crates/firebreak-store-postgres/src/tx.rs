//! The PostgreSQL transaction handle: the committer's connection inside one job's savepoint,
//! and the changes the job's writes recorded, published only if its batch commits.
//!
//! Locks are explicit. `lock_*` reads are `SELECT ... FOR UPDATE`, and [`Tx::lock_name`]
//! (in `incidents.rs`) is a transaction-scoped advisory lock; plain reads take no lock. Writes
//! that can meet a taken name use `ON CONFLICT DO NOTHING` and answer `Conflict` themselves,
//! so the transaction stays usable, as it does on SQLite.

use firebreak_store::{AuditDraft, Change, Tx};
use sqlx::postgres::PgConnection;

pub struct PgTx<'c> {
    pub(crate) conn: &'c mut PgConnection,
    changes: Vec<Change>,
    /// Audit records, chained and inserted by the committer just before the batch commits
    /// (`committer::chain_audits`), so the chain's lock is held only for the commit.
    pub(crate) audits: Vec<AuditDraft>,
}

impl<'c> PgTx<'c> {
    pub fn new(conn: &'c mut PgConnection) -> PgTx<'c> {
        PgTx {
            conn,
            changes: Vec::new(),
            audits: Vec::new(),
        }
    }

    /// What the job leaves for after it: the changes to publish and the audit records to chain.
    pub fn into_parts(self) -> (Vec<Change>, Vec<AuditDraft>) {
        (self.changes, self.audits)
    }

    /// Records a change to publish after commit.
    pub(crate) fn changed(&mut self, change: Change) {
        self.changes.push(change);
    }
}

impl Tx for PgTx<'_> {
    fn publish(&mut self, change: Change) {
        self.changes.push(change);
    }
}
