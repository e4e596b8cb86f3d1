//! Local fan-out: one bus subscription per channel (and per user) with local sessions, shared by
//! all of them.
//!
//! A **channel topic** exists while at least one session on this node belongs to a member of the
//! channel. Its task reads the channel's bus subject, puts events back in `seq` order (dropping
//! repeats; an event ahead of a missing one waits briefly for it, then the gap is filled from the
//! store), serializes nothing (the payload is already the frame
//! clients receive), and pushes the same bytes into each subscribed session's bounded queue.
//!
//! A **user topic** exists while the user has a session on this node. It carries [`UserSignal`]s:
//! channels joined and left, read pointers moved, tokens revoked.
//!
//! A session whose queue is full is told to close as a slow consumer; the hub never blocks on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use confab_bus::{subject, Bus};
use confab_proto::{
    ChannelId, ChannelSummary, CloseCode, Event, EventBody, ReadState, ServerFrame, UserId,
};
use confab_store::{HistoryQuery, Store};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};
use tokio::task::AbortHandle;

use crate::metrics::Metrics;
use crate::queue::SessionQueue;

/// How long a channel topic holds events that arrived ahead of a missing one before it takes the
/// missing ones from the store. Messages committed together (group commit) are published by
/// their senders in any order; they normally all arrive well within this.
const REORDER_WAIT: Duration = Duration::from_millis(20);

/// Most events held ahead of a gap; past this the gap is filled from the store at once.
const MAX_AHEAD: usize = 1024;

/// Identifies one session (connection) on this node.
pub type SessionKey = u64;

/// What the hub hands a session's connection task.
#[derive(Debug)]
pub enum Outbound {
    /// A channel event, already serialized as the `event` frame.
    Event {
        channel: ChannelId,
        seq: u64,
        frame: Utf8Bytes,
    },
    /// The user joined a channel; its events follow.
    Joined(Box<ChannelSummary>),
    /// The user left a channel with the event at `seq`; nothing after it.
    Left { channel: ChannelId, seq: u64 },
    /// Events up to `upto` may have been fanned out before this session subscribed: fetch what
    /// the session has not seen from the store.
    CatchUp { channel: ChannelId, upto: u64 },
    /// Any other frame, already serialized.
    Frame(Utf8Bytes),
    /// Close the connection with this code.
    Close(CloseCode),
}

/// The hub's end of a session: where to push its frames.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub key: SessionKey,
    pub user: UserId,
    pub token_hash: [u8; 32],
    pub queue: Arc<SessionQueue>,
}

impl SessionHandle {
    /// Queues `item`; on a full queue, flags the session as a slow consumer instead of waiting.
    pub fn push(&self, item: Outbound) -> bool {
        self.queue.push(item)
    }
}

/// What travels on a user's subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSignal {
    /// The user became a member of a channel; the summary is as of just after the change.
    Joined(ChannelSummary),
    /// The user is no longer a member of `channel` since the event at `seq` (their removal).
    Left { channel: ChannelId, seq: u64 },
    /// The user's read pointer moved.
    Read(ReadState),
    /// A token of the user was revoked: its sessions close. Hex of the token's hash.
    Revoked(String),
}

/// The fields of a frame on a channel subject the hub needs to route it: `event` frames are put in
/// `seq` order; anything else (receipts) is ephemeral and passed straight through.
#[derive(Deserialize)]
struct FrameHead {
    op: String,
    #[serde(default)]
    channel_id: Option<ChannelId>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    author: Option<RefHead>,
    #[serde(default)]
    user: Option<RefHead>,
}

#[derive(Deserialize)]
struct RefHead {
    id: UserId,
}

/// A session subscribed to a topic.
struct Subscriber {
    handle: SessionHandle,
    /// For channels: the `seq` the session had when it subscribed. A removal older than this
    /// (fanned out late) does not unsubscribe a session that rejoined since.
    since: u64,
}

struct Topic {
    subscribers: RwLock<HashMap<SessionKey, Subscriber>>,
    /// Becomes true once the bus subscription is live (and, for channels, `delivered` is set).
    ready: watch::Receiver<bool>,
    /// For channels: the highest `seq` fanned out so far.
    delivered: AtomicU64,
    /// For channels: check the store for events the bus may have dropped (after a bus outage).
    recheck: Notify,
    task: Mutex<Option<AbortHandle>>,
}

impl Topic {
    fn new() -> (Arc<Topic>, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        let topic = Arc::new(Topic {
            subscribers: RwLock::new(HashMap::new()),
            ready: rx,
            delivered: AtomicU64::new(0),
            recheck: Notify::new(),
            task: Mutex::new(None),
        });
        (topic, tx)
    }

    fn abort(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    async fn wait_ready(&self) {
        let mut ready = self.ready.clone();
        // The sender is only dropped after setting `true` or when the topic was torn down.
        let _ = ready.wait_for(|r| *r).await;
    }
}

/// Local fan-out for one node. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    channels: Mutex<HashMap<ChannelId, Arc<Topic>>>,
    users: Mutex<HashMap<UserId, Arc<Topic>>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

fn encode_frame(frame: &ServerFrame) -> Option<String> {
    match serde_json::to_string(frame) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize frame");
            None
        }
    }
}

impl Hub {
    pub fn new(bus: Arc<dyn Bus>, store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        let hub = Hub {
            inner: Arc::new(Inner {
                bus,
                store,
                metrics,
                channels: Mutex::new(HashMap::new()),
                users: Mutex::new(HashMap::new()),
            }),
        };
        // After a bus outage, every channel topic checks the store for what it may have missed;
        // otherwise a channel that went quiet would not notice its gap until its next event.
        let weak = Arc::downgrade(&hub.inner);
        let mut reconnections = hub.inner.bus.reconnections();
        tokio::spawn(async move {
            while reconnections.changed().await.is_ok() {
                let Some(inner) = weak.upgrade() else { return };
                let topics: Vec<Arc<Topic>> = inner
                    .channels
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect();
                tracing::info!(
                    channels = topics.len(),
                    "bus reconnected; checking channels for missed events"
                );
                for topic in topics {
                    topic.recheck.notify_one();
                }
            }
        });
        hub
    }

    /// Publishes a committed channel event to every node (and so every session of every member).
    /// If the bus fails, the event is still committed: sessions find it at their next gap or resume.
    pub async fn publish_event(&self, event: &Event) {
        let frame = ServerFrame::Event(event.clone());
        self.publish_channel_frame(event.channel_id, &frame).await;
    }

    /// Publishes a frame (an event, or an ephemeral receipt or typing indicator) to every session
    /// subscribed to `channel`, on every node. Only `event` frames are put in `seq` order.
    pub async fn publish_channel_frame(&self, channel: ChannelId, frame: &ServerFrame) {
        if let Some(text) = encode_frame(frame) {
            self.publish(subject::channel(channel), text.into_bytes())
                .await;
        }
    }

    /// Sends a signal to every session of `user`, on every node.
    pub async fn signal(&self, user: UserId, signal: &UserSignal) {
        match serde_json::to_vec(signal) {
            Ok(payload) => self.publish(subject::user(user), payload).await,
            Err(e) => tracing::error!(error = %e, "cannot serialize user signal"),
        }
    }

    async fn publish(&self, subject: String, payload: Vec<u8>) {
        if let Err(e) = self.inner.bus.publish(&subject, Bytes::from(payload)).await {
            tracing::warn!(error = %e, %subject, "bus publish failed");
        }
    }

    /// Registers a session for its user's signals. Call before reading the session's snapshot, so
    /// no channel joined afterwards goes unnoticed.
    pub async fn attach_user(&self, session: &SessionHandle) {
        let topic = {
            let mut users = self.inner.users.lock().unwrap_or_else(|e| e.into_inner());
            let topic = users
                .entry(session.user)
                .or_insert_with(|| self.spawn_user_topic(session.user))
                .clone();
            topic
                .subscribers
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    session.key,
                    Subscriber {
                        handle: session.clone(),
                        since: 0,
                    },
                );
            topic
        };
        topic.wait_ready().await;
    }

    /// Subscribes a session to a channel's events. `known_seq` is the last `seq` the session already
    /// has; if the topic fanned out newer events before the session joined, a [`Outbound::CatchUp`]
    /// tells the session to fetch them.
    pub async fn subscribe(&self, session: &SessionHandle, channel: ChannelId, known_seq: u64) {
        let topic = {
            let mut channels = self
                .inner
                .channels
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let topic = channels
                .entry(channel)
                .or_insert_with(|| self.spawn_channel_topic(channel))
                .clone();
            topic
                .subscribers
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    session.key,
                    Subscriber {
                        handle: session.clone(),
                        since: known_seq,
                    },
                );
            topic
        };
        topic.wait_ready().await;
        let upto = topic.delivered.load(Ordering::Acquire);
        if upto > known_seq {
            session.push(Outbound::CatchUp { channel, upto });
        }
    }

    /// Removes a session from a channel's topic, tearing the topic down when it was the last.
    pub fn unsubscribe(&self, key: SessionKey, channel: ChannelId) {
        remove_subscriber(&self.inner.channels, channel, key);
    }

    /// Removes a session from the hub entirely.
    pub fn detach(&self, session: &SessionHandle, channels: impl IntoIterator<Item = ChannelId>) {
        for channel in channels {
            self.unsubscribe(session.key, channel);
        }
        remove_subscriber(&self.inner.users, session.user, session.key);
    }

    /// Every session on this node (each attached to its user's topic).
    pub fn sessions(&self) -> Vec<SessionHandle> {
        let users = self.inner.users.lock().unwrap_or_else(|e| e.into_inner());
        users
            .values()
            .flat_map(|topic| {
                let subs = topic.subscribers.read().unwrap_or_else(|e| e.into_inner());
                subs.values().map(|s| s.handle.clone()).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether the bus is connected (for readiness).
    pub fn bus_connected(&self) -> bool {
        self.inner.bus.is_connected()
    }

    /// Channel topics alive on this node (one bus subscription each).
    pub fn channel_topics(&self) -> usize {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn spawn_channel_topic(&self, channel: ChannelId) -> Arc<Topic> {
        let (topic, ready) = Topic::new();
        let task = tokio::spawn(run_channel_topic(
            Arc::downgrade(&self.inner),
            self.inner.bus.clone(),
            self.inner.store.clone(),
            self.inner.metrics.clone(),
            channel,
            topic.clone(),
            ready,
        ));
        *topic.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        topic
    }

    fn spawn_user_topic(&self, user: UserId) -> Arc<Topic> {
        let (topic, ready) = Topic::new();
        let task = tokio::spawn(run_user_topic(self.clone(), user, topic.clone(), ready));
        *topic.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        topic
    }
}

fn remove_subscriber<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, Arc<Topic>>>,
    id: K,
    key: SessionKey,
) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let Some(topic) = map.get(&id) else {
        return;
    };
    let empty = {
        let mut subs = topic.subscribers.write().unwrap_or_else(|e| e.into_inner());
        subs.remove(&key);
        subs.is_empty()
    };
    if empty {
        if let Some(topic) = map.remove(&id) {
            topic.abort();
        }
    }
}

/// Pushes one event frame to every subscriber of the topic.
fn fan_out(topic: &Topic, channel: ChannelId, seq: u64, frame: Utf8Bytes) {
    let subs = topic.subscribers.read().unwrap_or_else(|e| e.into_inner());
    for s in subs.values() {
        s.handle.push(Outbound::Event {
            channel,
            seq,
            frame: frame.clone(),
        });
    }
    topic.delivered.store(seq, Ordering::Release);
}

async fn run_channel_topic(
    hub: std::sync::Weak<Inner>,
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    channel: ChannelId,
    topic: Arc<Topic>,
    ready: watch::Sender<bool>,
) {
    let mut sub = match bus.subscribe(&subject::channel(channel)).await {
        Ok(sub) => sub,
        Err(e) => {
            // Without a subscription this topic would deliver nothing: drop it, and send its
            // sessions away to resume (their next attempt builds a new one).
            tracing::error!(error = %e, channel_id = %channel, "cannot subscribe to channel");
            if let Some(hub) = hub.upgrade() {
                let mut channels = hub.channels.lock().unwrap_or_else(|e| e.into_inner());
                if channels
                    .get(&channel)
                    .is_some_and(|t| Arc::ptr_eq(t, &topic))
                {
                    channels.remove(&channel);
                }
            }
            for s in topic
                .subscribers
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
            {
                s.handle.push(Outbound::Close(CloseCode::InternalError));
            }
            let _ = ready.send(true);
            return;
        }
    };
    // Everything committed before the subscription went live is in the store: start after it.
    // If the store cannot say, start at the first event the bus brings (0: not known yet).
    let mut next = match store
        .history(
            channel,
            HistoryQuery {
                limit: 1,
                ..Default::default()
            },
        )
        .await
    {
        Ok(page) => page.last_seq + 1,
        Err(e) => {
            tracing::warn!(error = %e, channel_id = %channel, "cannot read channel position");
            0
        }
    };
    topic
        .delivered
        .store(next.saturating_sub(1), Ordering::Release);
    let _ = ready.send(true);

    // Events that arrived ahead of a missing one, waiting (at most REORDER_WAIT) for it: senders
    // whose messages commit together publish in any order, and the bus itself may reorder.
    let mut ahead: BTreeMap<u64, (Utf8Bytes, Option<UserId>)> = BTreeMap::new();
    let mut gap_deadline: Option<Instant> = None;
    loop {
        let wait_for_gap = async {
            match gap_deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        };
        let payload = tokio::select! {
            payload = sub.next() => match payload {
                Some(p) => p,
                None => return,
            },
            _ = topic.recheck.notified() => {
                match store.history(channel, HistoryQuery { limit: 1, ..Default::default() }).await {
                    Ok(page) if next == 0 => next = page.last_seq + 1,
                    Ok(page) if page.last_seq >= next => {
                        next = fill_gap(&*store, &metrics, &topic, channel, next, page.last_seq + 1).await;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, channel_id = %channel, "cannot recheck channel"),
                }
                next = release_ahead(&topic, channel, &mut ahead, next);
                gap_deadline = gap_deadline.filter(|_| !ahead.is_empty());
                continue;
            }
            _ = wait_for_gap => {
                // The missing events are committed (they were published after their commit):
                // take them from the store, then what waited behind them.
                if let Some(&first) = ahead.keys().next() {
                    next = fill_gap(&*store, &metrics, &topic, channel, next, first).await;
                }
                next = release_ahead(&topic, channel, &mut ahead, next);
                gap_deadline = (!ahead.is_empty()).then(|| Instant::now() + REORDER_WAIT);
                continue;
            }
        };
        let started = Instant::now();
        let head: FrameHead = match serde_json::from_slice(&payload) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, channel_id = %channel, "undecodable frame on the bus");
                continue;
            }
        };
        let (Some(seq), "event") = (head.seq, head.op.as_str()) else {
            if let Ok(frame) = Utf8Bytes::try_from(payload) {
                let subs = topic.subscribers.read().unwrap_or_else(|e| e.into_inner());
                for s in subs.values() {
                    s.handle.push(Outbound::Frame(frame.clone()));
                }
            }
            continue;
        };
        if next == 0 {
            next = seq;
        }
        if head.channel_id != Some(channel) || seq < next {
            continue; // A repeat, or already filled from the store.
        }
        let Ok(frame) = Utf8Bytes::try_from(payload) else {
            continue;
        };
        let gone = match head.kind.as_deref() {
            Some("member_removed") => head.user.map(|u| u.id),
            Some("member_left") => head.author.map(|a| a.id),
            _ => None,
        };
        if seq > next {
            ahead.insert(seq, (frame, gone));
            if ahead.len() > MAX_AHEAD {
                let first = ahead.keys().next().copied().unwrap_or(seq);
                next = fill_gap(&*store, &metrics, &topic, channel, next, first).await;
                next = release_ahead(&topic, channel, &mut ahead, next);
            }
            gap_deadline = match gap_deadline {
                _ if ahead.is_empty() => None,
                Some(deadline) => Some(deadline),
                None => Some(Instant::now() + REORDER_WAIT),
            };
            continue;
        }
        deliver(&topic, channel, seq, frame, gone);
        next = release_ahead(&topic, channel, &mut ahead, seq + 1);
        if ahead.is_empty() {
            gap_deadline = None;
        }
        metrics
            .fanout_seconds
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Fans out one event, then stops delivering to a member it removed.
fn deliver(topic: &Topic, channel: ChannelId, seq: u64, frame: Utf8Bytes, gone: Option<UserId>) {
    fan_out(topic, channel, seq, frame);
    drop_departed(topic, gone, seq);
}

/// Fans out the events that waited for `next` and now follow on from it (dropping any already
/// filled from the store); returns the next `seq` to expect.
fn release_ahead(
    topic: &Topic,
    channel: ChannelId,
    ahead: &mut BTreeMap<u64, (Utf8Bytes, Option<UserId>)>,
    mut next: u64,
) -> u64 {
    while let Some(entry) = ahead.first_entry() {
        let seq = *entry.key();
        if seq > next {
            break;
        }
        let (frame, gone) = entry.remove();
        if seq == next {
            deliver(topic, channel, seq, frame, gone);
            next += 1;
        }
    }
    next
}

/// After fanning out a removal at `seq`, no later event reaches the removed user's sessions
/// (those that subscribed before it; a session that rejoined since keeps its subscription).
fn drop_departed(topic: &Topic, gone: Option<UserId>, seq: u64) {
    if let Some(gone) = gone {
        let mut subs = topic.subscribers.write().unwrap_or_else(|e| e.into_inner());
        subs.retain(|_, s| s.handle.user != gone || s.since >= seq);
    }
}

/// Fans out events `from..to` (exclusive) from the store; returns the next `seq` to expect.
async fn fill_gap(
    store: &dyn Store,
    metrics: &Metrics,
    topic: &Topic,
    channel: ChannelId,
    from: u64,
    to: u64,
) -> u64 {
    let mut next = from;
    while next < to {
        let query = HistoryQuery {
            after: Some(next.saturating_sub(1)),
            before: Some(to),
            limit: 200,
        };
        let page = match store.history(channel, query).await {
            Ok(page) => page,
            Err(e) => {
                // Sessions repair the gap themselves when they notice it.
                tracing::warn!(error = %e, channel_id = %channel, "cannot fill gap from store");
                return to;
            }
        };
        if page.events.is_empty() {
            return to; // Pruned, or never there: nothing to deliver.
        }
        for event in page.events {
            let seq = event.seq;
            let gone = match &event.body {
                EventBody::MemberRemoved { user } => Some(user.id),
                EventBody::MemberLeft => Some(event.author.id),
                _ => None,
            };
            if let Some(text) = encode_frame(&ServerFrame::Event(event)) {
                fan_out(topic, channel, seq, Utf8Bytes::from(text));
            }
            drop_departed(topic, gone, seq);
            next = seq + 1;
        }
        metrics.gaps_filled.inc();
    }
    next
}

async fn run_user_topic(hub: Hub, user: UserId, topic: Arc<Topic>, ready: watch::Sender<bool>) {
    let mut sub = match hub.inner.bus.subscribe(&subject::user(user)).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::error!(error = %e, user_id = %user, "cannot subscribe to user signals");
            let _ = ready.send(true);
            return;
        }
    };
    let _ = ready.send(true);
    while let Some(payload) = sub.next().await {
        let signal: UserSignal = match serde_json::from_slice(&payload) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, user_id = %user, "undecodable user signal");
                continue;
            }
        };
        let sessions: Vec<SessionHandle> = topic
            .subscribers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|s| s.handle.clone())
            .collect();
        match signal {
            UserSignal::Joined(summary) => {
                // Each session subscribes itself when it handles this, in its own order.
                for s in &sessions {
                    s.push(Outbound::Joined(Box::new(summary.clone())));
                }
            }
            UserSignal::Left { channel, seq } => {
                // The channel topic stops delivering to these sessions when it fans out the
                // removal; the session catches up to `seq` first, so it sees its own removal.
                for s in &sessions {
                    s.push(Outbound::Left { channel, seq });
                }
            }
            UserSignal::Read(state) => {
                if let Some(text) = encode_frame(&ServerFrame::ReadState(state)) {
                    let frame = Utf8Bytes::from(text);
                    for s in &sessions {
                        s.push(Outbound::Frame(frame.clone()));
                    }
                }
            }
            UserSignal::Revoked(hash_hex) => {
                for s in sessions.iter().filter(|s| hex(&s.token_hash) == hash_hex) {
                    s.push(Outbound::Close(CloseCode::SessionRevoked));
                }
            }
        }
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
