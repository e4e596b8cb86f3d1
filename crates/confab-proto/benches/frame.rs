//! Frame encode/decode: the JSON work per delivered event and per received send.
//! `cargo bench -p confab-proto`

use confab_proto::{
    ChannelId, ClientFrame, Event, EventBody, EventId, ServerFrame, UserId, UserRef,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn event() -> ServerFrame {
    ServerFrame::Event(Event {
        channel_id: ChannelId(81_000_000_000_000_100),
        seq: 123_456,
        id: EventId(81_000_000_000_000_500),
        ts: 1_796_000_000_123,
        author: UserRef {
            id: UserId(81_000_000_000_000_001),
            username: "alice".into(),
        },
        body: EventBody::Message {
            // A 64-byte message, as in the benchmarks' bars.
            body: "x".repeat(64),
            client_id: "0f8fad5bd9cb469fa16570867728950e".into(),
        },
    })
}

fn frames(c: &mut Criterion) {
    let frame = event();
    c.bench_function("encode event frame (64-byte body)", |b| {
        b.iter(|| serde_json::to_string(black_box(&frame)).unwrap_or_default())
    });
    let text = serde_json::to_string(&frame).unwrap_or_default();
    c.bench_function("decode event frame", |b| {
        b.iter(|| serde_json::from_str::<ServerFrame>(black_box(&text)).is_ok())
    });
    let send = r#"{"op":"send","ref":7,"channel_id":"81000000000000100","client_id":"0f8fad5bd9cb469fa16570867728950e","body":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
    c.bench_function("decode send frame", |b| {
        b.iter(|| serde_json::from_str::<ClientFrame>(black_box(send)).is_ok())
    });
}

criterion_group!(benches, frames);
criterion_main!(benches);
