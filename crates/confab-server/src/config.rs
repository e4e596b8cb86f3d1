//! Configuration: defaults → file → environment (`CONFAB_*`) → flags, validated once into [`Config`].
//!
//! [`RawConfig`] is what a user can write, every field optional: the binary parses it from flags and
//! environment (clap), and from a TOML file (`--config`, same names). [`Config::resolve`] layers them
//! over the defaults and validates the result. The table in `README.md` lists every setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use confab_store::Retention;
use serde::Deserialize;

/// Settings as written: every field optional. Flags and `CONFAB_*` variables, or a TOML file.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "CONFAB_LISTEN")]
    pub listen: Option<String>,
    /// Directory for the embedded store's files [default: ./confab-data]
    #[arg(long, env = "CONFAB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Store URL: `sqlite:PATH` or `postgres://user@host:port/db` [default: sqlite:<data-dir>/confab.db]
    #[arg(long, env = "CONFAB_STORE")]
    pub store: Option<String>,
    /// PostgreSQL schema to use, created if missing [default: the connection's search path]
    #[arg(long, env = "CONFAB_STORE_SCHEMA")]
    pub store_schema: Option<String>,
    /// Bus: `local` (in-process) or `nats://host:4222` (several URLs separated by commas) [default: local]
    #[arg(long, env = "CONFAB_BUS")]
    pub bus: Option<String>,
    /// This node's id, 0–1023, unique in a cluster; part of every id it assigns [default: 1]
    #[arg(long, env = "CONFAB_NODE_ID")]
    pub node_id: Option<u16>,
    /// How often clients must send a heartbeat; a connection silent for twice this is closed [default: 30s]
    #[arg(long, env = "CONFAB_HEARTBEAT_INTERVAL")]
    pub heartbeat_interval: Option<String>,
    /// Time a new connection has to identify [default: 10s]
    #[arg(long, env = "CONFAB_IDENTIFY_TIMEOUT")]
    pub identify_timeout: Option<String>,
    /// Largest WebSocket frame accepted, bytes [default: 65536]
    #[arg(long, env = "CONFAB_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<u32>,
    /// Longest message body, characters [default: 4000]
    #[arg(long, env = "CONFAB_MAX_MESSAGE_CHARS")]
    pub max_message_chars: Option<u32>,
    /// Sustained messages per second per user (token bucket refill) [default: 10]
    #[arg(long, env = "CONFAB_SEND_RATE")]
    pub send_rate: Option<f64>,
    /// Messages a user may send in a burst (token bucket size) [default: 30]
    #[arg(long, env = "CONFAB_SEND_BURST")]
    pub send_burst: Option<u32>,
    /// Open WebSocket connections per node [default: 50000]
    #[arg(long, env = "CONFAB_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// Members per group [default: 10000]
    #[arg(long, env = "CONFAB_MAX_GROUP_MEMBERS")]
    pub max_group_members: Option<u32>,
    /// Frames queued for one connection before it is closed as a slow consumer [default: 1024]
    #[arg(long, env = "CONFAB_OUTBOUND_QUEUE")]
    pub outbound_queue: Option<usize>,
    /// Invalid frames (bad JSON, unknown op) one connection may send before it is closed [default: 10]
    #[arg(long, env = "CONFAB_MAX_INVALID_FRAMES")]
    pub max_invalid_frames: Option<u32>,
    /// Rate-limited sends in a row before the connection is closed [default: 20]
    #[arg(long, env = "CONFAB_MAX_RATE_LIMITED")]
    pub max_rate_limited: Option<u32>,
    /// Groups up to this many members get per-member receipt events; larger ones only counts [default: 100]
    #[arg(long, env = "CONFAB_RECEIPT_GROUP_SIZE")]
    pub receipt_group_size: Option<u32>,
    /// How often each node announces its users' presence; leases last three intervals, so a dead
    /// or cut-off node's users go offline everywhere within four [default: 5s]
    #[arg(long, env = "CONFAB_PRESENCE_INTERVAL")]
    pub presence_interval: Option<String>,
    /// Members of channels up to this size see each other's presence; larger ones get counts [default: 100]
    #[arg(long, env = "CONFAB_PRESENCE_GROUP_SIZE")]
    pub presence_group_size: Option<u32>,
    /// New sessions (identify) admitted per second by this node [default: 200]
    #[arg(long, env = "CONFAB_IDENTIFY_RATE")]
    pub identify_rate: Option<f64>,
    /// Identify burst: token bucket size [default: 400]
    #[arg(long, env = "CONFAB_IDENTIFY_BURST")]
    pub identify_burst: Option<u32>,
    /// Resumed sessions admitted per second by this node [default: 2500]
    #[arg(long, env = "CONFAB_RESUME_RATE")]
    pub resume_rate: Option<f64>,
    /// Resume burst: token bucket size [default: 2500]
    #[arg(long, env = "CONFAB_RESUME_BURST")]
    pub resume_burst: Option<u32>,
    /// On SIGTERM, sessions are told to reconnect elsewhere spread over this window [default: 10s]
    #[arg(long, env = "CONFAB_DRAIN_WINDOW")]
    pub drain_window: Option<String>,
    /// Delete events older than this, e.g. `90d` [default: keep forever]
    #[arg(long, env = "CONFAB_RETENTION_MAX_AGE")]
    pub retention_max_age: Option<String>,
    /// Keep at most this many newest events per channel [default: keep all]
    #[arg(long, env = "CONFAB_RETENTION_MAX_EVENTS")]
    pub retention_max_events: Option<u64>,
    /// How often the retention pruner runs [default: 60s]
    #[arg(long, env = "CONFAB_RETENTION_INTERVAL")]
    pub retention_interval: Option<String>,
}

impl RawConfig {
    /// Reads a TOML file of settings.
    pub fn from_file(path: &Path) -> anyhow::Result<RawConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }

    /// `self`'s settings, falling back to `lower`'s where `self` has none.
    pub fn over(self, lower: RawConfig) -> RawConfig {
        macro_rules! pick {
            ($($f:ident),* $(,)?) => { RawConfig { $($f: self.$f.or(lower.$f)),* } };
        }
        pick!(
            listen,
            data_dir,
            store,
            store_schema,
            bus,
            node_id,
            heartbeat_interval,
            identify_timeout,
            max_frame_bytes,
            max_message_chars,
            send_rate,
            send_burst,
            max_connections,
            max_group_members,
            outbound_queue,
            max_invalid_frames,
            max_rate_limited,
            receipt_group_size,
            presence_interval,
            presence_group_size,
            identify_rate,
            identify_burst,
            resume_rate,
            resume_burst,
            drain_window,
            retention_max_age,
            retention_max_events,
            retention_interval,
        )
    }
}

/// Where durable state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by the nodes, optionally in its own schema.
    Postgres { url: String, schema: Option<String> },
}

/// Which bus fans events out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusConfig {
    /// In-process: a single node.
    Local,
    /// NATS core: the nodes of a cluster.
    Nats(String),
}

/// Validated settings, passed down from the composition root.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub bus: BusConfig,
    pub node_id: u16,
    pub heartbeat_interval: Duration,
    pub identify_timeout: Duration,
    pub max_frame_bytes: u32,
    pub max_message_chars: u32,
    pub send_rate: f64,
    pub send_burst: u32,
    pub max_connections: u32,
    pub max_group_members: u32,
    pub outbound_queue: usize,
    pub max_invalid_frames: u32,
    pub max_rate_limited: u32,
    pub receipt_group_size: u32,
    pub presence_interval: Duration,
    pub presence_group_size: u32,
    pub identify_rate: f64,
    pub identify_burst: u32,
    pub resume_rate: f64,
    pub resume_burst: u32,
    pub drain_window: Duration,
    pub retention: Retention,
    pub retention_interval: Duration,
}

/// A setting as the operator wrote it, in an error message: its flag and its variable (the TOML
/// key is the flag's name with underscores).
fn setting(name: &str) -> String {
    format!(
        "--{} (CONFAB_{})",
        name.replace('_', "-"),
        name.to_ascii_uppercase()
    )
}

fn duration(name: &str, value: Option<String>, default: &str) -> anyhow::Result<Duration> {
    let text = value.unwrap_or_else(|| default.to_owned());
    let Ok(d) = humantime::parse_duration(&text) else {
        bail!(
            "{}: {text:?} is not a duration like 30s, 5m or 90d",
            setting(name)
        );
    };
    if d.is_zero() {
        bail!("{} must be greater than zero", setting(name));
    }
    Ok(d)
}

fn rate(name: &str, value: Option<f64>, default: f64) -> anyhow::Result<f64> {
    let v = value.unwrap_or(default);
    if !v.is_finite() || v <= 0.0 {
        bail!("{} must be a positive number (got {v})", setting(name));
    }
    Ok(v)
}

fn positive<T: PartialOrd + Default + std::fmt::Display>(name: &str, v: T) -> anyhow::Result<T> {
    if v <= T::default() {
        bail!("{} must be greater than zero (got {v})", setting(name));
    }
    Ok(v)
}

impl Config {
    /// Layers `raw` over the defaults and validates it.
    pub fn resolve(raw: RawConfig) -> anyhow::Result<Config> {
        let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().with_context(|| {
            format!(
                "{}: {listen_text:?} is not an address like 127.0.0.1:8080",
                setting("listen")
            )
        })?;
        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from("./confab-data"));
        let store = match raw.store {
            None => StoreConfig::Sqlite(data_dir.join("confab.db")),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StoreConfig::Postgres {
                    url,
                    schema: raw.store_schema.filter(|s| !s.is_empty()),
                }
            }
            Some(url) => match url.strip_prefix("sqlite:") {
                Some(path) if !path.is_empty() => {
                    StoreConfig::Sqlite(PathBuf::from(path.trim_start_matches("//")))
                }
                _ => bail!(
                    "{}: {url:?} is not supported; use sqlite:PATH or postgres://…",
                    setting("store")
                ),
            },
        };
        let bus = match raw.bus {
            None => BusConfig::Local,
            Some(b) if b == "local" => BusConfig::Local,
            Some(url) if url.starts_with("nats://") => BusConfig::Nats(url),
            Some(other) => bail!(
                "{}: {other:?} is not supported; use local or nats://host:4222",
                setting("bus")
            ),
        };
        let node_id = raw.node_id.unwrap_or(1);
        if node_id > confab_store::snowflake::MAX_NODE_ID {
            bail!("{} must be 0–1023 (got {node_id})", setting("node_id"));
        }
        let send_rate = rate("send_rate", raw.send_rate, 10.0)?;
        let max_frame_bytes = positive("max_frame_bytes", raw.max_frame_bytes.unwrap_or(65_536))?;
        if max_frame_bytes < 1024 {
            bail!(
                "{} must be at least 1024 (got {max_frame_bytes})",
                setting("max_frame_bytes")
            );
        }
        Ok(Config {
            listen,
            store,
            bus,
            node_id,
            heartbeat_interval: duration("heartbeat_interval", raw.heartbeat_interval, "30s")?,
            identify_timeout: duration("identify_timeout", raw.identify_timeout, "10s")?,
            max_frame_bytes,
            max_message_chars: positive(
                "max_message_chars",
                raw.max_message_chars.unwrap_or(4000),
            )?,
            send_rate,
            send_burst: positive("send_burst", raw.send_burst.unwrap_or(30))?,
            max_connections: positive("max_connections", raw.max_connections.unwrap_or(50_000))?,
            max_group_members: positive(
                "max_group_members",
                raw.max_group_members.unwrap_or(10_000),
            )?,
            outbound_queue: positive("outbound_queue", raw.outbound_queue.unwrap_or(1024))?,
            max_invalid_frames: positive(
                "max_invalid_frames",
                raw.max_invalid_frames.unwrap_or(10),
            )?,
            max_rate_limited: positive("max_rate_limited", raw.max_rate_limited.unwrap_or(20))?,
            receipt_group_size: raw.receipt_group_size.unwrap_or(100),
            presence_interval: duration("presence_interval", raw.presence_interval, "5s")?,
            presence_group_size: raw.presence_group_size.unwrap_or(100),
            identify_rate: rate("identify_rate", raw.identify_rate, 200.0)?,
            identify_burst: positive("identify_burst", raw.identify_burst.unwrap_or(400))?,
            resume_rate: rate("resume_rate", raw.resume_rate, 2500.0)?,
            resume_burst: positive("resume_burst", raw.resume_burst.unwrap_or(2500))?,
            drain_window: duration("drain_window", raw.drain_window, "10s")?,
            retention: Retention {
                max_age: raw
                    .retention_max_age
                    .map(|v| duration("retention_max_age", Some(v), ""))
                    .transpose()?,
                max_events: raw
                    .retention_max_events
                    .map(|v| positive("retention_max_events", v))
                    .transpose()?,
            },
            retention_interval: duration("retention_interval", raw.retention_interval, "60s")?,
        })
    }

    /// The defaults, listening on `listen` with the store at `db` (for tests and embedding).
    pub fn for_test(listen: SocketAddr, db: &Path) -> Config {
        let mut config = Config::resolve(RawConfig::default()).expect("defaults are valid");
        config.listen = listen;
        config.store = StoreConfig::Sqlite(db.to_path_buf());
        config
    }

    /// How long a connection may stay silent before it is closed: twice the heartbeat interval.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_interval * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let c = Config::resolve(RawConfig::default()).expect("defaults");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.store,
            StoreConfig::Sqlite(PathBuf::from("./confab-data/confab.db"))
        );
        assert_eq!(c.heartbeat_interval, Duration::from_secs(30));
        assert_eq!(c.max_frame_bytes, 65_536);
        assert_eq!(c.retention, Retention::default());
    }

    #[test]
    fn flags_win_over_the_file_and_bad_values_are_named() {
        let file: RawConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\nsend_rate = 5.0\n").expect("toml");
        let cli = RawConfig {
            send_rate: Some(50.0),
            ..Default::default()
        };
        let c = Config::resolve(cli.over(file)).expect("valid");
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.send_rate, 50.0);

        let err = Config::resolve(RawConfig {
            heartbeat_interval: Some("soon".into()),
            ..Default::default()
        })
        .expect_err("invalid");
        assert_eq!(
            format!("{err:#}"),
            "--heartbeat-interval (CONFAB_HEARTBEAT_INTERVAL): \"soon\" is not a duration like 30s, 5m or 90d"
        );
        let err = Config::resolve(RawConfig {
            store: Some("mysql://x".into()),
            ..Default::default()
        })
        .expect_err("invalid");
        assert!(format!("{err:#}").contains("store"));
        assert!(toml::from_str::<RawConfig>("no_such_setting = 1").is_err());
    }
}
