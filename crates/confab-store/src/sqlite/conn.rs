//! One SQLite connection as the core's [`Tx`]: statements rendered for SQLite, prepared on first
//! use and kept for the connection's life, run synchronously (rusqlite never yields, so the
//! futures it returns are already complete, and a job runs to its end in one poll: [`complete`]).
//!
//! Why statements are kept here rather than in rusqlite's statement cache: the cache costs a
//! string key copy and two hashes of the statement text per use, a tenth of a message append.
//! A kept statement borrows its connection, so [`Conn`] borrows the connection that its thread
//! owns; and since the core's futures must be `Send` for PostgreSQL, the connection and its
//! statements sit in a [`SendWrapper`], which checks that they are only ever touched on the
//! thread that made them (they are: a job runs on its connection's thread).

use std::collections::HashMap;
use std::future::{ready, Future};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, PrepFlags, Statement, StatementStatus};
use send_wrapper::SendWrapper;

use crate::sql::dialect::{Dialect, Sql};
use crate::sql::{Arg, LockKey, Row, Tx, Value};
use crate::{Result, StoreError};

/// How long a statement waits for another process holding the database's write lock.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static BEGIN: Sql = Sql::new("BEGIN IMMEDIATE");
static COMMIT: Sql = Sql::new("COMMIT");
static ROLLBACK: Sql = Sql::new("ROLLBACK");

/// Work for a connection's thread; it answers its caller itself.
pub(crate) type Job = Box<dyn for<'c> FnOnce(&mut Conn<'c>) + Send>;

/// Runs a job's future to its end on the calling thread. The core's futures over a [`Conn`] never
/// wait (every statement is done when its call returns), so one poll finishes them. A panic is
/// turned into an error, so that a bug in one job cannot take the thread, and every later caller,
/// down with it.
pub(crate) fn complete<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => Err(StoreError::Backend(
                "a SQLite job waited for something other than SQLite".into(),
            )),
        }
    }));
    polled.unwrap_or_else(|_| Err(StoreError::Backend("a store job panicked".into())))
}

/// Opens the connection that writes: creates the file if missing, WAL mode (persistent in the
/// file; in WAL mode `synchronous = NORMAL` survives a process crash, a power loss may lose the
/// last commits), foreign keys on. No automatic checkpoints: SQLite would run them inside the
/// commit that crosses 1,000 WAL pages, holding that commit (and every send queued behind it) for
/// tens of milliseconds; the checkpointer thread (`sqlite/checkpoint`) runs them beside the
/// writer instead. After a checkpoint the WAL file is cut back to 64 MiB.
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "sqlite store is not in WAL mode");
    }
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    Ok(conn)
}

/// Opens a read-only connection; in WAL mode it reads the last commit and never waits for the
/// writer.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A connection owned by one of the store's threads, with the statements prepared on it.
pub(crate) struct Conn<'c>(SendWrapper<Kept<'c>>);

struct Kept<'c> {
    conn: &'c Connection,
    /// Where the virtual machine steps of this connection's statements are added up.
    steps: &'c AtomicU64,
    /// By the address of the core's [`Sql`].
    statements: HashMap<usize, Statement<'c>>,
}

impl<'c> Conn<'c> {
    /// `conn`, on the thread that owns it.
    pub(crate) fn new(conn: &'c Connection, steps: &'c AtomicU64) -> Conn<'c> {
        Conn(SendWrapper::new(Kept {
            conn,
            steps,
            statements: HashMap::new(),
        }))
    }

    /// Runs `f` in a transaction that holds SQLite's write lock from the start (`BEGIN
    /// IMMEDIATE`), so that other processes sharing the file wait for it (busy timeout) instead of
    /// failing half-way. Commits when `f` returns `Ok`, rolls back when it returns `Err`.
    pub(crate) fn transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.execute_now(&BEGIN, &[])?;
        let result = f(self).and_then(|value| {
            self.execute_now(&COMMIT, &[])?;
            Ok(value)
        });
        if result.is_err() && !self.0.conn.is_autocommit() {
            if let Err(e) = self.execute_now(&ROLLBACK, &[]) {
                tracing::warn!(error = %e, "sqlite rollback failed");
            }
        }
        result
    }

    /// `sql`'s statement, prepared the first time, with `args` bound.
    fn bound(&mut self, sql: &'static Sql, args: &[Arg<'_>]) -> Result<&mut Statement<'c>> {
        let Kept {
            conn, statements, ..
        } = &mut *self.0;
        let stmt = match statements.entry(std::ptr::from_ref(sql) as usize) {
            std::collections::hash_map::Entry::Occupied(kept) => kept.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(conn.prepare_with_flags(
                    sql.render(Dialect::Sqlite),
                    PrepFlags::SQLITE_PREPARE_PERSISTENT,
                )?)
            }
        };
        if stmt.parameter_count() != args.len() {
            return Err(StoreError::Backend(format!(
                "{} arguments for {} parameters in {:?}",
                args.len(),
                stmt.parameter_count(),
                sql.text()
            )));
        }
        // Every parameter is bound each time, so no earlier value lingers.
        for (i, arg) in args.iter().enumerate() {
            match *arg {
                Arg::Int(v) => stmt.raw_bind_parameter(i + 1, v)?,
                Arg::Text(v) => stmt.raw_bind_parameter(i + 1, v)?,
                Arg::Blob(v) => stmt.raw_bind_parameter(i + 1, v)?,
                Arg::Null | Arg::NullInt => {
                    stmt.raw_bind_parameter(i + 1, rusqlite::types::Null)?
                }
            }
        }
        Ok(stmt)
    }

    /// Runs a query and returns its first `limit` rows.
    fn fetch_now(&mut self, sql: &'static Sql, args: &[Arg<'_>], limit: usize) -> Result<Vec<Row>> {
        let steps = self.0.steps;
        let stmt = self.bound(sql, args)?;
        let out = Self::rows(sql, stmt, limit);
        steps.fetch_add(
            stmt.reset_status(StatementStatus::VmStep) as u64,
            Ordering::Relaxed,
        );
        out
    }

    /// The first `limit` rows of a bound statement.
    fn rows(sql: &'static Sql, stmt: &mut Statement<'c>, limit: usize) -> Result<Vec<Row>> {
        let width = stmt.column_count();
        let mut out = Vec::new();
        // Dropping `rows` resets the statement for its next use.
        let mut rows = stmt.raw_query();
        while out.len() < limit {
            let Some(row) = rows.next()? else { break };
            let names = || {
                (0..width)
                    .map(|i| Ok(row.as_ref().column_name(i)?.to_owned()))
                    .collect()
            };
            let columns = sql.columns(Dialect::Sqlite, names)?;
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(v) => Value::Text(
                        std::str::from_utf8(v)
                            .map_err(|e| StoreError::Backend(format!("stored text: {e}")))?
                            .to_owned(),
                    ),
                    ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                    ValueRef::Real(v) => {
                        return Err(StoreError::Backend(format!("unexpected real {v}")))
                    }
                });
            }
            out.push(Row::new(columns, values));
        }
        Ok(out)
    }

    fn execute_now(&mut self, sql: &'static Sql, args: &[Arg<'_>]) -> Result<u64> {
        let steps = self.0.steps;
        let stmt = self.bound(sql, args)?;
        let changed = stmt.raw_execute();
        steps.fetch_add(
            stmt.reset_status(StatementStatus::VmStep) as u64,
            Ordering::Relaxed,
        );
        Ok(changed? as u64)
    }
}

impl Tx for Conn<'_> {
    fn fetch_all<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<Vec<Row>>> + Send + 'a {
        ready(self.fetch_now(sql, args, usize::MAX))
    }

    fn fetch_optional<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<Option<Row>>> + Send + 'a {
        ready(
            self.fetch_now(sql, args, 1)
                .map(|rows| rows.into_iter().next()),
        )
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<u64>> + Send + 'a {
        ready(self.execute_now(sql, args))
    }

    /// Nothing to lock: this connection's thread is the only writer.
    fn lock_key<'a>(
        &'a mut self,
        _key: LockKey<'a>,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        ready(Ok(()))
    }

    /// Nothing to lock: this connection's thread is the only writer.
    fn lock_rows<'a>(
        &'a mut self,
        _sql: &'static Sql,
        _args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        ready(Ok(()))
    }
}
