//! Where SQLite's and PostgreSQL's SQL differ, named in one place.
//!
//! Why this exists: the core writes each statement once. Its parameters are PostgreSQL's `$1…$n`
//! (SQLite gets `?1…?n`, which bind by number as `$n` would not); the few real differences are
//! markers in braces, listed in [`MARKERS`] with each dialect's text. [`Dialect::render`] does
//! the rewriting once per statement and keeps the result, so the hot paths pay a lookup.

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};

/// The SQL spoken by a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dialect {
    Postgres,
    Sqlite,
}

/// Every difference between the dialects that a statement may name: (marker, PostgreSQL, SQLite).
pub(crate) const MARKERS: &[(&str, &str, &str)] = &[
    // The larger and smaller of two values: SQLite's scalar max() and min() take several arguments.
    ("{greatest}", "GREATEST", "max"),
    ("{least}", "LEAST", "min"),
    // A row lock until the transaction ends. SQLite has none and needs none: its one writer holds
    // the whole database (`BEGIN IMMEDIATE`).
    ("{for_update}", " FOR UPDATE", ""),
    // Usernames starting with `$1`. PostgreSQL's starts_with is exact whatever the collation; in
    // SQLite a range scan on the username index (usernames are validated to a charset below
    // U+10FFFF, so `$1 || char(0x10FFFF)` bounds every name with that prefix).
    (
        "{username_starts_with_$1}",
        "starts_with(username, $1)",
        "username >= $1 AND username < $1 || char(1114111)",
    ),
];

/// Rendered statements by dialect and the address of the core's text (each is a `'static` string:
/// a fixed set, rendered once).
type Cache = HashMap<(Dialect, usize, usize), &'static str>;

static RENDERED: LazyLock<RwLock<Cache>> = LazyLock::new(Default::default);

impl Dialect {
    /// `sql` as this dialect spells it.
    pub(crate) fn render(self, sql: &'static str) -> &'static str {
        let key = (self, sql.as_ptr() as usize, sql.len());
        if let Some(done) = RENDERED
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return done;
        }
        let text = self.rewrite(sql);
        let done: &'static str = if text == sql {
            sql
        } else {
            Box::leak(text.into_boxed_str())
        };
        RENDERED
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, done);
        done
    }

    /// Replaces the markers, and for SQLite `$n` with `?n`, outside string literals.
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
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "UPDATE t SET a = {greatest}(a, {least}($1, $12)) WHERE k = '$1 {least}' \
                       AND {username_starts_with_$1}{for_update}";

    #[test]
    fn each_dialect_gets_its_spelling() {
        assert_eq!(
            Dialect::Postgres.render(SQL),
            "UPDATE t SET a = GREATEST(a, LEAST($1, $12)) WHERE k = '$1 {least}' \
             AND starts_with(username, $1) FOR UPDATE"
        );
        assert_eq!(
            Dialect::Sqlite.render(SQL),
            "UPDATE t SET a = max(a, min(?1, ?12)) WHERE k = '$1 {least}' \
             AND username >= ?1 AND username < ?1 || char(1114111)"
        );
    }

    #[test]
    fn a_statement_without_markers_is_rendered_once_and_kept() {
        const PLAIN: &str = "SELECT 1 FROM t WHERE id = $1";
        let first = Dialect::Sqlite.render(PLAIN);
        assert_eq!(first, "SELECT 1 FROM t WHERE id = ?1");
        assert!(std::ptr::eq(first, Dialect::Sqlite.render(PLAIN)));
        assert!(std::ptr::eq(PLAIN, Dialect::Postgres.render(PLAIN)));
    }
}
