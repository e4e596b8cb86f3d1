//! Receipt summaries: who received and read a channel up to a `seq`, per member in small channels,
//! as counts in large ones.

use confab_proto::api::ReceiptSummary;
use confab_proto::{ChannelId, Receipt, UserId};

use super::require_summary;
use crate::error::ApiResult;
use crate::state::AppState;

/// Delivered and read counts for `seq` (default: the channel's `last_seq`) as `user` sees them.
pub async fn summary(
    state: &AppState,
    channel: ChannelId,
    user: UserId,
    seq: Option<u64>,
) -> ApiResult<ReceiptSummary> {
    let summary = require_summary(state, channel, user).await?;
    let seq = seq.unwrap_or(summary.last_seq);
    let others: Vec<Receipt> = state
        .store
        .receipts(channel)
        .await?
        .into_iter()
        .filter(|r| r.user_id != user)
        .collect();
    let count = |f: &dyn Fn(&Receipt) -> bool| others.iter().filter(|r| f(r)).count() as u32;
    let delivered = count(&|r| r.delivered_seq >= seq);
    let read = count(&|r| r.read_seq >= seq);
    let small = summary.member_count <= state.config.receipt_group_size;
    Ok(ReceiptSummary {
        seq,
        member_count: summary.member_count,
        delivered,
        read,
        receipts: if small { others } else { Vec::new() },
    })
}
