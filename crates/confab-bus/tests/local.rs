//! The in-process bus against the conformance suite, and its bounded queues.

use bytes::Bytes;
use confab_bus::{conformance, Bus, LocalBus};
use futures::StreamExt;

#[tokio::test]
async fn local_bus_passes_the_conformance_suite() {
    conformance::run(&LocalBus::default(), "t").await;
}

#[tokio::test]
async fn a_full_subscription_misses_payloads_and_counts_them() {
    let bus = LocalBus::with_buffer(4);
    let mut sub = bus.subscribe("s").await.expect("subscribe");
    for i in 0..10u8 {
        bus.publish("s", Bytes::from(vec![i]))
            .await
            .expect("publish");
    }
    assert_eq!(bus.dropped(), 6);
    for i in 0..4u8 {
        assert_eq!(sub.next().await, Some(Bytes::from(vec![i])));
    }
    drop(sub);
    bus.publish("s", Bytes::new()).await.expect("publish");
    assert_eq!(bus.subject_count(), 0, "the dead subscription was removed");
}
