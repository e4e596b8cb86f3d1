//! The bus, timed: [`Metered`] around any [`Bus`] records each publish's duration
//! (`confab_bus_publish_seconds`) and failures (`confab_bus_publish_errors_total`) — channel
//! events, user signals and presence announcements alike.

use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use confab_bus::{Bus, Result, Subscription};

use super::Metered;

/// The bus it wraps, with its publishes timed.
#[async_trait]
impl Bus for Metered<dyn Bus> {
    async fn publish(&self, subject: &str, payload: Bytes) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.publish(subject, payload).await;
        self.metrics
            .bus_publish_seconds
            .observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            self.metrics.bus_publish_errors.inc();
        }
        result
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription> {
        self.inner.subscribe(subject).await
    }

    async fn flush(&self) -> Result<()> {
        self.inner.flush().await
    }

    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    fn reconnections(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.reconnections()
    }
}
