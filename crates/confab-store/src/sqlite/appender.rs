//! Group commit for SQLite message appends.
//!
//! Sends queue here and one task stores everything queued so far in one transaction, so the commit
//! and each statement's round trip to SQLite's worker thread are paid once per batch instead of
//! once per message. Nothing waits for a batch to fill: under light load a batch is one message,
//! and under heavy load batches grow by themselves while the previous one commits.
//!
//! A batch runs a fixed number of statements whatever its size and however many channels it
//! touches: one lookup of earlier sends (the idempotency records), one membership check, one `seq`
//! update of all its channels, one insert of all the events and one of all the idempotency
//! records. Every caller is answered only after the commit.

use std::collections::HashMap;
use std::sync::Arc;

use confab_proto::{Event, EventBody, Id, UserRef};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::rows::{to_i64, to_u64};
use crate::snowflake::{now_ms, Snowflake};
use crate::{Appended, Result, SendRecord, StoreError};

/// Most messages stored in one transaction (bounds its duration, and the statements' parameters:
/// 7 per event row, well under SQLite's limit).
pub(super) const MAX_BATCH: usize = 256;

/// Appends waiting for the appender; senders wait for room beyond this.
pub(super) const QUEUE: usize = 4096;

/// One message to store, and where its outcome goes.
#[derive(Debug)]
pub(super) struct AppendRequest {
    pub channel: Id,
    pub sender: Id,
    pub client_id: String,
    pub body: String,
    pub reply: oneshot::Sender<Result<Appended>>,
}

/// Starts the appender task; it ends when every sender is dropped.
pub(super) fn spawn(writer: SqlitePool, ids: Arc<Snowflake>) -> mpsc::Sender<AppendRequest> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(writer, ids, rx));
    tx
}

async fn run(writer: SqlitePool, ids: Arc<Snowflake>, mut rx: mpsc::Receiver<AppendRequest>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = match store_batch(&writer, &ids, &batch).await {
            Ok(results) => results,
            Err(e) if batch.len() == 1 => vec![Err(e)],
            Err(e) => {
                // Whatever failed, one request must not take the others down with it: store
                // them one by one, each with its own outcome.
                tracing::warn!(error = %e, size = batch.len(), "batched append failed; retrying one by one");
                let mut results = Vec::with_capacity(batch.len());
                for request in &batch {
                    let one = store_batch(&writer, &ids, std::slice::from_ref(request)).await;
                    results.push(one.and_then(|mut r| {
                        r.pop().unwrap_or_else(|| {
                            Err(StoreError::Backend("empty batch result".into()))
                        })
                    }));
                }
                results
            }
        };
        for (request, result) in batch.drain(..).zip(results) {
            // The caller may have gone (its connection closed): the message is stored anyway,
            // and a retry with the same client id gets this ack.
            let _ = request.reply.send(result);
        }
    }
}

/// What one request of a batch comes to, before the inserts.
enum Outcome {
    /// Stored earlier: the original record.
    Earlier(SendRecord),
    /// A repeat of the batch's new message at this index.
    RepeatOf(usize),
    NotMember,
    /// A new message: index into the batch's new events.
    New(usize),
}

/// Stores a batch in one transaction; the outer error means nothing was stored.
async fn store_batch(
    writer: &SqlitePool,
    ids: &Snowflake,
    batch: &[AppendRequest],
) -> Result<Vec<Result<Appended>>> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;

    // Earlier sends with the same (sender, client id): answered with their original record.
    let mut earlier: HashMap<(i64, &str), SendRecord> = HashMap::new();
    {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT sender_id, client_id, channel_id, seq, id, ts FROM sends \
             WHERE (sender_id, client_id) IN (",
        );
        q.push_values(batch, |mut row, r| {
            row.push_bind(r.sender.0).push_bind(r.client_id.as_str());
        });
        q.push(")");
        for row in q.build().fetch_all(&mut *tx).await? {
            let sender: i64 = row.try_get("sender_id")?;
            let client_id: String = row.try_get("client_id")?;
            let Some(request) = batch
                .iter()
                .find(|r| r.sender.0 == sender && r.client_id == client_id)
            else {
                continue;
            };
            let record = SendRecord {
                channel_id: Id(row.try_get("channel_id")?),
                client_id,
                id: Id(row.try_get("id")?),
                seq: to_u64(row.try_get("seq")?),
                ts: row.try_get("ts")?,
            };
            earlier.insert((sender, request.client_id.as_str()), record);
        }
    }

    // Membership of every new sender in its channel, with the sender's name for the event.
    let mut authors: HashMap<(i64, i64), String> = HashMap::new();
    let fresh: Vec<&AppendRequest> = batch
        .iter()
        .filter(|r| !earlier.contains_key(&(r.sender.0, r.client_id.as_str())))
        .collect();
    if !fresh.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT m.channel_id, m.user_id, u.username FROM members m \
             JOIN users u ON u.id = m.user_id WHERE (m.channel_id, m.user_id) IN (",
        );
        q.push_values(&fresh, |mut row, r| {
            row.push_bind(r.channel.0).push_bind(r.sender.0);
        });
        q.push(")");
        for row in q.build().fetch_all(&mut *tx).await? {
            authors.insert(
                (row.try_get("channel_id")?, row.try_get("user_id")?),
                row.try_get("username")?,
            );
        }
    }

    // Each request's outcome; new messages counted per channel, in arrival order.
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut new: Vec<&AppendRequest> = Vec::new();
    let mut new_by_key: HashMap<(i64, &str), usize> = HashMap::new();
    let mut per_channel: Vec<(Id, u64)> = Vec::new();
    for r in batch {
        let key = (r.sender.0, r.client_id.as_str());
        let outcome = if let Some(record) = earlier.get(&key) {
            Outcome::Earlier(record.clone())
        } else if let Some(&i) = new_by_key.get(&key) {
            Outcome::RepeatOf(i)
        } else if !authors.contains_key(&(r.channel.0, r.sender.0)) {
            Outcome::NotMember
        } else {
            new_by_key.insert(key, new.len());
            new.push(r);
            match per_channel.iter_mut().find(|(c, _)| *c == r.channel) {
                Some((_, n)) => *n += 1,
                None => per_channel.push((r.channel, 1)),
            }
            Outcome::New(new.len() - 1)
        };
        outcomes.push(outcome);
    }

    // Reserve each channel's next `seq`s, for all the batch's channels in one statement.
    let mut next_seq: HashMap<Id, u64> = HashMap::with_capacity(per_channel.len());
    if !per_channel.is_empty() {
        let mut q =
            QueryBuilder::<Sqlite>::new("UPDATE channels SET last_seq = last_seq + CASE id");
        for (channel, count) in &per_channel {
            q.push(" WHEN ")
                .push_bind(channel.0)
                .push(" THEN ")
                .push_bind(to_i64(*count));
        }
        q.push(" END WHERE id IN (");
        let mut ids_list = q.separated(", ");
        for (channel, _) in &per_channel {
            ids_list.push_bind(channel.0);
        }
        q.push(") RETURNING id, last_seq");
        for row in q.build().fetch_all(&mut *tx).await? {
            let channel = Id(row.try_get("id")?);
            let last = to_u64(row.try_get("last_seq")?);
            if let Some((_, count)) = per_channel.iter().find(|(c, _)| *c == channel) {
                next_seq.insert(channel, last + 1 - count);
            }
        }
        if next_seq.len() != per_channel.len() {
            return Err(StoreError::NotFound("channel".into()));
        }
    }

    let mut events = Vec::with_capacity(new.len());
    for r in &new {
        let slot = next_seq.entry(r.channel).or_default();
        let seq = *slot;
        *slot += 1;
        let username = authors
            .get(&(r.channel.0, r.sender.0))
            .cloned()
            .unwrap_or_default();
        events.push(Event {
            channel_id: r.channel,
            seq,
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
        });
    }

    if !events.is_empty() {
        let payloads = events
            .iter()
            .map(|e| serde_json::to_string(&e.body))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (channel_id, seq, id, ts, author_id, kind, payload) ",
        );
        q.push_values(events.iter().zip(&payloads), |mut row, (e, payload)| {
            row.push_bind(e.channel_id.0)
                .push_bind(to_i64(e.seq))
                .push_bind(e.id.0)
                .push_bind(e.ts)
                .push_bind(e.author.id.0)
                .push_bind(e.body.kind())
                .push_bind(payload.as_str());
        });
        q.build().execute(&mut *tx).await?;

        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO sends (sender_id, client_id, channel_id, seq, id, ts) ",
        );
        q.push_values(events.iter().zip(&new), |mut row, (e, r)| {
            row.push_bind(r.sender.0)
                .push_bind(r.client_id.as_str())
                .push_bind(e.channel_id.0)
                .push_bind(to_i64(e.seq))
                .push_bind(e.id.0)
                .push_bind(e.ts);
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;

    let record = |e: &Event, client_id: &str| SendRecord {
        channel_id: e.channel_id,
        client_id: client_id.to_owned(),
        id: e.id,
        seq: e.seq,
        ts: e.ts,
    };
    let records: Vec<SendRecord> = events
        .iter()
        .zip(&new)
        .map(|(e, r)| record(e, &r.client_id))
        .collect();
    let mut events: Vec<Option<Event>> = events.into_iter().map(Some).collect();
    Ok(outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Earlier(record) => Ok(Appended {
                record,
                event: None,
            }),
            Outcome::RepeatOf(i) => Ok(Appended {
                record: records[i].clone(),
                event: None,
            }),
            Outcome::NotMember => Err(StoreError::Forbidden("not a member of this channel".into())),
            Outcome::New(i) => Ok(Appended {
                record: records[i].clone(),
                event: events[i].take(),
            }),
        })
        .collect())
}
