//! An identified session's state: its hub handle, a cursor per channel, who it watches, and its
//! per-session limits. The handshake files, the serve loop and the ops add its behaviour.

use std::collections::{HashMap, HashSet};

use confab_proto::{ChannelId, Status, UserId};

use crate::hub::SessionHandle;
use crate::presence::TypingLimiter;

/// An identified session's state.
pub(super) struct Session {
    pub handle: SessionHandle,
    /// Per channel: the highest `seq` this client has been sent.
    pub cursors: HashMap<ChannelId, u64>,
    /// Sends refused by the rate limit in a row.
    pub rate_limited_streak: u32,
    /// This session's own presence: online, or idle when the client says so.
    pub status: Status,
    /// Users whose presence this session is shown.
    pub watched: HashSet<UserId>,
    /// How many of them the client asked for with `watch`.
    pub explicitly_watched: usize,
    pub typing: TypingLimiter,
}

impl Session {
    pub fn new(handle: SessionHandle) -> Session {
        Session {
            handle,
            cursors: HashMap::new(),
            rate_limited_streak: 0,
            status: Status::Online,
            watched: HashSet::new(),
            explicitly_watched: 0,
            typing: TypingLimiter::default(),
        }
    }
}
