//! The channel list: which channels I am in, most recently active first; which one is open; and
//! the bookkeeping of unread counts and read pointers as events arrive, channels open, and
//! channels are joined, left or resynced. Its own module because the rule that keeps counts right
//! (only messages from others raise the count; reading, and my own messages, move the pointer)
//! has to hold on every path that touches the list.

use confab_client::proto::{ChannelId, ChannelSummary, Event, EventBody, ReadState};

use super::{App, Channel, Command, Screen};

impl App {
    pub(super) fn channel_mut(&mut self, id: ChannelId) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.summary.id == id)
    }

    /// Opens the next (`step` 1) or previous (`step` -1) channel of the list, wrapping around.
    pub(super) fn step_channel(&mut self, step: isize) -> Vec<Command> {
        if self.channels.is_empty() {
            return Vec::new();
        }
        let len = self.channels.len() as isize;
        let at = self
            .selected
            .and_then(|id| self.channels.iter().position(|c| c.summary.id == id))
            .map_or(if step > 0 { -1 } else { 0 }, |i| i as isize);
        let next = (at + step).rem_euclid(len) as usize;
        let id = self.channels[next].summary.id;
        self.select(id)
    }

    /// Shows channel `id`: loads its newest page if needed and marks it read.
    pub fn select(&mut self, id: ChannelId) -> Vec<Command> {
        self.selected = Some(id);
        let mut commands = Vec::new();
        let peer_lookup = self.channel(id).and_then(|c| c.peer()).map(|p| p.id);
        if let Some(peer) = peer_lookup {
            if !self.knows_presence(peer) {
                commands.push(Command::Presence { user: peer });
            }
        }
        let Some(ch) = self.channel_mut(id) else {
            return commands;
        };
        ch.scroll = 0;
        if !ch.loaded {
            ch.loaded = true;
            commands.push(Command::History {
                channel: id,
                before: None,
            });
        }
        commands.extend(self.mark_read(id));
        commands
    }

    /// Marks the channel read up to its newest event, if anything is unread.
    fn mark_read(&mut self, id: ChannelId) -> Vec<Command> {
        let Some(ch) = self.channel_mut(id) else {
            return Vec::new();
        };
        let s = &mut ch.summary;
        if s.unread == 0 && s.read_seq >= s.last_seq {
            return Vec::new();
        }
        s.unread = 0;
        s.read_seq = s.last_seq;
        vec![Command::MarkRead {
            channel: id,
            seq: s.last_seq,
        }]
    }

    /// Adds a channel (at the top) unless it is listed.
    pub(super) fn join(&mut self, summary: ChannelSummary) {
        if let Some(peer) = &summary.peer {
            self.usernames.insert(peer.id, peer.username.clone());
        }
        if self.channel(summary.id).is_none() {
            self.channels.insert(0, Channel::new(summary));
        }
    }

    /// I left channel `id` (or was removed): it goes, and when it was open the first one opens.
    pub(super) fn left(&mut self, id: ChannelId) -> Vec<Command> {
        self.channels.retain(|c| c.summary.id != id);
        if self.selected == Some(id) {
            self.selected = None;
            if let Some(first) = self.channels.first().map(|c| c.summary.id) {
                return self.select(first);
            }
        }
        Vec::new()
    }

    /// The server could not resume the channel: start it again from `summary` (reloading it when
    /// open).
    pub(super) fn resync(&mut self, summary: ChannelSummary) -> Vec<Command> {
        let id = summary.id;
        if let Some(ch) = self.channel_mut(id) {
            *ch = Channel::new(summary);
        }
        if self.selected == Some(id) {
            return self.select(id);
        }
        Vec::new()
    }

    /// The server reports my read pointer (after a read here or on another device): take it and
    /// its count unless mine is further.
    pub(super) fn read_reported(&mut self, read: ReadState) {
        if let Some(ch) = self.channel_mut(read.channel_id) {
            if read.read_seq >= ch.summary.read_seq {
                ch.summary.read_seq = read.read_seq;
                ch.summary.unread = read.unread;
            }
        }
    }

    /// A live event: into its channel's transcript; a new message moves the channel to the top,
    /// counts as unread unless it is mine or the channel is open, and is marked read when open.
    pub(super) fn event(&mut self, event: Event) -> Vec<Command> {
        self.learn_names(&event);
        let me = self.me.as_ref().map(|u| u.id);
        let viewing = self.screen == Screen::Chat && self.selected == Some(event.channel_id);
        let is_message = matches!(event.body, EventBody::Message { .. });
        let from_other = Some(event.author.id) != me;
        if is_message {
            self.typing.remove(&(event.channel_id, event.author.id));
        }
        let Some(ch) = self.channel_mut(event.channel_id) else {
            return Vec::new();
        };
        let is_new = ch.add(&event, !from_other);
        if !is_new || !is_message {
            return Vec::new();
        }
        if !from_other {
            ch.summary.read_seq = event.seq;
        } else if !viewing {
            ch.summary.unread += 1;
        }
        // The newest conversation goes to the top of the list.
        if let Some(at) = self
            .channels
            .iter()
            .position(|c| c.summary.id == event.channel_id)
        {
            let ch = self.channels.remove(at);
            self.channels.insert(0, ch);
        }
        if viewing && from_other {
            self.mark_read(event.channel_id)
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use confab_client::proto::ChannelKind;
    use confab_client::ClientEvent;

    use super::*;
    use crate::app::fixture::{connected, message, push, summary, BOB, ME};

    #[test]
    fn only_messages_from_others_where_i_am_not_looking_count_as_unread() {
        let now = Instant::now();
        let (dm, group) = (ChannelId(10), ChannelId(20));
        let (mut app, commands) = connected(
            vec![
                summary(10, ChannelKind::Direct, 1),
                summary(20, ChannelKind::Group, 1),
            ],
            now,
        );
        assert_eq!(app.selected, Some(group), "the top one opens");
        assert_eq!(
            commands,
            vec![Command::History {
                channel: group,
                before: None
            }]
        );
        // Bob writes in the DM: it is unread and moves to the top.
        let commands = app.handle(push(ClientEvent::Event(message(dm, 2, BOB, "hi"))), now);
        assert!(commands.is_empty());
        assert_eq!(app.channels[0].summary.id, dm);
        assert_eq!(app.channel(dm).expect("dm").summary.unread, 1);
        // Bob writes in the open group: read at once.
        let commands = app.handle(push(ClientEvent::Event(message(group, 2, BOB, "yo"))), now);
        assert_eq!(
            commands,
            vec![Command::MarkRead {
                channel: group,
                seq: 2
            }]
        );
        assert_eq!(app.channel(group).expect("group").summary.unread, 0);
        // Opening the DM loads it, asks for the peer's presence and marks it read.
        assert_eq!(
            app.select(dm),
            vec![
                Command::Presence { user: BOB },
                Command::History {
                    channel: dm,
                    before: None
                },
                Command::MarkRead {
                    channel: dm,
                    seq: 2
                },
            ]
        );
        assert_eq!(app.channel(dm).expect("dm").summary.unread, 0);
        // My own message moves my pointer, counts as nothing and needs no read.
        let commands = app.handle(push(ClientEvent::Event(message(dm, 3, ME, "me"))), now);
        assert!(commands.is_empty());
        let s = &app.channel(dm).expect("dm").summary;
        assert_eq!((s.unread, s.read_seq, s.last_seq), (0, 3, 3));
    }

    #[test]
    fn leaving_the_open_channel_opens_the_next_and_steps_wrap_around() {
        let now = Instant::now();
        let (mut app, _) = connected(
            vec![
                summary(10, ChannelKind::Group, 0),
                summary(20, ChannelKind::Group, 0),
                summary(30, ChannelKind::Group, 0),
            ],
            now,
        );
        assert_eq!(app.selected, Some(ChannelId(30)));
        app.step_channel(-1);
        assert_eq!(app.selected, Some(ChannelId(10)), "wraps to the bottom");
        app.step_channel(1);
        assert_eq!(app.selected, Some(ChannelId(30)), "wraps to the top");
        app.handle(push(ClientEvent::ChannelLeft(ChannelId(30))), now);
        assert_eq!(app.selected, Some(ChannelId(20)));
        assert_eq!(app.channels.len(), 2);
    }
}
