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

#[cfg(test)]
mod tests {
    use confab_client::proto::ChannelKind;
    use confab_client::{ClientEvent, ConnectionState};

    use super::*;
    use crate::app::fixture::{connected, message, push, summary, BOB};
    use crate::app::{Action, Link, NetEvent};

    fn online(user: UserId) -> NetEvent {
        push(ClientEvent::Presence(Presence {
            user_id: user,
            status: Status::Online,
            last_seen: None,
        }))
    }

    #[test]
    fn typing_is_sent_at_most_once_an_interval_and_not_for_commands() {
        let now = Instant::now();
        let channel = ChannelId(10);
        let (mut app, _) = connected(vec![summary(10, ChannelKind::Direct, 0)], now);
        let typing = vec![Command::Typing { channel }];
        assert_eq!(app.act(Action::Char('h'), now), typing);
        let soon = now + Duration::from_secs(1);
        assert!(app.act(Action::Char('i'), soon).is_empty());
        assert_eq!(app.act(Action::Char('!'), now + TYPING_INTERVAL), typing);
        app.act(Action::Cancel, now);
        let later = now + TYPING_INTERVAL * 2;
        assert!(app.act(Action::Char('/'), later).is_empty(), "a command");
    }

    #[test]
    fn typing_indicators_expire_and_a_message_ends_them() {
        let now = Instant::now();
        let channel = ChannelId(10);
        let (mut app, _) = connected(vec![summary(10, ChannelKind::Direct, 0)], now);
        let typing = ClientEvent::Typing {
            channel_id: channel,
            user_id: BOB,
            expires_in_ms: 5_000,
        };
        app.handle(push(typing.clone()), now);
        assert_eq!(app.typing_in(channel, now), ["bob"]);
        app.tick(now + Duration::from_secs(6));
        assert!(app.typing_in(channel, now).is_empty(), "expired");
        app.handle(push(typing), now);
        app.handle(
            push(ClientEvent::Event(message(channel, 1, BOB, "hi"))),
            now,
        );
        assert!(
            app.typing_in(channel, now).is_empty(),
            "ended by her message"
        );
    }

    #[test]
    fn after_a_reconnect_whoever_was_not_reported_again_is_offline() {
        let now = Instant::now();
        let carol = UserId(3);
        let (mut app, _) = connected(Vec::new(), now);
        app.handle(online(BOB), now);
        app.handle(online(carol), now);
        app.handle(NetEvent::State(ConnectionState::Connecting), now);
        assert_eq!(app.link, Link::Reconnecting { attempt: 0 });
        app.handle(online(BOB), now);
        app.handle(push(ClientEvent::Resumed { replayed: 0 }), now);
        assert_eq!(app.presence[&BOB].status, Status::Online);
        assert_eq!(app.presence[&carol].status, Status::Offline);
        assert!(matches!(app.link, Link::Back { .. }));
    }
}
