//! Unread counts as differences of ordinals, never by counting the unread range.
//!
//! Every message carries two ordinals assigned in its own transaction (see
//! [`append_event`](super::event::append_event)): `msg_ord`, its place among the channel's
//! messages, and `author_ord`, its place among its author's messages in the channel. A member's
//! unread messages are the messages after `x = max(read pointer, retention horizon)` less their
//! own:
//!
//! - messages after `x` = `msg_count - first.msg_ord + 1`, where `first` is the channel's first
//!   message after `x` (none: 0);
//! - mine after `x` = `last_mine.author_ord - first_mine.author_ord + 1`, where `first_mine` is my
//!   first message after `x` and `last_mine` my latest (none after `x`: 0).
//!
//! Each term is one seek on a partial index of messages (`events_messages`, `events_authored`), so
//! a count costs the same whether nothing or a million messages are unread. Retention removes only
//! a prefix of a channel's events (up to its horizon), so the ordinals left after `x` are
//! consecutive.

use super::Row;
use crate::Result;

/// The columns [`from_row`] reads, for member row `m` of channel row `c`.
macro_rules! unread_columns {
    () => {
        "(SELECT c.msg_count - e.msg_ord + 1 FROM events e {by_messages}
           WHERE e.channel_id = c.id AND e.msg_ord IS NOT NULL
             AND e.seq > {greatest}(m.read_seq, c.pruned_through)
           ORDER BY e.seq LIMIT 1) AS unread_all,
         (SELECT e.author_ord FROM events e {by_authored}
           WHERE e.channel_id = c.id AND e.author_id = m.user_id AND e.msg_ord IS NOT NULL
             AND e.seq > {greatest}(m.read_seq, c.pruned_through)
           ORDER BY e.seq LIMIT 1) AS unread_mine_first,
         (SELECT e.author_ord FROM events e {by_authored}
           WHERE e.channel_id = c.id AND e.author_id = m.user_id AND e.msg_ord IS NOT NULL
           ORDER BY e.seq DESC LIMIT 1) AS unread_mine_last"
    };
}
pub(super) use unread_columns;

/// The unread count of a row with [`unread_columns`]: messages from others after the member's
/// read pointer.
pub(super) fn from_row(row: &Row) -> Result<u64> {
    let all = row.opt_int("unread_all")?.unwrap_or(0);
    let mine = match row.opt_int("unread_mine_first")? {
        Some(first) => row.opt_int("unread_mine_last")?.unwrap_or(first) - first + 1,
        None => 0,
    };
    Ok(u64::try_from(all - mine).unwrap_or(0))
}
