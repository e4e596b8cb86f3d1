//! The NATS bus against the conformance suite, on a real NATS server. Needs `CONFAB_TEST_NATS_URL`;
//! says so and skips without it (CI sets it).

use confab_bus::{conformance, Bus, NatsBus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_bus_passes_the_conformance_suite() {
    let Some(url) = std::env::var("CONFAB_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("SKIPPED: CONFAB_TEST_NATS_URL is not set; NATS bus tests did not run");
        return;
    };
    let bus = NatsBus::connect(&url, "confab-test")
        .await
        .expect("connect");
    assert!(bus.is_connected());
    // Subjects of their own, so runs sharing the server do not see each other.
    let prefix = format!("test.{}.{}", std::process::id(), nanos());
    conformance::run(&bus, &prefix).await;
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
