//! Reads: a few query-only connections, each used by one read at a time on tokio's blocking
//! threads. WAL lets them read while the writer writes.

use std::sync::{Arc, Mutex};

use firebreak_store::{Result, StoreError};
use rusqlite::Connection;
use tokio::sync::Semaphore;

pub type OpenReader = Arc<dyn Fn() -> Result<Connection> + Send + Sync>;

pub struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    open: OpenReader,
}

impl Readers {
    pub fn new(size: usize, open: OpenReader) -> Readers {
        Readers {
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
            open,
        }
    }

    /// Runs `f` on a read connection.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::unavailable("the SQLite store is closed"))?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => (self.open)()?,
        };
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .map_err(|e| StoreError::backend(format!("a read stopped unexpectedly: {e}")))?;
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        result
    }

    /// Refuses further reads.
    pub fn close(&self) {
        self.permits.close();
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
