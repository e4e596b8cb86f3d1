//! The SQLite readers: a few threads, each owning a read-only connection, taking read jobs from one
//! shared queue. In WAL mode a reader sees the last commit and never waits for the writer.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::conn::{open_reader, Conn, Job};
use crate::{Result, StoreError};

/// Reader threads (and connections).
pub(super) const READERS: usize = 4;

/// Read jobs waiting for a reader; callers wait for room beyond this.
pub(super) const QUEUE: usize = 1024;

/// What a reader thread is asked to do.
pub(super) enum Request {
    /// A read job; it answers its caller.
    Job(Job),
    /// Stop (one reader each) once everything queued before is taken; answered when that
    /// reader's connection is closed.
    Close(oneshot::Sender<()>),
}

/// Opens the read-only connections and starts their threads. They end when asked to, or when every
/// sender is dropped.
pub(super) fn spawn(path: &Path, steps: &Arc<AtomicU64>) -> Result<mpsc::Sender<Request>> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..READERS {
        let conn = open_reader(path)?;
        let rx = rx.clone();
        let steps = steps.clone();
        std::thread::Builder::new()
            .name(format!("confab-sqlite-reader-{i}"))
            .spawn(move || run(conn, &rx, &steps))
            .map_err(|e| {
                StoreError::Backend(format!("cannot start a sqlite reader thread: {e}"))
            })?;
    }
    Ok(tx)
}

fn run(connection: Connection, rx: &Mutex<mpsc::Receiver<Request>>, steps: &AtomicU64) {
    let mut conn = Conn::new(&connection, steps);
    loop {
        // One idle reader waits on the queue while the others wait for the lock.
        let request = rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        match request {
            Some(Request::Job(job)) => job(&mut conn),
            Some(Request::Close(done)) => {
                drop(conn);
                drop(connection);
                let _ = done.send(());
                return;
            }
            None => return,
        }
    }
}
