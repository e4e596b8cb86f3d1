//! What the SQL backends share: conversions, column lists, and the mapping of rows to wire types
//! (written once, instantiated per row type by [`row_mappers!`]).

use confab_proto::Role;

use crate::{Result, StoreError};

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Backend(format!("unknown role {s:?} in store")))
}

pub(crate) const EVENT_COLUMNS: &str =
    "e.channel_id, e.seq, e.id, e.ts, e.author_id, u.username AS author_name, e.payload";

pub(crate) const SUMMARY_SELECT: &str = "
    SELECT c.id, c.kind, c.name, c.last_seq, c.member_count, c.created_at, m.role, m.read_seq,
      (SELECT count(*) FROM events e
        WHERE e.channel_id = c.id AND e.seq > m.read_seq AND e.kind = 'message'
          AND e.author_id <> m.user_id) AS unread,
      p.id AS peer_id, p.username AS peer_name
    FROM members m
    JOIN channels c ON c.id = m.channel_id
    LEFT JOIN members pm ON c.kind = 'direct' AND pm.channel_id = c.id AND pm.user_id <> m.user_id
    LEFT JOIN users p ON p.id = pm.user_id";

/// Defines `user_from_row`, `receipt_from_row`, `event_from_row` and `summary_from_row` for one
/// backend's row type. The column names are the same in every dialect.
macro_rules! row_mappers {
    ($row:ty) => {
        pub(crate) fn user_from_row(row: &$row) -> Result<User> {
            Ok(User {
                id: UserId(row.try_get("id")?),
                username: row.try_get("username")?,
                created_at: row.try_get("created_at")?,
            })
        }

        pub(crate) fn receipt_from_row(row: &$row) -> Result<Receipt> {
            Ok(Receipt {
                channel_id: ChannelId(row.try_get("channel_id")?),
                user_id: UserId(row.try_get("user_id")?),
                delivered_seq: to_u64(row.try_get("delivered_seq")?),
                read_seq: to_u64(row.try_get("read_seq")?),
                ts: row.try_get("receipt_ts")?,
            })
        }

        pub(crate) fn event_from_row(row: &$row) -> Result<Event> {
            let payload: String = row.try_get("payload")?;
            Ok(Event {
                channel_id: ChannelId(row.try_get("channel_id")?),
                seq: to_u64(row.try_get("seq")?),
                id: EventId(row.try_get("id")?),
                ts: row.try_get("ts")?,
                author: UserRef {
                    id: UserId(row.try_get("author_id")?),
                    username: row.try_get("author_name")?,
                },
                body: serde_json::from_str(&payload)?,
            })
        }

        pub(crate) fn summary_from_row(row: &$row) -> Result<ChannelSummary> {
            let kind = match row.try_get::<String, _>("kind")?.as_str() {
                "direct" => ChannelKind::Direct,
                _ => ChannelKind::Group,
            };
            let peer = match row.try_get::<Option<i64>, _>("peer_id")? {
                Some(id) => Some(UserRef {
                    id: UserId(id),
                    username: row.try_get("peer_name")?,
                }),
                None => None,
            };
            Ok(ChannelSummary {
                id: ChannelId(row.try_get("id")?),
                kind,
                name: row.try_get("name")?,
                peer,
                member_count: u32::try_from(row.try_get::<i64, _>("member_count")?).unwrap_or(0),
                role: parse_role(&row.try_get::<String, _>("role")?)?,
                last_seq: to_u64(row.try_get("last_seq")?),
                read_seq: to_u64(row.try_get("read_seq")?),
                unread: to_u64(row.try_get("unread")?),
                created_at: row.try_get("created_at")?,
            })
        }
    };
}
pub(crate) use row_mappers;
