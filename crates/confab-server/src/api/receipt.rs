//! Receipts: who received and read a channel, per member in small channels, as counts in large ones.

use axum::extract::State;
use axum::Json;
use confab_proto::api::{ErrorResponse, ReceiptSummary};
use confab_proto::ChannelId;
use serde::Deserialize;

use super::member::require_summary;
use super::{Params, PathIds};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

/// Query of `GET /api/v1/channels/{id}/receipts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReceiptParams {
    /// Count members at or past this `seq` (default: the channel's `last_seq`).
    pub seq: Option<u64>,
}

/// Delivered and read counts for a `seq`, and every other member's pointers in small channels.
#[utoipa::path(get, path = "/api/v1/channels/{id}/receipts", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path, description = "Channel id"), ReceiptParams),
    responses(
        (status = 200, description = "Receipts", body = ReceiptSummary),
        (status = 400, description = "Bad seq", body = ErrorResponse),
        (status = 404, description = "No such channel, or not a member", body = ErrorResponse)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(id): PathIds<ChannelId>,
    Params(q): Params<ReceiptParams>,
) -> ApiResult<Json<ReceiptSummary>> {
    let summary = require_summary(&state, id, caller.user.id).await?;
    let seq = q.seq.unwrap_or(summary.last_seq);
    let others: Vec<_> = state
        .store
        .receipts(id)
        .await?
        .into_iter()
        .filter(|r| r.user_id != caller.user.id)
        .collect();
    let count =
        |f: &dyn Fn(&confab_proto::Receipt) -> bool| others.iter().filter(|r| f(r)).count() as u32;
    let delivered = count(&|r| r.delivered_seq >= seq);
    let read = count(&|r| r.read_seq >= seq);
    let small = summary.member_count <= state.config.receipt_group_size;
    Ok(Json(ReceiptSummary {
        seq,
        member_count: summary.member_count,
        delivered,
        read,
        receipts: if small { others } else { Vec::new() },
    }))
}
