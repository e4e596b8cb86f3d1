//! Channels: create (direct or group), list mine, get one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use confab_proto::api::{ChannelList, CreateChannel, ErrorResponse};
use confab_proto::{ChannelId, ChannelSummary, UserId};

use super::member::{announce, require_summary};
use super::{Body, PathIds};
use crate::app::AppState;
use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};

/// Longest group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 100;

/// Creates a direct channel with `peer` (or returns the existing one) or a group.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", security(("bearer" = [])), request_body = CreateChannel,
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
    let event = match req {
        CreateChannel::Direct { peer } => {
            let peer = auth::normalize_username(&peer)
                .map_err(|_| ApiError::new(confab_proto::ErrorCode::NotFound, "user not found"))?;
            let peer = state.store.users_by_name(&[peer]).await?.remove(0);
            let direct = state.store.create_direct(me, peer.id).await?;
            match direct.created {
                Some(event) => event,
                None => {
                    let summary = require_summary(&state, direct.channel_id, me).await?;
                    return Ok((StatusCode::OK, Json(summary)));
                }
            }
        }
        CreateChannel::Group { name, members } => {
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > MAX_GROUP_NAME_CHARS {
                return Err(ApiError::bad_request(format!(
                    "a group name is 1-{MAX_GROUP_NAME_CHARS} characters"
                )));
            }
            let mut names = Vec::with_capacity(members.len());
            let mut seen = std::collections::HashSet::new();
            for m in &members {
                let name = auth::normalize_username(m).map_err(|_| {
                    ApiError::new(
                        confab_proto::ErrorCode::NotFound,
                        format!("user {m:?} not found"),
                    )
                })?;
                if seen.insert(name.clone()) {
                    names.push(name);
                }
            }
            // The owner counts too (the store enforces the same limit again, atomically).
            if names.len() + 1 > state.config.max_group_members as usize {
                return Err(ApiError::new(
                    confab_proto::ErrorCode::LimitExceeded,
                    format!(
                        "a group may have at most {} members",
                        state.config.max_group_members
                    ),
                ));
            }
            let ids: Vec<UserId> = state
                .store
                .users_by_name(&names)
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect();
            state
                .store
                .create_group(me, &name, &ids, state.config.max_group_members)
                .await?
        }
    };
    let channel = event.channel_id;
    let members: Vec<UserId> = match &event.body {
        confab_proto::EventBody::ChannelCreated { members, .. } => {
            members.iter().map(|m| m.id).collect()
        }
        _ => vec![me],
    };
    state.hub.publish_event(&event).await;
    announce(&state, channel, &members).await;
    let summary = require_summary(&state, channel, me).await?;
    tracing::info!(channel_id = %channel, user_id = %me, "channel created");
    Ok((StatusCode::CREATED, Json(summary)))
}

/// My channels, with `last_seq`, my read pointer and unread count.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", security(("bearer" = [])),
    responses((status = 200, description = "My channels", body = ChannelList)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ChannelList>> {
    let channels = state.store.channels_of(caller.user.id).await?;
    Ok(Json(ChannelList { channels }))
}

/// One of my channels.
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The channel", body = ChannelSummary),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
) -> ApiResult<Json<ChannelSummary>> {
    Ok(Json(require_summary(&state, id, caller.user.id).await?))
}
