//! The engine of `room`, `dm` and `transports`: members connect (each to one channel of
//! interest, over one transport), senders among them send timestamped messages at a fixed rate,
//! every member records what it receives, and the run ends with an exact count of losses and
//! duplicates per (receiver, seq).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::args::Common;
use crate::conn::{self, ConnectError, Endpoint, Ws};
use crate::frame::{self, now_ns, Incoming};
use crate::meter::Meter;
use crate::progress::Progress;
use crate::report::Report;
use crate::tally::Tally;
use crate::transport::{self, HttpCtx, Kind};
use crate::usage::{self, CpuMark};

/// Sends remembered for ack latency, by `ref` modulo this.
const ACK_RING: usize = 4096;

/// How often every connection sends a heartbeat (the server wants one every 30 s).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(25);

/// Where a run is; every member watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Sending,
    Draining,
    Stop,
}

/// One connected member of a run.
#[derive(Debug, Clone)]
pub struct Member {
    /// Index into the run's endpoints.
    pub endpoint: usize,
    pub token: String,
    /// Index into the run's channels: the one this member counts.
    pub channel: usize,
    pub transport: Kind,
    /// Messages per second this member sends (0: receives only). Senders use the WebSocket.
    pub send_rate: f64,
}

/// A run to perform.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub scenario: String,
    pub parameters: String,
    pub transport: Kind,
    pub channels: Vec<String>,
    pub members: Vec<Member>,
    pub size: usize,
    /// Naive polling: how often each client polls.
    pub poll_interval: Duration,
}

/// What every member task shares.
struct Ctx {
    endpoints: Vec<Endpoint>,
    http: Vec<HttpCtx>,
    channels: Vec<String>,
    meter: Arc<Meter>,
    /// Highest acked seq per channel.
    last_acked: Vec<AtomicU64>,
    phase: watch::Receiver<Phase>,
    handshakes: Semaphore,
    source_addrs: u8,
    size: usize,
    poll_interval: Duration,
    /// Distinguishes this run's client ids from every earlier run's.
    run_tag: u64,
}

/// Records a channel event for the member's channel.
pub fn receive(tally: &mut Tally, channel: &str, f: &Incoming<'_>, meter: &Meter) {
    if let (Some(seq), Some(ch)) = (f.seq, f.channel_id) {
        if ch == channel && matches!(f.op(), "event" | "") {
            tally.record(seq, f.sent_at(), now_ns(), meter);
        }
    }
}

/// Waits for the next tick of an interval that may not exist yet.
async fn next_tick(tick: &mut Option<Interval>) {
    match tick {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Where a member reports its start: its channel's index and the `seq` it had at `ready`, or why
/// it could not start.
pub type Ready = mpsc::UnboundedSender<Result<(usize, u64), String>>;

/// Connects and identifies a member of `channel` (index `ch`) through one of the `handshakes`
/// permits, counting refusals and the connection in `meter` and reporting the start on `ready`.
/// Returns the socket and its tally, or `None` when the member could not start.
#[allow(clippy::too_many_arguments)]
pub async fn start_member(
    endpoint: &Endpoint,
    source: Option<IpAddr>,
    token: &str,
    handshakes: &Semaphore,
    meter: &Meter,
    channel: &str,
    ch: usize,
    ready: &Ready,
) -> Option<(Ws, Tally)> {
    let connected = {
        let _permit = handshakes.acquire().await.ok()?;
        conn::connect_identified(endpoint, source, token, 20, || Meter::bump(&meter.refusals)).await
    };
    let (ws, channels) = match connected {
        Ok(ok) => ok,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return None;
        }
    };
    let Some(base) = channels.iter().find(|(id, _)| id == channel).map(|c| c.1) else {
        let _ = ready.send(Err(format!("not a member of channel {channel}")));
        return None;
    };
    Meter::bump(&meter.connected);
    let _ = ready.send(Ok((ch, base)));
    let mut tally = Tally::new(base);
    tally.others = channels
        .into_iter()
        .filter(|(id, _)| id != channel)
        .collect();
    Some((ws, tally))
}

/// One text frame from the server to a member of `channel`: an event goes to `tally` (the
/// common case read without a full parse), a sender's answer to [`count_answer`].
pub(crate) fn take_text(
    text: &str,
    tally: &mut Tally,
    channel: &str,
    ring: &[u64],
    meter: &Meter,
    last_acked: &AtomicU64,
) {
    if let Some((ch, seq, sent)) = frame::fast_event(text) {
        if ch == channel {
            tally.record(seq, sent, now_ns(), meter);
        }
        return;
    }
    let Some(f) = Incoming::parse(text) else {
        return;
    };
    match f.op() {
        "event" => receive(tally, channel, &f, meter),
        _ => count_answer(&f, ring, meter, last_acked),
    }
}

/// Counts a sender's answers: an `ack` (its latency, from `ring`, the send times by reference,
/// empty for a member that does not send; and the channel's highest acked `seq`) or an `error`
/// (1007 `rate_limited` among them). Other frames are left alone.
pub(crate) fn count_answer(f: &Incoming<'_>, ring: &[u64], meter: &Meter, last_acked: &AtomicU64) {
    match f.op() {
        "ack" => {
            Meter::bump(&meter.acked);
            if let (Some(r), false) = (f.reference, ring.is_empty()) {
                let sent = ring[(r as usize) % ACK_RING];
                meter.record_ack(sent, now_ns().saturating_sub(sent) / 1000);
            }
            if let Some(seq) = f.seq {
                last_acked.fetch_max(seq, Relaxed);
            }
        }
        "error" => {
            Meter::bump(&meter.send_errors);
            if f.code == Some(1007) {
                Meter::bump(&meter.rate_limited);
            }
        }
        _ => {}
    }
}

/// A WebSocket member: connect, identify, then receive (and send, if a sender) until `Stop`.
async fn ws_member(ctx: Arc<Ctx>, index: usize, m: Member, ready: Ready) -> Option<(usize, Tally)> {
    let endpoint = &ctx.endpoints[m.endpoint];
    let channel = ctx.channels[m.channel].as_str();
    let meter = &*ctx.meter;
    let (mut ws, mut tally) = start_member(
        endpoint,
        endpoint.source(index, ctx.source_addrs),
        &m.token,
        &ctx.handshakes,
        meter,
        channel,
        m.channel,
        &ready,
    )
    .await?;

    let mut phase = ctx.phase.clone();
    let mut sending: Option<Interval> = None;
    let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
    heartbeat.tick().await;
    let mut ring = vec![0u64; if m.send_rate > 0.0 { ACK_RING } else { 0 }];
    let mut next_ref: u64 = 0;
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    take_text(text.as_str(), &mut tally, channel, &ring, meter, &ctx.last_acked[m.channel]);
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    Meter::bump(&meter.dropped);
                    break;
                }
                Some(Ok(_)) => {}
            },
            _ = next_tick(&mut sending) => {
                let sent = now_ns();
                let body = frame::body(sent, ctx.size);
                let client_id = format!("b{}-{index}-{next_ref}", ctx.run_tag);
                ring[(next_ref as usize) % ACK_RING] = sent;
                let text = frame::send(next_ref, channel, &client_id, &body);
                next_ref += 1;
                Meter::bump(&meter.sent);
                if ws.send(Message::text(text)).await.is_err() {
                    Meter::bump(&meter.dropped);
                    break;
                }
            }
            _ = heartbeat.tick() => {
                if ws.send(Message::text(frame::HEARTBEAT)).await.is_err() {
                    Meter::bump(&meter.dropped);
                    break;
                }
            }
            changed = phase.changed() => {
                let now = if changed.is_err() { Phase::Stop } else { *phase.borrow_and_update() };
                match now {
                    Phase::Sending if m.send_rate > 0.0 => {
                        let period = Duration::from_secs_f64(1.0 / m.send_rate);
                        // Senders start at random offsets within one period, spread out.
                        let offset = period.mul_f64(rand::thread_rng().gen::<f64>());
                        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                        // Open loop: a late tick is sent at once, so the offered rate holds.
                        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
                        sending = Some(tick);
                    }
                    Phase::Draining => sending = None,
                    Phase::Stop => break,
                    _ => {}
                }
            }
        }
    }
    tally.flush(meter);
    let _ = ws.close(None).await;
    Some((m.channel, tally))
}

/// Runs `spec` against `endpoints` and measures it.
pub async fn run(common: &Common, spec: LoadSpec) -> anyhow::Result<Report> {
    let endpoints = Endpoint::resolve_all(&common.servers).await?;
    let meter = Arc::new(Meter::new());
    let progress = Progress::start(&spec.scenario, common.json, Arc::clone(&meter));
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let http = endpoints
        .iter()
        .map(|e| HttpCtx::new(&e.base, Arc::clone(&meter)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ctx = Arc::new(Ctx {
        http,
        channels: spec.channels.clone(),
        meter: Arc::clone(&meter),
        last_acked: spec.channels.iter().map(|_| AtomicU64::new(0)).collect(),
        phase: phase_rx,
        handshakes: Semaphore::new(common.connect_concurrency.max(1)),
        source_addrs: common.source_addrs,
        size: spec.size.max(frame::MIN_BODY),
        poll_interval: spec.poll_interval,
        run_tag: now_ns() / 1_000_000,
        endpoints,
    });

    progress.phase("connecting");
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(spec.members.len());
    for (index, m) in spec.members.iter().cloned().enumerate() {
        let ctx = Arc::clone(&ctx);
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            match m.transport {
                Kind::Ws => ws_member(ctx, index, m, ready).await,
                kind => http_member(ctx, kind, m, ready).await,
            }
        }));
    }
    drop(ready_tx);
    let mut bases: Vec<(usize, u64)> = Vec::with_capacity(spec.members.len());
    let mut errors: Vec<String> = Vec::new();
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(b) => bases.push(b),
            Err(e) => {
                Meter::bump(&meter.failures);
                errors.push(e);
            }
        }
        if bases.len() + errors.len() == spec.members.len() {
            break;
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    if bases.is_empty() {
        let _ = phase_tx.send(Phase::Stop);
        anyhow::bail!(
            "no member could connect: {}",
            errors.first().map_or("unknown", String::as_str)
        );
    }

    let pids = &common.server_pids;
    progress.phase("warm-up");
    let window_start = now_ns() + common.warmup.as_nanos() as u64;
    meter.set_window(
        window_start,
        window_start + common.duration.as_nanos() as u64,
    );
    let _ = phase_tx.send(Phase::Sending);
    let sending_since = Instant::now();
    tokio::time::sleep(common.warmup).await;
    progress.phase("measuring");
    let mark = CpuMark::now(pids);
    let requests_before = Meter::count(&meter.http_requests);
    let sent_before = Meter::count(&meter.sent);
    tokio::time::sleep(common.duration).await;
    let cpu = mark.since(pids);
    let requests = Meter::count(&meter.http_requests) - requests_before;
    let sent_in_window = Meter::count(&meter.sent) - sent_before;

    progress.phase("draining");
    let _ = phase_tx.send(Phase::Draining);
    // Wait for every send's answer while answers keep coming (a saturated server may be far
    // behind), then for the deliveries.
    let answered = || Meter::count(&meter.acked) + Meter::count(&meter.send_errors);
    settle(
        answered,
        || Meter::count(&meter.sent),
        Duration::from_secs(5),
    )
    .await;
    let acked_per_s = Meter::count(&meter.acked) as f64 / sending_since.elapsed().as_secs_f64();
    let last: Vec<u64> = ctx.last_acked.iter().map(|a| a.load(Relaxed)).collect();
    let expected: u64 = bases
        .iter()
        .map(|&(ch, base)| last[ch].saturating_sub(base))
        .sum();
    let quiet = Duration::from_secs(2) + spec.poll_interval;
    settle(|| Meter::count(&meter.deliveries), || expected, quiet).await;
    let unanswered = Meter::count(&meter.sent).saturating_sub(answered());
    let _ = phase_tx.send(Phase::Stop);
    let mut lost = 0;
    let mut duplicates = 0;
    let mut deliveries = 0;
    for task in tasks {
        if let Some((ch, tally)) = task.await.context("a member task failed")? {
            lost += tally.missing(last[ch]);
            duplicates += tally.duplicates;
            deliveries += tally.distinct;
        }
    }
    drop(progress);

    let window_deliveries = meter.window_deliveries();
    let mut report = Report {
        scenario: spec.scenario,
        transport: Some(spec.transport.name().to_owned()),
        parameters: spec.parameters,
        servers: ctx.endpoints.len(),
        connections: bases.len() as u64,
        failures: errors.len() as u64,
        refusals: Meter::count(&meter.refusals),
        dropped: Meter::count(&meter.dropped),
        connect_s: Some(connect_s),
        connects_per_s: Some(bases.len() as f64 / connect_s.max(1e-9)),
        window_s: cpu.wall_s,
        sent: Meter::count(&meter.sent),
        sent_per_s: Some(sent_in_window as f64 / cpu.wall_s.max(1e-9)),
        acked: Meter::count(&meter.acked),
        acked_per_s: Some(acked_per_s),
        send_errors: Meter::count(&meter.send_errors),
        rate_limited: Meter::count(&meter.rate_limited),
        deliveries,
        expected_deliveries: expected,
        lost,
        duplicates,
        deliveries_per_s: Some(window_deliveries as f64 / cpu.wall_s.max(1e-9)),
        latency: meter.latency(),
        ack_latency: meter.ack_latency(),
        server_rss_after_kib: usage::servers_rss_kib(pids),
        http_requests_per_s: (spec.transport != Kind::Ws)
            .then(|| requests as f64 / cpu.wall_s.max(1e-9)),
        ..Report::default()
    };
    report.set_cpu(cpu, window_deliveries);
    report.hints = hints(&report, &errors);
    if unanswered > 0 {
        report.hints.push(format!(
            "{unanswered} sends had no answer when the run ended: the server was saturated (acks far behind), so these figures are past its capacity"
        ));
    }
    Ok(report)
}

/// Waits until `count` reaches `target` and then holds still for half a second (so late extras
/// are seen too), or until it makes no progress for `quiet`, or for two minutes at most.
pub async fn settle(count: impl Fn() -> u64, target: impl Fn() -> u64, quiet: Duration) {
    let cap = Instant::now() + Duration::from_secs(120);
    let mut seen = count();
    let mut since = Instant::now();
    loop {
        let reached = seen >= target();
        if (reached && since.elapsed() >= Duration::from_millis(500))
            || since.elapsed() >= quiet
            || Instant::now() >= cap
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = count();
        if now != seen {
            seen = now;
            since = Instant::now();
        }
    }
}

/// Advice for refusals seen in a run.
pub fn hints(report: &Report, errors: &[String]) -> Vec<String> {
    let mut hints = Vec::new();
    if report.rate_limited > 0 {
        hints.push("sends were refused with 1007 rate_limited: start the server with --send-rate and --send-burst above each sender's rate".into());
    }
    if report.refusals > 0 {
        hints.push("the server refused connections (503 or 4006 overloaded): raise --max-connections, --identify-rate/--identify-burst (and --resume-rate/--resume-burst for storms)".into());
    }
    if let Some(e) = errors.first() {
        hints.push(format!(
            "{} connection(s) failed, the first with: {e}",
            errors.len()
        ));
    }
    if report.dropped > 0 {
        hints.push(format!(
            "{} connection(s) ended during the run (a 4002 slow_consumer close means the generator could not keep up)",
            report.dropped
        ));
    }
    hints
}

/// A member over an HTTP transport (receives only).
async fn http_member(ctx: Arc<Ctx>, kind: Kind, m: Member, ready: Ready) -> Option<(usize, Tally)> {
    let channel = ctx.channels[m.channel].clone();
    let http = &ctx.http[m.endpoint];
    let sent_ready = ready.clone();
    let on_ready = move |base: u64| {
        let _ = sent_ready.send(Ok((m.channel, base)));
    };
    let result = match kind {
        Kind::Sse => transport::sse(http, &m.token, &channel, on_ready, ctx.phase.clone()).await,
        Kind::Longpoll => {
            transport::long_poll(http, &m.token, &channel, on_ready, ctx.phase.clone()).await
        }
        Kind::Poll => {
            transport::poll(
                http,
                &m.token,
                &channel,
                ctx.poll_interval,
                on_ready,
                ctx.phase.clone(),
            )
            .await
        }
        Kind::Ws => Err(ConnectError::Io(
            "WebSocket members are not HTTP members".into(),
        )),
    };
    match result {
        Ok(Some(tally)) => Some((m.channel, tally)),
        Ok(None) => None,
        Err(e) => {
            // Reported as a failure only if it never got ready.
            let _ = ready.send(Err(e.to_string()));
            None
        }
    }
}
