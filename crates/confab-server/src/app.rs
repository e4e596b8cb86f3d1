//! The composition root: builds the backends from [`Config`], hands them down, routes, serves,
//! and drains on shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use confab_bus::{Bus, LocalBus, NatsBus};
use confab_presence::{PresenceConfig, PresenceService};
use confab_proto::{CloseCode, ErrorCode};
use confab_store::{AdminStore, PostgresStore, SqliteStore, Store};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{BusConfig, Config, StoreConfig};
use crate::error::ApiError;
use crate::hub::{Hub, Outbound};
use crate::limit::{Admission, SendLimiter};
use crate::metrics::{Metered, Metrics};
use crate::presence::Watchers;
use crate::receipt::Receipts;
use crate::state::{stopped, AppState, State as Shared};
use crate::transport::http::Sessions;
use crate::{api, heartbeat, openapi, presence, probe, reference, retention, transport, web};

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    state: AppState,
    http_sessions: Arc<Sessions>,
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

    /// HTTP (long-poll and SSE) sessions open on this node.
    pub fn http_sessions(&self) -> usize {
        self.http_sessions.len()
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

/// Opens the store the config names (creating an SQLite file's directory if needed).
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_admin_store(config).await?)
}

/// Opens the store the config names as the server would, for its administrator's calls too.
pub(crate) async fn open_admin_store(config: &Config) -> anyhow::Result<Arc<dyn AdminStore>> {
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

pub(crate) async fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
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
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Bound first: a port in use is the commonest mistake at start, and says so before the store
    // is opened or migrated.
    let listen = config.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| cannot_listen(listen, e))?;
    let addr = listener.local_addr()?;
    let state = build(config, shutdown_rx.clone()).await?;
    retention::spawn(state.clone());
    let http_sessions = Arc::new(Sessions::default());
    let app = router(state.clone(), http_sessions.clone());
    let task = tokio::spawn(lifecycle(listener, app, state.clone(), shutdown_rx));
    tracing::info!(%addr, node_id = state.config.node_id, "confab listening");
    Ok(Server {
        addr,
        shutdown: shutdown_tx,
        task,
        state,
        http_sessions,
    })
}

/// Why the node cannot listen on `addr`, with the fix: one line for the operator.
fn cannot_listen(addr: SocketAddr, e: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::AddrInUse => {
            anyhow::anyhow!("{addr} is in use: pass --listen ADDR (or stop what listens there)")
        }
        ErrorKind::PermissionDenied => anyhow::anyhow!(
            "{addr}: permission denied (ports below 1024 need privileges): pass --listen ADDR"
        ),
        ErrorKind::AddrNotAvailable => {
            anyhow::anyhow!("{addr} is not an address of this machine: pass --listen ADDR")
        }
        _ => anyhow::Error::new(e).context(format!("cannot listen on {addr}")),
    }
}

/// Builds the shared state from `config`: the store, the bus, the hub, presence and the receipt
/// batcher, each handed the parts it needs.
pub(crate) async fn build(
    config: Config,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<AppState> {
    let metrics = Arc::new(Metrics::new());
    let store: Arc<dyn Store> = Arc::new(Metered::new(open_store(&config).await?, metrics.clone()));
    let bus: Arc<dyn Bus> = Arc::new(Metered::new(open_bus(&config).await?, metrics.clone()));
    let hub = Hub::new(bus.clone(), store.clone(), metrics.clone());
    let presence_config = PresenceConfig {
        node_id: config.node_id,
        interval: config.presence_interval,
    };
    let (presence, presence_changes) = PresenceService::start(bus.clone(), presence_config)
        .await
        .context("starting presence")?;
    let watchers = Arc::new(Watchers::default());
    presence::spawn_router(presence_changes, watchers.clone(), store.clone());
    let receipts = Receipts::spawn(
        store.clone(),
        hub.clone(),
        metrics.clone(),
        config.receipt_group_size,
    );
    let state = Arc::new(Shared {
        limiter: SendLimiter::new(config.send_rate, config.send_burst),
        admission: Admission::new(
            config.identify_rate,
            config.identify_burst,
            config.resume_rate,
            config.resume_burst,
        ),
        receipts,
        presence,
        watchers,
        connections: AtomicU32::new(0),
        next_session: AtomicU64::new(1),
        hash_permits: Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
        shutdown,
        started: tokio::time::Instant::now(),
        config,
        store,
        hub,
        metrics,
    });
    heartbeat::spawn(state.clone());
    Ok(state)
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
        // No Nagle delay: a frame is small and written when it is due (several queued frames go
        // out in one flush); left on, a lone frame waits for the peer's delayed ACK (~40 ms).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        // `into_make_service`: each connection gets a clone of the router's `Arc`; served as a
        // plain `Router`, axum rebuilds every route for each connection (a 17 KB allocation and a
        // boxed clone per handler, measured), which costs CPU per connect and memory during a
        // reconnect storm.
        axum::serve(listener, app.into_make_service())
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

/// Every route: the web UI, the API reference, probes and metrics, the WebSocket gateway, and under
/// `/api/v1` the REST API, the HTTP transport's sessions and the OpenAPI document.
fn router(state: AppState, http_sessions: Arc<Sessions>) -> Router {
    let v1 = api::router()
        .merge(transport::http::router(http_sessions))
        .route("/openapi.json", get(openapi::serve))
        .fallback(no_such_endpoint);
    web::router()
        .merge(reference::router())
        .route("/healthz", get(probe::healthz))
        .route("/readyz", get(probe::readyz))
        .route("/metrics", get(probe::metrics))
        .route("/ws", get(transport::ws::upgrade))
        .nest("/api/v1", v1)
        .with_state(state)
}

async fn no_such_endpoint() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}
