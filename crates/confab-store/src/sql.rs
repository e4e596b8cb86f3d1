//! The SQL core: every rule of the store, written once, over a small executor that each backend
//! provides.
//!
//! Why this exists: SQLite and PostgreSQL store the same tables and keep the same rules
//! (membership, roles, group size, idempotent sends, gapless `seq`, receipts). Written per backend,
//! every rule would be changed twice. Here the rules are plain async functions over [`Tx`] (run a
//! statement, get owned rows), and [`SqlStore`] implements [`Store`](crate::Store) once on top of
//! them. A [`Backend`] only knows how to reach its database: run a read job, run a write job in a
//! transaction, append messages (SQLite batches them), close.
//!
//! Statements are written once, with `$1…$n` parameters; the few places where the dialects differ
//! are named markers that [`dialect`] renders per backend (once per statement, cached).

mod admin;
mod channel;
pub(crate) mod dialect;
mod event;
mod member;
mod receipt;
mod store;
pub(crate) mod tx;
mod unread;
mod user;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub(crate) use event::append_message;
pub use event::NewMessage;
pub(crate) use tx::{Arg, LockKey, Row, Tx, Value};

use crate::snowflake::Snowflake;
use crate::{Appended, Result};

/// A boxed future that may move between threads: what a job returns.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The [`Store`](crate::Store) implementation, generic over where the SQL runs.
/// [`SqliteStore`](crate::SqliteStore) and [`PostgresStore`](crate::PostgresStore) are this type
/// with their backend; cloning is cheap and clones share the backend.
#[derive(Clone)]
pub struct SqlStore<B> {
    backend: B,
    /// Assigns user, channel and event ids as this node.
    ids: Arc<Snowflake>,
}

impl<B> SqlStore<B> {
    pub(crate) fn new(backend: B, ids: Arc<Snowflake>) -> Self {
        SqlStore { backend, ids }
    }

    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for SqlStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Where the core's jobs run: a database reached through connections that implement [`Tx`].
pub(crate) trait Backend: Clone + Send + Sync + 'static {
    /// A connection as the core sees it (inside a transaction for write jobs), which may borrow
    /// from its backend's thread for `'c`.
    type Conn<'c>: Tx;

    /// Runs `job` on a connection for reads. Reads never wait for writers.
    fn read<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static;

    /// Runs `job` in one write transaction: committed when it returns `Ok`, rolled back when it
    /// returns `Err`. Returns after the commit.
    fn write<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static;

    /// Runs `job` on one consistent snapshot of the database: every read in it sees the same
    /// commit, and writers are not held up (a long read, such as the admin's check, stays right
    /// while servers write).
    fn snapshot<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static;

    /// What the database engine finds wrong with its own files (SQLite's `quick_check`); nothing
    /// where the engine has no such check of its own to run (PostgreSQL).
    fn engine_check(&self) -> impl Future<Output = Result<Vec<String>>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Stores one message by the core's rules (`append_message`) and returns after its commit. By
    /// default one write transaction per message; a backend may store several queued messages in
    /// one transaction (group commit) as long as each caller gets its own outcome.
    fn append(
        &self,
        ids: Arc<Snowflake>,
        message: NewMessage,
    ) -> impl Future<Output = Result<Appended>> + Send {
        async move {
            self.write(move |tx| {
                Box::pin(async move { event::append_message(tx, &ids, &message).await })
            })
            .await?
        }
    }

    /// Waits for running jobs and closes the connections. Later calls fail with
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable).
    fn close(&self) -> impl Future<Output = ()> + Send;
}
