//! Resource use read from `/proc`: a server's RSS and CPU time, and the generator's own CPU time.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Clock ticks per second of `utime`/`stime` in `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// A process's resident memory in KiB (`VmRSS`), or `None` if it cannot be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A process's CPU time (user + system) in seconds, or `None` if it cannot be read.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// CPU time of a set of processes and of the generator, taken at the start of a window.
#[derive(Debug, Clone)]
pub struct CpuMark {
    at: Instant,
    servers: Option<f64>,
    own: Option<f64>,
}

/// CPU used over a window.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuUse {
    /// Seconds of the window.
    pub wall_s: f64,
    /// Server CPU seconds (all `--server-pid`s together), when pids were given.
    pub server_cpu_s: Option<f64>,
    /// The generator's CPU seconds (this process).
    pub generator_cpu_s: Option<f64>,
}

impl CpuMark {
    pub fn now(pids: &[u32]) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            servers: servers_cpu(pids),
            own: cpu_seconds(None),
        }
    }

    /// CPU used since the mark.
    pub fn since(&self, pids: &[u32]) -> CpuUse {
        CpuUse {
            wall_s: self.at.elapsed().as_secs_f64(),
            server_cpu_s: servers_cpu(pids)
                .zip(self.servers)
                .map(|(now, then)| now - then),
            generator_cpu_s: cpu_seconds(None)
                .zip(self.own)
                .map(|(now, then)| now - then),
        }
    }
}

fn servers_cpu(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| cpu_seconds(Some(p))).sum()
}

/// Total RSS of the servers in KiB; `None` without pids or if one cannot be read.
pub fn servers_rss_kib(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| rss_kib(p)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).is_some_and(|kib| kib > 0));
        assert!(cpu_seconds(Some(pid)).is_some_and(|s| s >= 0.0));
    }
}
