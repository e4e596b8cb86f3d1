//! Receipts: each member's delivered and read pointers, which only move forward and never past the
//! channel's `last_seq`, and the unread count they leave.

use confab_proto::{ChannelId, ReadState, Receipt, UserId};

use super::dialect::Sql;
use super::unread::{self, unread_columns};
use super::{Row, Tx};
use crate::snowflake::now_ms;
use crate::{Delivery, Result, StoreError};

/// `$1` clamped to channel `$2`'s `last_seq`.
macro_rules! clamped {
    () => {
        "{least}($1, (SELECT last_seq FROM channels WHERE id = $2))"
    };
}
static MARK_READ: Sql = Sql::new(concat!(
    "UPDATE members SET read_seq = {greatest}(read_seq, ",
    clamped!(),
    "), delivered_seq = {greatest}(delivered_seq, ",
    clamped!(),
    "), receipt_ts = $4 WHERE channel_id = $2 AND user_id = $3 RETURNING read_seq"
));
static MARK_DELIVERED: Sql = Sql::new(concat!(
    "UPDATE members SET delivered_seq = ",
    clamped!(),
    ", receipt_ts = $4 WHERE channel_id = $2 AND user_id = $3 AND delivered_seq < ",
    clamped!(),
    " RETURNING delivered_seq, read_seq,
       (SELECT member_count FROM channels WHERE id = $2) AS member_count"
));
static UNREAD: Sql = Sql::new(concat!(
    "SELECT ",
    unread_columns!(),
    " FROM members m JOIN channels c ON c.id = m.channel_id
     WHERE m.channel_id = $1 AND m.user_id = $2"
));
static RECEIPT: Sql = Sql::new(
    "SELECT channel_id, user_id, delivered_seq, read_seq, receipt_ts FROM members
     WHERE channel_id = $1 AND user_id = $2",
);
static RECEIPTS: Sql = Sql::new(
    "SELECT channel_id, user_id, delivered_seq, read_seq, receipt_ts FROM members
     WHERE channel_id = $1 ORDER BY joined_seq, user_id",
);
static RECEIPTS_SINCE: Sql = Sql::new(
    "SELECT o.channel_id, o.user_id, o.delivered_seq, o.read_seq, o.receipt_ts
     FROM members m
     JOIN channels c ON c.id = m.channel_id AND c.member_count <= $3
     JOIN members o ON o.channel_id = m.channel_id AND o.user_id <> m.user_id AND o.receipt_ts >= $2
     WHERE m.user_id = $1
     ORDER BY o.receipt_ts",
);

fn receipt_from_row(row: &Row) -> Result<Receipt> {
    Ok(Receipt {
        channel_id: ChannelId(row.int("channel_id")?),
        user_id: UserId(row.int("user_id")?),
        delivered_seq: row.seq("delivered_seq")?,
        read_seq: row.seq("read_seq")?,
        ts: row.int("receipt_ts")?,
    })
}

pub(super) async fn mark_read<T: Tx>(
    tx: &mut T,
    channel: ChannelId,
    user: UserId,
    seq: u64,
) -> Result<ReadState> {
    let args = [seq.into(), channel.into(), user.into(), now_ms().into()];
    let read_seq = match tx.fetch_optional(&MARK_READ, &args).await? {
        Some(row) => row.seq("read_seq")?,
        None => return Err(StoreError::NotFound("channel".into())),
    };
    let row = tx
        .fetch_one(&UNREAD, &[channel.into(), user.into()])
        .await?;
    let unread = unread::from_row(&row)?;
    Ok(ReadState {
        channel_id: channel,
        read_seq,
        unread,
    })
}

/// Moves each delivered pointer forward; returns the receipts that changed, each with its
/// channel's member count.
pub(super) async fn mark_delivered<T: Tx>(
    tx: &mut T,
    deliveries: &[Delivery],
) -> Result<Vec<(Receipt, u32)>> {
    let now = now_ms();
    let mut changed = Vec::new();
    for d in deliveries {
        let args = [
            d.seq.into(),
            d.channel_id.into(),
            d.user_id.into(),
            now.into(),
        ];
        if let Some(row) = tx.fetch_optional(&MARK_DELIVERED, &args).await? {
            let receipt = Receipt {
                channel_id: d.channel_id,
                user_id: d.user_id,
                delivered_seq: row.seq("delivered_seq")?,
                read_seq: row.seq("read_seq")?,
                ts: now,
            };
            changed.push((receipt, row.count("member_count")?));
        }
    }
    Ok(changed)
}

pub(super) async fn receipt<T: Tx>(
    tx: &mut T,
    channel: ChannelId,
    user: UserId,
) -> Result<Option<Receipt>> {
    let row = tx
        .fetch_optional(&RECEIPT, &[channel.into(), user.into()])
        .await?;
    row.as_ref().map(receipt_from_row).transpose()
}

pub(super) async fn receipts<T: Tx>(tx: &mut T, channel: ChannelId) -> Result<Vec<Receipt>> {
    let rows = tx.fetch_all(&RECEIPTS, &[channel.into()]).await?;
    rows.iter().map(receipt_from_row).collect()
}

pub(super) async fn receipts_since<T: Tx>(
    tx: &mut T,
    user: UserId,
    since: i64,
    max_members: u32,
) -> Result<Vec<Receipt>> {
    let args = [user.into(), since.into(), max_members.into()];
    let rows = tx.fetch_all(&RECEIPTS_SINCE, &args).await?;
    rows.iter().map(receipt_from_row).collect()
}
