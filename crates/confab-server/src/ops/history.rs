//! Paging a channel's history, for members only.

use confab_proto::api::HistoryPage;
use confab_proto::{ChannelId, UserId};
use confab_store::HistoryQuery;

use super::require_member;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Largest history page.
pub const MAX_HISTORY_LIMIT: u32 = 200;
/// History page size when none is asked for.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;

/// A page of `channel`'s events as `user` (a member) may read them; `limit` defaults to 50.
pub async fn page(
    state: &AppState,
    channel: ChannelId,
    user: UserId,
    after: Option<u64>,
    before: Option<u64>,
    limit: Option<u32>,
) -> ApiResult<HistoryPage> {
    let limit = limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1-{MAX_HISTORY_LIMIT}"
        )));
    }
    require_member(state, channel, user).await?;
    let query = HistoryQuery {
        after,
        before,
        limit,
    };
    Ok(state.store.history(channel, query).await?)
}
