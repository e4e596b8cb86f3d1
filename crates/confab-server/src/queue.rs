//! The bounded queue between the hub and one session.
//!
//! Every connected session has one, so it is built to cost little, idle or busy: a few words and
//! an empty `VecDeque` (no allocation until the first frame; the buffer of a burst is released
//! once the queue drains), one lock per push and per take, and one waker (the session task's) to
//! wake. A push never waits: on a full queue the session is flagged as a slow consumer and closes
//! with 4002, so no session's backlog can stall the hub or grow the server.
//!
//! The queue also keeps when its client was last heard from: the node's heartbeat sweeper
//! ([`crate::heartbeat`]) ends a queue whose client stayed silent past the timeout, and the
//! session's task, which waits on the queue anyway, closes with 4001. So an idle session carries
//! no timer of its own, and a frame from the client costs one atomic store instead of moving one.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::extract::ws::Utf8Bytes;
use confab_proto::{ChannelId, ChannelSummary, CloseCode};
use futures::task::AtomicWaker;

/// What the hub hands a session's connection task: one item of its queue.
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

/// Capacity kept after the queue drains; a larger buffer (from a burst) is released.
const KEEP_CAPACITY: usize = 16;

/// Why a queue ended before its session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A push found it full: the session must close as a slow consumer.
    Overflow,
    /// Its client was silent past the heartbeat timeout.
    Expired,
}

/// What a session's task takes from its queue.
#[derive(Debug)]
pub enum Received {
    Item(Outbound),
    Ended(Ending),
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Outbound>,
    /// The session ended: pushes are refused.
    closed: bool,
    /// The session must end, and why (before anything still queued).
    ended: Option<Ending>,
}

/// A session's queue of outbound items. Any number of producers; one consumer task (the
/// session's), which alone may wait on it.
#[derive(Debug)]
pub struct SessionQueue {
    state: Mutex<State>,
    /// The consumer task, woken when an item is pushed or the queue ends.
    waker: AtomicWaker,
    capacity: usize,
    /// When the client was last heard from, in the node's heartbeat clock (milliseconds).
    last_heard: AtomicU64,
}

impl SessionQueue {
    /// A queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> SessionQueue {
        SessionQueue {
            state: Mutex::new(State::default()),
            waker: AtomicWaker::new(),
            capacity: capacity.max(1),
            last_heard: AtomicU64::new(u64::MAX),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Items waiting now (for metrics).
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether nothing waits now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `item` without waiting. `false` when the session is gone, or when the queue is
    /// full: then the session is flagged as a slow consumer and the item dropped.
    pub fn push(&self, item: Outbound) -> bool {
        let mut state = self.lock();
        if state.closed || state.ended.is_some() {
            return false;
        }
        if state.items.len() >= self.capacity {
            state.ended = Some(Ending::Overflow);
            drop(state);
            self.waker.wake();
            return false;
        }
        state.items.push_back(item);
        drop(state);
        self.waker.wake();
        true
    }

    /// The next item, if one is queued.
    pub fn try_recv(&self) -> Option<Outbound> {
        Self::take(&mut self.lock())
    }

    fn take(state: &mut State) -> Option<Outbound> {
        let item = state.items.pop_front();
        if state.items.is_empty() && state.items.capacity() > KEEP_CAPACITY {
            state.items = VecDeque::new();
        }
        item
    }

    /// Waits for the next item, or for the queue to end (the session must close). Cancel-safe: an
    /// item is only taken when this completes.
    pub async fn recv(&self) -> Received {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Received> {
        let ready = |state: &mut State| match state.ended {
            Some(ending) => Some(Received::Ended(ending)),
            None => Self::take(state).map(Received::Item),
        };
        if let Some(next) = ready(&mut self.lock()) {
            return Poll::Ready(next);
        }
        // Register, then look again: a push in between has woken the waker just registered.
        self.waker.register(cx.waker());
        match ready(&mut self.lock()) {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }

    /// Completes once the queue has ended, with why. Cancel-safe.
    pub async fn ended(&self) -> Ending {
        poll_fn(|cx| {
            if let Some(ending) = self.lock().ended {
                return Poll::Ready(ending);
            }
            self.waker.register(cx.waker());
            match self.lock().ended {
                Some(ending) => Poll::Ready(ending),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// The client was heard from at `now` (milliseconds of the heartbeat clock).
    pub fn heard(&self, now: u64) {
        self.last_heard.store(now, Ordering::Relaxed);
    }

    /// Ends the queue if its client has not been heard from for longer than `timeout` at `now`;
    /// returns whether it did.
    pub fn expire_if_silent(&self, now: u64, timeout: u64) -> bool {
        let heard = self.last_heard.load(Ordering::Relaxed);
        if heard == u64::MAX || now.saturating_sub(heard) <= timeout {
            return false;
        }
        let mut state = self.lock();
        if state.closed || state.ended.is_some() {
            return false;
        }
        state.ended = Some(Ending::Expired);
        drop(state);
        self.waker.wake();
        true
    }

    /// The session ended: refuse further pushes and drop what is queued.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_proto::CloseCode;

    fn frame(n: u8) -> Outbound {
        Outbound::Frame(format!("{n}").into())
    }

    fn text(item: impl Into<Received>) -> String {
        match item.into() {
            Received::Item(Outbound::Frame(f)) => f.as_str().to_owned(),
            other => panic!("unexpected {other:?}"),
        }
    }

    impl From<Outbound> for Received {
        fn from(item: Outbound) -> Self {
            Received::Item(item)
        }
    }

    #[tokio::test]
    async fn items_come_out_in_order_and_a_full_queue_flags_overflow() {
        let q = SessionQueue::new(3);
        assert!(q.push(frame(1)) && q.push(frame(2)) && q.push(frame(3)));
        assert_eq!(text(q.recv().await), "1");
        assert_eq!(text(q.try_recv().expect("queued")), "2");
        assert!(q.push(frame(4)) && q.push(frame(5)));
        assert!(!q.push(frame(6)), "the sixth does not fit");
        assert_eq!(q.ended().await, Ending::Overflow); // completes at once
        assert!(!q.push(frame(7)), "an overflowed queue takes nothing more");
        assert!(
            matches!(q.recv().await, Received::Ended(Ending::Overflow)),
            "overflow comes before what is queued"
        );
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_push_from_another_task() {
        let q = std::sync::Arc::new(SessionQueue::new(8));
        let producer = q.clone();
        let waiter = tokio::spawn(async move { text(q.recv().await) });
        tokio::task::yield_now().await;
        assert!(producer.push(frame(7)));
        assert_eq!(waiter.await.expect("join"), "7");
    }

    #[tokio::test]
    async fn a_closed_queue_refuses_pushes_and_releases_its_items() {
        let q = SessionQueue::new(64);
        for n in 0..40 {
            assert!(q.push(frame(n)));
        }
        q.close();
        assert!(!q.push(Outbound::Close(CloseCode::InternalError)));
        assert!(q.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_queue_whose_client_is_silent_past_the_timeout_ends() {
        let q = SessionQueue::new(8);
        assert!(
            !q.expire_if_silent(1_000_000, 10),
            "never heard from: a session not started"
        );
        q.heard(100);
        assert!(
            !q.expire_if_silent(160, 60),
            "silent for exactly the timeout"
        );
        q.heard(150);
        assert!(!q.expire_if_silent(200, 60), "heard from since");
        assert!(q.push(frame(1)));
        assert!(q.expire_if_silent(211, 60));
        assert!(!q.expire_if_silent(300, 60), "ends once");
        assert_eq!(q.ended().await, Ending::Expired);
        assert!(
            matches!(q.recv().await, Received::Ended(Ending::Expired)),
            "before what is queued"
        );
        assert!(!q.push(frame(2)));
    }

    #[tokio::test]
    async fn a_drained_burst_gives_its_buffer_back() {
        let q = SessionQueue::new(1024);
        for n in 0..200 {
            assert!(q.push(frame((n % 250) as u8)));
        }
        while q.try_recv().is_some() {}
        assert!(q.lock().items.capacity() <= KEEP_CAPACITY);
    }
}
