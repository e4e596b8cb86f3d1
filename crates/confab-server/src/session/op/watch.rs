//! `watch`: also show me these users' presence (beyond my contacts), up to a limit per session;
//! each newly watched user's presence is sent at once.

use std::collections::HashSet;

use confab_proto::{ErrorBody, ErrorCode, ServerFrame, UserId};

use super::Reply;
use crate::ops;
use crate::presence::MAX_WATCHED;
use crate::session::conn::{error_frame, Conn};
use crate::session::link::Link;
use crate::session::state::Session;

pub(super) async fn handle<L: Link>(
    session: &mut Session,
    conn: &mut Conn<L>,
    user_ids: Vec<UserId>,
) -> Reply {
    let mut seen = HashSet::new();
    let new: Vec<UserId> = user_ids
        .into_iter()
        .filter(|u| *u != session.handle.user && !session.watched.contains(u) && seen.insert(*u))
        .collect();
    if session.explicitly_watched + new.len() > MAX_WATCHED {
        let error = ErrorBody::new(
            ErrorCode::LimitExceeded,
            format!("a session may watch at most {MAX_WATCHED} users"),
        );
        return Ok(Some(error_frame(error, None)));
    }
    let state = conn.state.clone();
    session.explicitly_watched += new.len();
    state.watchers.watch(&session.handle, new.iter().copied());
    session.watched.extend(new.iter().copied());
    for user in new {
        let presence = ops::presence::of(&state, user).await;
        if !conn.send(&ServerFrame::Presence(presence)).await {
            return Err(None);
        }
    }
    Ok(None)
}
