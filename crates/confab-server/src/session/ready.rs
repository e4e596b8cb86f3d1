//! The snapshot of a fresh `identify`: every channel with its pointers and unread count, and the
//! presence of the user's contacts, after subscribing to each channel so nothing committed from
//! here on is missed.

use confab_proto::{CloseCode, Presence, Ready, ServerFrame, Status, User};
use confab_store::snowflake::now_ms;

use super::conn::{Conn, End};
use super::link::Link;
use super::state::Session;
use crate::state::AppState;

impl Session {
    /// A fresh identify: the full snapshot, with unread counts.
    pub(super) async fn ready<L: Link>(
        &mut self,
        conn: &mut Conn<L>,
        user: User,
    ) -> Result<(), End> {
        let state = conn.state.clone();
        let channels = state.store.channels_of(user.id).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot load channels for ready");
            Some(CloseCode::InternalError)
        })?;
        for c in &channels {
            self.cursors.insert(c.id, c.last_seq);
            state.hub.subscribe(&self.handle, c.id, c.last_seq).await;
        }
        let presence = self.watch_contacts(&state).await?;
        let ready = ServerFrame::Ready(Ready {
            session_id: uuid::Uuid::new_v4().simple().to_string(),
            user,
            channels,
            server_ts: now_ms(),
            presence,
        });
        if !conn.send(&ready).await {
            return Err(None);
        }
        tracing::debug!("session ready");
        Ok(())
    }

    /// Watches the user's contacts (members of direct channels and small groups); returns those
    /// not offline (for `ready`/`resumed`).
    pub(super) async fn watch_contacts(&mut self, state: &AppState) -> Result<Vec<Presence>, End> {
        let contacts = state
            .store
            .contacts(self.handle.user, state.config.presence_group_size)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot load contacts");
                Some(CloseCode::InternalError)
            })?;
        state.watchers.watch(&self.handle, contacts.iter().copied());
        self.watched.extend(contacts.iter().copied());
        Ok(contacts
            .into_iter()
            .filter_map(|user_id| {
                let status = state.presence.status(user_id);
                (status != Status::Offline).then_some(Presence {
                    user_id,
                    status,
                    last_seen: None,
                })
            })
            .collect())
    }
}
