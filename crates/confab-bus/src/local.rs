//! The in-process bus: the single-node default.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use futures::task::AtomicWaker;
use futures::{Stream, StreamExt};

use crate::{Bus, Result, Subscription};

/// How many payloads one subscription buffers before it starts missing them.
pub const DEFAULT_SUBSCRIPTION_BUFFER: usize = 65_536;

/// An in-process [`Bus`]: subjects are keys of a map, subscriptions bounded queues.
///
/// A subscription whose queue is full misses the payload (counted in [`LocalBus::dropped`]), as a
/// networked bus would; a dropped subscription is removed on the next publish to its subject.
#[derive(Clone)]
pub struct LocalBus {
    inner: Arc<Inner>,
}

struct Inner {
    subjects: Mutex<HashMap<String, Vec<Arc<Mailbox>>>>,
    buffer: usize,
    dropped: AtomicU64,
}

impl std::fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBus").finish_non_exhaustive()
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        LocalBus::with_buffer(DEFAULT_SUBSCRIPTION_BUFFER)
    }
}

impl LocalBus {
    /// A bus whose subscriptions buffer `buffer` payloads each.
    pub fn with_buffer(buffer: usize) -> Self {
        LocalBus {
            inner: Arc::new(Inner {
                subjects: Mutex::new(HashMap::new()),
                buffer: buffer.max(1),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Payloads missed by subscriptions whose queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Subjects with at least one live subscription.
    pub fn subject_count(&self) -> usize {
        let subjects = self
            .inner
            .subjects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subjects.len()
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, subject: &str, payload: Bytes) -> Result<()> {
        let mut subjects = self
            .inner
            .subjects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(subs) = subjects.get_mut(subject) else {
            return Ok(());
        };
        subs.retain(|mailbox| match mailbox.deliver(&payload) {
            Delivery::Queued => true,
            Delivery::Full => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Delivery::Gone => false,
        });
        if subs.is_empty() {
            subjects.remove(subject);
        }
        Ok(())
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription> {
        let mailbox = Arc::new(Mailbox::new(self.inner.buffer));
        let mut subjects = self
            .inner
            .subjects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subjects
            .entry(subject.to_owned())
            .or_default()
            .push(mailbox.clone());
        Ok(Receiver(mailbox).boxed())
    }
}

/// One subscription's queue. Every user and channel with a session on a node has a subscription,
/// so an idle one costs a few words: no buffer until a payload arrives (a drained burst's buffer
/// is given back), one waker.
struct Mailbox {
    state: Mutex<MailboxState>,
    waker: AtomicWaker,
    capacity: usize,
}

#[derive(Default)]
struct MailboxState {
    payloads: VecDeque<Bytes>,
    /// The subscription was dropped: deliveries are refused and the publisher forgets it.
    gone: bool,
}

/// What became of a payload delivered to a mailbox.
enum Delivery {
    Queued,
    Full,
    Gone,
}

/// Capacity kept after a mailbox drains; a larger buffer (from a burst) is released.
const KEEP_CAPACITY: usize = 16;

impl Mailbox {
    fn new(capacity: usize) -> Mailbox {
        Mailbox {
            state: Mutex::new(MailboxState::default()),
            waker: AtomicWaker::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deliver(&self, payload: &Bytes) -> Delivery {
        let mut state = self.lock();
        if state.gone {
            return Delivery::Gone;
        }
        if state.payloads.len() >= self.capacity {
            return Delivery::Full;
        }
        state.payloads.push_back(payload.clone());
        drop(state);
        self.waker.wake();
        Delivery::Queued
    }

    fn take(&self) -> Option<Bytes> {
        let mut state = self.lock();
        let payload = state.payloads.pop_front();
        if state.payloads.is_empty() && state.payloads.capacity() > KEEP_CAPACITY {
            state.payloads = VecDeque::new();
        }
        payload
    }
}

/// The subscriber's end of a [`Mailbox`]; dropping it unsubscribes.
struct Receiver(Arc<Mailbox>);

impl Stream for Receiver {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(payload) = self.0.take() {
            return Poll::Ready(Some(payload));
        }
        // Register, then look again: a delivery in between has woken the waker just registered.
        self.0.waker.register(cx.waker());
        match self.0.take() {
            Some(payload) => Poll::Ready(Some(payload)),
            None => Poll::Pending,
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.gone = true;
        state.payloads = VecDeque::new();
    }
}
