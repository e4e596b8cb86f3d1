//! Messages: send (idempotent, acked after commit), page history, move the read pointer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use confab_proto::api::{ErrorResponse, HistoryPage, MarkRead, SendMessage};
use confab_proto::{Ack, ChannelId, ReadState};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Body, Params, PathIds};
use crate::ops;
use crate::state::AppState;

/// Sends a message. Idempotent on `client_id`: a repeat returns the original ack with `200`.
#[utoipa::path(post, path = "/api/v1/channels/{id}/messages", operation_id = "sendMessage", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")), request_body = SendMessage,
    responses(
        (status = 201, description = "Stored (committed) now", body = Ack),
        (status = 200, description = "A repeat of an earlier send: the original ack", body = Ack),
        (status = 400, description = "Bad client_id or empty body", body = ErrorResponse),
        (status = 403, description = "Not a member", body = ErrorResponse),
        (status = 413, description = "Body too long", body = ErrorResponse),
        (status = 429, description = "Rate limited; `error.retry_after_ms` says when to retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 503, description = "Store unavailable; nothing stored, retry", body = ErrorResponse)))]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
    Body(req): Body<SendMessage>,
) -> ApiResult<(StatusCode, Json<Ack>)> {
    let sent = ops::send::send(&state, id, caller.user.id, &req.client_id, &req.body).await?;
    // A duplicate answers 200 with the same body; a new message 201.
    let status = if sent.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(sent.ack)))
}

/// Query of `GET /api/v1/channels/{id}/messages`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Events with `seq` greater than this, oldest first.
    pub after: Option<u64>,
    /// Events with `seq` less than this; without `after`, the newest such.
    pub before: Option<u64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

/// A page of the channel's events (messages and membership changes) by `seq`.
#[utoipa::path(get, path = "/api/v1/channels/{id}/messages", operation_id = "listMessages", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id"), HistoryParams),
    responses(
        (status = 200, description = "A page, ascending by seq; `truncated` when retention removed part of the range", body = HistoryPage),
        (status = 400, description = "Bad limit", body = ErrorResponse),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
    Params(q): Params<HistoryParams>,
) -> ApiResult<Json<HistoryPage>> {
    let page = ops::history::page(&state, id, caller.user.id, q.after, q.before, q.limit).await?;
    Ok(Json(page))
}

/// Moves my read pointer forward to `seq` (never back); all my sessions get `read_state`.
#[utoipa::path(post, path = "/api/v1/channels/{id}/read", operation_id = "markRead", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")), request_body = MarkRead,
    responses(
        (status = 200, description = "The new pointer and unread count", body = ReadState),
        (status = 400, description = "Malformed body or id", body = ErrorResponse),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
    Body(req): Body<MarkRead>,
) -> ApiResult<Json<ReadState>> {
    Ok(Json(
        ops::read::mark_read(&state, id, caller.user.id, req.seq).await?,
    ))
}
