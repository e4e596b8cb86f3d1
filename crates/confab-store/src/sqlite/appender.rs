//! Group commit for SQLite message appends, on a writer thread of its own.
//!
//! Sends queue here; one thread takes everything queued so far and stores it in one transaction,
//! so the commit is paid once per batch instead of once per message. Nothing waits for a batch to
//! fill: under light load a batch is one message, and under heavy load batches grow by themselves
//! while the previous one commits.
//!
//! The thread owns its own connection (rusqlite, the same SQLite library sqlx links) and runs the
//! statements directly, prepared once and cached: a message costs a few microseconds of SQLite
//! work and the batch one hand-off between threads, where going through sqlx's worker would cost a
//! round trip between threads per statement. It shares the file with the store's other connections
//! under SQLite's own locking (`BEGIN IMMEDIATE`, busy timeout). Every caller is answered only after
//! the commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use confab_proto::{ChannelId, Event, EventBody, EventId, UserId, UserRef};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::rows::{to_i64, to_u64};
use crate::snowflake::{now_ms, Snowflake};
use crate::{Appended, Result, SendRecord, StoreError};

/// Most messages stored in one transaction (bounds how long one commit keeps the others waiting).
pub(super) const MAX_BATCH: usize = 256;

/// Appends waiting for the writer; senders wait for room beyond this.
pub(super) const QUEUE: usize = 4096;

/// One message to store, and where its outcome goes.
#[derive(Debug)]
pub(super) struct AppendRequest {
    pub channel: ChannelId,
    pub sender: UserId,
    pub client_id: String,
    pub body: String,
    pub reply: oneshot::Sender<Result<Appended>>,
}

/// Opens the writer's connection and starts its thread; the thread ends (and closes the
/// connection) when every sender is dropped, that is with the last clone of the store.
pub(super) fn spawn(path: &Path, ids: Arc<Snowflake>) -> Result<mpsc::Sender<AppendRequest>> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // The file is already in WAL mode (the store's migrations ran first); these are per connection.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )?;
    conn.set_prepared_statement_cache_capacity(16);
    let (tx, rx) = mpsc::channel(QUEUE);
    std::thread::Builder::new()
        .name("confab-appender".into())
        .spawn(move || run(conn, &ids, rx))
        .map_err(|e| StoreError::Backend(format!("cannot start the appender thread: {e}")))?;
    Ok(tx)
}

fn run(mut conn: Connection, ids: &Snowflake, mut rx: mpsc::Receiver<AppendRequest>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let results = match store_batch(&mut conn, ids, &batch) {
            Ok(results) => results,
            Err(e) if batch.len() == 1 => vec![Err(e)],
            Err(e) => {
                // Whatever failed, one request must not take the others down with it: store
                // them one by one, each with its own outcome.
                tracing::warn!(error = %e, size = batch.len(), "batched append failed; retrying one by one");
                batch
                    .iter()
                    .map(|request| {
                        store_batch(&mut conn, ids, std::slice::from_ref(request)).and_then(
                            |mut r| {
                                r.pop().unwrap_or_else(|| {
                                    Err(StoreError::Backend("empty batch result".into()))
                                })
                            },
                        )
                    })
                    .collect()
            }
        };
        for (request, result) in batch.drain(..).zip(results) {
            // The caller may have gone (its connection closed): the message is stored anyway,
            // and a retry with the same client id gets this ack.
            let _ = request.reply.send(result);
        }
    }
}

/// Stores a batch in one transaction; the outer error means nothing was stored.
fn store_batch(
    conn: &mut Connection,
    ids: &Snowflake,
    batch: &[AppendRequest],
) -> Result<Vec<Result<Appended>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    // New messages of this batch by (sender, client id): a repeat within the batch gets the
    // first one's record.
    let mut stored: HashMap<(i64, &str), SendRecord> = HashMap::new();
    {
        let mut earlier = tx.prepare_cached(
            "SELECT channel_id, seq, id, ts FROM sends WHERE sender_id = ?1 AND client_id = ?2",
        )?;
        let mut author = tx.prepare_cached(
            "SELECT u.username FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.channel_id = ?1 AND m.user_id = ?2",
        )?;
        let mut next_seq = tx.prepare_cached(
            "UPDATE channels SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
        )?;
        let mut insert_event = tx.prepare_cached(
            "INSERT INTO events (channel_id, seq, id, ts, author_id, kind, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut insert_send = tx.prepare_cached(
            "INSERT INTO sends (sender_id, client_id, channel_id, seq, id, ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in batch {
            let key = (r.sender.0, r.client_id.as_str());
            if let Some(record) = stored.get(&key) {
                results.push(Ok(Appended {
                    record: record.clone(),
                    event: None,
                }));
                continue;
            }
            let found = earlier
                .query_row(params![r.sender.0, r.client_id], |row| {
                    Ok(SendRecord {
                        channel_id: ChannelId(row.get(0)?),
                        client_id: r.client_id.clone(),
                        seq: to_u64(row.get(1)?),
                        id: EventId(row.get(2)?),
                        ts: row.get(3)?,
                    })
                })
                .optional()?;
            if let Some(record) = found {
                results.push(Ok(Appended {
                    record,
                    event: None,
                }));
                continue;
            }
            let username: Option<String> = author
                .query_row(params![r.channel.0, r.sender.0], |row| row.get(0))
                .optional()?;
            let Some(username) = username else {
                results.push(Err(StoreError::Forbidden(
                    "not a member of this channel".into(),
                )));
                continue;
            };
            let seq: i64 = next_seq.query_row(params![r.channel.0], |row| row.get(0))?;
            let event = Event {
                channel_id: r.channel,
                seq: to_u64(seq),
                id: ids.next_id(),
                ts: now_ms(),
                author: UserRef {
                    id: r.sender,
                    username,
                },
                body: EventBody::Message {
                    body: r.body.clone(),
                    client_id: r.client_id.clone(),
                },
            };
            insert_event.execute(params![
                r.channel.0,
                seq,
                event.id.0,
                event.ts,
                r.sender.0,
                event.body.kind(),
                serde_json::to_string(&event.body)?,
            ])?;
            insert_send.execute(params![
                r.sender.0,
                r.client_id,
                r.channel.0,
                to_i64(event.seq),
                event.id.0,
                event.ts
            ])?;
            let record = SendRecord {
                channel_id: r.channel,
                client_id: r.client_id.clone(),
                id: event.id,
                seq: event.seq,
                ts: event.ts,
            };
            stored.insert(key, record.clone());
            results.push(Ok(Appended {
                record,
                event: Some(event),
            }));
        }
    }
    tx.commit()?;
    Ok(results)
}
