//! The REST API under `/api/v1`: one file per resource, all of the same shape.
//!
//! Every handler takes its inputs through the extractors below, so a malformed body, query or path
//! becomes a `bad_request` error body like every other error.

pub mod account;
pub mod channel;
pub mod member;
pub mod message;
pub mod openapi;
pub mod presence;
pub mod receipt;
pub mod session;
pub mod user;

use axum::extract::{FromRequest, FromRequestParts};
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;

/// A JSON body; a bad one is a `bad_request`.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// Query parameters; bad ones are a `bad_request`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Params<T>(pub T);

/// Path parameters; bad ones are a `bad_request`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathIds<T>(pub T);

/// The routes of `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", post(account::register))
        .route("/login", post(account::login))
        .route("/logout", post(account::logout))
        .route("/me", get(account::me))
        .route("/users", get(user::list))
        .route("/users/{id}/presence", get(presence::user))
        .route("/channels/{id}/presence", get(presence::channel))
        .route("/channels", post(channel::create).get(channel::list))
        .route("/channels/{id}", get(channel::get))
        .route("/channels/{id}/leave", post(member::leave))
        .route(
            "/channels/{id}/members",
            get(member::list).post(member::add),
        )
        .route("/channels/{id}/members/{user_id}", delete(member::remove))
        .route(
            "/channels/{id}/members/{user_id}/role",
            put(member::set_role),
        )
        .route(
            "/channels/{id}/messages",
            post(message::send).get(message::history),
        )
        .route("/channels/{id}/read", post(message::read))
        .route("/channels/{id}/receipts", get(receipt::list))
        .route("/sessions", post(session::create))
        .route("/sessions/{id}", delete(session::end))
        .route("/sessions/{id}/frames", post(session::frames))
        .route("/sessions/{id}/poll", get(session::poll))
        .route("/sessions/{id}/events", get(session::events))
        .route("/openapi.json", get(openapi::serve))
        .fallback(no_such_endpoint)
}

async fn no_such_endpoint() -> ApiError {
    ApiError::new(confab_proto::ErrorCode::NotFound, "no such endpoint")
}
