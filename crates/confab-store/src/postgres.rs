//! The scale-out store: PostgreSQL, shared by every node of a cluster.
//!
//! `seq` is assigned with `UPDATE channels SET last_seq = last_seq + 1 … RETURNING` inside the
//! transaction that inserts the event: the row lock serializes writers of one channel across all
//! nodes, and a rolled-back transaction gives its number back, so `seq` stays gapless. Races
//! between nodes on unique keys (the same send retried on two nodes, the same direct channel
//! created twice) end in a unique violation, which is answered with the row that won.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use confab_proto::api::HistoryPage;
use confab_proto::{
    ChannelId, ChannelKind, ChannelSummary, Event, EventBody, EventId, Member, ReadState, Receipt,
    Role, User, UserId, UserRef,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row};

use crate::rows::{is_unique_violation, parse_role, to_i64, to_u64, EVENT_COLUMNS, SUMMARY_SELECT};
use crate::snowflake::{now_ms, Snowflake};
use crate::{
    Appended, Credentials, Delivery, DirectChannel, HistoryQuery, Position, Result, Retention,
    SendRecord, Store, StoreError,
};

/// Migrations, in order. Each runs once, in a transaction, recorded in `confab_schema`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_receipts.sql"),
    include_str!("../migrations/postgres/0003_last_seen.sql"),
];

/// An arbitrary constant: the advisory lock that serializes migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x0c0f_ab00_0001;

/// The PostgreSQL backend of [`Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    ids: Arc<Snowflake>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`), applies migrations, and assigns ids as node
    /// `node_id`. `schema`, when given, is created if missing and used as the search path (tests
    /// use one each).
    pub async fn connect(url: &str, node_id: u16, schema: Option<&str>) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(schema) = schema {
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        migrate(&pool, schema).await?;
        Ok(PostgresStore {
            pool,
            ids: Arc::new(Snowflake::new(node_id)),
        })
    }

    /// The pool, for tests that need to look underneath.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

async fn migrate(pool: &PgPool, schema: Option<&str>) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    if let Some(schema) = schema {
        let quoted = schema.replace('"', "\"\"");
        sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS \"{quoted}\""))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS confab_schema (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let version: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM confab_schema")
        .fetch_one(&mut *tx)
        .await?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(version.unwrap_or(0).max(0) as usize)
    {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO confab_schema (version) VALUES ($1)")
            .bind((i + 1) as i64)
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = i + 1, "applied postgres migration");
    }
    tx.commit().await?;
    Ok(())
}

crate::rows::row_mappers!(PgRow);

async fn user_ref(conn: &mut PgConnection, id: UserId) -> Result<UserRef> {
    let name: Option<String> = sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
    name.map(|username| UserRef { id, username })
        .ok_or_else(|| StoreError::NotFound("user".into()))
}

async fn role_in(
    conn: &mut PgConnection,
    channel: ChannelId,
    user: UserId,
) -> Result<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM members WHERE channel_id = $1 AND user_id = $2")
            .bind(channel.0)
            .bind(user.0)
            .fetch_optional(&mut *conn)
            .await?;
    role.as_deref().map(parse_role).transpose()
}

/// Fails unless `channel` is a group, so membership may change; locks the channel's row.
async fn require_group(conn: &mut PgConnection, channel: ChannelId) -> Result<()> {
    // FOR UPDATE: the membership checks that follow hold until commit (READ COMMITTED would let
    // two removals of one member, or an add past the limit, both pass).
    let kind: Option<String> =
        sqlx::query_scalar("SELECT kind FROM channels WHERE id = $1 FOR UPDATE")
            .bind(channel.0)
            .fetch_optional(&mut *conn)
            .await?;
    match kind.as_deref() {
        None => Err(StoreError::NotFound("channel".into())),
        Some("group") => Ok(()),
        Some(_) => Err(StoreError::Invalid(
            "the members of a direct channel cannot change".into(),
        )),
    }
}

impl PostgresStore {
    /// Starts a write transaction (READ COMMITTED; row locks order the writers).
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Appends one event to `channel` inside the caller's transaction, assigning the next `seq`.
    async fn append_event(
        &self,
        conn: &mut PgConnection,
        channel: ChannelId,
        author: UserRef,
        body: EventBody,
    ) -> Result<Event> {
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
        )
        .bind(channel.0)
        .fetch_optional(&mut *conn)
        .await?;
        let seq = seq.ok_or_else(|| StoreError::NotFound("channel".into()))?;
        let event = Event {
            channel_id: channel,
            seq: to_u64(seq),
            id: self.ids.next_id(),
            ts: now_ms(),
            author,
            body,
        };
        sqlx::query(
            "INSERT INTO events (channel_id, seq, id, ts, author_id, kind, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(channel.0)
        .bind(seq)
        .bind(event.id.0)
        .bind(event.ts)
        .bind(event.author.id.0)
        .bind(event.body.kind())
        .bind(serde_json::to_string(&event.body)?)
        .execute(&mut *conn)
        .await?;
        Ok(event)
    }

    async fn insert_channel(
        &self,
        conn: &mut PgConnection,
        kind: ChannelKind,
        name: Option<&str>,
        direct_key: Option<&str>,
        members: &[(UserRef, Role)],
        author: UserRef,
    ) -> Result<Event> {
        let id: ChannelId = self.ids.next_id();
        let kind_str = match kind {
            ChannelKind::Direct => "direct",
            ChannelKind::Group => "group",
        };
        sqlx::query(
            "INSERT INTO channels (id, kind, name, direct_key, member_count, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.0)
        .bind(kind_str)
        .bind(name)
        .bind(direct_key)
        .bind(members.len() as i64)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        let body = EventBody::ChannelCreated {
            kind,
            name: name.map(str::to_owned),
            members: members.iter().map(|(u, _)| u.clone()).collect(),
        };
        let event = self.append_event(conn, id, author, body).await?;
        for (user, role) in members {
            sqlx::query(
                "INSERT INTO members (channel_id, user_id, role, read_seq, joined_seq, delivered_seq)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id.0)
            .bind(user.id.0)
            .bind(role.as_str())
            .bind(to_i64(event.seq))
            .bind(to_i64(event.seq))
            .bind(to_i64(event.seq))
            .execute(&mut *conn)
            .await?;
        }
        Ok(event)
    }

    async fn unread(
        &self,
        conn: &mut PgConnection,
        channel: ChannelId,
        user: UserId,
        read_seq: i64,
    ) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events
             WHERE channel_id = $1 AND seq > $2 AND kind = 'message' AND author_id <> $3",
        )
        .bind(channel.0)
        .bind(read_seq)
        .bind(user.0)
        .fetch_one(&mut *conn)
        .await?;
        Ok(to_u64(n))
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_user(&self, username: &str, password_hash: &str) -> Result<User> {
        let user = User {
            id: self.ids.next_id(),
            username: username.to_owned(),
            created_at: now_ms(),
        };
        let res = sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user.id.0)
        .bind(username)
        .bind(password_hash)
        .bind(user.created_at)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "username {username:?} is taken"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn credentials(&self, username: &str) -> Result<Option<Credentials>> {
        let row = sqlx::query(
            "SELECT id, username, created_at, password_hash FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Credentials {
                user: user_from_row(&row)?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query("SELECT id, username, created_at FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users_by_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<User>> {
        // `starts_with` is exact whatever the database's collation.
        let rows = sqlx::query(
            "SELECT id, username, created_at FROM users
             WHERE starts_with(username, $1)
             ORDER BY username LIMIT $2",
        )
        .bind(prefix)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn users_by_name(&self, usernames: &[String]) -> Result<Vec<User>> {
        let mut conn = self.pool.acquire().await?;
        let mut users = Vec::with_capacity(usernames.len());
        for name in usernames {
            let row = sqlx::query("SELECT id, username, created_at FROM users WHERE username = $1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?;
            match row {
                Some(row) => users.push(user_from_row(&row)?),
                None => return Err(StoreError::NotFound(format!("user {name:?}"))),
            }
        }
        Ok(users)
    }

    async fn insert_token(&self, token_hash: &[u8], user: UserId) -> Result<()> {
        sqlx::query("INSERT INTO tokens (token_hash, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(user.0)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn token_user(&self, token_hash: &[u8]) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.created_at FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn delete_token(&self, token_hash: &[u8]) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_direct(&self, a: UserId, b: UserId) -> Result<DirectChannel> {
        if a == b {
            return Err(StoreError::Invalid(
                "a direct channel needs two different users".into(),
            ));
        }
        let key = format!("{}:{}", a.0.min(b.0), a.0.max(b.0));
        let mut tx = self.write_tx().await?;
        // Two nodes creating the same pair at once: the second waits here, then finds the first's.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(&key)
            .execute(&mut *tx)
            .await?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM channels WHERE direct_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(id) = existing {
            return Ok(DirectChannel {
                channel_id: ChannelId(id),
                created: None,
            });
        }
        let ua = user_ref(&mut tx, a).await?;
        let ub = user_ref(&mut tx, b).await?;
        let members = [(ua.clone(), Role::Member), (ub, Role::Member)];
        let event = self
            .insert_channel(&mut tx, ChannelKind::Direct, None, Some(&key), &members, ua)
            .await?;
        tx.commit().await?;
        Ok(DirectChannel {
            channel_id: event.channel_id,
            created: Some(event),
        })
    }

    async fn create_group(
        &self,
        owner: UserId,
        name: &str,
        members: &[UserId],
        max_members: u32,
    ) -> Result<Event> {
        let mut ids = vec![owner];
        for m in members {
            if !ids.contains(m) {
                ids.push(*m);
            }
        }
        if ids.len() > max_members as usize {
            return Err(StoreError::LimitExceeded(format!(
                "a group may have at most {max_members} members"
            )));
        }
        let mut tx = self.write_tx().await?;
        let mut refs = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let role = if i == 0 { Role::Owner } else { Role::Member };
            refs.push((user_ref(&mut tx, *id).await?, role));
        }
        let author = refs[0].0.clone();
        let event = self
            .insert_channel(&mut tx, ChannelKind::Group, Some(name), None, &refs, author)
            .await?;
        tx.commit().await?;
        Ok(event)
    }

    async fn add_member(
        &self,
        channel: ChannelId,
        actor: UserId,
        user: UserId,
        max_members: u32,
    ) -> Result<Event> {
        let mut tx = self.write_tx().await?;
        require_group(&mut tx, channel).await?;
        match role_in(&mut tx, channel, actor).await? {
            Some(Role::Owner | Role::Admin) => {}
            Some(Role::Member) => {
                return Err(StoreError::Forbidden(
                    "only the owner and admins may add members".into(),
                ))
            }
            None => return Err(StoreError::Forbidden("not a member of this channel".into())),
        }
        if role_in(&mut tx, channel, user).await?.is_some() {
            return Err(StoreError::Conflict("already a member".into()));
        }
        let count: i64 = sqlx::query_scalar("SELECT member_count FROM channels WHERE id = $1")
            .bind(channel.0)
            .fetch_one(&mut *tx)
            .await?;
        if count >= i64::from(max_members) {
            return Err(StoreError::LimitExceeded(format!(
                "a group may have at most {max_members} members"
            )));
        }
        let author = user_ref(&mut tx, actor).await?;
        let target = user_ref(&mut tx, user).await?;
        let event = self
            .append_event(
                &mut tx,
                channel,
                author,
                EventBody::MemberAdded { user: target },
            )
            .await?;
        sqlx::query(
            "INSERT INTO members (channel_id, user_id, role, read_seq, joined_seq, delivered_seq)
             VALUES ($1, $2, 'member', $3, $4, $5)",
        )
        .bind(channel.0)
        .bind(user.0)
        .bind(to_i64(event.seq))
        .bind(to_i64(event.seq))
        .bind(to_i64(event.seq))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE channels SET member_count = member_count + 1 WHERE id = $1")
            .bind(channel.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(event)
    }

    async fn remove_member(
        &self,
        channel: ChannelId,
        actor: UserId,
        user: UserId,
    ) -> Result<Vec<Event>> {
        let mut tx = self.write_tx().await?;
        require_group(&mut tx, channel).await?;
        let actor_role = role_in(&mut tx, channel, actor)
            .await?
            .ok_or_else(|| StoreError::Forbidden("not a member of this channel".into()))?;
        let author = user_ref(&mut tx, actor).await?;
        let mut events = Vec::new();
        if user == actor {
            events.push(
                self.append_event(&mut tx, channel, author.clone(), EventBody::MemberLeft)
                    .await?,
            );
        } else {
            let target_role = role_in(&mut tx, channel, user)
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
            let target = user_ref(&mut tx, user).await?;
            events.push(
                self.append_event(
                    &mut tx,
                    channel,
                    author.clone(),
                    EventBody::MemberRemoved { user: target },
                )
                .await?,
            );
        }
        sqlx::query("DELETE FROM members WHERE channel_id = $1 AND user_id = $2")
            .bind(channel.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE channels SET member_count = member_count - 1 WHERE id = $1")
            .bind(channel.0)
            .execute(&mut *tx)
            .await?;
        if user == actor && actor_role == Role::Owner {
            let heir: Option<i64> = sqlx::query_scalar(
                "SELECT user_id FROM members WHERE channel_id = $1
                 ORDER BY role = 'admin' DESC, joined_seq ASC, user_id ASC LIMIT 1",
            )
            .bind(channel.0)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(heir) = heir {
                sqlx::query(
                    "UPDATE members SET role = 'owner' WHERE channel_id = $1 AND user_id = $2",
                )
                .bind(channel.0)
                .bind(heir)
                .execute(&mut *tx)
                .await?;
                let heir = user_ref(&mut tx, UserId(heir)).await?;
                let body = EventBody::RoleChanged {
                    user: heir,
                    role: Role::Owner,
                };
                events.push(self.append_event(&mut tx, channel, author, body).await?);
            }
        }
        tx.commit().await?;
        Ok(events)
    }

    async fn set_role(
        &self,
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
        let mut tx = self.write_tx().await?;
        require_group(&mut tx, channel).await?;
        if role_in(&mut tx, channel, actor).await? != Some(Role::Owner) {
            return Err(StoreError::Forbidden(
                "only the owner may change roles".into(),
            ));
        }
        match role_in(&mut tx, channel, user).await? {
            None => return Err(StoreError::NotFound("member".into())),
            Some(Role::Owner) => {
                return Err(StoreError::Invalid("the owner's role cannot change".into()))
            }
            Some(current) if current == role => {
                return Err(StoreError::Conflict(format!("already {}", role.as_str())))
            }
            Some(_) => {}
        }
        sqlx::query("UPDATE members SET role = $1 WHERE channel_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(channel.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        let author = user_ref(&mut tx, actor).await?;
        let target = user_ref(&mut tx, user).await?;
        let event = self
            .append_event(
                &mut tx,
                channel,
                author,
                EventBody::RoleChanged { user: target, role },
            )
            .await?;
        tx.commit().await?;
        Ok(event)
    }

    async fn append_message(
        &self,
        channel: ChannelId,
        sender: UserId,
        client_id: &str,
        body: &str,
    ) -> Result<Appended> {
        let mut tx = self.write_tx().await?;
        // The same send retried on two nodes at once: the second waits here, then finds the first.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("send:{}:{client_id}", sender.0))
            .execute(&mut *tx)
            .await?;
        let existing = sqlx::query(
            "SELECT channel_id, seq, id, ts FROM sends WHERE sender_id = $1 AND client_id = $2",
        )
        .bind(sender.0)
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            return Ok(Appended {
                record: SendRecord {
                    channel_id: ChannelId(row.try_get("channel_id")?),
                    client_id: client_id.to_owned(),
                    id: EventId(row.try_get("id")?),
                    seq: to_u64(row.try_get("seq")?),
                    ts: row.try_get("ts")?,
                },
                event: None,
            });
        }
        // Lock the channel first, so a removal cannot commit between the membership check and
        // the append.
        sqlx::query("SELECT 1 FROM channels WHERE id = $1 FOR UPDATE")
            .bind(channel.0)
            .execute(&mut *tx)
            .await?;
        if role_in(&mut tx, channel, sender).await?.is_none() {
            return Err(StoreError::Forbidden("not a member of this channel".into()));
        }
        let author = user_ref(&mut tx, sender).await?;
        let body = EventBody::Message {
            body: body.to_owned(),
            client_id: client_id.to_owned(),
        };
        let event = self.append_event(&mut tx, channel, author, body).await?;
        sqlx::query(
            "INSERT INTO sends (sender_id, client_id, channel_id, seq, id, ts) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(sender.0)
        .bind(client_id)
        .bind(channel.0)
        .bind(to_i64(event.seq))
        .bind(event.id.0)
        .bind(event.ts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Appended {
            record: SendRecord {
                channel_id: channel,
                client_id: client_id.to_owned(),
                id: event.id,
                seq: event.seq,
                ts: event.ts,
            },
            event: Some(event),
        })
    }

    async fn find_send(&self, sender: UserId, client_id: &str) -> Result<Option<SendRecord>> {
        let row = sqlx::query(
            "SELECT channel_id, seq, id, ts FROM sends WHERE sender_id = $1 AND client_id = $2",
        )
        .bind(sender.0)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SendRecord {
                channel_id: ChannelId(row.try_get("channel_id")?),
                client_id: client_id.to_owned(),
                id: EventId(row.try_get("id")?),
                seq: to_u64(row.try_get("seq")?),
                ts: row.try_get("ts")?,
            })
        })
        .transpose()
    }

    async fn member_role(&self, channel: ChannelId, user: UserId) -> Result<Option<Role>> {
        let mut conn = self.pool.acquire().await?;
        role_in(&mut conn, channel, user).await
    }

    async fn members(&self, channel: ChannelId) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT u.id, u.username, m.role FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.channel_id = $1 ORDER BY m.role = 'owner' DESC, m.joined_seq, u.id",
        )
        .bind(channel.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Member {
                    user: UserRef {
                        id: UserId(row.try_get("id")?),
                        username: row.try_get("username")?,
                    },
                    role: parse_role(&row.try_get::<String, _>("role")?)?,
                })
            })
            .collect()
    }

    async fn channels_of(&self, user: UserId) -> Result<Vec<ChannelSummary>> {
        let sql = format!("{SUMMARY_SELECT} WHERE m.user_id = $1 ORDER BY c.id");
        let rows = sqlx::query(&sql).bind(user.0).fetch_all(&self.pool).await?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn channel_of(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelSummary>> {
        let sql = format!("{SUMMARY_SELECT} WHERE m.user_id = $1 AND m.channel_id = $2");
        let row = sqlx::query(&sql)
            .bind(user.0)
            .bind(channel.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(summary_from_row).transpose()
    }

    async fn history(&self, channel: ChannelId, query: HistoryQuery) -> Result<HistoryPage> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query("SELECT last_seq, pruned_through FROM channels WHERE id = $1")
            .bind(channel.0)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound("channel".into()))?;
        let last_seq: i64 = row.try_get("last_seq")?;
        let pruned: i64 = row.try_get("pruned_through")?;
        let limit = i64::from(query.limit.max(1));
        let before = query.before.map(to_i64).unwrap_or(i64::MAX);
        let ascending = query.after.is_some();
        let sql = if ascending {
            format!(
                "SELECT {EVENT_COLUMNS} FROM events e JOIN users u ON u.id = e.author_id
                 WHERE e.channel_id = $1 AND e.seq > $2 AND e.seq < $3 ORDER BY e.seq ASC LIMIT $4"
            )
        } else {
            format!(
                "SELECT {EVENT_COLUMNS} FROM events e JOIN users u ON u.id = e.author_id
                 WHERE e.channel_id = $1 AND e.seq > $2 AND e.seq < $3 ORDER BY e.seq DESC LIMIT $4"
            )
        };
        let after = query.after.map(to_i64).unwrap_or(0);
        let rows = sqlx::query(&sql)
            .bind(channel.0)
            .bind(after)
            .bind(before)
            .bind(limit + 1)
            .fetch_all(&mut *conn)
            .await?;
        let has_more = rows.len() as i64 > limit;
        let mut events = rows
            .iter()
            .take(limit as usize)
            .map(event_from_row)
            .collect::<Result<Vec<_>>>()?;
        if !ascending {
            events.reverse();
        }
        let truncated = if ascending {
            after < pruned
        } else {
            !has_more && pruned > 0
        };
        Ok(HistoryPage {
            events,
            last_seq: to_u64(last_seq),
            pruned_through: to_u64(pruned),
            truncated,
            has_more,
        })
    }

    async fn mark_read(&self, channel: ChannelId, user: UserId, seq: u64) -> Result<ReadState> {
        let mut tx = self.write_tx().await?;
        let read_seq: Option<i64> = sqlx::query_scalar(
            "UPDATE members SET read_seq = GREATEST(read_seq, LEAST($1,
               (SELECT last_seq FROM channels WHERE id = $2))),
               delivered_seq = GREATEST(delivered_seq, LEAST($1, (SELECT last_seq FROM channels WHERE id = $2))),
               receipt_ts = $4
             WHERE channel_id = $2 AND user_id = $3 RETURNING read_seq",
        )
        .bind(to_i64(seq))
        .bind(channel.0)
        .bind(user.0)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let read_seq = read_seq.ok_or_else(|| StoreError::NotFound("channel".into()))?;
        let unread = self.unread(&mut tx, channel, user, read_seq).await?;
        tx.commit().await?;
        Ok(ReadState {
            channel_id: channel,
            read_seq: to_u64(read_seq),
            unread,
        })
    }

    async fn mark_delivered(&self, deliveries: &[Delivery]) -> Result<Vec<(Receipt, u32)>> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut changed = Vec::new();
        let mut tx = self.write_tx().await?;
        for d in deliveries {
            let row = sqlx::query(
                "UPDATE members SET delivered_seq = LEAST($1, (SELECT last_seq FROM channels WHERE id = $2)),
                   receipt_ts = $4
                 WHERE channel_id = $2 AND user_id = $3
                   AND delivered_seq < LEAST($1, (SELECT last_seq FROM channels WHERE id = $2))
                 RETURNING delivered_seq, read_seq,
                   (SELECT member_count FROM channels WHERE id = $2) AS member_count",
            )
            .bind(to_i64(d.seq))
            .bind(d.channel_id.0)
            .bind(d.user_id.0)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                let receipt = Receipt {
                    channel_id: d.channel_id,
                    user_id: d.user_id,
                    delivered_seq: to_u64(row.try_get("delivered_seq")?),
                    read_seq: to_u64(row.try_get("read_seq")?),
                    ts: now,
                };
                let members = u32::try_from(row.try_get::<i64, _>("member_count")?).unwrap_or(0);
                changed.push((receipt, members));
            }
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn receipt(&self, channel: ChannelId, user: UserId) -> Result<Option<Receipt>> {
        let row = sqlx::query(
            "SELECT channel_id, user_id, delivered_seq, read_seq, receipt_ts FROM members
             WHERE channel_id = $1 AND user_id = $2",
        )
        .bind(channel.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(receipt_from_row).transpose()
    }

    async fn receipts(&self, channel: ChannelId) -> Result<Vec<Receipt>> {
        let rows = sqlx::query(
            "SELECT channel_id, user_id, delivered_seq, read_seq, receipt_ts FROM members
             WHERE channel_id = $1 ORDER BY joined_seq, user_id",
        )
        .bind(channel.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(receipt_from_row).collect()
    }

    async fn receipts_since(
        &self,
        user: UserId,
        since: i64,
        max_members: u32,
    ) -> Result<Vec<Receipt>> {
        let rows = sqlx::query(
            "SELECT o.channel_id, o.user_id, o.delivered_seq, o.read_seq, o.receipt_ts
             FROM members m
             JOIN channels c ON c.id = m.channel_id AND c.member_count <= $3
             JOIN members o ON o.channel_id = m.channel_id AND o.user_id <> m.user_id AND o.receipt_ts >= $2
             WHERE m.user_id = $1
             ORDER BY o.receipt_ts",
        )
        .bind(user.0)
        .bind(since)
        .bind(i64::from(max_members))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(receipt_from_row).collect()
    }

    async fn positions(&self, user: UserId) -> Result<Vec<Position>> {
        let rows = sqlx::query(
            "SELECT c.id, c.last_seq, c.pruned_through, c.member_count, m.joined_seq
             FROM members m JOIN channels c ON c.id = m.channel_id WHERE m.user_id = $1",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Position {
                    channel_id: ChannelId(row.try_get("id")?),
                    last_seq: to_u64(row.try_get("last_seq")?),
                    pruned_through: to_u64(row.try_get("pruned_through")?),
                    member_count: u32::try_from(row.try_get::<i64, _>("member_count")?)
                        .unwrap_or(0),
                    joined_seq: to_u64(row.try_get("joined_seq")?),
                })
            })
            .collect()
    }

    async fn touch_last_seen(&self, user: UserId, ts: i64) -> Result<()> {
        sqlx::query("UPDATE users SET last_seen = $1 WHERE id = $2")
            .bind(ts)
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn last_seen(&self, user: UserId) -> Result<Option<i64>> {
        let seen: Option<Option<i64>> =
            sqlx::query_scalar("SELECT last_seen FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(seen.flatten())
    }

    async fn contacts(&self, user: UserId, max_members: u32) -> Result<Vec<UserId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT o.user_id FROM members m
             JOIN channels c ON c.id = m.channel_id AND c.member_count <= $1
             JOIN members o ON o.channel_id = m.channel_id AND o.user_id <> m.user_id
             WHERE m.user_id = $2",
        )
        .bind(i64::from(max_members))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn prune(&self, retention: Retention) -> Result<u64> {
        let mut cuts: Vec<(i64, i64)> = Vec::new();
        if let Some(age) = retention.max_age {
            let cutoff =
                now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
            let rows = sqlx::query(
                "SELECT channel_id, max(seq) AS upto FROM events WHERE ts < $1 GROUP BY channel_id",
            )
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                cuts.push((row.try_get("channel_id")?, row.try_get("upto")?));
            }
        }
        if let Some(max) = retention.max_events {
            let rows = sqlx::query(
                "SELECT id, last_seq - $1 AS upto FROM channels WHERE last_seq - pruned_through > $2",
            )
            .bind(to_i64(max))
            .bind(to_i64(max))
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                cuts.push((row.try_get("id")?, row.try_get("upto")?));
            }
        }
        let mut deleted = 0;
        // One short transaction per channel, so pruning never holds the writer for long.
        for (channel, upto) in cuts {
            let mut tx = self.write_tx().await?;
            let done = sqlx::query("DELETE FROM events WHERE channel_id = $1 AND seq <= $2")
                .bind(channel)
                .bind(upto)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE channels SET pruned_through = GREATEST(pruned_through, $1) WHERE id = $2",
            )
            .bind(upto)
            .bind(channel)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            deleted += done.rows_affected();
        }
        Ok(deleted)
    }
}
