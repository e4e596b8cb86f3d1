//! Presence over REST: one user's status and last-seen time, a channel's online counts.

use axum::extract::State;
use axum::Json;
use confab_proto::api::{ChannelPresence, ErrorResponse};
use confab_proto::{ChannelId, Presence, UserId};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::PathIds;
use crate::ops::presence;
use crate::state::AppState;

/// A user's aggregate presence, with when they were last seen if offline.
#[utoipa::path(get, path = "/api/v1/users/{id}/presence", operation_id = "getUserPresence", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Presence", body = Presence),
        (status = 400, description = "Malformed id", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse)))]
pub async fn user(
    State(state): State<AppState>,
    _caller: Caller,
    PathIds(id): PathIds<UserId>,
) -> ApiResult<Json<Presence>> {
    Ok(Json(presence::of_existing(&state, id).await?))
}

/// How many of a channel's members are online or idle.
#[utoipa::path(get, path = "/api/v1/channels/{id}/presence", operation_id = "getChannelPresence", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses(
        (status = 200, description = "Counts", body = ChannelPresence),
        (status = 400, description = "Malformed id", body = ErrorResponse),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn channel(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
) -> ApiResult<Json<ChannelPresence>> {
    Ok(Json(presence::counts(&state, id, caller.user.id).await?))
}
