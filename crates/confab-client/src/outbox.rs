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
