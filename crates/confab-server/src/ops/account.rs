//! Accounts: register, log in (each login a new session token, i.e. a device), log out.

use confab_proto::api::AuthResponse;
use confab_proto::{ErrorCode, User};

use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::hub::{hex, UserSignal};
use crate::state::AppState;

/// Creates an account and a session token for it.
pub async fn register(
    state: &AppState,
    username: &str,
    password: String,
) -> ApiResult<AuthResponse> {
    let username = auth::normalize_username(username)?;
    auth::check_password(&password)?;
    let hash = {
        let _permit = hash_permit(state).await?;
        auth::hash_password(password).await?
    };
    let user = state.store.create_user(&username, &hash).await?;
    tracing::info!(user_id = %user.id, username = %user.username, "registered");
    issue_token(state, user).await
}

/// Checks a password and issues a new session token. An unknown username costs the same time as
/// a wrong password and gets the same answer. A disabled account is told so, but only once its
/// password matched (so the answer reveals nothing to someone who does not know it).
pub async fn login(state: &AppState, username: &str, password: String) -> ApiResult<AuthResponse> {
    let found = match auth::normalize_username(username) {
        Ok(name) => state.store.credentials(&name).await?,
        Err(_) => None,
    };
    let ok = {
        let _permit = hash_permit(state).await?;
        auth::verify_password(password, found.as_ref().map(|c| c.password_hash.clone())).await
    };
    match found {
        Some(c) if ok && c.disabled => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this account is disabled; ask the server's administrator",
        )),
        Some(c) if ok => issue_token(state, c.user).await,
        _ => Err(ApiError::unauthorized("wrong username or password")),
    }
}

/// Revokes a token; the sessions it opened close with `session_revoked`.
pub async fn logout(state: &AppState, user: &User, token_hash: &[u8; 32]) -> ApiResult<()> {
    state.store.delete_token(token_hash).await?;
    state
        .hub
        .signal(user.id, &UserSignal::Revoked(hex(token_hash)))
        .await;
    Ok(())
}

async fn issue_token(state: &AppState, user: User) -> ApiResult<AuthResponse> {
    let (token, hash) = auth::new_token();
    state.store.insert_token(&hash, user.id).await?;
    Ok(AuthResponse { token, user })
}

/// One of the few concurrent password hashes allowed.
async fn hash_permit(state: &AppState) -> ApiResult<tokio::sync::SemaphorePermit<'_>> {
    state
        .hash_permits
        .acquire()
        .await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "shutting down"))
}
