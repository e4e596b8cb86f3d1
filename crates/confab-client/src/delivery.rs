//! Handing what the server pushed to the application: through a bounded queue that is the SDK's
//! backpressure, and, for channel events, once and in `seq` order: repeats dropped, a gap filled
//! from history over HTTP before the event after it (docs/protocol.md §2.3, "Fallback: history").
//! The decisions are [`Cursors`]'; this module does the waiting and the fetching.

use confab_proto::{ChannelId, Event};
use tokio::sync::mpsc;

use crate::cursor::{Arrival, Cursors};
use crate::http::HistoryQuery;
use crate::{ClientEvent, Http};

/// How many events one history request asks for while filling a gap.
const GAP_PAGE: u32 = 200;

/// The way to the application's [`Events`](crate::Events).
pub(crate) struct Delivery {
    events: mpsc::Sender<ClientEvent>,
    /// The REST API, for filling gaps.
    http: Http,
}

impl Delivery {
    pub(crate) fn new(events: mpsc::Sender<ClientEvent>, http: Http) -> Self {
        Delivery { events, http }
    }

    /// Hands an event to the application, waiting for room.
    pub(crate) async fn emit(&self, event: ClientEvent) {
        // Waiting here is the SDK's backpressure: the socket is not read until the app catches up.
        let _ = self.events.send(event).await;
    }

    /// Hands a channel event to the application unless it is a repeat, filling a gap before it.
    /// `false` when a gap could not be filled: the event was not handed over, and the client must
    /// resume from the cursor rather than skip what is missing.
    pub(crate) async fn event(&self, cursors: &mut Cursors, event: Event) -> bool {
        let channel = event.channel_id;
        match cursors.arrival(channel, event.seq) {
            Arrival::Repeat => return true,
            Arrival::Gap { after } => {
                if !self.fill_gap(cursors, channel, after, event.seq).await {
                    return false;
                }
            }
            Arrival::Next => {}
        }
        // The cursor moves once the application has the event, not before.
        let seq = event.seq;
        self.emit(ClientEvent::Event(event)).await;
        cursors.handed(channel, seq);
        true
    }

    /// Fetches events `after+1 .. before` of `channel` over HTTP and hands them over. `false` when
    /// the history could not be read.
    async fn fill_gap(
        &self,
        cursors: &mut Cursors,
        channel: ChannelId,
        after: u64,
        before: u64,
    ) -> bool {
        let mut after = after;
        while after + 1 < before {
            let q = HistoryQuery {
                after: Some(after),
                before: Some(before),
                limit: Some(GAP_PAGE),
            };
            let page = match self.http.history(channel, q).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, channel_id = %channel, "cannot fill gap from history");
                    return false;
                }
            };
            if page.truncated {
                // Pruned by retention: resuming makes the server send a resync for it.
                return false;
            }
            // Nothing there: nothing to hand over.
            let Some(last) = page.events.last().map(|e| e.seq) else {
                return true;
            };
            for e in page.events {
                let seq = e.seq;
                self.emit(ClientEvent::Event(e)).await;
                cursors.filled(channel, seq);
            }
            after = last;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_proto::{EventBody, EventId, UserId, UserRef};

    const CHANNEL: ChannelId = ChannelId(5);

    /// A delivery whose gaps cannot be filled (nothing listens at its REST base), and its events.
    fn delivery() -> (Delivery, mpsc::Receiver<ClientEvent>) {
        let (events, rx) = mpsc::channel(16);
        let http = Http::new("http://127.0.0.1:1").with_token("tok");
        (Delivery::new(events, http), rx)
    }

    fn event(seq: u64) -> Event {
        Event {
            channel_id: CHANNEL,
            seq,
            id: EventId(100 + seq as i64),
            ts: 0,
            author: UserRef {
                id: UserId(1),
                username: "bob".into(),
            },
            body: EventBody::Message {
                body: format!("m{seq}"),
                client_id: format!("c{seq}"),
            },
        }
    }

    #[tokio::test]
    async fn events_are_handed_over_once_in_order() {
        let (delivery, mut events) = delivery();
        let mut cursors = Cursors::default();
        cursors.filled(CHANNEL, 1);
        for seq in [2, 2, 1, 3] {
            assert!(delivery.event(&mut cursors, event(seq)).await);
        }
        assert_eq!(events.try_recv().unwrap(), ClientEvent::Event(event(2)));
        assert_eq!(events.try_recv().unwrap(), ClientEvent::Event(event(3)));
        assert!(events.try_recv().is_err());
        assert_eq!(cursors.arrival(CHANNEL, 4), Arrival::Next);
    }

    #[tokio::test]
    async fn a_gap_that_cannot_be_filled_is_never_skipped() {
        let (delivery, mut events) = delivery();
        let mut cursors = Cursors::default();
        cursors.filled(CHANNEL, 1);
        assert!(!delivery.event(&mut cursors, event(5)).await);
        assert!(events.try_recv().is_err());
        assert_eq!(
            cursors.arrival(CHANNEL, 2),
            Arrival::Next,
            "the cursor stays"
        );
    }
}
