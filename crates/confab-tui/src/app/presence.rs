//! Who is around: the presence of the people I talk to and who is typing where, both ways (their
//! indicators expire; mine are sent rate-limited while I write). Its own module because presence
//! must be right across reconnects: a `resumed` lists everyone still online, so whoever it left
//! out since the connection was lost is offline now.

use std::time::{Duration, Instant};

use confab_client::proto::{ChannelId, Presence, Status, UserId};

use super::{App, Command};

/// How often a `typing` frame is sent while composing, at most (the server passes one on per 2 s).
pub const TYPING_INTERVAL: Duration = Duration::from_secs(3);

impl App {
    /// Who is typing in `channel` now (not me), by name.
    pub fn typing_in(&self, channel: ChannelId, now: Instant) -> Vec<String> {
        let me = self.me.as_ref().map(|u| u.id);
        let mut names: Vec<String> = self
            .typing
            .iter()
            .filter(|((c, u), until)| *c == channel && Some(*u) != me && **until > now)
            .map(|((_, u), _)| self.name_of(*u))
            .collect();
        names.sort();
        names
    }

    /// After a keystroke in the message: tell the channel I am typing, rate-limited.
    pub(super) fn typed(&mut self, now: Instant) -> Vec<Command> {
        let Some(channel) = self.selected else {
            return Vec::new();
        };
        if self.compose.starts_with('/') {
            return Vec::new();
        }
        let due = self
            .typing_sent
            .get(&channel)
            .is_none_or(|last| now.duration_since(*last) >= TYPING_INTERVAL);
        if !due {
            return Vec::new();
        }
        self.typing_sent.insert(channel, now);
        vec![Command::Typing { channel }]
    }

    /// `user` is typing in `channel` for the next `expires_in_ms`.
    pub(super) fn typing_reported(
        &mut self,
        channel: ChannelId,
        user: UserId,
        expires_in_ms: u64,
        now: Instant,
    ) {
        self.typing
            .insert((channel, user), now + Duration::from_millis(expires_in_ms));
    }

    /// Whether `user`'s presence is known well enough to show (online, or when last seen).
    pub(super) fn knows_presence(&self, user: UserId) -> bool {
        self.presence
            .get(&user)
            .is_some_and(|p| p.status != Status::Offline || p.last_seen.is_some())
    }

    /// The server pushed a presence change: it counts as fresh for the next `resumed`.
    pub(super) fn presence_pushed(&mut self, p: Presence) {
        self.presence_fresh.insert(p.user_id);
        self.presence.insert(p.user_id, p);
    }

    /// The connection is lost: presence reported before now is stale.
    pub(super) fn presence_lost(&mut self) {
        self.presence_fresh.clear();
    }

    /// Resumed: `resumed` replaces presence, so whoever it did not list is offline now.
    pub(super) fn presence_resumed(&mut self) {
        for p in self.presence.values_mut() {
            if !self.presence_fresh.contains(&p.user_id) {
                p.status = Status::Offline;
            }
        }
    }
}

