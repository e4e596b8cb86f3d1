//! Users: find people by username prefix.

use axum::extract::State;
use axum::Json;
use confab_proto::api::{ErrorResponse, UserList};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::Params;
use crate::ops::user;
use crate::state::AppState;

/// Query of `GET /api/v1/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Username prefix (case-insensitive); empty lists everyone.
    pub prefix: Option<String>,
    /// At most this many users, 1–100 (default 20).
    pub limit: Option<u32>,
}

/// Users whose name starts with `prefix`, in username order.
#[utoipa::path(get, path = "/api/v1/users", operation_id = "searchUsers", tag = "users", security(("bearer" = [])), params(UserQuery),
    responses(
        (status = 200, description = "Matching users", body = UserList),
        (status = 400, description = "Bad prefix or limit", body = ErrorResponse)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<UserQuery>,
) -> ApiResult<Json<UserList>> {
    let users = user::search(&state, q.prefix.as_deref(), q.limit).await?;
    Ok(Json(UserList { users }))
}
