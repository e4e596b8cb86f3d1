//! Bad input gets its documented code, and nobody else notices.

use confab_client::http::HistoryQuery;
use confab_proto::{ChannelId, ClientFrame, CloseCode, ErrorCode, ServerFrame};
use confab_testkit::push::next_event;
use confab_testkit::server::TestServer;

use crate::raw::{Raw, RawNext};

fn expect_error(next: RawNext, code: ErrorCode) -> Option<u64> {
    match next {
        RawNext::Frame(ServerFrame::Error { reference, error }) => {
            assert_eq!(error.code, code, "{error:?}");
            assert_eq!(error.error, code.name());
            reference
        }
        other => panic!("expected error {code:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_gets_its_code_and_others_are_unaffected() {
    let server = TestServer::start_with(|c| {
        c.send_rate = 1.0;
        c.send_burst = 5;
        c.max_rate_limited = 3;
        c.max_frame_bytes = 4096;
        c.max_message_chars = 100;
    })
    .await;
    let (alice, a_token, _) = server.user("alice").await;
    let (_, b_token, _) = server.user("bob").await;
    let (_, m_token, _) = server.user("mallory").await;
    server.user("carol").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let other = alice.create_direct("carol").await.expect("dm with carol");

    // Bob is a bystander, connected throughout.
    let (bob, mut bob_events) = server.connect(&b_token).await;

    // Malformed JSON, unknown op, bad fields: error frames; the connection stays.
    let mut m = Raw::identified(&server.ws, &m_token).await;
    m.send_text("{not json").await;
    expect_error(m.next().await, ErrorCode::BadRequest);
    m.send_text(r#"{"op":"teleport","ref":7}"#).await;
    assert_eq!(expect_error(m.next().await, ErrorCode::UnknownOp), Some(7));
    m.send_text(r#"{"op":"send","ref":8,"channel_id":"1"}"#)
        .await;
    assert_eq!(expect_error(m.next().await, ErrorCode::BadRequest), Some(8));
    // A send to a channel one is not a member of.
    m.send(&ClientFrame::Send {
        reference: Some(9),
        channel_id: other.id,
        client_id: "x1".into(),
        body: "hi".into(),
    })
    .await;
    assert_eq!(expect_error(m.next().await, ErrorCode::Forbidden), Some(9));
    m.send(&ClientFrame::Send {
        reference: Some(10),
        channel_id: ChannelId(12345),
        client_id: "x2".into(),
        body: "hi".into(),
    })
    .await;
    assert_eq!(expect_error(m.next().await, ErrorCode::Forbidden), Some(10));
    // A body over the message limit; an empty body; a bad client id.
    m.send(&ClientFrame::Send {
        reference: Some(11),
        channel_id: dm.id,
        client_id: "x3".into(),
        body: "y".repeat(101),
    })
    .await;
    assert_eq!(expect_error(m.next().await, ErrorCode::TooLarge), Some(11));
    m.send(&ClientFrame::Send {
        reference: Some(12),
        channel_id: dm.id,
        client_id: "has space".into(),
        body: "z".into(),
    })
    .await;
    assert_eq!(
        expect_error(m.next().await, ErrorCode::BadRequest),
        Some(12)
    );
    m.send(&ClientFrame::Heartbeat).await;
    assert!(
        matches!(m.next().await, RawNext::Frame(ServerFrame::HeartbeatAck)),
        "still served"
    );

    // Too many invalid frames close the connection.
    for _ in 0..10 {
        m.send_text("[]").await;
    }
    assert_eq!(
        m.close_code().await,
        Some(CloseCode::ProtocolViolation.as_u16())
    );

    // An oversized frame.
    let mut m = Raw::identified(&server.ws, &m_token).await;
    m.send_text(&format!(
        r#"{{"op":"heartbeat","pad":"{}"}}"#,
        "x".repeat(8000)
    ))
    .await;
    assert_eq!(
        m.close_code().await,
        Some(CloseCode::FrameTooLarge.as_u16())
    );

    // A send before identify.
    let mut m = Raw::connect(&server.ws).await;
    m.send(&ClientFrame::Send {
        reference: None,
        channel_id: dm.id,
        client_id: "early".into(),
        body: "hi".into(),
    })
    .await;
    assert_eq!(
        m.close_code().await,
        Some(CloseCode::NotIdentified.as_u16())
    );

    // A bad token.
    let mut m = Raw::connect(&server.ws).await;
    m.send(&ClientFrame::Identify {
        token: "not-a-token".into(),
    })
    .await;
    assert_eq!(
        m.close_code().await,
        Some(CloseCode::AuthenticationFailed.as_u16())
    );

    // Identifying twice.
    let mut m = Raw::identified(&server.ws, &m_token).await;
    m.send(&ClientFrame::Identify {
        token: m_token.clone(),
    })
    .await;
    assert_eq!(
        m.close_code().await,
        Some(CloseCode::AlreadyIdentified.as_u16())
    );

    // A flood: the burst passes, then rate_limited with a retry hint, then the socket closes.
    let mut a = Raw::identified(&server.ws, &a_token).await;
    let mut acks = 0;
    let mut limited = 0;
    let mut closed = None;
    // More frames than one socket read holds: the server closes with unread input, which must not
    // reset the connection before the client has the acks and the close code (the server reads
    // until the client's close reply).
    for n in 0..120u64 {
        a.send(&ClientFrame::Send {
            reference: Some(n),
            channel_id: dm.id,
            client_id: format!("flood-{n}"),
            body: "spam".into(),
        })
        .await;
    }
    while closed.is_none() {
        match a.next().await {
            RawNext::Frame(ServerFrame::Ack(_)) => acks += 1,
            RawNext::Frame(ServerFrame::Error { error, .. }) => {
                assert_eq!(error.code, ErrorCode::RateLimited);
                assert!(error.retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 1000));
                limited += 1;
            }
            RawNext::Frame(_) => {}
            RawNext::Closed(code) => closed = Some(code),
        }
    }
    assert_eq!(acks, 5, "the burst");
    assert_eq!(limited, 3, "refusals up to the limit");
    assert_eq!(closed, Some(Some(CloseCode::RateLimited.as_u16())));
    // Over HTTP the limit answers 429 with Retry-After.
    let err = alice
        .send(dm.id, "http-flood", "more")
        .await
        .expect_err("limited");
    assert_eq!(err.api().map(|e| e.code), Some(ErrorCode::RateLimited));

    // Bob saw exactly the five accepted messages, and can still talk.
    for _ in 0..5 {
        next_event(&mut bob_events).await;
    }
    let ack = bob.send(dm.id, "still here").await.expect("bob unaffected");
    assert_eq!(ack.seq, 7);
    let page = alice
        .history(dm.id, HistoryQuery::default())
        .await
        .expect("history");
    assert_eq!(page.last_seq, 7, "nothing stored from the refused frames");

    // Every refusal is counted.
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for reason in [
        "bad_frame",
        "unknown_op",
        "frame_too_large",
        "not_identified",
        "auth_failed",
        "rate_limited",
        "forbidden",
        "protocol_violation",
    ] {
        assert!(
            metrics.contains(&format!("confab_rejections_total{{reason=\"{reason}\"}}")),
            "{reason} in\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed() {
    let server = TestServer::start_with(|c| {
        c.identify_timeout = std::time::Duration::from_millis(200);
        c.heartbeat_interval = std::time::Duration::from_millis(150);
    })
    .await;
    let (_, token, _) = server.user("alice").await;
    let mut never = Raw::connect(&server.ws).await;
    assert_eq!(
        never.close_code().await,
        Some(CloseCode::IdentifyTimeout.as_u16())
    );
    let mut silent = Raw::identified(&server.ws, &token).await;
    assert_eq!(
        silent.close_code().await,
        Some(CloseCode::HeartbeatTimeout.as_u16())
    );
    // The SDK heartbeats on its own and stays connected.
    let (client, _events) = server.connect(&token).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(client.state(), confab_client::ConnectionState::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_limit_the_upgrade_is_refused_with_retry_after() {
    let server = TestServer::start_with(|c| c.max_connections = 2).await;
    let _one = Raw::connect(&server.ws).await;
    let _two = Raw::connect(&server.ws).await;
    match tokio_tungstenite::connect_async(server.ws.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            let retry: u32 = response.headers()["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("secs");
            assert!((1..=5).contains(&retry));
        }
        other => panic!("expected 503, got {other:?}"),
    }
}
