//! `storm`: N clients spread over a few groups, a sender that keeps sending (and whose ack
//! latency is the probe of the node's responsiveness), then every client cut at once (RST, no
//! close frame). They reconnect with the SDK's backoff (full jitter, honouring 503 and 4006
//! hints) and `resume` with their cursors; each must end with every `seq` exactly once.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use crate::account::Accounts;
use crate::args::StormArgs;
use crate::conn::{self, ConnectError, Endpoint, Ws};
use crate::frame::{self, now_ns, Incoming};
use crate::load::{self, receive, Ready, HEARTBEAT_EVERY};
use crate::meter::{Meter, Percentiles};
use crate::progress::Progress;
use crate::report::{Report, StormResult};
use crate::tally::Tally;
use crate::usage::{self, CpuMark};

/// Where the storm is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connected,
    Cut,
    Stop,
}

/// A probe send without an ack for this long counts as unanswered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

struct Shared {
    endpoint: Endpoint,
    channels: Vec<String>,
    meter: Arc<Meter>,
    stage: watch::Receiver<Stage>,
    handshakes: Semaphore,
    source_addrs: u8,
    backoff_base: Duration,
    backoff_cap: Duration,
    /// When the cut happened (ns since the epoch).
    cut_at: AtomicU64,
    /// Milliseconds from the cut to each resume.
    resumes: Mutex<Vec<u64>>,
    resume_refusals: AtomicU64,
}

pub async fn run(a: &StormArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(a.clients >= 1, "--clients must be at least 1");
    anyhow::ensure!(a.channels >= 1, "--channels must be at least 1");
    anyhow::ensure!(a.rate > 0.0, "--rate must be above 0");
    let common = &a.common;
    let base = super::first_server(common)?;
    let users_n = a.users.unwrap_or(a.clients.min(1000)).max(1);
    let mut accounts = Accounts::load(&common.accounts, &common.user_prefix)?;
    // Users 0..users_n are the clients; the one after them sends and probes.
    let users = accounts.users(base, users_n + 1).await?;
    let sender = users[users_n].clone();
    let mut channels = Vec::with_capacity(a.channels);
    for k in 0..a.channels {
        let members: Vec<_> = users[..users_n]
            .iter()
            .enumerate()
            .filter(|(u, _)| u % a.channels == k)
            .map(|(_, acc)| acc.clone())
            .collect();
        let key = format!("storm-{k}-of-{}-users-{users_n}", a.channels);
        channels.push(accounts.group(base, &key, &sender, &members).await?);
    }

    let meter = Arc::new(Meter::new());
    let progress = Progress::start("storm", common.json, Arc::clone(&meter));
    let (stage_tx, stage_rx) = watch::channel(Stage::Connected);
    let shared = Arc::new(Shared {
        endpoint: Endpoint::resolve(base).await?,
        channels,
        meter: Arc::clone(&meter),
        stage: stage_rx,
        handshakes: Semaphore::new(common.connect_concurrency.max(1)),
        source_addrs: common.source_addrs,
        backoff_base: a.backoff_base,
        backoff_cap: a.backoff_cap,
        cut_at: AtomicU64::new(u64::MAX),
        resumes: Mutex::new(Vec::with_capacity(a.clients)),
        resume_refusals: AtomicU64::new(0),
    });

    progress.phase("connecting");
    let started = Instant::now();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(a.clients);
    for i in 0..a.clients {
        let u = i % users_n;
        let token = users[u].token.clone();
        let shared = Arc::clone(&shared);
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(client(
            shared,
            i,
            token,
            u % a.channels,
            ready,
        )));
    }
    drop(ready_tx);
    let mut bases = Vec::with_capacity(a.clients);
    let mut errors = Vec::new();
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(b) => bases.push(b),
            Err(e) => {
                Meter::bump(&meter.failures);
                errors.push(e);
            }
        }
        if bases.len() + errors.len() == a.clients {
            break;
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        !bases.is_empty(),
        "no client could connect: {}",
        errors.first().map_or("unknown", String::as_str)
    );

    // The sender: its own connection, never cut; its acks are the probe.
    let (probe_stop_tx, probe_stop_rx) = watch::channel(false);
    let probe = {
        let shared = Arc::clone(&shared);
        let token = sender.token.clone();
        let rate = a.rate;
        tokio::spawn(async move { probe(shared, token, rate, probe_stop_rx).await })
    };
    progress.phase("warm-up");
    tokio::time::sleep(common.warmup).await;

    progress.phase("storm");
    let pids = &common.server_pids;
    let mark = CpuMark::now(pids);
    let cut_at = now_ns();
    shared.cut_at.store(cut_at, Relaxed);
    meter.set_window(cut_at, u64::MAX);
    let cut = Instant::now();
    let _ = stage_tx.send(Stage::Cut);
    let deadline = cut + a.recovery_timeout;
    let resumed = || shared.resumes.lock().map_or(0, |r| r.len());
    while resumed() < bases.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let recovered = resumed() == bases.len();
    let recovery = cut.elapsed();
    let cpu = mark.since(pids);

    progress.phase("draining");
    // Keep sending a little after recovery, so live delivery after resume is checked too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = probe_stop_tx.send(true);
    let probe = probe.await.context("the probe task")??;
    let expected: u64 = bases
        .iter()
        .map(|&(ch, base)| probe.last_acked[ch].saturating_sub(base))
        .sum();
    load::settle(
        || Meter::count(&meter.deliveries),
        || expected,
        Duration::from_secs(3),
    )
    .await;
    let _ = stage_tx.send(Stage::Stop);
    let (mut lost, mut duplicates, mut deliveries) = (0, 0, 0);
    for t in tasks {
        if let Some((ch, tally)) = t.await.context("a client task failed")? {
            lost += tally.missing(probe.last_acked[ch]);
            duplicates += tally.duplicates;
            deliveries += tally.distinct;
        }
    }
    drop(progress);

    let resumes = shared.resumes.lock().map(|r| r.clone()).unwrap_or_default();
    let mut per_second = std::collections::BTreeMap::<u64, u64>::new();
    for ms in &resumes {
        *per_second.entry(ms / 1000).or_default() += 1;
    }
    let recovery_ns = recovery.as_nanos() as u64;
    let during: Vec<u64> = probe
        .acks
        .iter()
        .filter(|(sent, _)| *sent >= cut_at && *sent <= cut_at + recovery_ns)
        .map(|&(_, us)| us)
        .collect();
    let mut report = Report {
        scenario: "storm".into(),
        transport: Some("ws".into()),
        parameters: format!(
            "clients={} channels={} users={users_n} rate={}/s backoff={}..{}",
            a.clients,
            a.channels,
            a.rate,
            humantime::format_duration(a.backoff_base),
            humantime::format_duration(a.backoff_cap)
        ),
        servers: 1,
        connections: bases.len() as u64,
        failures: errors.len() as u64,
        refusals: Meter::count(&meter.refusals),
        dropped: Meter::count(&meter.dropped),
        connect_s: Some(connect_s),
        connects_per_s: Some(bases.len() as f64 / connect_s.max(1e-9)),
        window_s: cpu.wall_s,
        sent: probe.sent,
        acked: probe.acks.len() as u64,
        send_errors: probe.errors,
        rate_limited: probe.rate_limited,
        deliveries,
        expected_deliveries: expected,
        lost,
        duplicates,
        latency: meter.latency(),
        ack_latency: Percentiles::of_samples(&probe.acks.iter().map(|a| a.1).collect::<Vec<_>>()),
        server_rss_after_kib: usage::servers_rss_kib(pids),
        storm: Some(StormResult {
            clients: bases.len() as u64,
            resumed: resumes.len() as u64,
            recovery_s: recovered.then_some(recovery.as_secs_f64()),
            peak_resumes_per_s: per_second.values().copied().max().unwrap_or(0),
            resume_refusals: shared.resume_refusals.load(Relaxed),
            probe_ack: Percentiles::of_samples(&during),
            probe_timeouts: probe.unanswered,
        }),
        ..Report::default()
    };
    report.set_cpu(cpu, deliveries);
    report.hints = load::hints(&report, &errors);
    // Refused resumes are the node's admission control at work, not a misconfiguration.
    report
        .hints
        .retain(|h| !h.starts_with("the server refused connections"));
    if report.refusals > 0 {
        report.hints.push("resumes refused with 4006 are the node's admission control (--resume-rate, --resume-burst; 2,500/s by default); raising them trades the node's CPU for a faster recovery".into());
    }
    if !recovered {
        report.hints.push(format!(
            "only {} of {} clients resumed within --recovery-timeout",
            resumes.len(),
            bases.len()
        ));
    }
    Ok(report)
}

/// One storm client: connect, receive, be cut, reconnect with backoff and resume, receive.
async fn client(
    shared: Arc<Shared>,
    index: usize,
    token: String,
    ch: usize,
    ready: Ready,
) -> Option<(usize, Tally)> {
    let channel = shared.channels[ch].as_str();
    let meter = &*shared.meter;
    let source = shared.endpoint.source(index, shared.source_addrs);
    let (mut ws, mut tally) = load::start_member(
        &shared.endpoint,
        source,
        &token,
        &shared.handshakes,
        meter,
        channel,
        ch,
        &ready,
    )
    .await?;
    let mut stage = shared.stage.clone();

    // Before the cut.
    if !pump(&mut ws, &mut tally, channel, meter, &mut stage, Stage::Cut).await {
        tally.flush(meter);
        return Some((ch, tally));
    }
    // The cut: reset the connection, no close frame. A zero linger sends RST at once and does
    // not block on drop (the deprecation warns about non-zero lingers).
    #[allow(deprecated)]
    let _ = ws.get_ref().set_linger(Some(Duration::ZERO));
    drop(ws);

    let mut attempt: u32 = 0;
    let mut ws = loop {
        if *stage.borrow() == Stage::Stop {
            tally.flush(meter);
            return Some((ch, tally));
        }
        tokio::time::sleep(confab_client::backoff_delay(
            shared.backoff_base,
            shared.backoff_cap,
            attempt,
        ))
        .await;
        attempt = attempt.saturating_add(1);
        let result = async {
            let mut ws = conn::open(&shared.endpoint, source).await?;
            let resume = frame::resume(&token, channel, tally.high, &tally.others);
            conn::authenticate(&mut ws, resume, |f: &Incoming<'_>| {
                receive(&mut tally, channel, f, meter)
            })
            .await?;
            Ok::<_, ConnectError>(ws)
        }
        .await;
        match result {
            Ok(ws) => break ws,
            Err(ConnectError::Refused { retry_after, .. }) => {
                shared.resume_refusals.fetch_add(1, Relaxed);
                Meter::bump(&meter.refusals);
                tokio::time::sleep(retry_after).await;
            }
            Err(ConnectError::Auth) => {
                Meter::bump(&meter.dropped);
                tally.flush(meter);
                return Some((ch, tally));
            }
            Err(_) => {
                shared.resume_refusals.fetch_add(1, Relaxed);
            }
        }
    };
    let since_cut = now_ns().saturating_sub(shared.cut_at.load(Relaxed)) / 1_000_000;
    if let Ok(mut r) = shared.resumes.lock() {
        r.push(since_cut);
    }
    Meter::bump(&meter.connected);
    pump(&mut ws, &mut tally, channel, meter, &mut stage, Stage::Stop).await;
    tally.flush(meter);
    let _ = ws.close(None).await;
    Some((ch, tally))
}

/// Receives until the stage reaches `until` (true) or the connection ends (false).
async fn pump(
    ws: &mut Ws,
    tally: &mut Tally,
    channel: &str,
    meter: &Meter,
    stage: &mut watch::Receiver<Stage>,
    until: Stage,
) -> bool {
    let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
    heartbeat.tick().await;
    loop {
        if *stage.borrow() == until || *stage.borrow() == Stage::Stop {
            return true;
        }
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if let Some(f) = Incoming::parse(text.as_str()) {
                        receive(tally, channel, &f, meter);
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    Meter::bump(&meter.dropped);
                    return false;
                }
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                let _ = ws.send(Message::text(frame::HEARTBEAT)).await;
            }
            _ = stage.changed() => {}
        }
    }
}

/// What the sender saw.
struct ProbeResult {
    sent: u64,
    /// (send time ns, ack latency µs) of each acked send.
    acks: Vec<(u64, u64)>,
    errors: u64,
    rate_limited: u64,
    /// Sends without an ack within [`PROBE_TIMEOUT`].
    unanswered: u64,
    /// Highest acked seq per channel.
    last_acked: Vec<u64>,
}

/// The sender: sends round robin into the channels at `rate` until told to stop, then waits for
/// the last acks.
async fn probe(
    shared: Arc<Shared>,
    token: String,
    rate: f64,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<ProbeResult> {
    let (mut ws, _) = conn::connect_identified(&shared.endpoint, None, &token, 20, || {})
        .await
        .context("connecting the sender")?;
    let size = frame::MIN_BODY + 40;
    let mut sent_at: Vec<u64> = Vec::new();
    let mut out = ProbeResult {
        sent: 0,
        acks: Vec::new(),
        errors: 0,
        rate_limited: 0,
        unanswered: 0,
        last_acked: vec![0; shared.channels.len()],
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let run_tag = now_ns() / 1_000_000;
    let mut stopping: Option<Instant> = None;
    loop {
        if let Some(since) = stopping {
            let answered = out.acks.len() as u64 + out.errors;
            if answered >= out.sent || since.elapsed() > PROBE_TIMEOUT {
                break;
            }
        }
        tokio::select! {
            _ = tick.tick(), if stopping.is_none() => {
                let k = out.sent;
                let now = now_ns();
                let ch = (k as usize) % shared.channels.len();
                let text = frame::send(k, &shared.channels[ch], &format!("s{run_tag}-{k}"), &frame::body(now, size));
                sent_at.push(now);
                out.sent += 1;
                Meter::bump(&shared.meter.sent);
                ws.send(Message::text(text)).await.context("the sender's connection failed")?;
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let Some(f) = Incoming::parse(text.as_str()) else { continue };
                    match f.op() {
                        "ack" => {
                            let now = now_ns();
                            if let Some(&sent) = f.reference.and_then(|r| sent_at.get(r as usize)) {
                                out.acks.push((sent, now.saturating_sub(sent) / 1000));
                            }
                            if let (Some(seq), Some(ch)) = (f.seq, f.channel_id) {
                                if let Some(i) = shared.channels.iter().position(|c| c == ch) {
                                    out.last_acked[i] = out.last_acked[i].max(seq);
                                }
                            }
                            Meter::bump(&shared.meter.acked);
                        }
                        "error" => {
                            out.errors += 1;
                            if f.code == Some(1007) {
                                out.rate_limited += 1;
                            }
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(c))) => anyhow::bail!("the sender was closed: {}", conn::close_error(c)),
                Some(Err(e)) => anyhow::bail!("the sender's connection failed: {e}"),
                None => anyhow::bail!("the sender's connection ended"),
                Some(Ok(_)) => {}
            },
            _ = stop.changed(), if stopping.is_none() => stopping = Some(Instant::now()),
            _ = tokio::time::sleep(Duration::from_millis(50)), if stopping.is_some() => {}
        }
    }
    let limit = PROBE_TIMEOUT.as_micros() as u64;
    let in_time = out.acks.iter().filter(|(_, us)| *us <= limit).count() as u64;
    out.unanswered = out.sent.saturating_sub(in_time + out.errors);
    Ok(out)
}
