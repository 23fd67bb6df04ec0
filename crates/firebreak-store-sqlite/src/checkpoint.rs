//! WAL checkpoints on their own thread and connection, so the writer does not stop to copy the
//! log back into the database file (and wait for that file's `fsync`) in the middle of a burst.
//!
//! The writer tells the checkpointer after every commit; the checkpointer runs a `PASSIVE`
//! checkpoint at most every [`EVERY`], which copies what it can without taking any lock that
//! writes or reads wait for. Once everything is copied, the writer's next transaction starts
//! the log over from its beginning, so the log file stays about one interval's writes long.
//! The writer keeps SQLite's own checkpoint, at a much larger log ([`BACKSTOP_PAGES`]), as a
//! backstop should this thread stop or fall behind. An idle store runs no checkpoints.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// The least time between two checkpoints.
pub const EVERY: Duration = Duration::from_millis(100);
/// The log size, in pages, at which the writer checkpoints itself (64 MiB at 4 KiB pages).
pub const BACKSTOP_PAGES: i64 = 16_384;

#[derive(Default)]
struct Signal {
    /// Commits since the last checkpoint.
    dirty: bool,
    stop: bool,
}

/// The checkpointer's handle: the writer calls [`Checkpointer::committed`]; closing the store
/// calls [`Checkpointer::stop`].
pub struct Checkpointer {
    signal: Arc<(Mutex<Signal>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts the thread on a connection from `open`. If it cannot start, the writer's own
    /// checkpoints still keep the log bounded.
    pub fn start(
        path: PathBuf,
        open: impl Fn() -> crate::Result<Connection> + Send + 'static,
    ) -> Checkpointer {
        let signal = Arc::new((Mutex::new(Signal::default()), Condvar::new()));
        let theirs = signal.clone();
        let thread = std::thread::Builder::new()
            .name("firebreak-sqlite-checkpoint".into())
            .spawn(move || match open() {
                Ok(conn) => run(&conn, &theirs),
                Err(e) => tracing::warn!(error = %e, path = %path.display(),
                    "could not open a connection for WAL checkpoints; the writer checkpoints itself"),
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "could not start the WAL checkpoint thread; the writer checkpoints itself");
                None
            }
        };
        Checkpointer {
            signal,
            thread: Mutex::new(thread),
        }
    }

    /// Something was committed: a checkpoint is due within [`EVERY`].
    pub fn committed(&self) {
        let (lock, wake) = &*self.signal;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        if !s.dirty {
            s.dirty = true;
            wake.notify_one();
        }
    }

    /// Stops the thread after the checkpoint it is running, if any.
    pub fn stop(&self) {
        {
            let (lock, wake) = &*self.signal;
            lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
            wake.notify_one();
        }
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn run(conn: &Connection, signal: &(Mutex<Signal>, Condvar)) {
    let (lock, wake) = signal;
    let mut last = Instant::now() - EVERY;
    loop {
        {
            let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !s.dirty && !s.stop {
                s = wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.stop {
                return;
            }
            s.dirty = false;
        }
        // Commits that land during the wait are covered by this checkpoint, or mark the next.
        if let Some(wait) = EVERY.checked_sub(last.elapsed()) {
            std::thread::sleep(wait);
        }
        last = Instant::now();
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match done {
            Ok((_, log, copied)) if copied < log => {
                // A reader still needs older pages: look again after the next interval.
                lock.lock().unwrap_or_else(|p| p.into_inner()).dirty = true;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "a WAL checkpoint failed; trying again after the next commit")
            }
        }
    }
}
