//! Presence requests: one user's status with when they were last seen, a channel's counts.

use confab_proto::api::ChannelPresence;
use confab_proto::{ChannelId, ErrorCode, Presence, Status, UserId};
use confab_store::StoreError;

use super::require_summary;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `user`'s aggregate presence, with the last-seen time when offline.
async fn presence(state: &AppState, user: UserId) -> Result<Presence, StoreError> {
    let status = state.presence.status(user);
    let last_seen = match status {
        Status::Offline => state.store.last_seen(user).await?,
        _ => None,
    };
    Ok(Presence {
        user_id: user,
        status,
        last_seen,
    })
}

/// `user`'s presence for a session that watches them (the last-seen time is left out when the
/// store cannot say).
pub async fn of(state: &AppState, user: UserId) -> Presence {
    presence(state, user).await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, user_id = %user, "cannot read last seen");
        Presence {
            user_id: user,
            status: state.presence.status(user),
            last_seen: None,
        }
    })
}

/// `user`'s presence, or `not_found` when there is no such user.
pub async fn of_existing(state: &AppState, user: UserId) -> ApiResult<Presence> {
    if state.store.user(user).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "user not found"));
    }
    Ok(presence(state, user).await?)
}

/// How many of `channel`'s members are online or idle, for a member.
pub async fn counts(
    state: &AppState,
    channel: ChannelId,
    user: UserId,
) -> ApiResult<ChannelPresence> {
    let summary = require_summary(state, channel, user).await?;
    let members = state.store.members(channel).await?;
    let (mut online, mut idle) = (0, 0);
    for m in &members {
        match state.presence.status(m.user.id) {
            Status::Online => online += 1,
            Status::Idle => idle += 1,
            Status::Offline => {}
        }
    }
    Ok(ChannelPresence {
        member_count: summary.member_count,
        online,
        idle,
    })
}
