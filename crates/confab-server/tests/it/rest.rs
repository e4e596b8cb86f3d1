//! The REST API's validation, errors, and operational endpoints.

use confab_client::http::HistoryQuery;
use confab_proto::ErrorCode;
use confab_testkit::server::{TestServer, PASSWORD};

fn code(err: confab_client::ClientError) -> ErrorCode {
    err.api()
        .map(|e| e.code)
        .unwrap_or_else(|| panic!("expected an API error, got {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_validate_and_fail_with_documented_codes() {
    let server = TestServer::start().await;
    let http = &server.http;
    let (alice, _, user) = server.user("Alice").await;
    assert_eq!(user.username, "alice", "usernames are lower-cased");
    assert_eq!(
        code(http.register("alice", PASSWORD).await.expect_err("dup")),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(http.register("ALICE", PASSWORD).await.expect_err("dup")),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(http.register("a", PASSWORD).await.expect_err("short")),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(
            http.register("bad name", PASSWORD)
                .await
                .expect_err("space")
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(http.register("bobby", "short").await.expect_err("pw")),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(http.login("alice", "wrong password").await.expect_err("pw")),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(http.login("nobody", PASSWORD).await.expect_err("user")),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(http.me().await.expect_err("no token")),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(http.with_token("junk").me().await.expect_err("bad token")),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        http.login("ALICE", PASSWORD).await.expect("login").user.id,
        user.id
    );
    assert_eq!(alice.me().await.expect("me"), user);

    server.user("alicia").await;
    server.user("bob").await;
    let found: Vec<String> = alice
        .users("ali")
        .await
        .expect("search")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(found, vec!["alice", "alicia"]);

    // A malformed body is a bad_request with the error body, not a bare 4xx.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/register", server.base))
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], 1001);
    assert_eq!(body["error"]["error"], "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_validate_and_fail_with_documented_codes() {
    let server = TestServer::start_with(|c| c.max_group_members = 3).await;
    let (alice, _, _) = server.user("alice").await;
    let (bob, _, _) = server.user("bob").await;
    server.user("carol").await;
    server.user("dave").await;
    assert_eq!(
        code(alice.create_direct("nobody").await.expect_err("unknown")),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(alice.create_direct("alice").await.expect_err("self")),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(alice.create_group("", &[]).await.expect_err("name")),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(
            alice
                .create_group("g", &["bob", "ghost"])
                .await
                .expect_err("ghost")
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            alice
                .create_group("big", &["bob", "carol", "dave"])
                .await
                .expect_err("limit")
        ),
        ErrorCode::LimitExceeded
    );
    let group = alice
        .create_group("ok", &["bob", "carol"])
        .await
        .expect("group");
    assert_eq!(
        code(alice.add_member(group.id, "dave").await.expect_err("full")),
        ErrorCode::LimitExceeded
    );
    assert_eq!(
        code(
            bob.add_member(group.id, "dave")
                .await
                .expect_err("not admin")
        ),
        ErrorCode::Forbidden
    );
    let (dave, _, _) = (
        server
            .http
            .login("dave", PASSWORD)
            .await
            .map(|a| server.http.with_token(&a.token))
            .expect("login"),
        (),
        (),
    );
    assert_eq!(
        code(dave.channel(group.id).await.expect_err("stranger")),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            dave.history(group.id, HistoryQuery::default())
                .await
                .expect_err("stranger")
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            alice
                .history(
                    group.id,
                    HistoryQuery {
                        limit: Some(201),
                        ..Default::default()
                    }
                )
                .await
                .expect_err("limit")
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(
            alice
                .send(group.id, "c", &"x".repeat(4001))
                .await
                .expect_err("long")
        ),
        ErrorCode::TooLarge
    );
    let dm = alice.create_direct("bob").await.expect("dm");
    assert_eq!(
        code(alice.leave(dm.id).await.expect_err("direct")),
        ErrorCode::BadRequest
    );
    let list = alice.channels().await.expect("list");
    assert_eq!(list.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_openapi() {
    let server = TestServer::start().await;
    let get = |path: &str| reqwest::get(format!("{}{path}", server.base));
    assert_eq!(get("/healthz").await.expect("healthz").status(), 200);
    assert_eq!(get("/readyz").await.expect("readyz").status(), 200);
    let (alice, token, _) = server.user("alice").await;
    server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let (client, _events) = server.connect(&token).await;
    client.send(dm.id, "counted").await.expect("send");
    let metrics = get("/metrics")
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for needle in [
        "confab_connections{transport=\"websocket\"} 1",
        "confab_sessions 1",
        "confab_messages_stored_total 1",
        "confab_frames_in_total{op=\"send\"} 1",
        "confab_store_seconds_count{op=\"append_message\"} 1",
        "confab_fanout_seconds_count",
        "confab_frames_out_total",
    ] {
        assert!(metrics.contains(needle), "{needle} in\n{metrics}");
    }
    let doc: serde_json::Value = get("/api/v1/openapi.json")
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/register",
        "/api/v1/channels/{id}/messages",
        "/api/v1/channels/{id}/read",
        "/api/v1/users",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["ErrorResponse"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
