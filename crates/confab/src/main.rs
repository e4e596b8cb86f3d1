//! `confab`: the Confab binary. Thin over the crates: `serve` runs a node, `chat` is the terminal
//! client (`confab-tui`), `bench` the load generator (`confab-bench`), `admin` the operator's
//! commands on a store (`admin`).

mod admin;
mod seed;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use confab_server::{Config, RawConfig};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "confab",
    version,
    about = "Confab: a self-hosted real-time chat server"
)]
struct Cli {
    /// Log format
    #[arg(long, global = true, env = "CONFAB_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `confab_server=debug`; RUST_LOG is used when this is unset [default: info; warn for `confab admin`]
    #[arg(long, global = true, env = "CONFAB_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

// Parsed once at start: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Confab node (embedded defaults: SQLite in ./confab-data, in-process bus).
    Serve {
        /// TOML file with settings (same names as the flags, with underscores)
        #[arg(long, env = "CONFAB_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        settings: RawConfig,
    },
    /// The terminal client: log in, chat, scroll back through history.
    Chat(confab_tui::ChatArgs),
    /// The load generator: drive a running server through the real protocol and report the numbers.
    Bench(confab_bench::BenchArgs),
    /// Administration of a store (SQLite or PostgreSQL): users, tokens, channels, backup, restore,
    /// retention, integrity check. Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 the check
    /// found problems, 5 conflict.
    Admin(admin::AdminArgs),
}

/// Logs go to stderr, leaving stdout to what a command prints as its result. Colour only when
/// stderr is a terminal (and `NO_COLOR` is unset): a file or a collector gets plain text.
fn init_tracing(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter).map_err(|e| {
        anyhow::anyhow!("--log (CONFAB_LOG, RUST_LOG): {filter:?} is not a log filter like info or confab_server=debug ({e})")
    })?;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

/// The URL a person on this machine opens: the listen address, or the loopback address when the
/// node listens on every interface (`0.0.0.0`, `[::]`).
fn local_url(addr: SocketAddr) -> String {
    let mut shown = addr;
    if addr.ip().is_unspecified() {
        shown.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{shown}")
}

/// What to do next, once the node listens: for a person reading text on stderr, a few plain lines
/// (whatever the log filter); for a collector reading JSON, one structured event.
fn banner(format: LogFormat, addr: SocketAddr) {
    let url = local_url(addr);
    let chat = format!("confab chat --server {url}");
    match format {
        LogFormat::Text => eprintln!(
            "\nConfab is listening on {url}\n  \
             web UI:         open {url}/ in a browser\n  \
             terminal chat:  {chat}\n  \
             API reference:  {url}/api/docs\n  \
             metrics:        {url}/metrics\n"
        ),
        LogFormat::Json => tracing::info!(
            web_ui = %format!("{url}/"),
            chat = %chat,
            api_docs = %format!("{url}/api/docs"),
            "open the web UI at {url}/ or chat in a terminal with `{chat}`"
        ),
    }
}

async fn serve(
    config_file: Option<PathBuf>,
    settings: RawConfig,
    format: LogFormat,
) -> anyhow::Result<()> {
    let file = match config_file {
        Some(path) => RawConfig::from_file(&path)?,
        None => RawConfig::default(),
    };
    let config = Config::resolve(settings.over(file)).context("invalid configuration")?;
    let server = confab_server::start(config).await?;
    banner(format, server.addr());
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    server.wait().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, settings } => {
            let filter = cli
                .log
                .or_else(|| std::env::var("RUST_LOG").ok())
                .unwrap_or_else(|| "info".into());
            init_tracing(cli.log_format, &filter)?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(serve(config, settings, cli.log_format))?;
        }
        // The terminal client owns the screen: no log lines on it.
        Command::Chat(args) => confab_tui::run(args)?,
        Command::Bench(confab_bench::BenchArgs {
            scenario: confab_bench::Scenario::Seed(args),
        }) => seed::run(args)?,
        Command::Bench(args) => confab_bench::run(args)?,
        // Its output is its result: only warnings on stderr, unless asked for more.
        Command::Admin(args) => {
            let filter = cli
                .log
                .or_else(|| std::env::var("RUST_LOG").ok())
                .unwrap_or_else(|| "warn".into());
            init_tracing(cli.log_format, &filter)?;
            return Ok(admin::run(args));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Errors end the process with one line on stderr and exit code 1. Printed with `{:#}` (the causes
/// on one line), never returned from `main`: that prints `{:?}`, which adds a backtrace whenever
/// `RUST_BACKTRACE` is set, and a port in use or a bad setting is the user's to fix, not a bug.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
