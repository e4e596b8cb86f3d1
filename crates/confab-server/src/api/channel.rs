//! Channels: create (direct or group), list mine, get one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use confab_proto::api::{ChannelList, CreateChannel, ErrorResponse};
use confab_proto::{ChannelId, ChannelSummary};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Body, PathIds};
use crate::ops::{self, channel};
use crate::state::AppState;

/// Creates a direct channel with `peer` (or returns the existing one) or a group.
#[utoipa::path(post, path = "/api/v1/channels", operation_id = "createChannel", tag = "channels", security(("bearer" = [])), request_body = CreateChannel,
    responses(
        (status = 201, description = "Created", body = ChannelSummary),
        (status = 200, description = "The direct channel already existed", body = ChannelSummary),
        (status = 400, description = "Invalid request", body = ErrorResponse),
        (status = 404, description = "A named user does not exist", body = ErrorResponse),
        (status = 422, description = "Too many members", body = ErrorResponse)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<CreateChannel>,
) -> ApiResult<(StatusCode, Json<ChannelSummary>)> {
    let me = caller.user.id;
    match req {
        CreateChannel::Direct { peer } => {
            let direct = channel::create_direct(&state, me, &peer).await?;
            // An existing direct channel answers 200, a new one 201.
            let status = if direct.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(direct.channel)))
        }
        CreateChannel::Group { name, members } => {
            let group = channel::create_group(&state, me, &name, &members).await?;
            Ok((StatusCode::CREATED, Json(group)))
        }
    }
}

/// My channels, with `last_seq`, my read pointer and unread count.
#[utoipa::path(get, path = "/api/v1/channels", operation_id = "listChannels", tag = "channels", security(("bearer" = [])),
    responses((status = 200, description = "My channels", body = ChannelList)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ChannelList>> {
    let channels = channel::list(&state, caller.user.id).await?;
    Ok(Json(ChannelList { channels }))
}

/// One of my channels.
#[utoipa::path(get, path = "/api/v1/channels/{id}", operation_id = "getChannel", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The channel", body = ChannelSummary),
        (status = 400, description = "Malformed id", body = ErrorResponse),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
) -> ApiResult<Json<ChannelSummary>> {
    Ok(Json(
        ops::require_summary(&state, id, caller.user.id).await?,
    ))
}
