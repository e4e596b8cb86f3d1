//! The in-process bus: the single-node default.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream_lite::ReceiverStream;

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
    subjects: Mutex<HashMap<String, Vec<mpsc::Sender<Bytes>>>>,
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
        subs.retain(|tx| match tx.try_send(payload.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        if subs.is_empty() {
            subjects.remove(subject);
        }
        Ok(())
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription> {
        let (tx, rx) = mpsc::channel(self.inner.buffer);
        let mut subjects = self
            .inner
            .subjects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subjects.entry(subject.to_owned()).or_default().push(tx);
        Ok(ReceiverStream::new(rx).boxed())
    }
}

/// A minimal `Stream` over a tokio receiver (what `tokio-stream`'s wrapper does).
mod tokio_stream_lite {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::Stream;
    use tokio::sync::mpsc;

    pub struct ReceiverStream<T>(mpsc::Receiver<T>);

    impl<T> ReceiverStream<T> {
        pub fn new(rx: mpsc::Receiver<T>) -> Self {
            ReceiverStream(rx)
        }
    }

    impl<T> Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}
