//! The administrator's calls ([`AdminStore`]) over the core: listing, disabling and deleting users
//! and channels, and the integrity check.
//!
//! Deleting a user never deletes an event: a channel's `seq` must stay gapless for every client
//! that pages through it. The user leaves each channel by the core's own rule (a `member_left`
//! event, ownership passing on), and their messages are redacted in place, keeping their `seq`
//! and ordinals. The check reads a snapshot ([`Backend::snapshot`]) so that servers writing at
//! the same time cause no false alarm.

use std::collections::HashMap;

use async_trait::async_trait;
use confab_proto::{ChannelId, ChannelKind, EventBody, UserId, UserRef};

use super::dialect::Sql;
use super::event::append_event;
use super::member::{remove_member, role_from_row, COUNT_DOWN, DELETE_MEMBER};
use super::user::user_ref;
use super::{Backend, Row, SqlStore, Tx};
use crate::admin::{
    tombstone_name, AdminStore, ChannelDeletion, ChannelDetail, ChannelRecord, MemberRecord,
    Problem, UserDeletion, UserRecord, REDACTED_BODY,
};
use crate::snowflake::{now_ms, Snowflake};
use crate::{Result, StoreError};

macro_rules! user_select {
    () => {
        "SELECT u.id, u.username, u.created_at, u.last_seen, u.disabled_at, u.deleted_at,
           (SELECT count(*) FROM tokens t WHERE t.user_id = u.id) AS tokens
         FROM users u"
    };
}
static USERS: Sql = Sql::new(concat!(user_select!(), " ORDER BY u.username"));
static USER_NAMED: Sql = Sql::new(concat!(user_select!(), " WHERE u.username = $1"));
static SET_PASSWORD: Sql =
    Sql::new("UPDATE users SET password_hash = $1 WHERE id = $2 AND deleted_at IS NULL");
static DISABLE: Sql = Sql::new(
    "UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL AND deleted_at IS NULL",
);
static ENABLE: Sql = Sql::new(
    "UPDATE users SET disabled_at = NULL
     WHERE id = $1 AND disabled_at IS NOT NULL AND deleted_at IS NULL",
);
static LIVE_USER: Sql = Sql::new("SELECT deleted_at FROM users WHERE id = $1 {for_update}");
static TOKENS_OF: Sql = Sql::new("SELECT token_hash FROM tokens WHERE user_id = $1");
static DELETE_TOKENS: Sql = Sql::new("DELETE FROM tokens WHERE user_id = $1");
static MEMBERSHIPS: Sql = Sql::new(
    "SELECT m.channel_id, c.kind FROM members m JOIN channels c ON c.id = m.channel_id
     WHERE m.user_id = $1 ORDER BY m.channel_id",
);
static LOCK_CHANNEL: Sql = Sql::new("SELECT 1 FROM channels WHERE id = $1 FOR UPDATE");
static REDACT: Sql =
    Sql::new("UPDATE events SET payload = $1 WHERE author_id = $2 AND kind = 'message'");
static DELETE_USER_SENDS: Sql = Sql::new("DELETE FROM sends WHERE sender_id = $1");
static NAMING: Sql = Sql::new(
    "SELECT channel_id, seq, payload FROM events WHERE kind <> 'message' AND payload LIKE $1",
);
static SET_PAYLOAD: Sql =
    Sql::new("UPDATE events SET payload = $1 WHERE channel_id = $2 AND seq = $3");
static TOMBSTONE: Sql = Sql::new(
    "UPDATE users SET username = $1, password_hash = '', last_seen = NULL,
       disabled_at = $2, deleted_at = $2
     WHERE id = $3",
);

macro_rules! channel_select {
    () => {
        "SELECT id, kind, name, direct_key, member_count, last_seq, pruned_through, msg_count,
           created_at
         FROM channels"
    };
}
static CHANNELS: Sql = Sql::new(concat!(channel_select!(), " ORDER BY id"));
static CHANNEL: Sql = Sql::new(concat!(channel_select!(), " WHERE id = $1"));
static CHANNEL_MEMBERS: Sql = Sql::new(
    "SELECT m.user_id, u.username, m.role, m.joined_seq, m.read_seq, m.delivered_seq
     FROM members m LEFT JOIN users u ON u.id = m.user_id
     WHERE m.channel_id = $1 ORDER BY m.role = 'owner' DESC, m.joined_seq, m.user_id",
);
static CHANNEL_STORED: Sql = Sql::new(
    "SELECT count(*) AS events, count(msg_ord) AS messages, min(ts) AS oldest, max(ts) AS newest
     FROM events WHERE channel_id = $1",
);
static DELETE_CHANNEL_EVENTS: Sql = Sql::new("DELETE FROM events WHERE channel_id = $1");
static DELETE_CHANNEL_MEMBERS: Sql = Sql::new("DELETE FROM members WHERE channel_id = $1");
static DELETE_CHANNEL_SENDS: Sql = Sql::new("DELETE FROM sends WHERE channel_id = $1");
static DELETE_CHANNEL: Sql = Sql::new("DELETE FROM channels WHERE id = $1");

// The check. Each statement reads one table (or two) once; the problems are few, the rows they
// return fewer.

/// Per channel: its pointers and counters, and what its stored events say about them.
static SPANS: Sql = Sql::new(
    "SELECT c.id, c.kind, c.last_seq, c.pruned_through, c.msg_count,
       count(CASE WHEN e.seq <= c.pruned_through THEN 1 END) AS below,
       count(CASE WHEN e.seq > c.last_seq THEN 1 END) AS beyond,
       min(CASE WHEN e.seq > c.pruned_through THEN e.seq END) AS first_seq,
       max(CASE WHEN e.seq <= c.last_seq THEN e.seq END) AS last_stored,
       count(e.msg_ord) AS messages, min(e.msg_ord) AS first_ord, max(e.msg_ord) AS last_ord
     FROM channels c LEFT JOIN events e ON e.channel_id = c.id
     GROUP BY c.id, c.kind, c.last_seq, c.pruned_through, c.msg_count ORDER BY c.id",
);
/// Consecutive stored events whose seqs are not consecutive.
static SEQ_BREAKS: Sql = Sql::new(
    "SELECT channel_id, prev, seq FROM (
       SELECT channel_id, seq, lag(seq) OVER (PARTITION BY channel_id ORDER BY seq) AS prev
       FROM events) g
     WHERE seq <> prev + 1 ORDER BY channel_id, seq",
);
/// Consecutive stored messages whose channel ordinals are not consecutive.
static ORD_BREAKS: Sql = Sql::new(
    "SELECT channel_id, seq, msg_ord, prev FROM (
       SELECT channel_id, seq, msg_ord,
         lag(msg_ord) OVER (PARTITION BY channel_id ORDER BY seq) AS prev
       FROM events WHERE msg_ord IS NOT NULL) g
     WHERE msg_ord <> prev + 1 ORDER BY channel_id, seq",
);
/// Consecutive stored messages of one author in one channel whose author ordinals are not
/// consecutive.
static AUTHOR_BREAKS: Sql = Sql::new(
    "SELECT channel_id, author_id, seq, author_ord, prev FROM (
       SELECT channel_id, author_id, seq, author_ord,
         lag(author_ord) OVER (PARTITION BY channel_id, author_id ORDER BY seq) AS prev
       FROM events WHERE msg_ord IS NOT NULL) g
     WHERE author_ord IS NULL OR author_ord <> prev + 1 ORDER BY channel_id, seq",
);
/// Events whose ordinals do not match their kind: a message has both, anything else neither.
static ORD_KIND: Sql = Sql::new(
    "SELECT channel_id, count(*) AS n FROM events
     WHERE (kind = 'message' AND (msg_ord IS NULL OR author_ord IS NULL))
        OR (kind <> 'message' AND (msg_ord IS NOT NULL OR author_ord IS NOT NULL))
     GROUP BY channel_id ORDER BY channel_id",
);
static MEMBER_COUNTS: Sql = Sql::new(
    "SELECT c.id, c.member_count, count(m.user_id) AS actual
     FROM channels c LEFT JOIN members m ON m.channel_id = c.id
     GROUP BY c.id, c.member_count HAVING c.member_count <> count(m.user_id) ORDER BY c.id",
);
static POINTERS_AHEAD: Sql = Sql::new(
    "SELECT m.channel_id, m.user_id, m.joined_seq, m.read_seq, m.delivered_seq, c.last_seq
     FROM members m JOIN channels c ON c.id = m.channel_id
     WHERE m.joined_seq > c.last_seq OR m.read_seq > c.last_seq OR m.delivered_seq > c.last_seq
     ORDER BY m.channel_id, m.user_id",
);
static BAD_ROLES: Sql = Sql::new(
    "SELECT m.channel_id, m.user_id, m.role FROM members m JOIN channels c ON c.id = m.channel_id
     WHERE (c.kind = 'group' AND m.role NOT IN ('owner', 'admin', 'member'))
        OR (c.kind = 'direct' AND m.role <> 'member')
     ORDER BY m.channel_id, m.user_id",
);
static OWNERS: Sql = Sql::new(
    "SELECT c.id, count(CASE WHEN m.role = 'owner' THEN 1 END) AS owners
     FROM channels c JOIN members m ON m.channel_id = c.id WHERE c.kind = 'group'
     GROUP BY c.id HAVING count(CASE WHEN m.role = 'owner' THEN 1 END) <> 1 ORDER BY c.id",
);
static ORPHAN_MEMBERS: Sql = Sql::new(
    "SELECT m.channel_id, m.user_id,
       CASE WHEN c.id IS NULL THEN 'channel' WHEN u.id IS NULL THEN 'user' ELSE 'deleted' END
         AS missing
     FROM members m LEFT JOIN channels c ON c.id = m.channel_id
       LEFT JOIN users u ON u.id = m.user_id
     WHERE c.id IS NULL OR u.id IS NULL OR u.deleted_at IS NOT NULL
     ORDER BY m.channel_id, m.user_id",
);
static ORPHAN_TOKENS: Sql = Sql::new(
    "SELECT t.user_id, count(*) AS n, CASE WHEN u.id IS NULL THEN 'missing' ELSE 'deleted' END AS what
     FROM tokens t LEFT JOIN users u ON u.id = t.user_id
     WHERE u.id IS NULL OR u.deleted_at IS NOT NULL
     GROUP BY t.user_id, u.id ORDER BY t.user_id",
);
static ORPHAN_EVENTS: Sql = Sql::new(
    "SELECT e.channel_id, count(*) AS n FROM events e LEFT JOIN channels c ON c.id = e.channel_id
     WHERE c.id IS NULL GROUP BY e.channel_id ORDER BY e.channel_id",
);
static AUTHORLESS_EVENTS: Sql = Sql::new(
    "SELECT e.channel_id, count(*) AS n FROM events e LEFT JOIN users u ON u.id = e.author_id
     WHERE u.id IS NULL GROUP BY e.channel_id ORDER BY e.channel_id",
);
static ORPHAN_SENDS: Sql = Sql::new(
    "SELECT s.sender_id, s.channel_id, count(*) AS n,
       CASE WHEN c.id IS NULL THEN 'channel' WHEN u.id IS NULL THEN 'user' ELSE 'deleted' END
         AS missing
     FROM sends s LEFT JOIN channels c ON c.id = s.channel_id
       LEFT JOIN users u ON u.id = s.sender_id
     WHERE c.id IS NULL OR u.id IS NULL OR u.deleted_at IS NOT NULL
     GROUP BY s.sender_id, s.channel_id, c.id, u.id ORDER BY s.sender_id, s.channel_id",
);

fn user_record(row: &Row) -> Result<UserRecord> {
    Ok(UserRecord {
        id: UserId(row.int("id")?),
        username: row.text("username")?,
        created_at: row.int("created_at")?,
        last_seen: row.opt_int("last_seen")?,
        disabled_at: row.opt_int("disabled_at")?,
        deleted_at: row.opt_int("deleted_at")?,
        tokens: row.seq("tokens")?,
    })
}

fn channel_record(row: &Row) -> Result<ChannelRecord> {
    let kind = match row.text("kind")?.as_str() {
        "direct" => ChannelKind::Direct,
        _ => ChannelKind::Group,
    };
    let pair = row.opt_text("direct_key")?.and_then(|key| {
        let (a, b) = key.split_once(':')?;
        Some([UserId(a.parse().ok()?), UserId(b.parse().ok()?)])
    });
    Ok(ChannelRecord {
        id: ChannelId(row.int("id")?),
        kind,
        name: row.opt_text("name")?,
        pair,
        member_count: row.count("member_count")?,
        last_seq: row.seq("last_seq")?,
        pruned_through: row.seq("pruned_through")?,
        msg_count: row.seq("msg_count")?,
        created_at: row.int("created_at")?,
    })
}

/// Fails with [`StoreError::NotFound`] unless `user` exists and is not deleted; locks its row.
async fn require_live_user<T: Tx>(tx: &mut T, user: UserId) -> Result<()> {
    match tx.fetch_optional(&LIVE_USER, &[user.into()]).await? {
        Some(row) if row.opt_int("deleted_at")?.is_none() => Ok(()),
        _ => Err(StoreError::NotFound("user".into())),
    }
}

async fn delete_user<T: Tx>(tx: &mut T, ids: &Snowflake, user: UserId) -> Result<UserDeletion> {
    require_live_user(tx, user).await?;
    let tokens_revoked = tx.execute(&DELETE_TOKENS, &[user.into()]).await?;
    // Leave every channel as the user would: an event in each, so every client learns of it in
    // `seq` order.
    let memberships = tx.fetch_all(&MEMBERSHIPS, &[user.into()]).await?;
    let mut events = Vec::new();
    for row in &memberships {
        let channel = ChannelId(row.int("channel_id")?);
        if row.text("kind")? == "group" {
            events.extend(remove_member(tx, ids, channel, user, user).await?);
        } else {
            // A direct channel's members cannot change by the rules of the protocol; this is the
            // one exception, made the same way.
            tx.lock_rows(&LOCK_CHANNEL, &[channel.into()]).await?;
            let author = user_ref(tx, user).await?;
            events.push(append_event(tx, ids, channel, author, EventBody::MemberLeft).await?);
            tx.execute(&DELETE_MEMBER, &[channel.into(), user.into()])
                .await?;
            tx.execute(&COUNT_DOWN, &[channel.into()]).await?;
        }
    }
    let redacted = serde_json::to_string(&EventBody::Message {
        body: REDACTED_BODY.into(),
        client_id: String::new(),
    })?;
    let messages_redacted = tx
        .execute(&REDACT, &[redacted.as_str().into(), user.into()])
        .await?;
    tx.execute(&DELETE_USER_SENDS, &[user.into()]).await?;
    // Events of others that embed the user's name: found by the id in their JSON, checked parsed.
    let tombstone = tombstone_name(user);
    let pattern = format!("%\"id\":\"{}\"%", user.0);
    let naming = tx.fetch_all(&NAMING, &[pattern.as_str().into()]).await?;
    let mut events_renamed = 0;
    for row in &naming {
        let mut body: EventBody = serde_json::from_str(&row.text("payload")?)?;
        let rename = |r: &mut UserRef| {
            let hit = r.id == user;
            if hit {
                r.username.clone_from(&tombstone);
            }
            hit
        };
        let renamed = match &mut body {
            EventBody::ChannelCreated { members, .. } => {
                members.iter_mut().map(rename).fold(false, |a, b| a | b)
            }
            EventBody::MemberAdded { user }
            | EventBody::MemberRemoved { user }
            | EventBody::RoleChanged { user, .. } => rename(user),
            EventBody::Message { .. } | EventBody::MemberLeft => false,
        };
        if renamed {
            let payload = serde_json::to_string(&body)?;
            let args = [
                payload.as_str().into(),
                row.int("channel_id")?.into(),
                row.int("seq")?.into(),
            ];
            tx.execute(&SET_PAYLOAD, &args).await?;
            events_renamed += 1;
        }
    }
    let args = [tombstone.as_str().into(), now_ms().into(), user.into()];
    tx.execute(&TOMBSTONE, &args).await?;
    // As history will show them: authored by the tombstone.
    for event in &mut events {
        if event.author.id == user {
            event.author.username.clone_from(&tombstone);
        }
    }
    Ok(UserDeletion {
        user_id: user,
        tombstone,
        tokens_revoked,
        channels_left: memberships.len() as u64,
        messages_redacted,
        events_renamed,
        events,
    })
}

async fn inspect_channel<T: Tx>(tx: &mut T, channel: ChannelId) -> Result<Option<ChannelDetail>> {
    let Some(row) = tx.fetch_optional(&CHANNEL, &[channel.into()]).await? else {
        return Ok(None);
    };
    let record = channel_record(&row)?;
    let mut members = Vec::new();
    for row in tx.fetch_all(&CHANNEL_MEMBERS, &[channel.into()]).await? {
        let id = UserId(row.int("user_id")?);
        members.push(MemberRecord {
            user: UserRef {
                id,
                username: row
                    .opt_text("username")?
                    .unwrap_or_else(|| "(missing user)".into()),
            },
            role: role_from_row(&row)?,
            joined_seq: row.seq("joined_seq")?,
            read_seq: row.seq("read_seq")?,
            delivered_seq: row.seq("delivered_seq")?,
        });
    }
    let stored = tx.fetch_one(&CHANNEL_STORED, &[channel.into()]).await?;
    Ok(Some(ChannelDetail {
        channel: record,
        members,
        events_stored: stored.seq("events")?,
        messages_stored: stored.seq("messages")?,
        oldest_ts: stored.opt_int("oldest")?,
        newest_ts: stored.opt_int("newest")?,
    }))
}

async fn delete_channel<T: Tx>(tx: &mut T, channel: ChannelId) -> Result<ChannelDeletion> {
    // Senders to the channel wait for this lock, then find no channel.
    if tx
        .fetch_optional(&CHANNEL, &[channel.into()])
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound("channel".into()));
    }
    tx.lock_rows(&LOCK_CHANNEL, &[channel.into()]).await?;
    let events = tx
        .execute(&DELETE_CHANNEL_EVENTS, &[channel.into()])
        .await?;
    let members = tx
        .execute(&DELETE_CHANNEL_MEMBERS, &[channel.into()])
        .await?;
    let sends = tx.execute(&DELETE_CHANNEL_SENDS, &[channel.into()]).await?;
    tx.execute(&DELETE_CHANNEL, &[channel.into()]).await?;
    Ok(ChannelDeletion {
        channel_id: channel,
        events,
        members,
        sends,
    })
}

/// `a..=b` as a person reads it: one seq, or a range with its length.
fn seqs(a: u64, b: u64) -> String {
    if a == b {
        format!("seq {a} is missing")
    } else {
        format!("seqs {a}-{b} are missing ({} events)", b - a + 1)
    }
}

fn problem(kind: &'static str, channel: Option<ChannelId>, detail: String) -> Problem {
    Problem {
        kind,
        channel_id: channel,
        user_id: None,
        detail,
    }
}

/// Where a channel's stored events should be: above its retention horizon, up to its head.
#[derive(Clone, Copy)]
struct Span {
    pruned_through: u64,
    last_seq: u64,
}

async fn check<T: Tx>(tx: &mut T) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let mut spans = HashMap::new();

    // Seqs: every event above the horizon up to the head is stored, none outside. Messages: their
    // ordinals end at the channel's message counter.
    for row in tx.fetch_all(&SPANS, &[]).await? {
        let channel = ChannelId(row.int("id")?);
        let ch = Some(channel);
        let kind = row.text("kind")?;
        if kind != "direct" && kind != "group" {
            problems.push(problem(
                "channel_kind",
                ch,
                format!("unknown kind {kind:?}"),
            ));
        }
        let span = Span {
            pruned_through: row.seq("pruned_through")?,
            last_seq: row.seq("last_seq")?,
        };
        spans.insert(channel, span);
        if span.pruned_through > span.last_seq {
            problems.push(problem(
                "seq_horizon",
                ch,
                format!(
                    "retention horizon {} is past the head seq {}",
                    span.pruned_through, span.last_seq
                ),
            ));
        }
        let below = row.seq("below")?;
        if below > 0 {
            problems.push(problem(
                "seq_below_horizon",
                ch,
                format!(
                    "{below} events at or below the retention horizon {} are still stored",
                    span.pruned_through
                ),
            ));
        }
        let beyond = row.seq("beyond")?;
        if beyond > 0 {
            problems.push(problem(
                "seq_beyond_head",
                ch,
                format!(
                    "{beyond} events are stored beyond the head seq {}",
                    span.last_seq
                ),
            ));
        }
        // The ends of the span; the breaks inside it come from SEQ_BREAKS.
        let first = row.opt_int("first_seq")?.map(|v| v.max(0) as u64);
        let last = row.opt_int("last_stored")?.map(|v| v.max(0) as u64);
        match (first, last) {
            (Some(first), Some(last)) => {
                if first > span.pruned_through + 1 {
                    problems.push(problem(
                        "seq_gap",
                        ch,
                        seqs(span.pruned_through + 1, first - 1),
                    ));
                }
                if last < span.last_seq {
                    problems.push(problem("seq_gap", ch, seqs(last + 1, span.last_seq)));
                }
            }
            _ if span.last_seq > span.pruned_through => problems.push(problem(
                "seq_gap",
                ch,
                seqs(span.pruned_through + 1, span.last_seq),
            )),
            _ => {}
        }
        let msg_count = row.seq("msg_count")?;
        match row.opt_int("last_ord")? {
            Some(last_ord) if last_ord.max(0) as u64 != msg_count => problems.push(problem(
                "msg_count",
                ch,
                format!(
                    "the message counter is {msg_count} but the newest message is number {last_ord}"
                ),
            )),
            None if span.pruned_through == 0 && msg_count != 0 => problems.push(problem(
                "msg_count",
                ch,
                format!("the message counter is {msg_count} but no message is stored or pruned"),
            )),
            _ => {}
        }
        if span.pruned_through == 0 && row.seq("messages")? > 0 && row.int("first_ord")? != 1 {
            problems.push(problem(
                "msg_ord",
                ch,
                format!(
                    "nothing was pruned but the first message is number {}",
                    row.int("first_ord")?
                ),
            ));
        }
    }
    for row in tx.fetch_all(&SEQ_BREAKS, &[]).await? {
        let channel = ChannelId(row.int("channel_id")?);
        let Some(span) = spans.get(&channel) else {
            continue; // events of a missing channel: reported below
        };
        let (prev, seq) = (row.seq("prev")?, row.seq("seq")?);
        // Only what is missing above the horizon and up to the head: outside, nothing should be.
        let from = (prev + 1).max(span.pruned_through + 1);
        let to = seq.saturating_sub(1).min(span.last_seq);
        if from <= to {
            problems.push(problem("seq_gap", Some(channel), seqs(from, to)));
        }
    }

    // Ordinals: consecutive in seq order, per channel and per author in a channel.
    for row in tx.fetch_all(&ORD_BREAKS, &[]).await? {
        problems.push(problem(
            "msg_ord",
            Some(ChannelId(row.int("channel_id")?)),
            format!(
                "the message at seq {} is number {} but the one before it is number {}",
                row.int("seq")?,
                row.int("msg_ord")?,
                row.int("prev")?
            ),
        ));
    }
    for row in tx.fetch_all(&AUTHOR_BREAKS, &[]).await? {
        let detail = match (row.opt_int("author_ord")?, row.opt_int("prev")?) {
            (Some(ord), Some(prev)) => format!(
                "the message at seq {} is its author's number {ord} but their one before is number {prev}",
                row.int("seq")?
            ),
            _ => format!(
                "the message at seq {} has no author number",
                row.int("seq")?
            ),
        };
        problems.push(Problem {
            kind: "author_ord",
            channel_id: Some(ChannelId(row.int("channel_id")?)),
            user_id: Some(UserId(row.int("author_id")?)),
            detail,
        });
    }
    for row in tx.fetch_all(&ORD_KIND, &[]).await? {
        problems.push(problem(
            "msg_ord",
            Some(ChannelId(row.int("channel_id")?)),
            format!(
                "{} events have ordinals that do not match their kind (a message has both, \
                 other events neither)",
                row.int("n")?
            ),
        ));
    }

    // Members: counts, pointers, roles.
    for row in tx.fetch_all(&MEMBER_COUNTS, &[]).await? {
        problems.push(problem(
            "member_count",
            Some(ChannelId(row.int("id")?)),
            format!(
                "the member count is {} but {} members are stored",
                row.int("member_count")?,
                row.int("actual")?
            ),
        ));
    }
    for row in tx.fetch_all(&POINTERS_AHEAD, &[]).await? {
        problems.push(Problem {
            kind: "pointer_ahead",
            channel_id: Some(ChannelId(row.int("channel_id")?)),
            user_id: Some(UserId(row.int("user_id")?)),
            detail: format!(
                "joined/read/delivered seqs {}/{}/{} pass the head seq {}",
                row.int("joined_seq")?,
                row.int("read_seq")?,
                row.int("delivered_seq")?,
                row.int("last_seq")?
            ),
        });
    }
    for row in tx.fetch_all(&BAD_ROLES, &[]).await? {
        problems.push(Problem {
            kind: "member_role",
            channel_id: Some(ChannelId(row.int("channel_id")?)),
            user_id: Some(UserId(row.int("user_id")?)),
            detail: format!("role {:?} does not fit the channel", row.text("role")?),
        });
    }
    for row in tx.fetch_all(&OWNERS, &[]).await? {
        problems.push(problem(
            "group_owner",
            Some(ChannelId(row.int("id")?)),
            format!("a group with members has {} owners", row.int("owners")?),
        ));
    }

    // Orphans: rows that point at what is not there (or at a deleted user's tombstone).
    for row in tx.fetch_all(&ORPHAN_MEMBERS, &[]).await? {
        let missing = row.text("missing")?;
        problems.push(Problem {
            kind: "orphan_member",
            channel_id: Some(ChannelId(row.int("channel_id")?)),
            user_id: Some(UserId(row.int("user_id")?)),
            detail: match missing.as_str() {
                "deleted" => "a membership (with its receipts) of a deleted user".into(),
                other => format!("a membership (with its receipts) of a missing {other}"),
            },
        });
    }
    for row in tx.fetch_all(&ORPHAN_TOKENS, &[]).await? {
        problems.push(Problem {
            kind: "orphan_token",
            channel_id: None,
            user_id: Some(UserId(row.int("user_id")?)),
            detail: format!(
                "{} session tokens of a {} user",
                row.int("n")?,
                row.text("what")?
            ),
        });
    }
    for row in tx.fetch_all(&ORPHAN_EVENTS, &[]).await? {
        problems.push(problem(
            "orphan_event",
            Some(ChannelId(row.int("channel_id")?)),
            format!("{} events of a missing channel", row.int("n")?),
        ));
    }
    for row in tx.fetch_all(&AUTHORLESS_EVENTS, &[]).await? {
        problems.push(problem(
            "orphan_event",
            Some(ChannelId(row.int("channel_id")?)),
            format!(
                "{} events whose author is missing (history cannot show them)",
                row.int("n")?
            ),
        ));
    }
    for row in tx.fetch_all(&ORPHAN_SENDS, &[]).await? {
        let what = match row.text("missing")?.as_str() {
            "channel" => "missing channel",
            "user" => "missing user",
            _ => "deleted user",
        };
        problems.push(Problem {
            kind: "orphan_send",
            channel_id: Some(ChannelId(row.int("channel_id")?)),
            user_id: Some(UserId(row.int("sender_id")?)),
            detail: format!("{} idempotency records of a {what}", row.int("n")?),
        });
    }
    Ok(problems)
}

#[async_trait]
impl<B: Backend> AdminStore for SqlStore<B> {
    async fn list_users(&self, include_deleted: bool) -> Result<Vec<UserRecord>> {
        let rows = self
            .backend()
            .read(|tx| Box::pin(async move { tx.fetch_all(&USERS, &[]).await }))
            .await?;
        let users = rows.iter().map(user_record).collect::<Result<Vec<_>>>()?;
        Ok(users
            .into_iter()
            .filter(|u| include_deleted || u.deleted_at.is_none())
            .collect())
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        let name = username.to_owned();
        self.backend()
            .read(move |tx| {
                Box::pin(async move {
                    let row = tx
                        .fetch_optional(&USER_NAMED, &[name.as_str().into()])
                        .await?;
                    row.as_ref().map(user_record).transpose()
                })
            })
            .await
    }

    async fn set_password(&self, user: UserId, password_hash: &str) -> Result<()> {
        let hash = password_hash.to_owned();
        self.backend()
            .write(move |tx| {
                Box::pin(async move {
                    match tx
                        .execute(&SET_PASSWORD, &[hash.as_str().into(), user.into()])
                        .await?
                    {
                        0 => Err(StoreError::NotFound("user".into())),
                        _ => Ok(()),
                    }
                })
            })
            .await
    }

    async fn set_disabled(&self, user: UserId, disabled: bool) -> Result<bool> {
        self.backend()
            .write(move |tx| {
                Box::pin(async move {
                    require_live_user(tx, user).await?;
                    let changed = if disabled {
                        tx.execute(&DISABLE, &[now_ms().into(), user.into()])
                            .await?
                    } else {
                        tx.execute(&ENABLE, &[user.into()]).await?
                    };
                    Ok(changed > 0)
                })
            })
            .await
    }

    async fn user_tokens(&self, user: UserId) -> Result<Vec<Vec<u8>>> {
        self.backend()
            .read(move |tx| {
                Box::pin(async move {
                    let rows = tx.fetch_all(&TOKENS_OF, &[user.into()]).await?;
                    rows.iter().map(|r| r.blob("token_hash")).collect()
                })
            })
            .await
    }

    async fn revoke_tokens(&self, user: UserId) -> Result<Vec<Vec<u8>>> {
        self.backend()
            .write(move |tx| {
                Box::pin(async move {
                    let rows = tx.fetch_all(&TOKENS_OF, &[user.into()]).await?;
                    tx.execute(&DELETE_TOKENS, &[user.into()]).await?;
                    rows.iter().map(|r| r.blob("token_hash")).collect()
                })
            })
            .await
    }

    async fn delete_user(&self, user: UserId) -> Result<UserDeletion> {
        let ids = self.ids.clone();
        self.backend()
            .write(move |tx| Box::pin(async move { delete_user(tx, &ids, user).await }))
            .await
    }

    async fn list_channels(&self) -> Result<Vec<ChannelRecord>> {
        self.backend()
            .read(|tx| {
                Box::pin(async move {
                    let rows = tx.fetch_all(&CHANNELS, &[]).await?;
                    rows.iter().map(channel_record).collect()
                })
            })
            .await
    }

    async fn inspect_channel(&self, channel: ChannelId) -> Result<Option<ChannelDetail>> {
        self.backend()
            .snapshot(move |tx| Box::pin(inspect_channel(tx, channel)))
            .await
    }

    async fn delete_channel(&self, channel: ChannelId) -> Result<ChannelDeletion> {
        self.backend()
            .write(move |tx| Box::pin(delete_channel(tx, channel)))
            .await
    }

    async fn check(&self) -> Result<Vec<Problem>> {
        let mut problems: Vec<Problem> = self
            .backend()
            .engine_check()
            .await?
            .into_iter()
            .map(|line| problem("database", None, line))
            .collect();
        problems.extend(
            self.backend()
                .snapshot(|tx| Box::pin(async move { check(tx).await }))
                .await?,
        );
        Ok(problems)
    }
}
