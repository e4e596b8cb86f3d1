//! One session protocol over three transports: the same conversation over WebSocket, HTTP long
//! polling and SSE; switching transports mid-stream; a parked long poll.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use confab_proto::{ChannelId, ClientFrame, EventBody, ServerFrame, Status};
use confab_testkit::push::presence_of;
use confab_testkit::server::TestServer;
use futures::StreamExt;

use crate::raw::{Raw, RawNext};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    WebSocket,
    LongPoll,
    Sse,
}

/// A raw client over any transport: send frames, read frames, in protocol terms only.
enum Wire {
    Ws(Raw),
    Http {
        http: reqwest::Client,
        base: String,
        sid: String,
        buf: VecDeque<RawNext>,
        /// Long poll: the last frame number received.
        after: u64,
        /// SSE: the open stream and what is left of a partial line.
        sse: Option<(
            futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
            String,
        )>,
    },
}

impl Wire {
    async fn open(kind: Kind, server: &TestServer) -> Wire {
        match kind {
            Kind::WebSocket => Wire::Ws(Raw::connect(&server.ws).await),
            Kind::LongPoll | Kind::Sse => {
                let http = reqwest::Client::new();
                let created: serde_json::Value = http
                    .post(format!("{}/api/v1/sessions", server.base))
                    .send()
                    .await
                    .expect("create")
                    .json()
                    .await
                    .expect("json");
                let sid = created["session_id"]
                    .as_str()
                    .expect("session id")
                    .to_owned();
                let sse = if kind == Kind::Sse {
                    let response = http
                        .get(format!("{}/api/v1/sessions/{sid}/events", server.base))
                        .send()
                        .await
                        .expect("stream");
                    assert_eq!(response.headers()["content-type"], "text/event-stream");
                    Some((response.bytes_stream().boxed(), String::new()))
                } else {
                    None
                };
                let mut wire = Wire::Http {
                    http,
                    base: server.base.clone(),
                    sid,
                    buf: VecDeque::new(),
                    after: 0,
                    sse,
                };
                match wire.next().await {
                    RawNext::Frame(ServerFrame::Hello(_)) => {}
                    other => panic!("expected hello, got {other:?}"),
                }
                wire
            }
        }
    }

    async fn identified(kind: Kind, server: &TestServer, token: &str) -> Wire {
        let mut wire = Wire::open(kind, server).await;
        wire.send(&ClientFrame::Identify {
            token: token.into(),
        })
        .await;
        match wire.next().await {
            RawNext::Frame(ServerFrame::Ready(_)) => {}
            other => panic!("expected ready, got {other:?}"),
        }
        wire
    }

    async fn send(&mut self, frame: &ClientFrame) {
        match self {
            Wire::Ws(raw) => raw.send(frame).await,
            Wire::Http {
                http, base, sid, ..
            } => {
                let status = http
                    .post(format!("{base}/api/v1/sessions/{sid}/frames"))
                    .json(frame)
                    .send()
                    .await
                    .expect("post")
                    .status();
                assert_eq!(status, 202);
            }
        }
    }

    /// Ends the transport without a goodbye (drops the socket, or deletes the session).
    async fn cut(self) {
        if let Wire::Http {
            http, base, sid, ..
        } = self
        {
            let _ = http
                .delete(format!("{base}/api/v1/sessions/{sid}"))
                .send()
                .await;
        }
    }

    async fn next(&mut self) -> RawNext {
        match self {
            Wire::Ws(raw) => raw.next().await,
            Wire::Http {
                http,
                base,
                sid,
                buf,
                after,
                sse,
            } => {
                let started = Instant::now();
                while buf.is_empty() {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "a frame within 10 s"
                    );
                    match sse {
                        None => {
                            let batch: serde_json::Value = http
                                .get(format!("{base}/api/v1/sessions/{sid}/poll?after={after}&timeout_ms=5000"))
                                .send()
                                .await
                                .expect("poll")
                                .json()
                                .await
                                .expect("json");
                            *after = batch["next"].as_u64().expect("next");
                            for f in batch["frames"].as_array().expect("frames") {
                                buf.push_back(RawNext::Frame(
                                    serde_json::from_value(f.clone()).expect("frame"),
                                ));
                            }
                            if let Some(code) = batch["closed"]["code"].as_u64() {
                                buf.push_back(RawNext::Closed(Some(code as u16)));
                            }
                        }
                        Some((stream, pending)) => {
                            let chunk =
                                tokio::time::timeout(Duration::from_secs(10), stream.next())
                                    .await
                                    .expect("stream data within 10 s");
                            let Some(Ok(chunk)) = chunk else {
                                buf.push_back(RawNext::Closed(None));
                                break;
                            };
                            pending.push_str(&String::from_utf8_lossy(&chunk));
                            while let Some(end) = pending.find("\n\n") {
                                let block: String = pending.drain(..end + 2).collect();
                                let mut event = "message";
                                let mut data = String::new();
                                for line in block.lines() {
                                    if let Some(v) = line.strip_prefix("event:") {
                                        event = if v.trim() == "close" {
                                            "close"
                                        } else {
                                            "message"
                                        };
                                    } else if let Some(v) = line.strip_prefix("data:") {
                                        data.push_str(v.trim_start());
                                    } else if let Some(v) = line.strip_prefix("id:") {
                                        *after = v.trim().parse().expect("numeric id");
                                    }
                                }
                                if data.is_empty() {
                                    continue; // keep-alive comment
                                }
                                if event == "close" {
                                    let v: serde_json::Value =
                                        serde_json::from_str(&data).expect("close json");
                                    buf.push_back(RawNext::Closed(
                                        v["code"].as_u64().map(|c| c as u16),
                                    ));
                                } else {
                                    buf.push_back(RawNext::Frame(
                                        serde_json::from_str(&data).expect("frame"),
                                    ));
                                }
                            }
                        }
                    }
                }
                buf.pop_front().unwrap_or(RawNext::Closed(None))
            }
        }
    }

    /// The next `ack`, skipping other frames.
    async fn ack(&mut self) -> confab_proto::Ack {
        self.until(|f| match f {
            ServerFrame::Ack(ack) => Some(ack.clone()),
            _ => None,
        })
        .await
    }

    /// The next frame matching `want`, skipping others (receipts, presence, echoes).
    async fn until<T>(&mut self, mut want: impl FnMut(&ServerFrame) -> Option<T>) -> T {
        loop {
            match self.next().await {
                RawNext::Frame(f) => {
                    if let Some(t) = want(&f) {
                        return t;
                    }
                }
                RawNext::Closed(code) => panic!("closed ({code:?}) while waiting"),
            }
        }
    }
}

fn message_in(channel: ChannelId) -> impl FnMut(&ServerFrame) -> Option<(u64, String)> {
    move |f| match f {
        ServerFrame::Event(e) if e.channel_id == channel => match &e.body {
            EventBody::Message { body, .. } => Some((e.seq, body.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// The conversation every transport must carry the same way.
async fn conversation(kind: Kind) {
    let server = TestServer::start().await;
    let (alice_http, a_token, _) = server.user("alice").await;
    let (_, b_token, bob) = server.user("bob").await;
    let (_, c_token, _) = server.user("carol").await;
    let dm = alice_http.create_direct("bob").await.expect("dm");
    let group = alice_http
        .create_group("trio", &["bob", "carol"])
        .await
        .expect("group");
    let mut a = Wire::identified(kind, &server, &a_token).await;
    let mut b = Wire::identified(kind, &server, &b_token).await;
    let mut c = Wire::identified(kind, &server, &c_token).await;

    // 1-1 both ways, with acks carrying the ref.
    a.send(&ClientFrame::Send {
        reference: Some(1),
        channel_id: dm.id,
        client_id: "a1".into(),
        body: "hi bob".into(),
    })
    .await;
    let ack = a.ack().await;
    assert_eq!((ack.reference, ack.seq), (Some(1), 2));
    assert_eq!(b.until(message_in(dm.id)).await, (2, "hi bob".into()));
    b.send(&ClientFrame::Send {
        reference: Some(9),
        channel_id: dm.id,
        client_id: "b1".into(),
        body: "hi alice".into(),
    })
    .await;
    // Alice's own message reaches her sessions too, before Bob's answer.
    assert_eq!(a.until(message_in(dm.id)).await, (2, "hi bob".into()));
    assert_eq!(a.until(message_in(dm.id)).await, (3, "hi alice".into()));

    // Idempotent resend: the same ack, nothing new.
    a.send(&ClientFrame::Send {
        reference: Some(2),
        channel_id: dm.id,
        client_id: "a1".into(),
        body: "hi bob".into(),
    })
    .await;
    let again = a.ack().await;
    assert_eq!(
        (again.reference, again.id, again.seq),
        (Some(2), ack.id, ack.seq)
    );

    // Group fan-out and order.
    for i in 0..30 {
        a.send(&ClientFrame::Send {
            reference: None,
            channel_id: group.id,
            client_id: format!("g{i}"),
            body: format!("m{i}"),
        })
        .await;
    }
    for w in [&mut b, &mut c] {
        for i in 0..30u64 {
            assert_eq!(
                w.until(message_in(group.id)).await,
                (2 + i, format!("m{i}"))
            );
        }
    }

    // Receipts: Bob confirms delivery; Alice sees it.
    b.send(&ClientFrame::Delivered {
        channel_id: dm.id,
        seq: 2,
    })
    .await;
    let receipt = a
        .until(|f| match f {
            ServerFrame::Receipt(r)
                if r.user_id == bob.id && r.channel_id == dm.id && r.delivered_seq >= 2 =>
            {
                Some(r.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!((receipt.delivered_seq, receipt.read_seq), (2, 1));

    // Presence: Bob goes idle, Alice sees it.
    b.send(&ClientFrame::SetStatus {
        status: Status::Idle,
    })
    .await;
    let idle = a
        .until(|f| match f {
            ServerFrame::Presence(p) if p.user_id == bob.id => Some(p.status),
            _ => None,
        })
        .await;
    assert_eq!(idle, Status::Idle);

    // Resume after a cut, on the same transport.
    b.cut().await;
    for i in 30..40 {
        a.send(&ClientFrame::Send {
            reference: None,
            channel_id: group.id,
            client_id: format!("g{i}"),
            body: format!("m{i}"),
        })
        .await;
    }
    a.until(|f| match f {
        ServerFrame::Event(e) if e.seq == 41 => Some(()),
        _ => None,
    })
    .await;
    let mut b = Wire::open(kind, &server).await;
    let cursors: BTreeMap<ChannelId, u64> = [(dm.id, 3), (group.id, 31)].into_iter().collect();
    b.send(&ClientFrame::Resume {
        token: b_token.clone(),
        cursors,
        receipts_since: None,
    })
    .await;
    for i in 30..40u64 {
        assert_eq!(
            b.until(message_in(group.id)).await,
            (2 + i, format!("m{i}"))
        );
    }
    let resumed = b
        .until(|f| match f {
            ServerFrame::Resumed(r) => Some(r.clone()),
            _ => None,
        })
        .await;
    assert_eq!(resumed.replayed, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_over_websocket() {
    conversation(Kind::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_over_long_polling() {
    conversation(Kind::LongPoll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_over_sse() {
    conversation(Kind::Sse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_transports_mid_stream_misses_and_repeats_nothing() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.user("alice").await;
    let (_, b_token, _) = server.user("bob").await;
    let group = alice.create_group("switch", &["bob"]).await.expect("group");
    let sending = {
        let alice = alice.clone();
        tokio::spawn(async move {
            for i in 0..150 {
                alice
                    .send(group.id, &format!("c{i}"), &format!("m{i}"))
                    .await
                    .expect("send");
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let mut got: Vec<(u64, String)> = Vec::new();
    let mut cursor = 1u64;
    for (round, kind) in [Kind::WebSocket, Kind::LongPoll, Kind::Sse, Kind::WebSocket]
        .into_iter()
        .enumerate()
    {
        let mut wire = Wire::open(kind, &server).await;
        let cursors: BTreeMap<ChannelId, u64> = [(group.id, cursor)].into_iter().collect();
        wire.send(&ClientFrame::Resume {
            token: b_token.clone(),
            cursors,
            receipts_since: None,
        })
        .await;
        // Take a share of the stream on this transport, then switch.
        let take = if round == 3 { 150 - got.len() } else { 30 };
        for _ in 0..take {
            let (seq, body) = wire.until(message_in(group.id)).await;
            assert_eq!(seq, cursor + 1, "no gap and no repeat across transports");
            cursor = seq;
            got.push((seq, body));
        }
        wire.cut().await;
    }
    sending.await.expect("sender");
    let expected: Vec<(u64, String)> = (0..150).map(|i| (i as u64 + 2, format!("m{i}"))).collect();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_long_poll_is_answered_empty_at_its_timeout_then_resumes() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.user("alice").await;
    let (_, b_token, _) = server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let mut wire = Wire::identified(Kind::LongPoll, &server, &b_token).await;
    let Wire::Http {
        http,
        base,
        sid,
        after,
        ..
    } = &mut wire
    else {
        unreachable!("long poll")
    };
    let started = Instant::now();
    let batch: serde_json::Value = http
        .get(format!(
            "{base}/api/v1/sessions/{sid}/poll?after={after}&timeout_ms=700"
        ))
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    let waited = started.elapsed();
    assert!(
        batch["frames"].as_array().expect("frames").is_empty(),
        "{batch}"
    );
    assert_eq!(
        batch["next"].as_u64(),
        Some(*after),
        "nothing new to acknowledge"
    );
    assert!(
        waited >= Duration::from_millis(650) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    // A message while the next poll is parked answers it at once.
    let parked = {
        let (http, url) = (
            http.clone(),
            format!("{base}/api/v1/sessions/{sid}/poll?after={after}&timeout_ms=20000"),
        );
        tokio::spawn(async move {
            let t = Instant::now();
            let v: serde_json::Value = http
                .get(url)
                .send()
                .await
                .expect("poll")
                .json()
                .await
                .expect("json");
            (v, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    alice.send(dm.id, "late", "you there?").await.expect("send");
    let (batch, took) = parked.await.expect("poll");
    assert!(
        took < Duration::from_secs(15),
        "answered when the message came ({took:?})"
    );
    let frames = batch["frames"].as_array().expect("frames");
    assert!(
        frames
            .iter()
            .any(|f| f["op"] == "event" && f["body"] == "you there?"),
        "{batch}"
    );
    assert_eq!(batch["closed"], serde_json::Value::Null);
}

/// An SDK client on long polling (or falling back to it), through `url`.
async fn sdk_client(
    server: &TestServer,
    url: &str,
    token: &str,
    transport: confab_client::Transport,
) -> (confab_client::Client, confab_client::Events) {
    let mut config = confab_client::ClientConfig::new(url, token);
    config.transport = transport;
    config.http_base = Some(server.base.clone());
    config.backoff_base = Duration::from_millis(20);
    config.backoff_cap = Duration::from_millis(300);
    confab_client::Client::connect_with(config)
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_chats_over_long_polling_and_resumes_after_a_cut() {
    let server = TestServer::start().await;
    let proxy = confab_testkit::Proxy::start(server.addr())
        .await
        .expect("proxy");
    let (alice, a_token, _) = server.user("alice").await;
    let (_, b_token, _) = server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let mut config = confab_client::ClientConfig::new(&proxy.ws_url(), &b_token);
    config.transport = confab_client::Transport::LongPoll;
    config.http_base = Some(proxy.http_url());
    config.backoff_base = Duration::from_millis(20);
    let (bob, mut bob_events) = confab_client::Client::connect_with(config)
        .await
        .expect("connect");
    let (a, _a_events) = sdk_client(
        &server,
        &server.ws,
        &a_token,
        confab_client::Transport::WebSocket,
    )
    .await;
    assert_eq!(server.server.as_ref().expect("running").http_sessions(), 1);

    a.send(dm.id, "m0").await.expect("send");
    let (got, _) = crate::delivery::collect_messages(&mut bob_events, 1).await;
    assert_eq!(got, vec![(2, "m0".to_owned())]);
    let ack = bob
        .send(dm.id, "from a long poll")
        .await
        .expect("bob sends over HTTP");
    assert_eq!(ack.seq, 3);
    // Cut Bob's HTTP connections while messages keep coming; he resumes with nothing lost.
    for i in 1..40 {
        a.send(dm.id, &format!("m{i}")).await.expect("send");
        if i % 10 == 0 {
            proxy.cut_all();
        }
    }
    let (got, _) = crate::delivery::collect_messages(&mut bob_events, 40).await;
    let mine_skipped: Vec<(u64, String)> = got
        .into_iter()
        .filter(|(_, b)| b.starts_with('m'))
        .collect();
    let expected: Vec<(u64, String)> = (1..40).map(|i| (i as u64 + 3, format!("m{i}"))).collect();
    assert_eq!(
        mine_skipped, expected,
        "every message once, in order, across cuts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_falls_back_to_long_polling_when_the_websocket_fails() {
    let server = TestServer::start().await;
    let (alice, a_token, _) = server.user("alice").await;
    let (_, b_token, _) = server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    // A gateway URL whose upgrade fails (as behind a proxy that breaks WebSockets).
    let broken = format!("ws://{}/no-websocket-here", server.addr());
    let (bob, mut bob_events) =
        sdk_client(&server, &broken, &b_token, confab_client::Transport::Auto).await;
    assert_eq!(
        server.server.as_ref().expect("running").http_sessions(),
        1,
        "on long polling"
    );
    first_exchange(&server, &a_token, dm.id, &bob, &mut bob_events, "hello").await;
}

/// Alice, on a new SDK client over the server's WebSocket, sends `text` as the first message of
/// the direct channel `dm`; Bob gets it (seq 2) and his reply is acked.
async fn first_exchange(
    server: &TestServer,
    a_token: &str,
    dm: ChannelId,
    bob: &confab_client::Client,
    bob_events: &mut confab_client::Events,
    text: &str,
) {
    let (a, _a_events) = sdk_client(
        server,
        &server.ws,
        a_token,
        confab_client::Transport::WebSocket,
    )
    .await;
    a.send(dm, text).await.expect("send");
    let (got, _) = crate::delivery::collect_messages(bob_events, 1).await;
    assert_eq!(got, vec![(2, text.to_owned())]);
    bob.send(dm, "reply").await.expect("send back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_is_back_on_a_websocket_after_a_drained_restart() {
    let mut server = TestServer::start().await;
    let (alice, a_token, _) = server.user("alice").await;
    let (_, b_token, _) = server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let (bob, mut bob_events) = sdk_client(
        &server,
        &server.ws,
        &b_token,
        confab_client::Transport::Auto,
    )
    .await;
    assert_eq!(server.server.as_ref().expect("running").http_sessions(), 0);
    // A drain refuses new WebSockets (503) and then the node is down for a moment: neither is a
    // WebSocket failure, so the client must not settle on long polling.
    server.restart().await;
    // Bob resumes (the helper fails the test if he does not within its patience).
    confab_testkit::push::next_matching(&mut bob_events, |e| match e {
        confab_client::ClientEvent::Resumed { .. } => Some(()),
        _ => None,
    })
    .await;
    let running = server.server.as_ref().expect("running");
    assert_eq!(running.http_sessions(), 0, "bob is not on long polling");
    assert_eq!(
        running
            .state()
            .connections
            .load(std::sync::atomic::Ordering::Acquire),
        1,
        "bob is on a WebSocket"
    );
    first_exchange(
        &server,
        &a_token,
        dm.id,
        &bob,
        &mut bob_events,
        "after the restart",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http_session_expires_and_its_user_goes_offline() {
    let server =
        TestServer::start_with(|c| c.heartbeat_interval = Duration::from_millis(200)).await;
    let (alice, a_token, _) = server.user("alice").await;
    let (_, b_token, bob) = server.user("bob").await;
    alice.create_direct("bob").await.expect("dm");
    let (_a, mut a_events) = sdk_client(
        &server,
        &server.ws,
        &a_token,
        confab_client::Transport::WebSocket,
    )
    .await;
    let mut wire = Wire::identified(Kind::LongPoll, &server, &b_token).await;
    assert_eq!(
        presence_of(&mut a_events, bob.id).await.status,
        Status::Online
    );
    // Bob stops polling: after twice the heartbeat interval the session ends...
    tokio::time::sleep(Duration::from_millis(700)).await;
    let closed = loop {
        match wire.next().await {
            RawNext::Closed(code) => break code,
            RawNext::Frame(_) => {}
        }
    };
    assert_eq!(
        closed,
        Some(confab_proto::CloseCode::HeartbeatTimeout.as_u16())
    );
    // ...and his presence follows.
    assert_eq!(
        presence_of(&mut a_events, bob.id).await.status,
        Status::Offline
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_channel_costs_a_long_poll_client_few_requests() {
    let server = TestServer::start().await;
    let (alice, _, _) = server.user("alice").await;
    let (_, b_token, _) = server.user("bob").await;
    let group = alice.create_group("busy", &["bob"]).await.expect("group");
    let mut wire = Wire::identified(Kind::LongPoll, &server, &b_token).await;
    let Wire::Http {
        http,
        base,
        sid,
        after,
        ..
    } = &mut wire
    else {
        unreachable!("long poll")
    };
    // 120 messages arrive while no poll is waiting...
    for i in 0..120 {
        alice
            .send(group.id, &format!("c{i}"), &format!("m{i}"))
            .await
            .expect("send");
    }
    // ...and one poll brings them all, in order.
    let batch: serde_json::Value = http
        .get(format!(
            "{base}/api/v1/sessions/{sid}/poll?after={after}&timeout_ms=5000"
        ))
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    let seqs: Vec<u64> = batch["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter(|f| f["op"] == "event")
        .map(|f| f["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (2..=121).collect::<Vec<u64>>(),
        "one request for the whole burst"
    );
}
