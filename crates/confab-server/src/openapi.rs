//! The OpenAPI document of the REST API, generated from the handlers and wire types.

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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

/// The errors every operation of a kind can answer, written once here rather than on each
/// handler: `401` where a bearer token is required (missing, invalid or revoked), and — for the
/// REST resources, which all reach the store — `500` and `503` (the store is unavailable; nothing
/// was changed). Each with the `ErrorResponse` body. A handler's own description wins.
struct CommonErrors;

impl CommonErrors {
    fn add(operation: &mut Operation, status: &str, description: &str) {
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorResponse")))
            .build();
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", body)
            .build();
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert(RefOr::T(response));
    }
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    Self::add(operation, "401", "Missing, invalid or revoked bearer token");
                }
                let tags = operation.tags.as_deref().unwrap_or_default();
                if !tags.iter().any(|t| t == "sessions") {
                    Self::add(operation, "500", "Internal error (logged by the server)");
                    Self::add(
                        operation,
                        "503",
                        "The store is unavailable; nothing was changed, retry later",
                    );
                }
            }
        }
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
    modifiers(&BearerAuth, &CommonErrors),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn operation_ids_are_unique_and_every_error_is_documented_with_its_body() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("json");
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("operations") {
                let id = op["operationId"].as_str().expect("an operationId");
                assert!(ids.insert(id.to_owned()), "{id} repeats ({method} {path})");
                let responses = op["responses"].as_object().expect("responses");
                if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                    assert!(responses.contains_key("401"), "{id}: no 401");
                }
                for (status, response) in responses {
                    if status.as_str() < "400" {
                        continue;
                    }
                    let content = &response["content"];
                    let error_body = content["application/json"]["schema"]["$ref"]
                        == "#/components/schemas/ErrorResponse";
                    let text = content["text/plain"].is_object();
                    assert!(error_body || text, "{id} {status}: no body documented");
                }
            }
        }
        assert_eq!(ids.len(), 24);
    }
}
