//! One client connection, whatever carries it: `hello` → `identify` (→ `ready`) or `resume`
//! (→ replay → `resumed`) → events, as a single task.
//!
//! The task owns its [`Link`]. It reads client frames, writes what the hub queued for it (several
//! frames per flush when more than one is waiting), keeps a per-channel cursor so every channel's
//! events reach the client once and in `seq` order (catching up from the store where its cursor is
//! behind), and enforces the heartbeat, identify deadline and abuse limits with the documented
//! close codes.
//!
//! # Layout (like mini-redis's `cmd/`: one file per client op, all of the same shape)
//!
//! - `mod.rs`: [`run`], the session's life from first frame to last.
//! - [`link`]: the [`Link`] trait a transport implements, and [`MemoryLink`] for tests.
//! - `conn`: parsing and classifying client frames, encoding server frames, closing.
//! - `handshake`: `hello`, `identify` / `resume` within the deadline, token check, admission.
//! - `state`: an identified session's state (cursors, watched users, limits).
//! - `ready`: the snapshot of a fresh `identify`; `resume`: the replay of a `resume`.
//! - `serve`: the serve loop (queued frames out, client frames in, heartbeat deadline), batched
//!   writes, cursors and catch-up.
//! - `op/`: one file per client op after the handshake (`send`, `read`, `delivered`, `typing`,
//!   `watch`, `set_status`, `heartbeat`).

mod conn;
mod handshake;
pub mod link;
mod op;
mod ready;
mod resume;
mod serve;
mod state;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use confab_proto::CloseCode;
use tracing::Instrument;

use self::conn::{Conn, End};
use self::handshake::{Authenticated, Start};
use self::state::Session;
use crate::hub::SessionHandle;
use crate::queue::SessionQueue;
use crate::state::AppState;

pub use self::link::{Incoming, Link, LinkError, MemoryLink, MemoryPeer, Written};

/// Runs a connection to its end.
///
/// A plain function returning the future, not an `async fn`: an `async fn` would keep its
/// arguments (the link) in its state besides the copy the body moves them into.
pub fn run<L: Link>(link: L, state: AppState) -> impl Future<Output = ()> + Send {
    let conn_id = state.session_key();
    let span = tracing::info_span!("conn", conn_id, user_id = tracing::field::Empty);
    async move {
        let mut conn = Conn::new(link, state);
        // The handshake, the snapshot and the handling of client frames are boxed: their
        // futures are large and short-lived, and the task of an idle connection should not carry
        // their space for its whole life. (Each box is bound with `let` before it is awaited: a
        // temporary future would keep its space in this task until the end of the statement.)
        let handshake = Box::pin(conn.handshake());
        let end = match handshake.await {
            Ok(auth) => {
                tracing::Span::current().record("user_id", tracing::field::display(auth.user.id));
                match conn.admit(&auth) {
                    Ok(()) => {
                        let identified = Box::pin(identified(&mut conn, auth, conn_id));
                        identified.await
                    }
                    Err(retry_after) => {
                        let reason = CloseCode::Overloaded.reason_with_retry(retry_after);
                        let close = Box::pin(conn.close_with(CloseCode::Overloaded, reason));
                        close.await;
                        None
                    }
                }
            }
            Err(end) => end,
        };
        match end {
            Some(code) => {
                let close = Box::pin(conn.close(code));
                close.await
            }
            None => conn.link.gone(),
        }
    }
    .instrument(span)
}

/// The authenticated session: register with the hub, send `ready` (or replay and `resumed`), then
/// serve until the end, and leave the hub, the watchers and presence.
/// (A plain function returning the future, so `auth` is not kept twice in the task.)
#[allow(clippy::manual_async_fn)]
fn identified<L: Link>(
    conn: &mut Conn<L>,
    auth: Authenticated,
    conn_id: u64,
) -> impl Future<Output = End> + Send + '_ {
    async move {
        let state = conn.state.clone();
        let handle = SessionHandle {
            key: conn_id,
            user: auth.user.id,
            token_hash: auth.token_hash,
            queue: Arc::new(SessionQueue::new(state.config.outbound_queue)),
        };
        let mut session = Session::new(handle);
        state.hub.attach_user(&session.handle).await;
        state.presence.connect(auth.user.id);
        state.metrics.sessions.inc();
        let started = match auth.start {
            Start::Identify => {
                let ready = Box::pin(session.ready(conn, auth.user));
                ready.await
            }
            Start::Resume {
                cursors,
                receipts_since,
            } => {
                let resume = Box::pin(session.resume(conn, auth.user, cursors, receipts_since));
                resume.await
            }
        };
        let end = match started {
            Ok(()) => session.serve(conn).await,
            Err(end) => end,
        };
        session.handle.queue.close();
        state
            .hub
            .detach(&session.handle, session.cursors.keys().copied());
        state
            .watchers
            .unwatch(session.handle.key, session.watched.iter().copied());
        state
            .presence
            .disconnect(session.handle.user, session.status);
        state.metrics.sessions.dec();
        end
    }
}
