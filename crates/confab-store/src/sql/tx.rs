//! What the core asks of a connection: run one statement with typed arguments and hand back owned
//! rows, and take the locks that order concurrent writers.
//!
//! Why this exists: it is the whole surface between the rules and a database driver, small enough
//! that each backend implements it in a page, and owned rows let the same row mapping serve both.

use std::future::Future;
use std::sync::Arc;

use confab_proto::{ChannelId, EventId, UserId};

use super::dialect::Sql;
use crate::{Result, StoreError};

/// A statement's argument. Ids and counts are 64-bit integers in both dialects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
    /// A NULL of type TEXT (a channel's name and direct key).
    Null,
    /// A NULL of type BIGINT (a non-message event's ordinals).
    NullInt,
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

/// Sequence numbers and limits are `u64` in Rust and BIGINT in SQL: clamped, never wrapped.
impl From<u64> for Arg<'_> {
    fn from(v: u64) -> Self {
        Arg::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Arg<'_> {
    fn from(v: u32) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl From<UserId> for Arg<'_> {
    fn from(v: UserId) -> Self {
        Arg::Int(v.0)
    }
}

impl From<ChannelId> for Arg<'_> {
    fn from(v: ChannelId) -> Self {
        Arg::Int(v.0)
    }
}

impl From<EventId> for Arg<'_> {
    fn from(v: EventId) -> Self {
        Arg::Int(v.0)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Blob(v)
    }
}

impl From<Option<u64>> for Arg<'_> {
    fn from(v: Option<u64>) -> Self {
        v.map_or(Arg::NullInt, Arg::from)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Arg::Null, Arg::Text)
    }
}

/// What a lock taken with [`Tx::lock_key`] is about. Its text is the lock's key: the same on every
/// node, and kept the same across versions, so that nodes of two versions lock alike during a
/// rolling upgrade.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockKey<'a> {
    /// A send, by (sender, client id).
    Send(UserId, &'a str),
    /// A direct channel, by its pair key (`lo:hi`).
    Direct(&'a str),
}

impl LockKey<'_> {
    pub(crate) fn text(&self) -> String {
        match self {
            LockKey::Send(sender, client_id) => format!("send:{}:{client_id}", sender.0),
            LockKey::Direct(pair) => (*pair).to_owned(),
        }
    }
}

/// One cell of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// One result row, owned, with its cells found by column name (the names are the same in both
/// dialects: the statements are).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// Shared by every row of one result.
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Row {
        Row { columns, values }
    }

    fn value(&self, name: &str) -> Result<&Value> {
        self.columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| StoreError::Backend(format!("no column {name:?} in the result")))
    }

    fn mismatch(name: &str, want: &str, got: &Value) -> StoreError {
        StoreError::Backend(format!("column {name:?} is not {want}: {got:?}"))
    }

    pub(crate) fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        match self.value(name)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => Err(Row::mismatch(name, "an integer", other)),
        }
    }

    pub(crate) fn int(&self, name: &str) -> Result<i64> {
        self.opt_int(name)?
            .ok_or_else(|| Row::mismatch(name, "an integer", &Value::Null))
    }

    /// A sequence number or count: never negative in the store, read as 0 if it were.
    pub(crate) fn seq(&self, name: &str) -> Result<u64> {
        Ok(u64::try_from(self.int(name)?).unwrap_or(0))
    }

    /// A member count.
    pub(crate) fn count(&self, name: &str) -> Result<u32> {
        Ok(u32::try_from(self.int(name)?).unwrap_or(0))
    }

    pub(crate) fn opt_text(&self, name: &str) -> Result<Option<String>> {
        match self.value(name)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            other => Err(Row::mismatch(name, "text", other)),
        }
    }

    pub(crate) fn blob(&self, name: &str) -> Result<Vec<u8>> {
        match self.value(name)? {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(Row::mismatch(name, "a blob", other)),
        }
    }

    pub(crate) fn text(&self, name: &str) -> Result<String> {
        self.opt_text(name)?
            .ok_or_else(|| Row::mismatch(name, "text", &Value::Null))
    }
}

/// A connection as the core uses it, inside a transaction for write jobs. Statements are the
/// core's static [`Sql`] texts with `$1…$n` parameters and dialect markers; the implementation
/// runs them as its dialect renders them ([`Sql::render`]) and keeps them prepared.
pub(crate) trait Tx: Send {
    /// Runs a query and returns all its rows.
    fn fetch_all<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<Vec<Row>>> + Send + 'a;

    /// Runs a query and returns its first row, if any, without reading further.
    fn fetch_optional<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<Option<Row>>> + Send + 'a;

    /// Runs a statement and returns how many rows it changed.
    fn execute<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<u64>> + Send + 'a;

    /// Holds a lock on `key` until the transaction ends, so that writers of the same key on other
    /// nodes take turns (PostgreSQL: an advisory lock). Nothing where one writer excludes all
    /// others anyway (SQLite).
    fn lock_key<'a>(&'a mut self, key: LockKey<'a>)
        -> impl Future<Output = Result<()>> + Send + 'a;

    /// Runs `sql`, a `SELECT … FOR UPDATE` whose only purpose is to lock rows until the
    /// transaction ends. Nothing where one writer excludes all others anyway (SQLite).
    fn lock_rows<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<()>> + Send + 'a;

    /// Runs a query that always returns a row (an aggregate), and returns that row.
    fn fetch_one<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<Row>> + Send + 'a {
        async move {
            self.fetch_optional(sql, args)
                .await?
                .ok_or_else(|| StoreError::Backend("a query returned no row".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_found_by_name_and_typed() {
        let row = Row::new(
            Arc::from(vec!["seq".to_owned(), "name".to_owned(), "gone".to_owned()]),
            vec![Value::Int(-3), Value::Text("x".into()), Value::Null],
        );
        assert_eq!(row.seq("seq").ok(), Some(0), "negative reads as 0");
        assert_eq!(row.text("name").ok().as_deref(), Some("x"));
        assert_eq!(row.opt_text("gone").ok(), Some(None));
        assert!(row.int("name").is_err());
        assert!(row.int("missing").is_err());
        assert!(matches!(Arg::from(u64::MAX), Arg::Int(i64::MAX)));
    }
}
