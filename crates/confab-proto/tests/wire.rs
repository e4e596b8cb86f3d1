//! Freezes the JSON of every frame, event and REST body. A failure here means the wire changed:
//! update `docs/protocol.md` and clients deliberately, or fix the change.

use confab_proto::api::{
    AuthResponse, ChannelPresence, CreateChannel, Credentials, ErrorResponse, HistoryPage,
    MarkRead, ReceiptSummary, SendMessage,
};
use confab_proto::*;
use serde_json::{json, Value};

fn alice() -> UserRef {
    UserRef {
        id: UserId(81_000_000_000_000_001),
        username: "alice".into(),
    }
}

fn bob() -> UserRef {
    UserRef {
        id: UserId(81_000_000_000_000_002),
        username: "bob".into(),
    }
}

fn summary() -> ChannelSummary {
    ChannelSummary {
        id: ChannelId(81_000_000_000_000_100),
        kind: ChannelKind::Direct,
        name: None,
        peer: Some(bob()),
        member_count: 2,
        role: Role::Member,
        last_seq: 42,
        read_seq: 40,
        unread: 2,
        created_at: 1_796_000_000_000,
    }
}

fn event(body: EventBody) -> Event {
    Event {
        channel_id: ChannelId(81_000_000_000_000_100),
        seq: 42,
        id: EventId(81_000_000_000_000_500),
        ts: 1_796_000_000_123,
        author: alice(),
        body,
    }
}

/// Serializes `value`, compares with `expected`, and checks it parses back to the same value.
fn frozen<T>(value: &T, expected: Value)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let actual = serde_json::to_value(value).expect("serialize");
    assert_eq!(
        actual,
        expected,
        "wire format changed:\n{}",
        serde_json::to_string_pretty(&actual).unwrap_or_default()
    );
    let back: T = serde_json::from_value(expected).expect("deserialize");
    assert_eq!(&back, value);
}

#[test]
fn client_frames() {
    frozen(
        &ClientFrame::Identify {
            token: "tok".into(),
        },
        json!({"op": "identify", "token": "tok"}),
    );
    frozen(&ClientFrame::Heartbeat, json!({"op": "heartbeat"}));
    frozen(
        &ClientFrame::Send {
            reference: Some(7),
            channel_id: ChannelId(81_000_000_000_000_100),
            client_id: "c-1".into(),
            body: "hi".into(),
        },
        json!({"op": "send", "ref": 7, "channel_id": "81000000000000100", "client_id": "c-1", "body": "hi"}),
    );
    frozen(
        &ClientFrame::Send {
            reference: None,
            channel_id: ChannelId(5),
            client_id: "c-2".into(),
            body: "no ref".into(),
        },
        json!({"op": "send", "channel_id": "5", "client_id": "c-2", "body": "no ref"}),
    );
    frozen(
        &ClientFrame::Read {
            reference: Some(8),
            channel_id: ChannelId(5),
            seq: 42,
        },
        json!({"op": "read", "ref": 8, "channel_id": "5", "seq": 42}),
    );
}

#[test]
fn presence_and_typing_client_frames() {
    frozen(
        &ClientFrame::SetStatus {
            status: Status::Idle,
        },
        json!({"op": "set_status", "status": "idle"}),
    );
    frozen(
        &ClientFrame::Typing {
            channel_id: ChannelId(5),
        },
        json!({"op": "typing", "channel_id": "5"}),
    );
    frozen(
        &ClientFrame::Watch {
            user_ids: vec![UserId(2), UserId(3)],
        },
        json!({"op": "watch", "user_ids": ["2", "3"]}),
    );
}

#[test]
fn every_client_op_is_listed() {
    let frames = [
        ClientFrame::Identify {
            token: String::new(),
        },
        ClientFrame::Resume {
            token: String::new(),
            cursors: Default::default(),
            receipts_since: None,
        },
        ClientFrame::Heartbeat,
        ClientFrame::Send {
            reference: None,
            channel_id: ChannelId(1),
            client_id: String::new(),
            body: String::new(),
        },
        ClientFrame::Read {
            reference: None,
            channel_id: ChannelId(1),
            seq: 1,
        },
        ClientFrame::Delivered {
            channel_id: ChannelId(1),
            seq: 1,
        },
        ClientFrame::SetStatus {
            status: Status::Online,
        },
        ClientFrame::Typing {
            channel_id: ChannelId(1),
        },
        ClientFrame::Watch { user_ids: vec![] },
    ];
    let ops: Vec<String> = frames
        .iter()
        .map(|f| {
            serde_json::to_value(f).expect("json")["op"]
                .as_str()
                .expect("op")
                .to_owned()
        })
        .collect();
    assert_eq!(ops, ClientFrame::OPS.to_vec());
    let named: Vec<&str> = frames.iter().map(ClientFrame::op).collect();
    assert_eq!(named, ClientFrame::OPS.to_vec());
}

#[test]
fn ids_accept_numbers_from_hand_written_requests() {
    let frame: ClientFrame =
        serde_json::from_value(json!({"op": "read", "channel_id": 5, "seq": 1}))
            .expect("number id");
    assert_eq!(
        frame,
        ClientFrame::Read {
            reference: None,
            channel_id: ChannelId(5),
            seq: 1
        }
    );
    assert!(serde_json::from_value::<ChannelId>(json!("12x")).is_err());
}

#[test]
fn server_frames() {
    frozen(
        &ServerFrame::Hello(Hello {
            protocol: 1,
            node_id: 1,
            heartbeat_interval_ms: 30_000,
            identify_timeout_ms: 10_000,
            limits: Limits {
                max_frame_bytes: 65_536,
                max_message_chars: 4000,
            },
        }),
        json!({"op": "hello", "protocol": 1, "node_id": 1, "heartbeat_interval_ms": 30000,
               "identify_timeout_ms": 10000, "limits": {"max_frame_bytes": 65536, "max_message_chars": 4000}}),
    );
    let summary_json = json!({"id": "81000000000000100", "kind": "direct", "name": null,
        "peer": {"id": "81000000000000002", "username": "bob"}, "member_count": 2, "role": "member",
        "last_seq": 42, "read_seq": 40, "unread": 2, "created_at": 1796000000000i64});
    frozen(
        &ServerFrame::Ready(Ready {
            session_id: "9f1c".into(),
            user: User {
                id: UserId(81_000_000_000_000_001),
                username: "alice".into(),
                created_at: 1_795_000_000_000,
            },
            channels: vec![summary()],
            server_ts: 1_796_000_000_000,
            presence: vec![Presence {
                user_id: UserId(2),
                status: Status::Online,
                last_seen: None,
            }],
        }),
        json!({"op": "ready", "session_id": "9f1c",
               "user": {"id": "81000000000000001", "username": "alice", "created_at": 1795000000000i64},
               "channels": [summary_json.clone()], "server_ts": 1796000000000i64,
               "presence": [{"user_id": "2", "status": "online"}]}),
    );
    frozen(
        &ServerFrame::Resumed(Resumed {
            session_id: "a0b1".into(),
            user: User {
                id: UserId(81_000_000_000_000_001),
                username: "alice".into(),
                created_at: 1_795_000_000_000,
            },
            channels_joined: vec![summary()],
            channels_left: vec![ChannelId(6)],
            resync: vec![],
            replayed: 17,
            server_ts: 1_796_000_000_000,
            presence: vec![],
        }),
        json!({"op": "resumed", "session_id": "a0b1",
               "user": {"id": "81000000000000001", "username": "alice", "created_at": 1795000000000i64},
               "channels_joined": [summary_json.clone()], "channels_left": ["6"], "resync": [],
               "replayed": 17, "server_ts": 1796000000000i64, "presence": []}),
    );
    frozen(
        &ServerFrame::Receipt(Receipt {
            channel_id: ChannelId(5),
            user_id: UserId(2),
            delivered_seq: 42,
            read_seq: 40,
            ts: 1_796_000_000_001,
        }),
        json!({"op": "receipt", "channel_id": "5", "user_id": "2", "delivered_seq": 42, "read_seq": 40, "ts": 1796000000001i64}),
    );
    frozen(
        &ServerFrame::Ack(Ack {
            reference: Some(7),
            channel_id: ChannelId(81_000_000_000_000_100),
            client_id: "c-1".into(),
            id: EventId(81_000_000_000_000_500),
            seq: 42,
            ts: 1_796_000_000_123,
        }),
        json!({"op": "ack", "ref": 7, "channel_id": "81000000000000100", "client_id": "c-1",
               "id": "81000000000000500", "seq": 42, "ts": 1796000000123i64}),
    );
    frozen(
        &ServerFrame::ReadState(ReadState {
            channel_id: ChannelId(5),
            read_seq: 42,
            unread: 0,
        }),
        json!({"op": "read_state", "channel_id": "5", "read_seq": 42, "unread": 0}),
    );
    frozen(
        &ServerFrame::ChannelJoined { channel: summary() },
        json!({"op": "channel_joined", "channel": summary_json}),
    );
    frozen(
        &ServerFrame::ChannelLeft {
            channel_id: ChannelId(5),
        },
        json!({"op": "channel_left", "channel_id": "5"}),
    );
    frozen(&ServerFrame::HeartbeatAck, json!({"op": "heartbeat_ack"}));
    frozen(
        &ServerFrame::Presence(Presence {
            user_id: UserId(2),
            status: Status::Offline,
            last_seen: Some(1_796_000_000_000),
        }),
        json!({"op": "presence", "user_id": "2", "status": "offline", "last_seen": 1796000000000i64}),
    );
    frozen(
        &ServerFrame::Presence(Presence {
            user_id: UserId(2),
            status: Status::Idle,
            last_seen: None,
        }),
        json!({"op": "presence", "user_id": "2", "status": "idle"}),
    );
    frozen(
        &ServerFrame::Typing {
            channel_id: ChannelId(5),
            user_id: UserId(2),
            expires_in_ms: 6000,
        },
        json!({"op": "typing", "channel_id": "5", "user_id": "2", "expires_in_ms": 6000}),
    );
    let mut limited = ErrorBody::new(ErrorCode::RateLimited, "sending too fast");
    limited.retry_after_ms = Some(250);
    frozen(
        &ServerFrame::Error {
            reference: Some(9),
            error: limited,
        },
        json!({"op": "error", "ref": 9, "code": 1007, "error": "rate_limited", "message": "sending too fast", "retry_after_ms": 250}),
    );
    frozen(
        &ServerFrame::Error {
            reference: None,
            error: ErrorBody::new(ErrorCode::BadRequest, "frame is not valid JSON"),
        },
        json!({"op": "error", "code": 1001, "error": "bad_request", "message": "frame is not valid JSON"}),
    );
}

#[test]
fn event_frames() {
    let head = |kind: &str| {
        json!({"op": "event", "channel_id": "81000000000000100", "seq": 42, "id": "81000000000000500",
               "ts": 1796000000123i64, "author": {"id": "81000000000000001", "username": "alice"}, "type": kind})
    };
    let with = |kind: &str, extra: Value| {
        let mut v = head(kind);
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        v
    };
    frozen(
        &ServerFrame::Event(event(EventBody::Message {
            body: "hi".into(),
            client_id: "c-1".into(),
        })),
        with("message", json!({"body": "hi", "client_id": "c-1"})),
    );
    frozen(
        &ServerFrame::Event(event(EventBody::ChannelCreated {
            kind: ChannelKind::Group,
            name: Some("team".into()),
            members: vec![alice(), bob()],
        })),
        with(
            "channel_created",
            json!({"kind": "group", "name": "team", "members": [
            {"id": "81000000000000001", "username": "alice"}, {"id": "81000000000000002", "username": "bob"}]}),
        ),
    );
    frozen(
        &ServerFrame::Event(event(EventBody::MemberAdded { user: bob() })),
        with(
            "member_added",
            json!({"user": {"id": "81000000000000002", "username": "bob"}}),
        ),
    );
    frozen(
        &ServerFrame::Event(event(EventBody::MemberRemoved { user: bob() })),
        with(
            "member_removed",
            json!({"user": {"id": "81000000000000002", "username": "bob"}}),
        ),
    );
    frozen(
        &ServerFrame::Event(event(EventBody::MemberLeft)),
        head("member_left"),
    );
    frozen(
        &ServerFrame::Event(event(EventBody::RoleChanged {
            user: bob(),
            role: Role::Admin,
        })),
        with(
            "role_changed",
            json!({"user": {"id": "81000000000000002", "username": "bob"}, "role": "admin"}),
        ),
    );
}

#[test]
fn rest_bodies() {
    frozen(
        &Credentials {
            username: "alice".into(),
            password: "pw".into(),
        },
        json!({"username": "alice", "password": "pw"}),
    );
    frozen(
        &AuthResponse {
            token: "tok".into(),
            user: User {
                id: UserId(1),
                username: "alice".into(),
                created_at: 2,
            },
        },
        json!({"token": "tok", "user": {"id": "1", "username": "alice", "created_at": 2}}),
    );
    frozen(
        &CreateChannel::Direct { peer: "bob".into() },
        json!({"kind": "direct", "peer": "bob"}),
    );
    frozen(
        &CreateChannel::Group {
            name: "team".into(),
            members: vec!["bob".into()],
        },
        json!({"kind": "group", "name": "team", "members": ["bob"]}),
    );
    frozen(
        &SendMessage {
            client_id: "c-1".into(),
            body: "hi".into(),
        },
        json!({"client_id": "c-1", "body": "hi"}),
    );
    frozen(&MarkRead { seq: 3 }, json!({"seq": 3}));
    frozen(
        &ChannelPresence {
            member_count: 3,
            online: 1,
            idle: 1,
        },
        json!({"member_count": 3, "online": 1, "idle": 1}),
    );
    frozen(
        &ReceiptSummary {
            seq: 9,
            member_count: 3,
            delivered: 2,
            read: 1,
            receipts: vec![],
        },
        json!({"seq": 9, "member_count": 3, "delivered": 2, "read": 1, "receipts": []}),
    );
    frozen(
        &HistoryPage {
            events: vec![],
            last_seq: 42,
            pruned_through: 10,
            truncated: true,
            has_more: false,
        },
        json!({"events": [], "last_seq": 42, "pruned_through": 10, "truncated": true, "has_more": false}),
    );
    frozen(
        &ErrorResponse {
            error: ErrorBody::new(ErrorCode::Conflict, "username \"alice\" is taken"),
        },
        json!({"error": {"code": 1006, "error": "conflict", "message": "username \"alice\" is taken"}}),
    );
}

#[test]
fn codes_are_stable() {
    let errors: Vec<(u16, &str, u16)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_u16(), c.name(), c.http_status()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (1000, "internal", 500),
            (1001, "bad_request", 400),
            (1002, "unknown_op", 400),
            (1003, "unauthorized", 401),
            (1004, "forbidden", 403),
            (1005, "not_found", 404),
            (1006, "conflict", 409),
            (1007, "rate_limited", 429),
            (1008, "too_large", 413),
            (1009, "limit_exceeded", 422),
            (1010, "unavailable", 503),
        ]
    );
    let closes: Vec<(u16, &str, bool)> = CloseCode::ALL
        .iter()
        .map(|c| {
            (
                c.as_u16(),
                c.reason(),
                CloseCode::should_reconnect(c.as_u16()),
            )
        })
        .collect();
    assert_eq!(
        closes,
        vec![
            (4000, "internal_error", true),
            (4001, "heartbeat_timeout", true),
            (4002, "slow_consumer", true),
            (4003, "server_shutdown", true),
            (4004, "identify_timeout", true),
            (4005, "rate_limited", true),
            (4006, "overloaded", true),
            (4100, "authentication_failed", false),
            (4101, "not_identified", false),
            (4102, "already_identified", false),
            (4103, "frame_too_large", false),
            (4104, "protocol_violation", false),
            (4105, "session_revoked", false),
        ]
    );
    for c in CloseCode::ALL {
        assert_eq!(CloseCode::from_u16(c.as_u16()), Some(c));
    }
}

#[test]
fn close_reasons_carry_retry_hints() {
    let reason = CloseCode::Overloaded.reason_with_retry(std::time::Duration::from_millis(1234));
    assert_eq!(reason, "overloaded retry_after_ms=1234");
    let hint = |r: &str| CloseCode::retry_hint(r).map(|d| d.as_millis());
    assert_eq!(hint(&reason), Some(1234));
    assert_eq!(hint("overloaded retry_after_ms=77; more"), Some(77));
    assert_eq!(hint("overloaded retry_after_ms="), None);
    assert_eq!(hint("overloaded retry_after_ms=x1"), None);
    assert_eq!(hint("server_shutdown"), None);
}
