//! Group membership and roles: who may add, remove and promote whom, the size limit, and who
//! inherits a group when its owner leaves. Every change is an event in the same transaction.
//!
//! On PostgreSQL each change first locks the channel's row ([`require_group`]), so the checks
//! that follow hold until commit: READ COMMITTED would otherwise let two removals of one member,
//! or an add past the limit, both pass.

use confab_proto::{ChannelId, Event, EventBody, Member, Role, UserId, UserRef};

use super::channel::INSERT_MEMBER;
use super::dialect::Sql;
use super::event::append_event;
use super::user::user_ref;
use super::{Row, Tx};
use crate::snowflake::Snowflake;
use crate::{Result, StoreError};

static ROLE: Sql = Sql::new("SELECT role FROM members WHERE channel_id = $1 AND user_id = $2");
static KIND_LOCKED: Sql = Sql::new("SELECT kind FROM channels WHERE id = $1 {for_update}");
static MEMBER_COUNT: Sql = Sql::new("SELECT member_count FROM channels WHERE id = $1");
static COUNT_UP: Sql =
    Sql::new("UPDATE channels SET member_count = member_count + 1 WHERE id = $1");
pub(super) static COUNT_DOWN: Sql =
    Sql::new("UPDATE channels SET member_count = member_count - 1 WHERE id = $1");
pub(super) static DELETE_MEMBER: Sql =
    Sql::new("DELETE FROM members WHERE channel_id = $1 AND user_id = $2");
static HEIR: Sql = Sql::new(
    "SELECT user_id FROM members WHERE channel_id = $1
     ORDER BY role = 'admin' DESC, joined_seq ASC, user_id ASC LIMIT 1",
);
static SET_ROLE: Sql =
    Sql::new("UPDATE members SET role = $1 WHERE channel_id = $2 AND user_id = $3");
static MEMBERS: Sql = Sql::new(
    "SELECT u.id, u.username, m.role FROM members m JOIN users u ON u.id = m.user_id
     WHERE m.channel_id = $1 ORDER BY m.role = 'owner' DESC, m.joined_seq, u.id",
);

/// The `role` column.
pub(super) fn role_from_row(row: &Row) -> Result<Role> {
    let role = row.text("role")?;
    Role::parse(&role).ok_or_else(|| StoreError::Backend(format!("unknown role {role:?} in store")))
}

/// The role of `user` in `channel`, or `None` when not a member.
pub(super) async fn role_in<T: Tx>(
    tx: &mut T,
    channel: ChannelId,
    user: UserId,
) -> Result<Option<Role>> {
    let row = tx
        .fetch_optional(&ROLE, &[channel.into(), user.into()])
        .await?;
    row.as_ref().map(role_from_row).transpose()
}

/// Fails unless `channel` is a group, so membership may change; locks the channel's row.
async fn require_group<T: Tx>(tx: &mut T, channel: ChannelId) -> Result<()> {
    let row = tx.fetch_optional(&KIND_LOCKED, &[channel.into()]).await?;
    match row.map(|r| r.text("kind")).transpose()?.as_deref() {
        None => Err(StoreError::NotFound("channel".into())),
        Some("group") => Ok(()),
        Some(_) => Err(StoreError::Invalid(
            "the members of a direct channel cannot change".into(),
        )),
    }
}

pub(super) async fn add_member<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    channel: ChannelId,
    actor: UserId,
    user: UserId,
    max_members: u32,
) -> Result<Event> {
    require_group(tx, channel).await?;
    match role_in(tx, channel, actor).await? {
        Some(Role::Owner | Role::Admin) => {}
        Some(Role::Member) => {
            return Err(StoreError::Forbidden(
                "only the owner and admins may add members".into(),
            ))
        }
        None => return Err(StoreError::Forbidden("not a member of this channel".into())),
    }
    if role_in(tx, channel, user).await?.is_some() {
        return Err(StoreError::Conflict("already a member".into()));
    }
    let count = tx.fetch_one(&MEMBER_COUNT, &[channel.into()]).await?;
    if count.int("member_count")? >= i64::from(max_members) {
        return Err(StoreError::LimitExceeded(format!(
            "a group may have at most {max_members} members"
        )));
    }
    let author = user_ref(tx, actor).await?;
    let target = user_ref(tx, user).await?;
    let body = EventBody::MemberAdded { user: target };
    let event = append_event(tx, ids, channel, author, body).await?;
    let role = Role::Member.as_str();
    let args = [channel.into(), user.into(), role.into(), event.seq.into()];
    tx.execute(&INSERT_MEMBER, &args).await?;
    tx.execute(&COUNT_UP, &[channel.into()]).await?;
    Ok(event)
}

pub(super) async fn remove_member<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    channel: ChannelId,
    actor: UserId,
    user: UserId,
) -> Result<Vec<Event>> {
    require_group(tx, channel).await?;
    let actor_role = role_in(tx, channel, actor)
        .await?
        .ok_or_else(|| StoreError::Forbidden("not a member of this channel".into()))?;
    let author = user_ref(tx, actor).await?;
    let body = if user == actor {
        EventBody::MemberLeft
    } else {
        let target_role = role_in(tx, channel, user)
            .await?
            .ok_or_else(|| StoreError::NotFound("member".into()))?;
        let allowed = match actor_role {
            Role::Owner => true,
            Role::Admin => target_role == Role::Member,
            Role::Member => false,
        };
        if !allowed {
            return Err(StoreError::Forbidden(
                "the owner may remove anyone, admins only plain members".into(),
            ));
        }
        EventBody::MemberRemoved {
            user: user_ref(tx, user).await?,
        }
    };
    let mut events = vec![append_event(tx, ids, channel, author.clone(), body).await?];
    tx.execute(&DELETE_MEMBER, &[channel.into(), user.into()])
        .await?;
    tx.execute(&COUNT_DOWN, &[channel.into()]).await?;
    if user == actor && actor_role == Role::Owner {
        if let Some(heir) = tx.fetch_optional(&HEIR, &[channel.into()]).await? {
            let heir = UserId(heir.int("user_id")?);
            let owner = Role::Owner.as_str();
            tx.execute(&SET_ROLE, &[owner.into(), channel.into(), heir.into()])
                .await?;
            let body = EventBody::RoleChanged {
                user: user_ref(tx, heir).await?,
                role: Role::Owner,
            };
            events.push(append_event(tx, ids, channel, author, body).await?);
        }
    }
    Ok(events)
}

pub(super) async fn set_role<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    channel: ChannelId,
    actor: UserId,
    user: UserId,
    role: Role,
) -> Result<Event> {
    if role == Role::Owner {
        return Err(StoreError::Invalid(
            "ownership passes only when the owner leaves".into(),
        ));
    }
    require_group(tx, channel).await?;
    if role_in(tx, channel, actor).await? != Some(Role::Owner) {
        return Err(StoreError::Forbidden(
            "only the owner may change roles".into(),
        ));
    }
    match role_in(tx, channel, user).await? {
        None => return Err(StoreError::NotFound("member".into())),
        Some(Role::Owner) => {
            return Err(StoreError::Invalid("the owner's role cannot change".into()))
        }
        Some(current) if current == role => {
            return Err(StoreError::Conflict(format!("already {}", role.as_str())))
        }
        Some(_) => {}
    }
    let args = [role.as_str().into(), channel.into(), user.into()];
    tx.execute(&SET_ROLE, &args).await?;
    let author = user_ref(tx, actor).await?;
    let target = user_ref(tx, user).await?;
    let body = EventBody::RoleChanged { user: target, role };
    append_event(tx, ids, channel, author, body).await
}

pub(super) async fn members<T: Tx>(tx: &mut T, channel: ChannelId) -> Result<Vec<Member>> {
    let rows = tx.fetch_all(&MEMBERS, &[channel.into()]).await?;
    rows.iter()
        .map(|row| {
            Ok(Member {
                user: UserRef {
                    id: UserId(row.int("id")?),
                    username: row.text("username")?,
                },
                role: role_from_row(row)?,
            })
        })
        .collect()
}
