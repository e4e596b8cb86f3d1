//! `confab bench compare` against the real `confab serve` and the lean server it starts itself:
//! a short run with a small room completes, and on both targets every message reaches every
//! member once. No figure is timed.

use std::process::Stdio;

use confab_bench::Report;

mod common;

const MEMBERS: u64 = 12;

async fn compare(args: &[String]) -> (std::process::ExitStatus, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["bench", "compare"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run confab bench compare");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_delivers_everything_on_confab_and_on_the_lean_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, addr) = common::node(&[
        "--data-dir".into(),
        dir.path().join("data").display().to_string(),
        "--identify-rate".into(),
        "100000".into(),
        "--identify-burst".into(),
        "100000".into(),
    ])
    .await;
    let pid = server.id().expect("the server runs").to_string();
    let accounts = dir.path().join("accounts.json").display().to_string();
    let args: Vec<String> = [
        "--json",
        "--server",
        &format!("http://{addr}"),
        "--server-pid",
        &pid,
        "--members",
        &MEMBERS.to_string(),
        "--senders",
        "3",
        "--rate",
        "30",
        "--duration",
        "2s",
        "--warmup",
        "300ms",
        "--rounds",
        "2",
        "--source-addrs",
        "4",
        "--accounts",
        &accounts,
    ]
    .map(String::from)
    .to_vec();
    let (status, stdout, stderr) = compare(&args).await;
    assert!(status.success(), "compare failed: {stderr}");
    let reports: Vec<Report> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a result"))
        .collect();
    // Two rounds of two targets, alternating in order, then the summary.
    assert_eq!(reports.len(), 5, "{stdout}");
    let order: Vec<(Option<usize>, Option<&str>)> = reports
        .iter()
        .map(|r| (r.round, r.target.as_deref()))
        .collect();
    assert_eq!(
        order,
        [
            (Some(1), Some("confab")),
            (Some(1), Some("lean")),
            (Some(2), Some("lean")),
            (Some(2), Some("confab")),
            (None, None)
        ]
    );
    for r in &reports[..4] {
        assert_eq!(r.connections, MEMBERS, "{r:?}");
        assert!(r.acked > 0 && r.acked == r.sent, "{r:?}");
        assert_eq!((r.lost, r.duplicates, r.dropped), (0, 0, 0), "{r:?}");
        assert_eq!(r.deliveries, r.expected_deliveries, "{r:?}");
        assert_eq!(r.deliveries, r.acked * MEMBERS, "{r:?}");
        assert!(r.server_cpu_us_per_delivery.is_some(), "{r:?}");
        assert!(r.latency.is_some(), "{r:?}");
    }
    let c = reports[4].compare.as_ref().expect("the summary");
    assert_eq!(c.rounds, 2);
    for t in [&c.confab, &c.lean] {
        assert_eq!((t.lost, t.duplicates), (0, 0));
        assert_eq!(t.deliveries, t.acked * MEMBERS);
        assert!(t.server_cpu_us_per_delivery.is_some() && t.p99_ms.is_some());
    }
    assert_eq!(
        c.confab.deliveries,
        reports[0].deliveries + reports[3].deliveries
    );
    if c.lean.server_cpu_us_per_delivery > Some(0.0) {
        assert!(c.cpu_ratio.is_some());
    }
    assert!(c.p99_ratio.is_some());

    // Bad flags get a clear error, before any load.
    let mut bad = args.clone();
    bad.extend(["--lean".into(), "http://127.0.0.1:9".into()]);
    let (status, _, stderr) = compare(&bad).await;
    assert!(!status.success());
    assert!(stderr.contains("--lean needs --lean-pid"), "{stderr}");
    let mut bad = args.clone();
    let rounds = bad.iter().position(|a| a == "--rounds").expect("--rounds");
    bad[rounds + 1] = "0".into();
    let (status, _, stderr) = compare(&bad).await;
    assert!(!status.success());
    assert!(stderr.contains("--rounds must be at least 1"), "{stderr}");
    drop(server);
}
