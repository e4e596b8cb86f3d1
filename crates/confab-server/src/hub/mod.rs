//! Local fan-out: one bus subscription per channel (and per user) with local sessions, shared by
//! all of them.
//!
//! A **channel topic** ([`channel`]) exists while at least one session on this node belongs to a
//! member of the channel. Its task reads the channel's bus subject, puts events back in `seq`
//! order (dropping repeats; an event ahead of a missing one waits briefly for it, then the gap is
//! filled from the store), and pushes the frame bytes — serialized once by the publisher, routed by
//! the [`Envelope`] header without parsing — into each subscribed session's bounded queue.
//!
//! A **user topic** ([`user`]) exists while the user has a session on this node. It carries
//! [`UserSignal`]s: channels joined and left, read pointers moved, tokens revoked.
//!
//! A session whose queue is full is told to close as a slow consumer; the hub never blocks on it.

mod channel;
mod user;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use confab_bus::{subject, Bus, Envelope, Route};
use confab_proto::{ChannelId, Event, ServerFrame, UserId};
use confab_store::Store;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::metrics::Metrics;
pub use crate::queue::Outbound;
use crate::queue::SessionQueue;

pub use user::UserSignal;

/// Identifies one session (connection) on this node.
pub type SessionKey = u64;

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

/// A session subscribed to a topic.
struct Subscriber {
    handle: SessionHandle,
    /// For channels: the `seq` the session had when it subscribed. A removal older than this
    /// (fanned out late) does not unsubscribe a session that rejoined since.
    since: u64,
}

/// One bus subscription and the local sessions it feeds.
struct Topic {
    subscribers: RwLock<HashMap<SessionKey, Subscriber>>,
    /// Becomes true once the bus subscription is live (and, for channels, `delivered` is set),
    /// or the topic's task is gone; `became_ready` wakes those waiting for it.
    ready: AtomicBool,
    became_ready: Notify,
    /// For channels: the highest `seq` fanned out so far.
    delivered: AtomicU64,
    /// For channels: check the store for events the bus may have dropped (after a bus outage).
    recheck: Notify,
    task: Mutex<Option<AbortHandle>>,
}

impl Topic {
    fn new() -> (Arc<Topic>, Ready) {
        let topic = Arc::new(Topic {
            subscribers: RwLock::new(HashMap::new()),
            ready: AtomicBool::new(false),
            became_ready: Notify::new(),
            delivered: AtomicU64::new(0),
            recheck: Notify::new(),
            task: Mutex::new(None),
        });
        (topic.clone(), Ready(topic))
    }

    fn abort(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    async fn wait_ready(&self) {
        loop {
            let became_ready = self.became_ready.notified();
            tokio::pin!(became_ready);
            became_ready.as_mut().enable();
            if self.ready.load(Ordering::Acquire) {
                return;
            }
            became_ready.await;
        }
    }

    /// The sessions subscribed now.
    fn handles(&self) -> Vec<SessionHandle> {
        let subs = self.subscribers.read().unwrap_or_else(|e| e.into_inner());
        subs.values().map(|s| s.handle.clone()).collect()
    }

    /// Pushes `item` (made once per session) to every subscriber; returns how many there were.
    fn push_all(&self, mut item: impl FnMut() -> Outbound) -> usize {
        let subs = self.subscribers.read().unwrap_or_else(|e| e.into_inner());
        for s in subs.values() {
            s.handle.push(item());
        }
        subs.len()
    }

    fn insert(&self, session: &SessionHandle, since: u64) {
        self.subscribers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                session.key,
                Subscriber {
                    handle: session.clone(),
                    since,
                },
            );
    }
}

/// Marks its topic ready when told to, or when dropped: a topic whose task failed or was torn
/// down before its subscription went live must not keep sessions waiting for it.
struct Ready(Arc<Topic>);

impl Ready {
    fn mark(self) {}
}

impl Drop for Ready {
    fn drop(&mut self) {
        self.0.ready.store(true, Ordering::Release);
        self.0.became_ready.notify_waiters();
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
                let topics: Vec<Arc<Topic>> = lock(&inner.channels).values().cloned().collect();
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
        let route = Route::Event {
            channel: event.channel_id,
            seq: event.seq,
            removes: event.removes(),
        };
        let frame = ServerFrame::Event(event.clone());
        self.publish_to_channel(event.channel_id, route, &frame)
            .await;
    }

    /// Publishes an ephemeral frame (a receipt, a typing indicator) to every session subscribed to
    /// `channel`, on every node. It is not ordered, stored or repeated.
    pub async fn publish_ephemeral(&self, channel: ChannelId, frame: &ServerFrame) {
        self.publish_to_channel(channel, Route::Ephemeral, frame)
            .await;
    }

    async fn publish_to_channel(&self, channel: ChannelId, route: Route, frame: &ServerFrame) {
        match Envelope::encode(route, frame) {
            Ok(payload) => self.publish(subject::channel(channel), payload).await,
            Err(e) => tracing::error!(error = %e, "cannot serialize frame"),
        }
    }

    /// Sends a signal to every session of `user`, on every node.
    pub async fn signal(&self, user: UserId, signal: &UserSignal) {
        match serde_json::to_vec(signal) {
            Ok(payload) => self.publish(subject::user(user), payload.into()).await,
            Err(e) => tracing::error!(error = %e, "cannot serialize user signal"),
        }
    }

    async fn publish(&self, subject: String, payload: Bytes) {
        if let Err(e) = self.inner.bus.publish(&subject, payload).await {
            tracing::warn!(error = %e, %subject, "bus publish failed");
        }
    }

    /// Registers a session for its user's signals. Call before reading the session's snapshot, so
    /// no channel joined afterwards goes unnoticed.
    pub async fn attach_user(&self, session: &SessionHandle) {
        let topic = {
            let mut users = lock(&self.inner.users);
            let topic = users
                .entry(session.user)
                .or_insert_with(|| self.spawn_user_topic(session.user))
                .clone();
            topic.insert(session, 0);
            topic
        };
        topic.wait_ready().await;
    }

    /// Subscribes a session to a channel's events. `known_seq` is the last `seq` the session already
    /// has; if the topic fanned out newer events before the session joined, a [`Outbound::CatchUp`]
    /// tells the session to fetch them.
    pub async fn subscribe(&self, session: &SessionHandle, channel: ChannelId, known_seq: u64) {
        let topic = {
            let mut channels = lock(&self.inner.channels);
            let topic = channels
                .entry(channel)
                .or_insert_with(|| self.spawn_channel_topic(channel))
                .clone();
            topic.insert(session, known_seq);
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
        let users = lock(&self.inner.users);
        users.values().flat_map(|topic| topic.handles()).collect()
    }

    /// Ends the queue of every session on this node whose client has been silent for longer than
    /// `timeout` at `now` (milliseconds of the heartbeat clock); returns how many.
    pub fn sweep(&self, now: u64, timeout: u64) -> usize {
        let users = lock(&self.inner.users);
        let mut expired = 0;
        for topic in users.values() {
            let subs = topic.subscribers.read().unwrap_or_else(|e| e.into_inner());
            for s in subs.values() {
                expired += usize::from(s.handle.queue.expire_if_silent(now, timeout));
            }
        }
        expired
    }

    /// Whether the bus is connected (for readiness).
    pub fn bus_connected(&self) -> bool {
        self.inner.bus.is_connected()
    }

    /// Channel topics alive on this node (one bus subscription each).
    pub fn channel_topics(&self) -> usize {
        lock(&self.inner.channels).len()
    }

    /// Items waiting in the queues of this node's sessions: in all of them, and in the fullest.
    pub fn queued(&self) -> (usize, usize) {
        let users = lock(&self.inner.users);
        let mut total = 0;
        let mut max = 0;
        for topic in users.values() {
            let subs = topic.subscribers.read().unwrap_or_else(|e| e.into_inner());
            for s in subs.values() {
                let len = s.handle.queue.len();
                total += len;
                max = max.max(len);
            }
        }
        (total, max)
    }

    fn spawn_channel_topic(&self, channel: ChannelId) -> Arc<Topic> {
        let (topic, ready) = Topic::new();
        let task = tokio::spawn(channel::run(
            Arc::downgrade(&self.inner),
            channel,
            topic.clone(),
            ready,
        ));
        *topic.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        topic
    }

    fn spawn_user_topic(&self, user: UserId) -> Arc<Topic> {
        let (topic, ready) = Topic::new();
        let task = tokio::spawn(user::run(
            self.inner.bus.clone(),
            user,
            topic.clone(),
            ready,
        ));
        *topic.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        topic
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn remove_subscriber<K: Hash + Eq>(map: &Mutex<HashMap<K, Arc<Topic>>>, id: K, key: SessionKey) {
    let mut map = lock(map);
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

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
