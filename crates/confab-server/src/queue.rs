//! The bounded queue between the hub and one session.
//!
//! Every connected session has one, so it is built to cost little, idle or busy: a few words and
//! an empty `VecDeque` (no allocation until the first frame; the buffer of a burst is released
//! once the queue drains), one lock per push and per take, and one waker (the session task's) to
//! wake. A push never waits: on a full queue the session is flagged as a slow consumer and closes
//! with 4002, so no session's backlog can stall the hub or grow the server.

use std::collections::VecDeque;
use std::future::poll_fn;
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

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Outbound>,
    /// The session ended: pushes are refused.
    closed: bool,
    /// A push found the queue full: the session must close as a slow consumer.
    overflowed: bool,
}

/// A session's queue of outbound items. Any number of producers; one consumer task (the
/// session's), which alone may wait on it.
#[derive(Debug)]
pub struct SessionQueue {
    state: Mutex<State>,
    /// The consumer task, woken when an item is pushed or the queue overflows.
    waker: AtomicWaker,
    capacity: usize,
}

impl SessionQueue {
    /// A queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> SessionQueue {
        SessionQueue {
            state: Mutex::new(State::default()),
            waker: AtomicWaker::new(),
            capacity: capacity.max(1),
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
        if state.closed || state.overflowed {
            return false;
        }
        if state.items.len() >= self.capacity {
            state.overflowed = true;
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

    /// Waits for the next item; `None` once the queue has overflowed (the session must close as a
    /// slow consumer). Cancel-safe: an item is only taken when this completes.
    pub async fn recv(&self) -> Option<Outbound> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        let ready = |state: &mut State| {
            if state.overflowed {
                Some(None)
            } else {
                Self::take(state).map(Some)
            }
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

    /// Completes once the queue has overflowed. Cancel-safe.
    pub async fn overflowed(&self) {
        poll_fn(|cx| {
            if self.lock().overflowed {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.lock().overflowed {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
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

    fn text(item: Outbound) -> String {
        match item {
            Outbound::Frame(f) => f.as_str().to_owned(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn items_come_out_in_order_and_a_full_queue_flags_overflow() {
        let q = SessionQueue::new(3);
        assert!(q.push(frame(1)) && q.push(frame(2)) && q.push(frame(3)));
        assert_eq!(text(q.recv().await.expect("not overflowed")), "1");
        assert_eq!(text(q.try_recv().expect("queued")), "2");
        assert!(q.push(frame(4)) && q.push(frame(5)));
        assert!(!q.push(frame(6)), "the sixth does not fit");
        q.overflowed().await; // completes at once
        assert!(!q.push(frame(7)), "an overflowed queue takes nothing more");
        assert!(
            q.recv().await.is_none(),
            "overflow comes before what is queued"
        );
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_push_from_another_task() {
        let q = std::sync::Arc::new(SessionQueue::new(8));
        let producer = q.clone();
        let waiter = tokio::spawn(async move { text(q.recv().await.expect("an item")) });
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
    async fn a_drained_burst_gives_its_buffer_back() {
        let q = SessionQueue::new(1024);
        for n in 0..200 {
            assert!(q.push(frame((n % 250) as u8)));
        }
        while q.try_recv().is_some() {}
        assert!(q.lock().items.capacity() <= KEEP_CAPACITY);
    }
}
