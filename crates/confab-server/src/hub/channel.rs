//! A channel topic's task: the node's one subscription to a channel's bus subject, putting its
//! events back in `seq` order for the local sessions.
//!
//! The bus may drop or reorder what it carries, and senders whose messages committed together
//! (group commit) publish them in any order. So an event ahead of a missing one waits (at most
//! [`REORDER_WAIT`]) for it; then the missing events are read from the store, which has them —
//! they were published after their commit. Repeats are dropped. After fanning out an event that
//! removes a member, nothing later reaches that member's sessions.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use confab_bus::{subject, Envelope, Route};
use confab_proto::{ChannelId, CloseCode, ServerFrame, UserId};
use confab_store::{HistoryQuery, Store};
use futures::StreamExt;

use super::{lock, Inner, Outbound, Ready, Topic};
use crate::backfill::Backfill;
use crate::metrics::Metrics;

/// How long a channel topic holds events that arrived ahead of a missing one before it takes the
/// missing ones from the store. Messages committed together (group commit) are published by
/// their senders in any order; they normally all arrive well within this.
pub const REORDER_WAIT: Duration = Duration::from_millis(20);

/// Most events held ahead of a gap; past this the gap is filled from the store at once.
const MAX_AHEAD: usize = 1024;

/// An event waiting for the ones before it: its frame and whom it removes.
type Held = (Utf8Bytes, Option<UserId>);

/// What the topic's task works with.
struct ChannelTopic {
    channel: ChannelId,
    topic: Arc<Topic>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    /// The next `seq` to fan out (0: not known yet).
    next: u64,
    /// Events that arrived ahead of `next`.
    ahead: BTreeMap<u64, Held>,
    /// When the gap before `ahead` is filled from the store, unless it closes first.
    gap_deadline: Option<Instant>,
}

pub(super) async fn run(hub: Weak<Inner>, channel: ChannelId, topic: Arc<Topic>, ready: Ready) {
    let Some(inner) = hub.upgrade() else {
        ready.mark();
        return;
    };
    let (bus, store, metrics) = (
        inner.bus.clone(),
        inner.store.clone(),
        inner.metrics.clone(),
    );
    drop(inner);
    let mut sub = match bus.subscribe(&subject::channel(channel)).await {
        Ok(sub) => sub,
        Err(e) => {
            // Without a subscription this topic would deliver nothing: drop it, and send its
            // sessions away to resume (their next attempt builds a new one).
            tracing::error!(error = %e, channel_id = %channel, "cannot subscribe to channel");
            if let Some(hub) = hub.upgrade() {
                let mut channels = lock(&hub.channels);
                if channels
                    .get(&channel)
                    .is_some_and(|t| Arc::ptr_eq(t, &topic))
                {
                    channels.remove(&channel);
                }
            }
            topic.push_all(|| Outbound::Close(CloseCode::InternalError));
            ready.mark();
            return;
        }
    };
    let mut task = ChannelTopic {
        channel,
        topic,
        store,
        metrics,
        next: 0,
        ahead: BTreeMap::new(),
        gap_deadline: None,
    };
    // Everything committed before the subscription went live is in the store: start after it.
    // If the store cannot say, start at the first event the bus brings (0: not known yet).
    task.next = match task.last_seq().await {
        Some(last) => last + 1,
        None => 0,
    };
    task.topic
        .delivered
        .store(task.next.saturating_sub(1), Ordering::Release);
    ready.mark();

    loop {
        let gap_deadline = task.gap_deadline;
        let wait_for_gap = async {
            match gap_deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            payload = sub.next() => match payload {
                Some(payload) => task.received(payload).await,
                None => return,
            },
            _ = task.topic.recheck.notified() => task.recheck().await,
            _ = wait_for_gap => task.gap_timed_out().await,
        }
    }
}

impl ChannelTopic {
    /// The channel's newest `seq` in the store.
    async fn last_seq(&self) -> Option<u64> {
        let query = HistoryQuery {
            limit: 1,
            ..Default::default()
        };
        match self.store.history(self.channel, query).await {
            Ok(page) => Some(page.last_seq),
            Err(e) => {
                tracing::warn!(error = %e, channel_id = %self.channel, "cannot read channel position");
                None
            }
        }
    }

    /// One payload from the bus.
    async fn received(&mut self, payload: bytes::Bytes) {
        let started = Instant::now();
        let envelope = match Envelope::decode(payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(error = %e, channel_id = %self.channel, "undecodable payload on the bus");
                return;
            }
        };
        let Ok(frame) = Utf8Bytes::try_from(envelope.frame) else {
            tracing::warn!(channel_id = %self.channel, "a frame on the bus is not UTF-8");
            return;
        };
        let (seq, removes) = match envelope.route {
            Route::Ephemeral => {
                self.topic.push_all(|| Outbound::Frame(frame.clone()));
                return;
            }
            Route::Event {
                channel,
                seq,
                removes,
            } if channel == self.channel => (seq, removes),
            Route::Event { .. } => return,
        };
        if self.next == 0 {
            self.next = seq;
        }
        if seq < self.next {
            return; // A repeat, or already filled from the store.
        }
        if seq > self.next {
            self.hold(seq, (frame, removes)).await;
            return;
        }
        self.deliver(seq, frame, removes);
        self.next = seq + 1;
        self.release_ahead();
        self.metrics
            .fanout_seconds
            .observe(started.elapsed().as_secs_f64());
    }

    /// Keeps an event that arrived ahead of a missing one, until the gap closes or times out.
    async fn hold(&mut self, seq: u64, held: Held) {
        self.ahead.insert(seq, held);
        if self.ahead.len() > MAX_AHEAD {
            self.fill_to_ahead().await;
        }
        if self.ahead.is_empty() {
            self.gap_deadline = None;
        } else if self.gap_deadline.is_none() {
            self.gap_deadline = Some(Instant::now() + REORDER_WAIT);
        }
    }

    /// The missing events did not arrive in time. They are committed (they were published after
    /// their commit): take them from the store, then what waited behind them.
    async fn gap_timed_out(&mut self) {
        self.fill_to_ahead().await;
        self.gap_deadline = (!self.ahead.is_empty()).then(|| Instant::now() + REORDER_WAIT);
    }

    /// After a bus outage: fan out whatever the store has beyond what was fanned out.
    async fn recheck(&mut self) {
        match self.last_seq().await {
            Some(last) if self.next == 0 => self.next = last + 1,
            Some(last) if last >= self.next => self.fill_gap(last + 1).await,
            _ => {}
        }
        self.release_ahead();
        if self.ahead.is_empty() {
            self.gap_deadline = None;
        }
    }

    /// Fills from the store up to the first held event, then releases what follows on.
    async fn fill_to_ahead(&mut self) {
        if let Some(&first) = self.ahead.keys().next() {
            self.fill_gap(first).await;
        }
        self.release_ahead();
    }

    /// Fans out the held events that now follow on from `next` (dropping any already filled from
    /// the store).
    fn release_ahead(&mut self) {
        while let Some(entry) = self.ahead.first_entry() {
            let seq = *entry.key();
            if seq > self.next {
                break;
            }
            let (frame, removes) = entry.remove();
            if seq == self.next {
                self.deliver(seq, frame, removes);
                self.next += 1;
            }
        }
        if self.ahead.is_empty() {
            self.gap_deadline = None;
        }
    }

    /// Fans out events `next..to` (exclusive) from the store and moves `next` to `to`.
    async fn fill_gap(&mut self, to: u64) {
        let mut backfill = Backfill::new(self.channel, self.next.saturating_sub(1), to - 1);
        loop {
            let page = match backfill.next_page(&*self.store).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    // Sessions repair the gap themselves when they notice it.
                    tracing::warn!(error = %e, channel_id = %self.channel, "cannot fill gap from store");
                    break;
                }
            };
            if page.events.is_empty() {
                break;
            }
            for event in page.events {
                let (seq, removes) = (event.seq, event.removes());
                match serde_json::to_string(&ServerFrame::Event(event)) {
                    Ok(text) => self.deliver(seq, text.into(), removes),
                    Err(e) => tracing::error!(error = %e, "cannot serialize frame"),
                }
            }
            self.metrics.gaps_filled.inc();
        }
        // Past what the store had (pruned, or never there) there is nothing to deliver.
        self.next = self.next.max(to);
    }

    /// Fans out one event to every subscriber, then stops delivering to a member it removed
    /// (the sessions that subscribed before it; a session that rejoined since keeps its
    /// subscription).
    fn deliver(&self, seq: u64, frame: Utf8Bytes, removes: Option<UserId>) {
        let (topic, channel) = (&self.topic, self.channel);
        let sessions = topic.push_all(|| Outbound::Event {
            channel,
            seq,
            frame: frame.clone(),
        });
        self.metrics.deliveries.inc_by(sessions as u64);
        topic.delivered.store(seq, Ordering::Release);
        if let Some(gone) = removes {
            let mut subs = topic.subscribers.write().unwrap_or_else(|e| e.into_inner());
            subs.retain(|_, s| s.handle.user != gone || s.since >= seq);
        }
    }
}
