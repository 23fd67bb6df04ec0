//! The PostgreSQL transaction handle: the committer's connection inside one job's savepoint,
//! and the changes the job's writes recorded, published only if its batch commits.
//!
//! Locks are explicit. `lock_*` reads are `SELECT ... FOR UPDATE`, and [`Tx::lock_name`]
//! (in `incidents.rs`) is a transaction-scoped advisory lock; plain reads take no lock. Writes
//! that can meet a taken name use `ON CONFLICT DO NOTHING` and answer `Conflict` themselves,
//! so the transaction stays usable, as it does on SQLite.

use firebreak_store::{Change, Tx};
use sqlx::postgres::PgConnection;

pub struct PgTx<'c> {
    pub(crate) conn: &'c mut PgConnection,
    changes: Vec<Change>,
}

impl<'c> PgTx<'c> {
    pub fn new(conn: &'c mut PgConnection) -> PgTx<'c> {
        PgTx {
            conn,
            changes: Vec::new(),
        }
    }

    pub fn into_changes(self) -> Vec<Change> {
        self.changes
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
