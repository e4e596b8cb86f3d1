//! `confab admin`: the operator's commands on a store, SQLite or PostgreSQL, with or without a
//! server running on it. docs/operations.md ("Administration") documents every command, its
//! output and its exit codes; keep the two in step.
//!
//! The store is named as for `confab serve` (`--store`, `--data-dir`, `--store-schema`,
//! `--config`, `CONFAB_*`), resolved by the server's own [`Config`]. Everything a command does to
//! the store is the store's ([`AdminStore`]); this file parses, prints and picks exit codes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Subcommand};
use confab_proto::{ChannelId, ChannelKind, UserId};
use confab_server::admin::{self as server, Notifier};
use confab_server::config::StoreConfig;
use confab_server::{Config, RawConfig};
use confab_store::admin::{ChannelRecord, UserRecord};
use confab_store::sqlite::file;
use confab_store::{AdminStore, StoreError};
use serde::Serialize;
use serde_json::json;

/// Exit codes (docs/operations.md lists them).
mod code {
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const PROBLEMS: u8 = 4;
    pub const CONFLICT: u8 = 5;
}

/// The node id the admin commands assign ids as (new users, the events a deletion appends): the
/// last one, so that they never collide with a server's. Do not give it to a node.
const ADMIN_NODE_ID: u16 = confab_store::snowflake::MAX_NODE_ID;

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON (one document on stdout) instead of tables
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

/// Which store, as for `confab serve`: the same flags, variables and config file.
#[derive(Debug, Args)]
struct StoreArgs {
    /// TOML file with settings (the one `confab serve` uses)
    #[arg(long, env = "CONFAB_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Directory of the embedded store [default: ./confab-data]
    #[arg(long, env = "CONFAB_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Store URL: `sqlite:PATH` or `postgres://user@host:port/db` [default: sqlite:<data-dir>/confab.db]
    #[arg(long, env = "CONFAB_STORE", global = true)]
    store: Option<String>,
    /// PostgreSQL schema [default: the connection's search path]
    #[arg(long, env = "CONFAB_STORE_SCHEMA", global = true)]
    store_schema: Option<String>,
    /// Cluster bus, to tell running nodes at once about revoked tokens and removals [default: local: nobody to tell]
    #[arg(long, env = "CONFAB_BUS", global = true)]
    bus: Option<String>,
    /// For `retention run`: delete events older than this, e.g. `90d`
    #[arg(long, env = "CONFAB_RETENTION_MAX_AGE", global = true)]
    retention_max_age: Option<String>,
    /// For `retention run`: keep at most this many newest events per channel
    #[arg(long, env = "CONFAB_RETENTION_MAX_EVENTS", global = true)]
    retention_max_events: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Accounts: list, create, reset a password, disable, enable, delete.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Session tokens (a user's devices).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Channels: list, inspect, delete.
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// Writes a consistent copy of the SQLite store to FILE, also while servers use it.
    Backup {
        /// The copy to write (must not exist)
        file: PathBuf,
    },
    /// Restores a SQLite backup as the store (the servers using it must be stopped).
    Restore {
        /// A file written by `confab admin backup`
        file: PathBuf,
        /// Replace an existing store (kept beside it as `<name>.replaced-<unix time>`)
        #[arg(long)]
        force: bool,
    },
    /// Retention: prune now with the configured policy.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Checks the store's integrity: gapless seqs, counts and ordinals, orphan rows.
    Check,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Every user: id, username, created, last seen, status, tokens.
    List {
        /// Include the tombstones of deleted users
        #[arg(long)]
        all: bool,
    },
    /// Creates a user; without --password-stdin a password is generated and printed.
    Create {
        name: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sets a new password; without --password-stdin one is generated and printed. Devices stay signed in.
    ResetPassword {
        name: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Refuses the user's logins and tokens (kept, for `enable`).
    Disable { name: String },
    /// Lets a disabled user log in again; their tokens work again.
    Enable { name: String },
    /// Deletes the user with their data: tokens, memberships, message texts (see the docs).
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Revokes every token of a user: all their devices must log in again.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
enum ChannelsCommand {
    /// Every channel: id, kind, name, members, head seq, messages, created.
    List,
    /// One channel: its pointers, counts and members with their roles.
    Inspect { id: String },
    /// Deletes a channel with its events and memberships.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
enum RetentionCommand {
    /// One pruning pass with the configured retention; prints how many events were removed.
    Run,
}

/// A failed command: its exit code and what to say.
#[derive(Debug)]
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    fn new(code: u8, message: impl std::fmt::Display) -> Failure {
        Failure {
            code,
            error: anyhow::anyhow!("{message}"),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            code: code::ERROR,
            error,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        let code = match e {
            StoreError::NotFound(_) => code::NOT_FOUND,
            StoreError::Conflict(_) => code::CONFLICT,
            _ => code::ERROR,
        };
        Failure {
            code,
            error: e.into(),
        }
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Failure {
        anyhow::Error::from(e).into()
    }
}

type Outcome = Result<u8, Failure>;

/// Runs an admin command; errors are one line on stderr, and the exit code says which kind.
pub fn run(args: AdminArgs) -> ExitCode {
    let outcome = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .map_err(Failure::from)
        .and_then(|rt| rt.block_on(dispatch(args)));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(Failure { code, error }) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}

fn config(args: &StoreArgs) -> Result<Config, Failure> {
    let file = match &args.config {
        Some(path) => RawConfig::from_file(path)?,
        None => RawConfig::default(),
    };
    let raw = RawConfig {
        data_dir: args.data_dir.clone(),
        store: args.store.clone(),
        store_schema: args.store_schema.clone(),
        bus: args.bus.clone(),
        retention_max_age: args.retention_max_age.clone(),
        retention_max_events: args.retention_max_events,
        ..RawConfig::default()
    };
    let mut config = Config::resolve(raw.over(file)).map_err(|e| Failure {
        code: code::USAGE,
        error: e.context("invalid configuration"),
    })?;
    config.node_id = ADMIN_NODE_ID;
    Ok(config)
}

/// Opens the configured store. An SQLite store must exist unless `create` (a typo in
/// `--data-dir` should not make an empty store).
async fn open(config: &Config, create: bool) -> Result<Arc<dyn AdminStore>, Failure> {
    if let StoreConfig::Sqlite(path) = &config.store {
        if !create && !path.exists() {
            return Err(Failure::new(
                code::NOT_FOUND,
                format!(
                    "no store at {} (name it with --data-dir, --store or --config)",
                    path.display()
                ),
            ));
        }
    }
    Ok(server::open_store(config).await?)
}

async fn dispatch(args: AdminArgs) -> Outcome {
    let config = config(&args.store)?;
    let json = args.json;
    match args.command {
        AdminCommand::Backup { file } => backup(&config, &file, json).await,
        AdminCommand::Restore { file, force } => restore(&config, &file, force, json).await,
        command => {
            let create = matches!(command, AdminCommand::Users(UsersCommand::Create { .. }));
            let store = open(&config, create).await?;
            let outcome = with_store(&config, &*store, command, json).await;
            store.close().await;
            outcome
        }
    }
}

async fn with_store(
    config: &Config,
    store: &dyn AdminStore,
    command: AdminCommand,
    json: bool,
) -> Outcome {
    match command {
        AdminCommand::Users(cmd) => users(config, store, cmd, json).await,
        AdminCommand::Tokens(TokensCommand::Revoke { name }) => {
            let user = find(store, &name).await?;
            let hashes = store.revoke_tokens(user.id).await?;
            let count = hashes.len();
            let told = notify(config, |n| async move { n.revoked(user.id, &hashes).await }).await;
            report(
                json,
                &json!({"username": user.username, "revoked": count, "sessions_closed": told}),
                || {
                    format!(
                        "revoked {count} tokens of {}{}",
                        user.username,
                        live_note(told, "their open sessions were closed")
                    )
                },
            )
        }
        AdminCommand::Channels(cmd) => channels(store, cmd, json).await,
        AdminCommand::Retention(RetentionCommand::Run) => {
            let policy = config.retention;
            if policy.max_age.is_none() && policy.max_events.is_none() {
                return report(json, &json!({"removed": 0, "policy": null}), || {
                    "no retention is configured (--retention-max-age, --retention-max-events \
                         or the config file): nothing to prune"
                        .into()
                });
            }
            let removed = store.prune(policy).await?;
            let shown = describe_retention(policy);
            report(
                json,
                &json!({
                    "removed": removed,
                    "policy": {
                        "max_age_seconds": policy.max_age.map(|d| d.as_secs()),
                        "max_events": policy.max_events,
                    },
                }),
                || format!("removed {removed} events ({shown})"),
            )
        }
        AdminCommand::Check => {
            let problems = store.check().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"problems": problems}))?
                );
            } else if problems.is_empty() {
                println!("ok: no problems found");
            } else {
                for p in &problems {
                    println!("{p}");
                }
            }
            Ok(if problems.is_empty() {
                0
            } else {
                code::PROBLEMS
            })
        }
        AdminCommand::Backup { .. } | AdminCommand::Restore { .. } => {
            unreachable!("handled without opening the store")
        }
    }
}

/// Tells running servers over the cluster bus, when there is one. Whether anyone was told; a
/// failure is a warning (the change is in the store and takes effect anyway).
async fn notify<F, Fut>(config: &Config, tell: F) -> bool
where
    F: FnOnce(Arc<Notifier>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let notifier = match Notifier::connect(config).await {
        Ok(n) if n.is_live() => Arc::new(n),
        Ok(_) => return false,
        Err(e) => {
            eprintln!("warning: running servers were not told: {e:#}");
            return false;
        }
    };
    let told = async {
        tell(notifier.clone()).await?;
        notifier.flush().await
    };
    match told.await {
        Ok(()) => true,
        Err(e) => {
            eprintln!("warning: running servers were not told: {e:#}");
            false
        }
    }
}

fn live_note(told: bool, what: &str) -> String {
    if told {
        format!("; {what}")
    } else {
        String::new()
    }
}

/// Prints `value` as JSON, or `text()` for a person. Exit code 0.
fn report<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> Outcome {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(0)
}

/// The user named `raw` (not a deleted one).
async fn find(store: &dyn AdminStore, raw: &str) -> Result<UserRecord, Failure> {
    let missing = || Failure::new(code::NOT_FOUND, format!("no user named {raw:?}"));
    let name = server::normalize_username(raw).map_err(|_| missing())?;
    match store.find_user(&name).await? {
        Some(user) if user.deleted_at.is_none() => Ok(user),
        _ => Err(missing()),
    }
}

/// A new password: the first line of stdin, or a generated one (returned to be printed).
fn new_password(from_stdin: bool) -> Result<(String, bool), Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        server::check_password(&password).map_err(|m| Failure::new(code::USAGE, m))?;
        return Ok((password, false));
    }
    use rand::Rng;
    // No look-alikes (0/o, 1/l/i): read off a screen and typed.
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let password = (0..20)
        .map(|i| {
            let c = ALPHABET[rng.gen_range(0..ALPHABET.len())] as char;
            if i > 0 && i % 5 == 0 {
                format!("-{c}")
            } else {
                c.to_string()
            }
        })
        .collect();
    Ok((password, true))
}

async fn hash(password: String) -> Result<String, Failure> {
    Ok(
        tokio::task::spawn_blocking(move || server::hash_password(&password))
            .await
            .context("hashing the password")??,
    )
}

async fn users(config: &Config, store: &dyn AdminStore, cmd: UsersCommand, json: bool) -> Outcome {
    match cmd {
        UsersCommand::List { all } => {
            let users = store.list_users(all).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
                return Ok(0);
            }
            let rows = users
                .iter()
                .map(|u| {
                    vec![
                        u.id.to_string(),
                        u.username.clone(),
                        time(u.created_at),
                        u.last_seen.map_or_else(|| "-".into(), time),
                        status(u).into(),
                        u.tokens.to_string(),
                    ]
                })
                .collect();
            table(
                &["ID", "USERNAME", "CREATED", "LAST SEEN", "STATUS", "TOKENS"],
                rows,
            );
            Ok(0)
        }
        UsersCommand::Create {
            name,
            password_stdin,
        } => {
            let username =
                server::normalize_username(&name).map_err(|m| Failure::new(code::USAGE, m))?;
            let (password, generated) = new_password(password_stdin)?;
            let user = store
                .create_user(&username, &hash(password.clone()).await?)
                .await?;
            let shown = generated.then_some(password);
            report(
                json,
                &json!({"id": user.id, "username": user.username, "created_at": user.created_at,
                        "password": shown}),
                || {
                    let mut text = format!("created user {} (id {})", user.username, user.id);
                    if let Some(p) = &shown {
                        text.push_str(&format!("\npassword: {p}"));
                    }
                    text
                },
            )
        }
        UsersCommand::ResetPassword {
            name,
            password_stdin,
        } => {
            let user = find(store, &name).await?;
            let (password, generated) = new_password(password_stdin)?;
            store
                .set_password(user.id, &hash(password.clone()).await?)
                .await?;
            let shown = generated.then_some(password);
            report(
                json,
                &json!({"id": user.id, "username": user.username, "password": shown}),
                || {
                    let mut text = format!(
                        "new password set for {} (their devices stay signed in: \
                         `confab admin tokens revoke {}` signs them out)",
                        user.username, user.username
                    );
                    if let Some(p) = &shown {
                        text.push_str(&format!("\npassword: {p}"));
                    }
                    text
                },
            )
        }
        UsersCommand::Disable { name } => {
            let user = find(store, &name).await?;
            let changed = store.set_disabled(user.id, true).await?;
            let hashes = store.user_tokens(user.id).await?;
            let told = changed
                && notify(config, |n| async move { n.revoked(user.id, &hashes).await }).await;
            report(
                json,
                &json!({"username": user.username, "disabled": true, "changed": changed,
                        "sessions_closed": told}),
                || {
                    if changed {
                        format!(
                            "disabled {}{}",
                            user.username,
                            live_note(told, "their open sessions were closed")
                        )
                    } else {
                        format!("{} was already disabled", user.username)
                    }
                },
            )
        }
        UsersCommand::Enable { name } => {
            let user = find(store, &name).await?;
            let changed = store.set_disabled(user.id, false).await?;
            report(
                json,
                &json!({"username": user.username, "disabled": false, "changed": changed}),
                || {
                    if changed {
                        format!("enabled {}", user.username)
                    } else {
                        format!("{} was not disabled", user.username)
                    }
                },
            )
        }
        UsersCommand::Delete { name } => {
            let user = find(store, &name).await?;
            let hashes = store.user_tokens(user.id).await?;
            let deletion = store.delete_user(user.id).await?;
            let events = deletion.events.clone();
            let told = notify(config, |n| async move {
                n.revoked(user.id, &hashes).await?;
                n.events(&events).await
            })
            .await;
            report(json, &deletion, || {
                format!(
                    "deleted {} (id {}, kept as {}): {} tokens revoked, left {} channels, \
                     {} messages redacted, {} events renamed{}",
                    user.username,
                    user.id,
                    deletion.tombstone,
                    deletion.tokens_revoked,
                    deletion.channels_left,
                    deletion.messages_redacted,
                    deletion.events_renamed,
                    live_note(told, "running servers were told")
                )
            })
        }
    }
}

fn status(u: &UserRecord) -> &'static str {
    if u.deleted_at.is_some() {
        "deleted"
    } else if u.disabled_at.is_some() {
        "disabled"
    } else {
        "active"
    }
}

fn channel_id(raw: &str) -> Result<ChannelId, Failure> {
    raw.trim()
        .parse()
        .map_err(|_| Failure::new(code::USAGE, format!("{raw:?} is not a channel id")))
}

/// How a channel is called: a group's name, or a direct channel's two usernames.
fn channel_label(c: &ChannelRecord, names: &std::collections::HashMap<UserId, String>) -> String {
    match (c.kind, &c.pair) {
        (ChannelKind::Direct, Some(pair)) => pair
            .iter()
            .map(|id| names.get(id).cloned().unwrap_or_else(|| id.to_string()))
            .collect::<Vec<_>>()
            .join(" + "),
        _ => c.name.clone().unwrap_or_default(),
    }
}

fn kind(k: ChannelKind) -> &'static str {
    match k {
        ChannelKind::Direct => "direct",
        ChannelKind::Group => "group",
    }
}

async fn channels(store: &dyn AdminStore, cmd: ChannelsCommand, json: bool) -> Outcome {
    match cmd {
        ChannelsCommand::List => {
            let channels = store.list_channels().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&channels)?);
                return Ok(0);
            }
            let names = usernames(store).await?;
            let rows = channels
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        kind(c.kind).into(),
                        channel_label(c, &names),
                        c.member_count.to_string(),
                        c.last_seq.to_string(),
                        c.msg_count.to_string(),
                        time(c.created_at),
                    ]
                })
                .collect();
            table(
                &[
                    "ID", "KIND", "NAME", "MEMBERS", "HEAD SEQ", "MESSAGES", "CREATED",
                ],
                rows,
            );
            Ok(0)
        }
        ChannelsCommand::Inspect { id } => {
            let id = channel_id(&id)?;
            let Some(detail) = store.inspect_channel(id).await? else {
                return Err(Failure::new(code::NOT_FOUND, format!("no channel {id}")));
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
                return Ok(0);
            }
            let c = &detail.channel;
            let names = usernames(store).await?;
            let fields = [
                ("id", c.id.to_string()),
                ("kind", kind(c.kind).into()),
                ("name", channel_label(c, &names)),
                ("created", time(c.created_at)),
                ("members", c.member_count.to_string()),
                ("head seq", c.last_seq.to_string()),
                ("pruned through", c.pruned_through.to_string()),
                ("events stored", detail.events_stored.to_string()),
                ("messages", c.msg_count.to_string()),
                ("messages stored", detail.messages_stored.to_string()),
                (
                    "oldest event",
                    detail.oldest_ts.map_or_else(|| "-".into(), time),
                ),
                (
                    "newest event",
                    detail.newest_ts.map_or_else(|| "-".into(), time),
                ),
            ];
            for (key, value) in fields {
                println!("{:<16} {value}", format!("{key}:"));
            }
            println!();
            let rows = detail
                .members
                .iter()
                .map(|m| {
                    vec![
                        m.user.id.to_string(),
                        m.user.username.clone(),
                        m.role.as_str().into(),
                        m.joined_seq.to_string(),
                        m.read_seq.to_string(),
                        m.delivered_seq.to_string(),
                    ]
                })
                .collect();
            table(
                &["USER ID", "USERNAME", "ROLE", "JOINED", "READ", "DELIVERED"],
                rows,
            );
            Ok(0)
        }
        ChannelsCommand::Delete { id } => {
            let id = channel_id(&id)?;
            let deleted = store.delete_channel(id).await?;
            report(json, &deleted, || {
                format!(
                    "deleted channel {id}: {} events, {} memberships",
                    deleted.events, deleted.members
                )
            })
        }
    }
}

async fn usernames(
    store: &dyn AdminStore,
) -> Result<std::collections::HashMap<UserId, String>, Failure> {
    Ok(store
        .list_users(true)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
}

/// The SQLite file of the configured store, or why this command needs one.
fn sqlite_path<'a>(
    config: &'a Config,
    command: &str,
    instead: &str,
) -> Result<&'a PathBuf, Failure> {
    match &config.store {
        StoreConfig::Sqlite(path) => Ok(path),
        StoreConfig::Postgres { .. } => Err(Failure::new(
            code::USAGE,
            format!(
                "`confab admin {command}` works on the SQLite store; for PostgreSQL use \
                 {instead} (docs/operations.md, \"Backup and restore\")"
            ),
        )),
    }
}

async fn backup(config: &Config, dest: &std::path::Path, json: bool) -> Outcome {
    let db = sqlite_path(
        config,
        "backup",
        "pg_dump, e.g. `pg_dump --format=custom --file=confab.dump postgres://…`",
    )?
    .clone();
    let target = dest.to_path_buf();
    let info = tokio::task::spawn_blocking(move || file::backup(&db, &target))
        .await
        .context("backup task")??;
    report(json, &json!({"file": dest, "info": info}), || {
        format!(
            "wrote {} ({} bytes, schema {}): {} users, {} channels, {} events",
            dest.display(),
            info.bytes,
            info.schema_version,
            info.users,
            info.channels,
            info.events
        )
    })
}

async fn restore(config: &Config, from: &std::path::Path, force: bool, json: bool) -> Outcome {
    let db = sqlite_path(
        config,
        "restore",
        "pg_restore, e.g. `pg_restore --clean --if-exists --dbname=postgres://… confab.dump`",
    )?
    .clone();
    if !from.is_file() {
        return Err(Failure::new(
            code::NOT_FOUND,
            format!("no file {}", from.display()),
        ));
    }
    let (source, target) = (from.to_path_buf(), db.clone());
    let restored = tokio::task::spawn_blocking(move || file::restore(&source, &target, force))
        .await
        .context("restore task")??;
    // Opened once: an older backup is migrated now, and a file SQLite cannot use fails here.
    let store = server::open_store(config).await?;
    store.close().await;
    report(json, &restored, || {
        let mut text = format!(
            "restored {} to {} (schema {}): {} users, {} channels, {} events",
            from.display(),
            db.display(),
            restored.info.schema_version,
            restored.info.users,
            restored.info.channels,
            restored.info.events
        );
        if let Some(aside) = &restored.replaced {
            text.push_str(&format!(
                "\nthe store it replaced is kept as {}",
                aside.display()
            ));
        }
        text
    })
}

fn describe_retention(policy: confab_store::Retention) -> String {
    let mut parts = Vec::new();
    if let Some(age) = policy.max_age {
        parts.push(format!(
            "older than {}",
            humantime::format_duration(Duration::from_secs(age.as_secs()))
        ));
    }
    if let Some(n) = policy.max_events {
        parts.push(format!("beyond the newest {n} per channel"));
    }
    parts.join(", ")
}

/// A time in ms since the epoch, as UTC to the second.
fn time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Prints rows under headers, columns padded to their widest cell.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line(headers.to_vec()));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() && std::io::stdout().is_terminal() {
        let _ = writeln!(out, "(none)");
    }
}
