//! The command line of `confab bench`.

use std::path::PathBuf;
use std::time::Duration;

/// Options of `confab bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Scenario {
    /// Open N authenticated WebSocket connections and hold them: connect rate, server RSS per
    /// connection.
    Idle(IdleArgs),
    /// One group of N members, S of them sending R messages/s in total: deliveries/s, latency,
    /// losses, server CPU per delivery.
    Room(RoomArgs),
    /// N direct channels, each pair chatting at R messages/s: the same report as `room`.
    Dm(DmArgs),
    /// N clients cut at once reconnect with the SDK's backoff and resume: time to recovery,
    /// refusals, losses, the node's responsiveness.
    Storm(StormArgs),
    /// The room scenario over WebSocket, SSE, long polling and naive history polling.
    Transports(TransportsArgs),
    /// One direct channel, two clients: A sends, B receives and replies, A receives; the round
    /// trip a user feels with no load, over each transport.
    Rtt(RttArgs),
    /// Build a realistic database directly through the store (not a scenario: run it with the
    /// server stopped, then start the server on the same store): users, groups, direct channels,
    /// history and read pointers, with the users' tokens written to the accounts cache.
    Seed(SeedArgs),
    /// The room scenario against Confab and against the lean server, alternating rounds in one
    /// run: server CPU per delivery, latency, losses, and the ratios Confab / lean.
    Compare(CompareArgs),
    /// Not a scenario: run the minimal broadcast server that `compare` measures Confab against.
    LeanServer(LeanServerArgs),
    /// Mixed load for a long time (a room, DM pairs, clients that drop and resume, history
    /// reads): the server's RSS, open files and latency sampled over time, and a verdict.
    Soak(SoakArgs),
}

impl Scenario {
    /// The options every scenario has (`None` for the lean server, which is not a scenario).
    pub fn common(&self) -> Option<&Common> {
        match self {
            Scenario::Idle(a) => Some(&a.common),
            Scenario::Room(a) => Some(&a.common),
            Scenario::Dm(a) => Some(&a.common),
            Scenario::Storm(a) => Some(&a.common),
            Scenario::Transports(a) => Some(&a.room.common),
            Scenario::Rtt(a) => Some(&a.common),
            Scenario::Seed(a) => Some(&a.common),
            Scenario::Compare(a) => Some(&a.room.common),
            Scenario::Soak(a) => Some(&a.common),
            Scenario::LeanServer(_) => None,
        }
    }

    /// Whether this process is a worker of a parent `confab bench` (prints JSON only).
    pub fn is_worker(&self) -> bool {
        matches!(self, Scenario::Idle(a) if a.worker.is_some())
    }
}

/// Options of every scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The server's base URL; repeat to spread connections over several servers
    #[arg(
        long = "server",
        env = "CONFAB_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub servers: Vec<String>,
    /// The server's process id, to read its RSS and CPU from /proc; repeat for several servers
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Print one JSON object per result instead of a table (and no progress line)
    #[arg(long)]
    pub json: bool,
    /// How long the measured window lasts
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// How long the load runs before the measured window starts
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// File caching the provisioned users' tokens and the channels, keyed by server URL
    #[arg(long, default_value = "confab-bench-accounts.json")]
    pub accounts: PathBuf,
    /// Prefix of the benchmark's usernames (`bench0`, `bench1`, …)
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
    /// Source addresses to spread connections over (127.0.0.2 … 127.0.0.(N+1)), so the ~28,000
    /// ephemeral ports per address are not the limit; 0 lets the kernel choose
    #[arg(long, default_value_t = 16)]
    pub source_addrs: u8,
    /// Connection handshakes in flight at once
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
}

/// `confab bench idle`.
#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Connections to open
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Users the connections share (connection i logs in as user i mod users); default: as many
    /// as connections, at most 1,000
    #[arg(long)]
    pub users: Option<usize>,
    /// Worker processes (each holds at most 18,000 connections); default: as many as needed
    #[arg(long)]
    pub workers: Option<usize>,
    /// Internal: run as worker i of n (`i/n`), printing the result as JSON
    #[arg(long, hide = true)]
    pub worker: Option<String>,
}

/// `confab bench room`.
#[derive(Debug, Clone, clap::Args)]
pub struct RoomArgs {
    #[command(flatten)]
    pub common: Common,
    /// Members of the group, all connected (the senders included)
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Messages per second, in total over all senders
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Members that send
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Message body size in bytes (at least 24: the send timestamp)
    #[arg(long, default_value_t = 64)]
    pub size: usize,
}

/// `confab bench dm`.
#[derive(Debug, Clone, clap::Args)]
pub struct DmArgs {
    #[command(flatten)]
    pub common: Common,
    /// Pairs of users, each with its direct channel
    #[arg(long, default_value_t = 100)]
    pub pairs: usize,
    /// Messages per second per pair (each side sends half)
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// Message body size in bytes (at least 24)
    #[arg(long, default_value_t = 64)]
    pub size: usize,
}

/// `confab bench storm`.
#[derive(Debug, Clone, clap::Args)]
pub struct StormArgs {
    #[command(flatten)]
    pub common: Common,
    /// Clients that are cut and reconnect
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Groups the clients are spread over
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// Users the clients share (client i is user i mod users); default: as many as clients, at
    /// most 1,000
    #[arg(long)]
    pub users: Option<usize>,
    /// Messages per second the sender keeps sending, spread over the groups
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// First reconnect delay bound (the SDK's default), doubling per failed attempt
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    pub backoff_base: Duration,
    /// Largest reconnect delay bound (the SDK's default)
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub backoff_cap: Duration,
    /// Give up waiting for recovery after this long
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub recovery_timeout: Duration,
}

/// `confab bench transports`.
#[derive(Debug, Clone, clap::Args)]
pub struct TransportsArgs {
    #[command(flatten)]
    pub room: RoomArgs,
    /// How often a naive polling client asks for history
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Transports to run, in order (ws, sse, longpoll, poll)
    #[arg(long, value_delimiter = ',', default_value = "ws,sse,longpoll,poll")]
    pub only: Vec<crate::transport::Kind>,
}

/// `confab bench rtt`.
#[derive(Debug, Clone, clap::Args)]
pub struct RttArgs {
    #[command(flatten)]
    pub common: Common,
    /// Round trips measured per transport (after 5 not counted)
    #[arg(long, default_value_t = 200)]
    pub trips: usize,
    /// Transports to measure, in order (ws, longpoll)
    #[arg(long, value_delimiter = ',', default_value = "ws,longpoll")]
    pub only: Vec<crate::transport::Kind>,
}

/// `confab bench seed`.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub common: Common,
    /// Directory of the embedded store (as `confab serve --data-dir`)
    #[arg(long, env = "CONFAB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Store URL: `sqlite:PATH` or `postgres://…` (as `confab serve --store`)
    #[arg(long, env = "CONFAB_STORE")]
    pub store: Option<String>,
    /// PostgreSQL schema (as `confab serve --store-schema`)
    #[arg(long, env = "CONFAB_STORE_SCHEMA")]
    pub store_schema: Option<String>,
    /// Users to create
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Members of the one large group (the first users; the group `room --members N` uses); 0: none
    #[arg(long, default_value_t = 1000)]
    pub large_group: usize,
    /// Small groups, each of `--small-size` random users
    #[arg(long, default_value_t = 200)]
    pub small_groups: usize,
    /// Members of each small group
    #[arg(long, default_value_t = 8)]
    pub small_size: usize,
    /// Direct channels (the first pair users 0–1, 2–3, … as `dm --pairs` does)
    #[arg(long, default_value_t = 500)]
    pub directs: usize,
    /// Messages to store
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// The fraction of the messages sent in the large group
    #[arg(long, default_value_t = 0.3)]
    pub large_share: f64,
    /// Messages each member leaves unread in each channel, roughly (0: everything read)
    #[arg(long, default_value_t = 0)]
    pub unread: u64,
    /// Message body size in bytes
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Messages stored in one transaction
    #[arg(long, default_value_t = 100_000)]
    pub batch: usize,
    /// Only move the read pointers of an already seeded database (forward: they never move back)
    #[arg(long)]
    pub read_pointers_only: bool,
    /// Seed of the random choices (members, authors, pointers)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `confab bench compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub room: RoomArgs,
    /// Rounds; each runs the room once against each target, the order alternating per round
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// The lean server's base URL (`http://host:port`), started separately; without it compare
    /// starts one itself (this binary's `bench lean-server`) on the Confab server's CPUs
    #[arg(long)]
    pub lean: Option<String>,
    /// The process id of the lean server given with --lean
    #[arg(long)]
    pub lean_pid: Option<u32>,
}

/// `confab bench lean-server`.
#[derive(Debug, Clone, clap::Args)]
pub struct LeanServerArgs {
    /// Address to listen on (port 0: any free port; the address is printed)
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
}

/// `confab bench soak`.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("duration", |a| a.default_value("1h").help("How long the soak runs (after the warm-up)")))]
pub struct SoakArgs {
    #[command(flatten)]
    pub common: Common,
    /// Members of the room, all connected (senders and resuming clients included)
    #[arg(long, default_value_t = 50)]
    pub members: usize,
    /// Messages per second into the room, in total
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Members of the room that send
    #[arg(long, default_value_t = 5)]
    pub senders: usize,
    /// Pairs of users chatting in their direct channel
    #[arg(long, default_value_t = 10)]
    pub pairs: usize,
    /// Messages per second per pair (each side sends half)
    #[arg(long, default_value_t = 1.0)]
    pub dm_rate: f64,
    /// Room members (not senders) that drop their connection and resume, over and over
    #[arg(long, default_value_t = 10)]
    pub reconnectors: usize,
    /// How long a resuming client stays connected before it drops again (spread at random
    /// between half and one and a half times this)
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub reconnect_every: Duration,
    /// History pages read over REST per second (the newest 50 messages of the room or of a DM)
    #[arg(long, default_value_t = 2.0)]
    pub history_rate: f64,
    /// Message body size in bytes (at least 24)
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// How often the server's RSS, open files and the interval's latency are sampled
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub sample_every: Duration,
    /// Verdict: the last quarter's median RSS may exceed the second quarter's by this many percent
    /// (plus 4 MiB)
    #[arg(long, default_value_t = 10.0)]
    pub rss_tolerance: f64,
    /// Verdict: the last quarter's median open files may exceed the second quarter's by this many
    /// percent (plus 8, and plus the resuming clients, which may be between connections)
    #[arg(long, default_value_t = 10.0)]
    pub fd_tolerance: f64,
    /// Verdict: the last quarter's p99 latency may exceed the second quarter's by this many percent
    /// (plus --latency-slack)
    #[arg(long, default_value_t = 50.0)]
    pub latency_tolerance: f64,
    /// Verdict: the absolute allowance added to the latency comparison
    #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
    pub latency_slack: Duration,
}
