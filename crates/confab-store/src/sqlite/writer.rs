//! The SQLite writer: one thread owns the only connection that writes, and runs the write jobs in
//! the order they come, each in its own transaction, with group commit for message appends.
//!
//! Why a thread of its own: SQLite has one write lock per database, so writers gain nothing from
//! running beside each other, and a thread that owns the connection runs each job's statements
//! directly (prepared once, cached) instead of paying a hand-off between threads per statement.
//!
//! Group commit: consecutive queued appends are stored in one transaction, so the commit is paid
//! once per batch instead of once per message. Nothing waits for a batch to fill: under light load
//! a batch is one message, under heavy load batches grow by themselves while the previous one
//! commits. Each message keeps its own outcome: a send refused by the rules stores nothing and the
//! batch goes on; a failing statement rolls the batch back and its messages are stored one by one.
//! A repeat of a message earlier in the same batch finds that one's `sends` row (the transaction
//! sees its own writes) and gets its record. Every caller is answered only after the commit.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpointer;
use super::conn::{complete, Conn, Job};
use crate::snowflake::Snowflake;
use crate::sql::{append_message, NewMessage};
use crate::{Appended, Result, StoreError};

/// Most messages stored in one transaction (bounds how long one commit keeps the others waiting).
pub(super) const MAX_BATCH: usize = 256;

/// Requests waiting for the writer; callers wait for room beyond this.
pub(super) const QUEUE: usize = 4096;

/// What the writer thread is asked to do.
pub(super) enum Request {
    /// A write job; it runs its own transaction and answers its caller.
    Job(Job),
    /// A message to store, batched with the appends queued behind it.
    Append(Append),
    /// Stop once everything queued before is done; answered when the connection is closed.
    Close(oneshot::Sender<()>),
}

/// One message to store, and where its outcome goes.
pub(super) struct Append {
    pub ids: Arc<Snowflake>,
    pub message: NewMessage,
    pub reply: oneshot::Sender<Result<Appended>>,
}

/// Starts the writer thread on `conn`, with the `checkpointer` that copies its log back. The
/// thread ends (and closes the connection, and stops the checkpointer) when asked to, or when
/// every sender is dropped, that is with the last clone of the store.
pub(super) fn spawn(
    conn: Connection,
    checkpointer: Checkpointer,
    steps: Arc<AtomicU64>,
) -> Result<mpsc::Sender<Request>> {
    let (tx, rx) = mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name("confab-sqlite-writer".into())
        .spawn(move || {
            let closing = run(conn, rx, &steps);
            // The checkpointer's connection too is closed before a `Close` is answered.
            checkpointer.stop();
            if let Some(done) = closing {
                let _ = done.send(());
            }
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the sqlite writer thread: {e}")))?;
    Ok(tx)
}

/// Runs the queue's requests; returns the reply of the `Close` that ended it, if one did.
fn run(
    connection: Connection,
    mut rx: mpsc::Receiver<Request>,
    steps: &AtomicU64,
) -> Option<oneshot::Sender<()>> {
    let mut conn = Conn::new(&connection, steps);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // A request taken while filling a batch, to run next.
    let mut next = None;
    loop {
        // Every sender gone (the last clone of the store dropped): no `Close` to answer.
        let request = next.take().or_else(|| rx.blocking_recv())?;
        match request {
            Request::Job(job) => job(&mut conn),
            Request::Append(first) => {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Request::Append(append)) => batch.push(append),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                append_batch(&mut conn, &mut batch);
            }
            Request::Close(done) => {
                drop(conn);
                drop(connection);
                return Some(done);
            }
        }
    }
}

/// Stores a batch and answers each of its callers.
fn append_batch(conn: &mut Conn<'_>, batch: &mut Vec<Append>) {
    let results = match store(conn, batch) {
        Ok(results) => results,
        Err(e) if batch.len() == 1 => vec![Err(e)],
        Err(e) => {
            // Whatever failed, one request must not take the others down with it: store them one
            // by one, each with its own outcome.
            tracing::warn!(error = %e, size = batch.len(), "batched append failed; retrying one by one");
            batch
                .iter()
                .map(|append| {
                    store(conn, std::slice::from_ref(append)).and_then(|mut r| {
                        r.pop().unwrap_or_else(|| {
                            Err(StoreError::Backend("empty batch result".into()))
                        })
                    })
                })
                .collect()
        }
    };
    for (append, result) in batch.drain(..).zip(results) {
        // The caller may have gone (its connection closed): the message is stored anyway, and a
        // retry with the same client id gets this ack.
        let _ = append.reply.send(result);
    }
}

/// Stores a batch in one transaction; the outer error means nothing was stored.
fn store(conn: &mut Conn<'_>, batch: &[Append]) -> Result<Vec<Result<Appended>>> {
    conn.transaction(|conn| {
        complete(async {
            let mut results = Vec::with_capacity(batch.len());
            for append in batch {
                results.push(append_message(conn, &append.ids, &append.message).await?);
            }
            Ok(results)
        })
    })
}
