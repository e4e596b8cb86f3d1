//! The OpenAPI document of the REST API, generated from the handlers and wire types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{account, channel, member, message, presence, receipt, user};
use crate::transport::http as session;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("opaque")
                    .build(),
            ),
        );
    }
}

/// The document served at `/api/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "Confab REST API", description = "Accounts, channels, members and messages. The real-time gateway at /ws is described in docs/protocol.md."),
    paths(
        account::register, account::login, account::logout, account::me,
        user::list, presence::user, presence::channel,
        channel::create, channel::list, channel::get,
        member::list, member::add, member::remove, member::leave, member::set_role,
        message::send, message::history, message::read, receipt::list,
        session::create, session::frames, session::poll, session::events, session::end,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Register, log in and out"),
        (name = "users", description = "Find people"),
        (name = "channels", description = "Direct channels and groups"),
        (name = "members", description = "Group membership and roles"),
        (name = "messages", description = "Send, page history, read pointers"),
        (name = "sessions", description = "The gateway protocol over HTTP: long polling and SSE"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
