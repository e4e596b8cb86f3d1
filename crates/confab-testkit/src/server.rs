//! The port-0 test server: a real `confab_server` started in-process on 127.0.0.1 with a
//! throwaway data directory, and what a test needs to talk to it (REST, WebSocket URL, users, SDK
//! clients). The server, TUI and bench test suites all start their servers through here, so the
//! test settings are chosen once.

use std::net::SocketAddr;
use std::time::Duration;

use confab_client::proto::User;
use confab_client::{Client, ClientConfig, Events, Http, Transport};
use confab_server::{Config, Server};

use crate::push::PATIENCE;

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// A server on a free port with its own database, and what tests need to talk to it.
#[derive(Debug)]
pub struct TestServer {
    /// `None` once stopped.
    pub server: Option<Server>,
    /// Holds the SQLite database (and anything else a test keeps beside it); removed on drop.
    pub dir: tempfile::TempDir,
    /// A REST client without a token.
    pub http: Http,
    /// `ws://<addr>/ws`.
    pub ws: String,
    /// `http://<addr>`.
    pub base: String,
    /// Where it listens; kept so that a restart comes back on the same address.
    addr: SocketAddr,
    /// What it was started with; a restart reuses it.
    config: Config,
}

/// Settings for tests: generous send limits so the rate limit only bites where a test wants it.
fn test_config(dir: &tempfile::TempDir) -> Config {
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = Config::for_test(listen, &dir.path().join("confab.db"));
    config.send_rate = 100_000.0;
    config.send_burst = 100_000;
    config
}

impl TestServer {
    /// Starts one with the test settings.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts one with the test settings as changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(&dir);
        tweak(&mut config);
        let server = confab_server::start(config.clone())
            .await
            .expect("server starts");
        let addr = server.addr();
        let base = format!("http://{addr}");
        TestServer {
            ws: format!("ws://{addr}/ws"),
            http: Http::new(&base),
            base,
            server: Some(server),
            dir,
            addr,
            config,
        }
    }

    /// The address it listens on (also after [`TestServer::stop`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers `name` and returns an authenticated REST client, the token and the user.
    pub async fn user(&self, name: &str) -> (Http, String, User) {
        let auth = self.http.register(name, PASSWORD).await.expect("register");
        (self.http.with_token(&auth.token), auth.token, auth.user)
    }

    /// An SDK client on this server's WebSocket URL, with the SDK's default settings.
    pub async fn connect(&self, token: &str) -> (Client, Events) {
        Client::connect(&self.ws, token).await.expect("connect")
    }

    /// An SDK client through `url` (a proxy) with fast backoff, filling gaps from this server.
    pub async fn connect_via(&self, url: &str, token: &str) -> (Client, Events) {
        let mut config = ClientConfig::new(url, token);
        config.backoff_base = Duration::from_millis(20);
        config.backoff_cap = Duration::from_millis(500);
        config.http_base = Some(self.base.clone());
        // WebSocket only: these tests cut the WebSocket path on purpose, and a fallback to long
        // polling (which would go around the proxy, straight to the server) would defeat them.
        config.transport = Transport::WebSocket;
        Client::connect_with(config)
            .await
            .expect("connect via proxy")
    }

    /// Shuts it down cleanly (a drain), failing the test if that fails. Does nothing when stopped.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }

    /// Stops it if it runs, then starts it again on the same address with the same data and
    /// settings. Retries for a while: the old port may take a moment to be free again.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut config = self.config.clone();
        config.listen = self.addr;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match confab_server::start(config.clone()).await {
                Ok(server) => {
                    self.server = Some(server);
                    return;
                }
                Err(e) if tokio::time::Instant::now() < deadline => {
                    eprintln!("server start failed ({e:#}); retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("server does not start: {e:#}"),
            }
        }
    }
}
