//! The scale-out store: PostgreSQL, shared by every node of a cluster.
//!
//! This backend only connects, migrates and runs jobs; the rules are the SQL core's
//! (`sql`). Writes are READ COMMITTED transactions; what orders writers across nodes is
//! locks the core takes: the channel's row (`FOR UPDATE`) before `seq` assignment and membership
//! checks, and advisory locks on a send's (sender, client id) and on a direct channel's pair, so
//! that the same send retried on two nodes, or the same direct channel created twice, waits for
//! the first and then finds it.

mod conn;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::snowflake::Snowflake;
use crate::sql::dialect::Sql;
use crate::sql::{Backend, BoxFuture, SqlStore, Tx};
use crate::{Result, StoreError};
use conn::PgConn;

/// Migrations, in order. Each runs once, in a transaction, recorded in `confab_schema`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_receipts.sql"),
    include_str!("../migrations/postgres/0003_last_seen.sql"),
    include_str!("../migrations/postgres/0004_message_ordinals.sql"),
    include_str!("../migrations/postgres/0005_admin.sql"),
];

/// An arbitrary constant: the advisory lock that serializes migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x0c0f_ab00_0001;

/// The PostgreSQL backend of [`Store`](crate::Store).
pub type PostgresStore = SqlStore<Postgres>;

/// Where [`PostgresStore`] runs its SQL: a pool of connections. Clones share the pool.
#[derive(Clone)]
pub struct Postgres {
    pool: PgPool,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`), applies migrations, and assigns ids as node
    /// `node_id`. `schema`, when given, is created if missing and used as the search path (tests
    /// use one each).
    pub async fn connect(url: &str, node_id: u16, schema: Option<&str>) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(schema) = schema {
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        migrate(&pool, schema).await?;
        Ok(SqlStore::new(
            Postgres { pool },
            Arc::new(Snowflake::new(node_id)),
        ))
    }

    /// The pool, for tests that need to look underneath.
    pub fn pool(&self) -> &PgPool {
        &self.backend().pool
    }
}

async fn migrate(pool: &PgPool, schema: Option<&str>) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    if let Some(schema) = schema {
        let quoted = schema.replace('"', "\"\"");
        sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS \"{quoted}\""))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS confab_schema (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let version: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM confab_schema")
        .fetch_one(&mut *tx)
        .await?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(version.unwrap_or(0).max(0) as usize)
    {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO confab_schema (version) VALUES ($1)")
            .bind((i + 1) as i64)
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = i + 1, "applied postgres migration");
    }
    tx.commit().await?;
    Ok(())
}

impl Backend for Postgres {
    type Conn<'c> = PgConn;

    async fn read<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        let mut conn = PgConn::Pooled(self.pool.acquire().await?);
        job(&mut conn).await
    }

    async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        let mut conn = PgConn::Tx(self.pool.begin().await?);
        // On `Err` (or if this future is dropped) the transaction rolls back as it is dropped.
        let value = job(&mut conn).await?;
        if let PgConn::Tx(tx) = conn {
            tx.commit().await?;
        }
        Ok(value)
    }

    /// A read-only REPEATABLE READ transaction: one snapshot for the whole job.
    async fn snapshot<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t, 'c> FnOnce(&'t mut Self::Conn<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        static SNAPSHOT: Sql =
            Sql::new("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        self.write(move |conn| {
            Box::pin(async move {
                conn.execute(&SNAPSHOT, &[]).await?;
                job(&mut *conn).await
            })
        })
        .await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
