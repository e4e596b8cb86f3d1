//! Receipts moving forward: a member's read pointer (stored at once, told to all the member's
//! sessions and, in small channels, to the others) and delivered confirmations (batched).

use confab_proto::{ChannelId, ReadState, UserId};

use crate::error::ApiResult;
use crate::hub::UserSignal;
use crate::metrics::Reason;
use crate::receipt;
use crate::state::AppState;

/// Moves `user`'s read pointer in `channel` to `seq` (never back), tells all of the user's
/// sessions, and in small channels the other members.
pub async fn mark_read(
    state: &AppState,
    channel: ChannelId,
    user: UserId,
    seq: u64,
) -> ApiResult<ReadState> {
    let read = state.store.mark_read(channel, user, seq).await?;
    state
        .hub
        .signal(user, &UserSignal::Read(read.clone()))
        .await;
    let receipt = state.store.receipt(channel, user).await?;
    let summary = state.store.channel_of(channel, user).await?;
    if let (Some(receipt), Some(summary)) = (receipt, summary) {
        let size = state.config.receipt_group_size;
        receipt::announce(&state.hub, receipt, summary.member_count, size).await;
    }
    Ok(read)
}

/// Queues a device's confirmation that it received `channel`'s events up to `seq`; written in the
/// next batch. A confirmation dropped because the batcher is full is counted and only lags the
/// pointer until the client's next one.
pub fn delivered(state: &AppState, channel: ChannelId, user: UserId, seq: u64) {
    if !state.receipts.delivered(channel, user, seq) {
        state.metrics.reject(Reason::receipt_queue_full);
    }
}
