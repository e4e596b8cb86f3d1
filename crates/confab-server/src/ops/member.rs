//! Group membership: list, add, remove or leave, change roles. Every change is a channel event,
//! published after its commit; who joined or left is told on their user subject.

use confab_proto::{ChannelId, ErrorCode, Event, Member, Role, UserId, UserRef};

use super::channel::announce_joined;
use super::require_member;
use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::hub::UserSignal;
use crate::state::AppState;

/// The members of `channel` with their roles, owner first, for a member.
pub async fn list(state: &AppState, channel: ChannelId, user: UserId) -> ApiResult<Vec<Member>> {
    require_member(state, channel, user).await?;
    Ok(state.store.members(channel).await?)
}

/// Adds the user named `username` to a group, as `actor` (its owner or an admin).
pub async fn add(
    state: &AppState,
    channel: ChannelId,
    actor: UserId,
    username: &str,
) -> ApiResult<Member> {
    require_member(state, channel, actor).await?;
    let name = auth::normalize_username(username)
        .map_err(|_| ApiError::new(ErrorCode::NotFound, "user not found"))?;
    let user = state.store.users_by_name(&[name]).await?.remove(0);
    let event = state
        .store
        .add_member(channel, actor, user.id, state.config.max_group_members)
        .await?;
    state.hub.publish_event(&event).await;
    announce_joined(state, channel, &[user.id]).await;
    Ok(Member {
        user: UserRef {
            id: user.id,
            username: user.username,
        },
        role: Role::Member,
    })
}

/// Removes `user` from a group as `actor`; `user == actor` leaves. When the owner leaves, the
/// longest-standing admin (or member) becomes owner.
pub async fn remove(
    state: &AppState,
    channel: ChannelId,
    actor: UserId,
    user: UserId,
) -> ApiResult<()> {
    require_member(state, channel, actor).await?;
    let events = state.store.remove_member(channel, actor, user).await?;
    publish_removal(state, &events).await;
    Ok(())
}

/// Makes `user` an admin or a plain member, as the group's owner.
pub async fn set_role(
    state: &AppState,
    channel: ChannelId,
    actor: UserId,
    user: UserId,
    role: Role,
) -> ApiResult<()> {
    require_member(state, channel, actor).await?;
    let event = state.store.set_role(channel, actor, user, role).await?;
    state.hub.publish_event(&event).await;
    Ok(())
}

/// Publishes membership events and tells each user an event removed that they left.
async fn publish_removal(state: &AppState, events: &[Event]) {
    for event in events {
        state.hub.publish_event(event).await;
        if let Some(gone) = event.removes() {
            let signal = UserSignal::Left {
                channel: event.channel_id,
                seq: event.seq,
            };
            state.hub.signal(gone, &signal).await;
        }
    }
}
