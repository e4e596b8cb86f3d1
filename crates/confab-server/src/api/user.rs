//! Users: find people by username prefix.

use axum::extract::State;
use axum::Json;
use confab_proto::api::{ErrorResponse, UserList};
use serde::Deserialize;

use super::Params;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Query of `GET /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UserQuery {
    /// Username prefix (case-insensitive); empty lists everyone.
    pub prefix: Option<String>,
    /// At most this many users, 1–100 (default 20).
    pub limit: Option<u32>,
}

/// Users whose name starts with `prefix`, in username order.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(UserQuery),
    responses(
        (status = 200, description = "Matching users", body = UserList),
        (status = 400, description = "Bad prefix or limit", body = ErrorResponse)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<UserQuery>,
) -> ApiResult<Json<UserList>> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1-100"));
    }
    let prefix = q.prefix.unwrap_or_default().trim().to_lowercase();
    if prefix.len() > 32
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(ApiError::bad_request(
            "prefix must be up to 32 characters of a-z, 0-9, '_', '.', '-'",
        ));
    }
    let users = state.store.users_by_prefix(&prefix, limit).await?;
    Ok(Json(UserList { users }))
}
