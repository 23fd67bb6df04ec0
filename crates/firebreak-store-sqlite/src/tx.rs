//! The SQLite transaction handle: the writer's connection inside one job's savepoint, and the
//! changes the job made, published only if its batch commits. Every method runs synchronously
//! on the writer thread (the `async` is only the shape of the shared contract).

use firebreak_store::{Change, Result, Tx};
use rusqlite::{Connection, Params};

use crate::rows::db;

pub struct SqliteTx<'c> {
    conn: &'c mut Connection,
    changes: Vec<Change>,
}

impl<'c> SqliteTx<'c> {
    pub fn new(conn: &'c mut Connection) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            changes: Vec::new(),
        }
    }

    pub fn into_changes(self) -> Vec<Change> {
        self.changes
    }

    pub fn conn(&self) -> &Connection {
        self.conn
    }

    /// Records a change to publish after commit.
    pub fn changed(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Runs a cached statement; returns the rows it changed.
    pub fn exec(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
            .map_err(db)
    }
}

impl SqliteTx<'_> {
    /// Like [`SqliteTx::exec`], with a unique violation reported as `Conflict(message())`.
    pub fn exec_unique(
        &self,
        sql: &str,
        params: impl Params,
        message: impl FnOnce() -> String,
    ) -> Result<usize> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
            .map_err(|e| crate::rows::unique(e, message))
    }
}

impl Tx for SqliteTx<'_> {
    fn publish(&mut self, change: Change) {
        self.changes.push(change);
    }
}
