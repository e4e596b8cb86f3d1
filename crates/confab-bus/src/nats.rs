//! The cluster bus: NATS core publish/subscribe.
//!
//! NATS core is at-most-once: a node that is disconnected, or whose subscription falls behind the
//! server's slow-consumer limit, misses messages. That is the contract of [`Bus`]; receivers
//! repair gaps from the store. The client reconnects by itself (forever, with backoff) and
//! re-establishes subscriptions; [`NatsBus::is_connected`] reports the state for readiness.

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::{Bus, BusError, Result, Subscription};

/// The NATS backend of [`Bus`].
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    connections: tokio::sync::watch::Receiver<u64>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus").finish_non_exhaustive()
    }
}

impl NatsBus {
    /// Connects to `url` (`nats://host:4222`, several separated by commas). Fails if the first
    /// connection cannot be made; later outages are retried in the background.
    pub async fn connect(url: &str, name: &str) -> Result<NatsBus> {
        let (counter, connections) = tokio::sync::watch::channel(0u64);
        let counter = std::sync::Arc::new(counter);
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .max_reconnects(None)
            .connection_timeout(std::time::Duration::from_secs(5))
            .event_callback(move |event| {
                let counter = counter.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!("bus connected");
                            counter.send_modify(|n| *n += 1);
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!("bus disconnected; reconnecting")
                        }
                        other => tracing::debug!(event = %other, "bus event"),
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot connect to NATS at {url}: {e}")))?;
        Ok(NatsBus {
            client,
            connections,
        })
    }
}

#[async_trait]
impl Bus for NatsBus {
    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn reconnections(&self) -> tokio::sync::watch::Receiver<u64> {
        self.connections.clone()
    }

    async fn publish(&self, subject: &str, payload: Bytes) -> Result<()> {
        self.client
            .publish(subject.to_owned(), payload)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn flush(&self) -> Result<()> {
        self.client
            .flush()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription> {
        let subscriber = self
            .client
            .subscribe(subject.to_owned())
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        // The subscription is registered with the server once this flush returns, so payloads
        // published afterwards (by anyone) reach it.
        self.client
            .flush()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(subscriber.map(|message| message.payload).boxed())
    }
}
