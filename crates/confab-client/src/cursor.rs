//! What the application was handed, per channel (docs/protocol.md §11): the resume cursors, the
//! decision each arriving event gets (a repeat, the next one, or one after a gap), the `delivered`
//! confirmations not yet sent, and `receipts_since`. Pure bookkeeping: the connection task reads
//! the socket, fills gaps and emits events, and tells this what it handed over.

use std::collections::{BTreeMap, HashMap};

use confab_proto::{ChannelId, ChannelSummary, ClientFrame, Ready};

/// The client's position in every channel it is in.
#[derive(Debug)]
pub(crate) struct Cursors {
    /// Per channel: the highest `seq` handed to the application, with nothing missing below it.
    /// The resume cursor.
    seqs: HashMap<ChannelId, u64>,
    /// Channels with events handed over but not yet confirmed as delivered.
    delivered: HashMap<ChannelId, u64>,
    /// The `receipts_since` of the next `resume`: receipts older than this were seen.
    receipts_since: i64,
}

/// What to do with an event that arrives, given the channel's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// At or below the cursor: seen already, drop it.
    Repeat,
    /// Right after the cursor, or in a channel without one: hand it over.
    Next,
    /// Events between the cursor (`after`) and this one are missing: fill them in first.
    Gap { after: u64 },
}

impl Cursors {
    /// Starts from the `ready` snapshot: each channel at its `last_seq`, receipts from its time.
    pub(crate) fn new(ready: &Ready) -> Self {
        Cursors {
            seqs: ready.channels.iter().map(|c| (c.id, c.last_seq)).collect(),
            delivered: HashMap::new(),
            receipts_since: ready.server_ts,
        }
    }

    /// How an event `seq` of `channel` fits after what was handed over.
    pub(crate) fn arrival(&self, channel: ChannelId, seq: u64) -> Arrival {
        match self.seqs.get(&channel) {
            Some(&c) if seq <= c => Arrival::Repeat,
            Some(&c) if seq > c + 1 => Arrival::Gap { after: c },
            _ => Arrival::Next,
        }
    }

    /// The application has event `seq` of `channel`, pushed live: the cursor moves, and it will be
    /// confirmed as delivered.
    pub(crate) fn handed(&mut self, channel: ChannelId, seq: u64) {
        self.seqs.insert(channel, seq);
        self.delivered.insert(channel, seq);
    }

    /// The application has event `seq` of `channel`, read from history to fill a gap: the cursor
    /// moves (the live event after the gap confirms delivery of it all).
    pub(crate) fn filled(&mut self, channel: ChannelId, seq: u64) {
        self.seqs.insert(channel, seq);
    }

    /// I joined a channel while connected: its events follow its `last_seq`, unless the client
    /// already follows it.
    pub(crate) fn joined(&mut self, channel: &ChannelSummary) {
        self.seqs.entry(channel.id).or_insert(channel.last_seq);
    }

    /// A resume put the channel at its `last_seq` (joined while away, or resynced after history
    /// was lost): its events follow from there, whatever the cursor was.
    pub(crate) fn restart(&mut self, channel: &ChannelSummary) {
        self.seqs.insert(channel.id, channel.last_seq);
    }

    /// I left a channel while connected: it is forgotten, unconfirmed deliveries included.
    pub(crate) fn left(&mut self, channel: ChannelId) {
        self.seqs.remove(&channel);
        self.delivered.remove(&channel);
    }

    /// A resume said I left the channel while away: its cursor is forgotten. Deliveries not yet
    /// confirmed stay queued (as they always have).
    pub(crate) fn left_while_away(&mut self, channel: ChannelId) {
        self.seqs.remove(&channel);
    }

    /// A receipt stamped `ts` arrived.
    pub(crate) fn receipt_seen(&mut self, ts: i64) {
        self.receipts_since = self.receipts_since.max(ts);
    }

    /// A resume completed at the server's `server_ts`.
    pub(crate) fn resumed(&mut self, server_ts: i64) {
        // Receipts written just before this moment may still be on their way.
        self.receipts_since = self.receipts_since.max(server_ts - 2_000);
    }

    /// The `resume` frame that carries on from here.
    pub(crate) fn resume_frame(&self, token: &str) -> ClientFrame {
        let cursors: BTreeMap<ChannelId, u64> = self.seqs.iter().map(|(k, v)| (*k, *v)).collect();
        ClientFrame::Resume {
            token: token.to_owned(),
            cursors,
            receipts_since: Some(self.receipts_since),
        }
    }

    /// The `delivered` frames due, one per channel that advanced since the last call.
    pub(crate) fn take_delivered(&mut self) -> Vec<ClientFrame> {
        std::mem::take(&mut self.delivered)
            .into_iter()
            .map(|(channel_id, seq)| ClientFrame::Delivered { channel_id, seq })
            .collect()
    }
}
