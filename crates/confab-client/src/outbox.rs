//! The outbox (docs/protocol.md §11, "Keep an outbox"): every send stays queued until its `ack` or
//! `error` arrives. After a reconnect each one is transmitted again, in order, with its original
//! `client_id` and a new `ref`, so a message whose ack was lost is stored once and the caller
//! learns its original `seq`. Pure bookkeeping: the connection task does the sending.

use confab_proto::{Ack, ChannelId, ClientFrame, ErrorBody};
use tokio::sync::oneshot;

use crate::{ClientError, Result};

/// Unacked sends, oldest first.
pub(crate) struct Outbox {
    pending: Vec<Pending>,
    /// Sends kept at most; more fail at once ([`ClientConfig::outbox_limit`](crate::ClientConfig)).
    limit: usize,
    /// The `ref` of the next transmission. Never reused on the client's lifetime, so an answer is
    /// never matched to the wrong send.
    next_ref: u64,
}

/// A send waiting for its ack.
struct Pending {
    channel: ChannelId,
    client_id: String,
    body: String,
    /// The `ref` of its latest transmission, if it was transmitted.
    reference: Option<u64>,
    /// Where the caller of `send` waits for the answer.
    reply: oneshot::Sender<Result<Ack>>,
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Self {
        Outbox {
            pending: Vec::new(),
            limit,
            next_ref: 1,
        }
    }

    /// How many sends wait for their ack.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Queues a send; returns its place for [`Outbox::transmit`]. A full outbox fails the send at
    /// once instead.
    pub(crate) fn push(
        &mut self,
        channel: ChannelId,
        client_id: String,
        body: String,
        reply: oneshot::Sender<Result<Ack>>,
    ) -> Option<usize> {
        if self.pending.len() >= self.limit {
            let _ = reply.send(Err(ClientError::Protocol("outbox full".into())));
            return None;
        }
        self.pending.push(Pending {
            channel,
            client_id,
            body,
            reference: None,
            reply,
        });
        Some(self.pending.len() - 1)
    }

    /// The `send` frame that transmits the queued send at `index` (oldest first) under a fresh
    /// `ref`, which its answer will carry.
    pub(crate) fn transmit(&mut self, index: usize) -> ClientFrame {
        let reference = self.next_ref;
        self.next_ref += 1;
        let p = &mut self.pending[index];
        p.reference = Some(reference);
        ClientFrame::Send {
            reference: Some(reference),
            channel_id: p.channel,
            client_id: p.client_id.clone(),
            body: p.body.clone(),
        }
    }

    /// Hands an `ack` to the send it answers, which leaves the outbox. An ack for no pending
    /// send (answered already) is ignored.
    pub(crate) fn acked(&mut self, ack: Ack) {
        if let Some(p) = self.take(ack.reference) {
            let _ = p.reply.send(Ok(ack));
        }
    }

    /// Hands an `error` to the send it answers, which leaves the outbox. The error comes back
    /// when no pending send carries `reference`: it answered something else.
    pub(crate) fn refused(
        &mut self,
        reference: Option<u64>,
        error: ErrorBody,
    ) -> Option<ErrorBody> {
        match self.take(reference) {
            Some(p) => {
                let _ = p.reply.send(Err(ClientError::Api(error)));
                None
            }
            None => Some(error),
        }
    }

    /// Fails every pending send: the client ended.
    pub(crate) fn fail_all(&mut self, code: Option<u16>, reason: &str) {
        for p in self.pending.drain(..) {
            let _ = p.reply.send(Err(ClientError::Closed {
                code,
                reason: reason.to_owned(),
            }));
        }
    }

    /// Removes the send last transmitted under `reference`.
    fn take(&mut self, reference: Option<u64>) -> Option<Pending> {
        let i = self
            .pending
            .iter()
            .position(|p| p.reference.is_some() && p.reference == reference)?;
        Some(self.pending.remove(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_proto::{ErrorCode, EventId};

    const CHANNEL: ChannelId = ChannelId(5);

    fn queue(
        outbox: &mut Outbox,
        client_id: &str,
    ) -> (Option<usize>, oneshot::Receiver<Result<Ack>>) {
        let (reply, rx) = oneshot::channel();
        let place = outbox.push(
            CHANNEL,
            client_id.into(),
            format!("body of {client_id}"),
            reply,
        );
        (place, rx)
    }

    fn ack(reference: Option<u64>, client_id: &str, seq: u64) -> Ack {
        Ack {
            reference,
            channel_id: CHANNEL,
            client_id: client_id.into(),
            id: EventId(7),
            seq,
            ts: 0,
        }
    }

    fn sent(frame: &ClientFrame) -> (Option<u64>, &str, &str) {
        match frame {
            ClientFrame::Send {
                reference,
                client_id,
                body,
                ..
            } => (*reference, client_id, body),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_full_outbox_fails_the_send_at_once() {
        let mut outbox = Outbox::new(1);
        let (first, _rx) = queue(&mut outbox, "a");
        assert_eq!(first, Some(0));
        let (second, mut rx) = queue(&mut outbox, "b");
        assert_eq!(second, None);
        assert!(matches!(rx.try_recv(), Ok(Err(ClientError::Protocol(m))) if m == "outbox full"));
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn resending_keeps_the_client_id_and_takes_a_fresh_ref() {
        let mut outbox = Outbox::new(10);
        let (a, _ra) = queue(&mut outbox, "a");
        let (b, _rb) = queue(&mut outbox, "b");
        let first = outbox.transmit(a.unwrap());
        assert_eq!(sent(&first), (Some(1), "a", "body of a"));
        // A reconnect: everything is transmitted again, in order.
        let again: Vec<_> = (0..outbox.len()).map(|i| outbox.transmit(i)).collect();
        assert_eq!(sent(&again[0]), (Some(2), "a", "body of a"));
        assert_eq!(sent(&again[1]), (Some(3), "b", "body of b"));
        assert_eq!(b, Some(1));
    }

    #[test]
    fn an_ack_answers_the_send_of_its_latest_ref_only() {
        let mut outbox = Outbox::new(10);
        let (a, mut ra) = queue(&mut outbox, "a");
        outbox.transmit(a.unwrap()); // ref 1, on a connection that dropped
        outbox.transmit(a.unwrap()); // ref 2
        outbox.acked(ack(Some(1), "a", 9));
        assert!(ra.try_recv().is_err(), "a stale ref answers nothing");
        outbox.acked(ack(Some(2), "a", 9));
        assert_eq!(ra.try_recv().unwrap().unwrap().seq, 9);
        assert_eq!(outbox.len(), 0);
    }

    #[test]
    fn an_ack_without_a_ref_matches_no_untransmitted_send() {
        let mut outbox = Outbox::new(10);
        let (_, mut ra) = queue(&mut outbox, "a");
        outbox.acked(ack(None, "a", 1));
        assert!(ra.try_recv().is_err());
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn an_error_goes_to_its_send_or_back_to_the_caller() {
        let mut outbox = Outbox::new(10);
        let (a, mut ra) = queue(&mut outbox, "a");
        let frame = outbox.transmit(a.unwrap());
        let busy = ErrorBody::new(ErrorCode::Unavailable, "busy");
        assert_eq!(outbox.refused(Some(99), busy.clone()), Some(busy.clone()));
        assert_eq!(outbox.refused(None, busy.clone()), Some(busy.clone()));
        assert_eq!(outbox.refused(sent(&frame).0, busy.clone()), None);
        assert!(matches!(ra.try_recv(), Ok(Err(ClientError::Api(e))) if e == busy));
        assert_eq!(outbox.len(), 0);
    }

    #[test]
    fn ending_fails_every_pending_send_with_the_close() {
        let mut outbox = Outbox::new(10);
        let (_, mut ra) = queue(&mut outbox, "a");
        let (_, mut rb) = queue(&mut outbox, "b");
        outbox.fail_all(Some(4100), "authentication_failed");
        for rx in [&mut ra, &mut rb] {
            assert!(matches!(
                rx.try_recv(),
                Ok(Err(ClientError::Closed { code: Some(4100), reason })) if reason == "authentication_failed"
            ));
        }
        assert_eq!(outbox.len(), 0);
    }
}
