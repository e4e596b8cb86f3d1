//! The WAL checkpointer: a thread with a connection of its own that copies the write-ahead log
//! back into the database file beside the writer, so that no commit waits for a checkpoint.
//!
//! Every [`INTERVAL`] it runs a `PASSIVE` checkpoint, which copies what it can without waiting
//! for anyone: the writer goes on appending meanwhile, and once everything is copied the writer's
//! next transaction starts the log from the beginning again. Under writes so heavy that passive
//! checkpoints never catch up, the log would grow without end; past [`HARD_LIMIT_FRAMES`] the
//! checkpointer runs a `RESTART` checkpoint, which waits for the writer's current transaction and
//! holds the next one until the log is copied and restarted — a pause, rarely, instead of an
//! unbounded file.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::conn::BUSY_TIMEOUT;
use crate::{Result, StoreError};

/// How often the log is copied back.
pub(super) const INTERVAL: Duration = Duration::from_millis(1000);

/// Log pages (of 4 KiB: 256 MiB) past which a checkpoint waits for the writer to finish the log.
pub(super) const HARD_LIMIT_FRAMES: i64 = 65_536;

/// The running checkpointer; [`Checkpointer::stop`] ends it and waits.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`.
    pub(super) fn spawn(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("confab-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the sqlite checkpointer: {e}"))
            })?;
        Ok(Checkpointer { stop, thread })
    }

    /// Ends the thread (after the checkpoint it may be running) and closes its connection.
    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    loop {
        match stopped.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        match checkpoint(conn, "PASSIVE") {
            Ok((log, copied)) if log > HARD_LIMIT_FRAMES && copied < log => {
                if let Err(e) = checkpoint(conn, "RESTART") {
                    tracing::warn!(error = %e, log, "sqlite checkpoint (restart) failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sqlite checkpoint failed"),
        }
    }
}

/// Runs a checkpoint of `mode`; returns the log's size and how much of it is copied, in pages.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}
