//! A session's life after `ready`/`resumed`: queued frames out (several per flush), client frames
//! in, the heartbeat deadline, slow-consumer and drain signals; and the per-channel cursors that
//! keep every channel's events once and in `seq` order for this client.

use std::future::Future;

use confab_proto::{ChannelId, CloseCode, ServerFrame};

use super::conn::{encode, Conn, End, Inbound};
use super::link::{Incoming, Link};
use super::op;
use super::state::Session;
use crate::backfill::Backfill;
use crate::hub::Outbound;
use crate::metrics::Reason;
use crate::queue::{Ending, Received};
use crate::state::AppState;

/// Frames written per flush at most, when several are queued.
const MAX_BATCH: usize = 64;

/// What woke a serving session.
enum Wake {
    Item(Outbound),
    Ended(Ending),
    /// Read, not yet parsed: parsing (and the frame it gives) takes space in the boxed handler only.
    Inbound(Incoming),
}

/// Ends a session whose queue ended: overflowed (a slow consumer) or expired (its client went
/// quiet past the heartbeat timeout). Counted in metrics.
fn ended(state: &AppState, ending: Ending) -> End {
    match ending {
        Ending::Overflow => {
            state.metrics.reject(Reason::slow_consumer);
            tracing::info!("closing slow consumer");
            Some(CloseCode::SlowConsumer)
        }
        Ending::Expired => {
            state.metrics.reject(Reason::heartbeat_timeout);
            Some(CloseCode::HeartbeatTimeout)
        }
    }
}

impl Session {
    /// Serves until the session ends; returns why.
    ///
    /// Its future lives in every connected session's task, so it is kept small: the heartbeat
    /// deadline is the node's sweeper's (see [`crate::heartbeat`]), which ends the queue this
    /// loop waits on anyway.
    pub(super) async fn serve<L: Link>(&mut self, conn: &mut Conn<L>) -> End {
        let state = conn.state.clone();
        // On drain the app queues a `server_shutdown` close for every session, spread over the
        // window; a session that was not yet attached then leaves here.
        if state.is_shutting_down() {
            return Some(CloseCode::ServerShutdown);
        }
        let queue = self.handle.queue.clone();
        queue.heard(state.clock_ms());
        loop {
            // Not biased: neither a busy channel nor a busy client may starve the other direction.
            // The select only says what happened; the work is done after it, so the futures of
            // the select and of the work never take space in this task at the same time.
            let wake = tokio::select! {
                received = queue.recv() => match received {
                    Received::Item(item) => Wake::Item(item),
                    Received::Ended(ending) => Wake::Ended(ending),
                },
                incoming = conn.link.recv() => Wake::Inbound(incoming),
            };
            let end = match wake {
                Wake::Item(item) => {
                    // A client that stops reading blocks the write; the queue's end (overflow,
                    // or the heartbeat timeout) must still end the session.
                    tokio::select! {
                        biased;
                        written = self.write(conn, item) => written.err(),
                        ending = queue.ended() => Some(ended(&state, ending)),
                    }
                }
                Wake::Inbound(incoming) => {
                    queue.heard(state.clock_ms());
                    let handled = Box::pin(self.handle_inbound(conn, incoming));
                    handled.await.err()
                }
                Wake::Ended(ending) => Some(ended(&state, ending)),
            };
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Handles one message from the client: a frame goes to its op, and its answer (if any) back.
    async fn handle_inbound<L: Link>(
        &mut self,
        conn: &mut Conn<L>,
        incoming: Incoming,
    ) -> Result<(), End> {
        let frame = match conn.classify(incoming) {
            Inbound::Frame(frame) => frame,
            Inbound::Invalid(error, reference) => return conn.invalid(error, reference).await,
            Inbound::Alive => return Ok(()),
            Inbound::Gone => return Err(None),
            Inbound::TooLarge => {
                conn.state.metrics.reject(Reason::frame_too_large);
                return Err(Some(CloseCode::FrameTooLarge));
            }
        };
        match op::handle(self, conn, frame).await? {
            Some(reply) if !conn.send(&reply).await => Err(None),
            _ => Ok(()),
        }
    }

    /// Writes `first` and whatever else is already queued (up to a batch), then flushes once.
    ///
    /// Its future lives in every session's task (the serve loop awaits it), so it holds little: the
    /// item in hand and the link's poll functions. The rare items (gaps, joins, removals), whose
    /// work needs more space, are written by a boxed [`Session::write_one`].
    pub(super) async fn write<L: Link>(
        &mut self,
        conn: &mut Conn<L>,
        first: Outbound,
    ) -> Result<(), End> {
        let mut current = first;
        let mut written = 0usize;
        loop {
            written += match current {
                // The common case, inline: the next event of a channel, or a ready-made frame.
                Outbound::Event {
                    channel,
                    seq,
                    frame,
                } if self.cursors.get(&channel).is_some_and(|&c| seq == c + 1) => {
                    conn.link.feed(frame).await.map_err(|_| None)?;
                    self.cursors.insert(channel, seq);
                    1
                }
                Outbound::Frame(frame) => {
                    conn.link.feed(frame).await.map_err(|_| None)?;
                    1
                }
                other => {
                    let rare = Box::pin(self.write_one(conn, other));
                    rare.await?
                }
            };
            if written >= MAX_BATCH {
                break;
            }
            match self.handle.queue.try_recv() {
                Some(next) => current = next,
                None => break,
            }
        }
        conn.state.metrics.frames_out.inc_by(written as u64);
        conn.link.flush().await.map_err(|_| None)
    }

    /// Feeds the frames one queued item stands for; returns how many.
    async fn write_one<L: Link>(
        &mut self,
        conn: &mut Conn<L>,
        item: Outbound,
    ) -> Result<usize, End> {
        match item {
            Outbound::Event {
                channel,
                seq,
                frame,
            } => {
                let Some(&cursor) = self.cursors.get(&channel) else {
                    return Ok(0); // Not (or no longer) a member here.
                };
                if seq <= cursor {
                    return Ok(0);
                }
                let mut n = 0;
                if seq > cursor + 1 {
                    n += self.catch_up(conn, channel, seq - 1).await?;
                }
                conn.feed(frame).await?;
                self.cursors.insert(channel, seq);
                Ok(n + 1)
            }
            Outbound::CatchUp { channel, upto } => self.catch_up(conn, channel, upto).await,
            Outbound::Joined(summary) => {
                if self.cursors.contains_key(&summary.id) {
                    return Ok(0); // Already in this session's ready snapshot.
                }
                self.cursors.insert(summary.id, summary.last_seq);
                conn.state
                    .hub
                    .subscribe(&self.handle, summary.id, summary.last_seq)
                    .await;
                let peer = summary.peer.as_ref().map(|p| p.id);
                conn.feed(encode(&ServerFrame::ChannelJoined { channel: *summary }))
                    .await?;
                // A new direct peer is a contact: watch them and say where they are.
                let mut n = 1;
                if let Some(peer) = peer {
                    if self.watched.insert(peer) {
                        conn.state.watchers.watch(&self.handle, [peer]);
                        let presence = confab_proto::Presence {
                            user_id: peer,
                            status: conn.state.presence.status(peer),
                            last_seen: None,
                        };
                        conn.feed(encode(&ServerFrame::Presence(presence))).await?;
                        n += 1;
                    }
                }
                Ok(n)
            }
            Outbound::Left { channel, seq } => {
                // Deliver everything up to and including the removal, then nothing more.
                let n = self.catch_up(conn, channel, seq).await?;
                if self.cursors.remove(&channel).is_none() {
                    return Ok(n);
                }
                conn.state.hub.unsubscribe(self.handle.key, channel);
                conn.feed(encode(&ServerFrame::ChannelLeft {
                    channel_id: channel,
                }))
                .await?;
                Ok(n + 1)
            }
            Outbound::Frame(frame) => {
                conn.feed(frame).await?;
                Ok(1)
            }
            Outbound::Close(code) => Err(Some(code)),
        }
    }

    /// Sends the channel's events after this session's cursor up to `upto` from the store.
    pub(super) fn catch_up<'a, L: Link>(
        &'a mut self,
        conn: &'a mut Conn<L>,
        channel: ChannelId,
        upto: u64,
    ) -> impl Future<Output = Result<usize, End>> + Send + 'a {
        // Boxed: rare, and its future (a store query and a page of events) is large.
        Box::pin(self.catch_up_from_store(conn, channel, upto))
    }

    async fn catch_up_from_store<L: Link>(
        &mut self,
        conn: &mut Conn<L>,
        channel: ChannelId,
        upto: u64,
    ) -> Result<usize, End> {
        let Some(&cursor) = self.cursors.get(&channel) else {
            return Ok(0);
        };
        let mut backfill = Backfill::new(channel, cursor, upto);
        let mut n = 0;
        loop {
            let page = match backfill.next_page(&*conn.state.store).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, channel_id = %channel, "cannot fill gap; reconnect to resync");
                    return Err(Some(CloseCode::InternalError));
                }
            };
            if page.truncated {
                // Retention removed events this session has not delivered: it cannot go on
                // without a gap. The client resumes, and resume answers with a resync.
                tracing::info!(channel_id = %channel, "history pruned past the session's cursor");
                return Err(Some(CloseCode::InternalError));
            }
            for event in page.events {
                conn.feed(encode(&ServerFrame::Event(event))).await?;
                n += 1;
            }
        }
        self.cursors
            .insert(channel, backfill.position().max(cursor));
        Ok(n)
    }
}
