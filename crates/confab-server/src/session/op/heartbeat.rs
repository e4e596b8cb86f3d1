//! `heartbeat`: the client is alive (the serve loop already moved the deadline); answered by
//! `heartbeat_ack`.

use confab_proto::ServerFrame;

use super::Reply;

pub(super) fn handle() -> Reply {
    Ok(Some(ServerFrame::HeartbeatAck))
}
