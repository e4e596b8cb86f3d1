//! Presence over REST: one user's status and last-seen time, a channel's online counts.

use axum::extract::State;
use axum::Json;
use confab_proto::api::{ChannelPresence, ErrorResponse};
use confab_proto::{ChannelId, ErrorCode, Presence, Status, UserId};

use super::member::require_summary;
use super::PathIds;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// A user's aggregate presence, with when they were last seen if offline.
#[utoipa::path(get, path = "/api/v1/users/{id}/presence", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Presence", body = Presence),
        (status = 404, description = "No such user", body = ErrorResponse)))]
pub async fn user(
    State(state): State<AppState>,
    _caller: Caller,
    PathIds(id): PathIds<UserId>,
) -> ApiResult<Json<Presence>> {
    if state.store.user(id).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "user not found"));
    }
    let status = state.presence.status(id);
    let last_seen = match status {
        Status::Offline => state.store.last_seen(id).await?,
        _ => None,
    };
    Ok(Json(Presence {
        user_id: id,
        status,
        last_seen,
    }))
}

/// How many of a channel's members are online or idle.
#[utoipa::path(get, path = "/api/v1/channels/{id}/presence", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses(
        (status = 200, description = "Counts", body = ChannelPresence),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn channel(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
) -> ApiResult<Json<ChannelPresence>> {
    let summary = require_summary(&state, id, caller.user.id).await?;
    let members = state.store.members(id).await?;
    let (mut online, mut idle) = (0, 0);
    for m in &members {
        match state.presence.status(m.user.id) {
            Status::Online => online += 1,
            Status::Idle => idle += 1,
            Status::Offline => {}
        }
    }
    Ok(Json(ChannelPresence {
        member_count: summary.member_count,
        online,
        idle,
    }))
}
