//! Events: `seq` assignment, idempotent message sends, history pages and retention.
//!
//! `seq` is assigned by the one statement [`NEXT_SEQ`] (`UPDATE channels SET last_seq =
//! last_seq + 1 … RETURNING`) in the transaction that inserts the event. On PostgreSQL its row
//! lock serializes the writers of one channel across all nodes; on SQLite the single writer does.
//! A rolled-back transaction gives its number back, so `seq` is gapless and strictly increasing.

use confab_proto::api::HistoryPage;
use confab_proto::{ChannelId, Event, EventBody, EventId, UserId, UserRef};

use super::dialect::Sql;
use super::{LockKey, Row, Tx};
use crate::snowflake::{now_ms, Snowflake};
use crate::{Appended, HistoryQuery, Result, Retention, SendRecord, StoreError};

/// The next `seq` of channel `$1`, and its message count advanced by `$2` (1 for a message, else
/// 0): the only place a `seq` or a message ordinal is assigned.
static NEXT_SEQ: Sql = Sql::new(
    "UPDATE channels SET last_seq = last_seq + 1, msg_count = msg_count + $2 WHERE id = $1
     RETURNING last_seq, msg_count",
);
/// The author ordinal of `$2`'s latest message in channel `$1` (one seek on `events_authored`).
static LAST_AUTHOR_ORD: Sql = Sql::new(
    "SELECT author_ord FROM events {by_authored}
     WHERE channel_id = $1 AND author_id = $2 AND msg_ord IS NOT NULL
     ORDER BY seq DESC LIMIT 1",
);
static INSERT_EVENT: Sql = Sql::new(
    "INSERT INTO events (channel_id, seq, id, ts, author_id, kind, payload, msg_ord, author_ord)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
);
static FIND_SEND: Sql =
    Sql::new("SELECT channel_id, seq, id, ts FROM sends WHERE sender_id = $1 AND client_id = $2");
static INSERT_SEND: Sql = Sql::new(
    "INSERT INTO sends (sender_id, client_id, channel_id, seq, id, ts)
     VALUES ($1, $2, $3, $4, $5, $6)",
);
static LOCK_CHANNEL: Sql = Sql::new("SELECT 1 FROM channels WHERE id = $1 FOR UPDATE");
static MEMBER_NAME: Sql = Sql::new(
    "SELECT u.username FROM members m JOIN users u ON u.id = m.user_id
     WHERE m.channel_id = $1 AND m.user_id = $2",
);
static CHANNEL_POINTERS: Sql =
    Sql::new("SELECT last_seq, pruned_through FROM channels WHERE id = $1");
/// The columns [`event_from_row`] reads, from `events e JOIN users u ON u.id = e.author_id`.
macro_rules! event_select {
    () => {
        "SELECT e.channel_id, e.seq, e.id, e.ts, e.author_id, u.username AS author_name, e.payload
         FROM events e JOIN users u ON u.id = e.author_id
         WHERE e.channel_id = $1 AND e.seq > $2 AND e.seq < $3"
    };
}
static PAGE_FORWARD: Sql = Sql::new(concat!(event_select!(), " ORDER BY e.seq ASC LIMIT $4"));
static PAGE_BACK: Sql = Sql::new(concat!(event_select!(), " ORDER BY e.seq DESC LIMIT $4"));
static OLD_EVENTS: Sql =
    Sql::new("SELECT channel_id, max(seq) AS upto FROM events WHERE ts < $1 GROUP BY channel_id");
static LONG_CHANNELS: Sql = Sql::new("SELECT id AS channel_id, last_seq - $1 AS upto FROM channels WHERE last_seq - pruned_through > $1");
static DELETE_EVENTS: Sql = Sql::new("DELETE FROM events WHERE channel_id = $1 AND seq <= $2");
static ADVANCE_HORIZON: Sql =
    Sql::new("UPDATE channels SET pruned_through = {greatest}(pruned_through, $1) WHERE id = $2");

/// A message to store: in `channel`, from `sender`, idempotent on (`sender`, `client_id`).
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: ChannelId,
    pub sender: UserId,
    pub client_id: String,
    pub body: String,
}

fn event_from_row(row: &Row) -> Result<Event> {
    Ok(Event {
        channel_id: ChannelId(row.int("channel_id")?),
        seq: row.seq("seq")?,
        id: EventId(row.int("id")?),
        ts: row.int("ts")?,
        author: UserRef {
            id: UserId(row.int("author_id")?),
            username: row.text("author_name")?,
        },
        body: serde_json::from_str(&row.text("payload")?)?,
    })
}

fn send_from_row(row: &Row, client_id: &str) -> Result<SendRecord> {
    Ok(SendRecord {
        channel_id: ChannelId(row.int("channel_id")?),
        client_id: client_id.to_owned(),
        id: EventId(row.int("id")?),
        seq: row.seq("seq")?,
        ts: row.int("ts")?,
    })
}

/// Appends one event to `channel` inside the caller's transaction, assigning the next `seq` and,
/// for a message, its ordinals: its place among the channel's messages and among its author's
/// messages in the channel. Unread counts are differences of these (see [`super::unread`]).
pub(super) async fn append_event<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    channel: ChannelId,
    author: UserRef,
    body: EventBody,
) -> Result<Event> {
    let is_message = matches!(body, EventBody::Message { .. });
    let next = tx
        .fetch_optional(&NEXT_SEQ, &[channel.into(), u64::from(is_message).into()])
        .await?;
    let (seq, msg_count) = match next {
        Some(row) => (row.seq("last_seq")?, row.seq("msg_count")?),
        None => return Err(StoreError::NotFound("channel".into())),
    };
    let (msg_ord, author_ord) = if is_message {
        let last = tx
            .fetch_optional(&LAST_AUTHOR_ORD, &[channel.into(), author.id.into()])
            .await?;
        let last = last.map(|row| row.seq("author_ord")).transpose()?;
        (Some(msg_count), Some(last.unwrap_or(0) + 1))
    } else {
        (None, None)
    };
    let event = Event {
        channel_id: channel,
        seq,
        id: ids.next_id(),
        ts: now_ms(),
        author,
        body,
    };
    let payload = serde_json::to_string(&event.body)?;
    let args = [
        channel.into(),
        seq.into(),
        event.id.into(),
        event.ts.into(),
        event.author.id.into(),
        event.body.kind().into(),
        payload.as_str().into(),
        msg_ord.into(),
        author_ord.into(),
    ];
    tx.execute(&INSERT_EVENT, &args).await?;
    Ok(event)
}

/// Stores `message` unless its (sender, client id) was stored before, in the caller's write
/// transaction. The outer error means a statement failed and the transaction must be rolled
/// back; the inner one is the rules' refusal (not a member), given before anything was written,
/// so a batch of messages in one transaction may go on past it.
pub(crate) async fn append_message<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    message: &NewMessage,
) -> Result<Result<Appended>> {
    let NewMessage {
        channel,
        sender,
        client_id,
        body,
    } = message;
    // The same send retried on two nodes at once: the second waits here, then finds the first.
    tx.lock_key(LockKey::Send(*sender, client_id)).await?;
    let earlier = tx
        .fetch_optional(&FIND_SEND, &[(*sender).into(), client_id.into()])
        .await?;
    if let Some(row) = earlier {
        let record = send_from_row(&row, client_id)?;
        return Ok(Ok(Appended {
            record,
            event: None,
        }));
    }
    // Lock the channel before the membership check, so a removal cannot commit between the check
    // and the append.
    tx.lock_rows(&LOCK_CHANNEL, &[(*channel).into()]).await?;
    let member = tx
        .fetch_optional(&MEMBER_NAME, &[(*channel).into(), (*sender).into()])
        .await?;
    let Some(member) = member else {
        return Ok(Err(StoreError::Forbidden(
            "not a member of this channel".into(),
        )));
    };
    let author = UserRef {
        id: *sender,
        username: member.text("username")?,
    };
    let body = EventBody::Message {
        body: body.clone(),
        client_id: client_id.clone(),
    };
    let event = append_event(tx, ids, *channel, author, body).await?;
    let args = [
        (*sender).into(),
        client_id.into(),
        (*channel).into(),
        event.seq.into(),
        event.id.into(),
        event.ts.into(),
    ];
    tx.execute(&INSERT_SEND, &args).await?;
    let record = SendRecord {
        channel_id: *channel,
        client_id: client_id.clone(),
        id: event.id,
        seq: event.seq,
        ts: event.ts,
    };
    Ok(Ok(Appended {
        record,
        event: Some(event),
    }))
}

pub(super) async fn find_send<T: Tx>(
    tx: &mut T,
    sender: UserId,
    client_id: &str,
) -> Result<Option<SendRecord>> {
    let row = tx
        .fetch_optional(&FIND_SEND, &[sender.into(), client_id.into()])
        .await?;
    row.map(|row| send_from_row(&row, client_id)).transpose()
}

pub(super) async fn history<T: Tx>(
    tx: &mut T,
    channel: ChannelId,
    query: HistoryQuery,
) -> Result<HistoryPage> {
    let pointers = tx
        .fetch_optional(&CHANNEL_POINTERS, &[channel.into()])
        .await?
        .ok_or_else(|| StoreError::NotFound("channel".into()))?;
    let last_seq = pointers.seq("last_seq")?;
    let pruned = pointers.seq("pruned_through")?;
    let limit = u64::from(query.limit.max(1));
    let ascending = query.after.is_some();
    let after = query.after.unwrap_or(0);
    let before = query.before.unwrap_or(u64::MAX);
    let sql = if ascending { &PAGE_FORWARD } else { &PAGE_BACK };
    let args = [
        channel.into(),
        after.into(),
        before.into(),
        (limit + 1).into(),
    ];
    let rows = tx.fetch_all(sql, &args).await?;
    let has_more = rows.len() as u64 > limit;
    let mut events = rows
        .iter()
        .take(limit as usize)
        .map(event_from_row)
        .collect::<Result<Vec<_>>>()?;
    if !ascending {
        events.reverse();
    }
    let truncated = if ascending {
        after < pruned
    } else {
        !has_more && pruned > 0
    };
    Ok(HistoryPage {
        events,
        last_seq,
        pruned_through: pruned,
        truncated,
        has_more,
    })
}

/// Where retention cuts: (channel, delete through this `seq`) pairs. A read; the cuts themselves
/// are made by [`cut`], one short transaction per channel.
pub(super) async fn prune_cuts<T: Tx>(
    tx: &mut T,
    retention: Retention,
) -> Result<Vec<(ChannelId, u64)>> {
    let mut rows = Vec::new();
    if let Some(age) = retention.max_age {
        let cutoff = now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
        rows.extend(tx.fetch_all(&OLD_EVENTS, &[cutoff.into()]).await?);
    }
    if let Some(max) = retention.max_events {
        rows.extend(tx.fetch_all(&LONG_CHANNELS, &[max.into()]).await?);
    }
    rows.iter()
        .map(|row| Ok((ChannelId(row.int("channel_id")?), row.seq("upto")?)))
        .collect()
}

/// Deletes `channel`'s events through `upto` and moves its horizon. Returns how many went.
pub(super) async fn cut<T: Tx>(tx: &mut T, channel: ChannelId, upto: u64) -> Result<u64> {
    let deleted = tx
        .execute(&DELETE_EVENTS, &[channel.into(), upto.into()])
        .await?;
    tx.execute(&ADVANCE_HORIZON, &[upto.into(), channel.into()])
        .await?;
    Ok(deleted)
}
