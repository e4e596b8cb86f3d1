//! Channels: creating direct channels (one per pair) and groups, and what a member sees of them
//! (summaries with unread counts, and the cheap positions a resume compares its cursor with).

use confab_proto::{
    ChannelId, ChannelKind, ChannelSummary, Event, EventBody, Role, UserId, UserRef,
};

use super::dialect::Sql;
use super::event::append_event;
use super::member::role_from_row;
use super::unread::{self, unread_columns};
use super::user::user_ref;
use super::{LockKey, Row, Tx};
use crate::snowflake::{now_ms, Snowflake};
use crate::{DirectChannel, Position, Result, StoreError};

static DIRECT_BY_KEY: Sql = Sql::new("SELECT id FROM channels WHERE direct_key = $1");
static INSERT_CHANNEL: Sql = Sql::new(
    "INSERT INTO channels (id, kind, name, direct_key, member_count, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)",
);
pub(super) static INSERT_MEMBER: Sql = Sql::new(
    "INSERT INTO members (channel_id, user_id, role, read_seq, joined_seq, delivered_seq)
     VALUES ($1, $2, $3, $4, $4, $4)",
);
/// A channel as member `m` sees it: the columns [`summary_from_row`] reads.
macro_rules! summary_select {
    () => {
        concat!(
            "SELECT c.id, c.kind, c.name, c.last_seq, c.member_count, c.created_at, m.role,
               m.read_seq, ",
            unread_columns!(),
            ", p.id AS peer_id, p.username AS peer_name
             FROM members m
             JOIN channels c ON c.id = m.channel_id
             LEFT JOIN members pm ON c.kind = 'direct' AND pm.channel_id = c.id
               AND pm.user_id <> m.user_id
             LEFT JOIN users p ON p.id = pm.user_id"
        )
    };
}
static SUMMARIES: Sql = Sql::new(concat!(
    summary_select!(),
    " WHERE m.user_id = $1 ORDER BY c.id"
));
static SUMMARY: Sql = Sql::new(concat!(
    summary_select!(),
    " WHERE m.user_id = $1 AND m.channel_id = $2"
));
static POSITIONS: Sql = Sql::new(
    "SELECT c.id, c.last_seq, c.pruned_through, c.member_count, m.joined_seq
     FROM members m JOIN channels c ON c.id = m.channel_id WHERE m.user_id = $1",
);

fn summary_from_row(row: &Row) -> Result<ChannelSummary> {
    let kind = match row.text("kind")?.as_str() {
        "direct" => ChannelKind::Direct,
        _ => ChannelKind::Group,
    };
    let peer = match row.opt_int("peer_id")? {
        Some(id) => Some(UserRef {
            id: UserId(id),
            username: row.text("peer_name")?,
        }),
        None => None,
    };
    Ok(ChannelSummary {
        id: ChannelId(row.int("id")?),
        kind,
        name: row.opt_text("name")?,
        peer,
        member_count: row.count("member_count")?,
        role: role_from_row(row)?,
        last_seq: row.seq("last_seq")?,
        read_seq: row.seq("read_seq")?,
        unread: unread::from_row(row)?,
        created_at: row.int("created_at")?,
    })
}

/// Inserts a channel with its members and its `channel_created` event (`seq` 1). Every member
/// starts with its pointers at that event.
async fn insert_channel<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    kind: ChannelKind,
    name: Option<&str>,
    direct_key: Option<&str>,
    members: &[(UserRef, Role)],
) -> Result<Event> {
    let id: ChannelId = ids.next_id();
    let kind_str = match kind {
        ChannelKind::Direct => "direct",
        ChannelKind::Group => "group",
    };
    let args = [
        id.into(),
        kind_str.into(),
        name.into(),
        direct_key.into(),
        (members.len() as u64).into(),
        now_ms().into(),
    ];
    tx.execute(&INSERT_CHANNEL, &args).await?;
    let author = members
        .first()
        .map(|(u, _)| u.clone())
        .ok_or_else(|| StoreError::Invalid("a channel needs members".into()))?;
    let body = EventBody::ChannelCreated {
        kind,
        name: name.map(str::to_owned),
        members: members.iter().map(|(u, _)| u.clone()).collect(),
    };
    let event = append_event(tx, ids, id, author, body).await?;
    for (user, role) in members {
        let args = [
            id.into(),
            user.id.into(),
            role.as_str().into(),
            event.seq.into(),
        ];
        tx.execute(&INSERT_MEMBER, &args).await?;
    }
    Ok(event)
}

pub(super) async fn create_direct<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    a: UserId,
    b: UserId,
) -> Result<DirectChannel> {
    if a == b {
        return Err(StoreError::Invalid(
            "a direct channel needs two different users".into(),
        ));
    }
    let key = format!("{}:{}", a.0.min(b.0), a.0.max(b.0));
    // Two nodes creating the same pair at once: the second waits here, then finds the first's.
    tx.lock_key(LockKey::Direct(&key)).await?;
    if let Some(row) = tx
        .fetch_optional(&DIRECT_BY_KEY, &[key.as_str().into()])
        .await?
    {
        return Ok(DirectChannel {
            channel_id: ChannelId(row.int("id")?),
            created: None,
        });
    }
    let members = [
        (user_ref(tx, a).await?, Role::Member),
        (user_ref(tx, b).await?, Role::Member),
    ];
    let event = insert_channel(tx, ids, ChannelKind::Direct, None, Some(&key), &members).await?;
    Ok(DirectChannel {
        channel_id: event.channel_id,
        created: Some(event),
    })
}

pub(super) async fn create_group<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    owner: UserId,
    name: &str,
    members: &[UserId],
    max_members: u32,
) -> Result<Event> {
    let mut users = vec![owner];
    for m in members {
        if !users.contains(m) {
            users.push(*m);
        }
    }
    if users.len() > max_members as usize {
        return Err(StoreError::LimitExceeded(format!(
            "a group may have at most {max_members} members"
        )));
    }
    let mut refs = Vec::with_capacity(users.len());
    for (i, id) in users.iter().enumerate() {
        let role = if i == 0 { Role::Owner } else { Role::Member };
        refs.push((user_ref(tx, *id).await?, role));
    }
    insert_channel(tx, ids, ChannelKind::Group, Some(name), None, &refs).await
}

pub(super) async fn channels_of<T: Tx>(tx: &mut T, user: UserId) -> Result<Vec<ChannelSummary>> {
    let rows = tx.fetch_all(&SUMMARIES, &[user.into()]).await?;
    rows.iter().map(summary_from_row).collect()
}

pub(super) async fn channel_of<T: Tx>(
    tx: &mut T,
    channel: ChannelId,
    user: UserId,
) -> Result<Option<ChannelSummary>> {
    let row = tx
        .fetch_optional(&SUMMARY, &[user.into(), channel.into()])
        .await?;
    row.as_ref().map(summary_from_row).transpose()
}

pub(super) async fn positions<T: Tx>(tx: &mut T, user: UserId) -> Result<Vec<Position>> {
    let rows = tx.fetch_all(&POSITIONS, &[user.into()]).await?;
    rows.iter()
        .map(|row| {
            Ok(Position {
                channel_id: ChannelId(row.int("id")?),
                last_seq: row.seq("last_seq")?,
                pruned_through: row.seq("pruned_through")?,
                member_count: row.count("member_count")?,
                joined_seq: row.seq("joined_seq")?,
            })
        })
        .collect()
}
