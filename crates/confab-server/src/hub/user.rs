//! A user topic's task: the node's one subscription to a user's bus subject, passing the user's
//! signals to each of the user's sessions here.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use confab_bus::{subject, Bus};
use confab_proto::{ChannelId, ChannelSummary, CloseCode, ReadState, ServerFrame, UserId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{hex, Outbound, Ready, Topic};

/// What travels on a user's subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSignal {
    /// The user became a member of a channel; the summary is as of just after the change.
    Joined(ChannelSummary),
    /// The user is no longer a member of `channel` since the event at `seq` (their removal).
    Left { channel: ChannelId, seq: u64 },
    /// The user's read pointer moved.
    Read(ReadState),
    /// A token of the user was revoked: its sessions close. Hex of the token's hash.
    Revoked(String),
}

pub(super) async fn run(bus: Arc<dyn Bus>, user: UserId, topic: Arc<Topic>, ready: Ready) {
    let mut sub = match bus.subscribe(&subject::user(user)).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::error!(error = %e, user_id = %user, "cannot subscribe to user signals");
            ready.mark();
            return;
        }
    };
    ready.mark();
    while let Some(payload) = sub.next().await {
        let signal: UserSignal = match serde_json::from_slice(&payload) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, user_id = %user, "undecodable user signal");
                continue;
            }
        };
        match signal {
            // Each session subscribes itself when it handles this, in its own order.
            UserSignal::Joined(summary) => {
                topic.push_all(|| Outbound::Joined(Box::new(summary.clone())));
            }
            // The channel topic stops delivering to these sessions when it fans out the removal;
            // the session catches up to `seq` first, so it sees its own removal.
            UserSignal::Left { channel, seq } => {
                topic.push_all(|| Outbound::Left { channel, seq });
            }
            UserSignal::Read(state) => {
                match serde_json::to_string(&ServerFrame::ReadState(state)) {
                    Ok(text) => {
                        let frame = Utf8Bytes::from(text);
                        topic.push_all(|| Outbound::Frame(frame.clone()));
                    }
                    Err(e) => tracing::error!(error = %e, "cannot serialize frame"),
                }
            }
            UserSignal::Revoked(hash_hex) => {
                for s in topic.handles() {
                    if hex(&s.token_hash) == hash_hex {
                        s.push(Outbound::Close(CloseCode::SessionRevoked));
                    }
                }
            }
        }
    }
}
