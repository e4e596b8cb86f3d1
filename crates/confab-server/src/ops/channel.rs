//! Channels: create a direct channel (one per pair) or a group, list mine, get one. Creating one
//! publishes its `channel_created` event and tells every member's sessions they joined.

use std::collections::HashSet;

use confab_proto::{ChannelId, ChannelSummary, ErrorCode, Event, EventBody, UserId};

use super::require_summary;
use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::hub::UserSignal;
use crate::state::AppState;

/// Longest group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 100;

/// The outcome of [`create_direct`].
#[derive(Debug, Clone)]
pub struct Direct {
    pub channel: ChannelSummary,
    /// Whether the channel is new (else it already existed).
    pub created: bool,
}

/// The direct channel of `me` and the user named `peer`, created if there is none.
pub async fn create_direct(state: &AppState, me: UserId, peer: &str) -> ApiResult<Direct> {
    let peer = auth::normalize_username(peer)
        .map_err(|_| ApiError::new(ErrorCode::NotFound, "user not found"))?;
    let peer = state.store.users_by_name(&[peer]).await?.remove(0);
    let direct = state.store.create_direct(me, peer.id).await?;
    let created = direct.created.is_some();
    if let Some(event) = direct.created {
        publish_created(state, &event).await;
    }
    Ok(Direct {
        channel: require_summary(state, direct.channel_id, me).await?,
        created,
    })
}

/// A new group named `name` owned by `me`, with the users named in `members`.
pub async fn create_group(
    state: &AppState,
    me: UserId,
    name: &str,
    members: &[String],
) -> ApiResult<ChannelSummary> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_GROUP_NAME_CHARS {
        return Err(ApiError::bad_request(format!(
            "a group name is 1-{MAX_GROUP_NAME_CHARS} characters"
        )));
    }
    let mut names = Vec::with_capacity(members.len());
    let mut seen = HashSet::new();
    for m in members {
        let name = auth::normalize_username(m)
            .map_err(|_| ApiError::new(ErrorCode::NotFound, format!("user {m:?} not found")))?;
        if seen.insert(name.clone()) {
            names.push(name);
        }
    }
    // The owner counts too (the store enforces the same limit again, atomically).
    let max = state.config.max_group_members;
    if names.len() + 1 > max as usize {
        return Err(ApiError::new(
            ErrorCode::LimitExceeded,
            format!("a group may have at most {max} members"),
        ));
    }
    let ids: Vec<UserId> = state
        .store
        .users_by_name(&names)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let event = state.store.create_group(me, name, &ids, max).await?;
    publish_created(state, &event).await;
    require_summary(state, event.channel_id, me).await
}

/// Publishes a `channel_created` event and tells its members they joined.
async fn publish_created(state: &AppState, event: &Event) {
    let members: Vec<UserId> = match &event.body {
        EventBody::ChannelCreated { members, .. } => members.iter().map(|m| m.id).collect(),
        _ => vec![event.author.id],
    };
    state.hub.publish_event(event).await;
    announce_joined(state, event.channel_id, &members).await;
    tracing::info!(channel_id = %event.channel_id, user_id = %event.author.id, "channel created");
}

/// Tells every session of each of `users` that they joined `channel`.
pub async fn announce_joined(state: &AppState, channel: ChannelId, users: &[UserId]) {
    for user in users {
        match state.store.channel_of(channel, *user).await {
            Ok(Some(summary)) => state.hub.signal(*user, &UserSignal::Joined(summary)).await,
            Ok(None) => {} // Already gone again.
            Err(e) => {
                tracing::warn!(error = %e, channel_id = %channel, user_id = %user, "cannot announce join")
            }
        }
    }
}

/// Every channel `user` is a member of.
pub async fn list(state: &AppState, user: UserId) -> ApiResult<Vec<ChannelSummary>> {
    Ok(state.store.channels_of(user).await?)
}
