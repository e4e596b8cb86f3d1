//! What the application was handed, per channel (docs/protocol.md §11): the resume cursors, the
//! decision each arriving event gets (a repeat, the next one, or one after a gap), the `delivered`
//! confirmations not yet sent, and `receipts_since`. Pure bookkeeping: the connection task reads
//! the socket, fills gaps and emits events, and tells this what it handed over.

use std::collections::{BTreeMap, HashMap};

use confab_proto::{ChannelId, ChannelSummary, ClientFrame, Ready};

/// The client's position in every channel it is in.
#[derive(Debug, Default)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use confab_proto::{ChannelKind, Role, User, UserId};

    const A: ChannelId = ChannelId(1);
    const B: ChannelId = ChannelId(2);

    fn summary(id: ChannelId, last_seq: u64) -> ChannelSummary {
        ChannelSummary {
            id,
            kind: ChannelKind::Group,
            name: Some("g".into()),
            peer: None,
            member_count: 2,
            role: Role::Member,
            last_seq,
            read_seq: 0,
            unread: 0,
            created_at: 0,
        }
    }

    fn cursors(channels: &[(ChannelId, u64)], server_ts: i64) -> Cursors {
        let ready = Ready {
            session_id: "s".into(),
            user: User {
                id: UserId(9),
                username: "me".into(),
                created_at: 0,
            },
            channels: channels.iter().map(|&(id, seq)| summary(id, seq)).collect(),
            server_ts,
            presence: Vec::new(),
        };
        Cursors::new(&ready)
    }

    fn resume_cursors(c: &Cursors) -> (BTreeMap<ChannelId, u64>, Option<i64>) {
        match c.resume_frame("tok") {
            ClientFrame::Resume {
                token,
                cursors,
                receipts_since,
            } => {
                assert_eq!(token, "tok");
                (cursors, receipts_since)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn repeats_are_dropped_and_gaps_found() {
        let c = cursors(&[(A, 10)], 0);
        assert_eq!(c.arrival(A, 9), Arrival::Repeat);
        assert_eq!(c.arrival(A, 10), Arrival::Repeat);
        assert_eq!(c.arrival(A, 11), Arrival::Next);
        assert_eq!(c.arrival(A, 14), Arrival::Gap { after: 10 });
        // A channel without a cursor takes what comes.
        assert_eq!(c.arrival(B, 7), Arrival::Next);
    }

    #[test]
    fn the_cursor_moves_with_what_was_handed_over() {
        let mut c = cursors(&[(A, 10)], 0);
        c.filled(A, 11);
        c.filled(A, 12);
        assert_eq!(c.arrival(A, 12), Arrival::Repeat);
        assert!(
            c.take_delivered().is_empty(),
            "filled events confirm nothing"
        );
        c.handed(A, 13);
        assert_eq!(c.arrival(A, 14), Arrival::Next);
        assert_eq!(
            c.take_delivered(),
            vec![ClientFrame::Delivered {
                channel_id: A,
                seq: 13
            }]
        );
        assert!(c.take_delivered().is_empty(), "confirmed once");
    }

    #[test]
    fn a_live_join_keeps_a_known_cursor_and_a_resume_restarts_it() {
        let mut c = cursors(&[(A, 10)], 0);
        c.joined(&summary(A, 50));
        c.joined(&summary(B, 3));
        assert_eq!(c.arrival(A, 11), Arrival::Next);
        assert_eq!(c.arrival(B, 4), Arrival::Next);
        c.restart(&summary(A, 50));
        assert_eq!(c.arrival(A, 50), Arrival::Repeat);
        assert_eq!(c.arrival(A, 51), Arrival::Next);
    }

    #[test]
    fn leaving_forgets_the_channel() {
        let mut c = cursors(&[(A, 10), (B, 3)], 0);
        c.handed(A, 11);
        c.handed(B, 4);
        c.left(A);
        c.left_while_away(B);
        assert_eq!(c.arrival(A, 20), Arrival::Next);
        assert!(resume_cursors(&c).0.is_empty());
        // Only the live leave drops what was not confirmed yet.
        assert_eq!(
            c.take_delivered(),
            vec![ClientFrame::Delivered {
                channel_id: B,
                seq: 4
            }]
        );
    }

    #[test]
    fn resume_carries_every_cursor_and_receipts_since() {
        let mut c = cursors(&[(A, 10), (B, 3)], 1_000_000);
        c.handed(B, 4);
        let (sent, since) = resume_cursors(&c);
        assert_eq!(sent, BTreeMap::from([(A, 10), (B, 4)]));
        assert_eq!(since, Some(1_000_000));
    }

    #[test]
    fn receipts_since_only_moves_forward() {
        let mut c = cursors(&[], 1_000_000);
        c.receipt_seen(999_000);
        assert_eq!(resume_cursors(&c).1, Some(1_000_000));
        c.receipt_seen(1_000_500);
        assert_eq!(resume_cursors(&c).1, Some(1_000_500));
        // A resume moves it to the server's time less two seconds, never back.
        c.resumed(1_002_000);
        assert_eq!(resume_cursors(&c).1, Some(1_000_500));
        c.resumed(1_010_000);
        assert_eq!(resume_cursors(&c).1, Some(1_008_000));
    }
}
