//! What an operator sees of the real binary: logs on stderr, plain text when stderr is not a
//! terminal, JSON lines with `--log-format json`, a banner saying where to go next, and start
//! errors as one line with the fix — never a backtrace, even with `RUST_BACKTRACE=1`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{http_status, BANNER};

/// Runs `confab serve` on a free port with stdout and stderr redirected to files (not
/// terminals), asks it for `/healthz`, stops it with SIGTERM and returns (stdout, stderr).
async fn serve_into_files(dir: &Path, extra: &[&str]) -> (String, String) {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let data = dir.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["serve", "--listen", "127.0.0.1:0", "--drain-window", "1s"])
        .arg("--data-dir")
        .arg(&data)
        .args(extra)
        .env("CONFAB_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .spawn()
        .expect("spawn confab");
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let text = std::fs::read_to_string(&err).unwrap_or_default();
        if let Some(addr) = listening_addr(&text) {
            break addr;
        }
        assert!(Instant::now() < deadline, "not listening in 30 s:\n{text}");
        assert!(child.try_wait().expect("wait").is_none(), "exited:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(http_status(addr, "/healthz").await, Some(200));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit status {status}");
    (
        std::fs::read_to_string(out).expect("stdout"),
        std::fs::read_to_string(err).expect("stderr"),
    )
}

/// The address in the banner (text) or in the `confab listening` event (JSON).
fn listening_addr(stderr: &str) -> Option<SocketAddr> {
    stderr.lines().find_map(|line| {
        if let Some(addr) = line.strip_prefix(BANNER) {
            return addr.trim().parse().ok();
        }
        let json: serde_json::Value = serde_json::from_str(line).ok()?;
        (json["message"] == "confab listening").then(|| json["addr"].as_str()?.parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_go_to_stderr_without_escape_codes_and_the_banner_says_where_to_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stdout, stderr) = serve_into_files(dir.path(), &[]).await;
    assert_eq!(stdout, "", "nothing on stdout");
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes in a file:\n{stderr}"
    );
    assert!(stderr.contains(" INFO confab listening"), "{stderr}");
    let addr = listening_addr(&stderr).expect("banner");
    let url = format!("http://{addr}");
    assert!(
        stderr.contains(&format!("open {url}/ in a browser")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("confab chat --server {url}")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{url}/api/docs")), "{stderr}");
    assert!(
        stderr.contains("draining"),
        "the drain is logged:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_for_collectors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (stdout, stderr) = serve_into_files(dir.path(), &["--log-format", "json"]).await;
    assert_eq!(stdout, "");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["message"].is_string(), "{line}");
    }
    let banner = lines
        .iter()
        .find(|l| l["chat"].is_string())
        .expect("the banner as an event");
    let addr = listening_addr(&stderr).expect("listening event");
    assert_eq!(banner["web_ui"], format!("http://{addr}/"));
    assert_eq!(
        banner["chat"],
        format!("confab chat --server http://{addr}")
    );
}

/// `confab serve` with `args` that stops it at start, with `RUST_BACKTRACE=1`.
fn failing_start(dir: &Path, args: &[&str]) -> (Output, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run confab");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("acktrace"), "no backtrace:\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line:\n{stderr}");
    (output, stderr)
}

#[test]
fn a_port_in_use_is_one_line_with_the_fix_and_no_backtrace() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, stderr) = failing_start(dir.path(), &["--listen", &addr]);
    assert_eq!(
        stderr.trim_end(),
        format!("error: {addr} is in use: pass --listen ADDR (or stop what listens there)")
    );
    assert!(!dir.path().join("data").exists(), "nothing opened");
}

#[test]
fn a_bad_setting_is_named_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, stderr) = failing_start(dir.path(), &["--heartbeat-interval", "soon"]);
    assert_eq!(
        stderr.trim_end(),
        "error: invalid configuration: --heartbeat-interval (CONFAB_HEARTBEAT_INTERVAL): \
         \"soon\" is not a duration like 30s, 5m or 90d"
    );
}
