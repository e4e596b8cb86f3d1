//! The session over a [`MemoryLink`], with the real store (SQLite in a temporary directory), bus
//! (in-process) and hub: no socket, so each rule is checked frame by frame.
//!
//! Tests of time (heartbeats, the identify deadline) pause tokio's clock once the store's work is
//! done. The others run on the real clock: the store works on threads of its own, and a paused
//! clock jumps to the next timer whenever the runtime waits for one of them.

use std::time::Duration;

use confab_proto::{
    ChannelId, ClientFrame, CloseCode, ErrorCode, Event, EventBody, ServerFrame, User,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::link::{Incoming, MemoryLink, MemoryPeer, Written};
use crate::config::Config;
use crate::hub::Outbound;
use crate::limit::SessionKind;
use crate::metrics::Reason;
use crate::ops;
use crate::state::AppState;

const PASSWORD: &str = "correct horse battery";

/// A server's shared state without a listener.
struct Fixture {
    state: AppState,
    _dir: tempfile::TempDir,
    _shutdown: watch::Sender<bool>,
}

async fn fixture(tweak: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = "127.0.0.1:0".parse().expect("addr");
    let mut config = Config::for_test(addr, &dir.path().join("confab.db"));
    config.send_rate = 100_000.0;
    config.send_burst = 100_000;
    tweak(&mut config);
    let (shutdown, stopped) = watch::channel(false);
    let state = crate::app::build(config, stopped).await.expect("state");
    Fixture {
        state,
        _dir: dir,
        _shutdown: shutdown,
    }
}

impl Fixture {
    /// Registers a user; returns it and its token.
    async fn user(&self, name: &str) -> (User, String) {
        let auth = ops::account::register(&self.state, name, PASSWORD.into())
            .await
            .expect("register");
        (auth.user, auth.token)
    }

    /// The direct channel of `a` and the user named `b`.
    async fn direct(&self, a: &User, b: &str) -> ChannelId {
        let direct = ops::channel::create_direct(&self.state, a.id, b)
            .await
            .expect("direct channel");
        direct.channel.id
    }

    /// Sends (and publishes) a message; returns its `seq`.
    async fn send(&self, channel: ChannelId, from: &User, body: &str) -> u64 {
        let client_id = uuid::Uuid::new_v4().simple().to_string();
        let sent = ops::send::send(&self.state, channel, from.id, &client_id, body)
            .await
            .expect("send");
        sent.ack.seq
    }

    /// Starts a session over a memory link holding `capacity` unread flushes.
    fn connect(&self, capacity: usize) -> Client {
        let (link, peer) = MemoryLink::pair(capacity);
        let task = tokio::spawn(super::run(link, self.state.clone()));
        Client {
            peer,
            buffered: Vec::new(),
            task,
            patience: Duration::from_secs(3600),
        }
    }

    /// A session identified as `token`, its `ready` read.
    async fn identified(&self, token: &str) -> (Client, confab_proto::Ready) {
        let mut client = self.connect(64);
        client.hello().await;
        client
            .send(&ClientFrame::Identify {
                token: token.into(),
            })
            .await;
        match client.frame().await {
            ServerFrame::Ready(ready) => (client, ready),
            other => panic!("expected ready, got {other:?}"),
        }
    }
}

/// The client's end of a session.
struct Client {
    peer: MemoryPeer,
    /// Frames of the last flush not yet read.
    buffered: Vec<String>,
    task: JoinHandle<()>,
    /// How long to wait for the next frame before failing (longer than any deadline a test
    /// waits for on a paused clock).
    patience: Duration,
}

/// What came next from the session.
#[derive(Debug)]
enum Next {
    Frame(ServerFrame),
    Closed(u16),
}

impl Client {
    async fn send(&mut self, frame: &ClientFrame) {
        let text = serde_json::to_string(frame).expect("json");
        self.send_text(&text).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.peer
            .to_session
            .send(Incoming::Text(text.to_owned().into()))
            .expect("session alive");
    }

    /// The next frame or the close, failing after a while.
    async fn next(&mut self) -> Next {
        loop {
            if !self.buffered.is_empty() {
                let text = self.buffered.remove(0);
                return Next::Frame(serde_json::from_str(&text).expect("server frame"));
            }
            let written = tokio::time::timeout(self.patience, self.peer.from_session.recv())
                .await
                .expect("something from the session")
                .expect("session still writing");
            match written {
                Written::Frames(frames) => self.buffered = frames,
                Written::Closed(code, _) => return Next::Closed(code),
            }
        }
    }

    async fn frame(&mut self) -> ServerFrame {
        match self.next().await {
            Next::Frame(frame) => frame,
            Next::Closed(code) => panic!("closed with {code}"),
        }
    }

    async fn hello(&mut self) {
        assert!(matches!(self.frame().await, ServerFrame::Hello(_)));
    }

    /// Skips frames until the close; returns its code.
    async fn close_code(&mut self) -> u16 {
        loop {
            if let Next::Closed(code) = self.next().await {
                return code;
            }
        }
    }

    /// The next frame, which must be an error; returns its code and `ref`.
    async fn error(&mut self) -> (ErrorCode, Option<u64>, String) {
        match self.frame().await {
            ServerFrame::Error { reference, error } => (error.code, reference, error.message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Ends the connection as a client that goes away, and waits for the session to finish.
    async fn leave(self) {
        drop(self.peer);
        self.task.await.expect("session task");
    }
}

/// The `seq`s of the message events in `frames`.
fn message_seqs(frames: &[ServerFrame]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Event(Event {
                seq,
                body: EventBody::Message { .. },
                ..
            }) => Some(*seq),
            _ => None,
        })
        .collect()
}

fn rejections(state: &AppState, reason: Reason) -> u64 {
    state.metrics.rejections(reason).get()
}

#[tokio::test]
async fn invalid_frames_are_answered_until_too_many_close_the_session() {
    let fx = fixture(|c| c.max_invalid_frames = 4).await;
    let (_, token) = fx.user("alice").await;
    let (mut client, _) = fx.identified(&token).await;

    client.send_text("not json").await;
    let (code, reference, _) = client.error().await;
    assert_eq!((code, reference), (ErrorCode::BadRequest, None));

    client.send_text(r#"{"op":"fly","ref":9}"#).await;
    let (code, reference, message) = client.error().await;
    assert_eq!((code, reference), (ErrorCode::UnknownOp, Some(9)));
    assert!(message.contains("fly"), "{message}");

    client
        .send_text(r#"{"op":"send","ref":4,"channel_id":"1"}"#)
        .await;
    let (code, reference, message) = client.error().await;
    assert_eq!((code, reference), (ErrorCode::BadRequest, Some(4)));
    assert!(message.starts_with("invalid send"), "{message}");

    client
        .peer
        .to_session
        .send(Incoming::Binary(10))
        .expect("alive");
    let (code, _, message) = client.error().await;
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(message.contains("binary"), "{message}");

    // A valid frame in between is still served.
    client.send(&ClientFrame::Heartbeat).await;
    assert_eq!(client.frame().await, ServerFrame::HeartbeatAck);

    client.send_text("{").await;
    assert_eq!(
        client.close_code().await,
        CloseCode::ProtocolViolation.as_u16()
    );
    assert_eq!(rejections(&fx.state, Reason::protocol_violation), 1);
}

#[tokio::test]
async fn an_oversized_frame_or_a_second_identify_closes_the_session() {
    let fx = fixture(|c| c.max_frame_bytes = 1024).await;
    let (_, token) = fx.user("alice").await;

    let (mut client, _) = fx.identified(&token).await;
    client.send_text(&format!("\"{}\"", "x".repeat(2000))).await;
    assert_eq!(client.close_code().await, CloseCode::FrameTooLarge.as_u16());

    let (mut client, _) = fx.identified(&token).await;
    client
        .send(&ClientFrame::Identify {
            token: token.clone(),
        })
        .await;
    assert_eq!(
        client.close_code().await,
        CloseCode::AlreadyIdentified.as_u16()
    );

    // Before identifying, any other op is refused.
    let mut client = fx.connect(8);
    client.hello().await;
    client.send(&ClientFrame::Heartbeat).await;
    assert_eq!(client.frame().await, ServerFrame::HeartbeatAck);
    client
        .send(&ClientFrame::Typing {
            channel_id: ChannelId(1),
        })
        .await;
    assert_eq!(client.close_code().await, CloseCode::NotIdentified.as_u16());

    // A bad token.
    let mut client = fx.connect(8);
    client.hello().await;
    client
        .send(&ClientFrame::Identify {
            token: "nope".into(),
        })
        .await;
    assert_eq!(
        client.close_code().await,
        CloseCode::AuthenticationFailed.as_u16()
    );
}

#[tokio::test]
async fn a_silent_client_is_closed_at_the_heartbeat_deadline_and_a_heartbeat_moves_it() {
    let fx = fixture(|c| c.heartbeat_interval = Duration::from_secs(30)).await;
    let timeout = fx.state.config.heartbeat_timeout();
    let (_, token) = fx.user("alice").await;
    let (mut client, _) = fx.identified(&token).await;

    tokio::time::pause();
    tokio::time::advance(timeout - Duration::from_secs(1)).await;
    client.send(&ClientFrame::Heartbeat).await;
    assert_eq!(client.frame().await, ServerFrame::HeartbeatAck);
    let renewed = tokio::time::Instant::now();

    // The deadline moved with the heartbeat: still open just before it.
    tokio::time::advance(timeout - Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    assert!(client.peer.from_session.try_recv().is_err(), "closed early");

    assert_eq!(
        client.close_code().await,
        CloseCode::HeartbeatTimeout.as_u16()
    );
    assert!(
        renewed.elapsed() >= timeout,
        "closed after {:?}",
        renewed.elapsed()
    );
    assert_eq!(rejections(&fx.state, Reason::heartbeat_timeout), 1);
}

#[tokio::test]
async fn a_connection_that_never_identifies_is_closed_at_the_identify_deadline() {
    let fx = fixture(|c| c.identify_timeout = Duration::from_secs(10)).await;
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let mut client = fx.connect(8);
    client.hello().await;
    assert_eq!(
        client.close_code().await,
        CloseCode::IdentifyTimeout.as_u16()
    );
    assert!(started.elapsed() >= Duration::from_secs(10));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_a_slow_consumer_after_an_unbroken_prefix() {
    let fx = fixture(|c| c.outbound_queue = 8).await;
    let (alice, _) = fx.user("alice").await;
    let (_, bob_token) = fx.user("bob").await;
    let channel = fx.direct(&alice, "bob").await;

    // Bob's link takes one flush and then waits for him to read, which he does not.
    let mut bob = fx.connect(1);
    bob.hello().await;
    bob.send(&ClientFrame::Identify { token: bob_token }).await;
    let start = match bob.frame().await {
        ServerFrame::Ready(ready) => ready.channels[0].last_seq,
        other => panic!("expected ready, got {other:?}"),
    };
    for i in 0..64 {
        fx.send(channel, &alice, &format!("m{i}")).await;
    }

    let mut frames = Vec::new();
    let code = loop {
        match bob.next().await {
            Next::Frame(frame) => frames.push(frame),
            Next::Closed(code) => break code,
        }
    };
    assert_eq!(code, CloseCode::SlowConsumer.as_u16());
    assert_eq!(rejections(&fx.state, Reason::slow_consumer), 1);
    // What did arrive is the channel's events in order from his cursor, with no gap: he resumes
    // from the last one and misses nothing.
    let seqs = message_seqs(&frames);
    assert!(seqs.len() < 64, "a slow client got everything: {seqs:?}");
    let expected: Vec<u64> = (start + 1..start + 1 + seqs.len() as u64).collect();
    assert_eq!(seqs, expected);
}

#[tokio::test]
async fn a_gap_in_the_queue_is_filled_from_the_store_and_repeats_are_dropped() {
    let fx = fixture(|_| {}).await;
    let (alice, _) = fx.user("alice").await;
    let (bob, bob_token) = fx.user("bob").await;
    let channel = fx.direct(&alice, "bob").await;
    let (mut client, ready) = fx.identified(&bob_token).await;
    let cursor = ready.channels[0].last_seq;

    // Four messages committed but never published: the bus lost them.
    let mut stored = Vec::new();
    for i in 0..4 {
        let appended = fx
            .state
            .store
            .append_message(channel, alice.id, &format!("lost-{i}"), "lost")
            .await
            .expect("append");
        stored.push(appended.event.expect("new"));
    }
    let last = stored.last().expect("four").clone();
    let frame = serde_json::to_string(&ServerFrame::Event(last.clone())).expect("json");
    let handle = fx
        .state
        .hub
        .sessions()
        .into_iter()
        .find(|s| s.user == bob.id)
        .expect("bob's session");
    // Only the last arrives, then a repeat of it and of an earlier one.
    for seq in [last.seq, last.seq, cursor + 2] {
        handle.push(Outbound::Event {
            channel,
            seq,
            frame: frame.clone().into(),
        });
    }
    fx.send(channel, &alice, "after").await;

    let mut frames = Vec::new();
    while message_seqs(&frames).last() != Some(&(last.seq + 1)) {
        frames.push(client.frame().await);
    }
    assert_eq!(
        message_seqs(&frames),
        (cursor + 1..=last.seq + 1).collect::<Vec<_>>()
    );
    client.send(&ClientFrame::Heartbeat).await;
    assert_eq!(
        client.frame().await,
        ServerFrame::HeartbeatAck,
        "nothing twice"
    );
}

#[tokio::test]
async fn a_resume_replays_what_was_missed_and_reports_joins_leaves_and_pruned_history() {
    let fx = fixture(|_| {}).await;
    let (alice, _) = fx.user("alice").await;
    let (bob, bob_token) = fx.user("bob").await;
    fx.user("carol").await;
    let dm = fx.direct(&alice, "bob").await;
    let pruned = fx.direct(&bob, "carol").await;
    let left = ops::channel::create_group(&fx.state, alice.id, "left", &["bob".into()])
        .await
        .expect("group")
        .id;
    let (client, ready) = fx.identified(&bob_token).await;
    let cursor = |id: ChannelId| {
        ready
            .channels
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.last_seq)
            .expect("in ready")
    };
    let cursors = [dm, pruned, left].map(|id| (id, cursor(id))).into();
    client.leave().await;

    // While Bob is away: history pruned past his cursor in one channel (the others have one event
    // each, which the policy keeps), three messages, a new group, a removal.
    for _ in 0..3 {
        fx.send(pruned, &bob, "old").await;
    }
    let retention = confab_store::Retention {
        max_age: None,
        max_events: Some(1),
    };
    fx.state.store.prune(retention).await.expect("prune");
    let missed = [
        fx.send(dm, &alice, "one").await,
        fx.send(dm, &alice, "two").await,
        fx.send(dm, &alice, "three").await,
    ];
    let joined = ops::channel::create_group(&fx.state, alice.id, "joined", &["bob".into()])
        .await
        .expect("group")
        .id;
    ops::member::remove(&fx.state, left, alice.id, bob.id)
        .await
        .expect("remove");

    let mut client = fx.connect(64);
    client.hello().await;
    client
        .send(&ClientFrame::Resume {
            token: bob_token,
            cursors,
            receipts_since: None,
        })
        .await;
    let mut replayed = Vec::new();
    let resumed = loop {
        match client.frame().await {
            ServerFrame::Resumed(resumed) => break resumed,
            ServerFrame::Event(event) => replayed.push(event),
            _ => {}
        }
    };
    let dm_replayed: Vec<u64> = replayed
        .iter()
        .filter(|e| e.channel_id == dm)
        .map(|e| e.seq)
        .collect();
    assert_eq!(dm_replayed, missed.to_vec());
    assert_eq!(resumed.replayed, replayed.len() as u64);
    assert_eq!(
        resumed
            .channels_joined
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![joined]
    );
    assert_eq!(resumed.channels_left, vec![left]);
    assert_eq!(
        resumed.resync.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![pruned]
    );
    assert_eq!(
        fx.state
            .metrics
            .sessions_admitted(SessionKind::Resume)
            .get(),
        1
    );
    assert_eq!(fx.state.metrics.resyncs.get(), 1);

    // Live events follow on from the replay.
    let next = fx.send(dm, &alice, "live").await;
    loop {
        if let ServerFrame::Event(event) = client.frame().await {
            if event.channel_id == dm {
                assert_eq!(event.seq, next);
                break;
            }
        }
    }
}
