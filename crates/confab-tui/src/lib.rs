//! `confab chat`: the terminal client, built on ratatui and the Rust SDK.
//!
//! # Layout
//!
//! - [`app`]: the state machine: [`app::App`] takes actions and network reports, gives commands.
//!   Pure: no I/O, time passed in. Its parts, each a module inside `app`:
//!   - `app::login`: the login / register form.
//!   - `app::compose`: the message being written; Enter sends it or runs it as a command.
//!   - `app::command`: the slash commands (`/dm`, `/group`, `/add`, `/leave`, …).
//!   - `app::channel`: one channel: its transcript, pages of older history, scrolling.
//!   - `app::list`: the channel list, which one is open, unread counts and read pointers.
//!   - `app::presence`: presence and typing indicators, across reconnects.
//!   - `app::fixture` (tests only): what the parts' unit tests start from.
//! - [`input`]: keys and the mouse → [`app::Action`].
//! - [`view`]: draws an [`app::App`] into a ratatui frame.
//! - [`net`]: the task that owns the SDK client and the REST client, runs commands and reports.
//! - [`driver`]: one step at a time: input → app → commands → net; reports → app.
//! - [`terminal`]: the real terminal (raw mode, restored on exit and panic) and the UI loop.
//! - [`token`]: the saved session token, one file per server.
//! - [`text`]: makes text from the network safe to show (no escape sequences).

pub mod app;
pub mod driver;
pub mod input;
pub mod net;
pub mod terminal;
pub mod text;
pub mod token;
pub mod view;

use anyhow::Context;

use crate::net::NetConfig;
use crate::token::TokenStore;

/// Options of `confab chat`.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The server's base URL
    #[arg(long, env = "CONFAB_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Log out: revoke the saved session token and forget it, then exit
    #[arg(long)]
    pub logout: bool,
}

/// Runs the terminal client until the user quits.
pub fn run(args: ChatArgs) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let tokens = TokenStore::for_server(&server).context("finding the config directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if args.logout {
        return runtime.block_on(logout(&server, &tokens));
    }
    let result = terminal::run(&runtime, NetConfig::new(&server, tokens));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// `--logout`: revokes the saved token on the server (best effort) and deletes the file.
async fn logout(server: &str, tokens: &TokenStore) -> anyhow::Result<()> {
    let path = tokens.path().display().to_string();
    let Some(token) = tokens.load().with_context(|| format!("reading {path}"))? else {
        println!("No saved session for {server}.");
        return Ok(());
    };
    let revoke = confab_client::Http::new(server).with_token(&token);
    match tokio::time::timeout(std::time::Duration::from_secs(5), revoke.logout()).await {
        Ok(Ok(())) => println!("Logged out of {server}."),
        Ok(Err(e)) => println!("The server did not revoke the token ({e}); forgetting it anyway."),
        Err(_) => println!("The server did not answer; forgetting the token anyway."),
    }
    tokens
        .forget()
        .with_context(|| format!("removing {path}"))?;
    println!("Removed {path}.");
    Ok(())
}
