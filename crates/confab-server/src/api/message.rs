//! Messages: send (idempotent, acked after commit), page history, move the read pointer.
//!
//! [`send_message`] and [`mark_read`] are shared with the WebSocket gateway, so both paths keep the
//! same rules.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use confab_proto::api::{ErrorResponse, HistoryPage, MarkRead, SendMessage};
use confab_proto::{Ack, ChannelId, ErrorCode, ReadState, UserId};
use confab_store::HistoryQuery;
use serde::Deserialize;

use super::{Body, Params, PathIds};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::hub::UserSignal;
use crate::metrics::Reason;
use crate::receipt;

/// Longest `client_id`, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;
/// Largest history page.
pub const MAX_HISTORY_LIMIT: u32 = 200;
/// History page size when none is asked for.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;

/// The outcome of [`send_message`].
#[derive(Debug, Clone)]
pub struct Sent {
    /// The ack: the original one for a duplicate.
    pub ack: Ack,
    /// Whether this send repeated an earlier one and stored nothing.
    pub duplicate: bool,
}

/// Validates and stores a message, publishes it, and returns the ack (the original one for a
/// duplicate). Returns only after the store committed.
pub async fn send_message(
    state: &AppState,
    sender: UserId,
    channel: ChannelId,
    client_id: &str,
    body: &str,
) -> ApiResult<Sent> {
    if client_id.is_empty()
        || client_id.len() > MAX_CLIENT_ID_LEN
        || !client_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::bad_request(format!(
            "client_id must be 1-{MAX_CLIENT_ID_LEN} printable ASCII characters without spaces"
        )));
    }
    if body.trim().is_empty() {
        return Err(ApiError::bad_request("a message body cannot be empty"));
    }
    let max = state.config.max_message_chars as usize;
    if body.chars().count() > max {
        state.metrics.reject(Reason::too_large);
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("a message is at most {max} characters"),
        ));
    }
    if let Err(wait) = state.limiter.check(sender) {
        // A retry of a message already stored is answered, not limited: retries must stay safe.
        if let Some(r) = state.store.find_send(sender, client_id).await? {
            state.metrics.duplicate_sends.inc();
            return Ok(Sent {
                ack: ack_of(r),
                duplicate: true,
            });
        }
        state.metrics.reject(Reason::rate_limited);
        return Err(ApiError::rate_limited(
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
        ));
    }
    let started = Instant::now();
    let appended = state
        .store
        .append_message(channel, sender, client_id, body)
        .await
        .inspect_err(|e| {
            if matches!(e, confab_store::StoreError::Forbidden(_)) {
                state.metrics.reject(Reason::forbidden);
            }
        })?;
    state
        .metrics
        .store_append_seconds
        .observe(started.elapsed().as_secs_f64());
    match &appended.event {
        Some(event) => {
            state.metrics.messages_stored.inc();
            state.hub.publish_event(event).await;
        }
        None => {
            state.metrics.duplicate_sends.inc();
        }
    }
    Ok(Sent {
        duplicate: appended.event.is_none(),
        ack: ack_of(appended.record),
    })
}

/// The ack of a stored send (its `ref` is filled in by the gateway).
fn ack_of(r: confab_store::SendRecord) -> Ack {
    Ack {
        reference: None,
        channel_id: r.channel_id,
        client_id: r.client_id,
        id: r.id,
        seq: r.seq,
        ts: r.ts,
    }
}

/// Moves `user`'s read pointer, tells all of the user's sessions, and (in small channels) the
/// other members.
pub async fn mark_read(
    state: &AppState,
    user: UserId,
    channel: ChannelId,
    seq: u64,
) -> ApiResult<ReadState> {
    let read = state.store.mark_read(channel, user, seq).await?;
    state
        .hub
        .signal(user, &UserSignal::Read(read.clone()))
        .await;
    // Others in small channels see the receipt.
    let receipt = state.store.receipt(channel, user).await?;
    let summary = state.store.channel_of(channel, user).await?;
    if let (Some(receipt), Some(summary)) = (receipt, summary) {
        let size = state.config.receipt_group_size;
        receipt::announce(&state.hub, receipt, summary.member_count, size).await;
    }
    Ok(read)
}

/// Sends a message. Idempotent on `client_id`: a repeat returns the original ack with `200`.
#[utoipa::path(post, path = "/api/v1/channels/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")), request_body = SendMessage,
    responses(
        (status = 201, description = "Stored (committed) now", body = Ack),
        (status = 200, description = "A repeat of an earlier send: the original ack", body = Ack),
        (status = 400, description = "Bad client_id or empty body", body = ErrorResponse),
        (status = 403, description = "Not a member", body = ErrorResponse),
        (status = 413, description = "Body too long", body = ErrorResponse),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorResponse),
        (status = 503, description = "Store unavailable; nothing stored, retry", body = ErrorResponse)))]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
    Body(req): Body<SendMessage>,
) -> ApiResult<(StatusCode, Json<Ack>)> {
    let sent = send_message(&state, caller.user.id, id, &req.client_id, &req.body).await?;
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
pub struct HistoryParams {
    /// Events with `seq` greater than this, oldest first.
    pub after: Option<u64>,
    /// Events with `seq` less than this; without `after`, the newest such.
    pub before: Option<u64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

/// A page of the channel's events (messages and membership changes) by `seq`.
#[utoipa::path(get, path = "/api/v1/channels/{id}/messages", tag = "messages", security(("bearer" = [])),
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
    let limit = q.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1-{MAX_HISTORY_LIMIT}"
        )));
    }
    if state.store.member_role(id, caller.user.id).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "channel not found"));
    }
    let page = state
        .store
        .history(
            id,
            HistoryQuery {
                after: q.after,
                before: q.before,
                limit,
            },
        )
        .await?;
    Ok(Json(page))
}

/// Moves my read pointer forward to `seq` (never back); all my sessions get `read_state`.
#[utoipa::path(post, path = "/api/v1/channels/{id}/read", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id")), request_body = MarkRead,
    responses(
        (status = 200, description = "The new pointer and unread count", body = ReadState),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
    Body(req): Body<MarkRead>,
) -> ApiResult<Json<ReadState>> {
    Ok(Json(mark_read(&state, caller.user.id, id, req.seq).await?))
}
