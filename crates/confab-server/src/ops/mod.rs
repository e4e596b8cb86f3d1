//! Every operation, once: the REST handlers ([`api`](crate::api)) and the gateway sessions
//! ([`session`](crate::session)) both call these, so a rule (validation, limits, permissions,
//! what is published after a commit, who is told) holds the same whatever the client speaks.
//!
//! One file per resource, all of the same shape: functions taking the shared state, then the
//! channel, then the acting user, then the operation's own inputs, returning an [`ApiResult`].
//! Nothing here knows about HTTP or frames.

pub mod account;
pub mod channel;
pub mod history;
pub mod member;
pub mod presence;
pub mod read;
pub mod receipt;
pub mod send;
pub mod user;

use confab_proto::{ChannelId, ChannelSummary, ErrorCode, Role, UserId};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `user`'s view of `channel`, or `not_found` when not a member (strangers learn nothing).
pub async fn require_summary(
    state: &AppState,
    channel: ChannelId,
    user: UserId,
) -> ApiResult<ChannelSummary> {
    state
        .store
        .channel_of(channel, user)
        .await?
        .ok_or_else(not_found)
}

/// `user`'s role in `channel`, or `not_found` when not a member.
pub async fn require_member(state: &AppState, channel: ChannelId, user: UserId) -> ApiResult<Role> {
    state
        .store
        .member_role(channel, user)
        .await?
        .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "channel not found")
}
