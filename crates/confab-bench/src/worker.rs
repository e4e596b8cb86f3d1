//! Splitting `idle` over worker processes: one process may hold at most 20,000 open files here,
//! so above 18,000 connections the generator re-runs itself with a hidden `--worker i/n` flag,
//! each worker taking every n-th connection and printing its [`Report`] as JSON on stdout, and
//! the parent merges them.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::args::IdleArgs;
use crate::report::Report;
use crate::scenario::idle::per_connection;
use crate::usage;

/// Parses `i/n`.
pub fn parse_spec(spec: &str) -> anyhow::Result<(usize, usize)> {
    let (i, n) = spec
        .split_once('/')
        .with_context(|| format!("--worker {spec}: expected i/n"))?;
    let (i, n): (usize, usize) = (
        i.parse().context("--worker index")?,
        n.parse().context("--worker count")?,
    );
    anyhow::ensure!(n >= 1 && i < n, "--worker {spec}: need 0 <= i < n");
    Ok((i, n))
}

/// Runs `workers` copies of this command as workers and merges their reports. The parent
/// samples the servers' RSS while they run and reports the peak as "after".
pub async fn run_idle(a: &IdleArgs, workers: usize) -> anyhow::Result<Report> {
    let exe = std::env::current_exe().context("finding this program to start workers")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pids = a.common.server_pids.clone();
    let rss_before = usage::servers_rss_kib(&pids);
    let mut children = Vec::with_capacity(workers);
    for i in 0..workers {
        let mut child = Command::new(&exe)
            .args(&args)
            .arg("--worker")
            .arg(format!("{i}/{workers}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting worker {i}"))?;
        let mut stdout = child.stdout.take().context("worker stdout")?;
        children.push(tokio::spawn(async move {
            let mut out = String::new();
            stdout.read_to_string(&mut out).await?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out))
        }));
    }
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (pids, peak) = (pids.clone(), Arc::clone(&peak));
        tokio::spawn(async move {
            loop {
                if let Some(rss) = usage::servers_rss_kib(&pids) {
                    peak.fetch_max(rss, Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let mut reports = Vec::with_capacity(workers);
    for (i, child) in children.into_iter().enumerate() {
        let (status, out) = child
            .await
            .context("worker task")?
            .with_context(|| format!("worker {i}"))?;
        anyhow::ensure!(status.success(), "worker {i} failed ({status})");
        let line = out.lines().last().unwrap_or_default();
        let report: Report = serde_json::from_str(line)
            .with_context(|| format!("reading worker {i}'s result: {line:?}"))?;
        reports.push(report);
    }
    sampler.abort();
    let peak = Some(peak.load(Relaxed)).filter(|&p| p > 0);
    Ok(merge(reports, rss_before, peak))
}

/// Merges workers' reports: counts add up, the time until all were ready is the slowest
/// worker's, CPU of the generator adds up, the server's CPU is the first worker's (all measured
/// the same servers over about the same window).
fn merge(reports: Vec<Report>, rss_before: Option<u64>, rss_after: Option<u64>) -> Report {
    let mut out = reports.first().cloned().unwrap_or_default();
    let mut generator = 0.0;
    for r in &reports[1.min(reports.len())..] {
        out.connections += r.connections;
        out.failures += r.failures;
        out.refusals += r.refusals;
        out.dropped += r.dropped;
        out.connect_s = match (out.connect_s, r.connect_s) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        generator += r.cpu.generator_cpu_s.unwrap_or(0.0);
        out.hints.extend(r.hints.iter().cloned());
    }
    out.connects_per_s = out.connect_s.map(|s| out.connections as f64 / s.max(1e-9));
    let mut cpu = out.cpu;
    cpu.generator_cpu_s = cpu.generator_cpu_s.map(|g| g + generator);
    out.set_cpu(cpu, 0);
    out.server_rss_before_kib = rss_before;
    out.server_rss_after_kib = rss_after.max(out.server_rss_after_kib);
    out.rss_per_connection_kib =
        per_connection(rss_before, out.server_rss_after_kib, out.connections);
    out.hints.sort();
    out.hints.dedup();
    out
}
