//! The background pruner that applies the retention policy.

use std::time::Duration;

use crate::state::AppState;

/// Runs the pruner every `retention_interval` until shutdown, if a policy is configured. Also
/// sweeps idle rate-limit buckets.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let stop = crate::state::stopped(state.shutdown.clone());
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(
            state
                .config
                .retention_interval
                .max(Duration::from_millis(10)),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => return,
            }
            state.limiter.sweep();
            let policy = state.config.retention;
            if policy.max_age.is_none() && policy.max_events.is_none() {
                continue;
            }
            match state.store.prune(policy).await {
                Ok(0) => {}
                Ok(n) => {
                    state.metrics.events_pruned.inc_by(n);
                    tracing::info!(events = n, "retention pruned events");
                }
                Err(e) => tracing::warn!(error = %e, "retention pruning failed"),
            }
        }
    });
}
