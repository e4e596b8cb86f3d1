//! `send`: a message, committed before it is acked; the ack (or error) carries the frame's `ref`.
//! Too many rate-limited sends in a row close the connection.

use confab_proto::{ChannelId, CloseCode, ErrorCode, ServerFrame};

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
    client_id: &str,
    body: &str,
) -> Reply {
    let state = &conn.state;
    match ops::send::send(state, channel, session.handle.user, client_id, body).await {
        Ok(sent) => {
            session.rate_limited_streak = 0;
            let mut ack = sent.ack;
            ack.reference = reference;
            Ok(Some(ServerFrame::Ack(ack)))
        }
        Err(e) => {
            if e.code() == ErrorCode::RateLimited {
                session.rate_limited_streak += 1;
                if session.rate_limited_streak > state.config.max_rate_limited {
                    return Err(Some(CloseCode::RateLimited));
                }
            }
            Ok(Some(error_frame(e.0, reference)))
        }
    }
}
