//! The soak's time series and its verdict: the last quarter of the run against the second (the
//! first quarter is warm-up of caches and pools, so it is not the reference).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::meter::Percentiles;
use crate::report::median;

/// Absolute allowance on top of `--rss-tolerance`: allocator and cache noise of a small server.
pub const RSS_SLACK_KIB: f64 = 4096.0;

/// Absolute allowance on top of `--fd-tolerance` (plus the resuming clients, which may be between
/// two connections when a sample is taken).
pub const FD_SLACK: f64 = 8.0;

/// One sampling interval.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Seconds from the start of the soak (after the warm-up) to the end of the interval.
    pub t_s: f64,
    /// The server's `VmRSS` at the end of the interval.
    pub rss_kib: Option<u64>,
    /// Entries of `/proc/PID/fd` at the end of the interval.
    pub open_fds: Option<u64>,
    /// Distinct deliveries in the interval.
    pub deliveries: u64,
    pub deliveries_per_s: f64,
    pub sent: u64,
    pub acked: u64,
    /// End-to-end latency of the deliveries recorded in the interval.
    pub latency: Option<Percentiles>,
    /// Errors in the interval (see [`SoakResult::errors`]).
    pub errors: u64,
    /// Resumes completed in the interval.
    pub resumes: u64,
    /// History pages read in the interval.
    pub history_reads: u64,
}

/// One comparison of the verdict: the second quarter's figure, the last quarter's, the most the
/// last may be.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Check {
    pub second_quarter: Option<f64>,
    pub last_quarter: Option<f64>,
    pub limit: Option<f64>,
    pub passed: bool,
}

impl Check {
    fn new(second: Option<f64>, last: Option<f64>, limit: impl Fn(f64) -> f64) -> Check {
        let limit = second.map(limit);
        Check {
            second_quarter: second,
            last_quarter: last,
            limit,
            passed: matches!((last, limit), (Some(l), Some(m)) if l <= m),
        }
    }
}

/// The verdict of a soak.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub passed: bool,
    /// Median RSS (KiB) of the samples of each quarter.
    pub rss: Check,
    /// Median open files of the samples of each quarter.
    pub open_fds: Check,
    /// p99 latency (ms) over all deliveries of each quarter.
    pub p99_latency: Check,
    /// Why it failed, one line per failed check.
    pub failures: Vec<String>,
}

/// What `soak` adds to the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SoakResult {
    pub samples: Vec<Sample>,
    /// Resumes completed (clients that dropped their connection and came back).
    pub resumes: u64,
    /// History pages read over REST.
    pub history_reads: u64,
    /// The highest retention horizon (`pruned_through`) the history reads saw in any channel: 0
    /// when nothing was pruned during the soak.
    pub pruned_through: u64,
    /// Errors over the run: `error` answers to sends, connections that ended unasked, resumes and
    /// connections given up, failed history reads.
    pub errors: u64,
    pub verdict: Verdict,
}

/// The thresholds of the verdict (from the flags).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Fractions (0.1 = 10 %).
    pub rss: f64,
    pub fds: f64,
    pub latency: f64,
    pub latency_slack_ms: f64,
    /// Clients that drop and resume (allowed extra open files).
    pub reconnectors: usize,
}

/// The quarter (0–3) of a sample whose interval ended at `t_s` after lasting `dt_s`, in a soak of
/// `total_s`: the quarter of the interval's midpoint.
pub fn quarter(t_s: f64, dt_s: f64, total_s: f64) -> usize {
    let mid = (t_s - dt_s / 2.0).max(0.0);
    ((4.0 * mid / total_s.max(1e-9)) as usize).min(3)
}

/// Judges a run: `quarters` are the samples' quarters (as [`quarter`]), `latency` the merged
/// latency histograms of each quarter.
pub fn judge(
    samples: &[Sample],
    quarters: &[usize],
    latency: &[Histogram<u64>; 4],
    lost: u64,
    duplicates: u64,
    errors: u64,
    t: Thresholds,
) -> Verdict {
    let of_quarter = |q: usize, f: &dyn Fn(&Sample) -> Option<f64>| {
        median(
            samples
                .iter()
                .zip(quarters)
                .filter(|(_, &k)| k == q)
                .filter_map(|(s, _)| f(s))
                .collect(),
        )
    };
    let rss = |s: &Sample| s.rss_kib.map(|v| v as f64);
    let fds = |s: &Sample| s.open_fds.map(|v| v as f64);
    let p99 = |q: usize| Percentiles::of(&latency[q]).map(|p| p.p99_ms);
    let rss = Check::new(of_quarter(1, &rss), of_quarter(3, &rss), |v| {
        v * (1.0 + t.rss) + RSS_SLACK_KIB
    });
    let open_fds = Check::new(of_quarter(1, &fds), of_quarter(3, &fds), |v| {
        v * (1.0 + t.fds) + FD_SLACK + t.reconnectors as f64
    });
    let p99_latency = Check::new(p99(1), p99(3), |v| {
        v * (1.0 + t.latency) + t.latency_slack_ms
    });
    let mut failures = Vec::new();
    let describe = |name: &str, unit: &str, c: &Check| {
        format!(
            "{name} not flat: last quarter {} {unit} against a limit of {} {unit} (second quarter {})",
            show(c.last_quarter),
            show(c.limit),
            show(c.second_quarter)
        )
    };
    if !rss.passed {
        failures.push(describe("server RSS", "KiB", &rss));
    }
    if !open_fds.passed {
        failures.push(describe("open files", "", &open_fds));
    }
    if !p99_latency.passed {
        failures.push(describe("p99 latency", "ms", &p99_latency));
    }
    if lost > 0 || duplicates > 0 {
        failures.push(format!("{lost} deliveries lost, {duplicates} duplicated"));
    }
    if errors > 0 {
        failures.push(format!("{errors} errors"));
    }
    Verdict {
        passed: failures.is_empty(),
        rss,
        open_fds,
        p99_latency,
        failures,
    }
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// One line of the time series, as printed while the soak runs and in the table.
pub fn line(s: &Sample) -> String {
    let ms = |f: fn(&Percentiles) -> f64| {
        s.latency
            .as_ref()
            .map_or_else(|| "-".into(), |p| format!("{:.2}", f(p)))
    };
    format!(
        "{:>8.0} {:>9} {:>6} {:>10.1} {:>9} {:>9} {:>7} {:>7} {:>7}",
        s.t_s,
        s.rss_kib
            .map_or_else(|| "-".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        s.open_fds.map_or_else(|| "-".into(), |f| f.to_string()),
        s.deliveries_per_s,
        ms(|p| p.p50_ms),
        ms(|p| p.p99_ms),
        s.errors,
        s.resumes,
        s.history_reads,
    )
}

/// The header of [`line`].
pub const HEADER: &str =
    "     t s   RSS MiB    fds   deliv/s    p50 ms    p99 ms  errors resumes history";

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: &[u64], fds: &[u64]) -> (Vec<Sample>, Vec<usize>) {
        let n = rss.len();
        let samples: Vec<Sample> = rss
            .iter()
            .zip(fds)
            .enumerate()
            .map(|(i, (&r, &f))| Sample {
                t_s: (i + 1) as f64 * 10.0,
                rss_kib: Some(r),
                open_fds: Some(f),
                ..Sample::default()
            })
            .collect();
        let quarters = samples
            .iter()
            .map(|s| quarter(s.t_s, 10.0, n as f64 * 10.0))
            .collect();
        (samples, quarters)
    }

    fn latency(p99_ms: [u64; 4]) -> [Histogram<u64>; 4] {
        p99_ms.map(|ms| {
            let mut h = crate::meter::Meter::empty_histogram();
            h.record_n(1000, 99).expect("record");
            h.record(ms * 1000).expect("record");
            h.record(ms * 1000).expect("record");
            h
        })
    }

    const T: Thresholds = Thresholds {
        rss: 0.10,
        fds: 0.10,
        latency: 0.5,
        latency_slack_ms: 20.0,
        reconnectors: 2,
    };

    #[test]
    fn quarters_follow_the_midpoint_of_each_interval() {
        let q: Vec<usize> = (1..=8)
            .map(|i| quarter(i as f64 * 10.0, 10.0, 80.0))
            .collect();
        assert_eq!(q, [0, 0, 1, 1, 2, 2, 3, 3]);
    }

    #[test]
    fn a_flat_run_passes() {
        let (s, q) = samples(
            &[
                50_000, 60_000, 61_000, 61_500, 61_000, 62_000, 61_800, 62_500,
            ],
            &[40, 45, 44, 46, 47, 45, 46, 44],
        );
        let v = judge(&s, &q, &latency([5, 5, 6, 7]), 0, 0, 0, T);
        assert!(v.passed, "{v:?}");
        assert_eq!(v.rss.second_quarter, Some(61_250.0));
    }

    #[test]
    fn growing_memory_files_or_latency_and_losses_fail() {
        let (s, q) = samples(
            &[
                50_000, 60_000, 61_000, 61_000, 70_000, 75_000, 80_000, 90_000,
            ],
            &[40, 45, 44, 46, 60, 70, 80, 90],
        );
        let v = judge(&s, &q, &latency([5, 5, 10, 200]), 3, 0, 1, T);
        assert!(!v.passed);
        assert!(!v.rss.passed && !v.open_fds.passed && !v.p99_latency.passed);
        assert_eq!(v.failures.len(), 5, "{:?}", v.failures);
    }

    #[test]
    fn missing_figures_fail_rather_than_pass() {
        let (mut s, q) = samples(&[1; 8], &[1; 8]);
        for x in &mut s {
            x.open_fds = None;
        }
        let empty = [0; 4].map(|_| crate::meter::Meter::empty_histogram());
        let v = judge(&s, &q, &empty, 0, 0, 0, T);
        assert!(v.rss.passed);
        assert!(!v.open_fds.passed && !v.p99_latency.passed && !v.passed);
    }
}
