//! `confab`: the Confab binary. Thin over the crates: `serve` runs a node, `chat` is the terminal
//! client (`confab-tui`), `bench` the load generator (`confab-bench`).

mod seed;

use std::path::PathBuf;

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
    /// Log filter, e.g. `info` or `confab_server=debug`; RUST_LOG is used when this is unset [default: info]
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
}

fn init_tracing(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid log filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

async fn serve(config_file: Option<PathBuf>, settings: RawConfig) -> anyhow::Result<()> {
    let file = match config_file {
        Some(path) => RawConfig::from_file(&path)?,
        None => RawConfig::default(),
    };
    let config = Config::resolve(settings.over(file)).context("invalid configuration")?;
    let server = confab_server::start(config).await?;
    println!("Confab is listening on http://{}", server.addr());
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, settings } => {
            let filter = cli
                .log
                .or_else(|| std::env::var("RUST_LOG").ok())
                .unwrap_or_else(|| "info".into());
            init_tracing(cli.log_format, &filter)?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(serve(config, settings))
        }
        // The terminal client owns the screen: no log lines on it.
        Command::Chat(args) => confab_tui::run(args),
        Command::Bench(confab_bench::BenchArgs {
            scenario: confab_bench::Scenario::Seed(args),
        }) => seed::run(args),
        Command::Bench(args) => confab_bench::run(args),
    }
}
