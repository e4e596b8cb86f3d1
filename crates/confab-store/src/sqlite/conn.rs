//! One SQLite connection as the core's [`Tx`]: statements rendered for SQLite, prepared once and
//! kept in the connection's statement cache, run synchronously (rusqlite never yields, so the
//! futures it returns are already complete, and a job runs to its end in one poll: [`complete`]).

use std::future::{ready, Future};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Connection, OpenFlags};

use crate::sql::dialect::Dialect;
use crate::sql::{Arg, Row, Tx, Value};
use crate::{Result, StoreError};

/// How long a statement waits for another process holding the database's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection: more than the core has, so none is prepared twice.
const STATEMENT_CACHE: usize = 128;

/// Work for a connection's thread; it answers its caller itself.
pub(crate) type Job = Box<dyn FnOnce(&mut Conn) + Send>;

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

/// A connection owned by one of the store's threads.
pub(crate) struct Conn {
    conn: Connection,
}

impl Conn {
    /// Opens the connection that writes: creates the file if missing, WAL mode (persistent in the
    /// file; in WAL mode `synchronous = NORMAL` survives a process crash, a power loss may lose
    /// the last commits), foreign keys on. WAL checkpoints stay automatic.
    pub(crate) fn open_writer(path: &Path) -> Result<Conn> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "sqlite store is not in WAL mode");
        }
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -65536;",
        )?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Conn { conn })
    }

    /// Opens a read-only connection; in WAL mode it reads the last commit and never waits for
    /// the writer.
    pub(crate) fn open_reader(path: &Path) -> Result<Conn> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Conn { conn })
    }

    /// The connection itself, for migrations.
    pub(crate) fn raw(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Runs `f` in a transaction that holds SQLite's write lock from the start (`BEGIN
    /// IMMEDIATE`), so that other processes sharing the file wait for it (busy timeout) instead of
    /// failing half-way. Commits when `f` returns `Ok`, rolls back when it returns `Err`.
    pub(crate) fn transaction<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = f(self).and_then(|value| {
            self.conn.execute_batch("COMMIT")?;
            Ok(value)
        });
        if result.is_err() && !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "sqlite rollback failed");
            }
        }
        result
    }

    fn prepare(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<CachedStatement<'_>> {
        let mut stmt = self.conn.prepare_cached(Dialect::Sqlite.render(sql))?;
        if stmt.parameter_count() != args.len() {
            return Err(StoreError::Backend(format!(
                "{} arguments for {} parameters in {sql:?}",
                args.len(),
                stmt.parameter_count()
            )));
        }
        for (i, arg) in args.iter().enumerate() {
            match *arg {
                Arg::Int(v) => stmt.raw_bind_parameter(i + 1, v)?,
                Arg::Text(v) => stmt.raw_bind_parameter(i + 1, v)?,
                Arg::Blob(v) => stmt.raw_bind_parameter(i + 1, v)?,
                Arg::Null => stmt.raw_bind_parameter(i + 1, rusqlite::types::Null)?,
            }
        }
        Ok(stmt)
    }

    fn fetch_now(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Row>> {
        let mut stmt = self.prepare(sql, args)?;
        let width = stmt.column_count();
        // The names are read once per result, and only when there is a row.
        let mut columns: Option<Arc<[String]>> = None;
        let mut out = Vec::new();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            let columns = match &columns {
                Some(c) => c.clone(),
                None => {
                    let names: Vec<String> = (0..width)
                        .map(|i| Ok(row.as_ref().column_name(i)?.to_owned()))
                        .collect::<Result<_>>()?;
                    columns.insert(Arc::from(names)).clone()
                }
            };
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

    fn execute_now(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(self.prepare(sql, args)?.raw_execute()? as u64)
    }
}

impl Tx for Conn {
    fn fetch_all<'a>(
        &'a mut self,
        sql: &'static str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<Vec<Row>>> + Send + 'a {
        ready(self.fetch_now(sql, args))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'static str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<u64>> + Send + 'a {
        ready(self.execute_now(sql, args))
    }

    /// Nothing to lock: this connection's thread is the only writer.
    fn lock_key<'a>(&'a mut self, _key: &'a str) -> impl Future<Output = Result<()>> + Send + 'a {
        ready(Ok(()))
    }

    /// Nothing to lock: this connection's thread is the only writer.
    fn lock_rows<'a>(
        &'a mut self,
        _sql: &'static str,
        _args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        ready(Ok(()))
    }
}
