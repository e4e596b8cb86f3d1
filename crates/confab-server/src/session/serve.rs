//! A session's life after `ready`/`resumed`: queued frames out (several per flush), client frames
//! in, the heartbeat deadline, slow-consumer and drain signals; and the per-channel cursors that
//! keep every channel's events once and in `seq` order for this client.

use std::future::Future;

use confab_proto::{ChannelId, CloseCode, ServerFrame};
use tokio::time::Instant;

use super::conn::{encode, Conn, End, Inbound};
use super::link::Link;
use super::op;
use super::state::Session;
use crate::backfill::Backfill;
use crate::hub::Outbound;
use crate::metrics::Reason;
use crate::state::AppState;

/// Frames written per flush at most, when several are queued.
const MAX_BATCH: usize = 64;

/// What woke a serving session.
enum Wake {
    Overflow,
    Item(Outbound),
    Inbound(Inbound),
    Deadline,
}

/// Ends a session whose queue overflowed (counted in metrics).
fn slow_consumer(state: &AppState) -> End {
    // Counted by the close with this code, and as a refusal.
    state.metrics.reject(Reason::slow_consumer);
    tracing::info!("closing slow consumer");
    Some(CloseCode::SlowConsumer)
}

/// Ends a session whose client went quiet past the heartbeat timeout (counted in metrics).
fn heartbeat_expired(state: &AppState) -> End {
    state.metrics.reject(Reason::heartbeat_timeout);
    Some(CloseCode::HeartbeatTimeout)
}

impl Session {
    /// Serves until the session ends; returns why.
    pub(super) async fn serve<L: Link>(&mut self, conn: &mut Conn<L>) -> End {
        let state = conn.state.clone();
        let timeout = state.config.heartbeat_timeout();
        // One timer for the session's life, moved when the client shows it is alive.
        let heartbeat = tokio::time::sleep(timeout);
        tokio::pin!(heartbeat);
        // On drain the app queues a `server_shutdown` close for every session, spread over the
        // window; a session that was not yet attached then leaves here.
        if state.is_shutting_down() {
            return Some(CloseCode::ServerShutdown);
        }
        let queue = self.handle.queue.clone();
        loop {
            // Not biased: neither a busy channel nor a busy client may starve the other direction.
            // The select only says what happened; the work is done after it, so the futures of
            // the select and of the work never take space in this task at the same time.
            let wake = tokio::select! {
                item = queue.recv() => item.map_or(Wake::Overflow, Wake::Item),
                inbound = conn.recv() => Wake::Inbound(inbound),
                _ = &mut heartbeat => Wake::Deadline,
            };
            let end = match wake {
                Wake::Item(item) => {
                    // A client that stops reading blocks the write; the overflow signal and the
                    // heartbeat deadline must still end the session.
                    tokio::select! {
                        biased;
                        written = self.write(conn, item) => written.err(),
                        _ = queue.overflowed() => Some(slow_consumer(&state)),
                        _ = &mut heartbeat => Some(heartbeat_expired(&state)),
                    }
                }
                Wake::Inbound(inbound) => {
                    heartbeat.as_mut().reset(Instant::now() + timeout);
                    let handled = Box::pin(self.handle_inbound(conn, inbound));
                    handled.await.err()
                }
                Wake::Overflow => Some(slow_consumer(&state)),
                Wake::Deadline => Some(heartbeat_expired(&state)),
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
        inbound: Inbound,
    ) -> Result<(), End> {
        let frame = match inbound {
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
    async fn write<L: Link>(&mut self, conn: &mut Conn<L>, first: Outbound) -> Result<(), End> {
        let mut item = Some(first);
        let mut written = 0usize;
        while let Some(current) = item.take() {
            written += match current {
                // The common case, inline: the next event of a channel, or a ready-made frame.
                // (`write_one` handles these too; calling it here instead would keep its larger
                // future in every idle session's task: measured +0.2 KiB per connection.)
                Outbound::Event {
                    channel,
                    seq,
                    frame,
                } if self.cursors.get(&channel).is_some_and(|&c| seq == c + 1) => {
                    conn.feed(frame).await?;
                    self.cursors.insert(channel, seq);
                    1
                }
                Outbound::Frame(frame) => {
                    conn.feed(frame).await?;
                    1
                }
                // The rest (gaps, joins, removals) is rare and needs more space: boxed.
                other => {
                    let rare = Box::pin(self.write_one(conn, other));
                    rare.await?
                }
            };
            if written >= MAX_BATCH {
                break;
            }
            item = self.handle.queue.try_recv();
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
