//! The progress line on stderr: the phase, connections and deliveries so far. Off with `--json`
//! and when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::meter::Meter;

/// A progress line fed from a [`Meter`].
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts a progress line for `scenario` unless `quiet` or stderr is not a terminal.
    pub fn start(scenario: &str, quiet: bool, meter: Arc<Meter>) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                ticker: None,
            };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(scenario.to_owned());
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                ticking.set_message(format!(
                    "{} · connected {} · delivered {} · sent {} · refused {} · failed {}",
                    ticking.message().split(" · ").next().unwrap_or(""),
                    Meter::count(&meter.connected),
                    Meter::count(&meter.deliveries),
                    Meter::count(&meter.sent),
                    Meter::count(&meter.refusals),
                    Meter::count(&meter.failures),
                ));
                ticking.tick();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Progress {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    /// Names the current phase (connecting, warm-up, measuring, draining…).
    pub fn phase(&self, phase: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(phase.to_owned());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
