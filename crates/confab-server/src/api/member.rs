//! Members: list, add, remove, leave, change roles. Every change is a channel event.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use confab_proto::api::{AddMember, ErrorResponse, MemberList, SetRole};
use confab_proto::{ChannelId, Member, UserId};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Body, PathIds};
use crate::ops::member;
use crate::state::AppState;

/// The channel's members with their roles.
#[utoipa::path(get, path = "/api/v1/channels/{id}/members", operation_id = "listMembers", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")),
    responses(
        (status = 200, description = "Members, owner first", body = MemberList),
        (status = 400, description = "Malformed id", body = ErrorResponse),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
) -> ApiResult<Json<MemberList>> {
    Ok(Json(MemberList {
        members: member::list(&state, id, caller.user.id).await?,
    }))
}

/// Adds a user to a group (owner or admin only).
#[utoipa::path(post, path = "/api/v1/channels/{id}/members", operation_id = "addMember", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")), request_body = AddMember,
    responses(
        (status = 201, description = "Added", body = Member),
        (status = 400, description = "Malformed body or id", body = ErrorResponse),
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
    let member = member::add(&state, id, caller.user.id, &req.username).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Removes a member (the owner removes anyone, admins plain members); your own id leaves.
#[utoipa::path(delete, path = "/api/v1/channels/{id}/members/{user_id}", operation_id = "removeMember", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id"), ("user_id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Malformed id", body = ErrorResponse),
        (status = 403, description = "Not allowed", body = ErrorResponse),
        (status = 404, description = "No such channel or member", body = ErrorResponse)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathIds((id, user)): PathIds<(ChannelId, UserId)>,
) -> ApiResult<StatusCode> {
    member::remove(&state, id, caller.user.id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Leaves a group. When the owner leaves, the longest-standing admin (or member) becomes owner.
#[utoipa::path(post, path = "/api/v1/channels/{id}/leave", operation_id = "leaveChannel", tag = "members", security(("bearer" = [])),
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
    member::remove(&state, id, caller.user.id, caller.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a member an admin, or an admin a plain member (owner only).
#[utoipa::path(put, path = "/api/v1/channels/{id}/members/{user_id}/role", operation_id = "setMemberRole", tag = "members", security(("bearer" = [])),
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
    member::set_role(&state, id, caller.user.id, user, req.role).await?;
    Ok(StatusCode::NO_CONTENT)
}
