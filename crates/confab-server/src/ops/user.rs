//! Finding people by username prefix.

use confab_proto::User;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Users whose name starts with `prefix` (case-insensitive; empty: everyone), in username order,
/// at most `limit` (1–100, default 20).
pub async fn search(
    state: &AppState,
    prefix: Option<&str>,
    limit: Option<u32>,
) -> ApiResult<Vec<User>> {
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1-100"));
    }
    let prefix = prefix.unwrap_or_default().trim().to_lowercase();
    if prefix.len() > 32
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(ApiError::bad_request(
            "prefix must be up to 32 characters of a-z, 0-9, '_', '.', '-'",
        ));
    }
    Ok(state.store.users_by_prefix(&prefix, limit).await?)
}
