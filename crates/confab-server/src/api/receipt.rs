//! Receipts: who received and read a channel, per member in small channels, as counts in large ones.

use axum::extract::State;
use axum::Json;
use confab_proto::api::{ErrorResponse, ReceiptSummary};
use confab_proto::ChannelId;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Params, PathIds};
use crate::ops::receipt;
use crate::state::AppState;

/// Query of `GET /api/v1/channels/{id}/receipts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceiptParams {
    /// Count members at or past this `seq` (default: the channel's `last_seq`).
    pub seq: Option<u64>,
}

/// Delivered and read counts for a `seq`, and every other member's pointers in small channels.
#[utoipa::path(get, path = "/api/v1/channels/{id}/receipts", operation_id = "listReceipts", tag = "messages", security(("bearer" = [])),
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
    Ok(Json(
        receipt::summary(&state, id, caller.user.id, q.seq).await?,
    ))
}
