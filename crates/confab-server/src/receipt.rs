//! Delivered pointers, batched: sessions report what their client confirmed, and one task writes
//! them in a single transaction every [`FLUSH_INTERVAL`], then tells the members of small channels.
//!
//! Delivered confirmations arrive for every event on every device, far more often than anything
//! else; batching turns thousands of them into one write. A confirmation lost to a full queue is
//! only a pointer that lags until the client's next confirmation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use confab_proto::{ChannelId, Receipt, ServerFrame, UserId};
use confab_store::{Delivery, Store};
use tokio::sync::mpsc;

use crate::hub::Hub;
use crate::metrics::Metrics;

/// How often delivered pointers are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// Delivered confirmations queued before new ones are dropped.
pub const QUEUE: usize = 65_536;

/// The sessions' end of the batcher.
#[derive(Debug, Clone)]
pub struct Receipts {
    tx: mpsc::Sender<Delivery>,
}

impl Receipts {
    /// Starts the batcher. It stops when every [`Receipts`] handle is dropped, after a last flush.
    pub fn spawn(
        store: Arc<dyn Store>,
        hub: Hub,
        metrics: Arc<Metrics>,
        group_size: u32,
    ) -> Receipts {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx, store, hub, metrics, group_size));
        Receipts { tx }
    }

    /// Confirmations waiting for the next write (for metrics).
    pub fn queued(&self) -> usize {
        QUEUE - self.tx.capacity()
    }

    /// Queues a delivered confirmation. Returns `false` when the queue was full and it was dropped.
    pub fn delivered(&self, channel_id: ChannelId, user_id: UserId, seq: u64) -> bool {
        self.tx
            .try_send(Delivery {
                channel_id,
                user_id,
                seq,
            })
            .is_ok()
    }
}

/// Publishes a receipt to the channel's members if the channel is small enough for per-member receipts.
pub async fn announce(hub: &Hub, receipt: Receipt, member_count: u32, group_size: u32) {
    if member_count <= group_size {
        let channel = receipt.channel_id;
        hub.publish_ephemeral(channel, &ServerFrame::Receipt(receipt))
            .await;
    }
}

async fn run(
    mut rx: mpsc::Receiver<Delivery>,
    store: Arc<dyn Store>,
    hub: Hub,
    metrics: Arc<Metrics>,
    group_size: u32,
) {
    let mut pending: HashMap<(ChannelId, UserId), u64> = HashMap::new();
    loop {
        let Some(first) = rx.recv().await else { return };
        pending.insert((first.channel_id, first.user_id), first.seq);
        let deadline = tokio::time::Instant::now() + FLUSH_INTERVAL;
        let mut closed = false;
        loop {
            tokio::select! {
                d = rx.recv() => match d {
                    Some(d) => {
                        let seq = pending.entry((d.channel_id, d.user_id)).or_insert(0);
                        *seq = (*seq).max(d.seq);
                    }
                    None => { closed = true; break; }
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut batch: Vec<Delivery> = pending
            .drain()
            .map(|((channel_id, user_id), seq)| Delivery {
                channel_id,
                user_id,
                seq,
            })
            .collect();
        // One order for every writer, so batches from different nodes never deadlock on rows.
        batch.sort_by_key(|d| (d.channel_id, d.user_id));
        match store.mark_delivered(&batch).await {
            Ok(changed) => {
                metrics.receipts_written.inc_by(changed.len() as u64);
                for (receipt, members) in changed {
                    announce(&hub, receipt, members, group_size).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, count = batch.len(), "cannot store delivered pointers")
            }
        }
        if closed {
            return;
        }
    }
}
