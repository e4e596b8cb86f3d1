//! `soak`: mixed load for a long time against one Confab server — a room (some members sending,
//! some dropping their connection and resuming on a schedule), DM pairs chatting, history pages
//! read over REST — while the server's RSS, open files and the interval's latency are sampled.
//! Retention pruning runs in the server (its `--retention-*` flags). The run ends with an exact
//! count of losses and duplicates per (receiver, seq), as `room` does, and a [`verdict`].

mod client;
pub mod verdict;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use confab_client::http::HistoryQuery;
use confab_client::Http;
use confab_proto::ChannelId;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::MissedTickBehavior;

use crate::account::Accounts;
use crate::args::SoakArgs;
use crate::conn::Endpoint;
use crate::frame::{self, now_ns};
use crate::load::{self, Phase};
use crate::meter::{Meter, Percentiles};
use crate::report::Report;
use crate::usage::{self, CpuMark};

pub use verdict::{Sample, SoakResult, Verdict};

/// What every soak task shares.
struct Shared {
    endpoint: Endpoint,
    channels: Vec<String>,
    meter: Arc<Meter>,
    last_acked: Vec<AtomicU64>,
    phase: watch::Receiver<Phase>,
    handshakes: Semaphore,
    source_addrs: u8,
    size: usize,
    reconnect_every: Duration,
    run_tag: u64,
    resumes: AtomicU64,
    history_reads: AtomicU64,
    /// The highest retention horizon (`pruned_through`) the history reads saw.
    pruned_through: AtomicU64,
    /// Errors outside the meter's counters: resumes given up, failed history reads.
    errors: AtomicU64,
}

impl Shared {
    /// Every error of the run so far.
    fn errors(&self) -> u64 {
        let m = &self.meter;
        self.errors.load(Relaxed)
            + Meter::count(&m.send_errors)
            + Meter::count(&m.dropped)
            + Meter::count(&m.failures)
    }
}

/// One client of the soak.
#[derive(Debug, Clone)]
struct Client {
    token: String,
    channel: usize,
    send_rate: f64,
    /// Drops its connection and resumes, over and over.
    reconnects: bool,
}

pub async fn run(a: &SoakArgs) -> anyhow::Result<Report> {
    let common = &a.common;
    anyhow::ensure!(a.members >= 1, "--members must be at least 1");
    anyhow::ensure!(
        (1..=a.members).contains(&a.senders),
        "--senders must be between 1 and --members"
    );
    anyhow::ensure!(
        a.senders + a.reconnectors <= a.members,
        "--senders plus --reconnectors must be at most --members (resuming clients only receive)"
    );
    anyhow::ensure!(a.rate > 0.0 && a.rate.is_finite(), "--rate must be above 0");
    anyhow::ensure!(
        a.pairs == 0 || (a.dm_rate > 0.0 && a.dm_rate.is_finite()),
        "--dm-rate must be above 0"
    );
    anyhow::ensure!(
        a.history_rate >= 0.0 && a.history_rate.is_finite(),
        "--history-rate must be 0 or more"
    );
    anyhow::ensure!(
        a.reconnect_every >= Duration::from_secs(1),
        "--reconnect-every must be at least 1s"
    );
    anyhow::ensure!(
        a.sample_every >= Duration::from_millis(100),
        "--sample-every must be at least 100ms"
    );
    anyhow::ensure!(
        common.duration >= a.sample_every * 8,
        "--duration must hold at least 8 samples (--sample-every {}): the verdict compares quarters of the run",
        humantime::format_duration(a.sample_every)
    );
    for (flag, v) in [
        ("--rss-tolerance", a.rss_tolerance),
        ("--fd-tolerance", a.fd_tolerance),
        ("--latency-tolerance", a.latency_tolerance),
    ] {
        anyhow::ensure!(
            v >= 0.0 && v.is_finite(),
            "{flag} must be a percentage of 0 or more"
        );
    }
    let pid = match common.server_pids.as_slice() {
        [pid] => *pid,
        _ => anyhow::bail!(
            "soak needs the server's process id, once: --server-pid PID (it samples its RSS and open files)"
        ),
    };
    anyhow::ensure!(
        usage::rss_kib(pid).is_some() && open_fds(pid).is_some(),
        "cannot read /proc/{pid}/status and /proc/{pid}/fd: run soak as the server's user (or root)"
    );
    let base = super::first_server(common)?;

    // Provisioning: the room's users, then two per pair.
    let mut accounts = Accounts::load(&common.accounts, &common.user_prefix)?;
    let users = accounts.users(base, a.members + 2 * a.pairs).await?;
    let room = accounts
        .group(
            base,
            &format!("soak-{}", a.members),
            &users[0],
            &users[..a.members],
        )
        .await?;
    let mut channels = vec![room];
    let mut clients: Vec<Client> = (0..a.members)
        .map(|i| Client {
            token: users[i].token.clone(),
            channel: 0,
            send_rate: if i < a.senders {
                a.rate / a.senders as f64
            } else {
                0.0
            },
            reconnects: i >= a.senders && i < a.senders + a.reconnectors,
        })
        .collect();
    for p in 0..a.pairs {
        let (x, y) = (&users[a.members + 2 * p], &users[a.members + 2 * p + 1]);
        channels.push(accounts.direct(base, x, y).await?);
        for u in [x, y] {
            clients.push(Client {
                token: u.token.clone(),
                channel: p + 1,
                send_rate: a.dm_rate / 2.0,
                reconnects: false,
            });
        }
    }
    // The history reader reads channel k as one of its members.
    let readers: Vec<(ChannelId, String)> = channels
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let token = clients
                .iter()
                .find(|c| c.channel == k)
                .map(|c| c.token.clone())
                .unwrap_or_default();
            id.parse::<ChannelId>()
                .map(|id| (id, token))
                .map_err(|_| anyhow::anyhow!("channel id {id} is not a number"))
        })
        .collect::<anyhow::Result<_>>()?;

    let meter = Arc::new(Meter::new());
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let shared = Arc::new(Shared {
        endpoint: Endpoint::resolve(base).await?,
        last_acked: channels.iter().map(|_| AtomicU64::new(0)).collect(),
        channels,
        meter: Arc::clone(&meter),
        phase: phase_rx,
        handshakes: Semaphore::new(common.connect_concurrency.max(1)),
        source_addrs: common.source_addrs,
        size: a.size.max(frame::MIN_BODY),
        reconnect_every: a.reconnect_every,
        run_tag: now_ns() / 1_000_000,
        resumes: AtomicU64::new(0),
        history_reads: AtomicU64::new(0),
        pruned_through: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let live = !common.json;
    if live {
        eprintln!("soak: connecting {} clients", clients.len());
    }

    let started = Instant::now();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(clients.len());
    for (index, c) in clients.iter().cloned().enumerate() {
        tasks.push(tokio::spawn(client::run(
            Arc::clone(&shared),
            index,
            c,
            ready_tx.clone(),
        )));
    }
    drop(ready_tx);
    let (mut ready, mut errors) = (0usize, Vec::new());
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ok(_) => ready += 1,
            Err(e) => {
                Meter::bump(&meter.failures);
                errors.push(e);
            }
        }
        if ready + errors.len() == clients.len() {
            break;
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    if ready == 0 {
        let _ = phase_tx.send(Phase::Stop);
        anyhow::bail!(
            "no client could connect: {}",
            errors.first().map_or("unknown", String::as_str)
        );
    }

    // Load: the warm-up, then the sampled soak.
    let _ = phase_tx.send(Phase::Sending);
    let history = tokio::spawn(read_history(
        Arc::clone(&shared),
        base.to_owned(),
        readers,
        a.history_rate,
    ));
    tokio::time::sleep(common.warmup).await;
    let _ = meter.take_latency();
    let soak_start = now_ns();
    meter.set_window(soak_start, u64::MAX);
    let pids = [pid];
    let mark = CpuMark::now(&pids);
    let start = Instant::now();
    let total = common.duration;
    let total_s = total.as_secs_f64();
    let mut samples: Vec<Sample> = Vec::new();
    let mut quarters: Vec<usize> = Vec::new();
    let mut by_quarter: [hdrhistogram::Histogram<u64>; 4] =
        [0; 4].map(|_| Meter::empty_histogram());
    let mut all = Meter::empty_histogram();
    if live {
        eprintln!("{}", verdict::HEADER);
    }
    let counts = |s: &Shared| {
        (
            Meter::count(&s.meter.deliveries),
            Meter::count(&s.meter.sent),
            Meter::count(&s.meter.acked),
            s.errors(),
            s.resumes.load(Relaxed),
            s.history_reads.load(Relaxed),
        )
    };
    let mut before = counts(&shared);
    let mut last_t = 0.0;
    let mut k = 1u32;
    loop {
        let due = (a.sample_every * k).min(total);
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + due)).await;
        let t_s = start.elapsed().as_secs_f64();
        let h = meter.take_latency();
        let now = counts(&shared);
        let dt = (t_s - last_t).max(1e-9);
        let sample = Sample {
            t_s,
            rss_kib: usage::rss_kib(pid),
            open_fds: open_fds(pid),
            deliveries: now.0 - before.0,
            deliveries_per_s: (now.0 - before.0) as f64 / dt,
            sent: now.1 - before.1,
            acked: now.2 - before.2,
            latency: Percentiles::of(&h),
            errors: now.3 - before.3,
            resumes: now.4 - before.4,
            history_reads: now.5 - before.5,
        };
        let q = verdict::quarter(t_s.min(total_s), dt, total_s);
        let _ = by_quarter[q].add(&h);
        let _ = all.add(&h);
        if live {
            eprintln!("{}", verdict::line(&sample));
        }
        samples.push(sample);
        quarters.push(q);
        before = now;
        last_t = t_s;
        if due >= total {
            break;
        }
        k += 1;
    }
    let cpu = mark.since(&pids);
    let rss_after = usage::rss_kib(pid);

    // Drain: the senders stop, every send's answer, then every delivery.
    if live {
        eprintln!("soak: draining");
    }
    let _ = phase_tx.send(Phase::Draining);
    history.abort();
    let answered = || Meter::count(&meter.acked) + Meter::count(&meter.send_errors);
    load::settle(
        answered,
        || Meter::count(&meter.sent),
        Duration::from_secs(5),
    )
    .await;
    let last: Vec<u64> = shared.last_acked.iter().map(|a| a.load(Relaxed)).collect();
    // Expected deliveries need each receiver's base, known to its task; wait for the deliveries
    // to stop progressing instead, then count exactly per receiver.
    load::settle(
        || Meter::count(&meter.deliveries),
        || u64::MAX,
        Duration::from_secs(3),
    )
    .await;
    let _ = phase_tx.send(Phase::Stop);
    let (mut lost, mut duplicates, mut deliveries, mut expected) = (0, 0, 0, 0);
    for task in tasks {
        if let Some((ch, tally)) = task.await.context("a soak client failed")? {
            lost += tally.missing(last[ch]);
            duplicates += tally.duplicates;
            deliveries += tally.distinct;
            expected += last[ch].saturating_sub(tally.base());
        }
    }
    let _ = all.add(meter.take_latency());

    let errors_total = shared.errors();
    let verdict = verdict::judge(
        &samples,
        &quarters,
        &by_quarter,
        lost,
        duplicates,
        errors_total,
        verdict::Thresholds {
            rss: a.rss_tolerance / 100.0,
            fds: a.fd_tolerance / 100.0,
            latency: a.latency_tolerance / 100.0,
            latency_slack_ms: a.latency_slack.as_secs_f64() * 1000.0,
            reconnectors: a.reconnectors,
        },
    );
    let mut report = Report {
        scenario: "soak".into(),
        transport: Some("ws".into()),
        parameters: format!(
            "members={} rate={}/s senders={} pairs={} dm-rate={}/s reconnectors={} reconnect-every={} history-rate={}/s size={} sample-every={}",
            a.members,
            a.rate,
            a.senders,
            a.pairs,
            a.dm_rate,
            a.reconnectors,
            humantime::format_duration(a.reconnect_every),
            a.history_rate,
            a.size,
            humantime::format_duration(a.sample_every)
        ),
        servers: 1,
        connections: ready as u64,
        failures: errors.len() as u64,
        refusals: Meter::count(&meter.refusals),
        dropped: Meter::count(&meter.dropped),
        connect_s: Some(connect_s),
        connects_per_s: Some(ready as f64 / connect_s.max(1e-9)),
        window_s: cpu.wall_s,
        sent: Meter::count(&meter.sent),
        acked: Meter::count(&meter.acked),
        send_errors: Meter::count(&meter.send_errors),
        rate_limited: Meter::count(&meter.rate_limited),
        deliveries,
        expected_deliveries: expected,
        lost,
        duplicates,
        latency: Percentiles::of(&all),
        ack_latency: meter.ack_latency(),
        server_rss_before_kib: samples.first().and_then(|s| s.rss_kib),
        server_rss_after_kib: rss_after,
        soak: Some(SoakResult {
            samples,
            resumes: shared.resumes.load(Relaxed),
            history_reads: shared.history_reads.load(Relaxed),
            pruned_through: shared.pruned_through.load(Relaxed),
            errors: errors_total,
            verdict,
        }),
        ..Report::default()
    };
    report.set_cpu(cpu, all.len());
    report.hints = load::hints(&report, &errors);
    if a.history_rate > 0.0 && shared.pruned_through.load(Relaxed) == 0 {
        report.hints.push("the history reads saw nothing pruned: start the server with a retention policy (e.g. --retention-max-events 1000 --retention-interval 10s) so pruning runs during the soak".into());
    }
    if lost > 0 {
        report.hints.push("losses in a soak with retention: a resuming client whose cursor fell behind the retention horizon is told to resync and loses what was pruned; keep --retention-max-events above rate × the longest time a client is away".into());
    }
    Ok(report)
}

/// Open files of a process: the entries of `/proc/PID/fd`.
pub fn open_fds(pid: u32) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.count() as u64)
}

/// Prints a soak's report: the time series, the totals and the verdict.
pub fn print(r: &Report) {
    let Some(s) = &r.soak else { return };
    println!("{}", r.parameters);
    println!("{}", verdict::HEADER);
    for sample in &s.samples {
        println!("{}", verdict::line(sample));
    }
    let p = |p: &Option<Percentiles>| {
        p.map_or_else(
            || "-".into(),
            |p| {
                format!(
                    "p50 {:.2} / p99 {:.2} / max {:.2} ms",
                    p.p50_ms, p.p99_ms, p.max_ms
                )
            },
        )
    };
    println!(
        "clients {} (failed {}) · sent {} · acked {} · deliveries {} / expected {} · lost {} · duplicates {} · resumes {} · history reads {} (pruned through seq {}) · errors {}",
        r.connections,
        r.failures,
        r.sent,
        r.acked,
        r.deliveries,
        r.expected_deliveries,
        r.lost,
        r.duplicates,
        s.resumes,
        s.history_reads,
        s.pruned_through,
        s.errors
    );
    println!(
        "latency {} · server CPU {} cores, {} µs per delivery",
        p(&r.latency),
        r.server_cores
            .map_or_else(|| "-".into(), |c| format!("{c:.2}")),
        r.server_cpu_us_per_delivery
            .map_or_else(|| "-".into(), |c| format!("{c:.2}"))
    );
    let v = &s.verdict;
    let check = |name: &str, c: &verdict::Check| {
        let f = |x: Option<f64>| x.map_or_else(|| "-".into(), |x| format!("{x:.1}"));
        println!(
            "{name:<22} second quarter {:>10} · last quarter {:>10} · limit {:>10} · {}",
            f(c.second_quarter),
            f(c.last_quarter),
            f(c.limit),
            if c.passed { "flat" } else { "GROWING" }
        );
    };
    check("RSS (KiB, median)", &v.rss);
    check("open files (median)", &v.open_fds);
    check("p99 latency (ms)", &v.p99_latency);
    println!(
        "verdict: {}",
        if v.passed {
            "passed".to_owned()
        } else {
            format!("FAILED: {}", v.failures.join("; "))
        }
    );
}

/// Reads a page of the newest 50 messages of each channel in turn, `rate` pages per second.
async fn read_history(
    shared: Arc<Shared>,
    base: String,
    readers: Vec<(ChannelId, String)>,
    rate: f64,
) {
    if rate <= 0.0 || readers.is_empty() {
        return;
    }
    let clients: Vec<(ChannelId, Http)> = readers
        .into_iter()
        .map(|(id, token)| (id, Http::new(&base).with_token(&token)))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for k in 0.. {
        tick.tick().await;
        let (id, http) = &clients[k % clients.len()];
        let query = HistoryQuery {
            limit: Some(50),
            ..HistoryQuery::default()
        };
        match http.history(*id, query).await {
            Ok(page) => {
                shared
                    .pruned_through
                    .fetch_max(page.pruned_through, Relaxed);
                shared.history_reads.fetch_add(1, Relaxed)
            }
            Err(_) => shared.errors.fetch_add(1, Relaxed),
        };
    }
}
