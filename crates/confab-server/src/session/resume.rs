//! A `resume`: compare the client's cursors with where each of the user's channels stands (one
//! cheap query), replay only the channels that moved, report channels joined and left while away
//! and those whose history past the cursor was pruned (resync), then `resumed`.

use std::collections::BTreeMap;

use confab_proto::{ChannelId, CloseCode, Resumed, ServerFrame, User};
use confab_store::snowflake::now_ms;
use confab_store::StoreError;

use super::conn::{encode, Conn, End};
use super::link::Link;
use super::state::Session;

impl Session {
    pub(super) async fn resume<L: Link>(
        &mut self,
        conn: &mut Conn<L>,
        user: User,
        cursors: BTreeMap<ChannelId, u64>,
        receipts_since: Option<i64>,
    ) -> Result<(), End> {
        let state = conn.state.clone();
        let internal = |e: StoreError| {
            tracing::warn!(error = %e, "cannot resume");
            Some(CloseCode::InternalError)
        };
        let positions = state.store.positions(user.id).await.map_err(internal)?;
        let mut joined = Vec::new();
        let mut resync = Vec::new();
        let mut replay = Vec::new();
        for p in &positions {
            let cursor = match cursors.get(&p.channel_id) {
                // Replay only from a cursor within the kept history and within the current
                // membership (a user removed and added back while away is treated as joined).
                Some(&c) if c >= p.pruned_through && c >= p.joined_seq => {
                    let c = c.min(p.last_seq);
                    if p.last_seq > c {
                        replay.push((p.channel_id, p.last_seq));
                    }
                    c
                }
                known => {
                    // Joined while away, or what the client has is past the retention horizon.
                    let summary = state
                        .store
                        .channel_of(p.channel_id, user.id)
                        .await
                        .map_err(internal)?;
                    let Some(summary) = summary else { continue };
                    let last = summary.last_seq;
                    if known.is_some() {
                        resync.push(summary);
                    } else {
                        joined.push(summary);
                    }
                    last
                }
            };
            self.cursors.insert(p.channel_id, cursor);
            state
                .hub
                .subscribe(&self.handle, p.channel_id, cursor)
                .await;
        }
        let channels_left: Vec<ChannelId> = cursors
            .keys()
            .filter(|id| !self.cursors.contains_key(id))
            .copied()
            .collect();
        let mut replayed = 0u64;
        for (channel, upto) in replay {
            replayed += self.catch_up(conn, channel, upto).await? as u64;
        }
        state.metrics.replayed_events.inc_by(replayed);
        state.metrics.resyncs.inc_by(resync.len() as u64);
        if let Some(since) = receipts_since {
            let receipts = state
                .store
                .receipts_since(user.id, since, state.config.receipt_group_size)
                .await
                .map_err(internal)?;
            for r in receipts {
                conn.feed(encode(&ServerFrame::Receipt(r))).await?;
            }
        }
        let presence = self.watch_contacts(&state).await?;
        let resumed = ServerFrame::Resumed(Resumed {
            session_id: uuid::Uuid::new_v4().simple().to_string(),
            user,
            channels_joined: joined,
            channels_left,
            resync,
            replayed,
            server_ts: now_ms(),
            presence,
        });
        if !conn.send(&resumed).await {
            return Err(None);
        }
        tracing::debug!(replayed, "session resumed");
        Ok(())
    }
}
