//! `typing`: I am typing in a channel I follow. Rate-limited per session and channel (extra ones
//! are dropped); the other members' sessions get an ephemeral `typing` frame.

use confab_proto::{ChannelId, ErrorBody, ErrorCode, ServerFrame};

use super::Reply;
use crate::presence::TYPING_EXPIRES;
use crate::session::conn::{error_frame, Conn};
use crate::session::link::Link;
use crate::session::state::Session;

pub(super) async fn handle<L: Link>(
    session: &mut Session,
    conn: &mut Conn<L>,
    channel: ChannelId,
) -> Reply {
    if !session.cursors.contains_key(&channel) {
        let error = ErrorBody::new(ErrorCode::Forbidden, "not a member of this channel");
        return Ok(Some(error_frame(error, None)));
    }
    if session.typing.allow(channel) {
        let frame = ServerFrame::Typing {
            channel_id: channel,
            user_id: session.handle.user,
            expires_in_ms: TYPING_EXPIRES.as_millis() as u64,
        };
        conn.state.hub.publish_ephemeral(channel, &frame).await;
    }
    Ok(None)
}
