//! The REST API under `/api/v1`: one file per resource, all of the same shape. A handler takes its
//! inputs through the [`extract`](crate::extract) extractors, calls one operation of
//! [`ops`](crate::ops), and answers; the rules live in the operation.

pub mod account;
pub mod channel;
pub mod member;
pub mod message;
pub mod presence;
pub mod receipt;
pub mod user;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::state::AppState;

/// The REST routes of `/api/v1` (the HTTP transport's `/sessions` routes are beside them).
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
}
