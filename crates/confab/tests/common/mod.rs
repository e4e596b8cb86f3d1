//! Running the real `confab` binary (and HAProxy) for tests.

#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use confab_client::{ClientConfig, ClientEvent, Events};
use confab_testkit::push::next_matching;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use confab_testkit::server::PASSWORD;

/// Starts `confab serve` on a free port with `args`; returns it and its address (read from the
/// banner it prints on stderr when listening; the rest of its stderr is passed on to the test's).
pub async fn node(args: &[String]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--send-rate",
            "100000",
            "--send-burst",
            "100000",
        ])
        .args(args)
        .env("CONFAB_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn confab");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.expect("read").expect("a line");
            if let Some(addr) = line.strip_prefix(BANNER) {
                return addr.trim().parse().expect("socket address");
            }
            eprintln!("{line}");
        }
    })
    .await
    .expect("started within 30 s");
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{line}");
        }
    });
    (child, addr)
}

/// The first line of the banner `confab serve` prints when it listens, before the address.
pub const BANNER: &str = "Confab is listening on http://";

/// An SDK client with fast reconnects.
pub async fn connect(url: &str, token: &str) -> (confab_client::Client, Events) {
    connect_over(url, token, confab_client::Transport::Auto).await
}

/// An SDK client with fast reconnects over a given transport.
pub async fn connect_over(
    url: &str,
    token: &str,
    transport: confab_client::Transport,
) -> (confab_client::Client, Events) {
    let mut config = ClientConfig::new(url, token);
    config.transport = transport;
    config.backoff_base = Duration::from_millis(20);
    config.backoff_cap = Duration::from_millis(300);
    confab_client::Client::connect_with(config)
        .await
        .expect("connect")
}

/// Message bodies, in arrival order, until `count` came.
pub async fn collect(events: &mut Events, count: usize) -> Vec<String> {
    collect_in(events, None, count).await
}

/// Message bodies of one channel (or of any), in arrival order, until `count` came.
pub async fn collect_in(
    events: &mut Events,
    channel: Option<confab_client::proto::ChannelId>,
    count: usize,
) -> Vec<String> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        let body = next_matching(events, |push| match push {
            ClientEvent::Event(e) if channel.is_none_or(|c| c == e.channel_id) => match e.body {
                confab_client::proto::EventBody::Message { body, .. } => Some(body),
                _ => None,
            },
            ClientEvent::Closed { code, reason } => panic!("closed: {code:?} {reason}"),
            _ => None,
        })
        .await;
        got.push(body);
    }
    got
}

/// The HTTP status of `GET path` over a plain TCP request.
pub async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// HAProxy with the shipped `deploy/haproxy.cfg` in front of three nodes.
pub async fn haproxy(nodes: [SocketAddr; 3]) -> (Child, SocketAddr) {
    let port = confab_testkit::services::free_port().expect("port");
    let stats = confab_testkit::services::free_port().expect("port");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/haproxy.cfg");
    let child = Command::new("haproxy")
        .args(["-f", config, "-db"])
        .env("CONFAB_LB_ADDR", format!("127.0.0.1:{port}"))
        .env("CONFAB_LB_STATS", format!("127.0.0.1:{stats}"))
        .env("CONFAB_NODE1", nodes[0].to_string())
        .env("CONFAB_NODE2", nodes[1].to_string())
        .env("CONFAB_NODE3", nodes[2].to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("haproxy is installed (.ci/run installs it)");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    for _ in 0..100 {
        if http_status(addr, "/readyz").await == Some(200) {
            return (child, addr);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("haproxy did not come up");
}
