//! `compare`: the room against Confab and against the lean server (`confab bench lean-server`),
//! alternating rounds in one run with the same generator code, and the ratios Confab / lean.
//!
//! Confab's users and group are provisioned once, before the first round; the lean server needs
//! nothing. Each round runs the room once against each target (Confab first in odd rounds, the lean
//! server first in even ones, so a drift of the machine during the run weighs on both alike).

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::args::CompareArgs;
use crate::lean;
use crate::load;
use crate::report::{CompareResult, Report, TargetSummary};

/// The two targets, as `target` names them in the output.
pub const CONFAB: &str = "confab";
pub const LEAN: &str = "lean";

pub async fn run(a: &CompareArgs) -> anyhow::Result<Vec<Report>> {
    super::room::validate(&a.room)?;
    anyhow::ensure!(a.rounds >= 1, "--rounds must be at least 1");
    let common = &a.room.common;
    anyhow::ensure!(
        common.servers.len() == 1,
        "compare drives one Confab server: give --server once"
    );
    let confab_pid = match common.server_pids.as_slice() {
        [pid] => *pid,
        _ => anyhow::bail!(
            "compare needs the Confab server's process id, once: --server-pid PID (its CPU is what it compares)"
        ),
    };
    anyhow::ensure!(
        crate::usage::cpu_seconds(Some(confab_pid)).is_some(),
        "--server-pid {confab_pid}: no such process (or /proc/{confab_pid}/stat is unreadable)"
    );

    // The lean server: given, or started here on the Confab server's CPUs.
    let mut started: Option<Child> = None;
    let mut hints = Vec::new();
    let (lean_url, lean_pid) = match (&a.lean, a.lean_pid) {
        (Some(url), Some(pid)) => (url.trim_end_matches('/').to_owned(), pid),
        (Some(_), None) => anyhow::bail!("--lean needs --lean-pid (the lean server's process id)"),
        (None, Some(_)) => anyhow::bail!("--lean-pid needs --lean (the lean server's URL)"),
        (None, None) => {
            let (child, url, pid, hint) = start_lean(confab_pid).await?;
            started = Some(child);
            hints.extend(hint);
            (url, pid)
        }
    };
    anyhow::ensure!(
        crate::usage::cpu_seconds(Some(lean_pid)).is_some(),
        "--lean-pid {lean_pid}: no such process"
    );

    let confab_spec = super::room::plan(&a.room, crate::transport::Kind::Ws, Duration::ZERO)
        .await
        .context("provisioning Confab's users and group")?;
    let lean_spec = super::room::lean_plan(&a.room)?;
    let mut lean_common = common.clone();
    lean_common.servers = vec![lean_url];
    lean_common.server_pids = vec![lean_pid];

    let mut rounds = Vec::with_capacity(a.rounds * 2);
    for round in 1..=a.rounds {
        let order = if round % 2 == 1 {
            [CONFAB, LEAN]
        } else {
            [LEAN, CONFAB]
        };
        for target in order {
            let (c, mut spec) = if target == CONFAB {
                (common, confab_spec.clone())
            } else {
                (&lean_common, lean_spec.clone())
            };
            spec.scenario = format!("compare {target} {round}/{}", a.rounds);
            let mut report = load::run(c, spec)
                .await
                .with_context(|| format!("round {round} against {target}"))?;
            report.scenario = "compare".into();
            report.target = Some(target.to_owned());
            report.round = Some(round);
            rounds.push(report);
        }
    }
    if let Some(mut child) = started {
        let _ = child.kill().await;
    }

    let confab = TargetSummary::of(
        rounds
            .iter()
            .filter(|r| r.target.as_deref() == Some(CONFAB)),
    );
    let lean = TargetSummary::of(rounds.iter().filter(|r| r.target.as_deref() == Some(LEAN)));
    let ratio =
        |x: Option<f64>, y: Option<f64>| x.zip(y).filter(|(_, y)| *y > 0.0).map(|(x, y)| x / y);
    let result = CompareResult {
        rounds: a.rounds,
        cpu_ratio: ratio(
            confab.server_cpu_us_per_delivery,
            lean.server_cpu_us_per_delivery,
        ),
        p99_ratio: ratio(confab.p99_ms, lean.p99_ms),
        confab,
        lean,
    };
    for r in &rounds {
        for h in &r.hints {
            hints.push(format!(
                "{} round {}: {h}",
                r.target.as_deref().unwrap_or("-"),
                r.round.unwrap_or(0)
            ));
        }
    }
    let summary = Report {
        scenario: "compare".into(),
        transport: Some("ws".into()),
        parameters: format!(
            "{} rounds={}",
            rounds.first().map_or("", |r| r.parameters.as_str()),
            a.rounds
        ),
        servers: 2,
        compare: Some(result),
        hints,
        ..Report::default()
    };
    rounds.push(summary);
    Ok(rounds)
}

/// The CPUs a process may run on (`Cpus_allowed_list` of `/proc/PID/status`, e.g. `0` or `0-1`).
fn cpus_allowed(pid: Option<u32>) -> Option<String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

/// Starts `confab bench lean-server --listen 127.0.0.1:0` (this very binary), under `taskset` on
/// the Confab server's CPUs when those differ from the generator's. Returns the child (killed
/// when dropped), its URL, its pid, and a hint when it could not be pinned like Confab.
async fn start_lean(confab_pid: u32) -> anyhow::Result<(Child, String, u32, Option<String>)> {
    let exe = std::env::current_exe().context("finding this binary to start the lean server")?;
    let server_cpus = cpus_allowed(Some(confab_pid));
    let pin = server_cpus.filter(|c| Some(c) != cpus_allowed(None).as_ref());
    let mut hint = None;
    let mut command = match &pin {
        Some(cpus) if taskset_available().await => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(&exe);
            c
        }
        Some(cpus) => {
            hint = Some(format!(
                "the Confab server runs on CPUs {cpus} but taskset is not installed: the lean server runs on the generator's CPUs; start it yourself (taskset -c {cpus} confab bench lean-server) and give --lean and --lean-pid"
            ));
            Command::new(&exe)
        }
        None => Command::new(&exe),
    };
    let mut child = command
        .args(["bench", "lean-server", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} bench lean-server", exe.display()))?;
    let pid = child.id().context("the lean server exited at once")?;
    let stdout = child.stdout.take().context("the lean server's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .context("the lean server did not start within 10 s")?
        .context("reading the lean server's banner")?
        .context("the lean server exited before listening")?;
    let addr = line.strip_prefix(lean::BANNER).with_context(|| {
        format!(
            "{} does not look like `confab bench lean-server` (it printed {line:?}); start one and give --lean and --lean-pid",
            exe.display()
        )
    })?;
    Ok((child, format!("http://{}", addr.trim()), pid, hint))
}

async fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}
