//! The sessions of each user on this node.

use std::collections::HashMap;
use std::sync::Mutex;

use confab_proto::{Status, UserId};

/// How the user's status on this node changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The user's status on this node is now this.
    Changed(Status),
    /// Sessions changed but the user's status on this node did not.
    Unchanged,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    online: u32,
    idle: u32,
}

impl Counts {
    fn status(self) -> Status {
        if self.online > 0 {
            Status::Online
        } else if self.idle > 0 {
            Status::Idle
        } else {
            Status::Offline
        }
    }
}

/// Per-node presence: each user's sessions here, online or idle.
#[derive(Debug, Default)]
pub struct LocalPresence {
    users: Mutex<HashMap<UserId, Counts>>,
}

impl LocalPresence {
    pub fn new() -> Self {
        Self::default()
    }

    fn update(&self, user: UserId, f: impl FnOnce(&mut Counts)) -> Transition {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let counts = users.entry(user).or_default();
        let before = counts.status();
        f(counts);
        let after = counts.status();
        if after == Status::Offline {
            users.remove(&user);
        }
        if before == after {
            Transition::Unchanged
        } else {
            Transition::Changed(after)
        }
    }

    /// A session of `user` opened, online.
    pub fn connect(&self, user: UserId) -> Transition {
        self.update(user, |c| c.online += 1)
    }

    /// A session of `user` with status `status` closed.
    pub fn disconnect(&self, user: UserId, status: Status) -> Transition {
        self.update(user, |c| match status {
            Status::Idle => c.idle = c.idle.saturating_sub(1),
            _ => c.online = c.online.saturating_sub(1),
        })
    }

    /// A session of `user` went from `from` to `to` (online ⇄ idle).
    pub fn set(&self, user: UserId, from: Status, to: Status) -> Transition {
        if from == to {
            return Transition::Unchanged;
        }
        self.update(user, |c| {
            match from {
                Status::Idle => c.idle = c.idle.saturating_sub(1),
                _ => c.online = c.online.saturating_sub(1),
            }
            match to {
                Status::Idle => c.idle += 1,
                _ => c.online += 1,
            }
        })
    }

    /// `user`'s status on this node.
    pub fn status(&self, user: UserId) -> Status {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.get(&user).map_or(Status::Offline, |c| c.status())
    }

    /// Every user with a session here, with their status.
    pub fn snapshot(&self) -> Vec<(UserId, Status)> {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.iter().map(|(id, c)| (*id, c.status())).collect()
    }

    /// Users with at least one session on this node.
    pub fn online_users(&self) -> usize {
        self.users.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_most_active_session() {
        let p = LocalPresence::new();
        let u = UserId(1);
        assert_eq!(p.connect(u), Transition::Changed(Status::Online));
        assert_eq!(p.connect(u), Transition::Unchanged);
        assert_eq!(
            p.set(u, Status::Online, Status::Idle),
            Transition::Unchanged
        );
        assert_eq!(
            p.set(u, Status::Online, Status::Idle),
            Transition::Changed(Status::Idle)
        );
        assert_eq!(p.status(u), Status::Idle);
        assert_eq!(p.disconnect(u, Status::Idle), Transition::Unchanged);
        assert_eq!(
            p.disconnect(u, Status::Idle),
            Transition::Changed(Status::Offline)
        );
        assert_eq!(p.online_users(), 0);
        assert_eq!(p.disconnect(u, Status::Online), Transition::Unchanged);
    }
}
