//! `/metrics` in both of Prometheus's text formats: chosen by `Accept`, every family declared once
//! and named by the conventions, the counters moving with traffic, and every family documented
//! in docs/operations.md. (`.ci/metrics.py` parses both formats with Prometheus's own Python
//! parsers.)

use std::collections::BTreeMap;
use std::time::Duration;

use confab_proto::EventBody;
use confab_testkit::push::next_event;
use confab_testkit::server::TestServer;

/// `GET /metrics` with `accept`; returns the content type and the body.
async fn scrape(server: &TestServer, accept: Option<&str>) -> (String, String) {
    let mut request = reqwest::Client::new().get(format!("{}/metrics", server.base));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let r = request.send().await.expect("GET /metrics");
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (content_type, r.text().await.expect("body"))
}

/// Each family's declared type, by the name in its `# TYPE` line; panics on a family declared twice.
fn families(text: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("name and type");
            let before = types.insert(name.to_owned(), kind.to_owned());
            assert!(before.is_none(), "{name} is declared twice");
        }
    }
    types
}

/// The value of the sample written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series}"))
        .parse()
        .expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_formats_declare_each_family_once_and_count_the_traffic() {
    let server = TestServer::start().await;
    let (alice, a_token, _) = server.user("alice").await;
    let (_bob, b_token, _) = server.user("bob").await;
    let dm = alice.create_direct("bob").await.expect("dm");
    let (sender, _a_events) = server.connect(&a_token).await;
    let (_receiver, mut b_events) = server.connect(&b_token).await;
    sender.send(dm.id, "counted").await.expect("send");
    let event = tokio::time::timeout(Duration::from_secs(5), next_event(&mut b_events))
        .await
        .expect("delivered");
    assert!(matches!(event.body, EventBody::Message { .. }));

    // OpenMetrics by default and when Prometheus asks for it first.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                      version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (om_type, om) = scrape(&server, Some(prometheus)).await;
    assert_eq!(
        om_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"));
    assert_eq!(scrape(&server, None).await.0, om_type);
    // The classic format when asked for.
    let (classic_type, classic) = scrape(&server, Some("text/plain;version=0.0.4")).await;
    assert_eq!(classic_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!classic.contains("# EOF") && !classic.contains("# UNIT"));

    let om_families = families(&om);
    let classic_families = families(&classic);
    assert_eq!(om_families.len(), classic_families.len());
    for (name, kind) in &classic_families {
        assert!(name.starts_with("confab_"), "{name}");
        assert_eq!(kind == "counter", name.ends_with("_total"), "{name} {kind}");
        if name.ends_with("_seconds") {
            assert_eq!(kind, "histogram", "{name}");
            assert!(om.contains(&format!("# UNIT {name} seconds")), "{name}");
        }
    }

    for text in [&om, &classic] {
        assert_eq!(
            value(text, r#"confab_connections{transport="websocket"}"#),
            2.0
        );
        assert_eq!(
            value(
                text,
                r#"confab_connections_opened_total{transport="websocket"}"#
            ),
            2.0
        );
        assert_eq!(
            value(text, r#"confab_sessions_admitted_total{kind="identify"}"#),
            2.0
        );
        assert_eq!(value(text, "confab_sessions"), 2.0);
        assert_eq!(value(text, "confab_acks_total"), 1.0);
        assert_eq!(value(text, "confab_ack_seconds_count"), 1.0);
        assert_eq!(value(text, "confab_messages_stored_total"), 1.0);
        assert!(
            value(text, "confab_deliveries_total") >= 2.0,
            "sender and receiver"
        );
        assert!(value(text, "confab_bus_publish_seconds_count") >= 1.0);
        assert_eq!(value(text, r#"confab_frames_in_total{op="send"}"#), 1.0);
        assert_eq!(
            value(text, r#"confab_closes_total{reason="slow_consumer"}"#),
            0.0
        );
        assert_eq!(
            value(
                text,
                r#"confab_presence_users{scope="node",status="online"}"#
            ),
            2.0
        );
        assert_eq!(value(text, "confab_channel_subscriptions"), 1.0);
        assert_eq!(value(text, "confab_queued_frames_max"), 0.0);
    }
    let append = om
        .lines()
        .find(|l| l.starts_with("confab_store_seconds_count{op=\"append_message\"}"))
        .expect("append_message timed");
    assert!(append.ends_with(" 1"), "{append}");

    // Every family is documented for operators.
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/operations.md"
    ))
    .expect("docs/operations.md");
    for name in classic_families.keys() {
        assert!(
            docs.contains(&format!("`{name}")),
            "{name} is not in docs/operations.md"
        );
    }
}
