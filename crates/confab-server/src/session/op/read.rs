//! `read`: moves my read pointer. Success arrives as `read_state` on every session of the user,
//! this one included; only a failure is answered here.

use confab_proto::ChannelId;

use super::Reply;
use crate::ops;
use crate::session::conn::{error_frame, Conn};
use crate::session::link::Link;
use crate::session::state::Session;

pub(super) async fn handle<L: Link>(
    session: &mut Session,
    conn: &mut Conn<L>,
    reference: Option<u64>,
    channel: ChannelId,
    seq: u64,
) -> Reply {
    match ops::read::mark_read(&conn.state, channel, session.handle.user, seq).await {
        Ok(_) => Ok(None),
        Err(e) => Ok(Some(error_frame(e.0, reference))),
    }
}
