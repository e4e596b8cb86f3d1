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
                        let started = Box::pin(start(&mut conn, auth, conn_id));
                        let (session, started) = started.await;
                        let live = Box::pin(live(&mut conn, session, started));
                        live.await
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

/// Starts an authenticated session: registers it with the hub and presence, then sends `ready`
/// (or replays and sends `resumed`). Its future is boxed by the caller and gone once the session
/// runs; the session is returned attached, whether it started or not, so that [`live`] can leave.
async fn start<L: Link>(
    conn: &mut Conn<L>,
    auth: Authenticated,
    conn_id: u64,
) -> (Session, Result<(), End>) {
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
    (session, started)
}

/// A started session's life: serves until the end, then leaves the hub, the watchers and presence.
/// Its future is the one an idle connection carries (boxed), so it holds only the session's state
/// and the serve loop. (A plain function returning the future: an `async fn` would keep the session
/// twice in it, as its argument and as the local the body moves it into.)
#[allow(clippy::manual_async_fn)]
fn live<L: Link>(
    conn: &mut Conn<L>,
    mut session: Session,
    started: Result<(), End>,
) -> impl Future<Output = End> + Send + '_ {
    async move {
        let end = match started {
            Ok(()) => session.serve(conn).await,
            Err(end) => end,
        };
        let state = &conn.state;
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
