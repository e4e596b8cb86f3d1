//! `deploy/cluster.sh` as a person runs it: three nodes of the test-built binary (`CONFAB_BIN`) on
//! PostgreSQL (a fresh schema) and NATS behind HAProxy, on free ports. Ctrl-C (SIGINT to the
//! script's process group, as a terminal sends it) drains the nodes while HAProxy still carries
//! their clients: a WebSocket client connected through HAProxy is closed with 4003, and only then
//! does HAProxy stop. A binary that fails to start makes the script exit non-zero, naming the node
//! and showing its log, without its "Confab cluster:" banner.
//!
//! The drain test needs `CONFAB_TEST_DATABASE_URL` and `CONFAB_TEST_NATS_URL`; both tests need
//! `haproxy`. Each says so and skips without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{http_status, PASSWORD};
use confab_client::proto::{ClientFrame, CloseCode, ServerFrame};
use confab_client::Http;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

const BANNER: &str = "Confab cluster: ";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cluster.sh")
}

fn have_haproxy(test: &str) -> bool {
    let found = std::process::Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED: {test} needs haproxy (apt-get install haproxy; .ci/run installs it)");
    }
    found
}

/// `n` distinct free ports on 127.0.0.1 (all bound at once, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

/// The script running in a process group of its own, like a job a shell starts; signals go to the
/// group, as a terminal's Ctrl-C does. Dropped while still running (a failed assertion), it gets
/// SIGTERM, which makes it drain and stop its nodes and HAProxy on its own.
struct Script {
    child: Child,
    pgid: i32,
}

impl Script {
    fn start(env: &[(&str, String)], log_dir: &Path) -> Script {
        let mut command = Command::new("bash");
        command
            .arg(script())
            .env("LOG_DIR", log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("run deploy/cluster.sh");
        let pgid = child.id().expect("pid") as i32;
        Script { child, pgid }
    }

    fn signal_group(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, "--", &format!("-{}", self.pgid)])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} -{}", self.pgid);
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.pgid.to_string()])
                .status();
        }
    }
}

/// Everything the stream says, collected in the background.
fn collect(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = BufReader::new(stream).read_to_string(&mut text).await;
        text
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drains_the_nodes_through_haproxy_before_stopping_it() {
    let Some((db, nats)) =
        confab_testkit::services::shared_urls("the deploy/cluster.sh drain test")
    else {
        return;
    };
    if !have_haproxy("the deploy/cluster.sh drain test") {
        return;
    }
    let ports = free_ports(5);
    let (lb, stats, nodes) = (ports[0], ports[1], &ports[2..]);
    let logs = tempfile::tempdir().expect("tempdir");
    let mut script = Script::start(
        &[
            ("CONFAB_BIN", env!("CARGO_BIN_EXE_confab").to_owned()),
            ("CONFAB_STORE", db),
            (
                "CONFAB_STORE_SCHEMA",
                format!("confab_cluster_sh_{}", std::process::id()),
            ),
            ("CONFAB_BUS", nats),
            ("CONFAB_DRAIN_WINDOW", "2s".into()),
            ("LB_PORT", lb.to_string()),
            ("LB_STATS_PORT", stats.to_string()),
            (
                "NODE_PORTS",
                nodes
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ],
        logs.path(),
    );
    let stderr = collect(script.child.stderr.take().expect("stderr"));
    let mut stdout = BufReader::new(script.child.stdout.take().expect("stdout")).lines();
    let banner = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = stdout.next_line().await.expect("read") {
            if line.starts_with(BANNER) {
                return line;
            }
        }
        panic!("the script ended without its banner");
    })
    .await;
    let Ok(banner) = banner else {
        panic!("no banner within 120 s");
    };
    assert!(
        banner.contains(&format!("http://127.0.0.1:{lb}")),
        "{banner}"
    );

    // A user, and a WebSocket session of theirs through HAProxy.
    let base = format!("127.0.0.1:{lb}");
    let http = Http::new(format!("http://{base}"));
    let user = http.register("drainee", PASSWORD).await.expect("register");
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{base}/ws"))
        .await
        .expect("WebSocket through HAProxy");
    let identify = serde_json::to_string(&ClientFrame::Identify {
        token: user.token.clone(),
    })
    .expect("json");
    socket.send(Message::text(identify)).await.expect("send");
    let mut ready = false;
    while !ready {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = msg {
            ready = matches!(
                serde_json::from_str(text.as_str()).expect("server frame"),
                ServerFrame::Ready(_)
            );
        }
    }

    // Ctrl-C.
    script.signal_group("-INT");
    let code = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("the connection broke instead of closing: {e}"),
                None => return None,
            }
        }
    })
    .await
    .expect("closed within 15 s of Ctrl-C");
    assert_eq!(
        code,
        Some(CloseCode::ServerShutdown.as_u16()),
        "closed with 4003 (server_shutdown) through HAProxy"
    );

    let status = tokio::time::timeout(Duration::from_secs(40), script.child.wait())
        .await
        .expect("the script exits after draining")
        .expect("status");
    let stderr = stderr.await.expect("stderr");
    eprintln!("{stderr}");
    assert_eq!(status.code(), Some(130), "exit code after Ctrl-C");
    let draining = stderr.find("Draining the nodes").expect("says it drains");
    let stopped = stderr.find("Stopped").expect("says it stopped");
    assert!(draining < stopped);
    // Nodes and HAProxy are gone.
    for port in [lb, stats, nodes[0], nodes[1], nodes[2]] {
        let addr = format!("127.0.0.1:{port}").parse().expect("addr");
        assert_eq!(
            http_status(addr, "/readyz").await,
            None,
            "port {port} closed"
        );
    }
    // The nodes drained (exit 0 after their window), as their logs say.
    for i in 1..=3 {
        let log = std::fs::read_to_string(logs.path().join(format!("node{i}.log"))).expect("log");
        assert!(log.contains("shutting down"), "node {i} drained:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_start_fails_the_script_without_a_banner() {
    if !have_haproxy("the deploy/cluster.sh start-failure test") {
        return;
    }
    // The real binary with a store nobody listens on, and a binary that fails at once.
    let unreachable = format!("postgres://nobody@127.0.0.1:{}/none", free_ports(1)[0]);
    let cases = [
        (env!("CARGO_BIN_EXE_confab").to_owned(), unreachable),
        ("/bin/false".to_owned(), "postgres://unused".to_owned()),
    ];
    for (bin, store) in cases {
        let ports = free_ports(5);
        let logs = tempfile::tempdir().expect("tempdir");
        let mut script = Script::start(
            &[
                ("CONFAB_BIN", bin.clone()),
                ("CONFAB_STORE", store),
                ("CONFAB_BUS", "nats://127.0.0.1:1".into()),
                ("LB_PORT", ports[0].to_string()),
                ("LB_STATS_PORT", ports[1].to_string()),
                (
                    "NODE_PORTS",
                    format!("{} {} {}", ports[2], ports[3], ports[4]),
                ),
                ("START_TIMEOUT", "30".into()),
            ],
            logs.path(),
        );
        let stdout = collect(script.child.stdout.take().expect("stdout"));
        let stderr = collect(script.child.stderr.take().expect("stderr"));
        let status = tokio::time::timeout(Duration::from_secs(60), script.child.wait())
            .await
            .expect("the script gives up")
            .expect("status");
        let (stdout, stderr) = (stdout.await.expect("out"), stderr.await.expect("err"));
        eprintln!("{bin}: exit {status:?}\n{stderr}");
        assert_eq!(status.code(), Some(1), "{bin}: exit code 1");
        assert!(!stdout.contains(BANNER), "{bin}: no banner, got {stdout}");
        assert!(
            stderr.contains(&format!("node 1 (127.0.0.1:{}) exited", ports[2])),
            "{bin}: names the node"
        );
        assert!(stderr.contains("--- last lines of"), "{bin}: shows its log");
        if bin.ends_with("confab") {
            assert!(
                stderr.contains("error: "),
                "{bin}: the node's own error is shown"
            );
        }
        for port in &ports {
            let addr = format!("127.0.0.1:{port}").parse().expect("addr");
            assert_eq!(
                http_status(addr, "/readyz").await,
                None,
                "port {port} closed"
            );
        }
    }
}
