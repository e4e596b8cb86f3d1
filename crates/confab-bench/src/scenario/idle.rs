//! `idle`: open N authenticated connections and hold them; connect rate, server RSS per
//! connection and CPU while idle. Split over worker processes above 18,000 connections (the
//! open-files cap of one process here).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::account::Accounts;
use crate::args::IdleArgs;
use crate::conn::{self, Endpoint};
use crate::frame;
use crate::load::{self, HEARTBEAT_EVERY};
use crate::meter::Meter;
use crate::progress::Progress;
use crate::report::Report;
use crate::usage::{self, CpuMark};
use crate::worker;

/// Connections one process holds at most (the open-files limit here is 20,000 per process).
pub const PER_WORKER: usize = 18_000;

/// Users when `--users` is not given: one per connection, at most this many.
pub const DEFAULT_USERS: usize = 1000;

pub async fn run(a: &IdleArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(a.connections >= 1, "--connections must be at least 1");
    let users = a.users.unwrap_or(a.connections.min(DEFAULT_USERS)).max(1);
    if let Some(spec) = &a.worker {
        let (index, count) = worker::parse_spec(spec)?;
        return hold(a, users, index, count).await;
    }
    let mut accounts = Accounts::load(&a.common.accounts, &a.common.user_prefix)?;
    for base in &a.common.servers {
        accounts.users(base.trim_end_matches('/'), users).await?;
    }
    let workers = a
        .workers
        .unwrap_or_else(|| a.connections.div_ceil(PER_WORKER))
        .max(1);
    if workers == 1 {
        return hold(a, users, 0, 1).await;
    }
    worker::run_idle(a, workers).await
}

/// Holds this process's share of the connections: those with index ≡ `index` (mod `count`).
async fn hold(a: &IdleArgs, users: usize, index: usize, count: usize) -> anyhow::Result<Report> {
    let common = &a.common;
    let endpoints = Endpoint::resolve_all(&common.servers).await?;
    let mut accounts = Accounts::load(&common.accounts, &common.user_prefix)?;
    let mut tokens = Vec::with_capacity(endpoints.len());
    for e in &endpoints {
        let list = accounts.users(&e.base, users).await?;
        tokens.push(list.into_iter().map(|u| u.token).collect::<Vec<_>>());
    }
    let meter = Arc::new(Meter::new());
    let quiet = common.json || a.worker.is_some();
    let progress = Progress::start("idle", quiet, Arc::clone(&meter));
    let pids = &common.server_pids;
    let rss_before = usage::servers_rss_kib(pids);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let handshakes = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let endpoints = Arc::new(endpoints);
    let tokens = Arc::new(tokens);
    progress.phase("connecting");
    let started = Instant::now();
    let mine: Vec<usize> = (index..a.connections).step_by(count).collect();
    let mut tasks = Vec::with_capacity(mine.len());
    for i in mine.iter().copied() {
        let (endpoints, tokens, meter, handshakes) = (
            Arc::clone(&endpoints),
            Arc::clone(&tokens),
            Arc::clone(&meter),
            Arc::clone(&handshakes),
        );
        let (ready, mut stop) = (ready_tx.clone(), stop_rx.clone());
        let source_addrs = common.source_addrs;
        tasks.push(tokio::spawn(async move {
            let e = i % endpoints.len();
            let token = &tokens[e][(i / endpoints.len()) % tokens[e].len()];
            let connected = {
                let Ok(_permit) = handshakes.acquire().await else {
                    return;
                };
                conn::connect_identified(
                    &endpoints[e],
                    endpoints[e].source(i, source_addrs),
                    token,
                    20,
                    || Meter::bump(&meter.refusals),
                )
                .await
            };
            let mut ws = match connected {
                Ok((ws, _)) => ws,
                Err(err) => {
                    let _ = ready.send(Err(err.to_string()));
                    return;
                }
            };
            Meter::bump(&meter.connected);
            let _ = ready.send(Ok(()));
            let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
            heartbeat.tick().await;
            loop {
                tokio::select! {
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                            Meter::bump(&meter.dropped);
                            return;
                        }
                        Some(Ok(_)) => {}
                    },
                    _ = heartbeat.tick() => {
                        if ws.send(Message::text(frame::HEARTBEAT)).await.is_err() {
                            Meter::bump(&meter.dropped);
                            return;
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
            let _ = ws.close(None).await;
        }));
    }
    drop(ready_tx);
    let mut ready = 0u64;
    let mut errors = Vec::new();
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(()) => ready += 1,
            Err(e) => {
                Meter::bump(&meter.failures);
                errors.push(e);
            }
        }
        if ready as usize + errors.len() == mine.len() {
            break;
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    progress.phase("holding");
    // Let the server settle (sessions finish their setup) before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = usage::servers_rss_kib(pids);
    let mark = CpuMark::now(pids);
    tokio::time::sleep(common.duration).await;
    let cpu = mark.since(pids);
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    drop(progress);
    let mut report = Report {
        scenario: "idle".into(),
        transport: Some("ws".into()),
        parameters: format!("connections={} users={users}", a.connections),
        servers: endpoints.len(),
        connections: ready,
        failures: errors.len() as u64,
        refusals: Meter::count(&meter.refusals),
        dropped: Meter::count(&meter.dropped),
        connect_s: Some(connect_s),
        connects_per_s: Some(ready as f64 / connect_s.max(1e-9)),
        window_s: cpu.wall_s,
        server_rss_before_kib: rss_before,
        server_rss_after_kib: rss_after,
        ..Report::default()
    };
    report.rss_per_connection_kib = per_connection(rss_before, rss_after, ready);
    report.set_cpu(cpu, 0);
    report.hints = load::hints(&report, &errors);
    Ok(report)
}

/// Server RSS growth per connection.
pub fn per_connection(before: Option<u64>, after: Option<u64>, connections: u64) -> Option<f64> {
    let (b, a) = (before?, after?);
    (connections > 0).then(|| (a as f64 - b as f64) / connections as f64)
}
