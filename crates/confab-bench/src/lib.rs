//! `confab bench`: the load generator. It drives running servers through the real protocol and
//! reports what they cost: connections, fan-out, latency, memory, storms and transports.
//! `docs/benchmarks.md` explains every scenario, flag and output column.
//!
//! # Layout
//!
//! - [`args`]: the command line of `confab bench` and its scenarios.
//! - [`account`]: users, groups and direct channels provisioned once and cached in a file.
//! - [`conn`]: the lean WebSocket client: one socket from a chosen source address, `identify` or
//!   `resume`, nothing else.
//! - [`frame`]: the few fields read from server frames, and the timestamped message body.
//! - [`tally`]: what one receiver saw (a bitmap of `seq`s, buffered latencies).
//! - [`meter`]: counters and latency histograms shared by all connections of a run.
//! - [`usage`]: the server's RSS and CPU, and the generator's own CPU, from `/proc`.
//! - [`transport`]: receivers over HTTP: SSE, long polling and naive history polling.
//! - [`load`]: the engine of `room`, `dm` and `transports`: senders and receivers over channels.
//! - [`scenario`]: one module per scenario, each turning its flags into a run and a [`Report`].
//! - [`lean`]: the minimal broadcast server `compare` measures Confab against.
//! - [`worker`]: splitting `idle` over worker processes (the open-files cap per process).
//! - [`progress`]: the progress line on stderr.
//! - [`report`]: the result of a scenario, as a table or as JSON.

pub mod account;
pub mod args;
pub mod conn;
pub mod frame;
pub mod lean;
pub mod load;
pub mod meter;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod tally;
pub mod transport;
pub mod usage;
pub mod worker;

use anyhow::Context;

pub use args::{BenchArgs, Common, Scenario};
pub use report::Report;

/// Runs one benchmark scenario and prints its results (a table, or JSON with `--json`).
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Scenario::LeanServer(a) = &args.scenario {
        return runtime.block_on(lean::serve(&a.listen));
    }
    let json = args.scenario.common().is_some_and(|c| c.json) || args.scenario.is_worker();
    let reports = runtime.block_on(execute(&args))?;
    for report in &reports {
        if json {
            println!(
                "{}",
                serde_json::to_string(report).context("serializing a report")?
            );
        }
    }
    if !json {
        report::print_table(&reports);
    }
    // A failed soak verdict is the command's failure (exit status 1).
    for report in &reports {
        if let Some(soak) = &report.soak {
            anyhow::ensure!(
                soak.verdict.passed,
                "soak verdict: failed ({})",
                soak.verdict.failures.join("; ")
            );
        }
    }
    Ok(())
}

/// Runs the scenario of `args` and returns its results (one per transport for `transports`, one
/// otherwise) without printing them.
pub async fn execute(args: &BenchArgs) -> anyhow::Result<Vec<Report>> {
    match &args.scenario {
        Scenario::Idle(a) => Ok(vec![scenario::idle::run(a).await?]),
        Scenario::Room(a) => Ok(vec![scenario::room::run(a).await?]),
        Scenario::Dm(a) => Ok(vec![scenario::dm::run(a).await?]),
        Scenario::Storm(a) => Ok(vec![scenario::storm::run(a).await?]),
        Scenario::Transports(a) => scenario::transports::run(a).await,
        Scenario::Rtt(a) => scenario::rtt::run(a).await,
        Scenario::Compare(a) => scenario::compare::run(a).await,
        Scenario::Soak(a) => Ok(vec![scenario::soak::run(a).await?]),
        Scenario::LeanServer(_) => {
            anyhow::bail!(
                "`confab bench lean-server` is a server, not a scenario: run it with `run`"
            )
        }
        // It needs the store, which this crate (a client of the protocol) does not link: the
        // `confab` binary runs it.
        Scenario::Seed(_) => anyhow::bail!("`confab bench seed` runs from the confab binary"),
    }
}
