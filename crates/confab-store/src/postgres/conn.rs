//! A PostgreSQL connection as the core's [`Tx`]: a pooled connection for reads, or a transaction
//! for writes. Statements are prepared once per connection and kept (sqlx's statement cache, keyed
//! by the rendered text, which [`Dialect::render`] keeps stable); rows are copied into owned cells
//! by column type.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Column, PgConnection, Postgres, Row as _, Transaction, TypeInfo, ValueRef};

use crate::sql::dialect::{Dialect, Sql};
use crate::sql::{Arg, LockKey, Row, Tx, Value};
use crate::{Result, StoreError};

/// A connection taken from the pool: on its own for reads, inside a transaction for writes.
pub(crate) enum PgConn {
    Pooled(PoolConnection<Postgres>),
    Tx(Transaction<'static, Postgres>),
}

impl PgConn {
    fn conn(&mut self) -> &mut PgConnection {
        match self {
            PgConn::Pooled(conn) => conn,
            PgConn::Tx(tx) => tx,
        }
    }
}

fn query<'a>(sql: &'static Sql, args: &'a [Arg<'a>]) -> Query<'a, Postgres, PgArguments> {
    let mut query = sqlx::query(sql.render(Dialect::Postgres));
    for arg in args {
        query = match *arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Blob(v) => query.bind(v),
            Arg::Null => query.bind(None::<&str>),
            Arg::NullInt => query.bind(None::<i64>),
        };
    }
    query
}

/// Copies a row into owned cells, by each column's type.
fn owned(sql: &'static Sql, row: &PgRow) -> Result<Row> {
    let names = || Ok(row.columns().iter().map(|c| c.name().to_owned()).collect());
    let columns = sql.columns(Dialect::Postgres, names)?;
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = if row.try_get_raw(i)?.is_null() {
            Value::Null
        } else {
            match column.type_info().name() {
                "INT8" => Value::Int(row.try_get::<i64, _>(i)?),
                "INT4" => Value::Int(i64::from(row.try_get::<i32, _>(i)?)),
                "INT2" => Value::Int(i64::from(row.try_get::<i16, _>(i)?)),
                "BOOL" => Value::Int(i64::from(row.try_get::<bool, _>(i)?)),
                "TEXT" | "VARCHAR" | "NAME" => Value::Text(row.try_get::<String, _>(i)?),
                "BYTEA" => Value::Blob(row.try_get::<Vec<u8>, _>(i)?),
                other => {
                    return Err(StoreError::Backend(format!(
                        "column {:?} has unexpected type {other}",
                        column.name()
                    )))
                }
            }
        };
        values.push(value);
    }
    Ok(Row::new(columns, values))
}

impl Tx for PgConn {
    async fn fetch_all<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> Result<Vec<Row>> {
        let rows = query(sql, args).fetch_all(self.conn()).await?;
        rows.iter().map(|row| owned(sql, row)).collect()
    }

    async fn fetch_optional<'a>(
        &'a mut self,
        sql: &'static Sql,
        args: &'a [Arg<'a>],
    ) -> Result<Option<Row>> {
        let row = query(sql, args).fetch_optional(self.conn()).await?;
        row.map(|row| owned(sql, &row)).transpose()
    }

    async fn execute<'a>(&'a mut self, sql: &'static Sql, args: &'a [Arg<'a>]) -> Result<u64> {
        Ok(query(sql, args).execute(self.conn()).await?.rows_affected())
    }

    async fn lock_key<'a>(&'a mut self, key: LockKey<'a>) -> Result<()> {
        static LOCK: Sql = Sql::new("SELECT pg_advisory_xact_lock(hashtext($1))");
        let key = key.text();
        self.execute(&LOCK, &[key.as_str().into()]).await?;
        Ok(())
    }

    async fn lock_rows<'a>(&'a mut self, sql: &'static Sql, args: &'a [Arg<'a>]) -> Result<()> {
        self.execute(sql, args).await?;
        Ok(())
    }
}
