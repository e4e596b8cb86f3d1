//! One soak client: it connects, receives (and sends at its rate), and — if it is one of the
//! resuming clients — drops its connection on a schedule (a clean close and a reset in turn) and
//! comes back with `resume` from its cursor, the missed events replayed into the same tally.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use super::{Client, Shared};
use crate::conn::{self, ConnectError, Ws};
use crate::frame::{self, now_ns, Incoming};
use crate::load::{self, Phase, Ready, HEARTBEAT_EVERY};
use crate::meter::Meter;
use crate::tally::Tally;

/// Sends remembered for ack latency, by `ref` modulo this.
const ACK_RING: usize = 4096;

/// Attempts at resuming before a client gives up (each failure counts as an error).
const RESUME_ATTEMPTS: u32 = 20;

/// How a connection's session ended.
enum End {
    /// The run is over.
    Stop,
    /// Time to drop and resume (a resuming client), or the connection ended unasked.
    Reconnect,
}

/// One soak client: connect, then sessions (receive, send, drop and resume) until the run stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    index: usize,
    c: Client,
    ready: Ready,
) -> Option<(usize, Tally)> {
    let channel = shared.channels[c.channel].clone();
    let meter = &*shared.meter;
    let source = shared.endpoint.source(index, shared.source_addrs);
    let (mut ws, mut tally) = load::start_member(
        &shared.endpoint,
        source,
        &c.token,
        &shared.handshakes,
        meter,
        &channel,
        c.channel,
        &ready,
    )
    .await?;
    let mut phase = shared.phase.clone();
    let mut ring = vec![0u64; if c.send_rate > 0.0 { ACK_RING } else { 0 }];
    let mut next_ref = 0u64;
    let mut cycle = 0u32;
    loop {
        let end = session(
            &shared,
            &mut ws,
            &mut tally,
            &c,
            index,
            &channel,
            &mut phase,
            &mut ring,
            &mut next_ref,
        )
        .await;
        tally.flush(meter);
        if matches!(end, End::Stop) {
            let _ = ws.close(None).await;
            return Some((c.channel, tally));
        }
        // Drop: a clean close on even cycles, a reset (no close frame) on odd ones.
        cycle += 1;
        if cycle.is_multiple_of(2) {
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
        } else {
            #[allow(deprecated)]
            let _ = ws.get_ref().set_linger(Some(Duration::ZERO));
        }
        drop(ws);
        let away = Duration::from_millis(rand::thread_rng().gen_range(100..1000));
        tokio::time::sleep(away).await;
        match resume(&shared, source, &c.token, &channel, &mut tally).await {
            Some(next) => {
                shared.resumes.fetch_add(1, Relaxed);
                ws = next;
            }
            None => {
                tally.flush(meter);
                return Some((c.channel, tally));
            }
        }
    }
}

/// Reconnects with `resume` from the tally's cursor, replaying missed events into it; retries
/// refusals after the server's hint and failures with the SDK's backoff. `None`: given up.
async fn resume(
    shared: &Shared,
    source: Option<IpAddr>,
    token: &str,
    channel: &str,
    tally: &mut Tally,
) -> Option<Ws> {
    let meter = &*shared.meter;
    for attempt in 0..RESUME_ATTEMPTS {
        if *shared.phase.borrow() == Phase::Stop {
            return None;
        }
        let result = async {
            let _permit = shared
                .handshakes
                .acquire()
                .await
                .map_err(|e| ConnectError::Io(e.to_string()))?;
            let mut ws = conn::open(&shared.endpoint, source).await?;
            let frame = frame::resume(token, channel, tally.high, &tally.others);
            // Replayed events count for losses, not for latency: they waited for the
            // client to come back.
            conn::authenticate(&mut ws, frame, |f: &Incoming<'_>| {
                if let (Some(seq), Some(ch)) = (f.seq, f.channel_id) {
                    if ch == channel && f.op() == "event" {
                        tally.record(seq, None, now_ns(), meter);
                    }
                }
            })
            .await?;
            Ok::<_, ConnectError>(ws)
        }
        .await;
        match result {
            Ok(ws) => return Some(ws),
            Err(ConnectError::Refused { retry_after, .. }) => {
                Meter::bump(&meter.refusals);
                tokio::time::sleep(retry_after).await;
            }
            Err(_) => {
                tokio::time::sleep(confab_client::backoff_delay(
                    Duration::from_millis(250),
                    Duration::from_secs(5),
                    attempt,
                ))
                .await;
            }
        }
    }
    shared.errors.fetch_add(1, Relaxed);
    None
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

/// One connection's life: receive (and send at the client's rate while the run sends) until the
/// run stops, the client's time to drop comes, or the connection ends unasked (an error).
#[allow(clippy::too_many_arguments)]
async fn session(
    shared: &Shared,
    ws: &mut Ws,
    tally: &mut Tally,
    c: &Client,
    index: usize,
    channel: &str,
    phase: &mut watch::Receiver<Phase>,
    ring: &mut [u64],
    next_ref: &mut u64,
) -> End {
    let meter = &*shared.meter;
    let sending_now = |p: Phase| p == Phase::Sending && c.send_rate > 0.0;
    let start_sending = || {
        let period = Duration::from_secs_f64(1.0 / c.send_rate);
        let offset = period.mul_f64(rand::thread_rng().gen::<f64>());
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        tick
    };
    let mut sending = sending_now(*phase.borrow()).then(start_sending);
    let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
    heartbeat.tick().await;
    // Latencies reach the shared histogram at least every second, so each sample holds its own.
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    let stay = shared
        .reconnect_every
        .mul_f64(rand::thread_rng().gen_range(0.5..1.5));
    // Clients drop only while the run sends: once it drains, every client stays to the end.
    let mut dropping = c.reconnects && !matches!(*phase.borrow(), Phase::Draining | Phase::Stop);
    let drop_at = tokio::time::sleep(stay);
    tokio::pin!(drop_at);
    loop {
        if *phase.borrow() == Phase::Stop {
            return End::Stop;
        }
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    load::take_text(text.as_str(), tally, channel, ring, meter, &shared.last_acked[c.channel]);
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    Meter::bump(&meter.dropped);
                    return End::Reconnect;
                }
                Some(Ok(_)) => {}
            },
            _ = next_tick(&mut sending) => {
                let sent = now_ns();
                let body = frame::body(sent, shared.size);
                let client_id = format!("s{}-{index}-{next_ref}", shared.run_tag);
                ring[(*next_ref as usize) % ACK_RING] = sent;
                let text = frame::send(*next_ref, channel, &client_id, &body);
                *next_ref += 1;
                Meter::bump(&meter.sent);
                if ws.send(Message::text(text)).await.is_err() {
                    Meter::bump(&meter.dropped);
                    return End::Reconnect;
                }
            }
            _ = heartbeat.tick() => {
                if ws.send(Message::text(frame::HEARTBEAT)).await.is_err() {
                    Meter::bump(&meter.dropped);
                    return End::Reconnect;
                }
            }
            _ = flush.tick() => tally.flush(meter),
            _ = &mut drop_at, if dropping => return End::Reconnect,
            changed = phase.changed() => {
                let now = if changed.is_err() { Phase::Stop } else { *phase.borrow_and_update() };
                match now {
                    Phase::Stop => return End::Stop,
                    p if sending_now(p) && sending.is_none() => sending = Some(start_sending()),
                    Phase::Draining => {
                        sending = None;
                        dropping = false;
                    }
                    _ => {}
                }
            }
        }
    }
}
