//! Routing presence to the sessions that care, and typing indicators.
//!
//! A session watches its contacts (members of its direct channels and small groups) and any users
//! it asked for with `watch`. When the presence service reports a change of a user's aggregate
//! status, every local session watching that user gets a `presence` frame. Large channels get
//! counts instead (`GET /api/v1/channels/{id}/presence`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use confab_proto::{ChannelId, Presence, ServerFrame, Status, UserId};
use confab_store::Store;
use tokio::sync::mpsc;

use crate::hub::{Outbound, SessionHandle, SessionKey};

/// Most users one session may watch explicitly (beyond its contacts).
pub const MAX_WATCHED: usize = 256;
/// One `typing` per session and channel is passed on per this interval; the rest are dropped.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(2);
/// How long clients show a typing indicator unless it is renewed.
pub const TYPING_EXPIRES: Duration = Duration::from_secs(6);

/// Who watches whom on this node.
#[derive(Debug, Default)]
pub struct Watchers {
    by_user: Mutex<HashMap<UserId, HashMap<SessionKey, SessionHandle>>>,
}

impl Watchers {
    /// `session` watches `users`.
    pub fn watch(&self, session: &SessionHandle, users: impl IntoIterator<Item = UserId>) {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        for user in users {
            map.entry(user)
                .or_default()
                .insert(session.key, session.clone());
        }
    }

    /// `session` stops watching `users`.
    pub fn unwatch(&self, key: SessionKey, users: impl IntoIterator<Item = UserId>) {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        for user in users {
            if let Some(watchers) = map.get_mut(&user) {
                watchers.remove(&key);
                if watchers.is_empty() {
                    map.remove(&user);
                }
            }
        }
    }

    fn notify(&self, presence: &Presence) {
        let watchers: Vec<SessionHandle> = {
            let map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&presence.user_id) {
                Some(w) => w.values().cloned().collect(),
                None => return,
            }
        };
        let Ok(text) = serde_json::to_string(&ServerFrame::Presence(presence.clone())) else {
            return;
        };
        let frame = Utf8Bytes::from(text);
        for session in watchers {
            session.push(Outbound::Frame(frame.clone()));
        }
    }
}

/// Routes the presence service's changes to watching sessions, and records last-seen times.
pub fn spawn_router(
    mut changes: mpsc::Receiver<Presence>,
    watchers: Arc<Watchers>,
    store: Arc<dyn Store>,
) {
    tokio::spawn(async move {
        while let Some(change) = changes.recv().await {
            // Stored first, so a watcher that asks (`GET /users/{id}/presence`) right after it
            // hears of the change gets the same last-seen time.
            if let (Status::Offline, Some(ts)) = (change.status, change.last_seen) {
                if let Err(e) = store.touch_last_seen(change.user_id, ts).await {
                    tracing::debug!(error = %e, user_id = %change.user_id, "cannot record last seen");
                }
            }
            watchers.notify(&change);
        }
    });
}

/// Per-session limit on typing indicators.
#[derive(Debug, Default)]
pub struct TypingLimiter {
    last: HashMap<ChannelId, Instant>,
}

impl TypingLimiter {
    /// Whether a typing indicator for `channel` may go out now.
    pub fn allow(&mut self, channel: ChannelId) -> bool {
        let now = Instant::now();
        match self.last.get(&channel) {
            Some(at) if now.duration_since(*at) < TYPING_INTERVAL => false,
            _ => {
                self.last.insert(channel, now);
                if self.last.len() > 1024 {
                    self.last
                        .retain(|_, at| now.duration_since(*at) < TYPING_INTERVAL);
                }
                true
            }
        }
    }
}
