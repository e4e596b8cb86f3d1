//! Where SQLite's and PostgreSQL's SQL differ, named in one place.
//!
//! Why this exists: the core writes each statement once. Its parameters are PostgreSQL's `$1…$n`
//! (SQLite gets `?1…?n`, which bind by number as `$n` would not); the few real differences are
//! markers in braces, listed in [`MARKERS`] with each dialect's text. A statement is a static
//! [`Sql`], which renders itself once per dialect and keeps the result, so a hot path pays an
//! atomic load.

use std::sync::{Arc, OnceLock};

use crate::Result;

/// The SQL spoken by a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dialect {
    Postgres = 0,
    Sqlite = 1,
}

/// Every difference between the dialects that a statement may name: (marker, PostgreSQL, SQLite).
pub(crate) const MARKERS: &[(&str, &str, &str)] = &[
    // The larger and smaller of two values: SQLite's scalar max() and min() take several arguments.
    ("{greatest}", "GREATEST", "max"),
    ("{least}", "LEAST", "min"),
    // A row lock until the transaction ends. SQLite has none and needs none: its one writer holds
    // the whole database (`BEGIN IMMEDIATE`).
    ("{for_update}", "FOR UPDATE", ""),
    // Usernames starting with `$1`. PostgreSQL's starts_with is exact whatever the collation; in
    // SQLite a range scan on the username index (usernames are validated to a charset below
    // U+10FFFF, so `$1 || char(0x10FFFF)` bounds every name with that prefix).
    // Which index a lookup of messages must use. PostgreSQL's planner picks a partial index by its
    // statistics; SQLite's, without statistics, prefers the primary key (channel, seq) and would
    // walk every event of the range (or of the channel) to find a member's messages.
    ("{by_messages}", "", "INDEXED BY events_messages"),
    ("{by_authored}", "", "INDEXED BY events_authored"),
    (
        "{username_starts_with_$1}",
        "starts_with(username, $1)",
        "username >= $1 AND username < $1 || char(1114111)",
    ),
];

/// A statement of the core, written once, with its rendering for each dialect made on first use
/// and kept, and the names of its result columns (read from the first result, the same ever after).
#[derive(Debug)]
pub(crate) struct Sql {
    text: &'static str,
    rendered: [OnceLock<Box<str>>; 2],
    columns: [OnceLock<Arc<[String]>>; 2],
}

impl Sql {
    pub(crate) const fn new(text: &'static str) -> Sql {
        Sql {
            text,
            rendered: [OnceLock::new(), OnceLock::new()],
            columns: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The statement as the core wrote it.
    pub(crate) fn text(&self) -> &'static str {
        self.text
    }

    /// The statement as `dialect` spells it.
    pub(crate) fn render(&'static self, dialect: Dialect) -> &'static str {
        self.rendered[dialect as usize].get_or_init(|| dialect.rewrite(self.text).into_boxed_str())
    }

    /// The names of the result's columns in `dialect`, found by `names` the first time.
    pub(crate) fn columns(
        &'static self,
        dialect: Dialect,
        names: impl FnOnce() -> Result<Vec<String>>,
    ) -> Result<Arc<[String]>> {
        let cell = &self.columns[dialect as usize];
        if let Some(columns) = cell.get() {
            return Ok(columns.clone());
        }
        let columns: Arc<[String]> = names()?.into();
        Ok(cell.get_or_init(|| columns).clone())
    }
}

impl Dialect {
    /// Replaces the markers, and for SQLite `$n` with `?n`, then folds runs of white space into
    /// one space (the text is the key of the statement caches, hashed at each use); never inside
    /// string literals.
    fn rewrite(self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 16);
        let mut rest = sql;
        let mut in_literal = false;
        while let Some(c) = rest.chars().next() {
            if c == '\'' {
                in_literal = !in_literal;
            } else if !in_literal && c == '{' {
                if let Some((marker, pg, lite)) = MARKERS.iter().find(|m| rest.starts_with(m.0)) {
                    let text = if self == Dialect::Postgres { pg } else { lite };
                    out.push_str(&self.rewrite(text));
                    rest = &rest[marker.len()..];
                    continue;
                }
            } else if !in_literal && c == '$' && self == Dialect::Sqlite {
                let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
                if digits > 0 {
                    out.push('?');
                    out.push_str(&rest[1..=digits]);
                    rest = &rest[1 + digits..];
                    continue;
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        fold_white_space(&out)
    }
}

/// `sql` with each run of white space outside string literals made one space, and none at the ends.
fn fold_white_space(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    for c in sql.trim().chars() {
        if c == '\'' {
            in_literal = !in_literal;
        }
        if !in_literal && c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    static SQL: Sql = Sql::new(
        "UPDATE t SET a = {greatest}(a, {least}($1, $12))
         WHERE k = '$1  {least}' AND {username_starts_with_$1} {for_update}",
    );

    #[test]
    fn each_dialect_gets_its_spelling() {
        assert_eq!(
            SQL.render(Dialect::Postgres),
            "UPDATE t SET a = GREATEST(a, LEAST($1, $12)) WHERE k = '$1  {least}' \
             AND starts_with(username, $1) FOR UPDATE"
        );
        assert_eq!(
            SQL.render(Dialect::Sqlite),
            "UPDATE t SET a = max(a, min(?1, ?12)) WHERE k = '$1  {least}' \
             AND username >= ?1 AND username < ?1 || char(1114111)"
        );
    }

    #[test]
    fn a_statement_is_rendered_once_and_kept() {
        static PLAIN: Sql = Sql::new("SELECT 1 FROM t WHERE id = $1");
        let first = PLAIN.render(Dialect::Sqlite);
        assert_eq!(first, "SELECT 1 FROM t WHERE id = ?1");
        assert!(std::ptr::eq(first, PLAIN.render(Dialect::Sqlite)));
        assert_eq!(PLAIN.render(Dialect::Postgres), PLAIN.text());
    }
}
