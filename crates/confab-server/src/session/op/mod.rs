//! The client ops after the handshake, one file each, all of the same shape: an async function
//! taking the session, its connection and the op's fields, doing the work through
//! [`ops`](crate::ops) (the same operations the REST API calls), and returning the frame to answer
//! with, if any — or how the session ends.

mod delivered;
mod heartbeat;
mod read;
mod send;
mod set_status;
mod typing;
mod watch;

use confab_proto::{ClientFrame, CloseCode, ServerFrame};

use super::conn::{Conn, End};
use super::link::Link;
use super::state::Session;
use crate::metrics::Reason;

/// What an op answers: a frame for the client (or nothing), or the end of the session.
type Reply = Result<Option<ServerFrame>, End>;

/// Runs the op of one client frame.
pub(super) async fn handle<L: Link>(
    session: &mut Session,
    conn: &mut Conn<L>,
    frame: ClientFrame,
) -> Reply {
    match frame {
        ClientFrame::Identify { .. } | ClientFrame::Resume { .. } => {
            conn.state.metrics.reject(Reason::already_identified);
            Err(Some(CloseCode::AlreadyIdentified))
        }
        ClientFrame::Heartbeat => heartbeat::handle(),
        ClientFrame::Send {
            reference,
            channel_id,
            client_id,
            body,
        } => send::handle(session, conn, reference, channel_id, &client_id, &body).await,
        ClientFrame::Read {
            reference,
            channel_id,
            seq,
        } => read::handle(session, conn, reference, channel_id, seq).await,
        ClientFrame::Delivered { channel_id, seq } => {
            delivered::handle(session, conn, channel_id, seq)
        }
        ClientFrame::SetStatus { status } => set_status::handle(session, conn, status),
        ClientFrame::Typing { channel_id } => typing::handle(session, conn, channel_id).await,
        ClientFrame::Watch { user_ids } => watch::handle(session, conn, user_ids).await,
    }
}
