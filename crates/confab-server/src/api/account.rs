//! Accounts: register, log in, log out, who am I.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use confab_proto::api::{AuthResponse, Credentials, ErrorResponse};
use confab_proto::User;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::Body;
use crate::ops::account;
use crate::state::AppState;

/// Creates an account and returns a session token.
#[utoipa::path(post, path = "/api/v1/register", operation_id = "register", tag = "accounts", request_body = Credentials,
    responses(
        (status = 201, description = "Account created", body = AuthResponse),
        (status = 400, description = "Invalid username or password", body = ErrorResponse),
        (status = 409, description = "Username taken", body = ErrorResponse)))]
pub async fn register(
    State(state): State<AppState>,
    Body(creds): Body<Credentials>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let auth = account::register(&state, &creds.username, creds.password).await?;
    Ok((StatusCode::CREATED, Json(auth)))
}

/// Logs in and returns a new session token. Each login is a separate session (device).
#[utoipa::path(post, path = "/api/v1/login", operation_id = "login", tag = "accounts", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in", body = AuthResponse),
        (status = 400, description = "Malformed body", body = ErrorResponse),
        (status = 401, description = "Wrong username or password", body = ErrorResponse),
        (status = 403, description = "The account is disabled (`confab admin users disable`)", body = ErrorResponse)))]
pub async fn login(
    State(state): State<AppState>,
    Body(creds): Body<Credentials>,
) -> ApiResult<Json<AuthResponse>> {
    Ok(Json(
        account::login(&state, &creds.username, creds.password).await?,
    ))
}

/// Revokes the token used for this request; its WebSocket sessions close with `4105`.
#[utoipa::path(post, path = "/api/v1/logout", operation_id = "logout", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 204, description = "Token revoked"),
        (status = 401, description = "Missing or invalid token", body = ErrorResponse)))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    account::logout(&state, &caller.user, &caller.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", operation_id = "getMe", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Missing or invalid token", body = ErrorResponse)))]
pub async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}
