//! `set_status`: this session is `online` or `idle`; the user's aggregate presence follows.

use confab_proto::{ErrorBody, ErrorCode, Status};

use super::Reply;
use crate::session::conn::{error_frame, Conn};
use crate::session::link::Link;
use crate::session::state::Session;

pub(super) fn handle<L: Link>(session: &mut Session, conn: &mut Conn<L>, status: Status) -> Reply {
    if status == Status::Offline {
        let error = ErrorBody::new(
            ErrorCode::BadRequest,
            "status is online or idle; disconnect to go offline",
        );
        return Ok(Some(error_frame(error, None)));
    }
    conn.state
        .presence
        .set(session.handle.user, session.status, status);
    session.status = status;
    Ok(None)
}
