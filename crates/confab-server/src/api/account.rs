//! Accounts: register, log in, log out, who am I.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use confab_proto::api::{AuthResponse, Credentials, ErrorResponse};
use confab_proto::User;

use super::Body;
use crate::app::AppState;
use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};
use crate::hub::{hex, UserSignal};

async fn issue_token(state: &AppState, user: User) -> ApiResult<AuthResponse> {
    let (token, hash) = auth::new_token();
    state.store.insert_token(&hash, user.id).await?;
    Ok(AuthResponse { token, user })
}

/// Creates an account and returns a session token.
#[utoipa::path(post, path = "/api/v1/register", tag = "accounts", request_body = Credentials,
    responses(
        (status = 201, description = "Account created", body = AuthResponse),
        (status = 400, description = "Invalid username or password", body = ErrorResponse),
        (status = 409, description = "Username taken", body = ErrorResponse)))]
pub async fn register(
    State(state): State<AppState>,
    Body(creds): Body<Credentials>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let username = auth::normalize_username(&creds.username)?;
    auth::check_password(&creds.password)?;
    let hash = {
        let _permit =
            state.hash_permits.acquire().await.map_err(|_| {
                ApiError::new(confab_proto::ErrorCode::Unavailable, "shutting down")
            })?;
        auth::hash_password(creds.password).await?
    };
    let user = state.store.create_user(&username, &hash).await?;
    tracing::info!(user_id = %user.id, username = %user.username, "registered");
    Ok((StatusCode::CREATED, Json(issue_token(&state, user).await?)))
}

/// Logs in and returns a new session token. Each login is a separate session (device).
#[utoipa::path(post, path = "/api/v1/login", tag = "accounts", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in", body = AuthResponse),
        (status = 401, description = "Wrong username or password", body = ErrorResponse)))]
pub async fn login(
    State(state): State<AppState>,
    Body(creds): Body<Credentials>,
) -> ApiResult<Json<AuthResponse>> {
    let found = match auth::normalize_username(&creds.username) {
        Ok(name) => state.store.credentials(&name).await?,
        Err(_) => None,
    };
    let ok = {
        let _permit =
            state.hash_permits.acquire().await.map_err(|_| {
                ApiError::new(confab_proto::ErrorCode::Unavailable, "shutting down")
            })?;
        auth::verify_password(
            creds.password,
            found.as_ref().map(|c| c.password_hash.clone()),
        )
        .await
    };
    match found {
        Some(c) if ok => Ok(Json(issue_token(&state, c.user).await?)),
        _ => Err(ApiError::unauthorized("wrong username or password")),
    }
}

/// Revokes the token used for this request; its WebSocket sessions close with `4105`.
#[utoipa::path(post, path = "/api/v1/logout", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 204, description = "Token revoked"),
        (status = 401, description = "Missing or invalid token", body = ErrorResponse)))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state.store.delete_token(&caller.token_hash).await?;
    state
        .hub
        .signal(
            caller.user.id,
            &UserSignal::Revoked(hex(&caller.token_hash)),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Missing or invalid token", body = ErrorResponse)))]
pub async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}
