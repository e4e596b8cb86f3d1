//! `confab admin`: the operator's commands on a store, SQLite or PostgreSQL, with or without a
//! server running on it. docs/operations.md ("Administration") documents every command, its
//! output and its exit codes; keep the two in step.
//!
//! The store is named as for `confab serve` (`--store`, `--data-dir`, `--store-schema`,
//! `--config`, `CONFAB_*`), resolved by the server's own [`Config`]. Everything a command does to
//! the store is the store's ([`AdminStore`]); this module parses, prints and picks exit codes
//! (`users`, `channels`, `files` for backup and restore, one file per command family).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Subcommand};
use confab_server::admin::{self as server, Notifier};
use confab_server::config::StoreConfig;
use confab_server::{Config, RawConfig};
use confab_store::{AdminStore, StoreError};
use serde::Serialize;
use serde_json::json;

mod channels;
mod files;
mod users;

use channels::channels;
use files::{backup, restore};
use users::{find, users};

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
