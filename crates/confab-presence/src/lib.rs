//! Presence: who is online, aggregated over all of a user's sessions.
//!
//! # Layout
//!
//! - [`LocalPresence`]: counts each user's sessions on this node and reports when a user comes
//!   online (first session) or goes offline (last session closed).
//!
//! Leases over the bus, aggregation across nodes and expiry build on this for clusters.

use std::collections::HashMap;
use std::sync::Mutex;

use confab_proto::Id;

/// A change in a user's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The user's first session opened.
    Online,
    /// The user's last session closed.
    Offline,
    /// Sessions changed but the user stays as it was.
    Unchanged,
}

/// Per-node presence: the number of open sessions of each user.
#[derive(Debug, Default)]
pub struct LocalPresence {
    sessions: Mutex<HashMap<Id, u32>>,
}

impl LocalPresence {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a new session of `user`.
    pub fn connect(&self, user: Id) -> Transition {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(user).or_insert(0);
        *n += 1;
        if *n == 1 {
            Transition::Online
        } else {
            Transition::Unchanged
        }
    }

    /// Records that a session of `user` closed. Unknown users are ignored.
    pub fn disconnect(&self, user: Id) -> Transition {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                Transition::Unchanged
            }
            Some(_) => {
                map.remove(&user);
                Transition::Offline
            }
            None => Transition::Unchanged,
        }
    }

    /// Whether `user` has a session on this node.
    pub fn is_online(&self, user: Id) -> bool {
        let map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.contains_key(&user)
    }

    /// Users with at least one session on this node.
    pub fn online_users(&self) -> usize {
        let map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_online_while_any_session_is_open() {
        let p = LocalPresence::new();
        let u = Id(1);
        assert_eq!(p.connect(u), Transition::Online);
        assert_eq!(p.connect(u), Transition::Unchanged);
        assert_eq!(p.online_users(), 1);
        assert_eq!(p.disconnect(u), Transition::Unchanged);
        assert!(p.is_online(u));
        assert_eq!(p.disconnect(u), Transition::Offline);
        assert!(!p.is_online(u));
        assert_eq!(p.disconnect(u), Transition::Unchanged);
    }
}
