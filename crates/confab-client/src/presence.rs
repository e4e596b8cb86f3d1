//! What the application asked of presence — its session's status and the users it watches — kept
//! across connections: a new connection starts `online` and watching only contacts, so after
//! every `ready` or `resumed` the client asks again (docs/protocol.md §11, "Restore the session's
//! presence settings").

use confab_proto::{ClientFrame, Status, UserId};

/// The presence settings that outlive a connection.
#[derive(Debug)]
pub(crate) struct PresenceSettings {
    /// The session status the application set.
    status: Status,
    /// Users the application asked to watch, once each, in the order asked.
    watched: Vec<UserId>,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        PresenceSettings {
            status: Status::Online,
            watched: Vec::new(),
        }
    }
}

impl PresenceSettings {
    /// The application set the session's status.
    pub(crate) fn set_status(&mut self, status: Status) {
        self.status = status;
    }

    /// The application asked to watch `users` too.
    pub(crate) fn watch(&mut self, users: &[UserId]) {
        for u in users {
            if !self.watched.contains(u) {
                self.watched.push(*u);
            }
        }
    }

    /// The frames that bring a new connection to these settings: `set_status` unless online, one
    /// `watch` with every watched user if any.
    pub(crate) fn restore(&self) -> Vec<ClientFrame> {
        let mut frames = Vec::new();
        if self.status != Status::Online {
            frames.push(ClientFrame::SetStatus {
                status: self.status,
            });
        }
        if !self.watched.is_empty() {
            frames.push(ClientFrame::Watch {
                user_ids: self.watched.clone(),
            });
        }
        frames
    }
}
