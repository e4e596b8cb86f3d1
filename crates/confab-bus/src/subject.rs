//! Subject names, in one place.

use confab_proto::{ChannelId, UserId};

/// Events of one channel (messages, membership changes): `confab.channel.<id>`.
pub fn channel(id: ChannelId) -> String {
    format!("confab.channel.{id}")
}

/// Signals for all sessions of one user (joined or left a channel, read pointer moved, a token
/// revoked): `confab.user.<id>`.
pub fn user(id: UserId) -> String {
    format!("confab.user.{id}")
}

/// Presence announcements of every node: `confab.presence`.
pub fn presence() -> String {
    "confab.presence".to_owned()
}
