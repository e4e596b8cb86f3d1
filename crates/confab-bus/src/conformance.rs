//! The conformance suite every [`Bus`] backend must pass.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::Bus;

async fn next(sub: &mut crate::Subscription) -> Bytes {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("a payload within 5 s")
        .expect("subscription still open")
}

async fn nothing(sub: &mut crate::Subscription) {
    let got = tokio::time::timeout(Duration::from_millis(100), sub.next()).await;
    assert!(got.is_err(), "expected nothing, got {got:?}");
}

/// Runs every check against `bus`. `prefix` keeps subjects apart from other runs on a shared server.
pub async fn run(bus: &dyn Bus, prefix: &str) {
    let a = format!("{prefix}.a");
    let b = format!("{prefix}.b");

    // Every subscriber of a subject gets every payload, in publish order; other subjects nothing.
    let mut s1 = bus.subscribe(&a).await.expect("subscribe");
    let mut s2 = bus.subscribe(&a).await.expect("subscribe");
    let mut sb = bus.subscribe(&b).await.expect("subscribe");
    for i in 0..100u32 {
        bus.publish(&a, Bytes::from(i.to_string()))
            .await
            .expect("publish");
    }
    for sub in [&mut s1, &mut s2] {
        for i in 0..100u32 {
            assert_eq!(next(sub).await, Bytes::from(i.to_string()));
        }
    }
    nothing(&mut sb).await;

    // A dropped subscription receives nothing more, and does not disturb the others.
    drop(s2);
    bus.publish(&a, Bytes::from_static(b"after-drop"))
        .await
        .expect("publish");
    assert_eq!(next(&mut s1).await, Bytes::from_static(b"after-drop"));

    // A subscription sees only what was published after it was made.
    bus.publish(&b, Bytes::from_static(b"for-b"))
        .await
        .expect("publish");
    assert_eq!(next(&mut sb).await, Bytes::from_static(b"for-b"));
    let mut late = bus.subscribe(&b).await.expect("subscribe");
    nothing(&mut late).await;

    // Publishing to a subject nobody listens to is fine.
    bus.publish(&format!("{prefix}.nobody"), Bytes::new())
        .await
        .expect("publish");
}
