//! Members: list, add, remove, leave, change roles. Every change is a channel event.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use confab_proto::api::{AddMember, ErrorResponse, MemberList, SetRole};
use confab_proto::{ChannelId, ChannelSummary, ErrorCode, Event, EventBody, Member, Role, UserId};

use super::{Body, PathIds};
use crate::app::AppState;
use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};
use crate::hub::UserSignal;

/// `user`'s view of `channel`, or `not_found` when not a member.
pub async fn require_summary(
    state: &AppState,
    channel: ChannelId,
    user: UserId,
) -> ApiResult<ChannelSummary> {
    state
        .store
        .channel_of(channel, user)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "channel not found"))
}

/// Tells every session of each of `users` that they joined `channel`.
pub async fn announce(state: &AppState, channel: ChannelId, users: &[UserId]) {
    for user in users {
        match state.store.channel_of(channel, *user).await {
            Ok(Some(summary)) => state.hub.signal(*user, &UserSignal::Joined(summary)).await,
            Ok(None) => {} // Already gone again.
            Err(e) => {
                tracing::warn!(error = %e, channel_id = %channel, user_id = %user, "cannot announce join")
            }
        }
    }
}

/// Publishes membership events and tells those who left.
async fn publish_removal(state: &AppState, channel: ChannelId, events: &[Event]) {
    for event in events {
        state.hub.publish_event(event).await;
        let gone = match &event.body {
            EventBody::MemberRemoved { user } => Some(user.id),
            EventBody::MemberLeft => Some(event.author.id),
            _ => None,
        };
        if let Some(gone) = gone {
            let signal = UserSignal::Left {
                channel,
                seq: event.seq,
            };
            state.hub.signal(gone, &signal).await;
        }
    }
}

async fn require_member(state: &AppState, channel: ChannelId, user: UserId) -> ApiResult<Role> {
    state
        .store
        .member_role(channel, user)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "channel not found"))
}

/// The channel's members with their roles.
#[utoipa::path(get, path = "/api/v1/channels/{id}/members", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses(
        (status = 200, description = "Members, owner first", body = MemberList),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
) -> ApiResult<Json<MemberList>> {
    require_member(&state, id, caller.user.id).await?;
    Ok(Json(MemberList {
        members: state.store.members(id).await?,
    }))
}

/// Adds a user to a group (owner or admin only).
#[utoipa::path(post, path = "/api/v1/channels/{id}/members", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")), request_body = AddMember,
    responses(
        (status = 201, description = "Added", body = Member),
        (status = 403, description = "Not an owner or admin", body = ErrorResponse),
        (status = 404, description = "No such channel or user", body = ErrorResponse),
        (status = 409, description = "Already a member", body = ErrorResponse),
        (status = 422, description = "The group is full", body = ErrorResponse)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
    Body(req): Body<AddMember>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    require_member(&state, id, caller.user.id).await?;
    let name = auth::normalize_username(&req.username)
        .map_err(|_| ApiError::new(ErrorCode::NotFound, "user not found"))?;
    let user = state.store.users_by_name(&[name]).await?.remove(0);
    let event = state
        .store
        .add_member(id, caller.user.id, user.id, state.config.max_group_members)
        .await?;
    state.hub.publish_event(&event).await;
    announce(&state, id, &[user.id]).await;
    Ok((
        StatusCode::CREATED,
        Json(Member {
            user: confab_proto::UserRef {
                id: user.id,
                username: user.username,
            },
            role: Role::Member,
        }),
    ))
}

/// Removes a member (the owner removes anyone, admins plain members); your own id leaves.
#[utoipa::path(delete, path = "/api/v1/channels/{id}/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id"), ("user_id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not allowed", body = ErrorResponse),
        (status = 404, description = "No such channel or member", body = ErrorResponse)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathIds((id, user)): PathIds<(ChannelId, UserId)>,
) -> ApiResult<StatusCode> {
    require_member(&state, id, caller.user.id).await?;
    let events = state.store.remove_member(id, caller.user.id, user).await?;
    publish_removal(&state, id, &events).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Leaves a group. When the owner leaves, the longest-standing admin (or member) becomes owner.
#[utoipa::path(post, path = "/api/v1/channels/{id}/leave", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses(
        (status = 204, description = "Left"),
        (status = 400, description = "Direct channels cannot be left", body = ErrorResponse),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
) -> ApiResult<StatusCode> {
    require_member(&state, id, caller.user.id).await?;
    let events = state
        .store
        .remove_member(id, caller.user.id, caller.user.id)
        .await?;
    publish_removal(&state, id, &events).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a member an admin, or an admin a plain member (owner only).
#[utoipa::path(put, path = "/api/v1/channels/{id}/members/{user_id}/role", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id"), ("user_id" = String, Path, description = "User id")),
    request_body = SetRole,
    responses(
        (status = 204, description = "Role changed"),
        (status = 400, description = "Invalid role change", body = ErrorResponse),
        (status = 403, description = "Not the owner", body = ErrorResponse),
        (status = 409, description = "The member already has that role", body = ErrorResponse),
        (status = 404, description = "No such channel or member", body = ErrorResponse)))]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    PathIds((id, user)): PathIds<(ChannelId, UserId)>,
    Body(req): Body<SetRole>,
) -> ApiResult<StatusCode> {
    require_member(&state, id, caller.user.id).await?;
    let event = state
        .store
        .set_role(id, caller.user.id, user, req.role)
        .await?;
    state.hub.publish_event(&event).await;
    Ok(StatusCode::NO_CONTENT)
}
