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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_session_needs_nothing_by_default() {
        assert!(PresenceSettings::default().restore().is_empty());
    }

    #[test]
    fn status_and_watched_users_are_restored_once_each_in_order() {
        let mut p = PresenceSettings::default();
        p.set_status(Status::Idle);
        p.watch(&[UserId(3), UserId(1)]);
        p.watch(&[UserId(1), UserId(2)]);
        assert_eq!(
            p.restore(),
            vec![
                ClientFrame::SetStatus {
                    status: Status::Idle
                },
                ClientFrame::Watch {
                    user_ids: vec![UserId(3), UserId(1), UserId(2)]
                },
            ]
        );
        p.set_status(Status::Online);
        assert_eq!(
            p.restore().len(),
            1,
            "online is every new session's default"
        );
    }
}
