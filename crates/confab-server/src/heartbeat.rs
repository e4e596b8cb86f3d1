//! The node's heartbeat sweeper: one timer for every session instead of one each.
//!
//! A session notes in its queue when its client was last heard from (any frame, a ping, a poll).
//! Every [`period`] this task ends the queues of clients silent past the heartbeat timeout, and
//! their sessions close with `heartbeat_timeout` (4001) — even one stuck writing to a client that
//! stopped reading. A connection is closed between the timeout and the timeout plus one period
//! after it was last heard from.

use std::time::Duration;

use crate::state::{stopped, AppState};

/// How often silent sessions are looked for: a tenth of the timeout, at most a second.
pub fn period(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Runs the sweeper until shutdown.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let timeout = state.config.heartbeat_timeout();
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let stop = stopped(state.shutdown.clone());
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(period(timeout));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => return,
            }
            state.hub.sweep(state.clock_ms(), timeout_ms);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_a_tenth_of_the_timeout_within_bounds() {
        assert_eq!(period(Duration::from_secs(60)), Duration::from_secs(1));
        assert_eq!(period(Duration::from_secs(2)), Duration::from_millis(200));
        assert_eq!(period(Duration::from_millis(20)), Duration::from_millis(10));
    }
}
