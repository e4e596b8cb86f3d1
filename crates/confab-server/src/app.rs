//! The composition root: builds the backends from [`Config`], hands them down, serves.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use confab_bus::{Bus, LocalBus, NatsBus};
use confab_presence::{PresenceConfig, PresenceService};
use confab_proto::CloseCode;
use confab_store::{PostgresStore, SqliteStore, Store};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{BusConfig, Config, StoreConfig};
use crate::hub::{Hub, Outbound};
use crate::limit::{Admission, SendLimiter};
use crate::metrics::Metrics;
use crate::receipt::Receipts;
use crate::{api, gateway, retention};

/// Everything a request or session needs, shared.
pub struct State {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub hub: Hub,
    pub metrics: Arc<Metrics>,
    pub limiter: SendLimiter,
    /// Admission control for new and resumed sessions.
    pub admission: Admission,
    /// The delivered-pointer batcher.
    pub receipts: Receipts,
    /// HTTP (long-poll and SSE) sessions on this node.
    pub http_sessions: crate::api::session::Sessions,
    /// Cluster-wide presence (leases over the bus).
    pub presence: PresenceService,
    /// Which local sessions watch which users' presence.
    pub watchers: Arc<crate::presence::Watchers>,
    /// Open WebSocket connections, for the per-node cap.
    pub connections: AtomicU32,
    /// Source of session keys.
    pub next_session: AtomicU64,
    /// Bounds concurrent argon2 hashes (each takes ~19 MiB and tens of ms of a core).
    pub hash_permits: Semaphore,
    /// Flips to `true` when the server starts draining (SIGTERM): `/readyz` fails, upgrades are
    /// refused, sessions leave over the drain window.
    pub shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// The state handlers receive.
pub type AppState = Arc<State>;

impl State {
    /// A fresh session key, unique on this node.
    pub fn session_key(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Resolves once `shutdown` turns `true` (or its sender is gone).
pub async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    state: AppState,
}

impl Server {
    /// The address it listens on (the real port when configured with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (for tests and embedding).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Drains: `/readyz` fails at once, new sessions are refused, every session is closed with
    /// `server_shutdown` at a random moment within the drain window (finishing the request it is
    /// handling), then HTTP stops and the store is closed. Waits for all of it.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits until the server stops (after [`Server::shutdown`] or a fatal error).
    pub async fn wait(self) -> anyhow::Result<()> {
        let result = self.task.await.context("server task panicked")?;
        result
    }

    /// A sender that shuts the server down when `true` is sent (for signal handlers).
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match &config.store {
        StoreConfig::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
            }
            let store = SqliteStore::open(path, config.node_id)
                .await
                .with_context(|| format!("opening sqlite store {}", path.display()))?;
            Ok(Arc::new(store))
        }
        StoreConfig::Postgres { url, schema } => {
            let store = PostgresStore::connect(url, config.node_id, schema.as_deref())
                .await
                .context("opening the PostgreSQL store")?;
            Ok(Arc::new(store))
        }
    }
}

async fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    match &config.bus {
        BusConfig::Local => Ok(Arc::new(LocalBus::default())),
        BusConfig::Nats(url) => {
            let name = format!("confab-node-{}", config.node_id);
            let bus = NatsBus::connect(url, &name)
                .await
                .context("connecting to the NATS bus")?;
            Ok(Arc::new(bus))
        }
    }
}

/// Builds every part from `config`, binds the listener and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let store = open_store(&config).await?;
    let bus = open_bus(&config).await?;
    let metrics = Arc::new(Metrics::new());
    let hub = Hub::new(bus.clone(), store.clone(), metrics.clone());
    let presence_config = PresenceConfig {
        node_id: config.node_id,
        interval: config.presence_interval,
    };
    let (presence, presence_changes) = PresenceService::start(bus.clone(), presence_config)
        .await
        .context("starting presence")?;
    let watchers = Arc::new(crate::presence::Watchers::default());
    crate::presence::spawn_router(presence_changes, watchers.clone(), store.clone());
    let receipts = Receipts::spawn(
        store.clone(),
        hub.clone(),
        metrics.clone(),
        config.receipt_group_size,
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        limiter: SendLimiter::new(config.send_rate, config.send_burst),
        admission: Admission::new(
            config.identify_rate,
            config.identify_burst,
            config.resume_rate,
            config.resume_burst,
        ),
        receipts,
        http_sessions: Default::default(),
        presence,
        watchers,
        connections: AtomicU32::new(0),
        next_session: AtomicU64::new(1),
        hash_permits: Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
        shutdown: shutdown_rx.clone(),
        config,
        store,
        hub,
        metrics,
    });
    retention::spawn(state.clone());
    let app = router(state.clone());
    let task = tokio::spawn(lifecycle(listener, app, state.clone(), shutdown_rx));
    tracing::info!(%addr, node_id = state.config.node_id, "confab listening");
    Ok(Server {
        addr,
        shutdown: shutdown_tx,
        task,
        state,
    })
}

/// Serves until the drain starts, waits for the sessions to leave (at most the drain window plus
/// five seconds), then stops HTTP and closes the store.
async fn lifecycle(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (http_stop, http_stopped) = watch::channel(false);
    let mut http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped(http_stopped))
            .await
            .context("serving")
    });
    tokio::select! {
        _ = stopped(shutdown) => {}
        result = &mut http => return result.context("server task panicked")?,
    }
    tracing::info!(window = ?state.config.drain_window, "draining");
    tokio::spawn(send_sessions_away(state.clone()));
    let deadline = tokio::time::Instant::now() + state.config.drain_window + Duration::from_secs(5);
    while state.connections.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = http_stop.send(true);
    let result = http.await.context("server task panicked")?;
    state.store.close().await;
    tracing::info!("stopped");
    result
}

/// Closes every session with `server_shutdown`, one after another in a random order spread evenly
/// over the drain window, so that their clients' reconnections do not reach the other nodes at
/// once. Each close is queued behind what the session already has to send.
async fn send_sessions_away(state: AppState) {
    use rand::seq::SliceRandom;
    let mut sessions = state.hub.sessions();
    sessions.shuffle(&mut rand::thread_rng());
    let window = state.config.drain_window;
    let started = tokio::time::Instant::now();
    let count = sessions.len().max(1) as u32;
    for (i, session) in sessions.into_iter().enumerate() {
        tokio::time::sleep_until(started + window * i as u32 / count).await;
        session.push(Outbound::Close(CloseCode::ServerShutdown));
    }
}

/// Every route.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new().route("/", get(index));
    for &(path, content_type, body) in WEB_ASSETS {
        router = router.route(
            path,
            get(move || async move { web_asset(content_type, body) }),
        );
    }
    router
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/ws", get(gateway::upgrade))
        .nest("/api/v1", api::router())
        .with_state(state)
}

/// The web UI's files (`web/`), embedded in the binary: path, content type, body.
pub const WEB_ASSETS: &[(&str, &str, &str)] = &[
    ("/app.js", JS, include_str!("../../../web/app.js")),
    ("/api.js", JS, include_str!("../../../web/api.js")),
    ("/chat.js", JS, include_str!("../../../web/chat.js")),
    ("/channel.js", JS, include_str!("../../../web/channel.js")),
    ("/codes.js", JS, include_str!("../../../web/codes.js")),
    (
        "/connection.js",
        JS,
        include_str!("../../../web/connection.js"),
    ),
    ("/outbox.js", JS, include_str!("../../../web/outbox.js")),
    ("/state.js", JS, include_str!("../../../web/state.js")),
    (
        "/transport.js",
        JS,
        include_str!("../../../web/transport.js"),
    ),
    ("/typing.js", JS, include_str!("../../../web/typing.js")),
    ("/view.js", JS, include_str!("../../../web/view.js")),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../../web/style.css"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";

/// `no-cache`: the browser revalidates, so a new binary's UI takes effect on the next load.
fn web_asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

/// The web UI's page, with a Content-Security-Policy that allows only this origin (and its
/// WebSocket, named from the `Host` header when that is a plain host name).
async fn index(headers: HeaderMap) -> impl IntoResponse {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    let ws = host.map_or(String::new(), |h| format!(" ws://{h} wss://{h}"));
    let csp = format!(
        "default-src 'self'; connect-src 'self'{ws}; img-src 'self' data:; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        include_str!("../../../web/index.html"),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(AxumState(state): AxumState<AppState>) -> impl IntoResponse {
    if state.is_shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if !state.hub.bus_connected() {
        (StatusCode::SERVICE_UNAVAILABLE, "bus disconnected")
    } else {
        (StatusCode::OK, "ready")
    }
}

async fn metrics(AxumState(state): AxumState<AppState>) -> impl IntoResponse {
    state
        .metrics
        .connections
        .set(i64::from(state.connections.load(Ordering::Relaxed)));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
