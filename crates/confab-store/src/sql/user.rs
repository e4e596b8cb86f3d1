//! Users, session tokens, last-seen times and contacts: who exists and whom a user is shown.

use confab_proto::{User, UserId, UserRef};

use super::dialect::Sql;
use super::{Row, Tx};
use crate::snowflake::{now_ms, Snowflake};
use crate::{Credentials, Result, StoreError};

static INSERT_USER: Sql = Sql::new(
    "INSERT INTO users (id, username, password_hash, created_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING",
);
static CREDENTIALS: Sql = Sql::new(
    "SELECT id, username, created_at, password_hash, disabled_at FROM users WHERE username = $1",
);
static BY_ID: Sql = Sql::new("SELECT id, username, created_at FROM users WHERE id = $1");
static BY_NAME: Sql = Sql::new("SELECT id, username, created_at FROM users WHERE username = $1");
static BY_PREFIX: Sql = Sql::new(
    "SELECT id, username, created_at FROM users
     WHERE {username_starts_with_$1} ORDER BY username LIMIT $2",
);
static USERNAME: Sql = Sql::new("SELECT username FROM users WHERE id = $1");
static INSERT_TOKEN: Sql =
    Sql::new("INSERT INTO tokens (token_hash, user_id, created_at) VALUES ($1, $2, $3)");
/// Tokens of a disabled account are refused (but kept: enabling it brings them back).
static TOKEN_USER: Sql = Sql::new(
    "SELECT u.id, u.username, u.created_at
     FROM tokens t JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = $1 AND u.disabled_at IS NULL AND u.deleted_at IS NULL",
);
static DELETE_TOKEN: Sql = Sql::new("DELETE FROM tokens WHERE token_hash = $1");
static TOUCH: Sql = Sql::new("UPDATE users SET last_seen = $1 WHERE id = $2");
static LAST_SEEN: Sql = Sql::new("SELECT last_seen FROM users WHERE id = $1");
static CONTACTS: Sql = Sql::new(
    "SELECT DISTINCT o.user_id FROM members m
     JOIN channels c ON c.id = m.channel_id AND c.member_count <= $1
     JOIN members o ON o.channel_id = m.channel_id AND o.user_id <> m.user_id
     WHERE m.user_id = $2",
);

pub(super) fn user_from_row(row: &Row) -> Result<User> {
    Ok(User {
        id: UserId(row.int("id")?),
        username: row.text("username")?,
        created_at: row.int("created_at")?,
    })
}

/// The user `id` as events name it; [`StoreError::NotFound`] when there is none.
pub(super) async fn user_ref<T: Tx>(tx: &mut T, id: UserId) -> Result<UserRef> {
    match tx.fetch_optional(&USERNAME, &[id.into()]).await? {
        Some(row) => Ok(UserRef {
            id,
            username: row.text("username")?,
        }),
        None => Err(StoreError::NotFound("user".into())),
    }
}

pub(super) async fn create_user<T: Tx>(
    tx: &mut T,
    ids: &Snowflake,
    username: &str,
    password_hash: &str,
) -> Result<User> {
    let user = User {
        id: ids.next_id(),
        username: username.to_owned(),
        created_at: now_ms(),
    };
    let args = [
        user.id.into(),
        username.into(),
        password_hash.into(),
        user.created_at.into(),
    ];
    match tx.execute(&INSERT_USER, &args).await? {
        0 => Err(StoreError::Conflict(format!(
            "username {username:?} is taken"
        ))),
        _ => Ok(user),
    }
}

pub(super) async fn credentials<T: Tx>(tx: &mut T, username: &str) -> Result<Option<Credentials>> {
    match tx.fetch_optional(&CREDENTIALS, &[username.into()]).await? {
        Some(row) => Ok(Some(Credentials {
            user: user_from_row(&row)?,
            password_hash: row.text("password_hash")?,
            disabled: row.opt_int("disabled_at")?.is_some(),
        })),
        None => Ok(None),
    }
}

pub(super) async fn user<T: Tx>(tx: &mut T, id: UserId) -> Result<Option<User>> {
    let row = tx.fetch_optional(&BY_ID, &[id.into()]).await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(super) async fn users_by_prefix<T: Tx>(
    tx: &mut T,
    prefix: &str,
    limit: u32,
) -> Result<Vec<User>> {
    let rows = tx
        .fetch_all(&BY_PREFIX, &[prefix.into(), limit.into()])
        .await?;
    rows.iter().map(user_from_row).collect()
}

pub(super) async fn users_by_name<T: Tx>(tx: &mut T, usernames: &[String]) -> Result<Vec<User>> {
    let mut users = Vec::with_capacity(usernames.len());
    for name in usernames {
        match tx.fetch_optional(&BY_NAME, &[name.into()]).await? {
            Some(row) => users.push(user_from_row(&row)?),
            None => return Err(StoreError::NotFound(format!("user {name:?}"))),
        }
    }
    Ok(users)
}

pub(super) async fn insert_token<T: Tx>(tx: &mut T, token_hash: &[u8], user: UserId) -> Result<()> {
    let args = [token_hash.into(), user.into(), now_ms().into()];
    tx.execute(&INSERT_TOKEN, &args).await?;
    Ok(())
}

pub(super) async fn token_user<T: Tx>(tx: &mut T, token_hash: &[u8]) -> Result<Option<User>> {
    let row = tx.fetch_optional(&TOKEN_USER, &[token_hash.into()]).await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(super) async fn delete_token<T: Tx>(tx: &mut T, token_hash: &[u8]) -> Result<bool> {
    Ok(tx.execute(&DELETE_TOKEN, &[token_hash.into()]).await? > 0)
}

pub(super) async fn touch_last_seen<T: Tx>(tx: &mut T, user: UserId, ts: i64) -> Result<()> {
    tx.execute(&TOUCH, &[ts.into(), user.into()]).await?;
    Ok(())
}

pub(super) async fn last_seen<T: Tx>(tx: &mut T, user: UserId) -> Result<Option<i64>> {
    match tx.fetch_optional(&LAST_SEEN, &[user.into()]).await? {
        Some(row) => row.opt_int("last_seen"),
        None => Ok(None),
    }
}

pub(super) async fn contacts<T: Tx>(
    tx: &mut T,
    user: UserId,
    max_members: u32,
) -> Result<Vec<UserId>> {
    let rows = tx
        .fetch_all(&CONTACTS, &[max_members.into(), user.into()])
        .await?;
    rows.iter().map(|r| Ok(UserId(r.int("user_id")?))).collect()
}
