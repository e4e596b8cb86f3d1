//! Builders for the unit tests of `app`'s parts: a client connected as [`ME`], channel
//! summaries, events. One place, so that every part's tests start from the same client.

use std::time::Instant;

use confab_client::proto::{
    ChannelId, ChannelKind, ChannelSummary, Event, EventBody, EventId, Role, User, UserId, UserRef,
};

use super::{App, ClientEvent, Command, NetEvent};

pub const ME: UserId = UserId(1);
pub const BOB: UserId = UserId(2);

pub fn user(id: UserId) -> UserRef {
    let username = if id == ME { "me" } else { "bob" };
    UserRef {
        id,
        username: username.into(),
    }
}

/// A channel with `last_seq` events, all read.
pub fn summary(id: i64, kind: ChannelKind, last_seq: u64) -> ChannelSummary {
    ChannelSummary {
        id: ChannelId(id),
        kind,
        name: (kind == ChannelKind::Group).then(|| format!("group{id}")),
        peer: (kind == ChannelKind::Direct).then(|| user(BOB)),
        member_count: 2,
        role: Role::Member,
        last_seq,
        read_seq: last_seq,
        unread: 0,
        created_at: 0,
    }
}

/// What the server pushes.
pub fn push(push: ClientEvent) -> NetEvent {
    NetEvent::Push(push)
}

pub fn message(channel: ChannelId, seq: u64, author: UserId, body: &str) -> Event {
    Event {
        channel_id: channel,
        seq,
        id: EventId(seq as i64),
        ts: 0,
        author: user(author),
        body: EventBody::Message {
            body: body.into(),
            client_id: format!("c{seq}"),
        },
    }
}

/// A client connected as [`ME`] with `channels` (each joins at the top, so the last one listed
/// is first and open), and the commands connecting gave.
pub fn connected(channels: Vec<ChannelSummary>, now: Instant) -> (App, Vec<Command>) {
    let mut app = App::new("http://test", true);
    let me = User {
        id: ME,
        username: "me".into(),
        created_at: 0,
    };
    let commands = app.handle(
        NetEvent::Connected {
            me,
            channels,
            presence: Vec::new(),
        },
        now,
    );
    (app, commands)
}
