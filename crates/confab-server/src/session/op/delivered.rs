//! `delivered`: this device received a channel's events up to `seq`. Not answered; batched into
//! the delivered pointer, which others see as a `receipt`.

use confab_proto::ChannelId;

use super::Reply;
use crate::ops;
use crate::session::conn::Conn;
use crate::session::link::Link;
use crate::session::state::Session;

pub(super) fn handle<L: Link>(
    session: &mut Session,
    conn: &mut Conn<L>,
    channel: ChannelId,
    seq: u64,
) -> Reply {
    // Only for channels this session follows; the store ignores non-members anyway.
    if session.cursors.contains_key(&channel) {
        ops::read::delivered(&conn.state, channel, session.handle.user, seq);
    }
    Ok(None)
}
