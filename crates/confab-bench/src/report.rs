//! The result of a scenario: one struct for every scenario (fields that do not apply are
//! `None`), printed as a table or as one JSON object.

use serde::{Deserialize, Serialize};

use crate::meter::Percentiles;
use crate::usage::CpuUse;

/// What one scenario run measured. `docs/benchmarks.md` explains each field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub scenario: String,
    /// `ws`, `sse`, `longpoll` or `poll` (`transports`; `ws` for room and dm).
    pub transport: Option<String>,
    /// The scenario's parameters, e.g. `members=1000 rate=100/s senders=10 size=64`.
    pub parameters: String,
    pub servers: usize,
    /// Connections (or HTTP sessions, or polling clients) that got ready.
    pub connections: u64,
    /// Connections given up (after retries).
    pub failures: u64,
    /// Refusals by the server: `503` on connect or close 4006, retried.
    pub refusals: u64,
    /// Connections that ended before the run did (e.g. 4002 slow consumer).
    pub dropped: u64,
    /// Seconds from the first connection attempt until all were ready.
    pub connect_s: Option<f64>,
    /// Connections made ready per second over `connect_s`.
    pub connects_per_s: Option<f64>,
    /// Seconds of the measured window.
    pub window_s: f64,
    pub sent: u64,
    /// Messages sent per second over the window (the offered rate actually achieved).
    pub sent_per_s: Option<f64>,
    pub acked: u64,
    /// Sends acked per second, from the first send to the last answer: the durable throughput.
    pub acked_per_s: Option<f64>,
    pub send_errors: u64,
    /// Of `send_errors`, 1007 `rate_limited`.
    pub rate_limited: u64,
    /// Distinct (receiver, seq) deliveries counted over the whole run.
    pub deliveries: u64,
    /// What the receivers should have got: each receiver, every seq from when it joined to the
    /// last acked.
    pub expected_deliveries: u64,
    /// (receiver, seq) pairs never received.
    pub lost: u64,
    /// (receiver, seq) pairs received more than once.
    pub duplicates: u64,
    /// Deliveries of the window's messages per second.
    pub deliveries_per_s: Option<f64>,
    /// Send → receive, over the window's messages.
    pub latency: Option<Percentiles>,
    /// Send → ack, over the window's sends.
    pub ack_latency: Option<Percentiles>,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_after_kib: Option<u64>,
    pub rss_per_connection_kib: Option<f64>,
    /// CPU over the window.
    pub cpu: CpuUse,
    /// Server CPU seconds per wall second over the window (1.0 = one core).
    pub server_cores: Option<f64>,
    pub server_cpu_us_per_delivery: Option<f64>,
    pub generator_cores: Option<f64>,
    pub generator_cpu_us_per_delivery: Option<f64>,
    /// HTTP requests per second made by the receivers (HTTP transports).
    pub http_requests_per_s: Option<f64>,
    pub storm: Option<StormResult>,
    /// `compare`: the server this result is of (`confab` or `lean`); absent on the summary.
    pub target: Option<String>,
    /// `compare`: the round (from 1); absent on the summary.
    pub round: Option<usize>,
    /// `compare`: the summary over all rounds (the last result of a compare run).
    pub compare: Option<CompareResult>,
    /// `soak`: the time series and the verdict.
    pub soak: Option<crate::scenario::soak::SoakResult>,
    /// What to change when the server refused something.
    pub hints: Vec<String>,
}

/// What `storm` adds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StormResult {
    pub clients: u64,
    /// Clients resumed after the cut.
    pub resumed: u64,
    /// Seconds from the cut until every client had resumed.
    pub recovery_s: Option<f64>,
    /// The most resumes admitted in one second.
    pub peak_resumes_per_s: u64,
    /// Resume attempts refused (4006, 503) or failed.
    pub resume_refusals: u64,
    /// The probe's ack latency from the cut until recovery.
    pub probe_ack: Option<Percentiles>,
    /// Probe sends without an ack within 5 s.
    pub probe_timeouts: u64,
}

/// What `compare` sums up over its rounds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CompareResult {
    pub rounds: usize,
    pub confab: TargetSummary,
    pub lean: TargetSummary,
    /// Confab's server CPU per delivery ÷ the lean server's (medians over the rounds).
    pub cpu_ratio: Option<f64>,
    /// Confab's p99 latency ÷ the lean server's (medians over the rounds).
    pub p99_ratio: Option<f64>,
}

/// One target of `compare` over all rounds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TargetSummary {
    /// Median over the rounds of the server CPU per delivery (µs).
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Median over the rounds of the rounds' p50 latency (ms).
    pub p50_ms: Option<f64>,
    /// Median over the rounds of the rounds' p99 latency (ms).
    pub p99_ms: Option<f64>,
    /// The largest latency of any round (ms).
    pub max_ms: Option<f64>,
    /// Sums over the rounds.
    pub sent: u64,
    pub acked: u64,
    pub deliveries: u64,
    pub expected_deliveries: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Connections failed or dropped during the rounds.
    pub failures: u64,
    pub dropped: u64,
}

/// The median of some values (`None` when there are none).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

impl TargetSummary {
    /// The summary of one target's round results.
    pub fn of<'a>(rounds: impl Iterator<Item = &'a Report>) -> TargetSummary {
        let rounds: Vec<&Report> = rounds.collect();
        let values = |f: &dyn Fn(&Report) -> Option<f64>| -> Vec<f64> {
            rounds.iter().filter_map(|r| f(r)).collect()
        };
        let sum = |f: &dyn Fn(&Report) -> u64| -> u64 { rounds.iter().map(|r| f(r)).sum() };
        TargetSummary {
            server_cpu_us_per_delivery: median(values(&|r| r.server_cpu_us_per_delivery)),
            p50_ms: median(values(&|r| r.latency.map(|p| p.p50_ms))),
            p99_ms: median(values(&|r| r.latency.map(|p| p.p99_ms))),
            max_ms: values(&|r| r.latency.map(|p| p.max_ms))
                .into_iter()
                .reduce(f64::max),
            sent: sum(&|r| r.sent),
            acked: sum(&|r| r.acked),
            deliveries: sum(&|r| r.deliveries),
            expected_deliveries: sum(&|r| r.expected_deliveries),
            lost: sum(&|r| r.lost),
            duplicates: sum(&|r| r.duplicates),
            failures: sum(&|r| r.failures),
            dropped: sum(&|r| r.dropped),
        }
    }
}

impl Report {
    /// Fills the per-delivery CPU figures from `cpu` and the window's deliveries.
    pub fn set_cpu(&mut self, cpu: CpuUse, window_deliveries: u64) {
        self.cpu = cpu;
        let per = |s: Option<f64>| {
            s.filter(|_| window_deliveries > 0)
                .map(|s| s * 1e6 / window_deliveries as f64)
        };
        self.server_cpu_us_per_delivery = per(cpu.server_cpu_s);
        self.generator_cpu_us_per_delivery = per(cpu.generator_cpu_s);
        if cpu.wall_s > 0.0 {
            self.server_cores = cpu.server_cpu_s.map(|s| s / cpu.wall_s);
            self.generator_cores = cpu.generator_cpu_s.map(|s| s / cpu.wall_s);
        }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn f1(v: Option<f64>) -> String {
    opt(v.map(|v| format!("{v:.1}")))
}

fn f2(v: Option<f64>) -> String {
    opt(v.map(|v| format!("{v:.2}")))
}

fn pct(p: &Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "p50 {:.2} / p99 {:.2} / p999 {:.2} / max {:.2} ms ({} samples)",
            p.p50_ms, p.p99_ms, p.p999_ms, p.max_ms, p.count
        ),
        None => "-".into(),
    }
}

/// The rows of one report: (metric, value).
fn rows(r: &Report) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("scenario", r.scenario.clone()),
        ("parameters", r.parameters.clone()),
        ("servers", r.servers.to_string()),
        ("connections ready", r.connections.to_string()),
        (
            "failed / refused / dropped",
            format!("{} / {} / {}", r.failures, r.refusals, r.dropped),
        ),
    ];
    if let Some(t) = &r.transport {
        rows.insert(1, ("transport", t.clone()));
    }
    if r.connect_s.is_some() {
        rows.push(("time until all ready (s)", f2(r.connect_s)));
        rows.push(("connections ready per s", f1(r.connects_per_s)));
    }
    if r.server_rss_before_kib.is_some() {
        rows.push((
            "server RSS before / after (KiB)",
            format!(
                "{} / {}",
                opt(r.server_rss_before_kib),
                opt(r.server_rss_after_kib)
            ),
        ));
        rows.push((
            "server RSS per connection (KiB)",
            f2(r.rss_per_connection_kib),
        ));
    }
    rows.push(("measured window (s)", format!("{:.1}", r.window_s)));
    if r.sent > 0 || r.expected_deliveries > 0 {
        rows.push((
            "sent / acked / send errors (1007)",
            format!(
                "{} / {} / {} ({})",
                r.sent, r.acked, r.send_errors, r.rate_limited
            ),
        ));
        if r.sent_per_s.is_some() {
            rows.push(("sent per s (window)", f1(r.sent_per_s)));
            rows.push(("acked per s (first send to last ack)", f1(r.acked_per_s)));
        }
        rows.push((
            "deliveries / expected",
            format!("{} / {}", r.deliveries, r.expected_deliveries),
        ));
        rows.push((
            "lost / duplicates",
            format!("{} / {}", r.lost, r.duplicates),
        ));
        rows.push(("deliveries per s (window)", f1(r.deliveries_per_s)));
        rows.push(("end-to-end latency", pct(&r.latency)));
        rows.push(("ack latency", pct(&r.ack_latency)));
    }
    rows.push(("server CPU (cores)", f2(r.server_cores)));
    if r.server_cpu_us_per_delivery.is_some() || r.generator_cpu_us_per_delivery.is_some() {
        rows.push((
            "server CPU per delivery (µs)",
            f2(r.server_cpu_us_per_delivery),
        ));
        rows.push((
            "generator CPU per delivery (µs)",
            f2(r.generator_cpu_us_per_delivery),
        ));
    }
    rows.push(("generator CPU (cores)", f2(r.generator_cores)));
    if r.http_requests_per_s.is_some() {
        rows.push(("HTTP requests per s", f1(r.http_requests_per_s)));
    }
    if let Some(s) = &r.storm {
        rows.push(("clients resumed", format!("{} / {}", s.resumed, s.clients)));
        rows.push(("time to full recovery (s)", f2(s.recovery_s)));
        rows.push((
            "peak resumes admitted per s",
            s.peak_resumes_per_s.to_string(),
        ));
        rows.push(("resume attempts refused", s.resume_refusals.to_string()));
        rows.push(("probe ack latency during storm", pct(&s.probe_ack)));
        rows.push((
            "probe sends unanswered in 5 s",
            s.probe_timeouts.to_string(),
        ));
    }
    rows
}

/// Prints `compare`'s results: one line per round and target, then the summary and the ratios.
fn print_compare(reports: &[Report]) {
    println!(
        "{:<5} {:<7} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>6} {:>9}",
        "round",
        "target",
        "deliv/s",
        "srv µs/d",
        "gen µs/d",
        "p50 ms",
        "p99 ms",
        "max ms",
        "lost",
        "dups",
        "srv cores"
    );
    for r in reports.iter().filter(|r| r.compare.is_none()) {
        let p = r.latency;
        println!(
            "{:<5} {:<7} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>6} {:>9}",
            opt(r.round),
            r.target.as_deref().unwrap_or("-"),
            f1(r.deliveries_per_s),
            f2(r.server_cpu_us_per_delivery),
            f2(r.generator_cpu_us_per_delivery),
            f2(p.map(|p| p.p50_ms)),
            f2(p.map(|p| p.p99_ms)),
            f2(p.map(|p| p.max_ms)),
            r.lost,
            r.duplicates,
            f2(r.server_cores),
        );
    }
    for r in reports {
        let Some(c) = &r.compare else { continue };
        println!();
        println!("{}", r.parameters);
        for (name, t) in [("confab", &c.confab), ("lean", &c.lean)] {
            println!(
                "{name:<7} server CPU per delivery {} µs · p50 {} ms · p99 {} ms (medians of {} rounds) · max {} ms · deliveries {} / expected {} · lost {} · duplicates {}",
                f2(t.server_cpu_us_per_delivery),
                f2(t.p50_ms),
                f2(t.p99_ms),
                c.rounds,
                f2(t.max_ms),
                t.deliveries,
                t.expected_deliveries,
                t.lost,
                t.duplicates
            );
        }
        println!(
            "confab / lean: CPU per delivery ×{} · p99 ×{}",
            f2(c.cpu_ratio),
            f2(c.p99_ratio)
        );
    }
}

/// Prints the reports as tables on stdout: one metric per line for a single report, one column
/// per transport for several.
pub fn print_table(reports: &[Report]) {
    if reports.iter().any(|r| r.compare.is_some()) {
        print_compare(reports);
        for r in reports.iter().filter(|r| r.compare.is_some()) {
            for h in &r.hints {
                println!("hint: {h}");
            }
        }
        return;
    }
    if let Some(r) = reports.iter().find(|r| r.soak.is_some()) {
        crate::scenario::soak::print(r);
        for h in &r.hints {
            println!("hint: {h}");
        }
        return;
    }
    if reports.len() == 1 {
        let rows = rows(&reports[0]);
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in rows {
            println!("{k:<width$}  {v}");
        }
    } else if !reports.is_empty() {
        println!(
            "{:<9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>12} {:>9} {:>8} {:>9}",
            "transport",
            "deliv/s",
            "srv µs/d",
            "gen µs/d",
            "HTTP/s",
            "p50 ms",
            "p99 ms",
            "p999 ms",
            "lost",
            "dups",
            "srv cores"
        );
        for r in reports {
            let p = r.latency;
            println!(
                "{:<9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>12} {:>9} {:>8} {:>9}",
                r.transport.as_deref().unwrap_or("-"),
                f1(r.deliveries_per_s),
                f2(r.server_cpu_us_per_delivery),
                f2(r.generator_cpu_us_per_delivery),
                f1(r.http_requests_per_s.or(Some(0.0))),
                f2(p.map(|p| p.p50_ms)),
                f2(p.map(|p| p.p99_ms)),
                f2(p.map(|p| p.p999_ms)),
                r.lost,
                r.duplicates,
                f2(r.server_cores),
            );
        }
    }
    for r in reports {
        for h in &r.hints {
            println!("hint: {h}");
        }
    }
}
