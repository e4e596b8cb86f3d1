//! The soak in CI: the real `confab serve` with a temporary data directory and a short retention
//! (so pruning runs during the soak), and `confab bench soak` against it for two minutes
//! (`CONFAB_SOAK_DURATION`, e.g. `30s` or `1h`, changes that). The soak's verdict must pass:
//! RSS and open files flat, no latency drift, nothing lost, no errors. Its thresholds are the
//! documented defaults; no figure of this test's own is timed.

use std::process::Stdio;
use std::time::Duration;

use confab_bench::Report;

mod common;

/// How long the soak runs: `CONFAB_SOAK_DURATION` or two minutes.
fn duration() -> Duration {
    let text = std::env::var("CONFAB_SOAK_DURATION").unwrap_or_else(|_| "2m".into());
    humantime::parse_duration(&text).expect("CONFAB_SOAK_DURATION is a duration like 30s or 2m")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_with_drops_history_reads_and_pruning_passes_its_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = common::node(&[
        "--data-dir".into(),
        dir.path().join("data").display().to_string(),
        "--identify-rate".into(),
        "100000".into(),
        "--identify-burst".into(),
        "100000".into(),
        "--retention-max-events".into(),
        "300".into(),
        "--retention-interval".into(),
        "2s".into(),
    ])
    .await;
    let pid = server.id().expect("the server runs");
    let duration = duration();
    // Twelve samples whatever the duration: three per quarter of the verdict.
    let sample_every = (duration / 12).max(Duration::from_millis(100));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["bench", "soak", "--json"])
        .args(["--server", &format!("http://{addr}")])
        .args(["--server-pid", &pid.to_string()])
        .args([
            "--duration",
            &humantime::format_duration(duration).to_string(),
        ])
        .args(["--sample-every", &format!("{}ms", sample_every.as_millis())])
        .args(["--warmup", "2s"])
        .args(["--members", "20", "--senders", "4", "--rate", "20"])
        .args(["--pairs", "5", "--dm-rate", "2"])
        .args(["--reconnectors", "5", "--reconnect-every", "5s"])
        .args(["--history-rate", "4"])
        .args(["--source-addrs", "4"])
        .arg("--accounts")
        .arg(dir.path().join("accounts.json"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("run confab bench soak");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().expect("a JSON result on stdout");
    let report: Report = serde_json::from_str(line).expect("the result parses");
    let soak = report.soak.as_ref().expect("a soak result");
    // In the test's output, for whoever reads a CI log: how close each check came to its limit.
    eprintln!("soak verdict: {:?}", soak.verdict);
    assert!(
        soak.verdict.passed && output.status.success(),
        "verdict failed ({}): {:?}",
        output.status,
        soak.verdict
    );
    assert_eq!((report.lost, report.duplicates), (0, 0), "{report:?}");
    assert_eq!(soak.errors, 0, "{report:?}");
    assert!(
        report.acked > 0 && report.acked == report.sent,
        "{report:?}"
    );
    assert_eq!(report.deliveries, report.expected_deliveries, "{report:?}");
    assert_eq!(report.connections, 30);
    assert!(soak.samples.len() >= 8, "{:?}", soak.samples);
    assert!(soak
        .samples
        .iter()
        .all(|s| s.rss_kib.is_some() && s.open_fds.is_some()));
    // The mixed load happened: clients dropped and resumed, history was read, retention pruned.
    assert!(soak.resumes > 0, "{report:?}");
    assert!(soak.history_reads > 0, "{report:?}");
    assert!(soak.pruned_through > 0, "nothing was pruned: {report:?}");
    drop(server);
}
