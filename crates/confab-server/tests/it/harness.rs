//! Starting servers and clients for tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use confab_client::{Client, ClientEvent, Events, Http};
use confab_proto::{ClientFrame, Event, Presence, ServerFrame, UserId};
use confab_server::{Config, Server};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

pub const PASSWORD: &str = "correct horse battery";

/// A server on a free port with its own database, and what tests need to talk to it.
pub struct TestServer {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub http: Http,
    pub ws: String,
    pub base: String,
}

/// Settings for tests: generous send limits so the rate limit only bites where a test wants it.
pub fn test_config(db: &Path) -> Config {
    let mut config = Config::for_test("127.0.0.1:0".parse().expect("addr"), db);
    config.send_rate = 100_000.0;
    config.send_burst = 100_000;
    config
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(&dir.path().join("confab.db"));
        tweak(&mut config);
        Self::start_in(dir, config).await
    }

    pub async fn start_in(dir: tempfile::TempDir, config: Config) -> TestServer {
        let server = confab_server::start(config).await.expect("server starts");
        let base = format!("http://{}", server.addr());
        TestServer {
            ws: format!("ws://{}/ws", server.addr()),
            http: Http::new(&base),
            base,
            server: Some(server),
            dir,
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().expect("running").addr()
    }

    /// An SDK client through `url` (a proxy) with fast backoff, filling gaps from this server.
    pub async fn connect_via(&self, url: &str, token: &str) -> (Client, Events) {
        let mut config = confab_client::ClientConfig::new(url, token);
        config.backoff_base = Duration::from_millis(20);
        config.backoff_cap = Duration::from_millis(500);
        config.http_base = Some(self.base.clone());
        // WebSocket only: these tests cut the WebSocket path on purpose, and a fallback to long
        // polling (which would go around the proxy, straight to the server) would defeat them.
        config.transport = confab_client::Transport::WebSocket;
        Client::connect_with(config)
            .await
            .expect("connect via proxy")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("confab.db")
    }

    /// Registers `name` and returns an authenticated REST client and the token.
    pub async fn user(&self, name: &str) -> (Http, String, confab_proto::User) {
        let auth = self.http.register(name, PASSWORD).await.expect("register");
        (self.http.with_token(&auth.token), auth.token, auth.user)
    }

    pub async fn connect(&self, token: &str) -> (Client, Events) {
        Client::connect(&self.ws, token).await.expect("connect")
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

/// The next channel event (skipping other pushes), failing after 10 s.
pub async fn next_event(events: &mut Events) -> Event {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.next()).await {
            Ok(Some(ClientEvent::Event(e))) => return e,
            Ok(Some(ClientEvent::Closed { code, reason })) => panic!("closed: {code:?} {reason}"),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event stream ended"),
            Err(_) => panic!("no event within 10 s"),
        }
    }
}

/// The next presence report about `user`, skipping everything else.
pub async fn presence_of(events: &mut Events, user: UserId) -> Presence {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("presence within 10 s")
            .expect("open")
        {
            ClientEvent::Presence(p) if p.user_id == user => return p,
            ClientEvent::Closed { code, reason } => panic!("closed: {code:?} {reason}"),
            _ => {}
        }
    }
}

/// Receipts, presence and typing come and go with what other sessions do.
pub fn is_ephemeral(push: &ClientEvent) -> bool {
    matches!(
        push,
        ClientEvent::Receipt(_) | ClientEvent::Presence(_) | ClientEvent::Typing { .. }
    )
}

/// The next push other than a receipt (receipts come and go with delivery), failing after 10 s.
pub async fn next_push(events: &mut Events) -> ClientEvent {
    loop {
        let push = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("a push within 10 s")
            .expect("stream open");
        if !is_ephemeral(&push) {
            return push;
        }
    }
}

/// Asserts nothing but receipts, presence or typing arrives for a moment.
pub async fn quiet(events: &mut Events) {
    let until = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(push)) = tokio::time::timeout_at(until, events.next()).await {
        if !is_ephemeral(&push) {
            panic!("expected nothing, got {push:?}");
        }
    }
}

/// A raw WebSocket, for tests that speak the protocol by hand.
pub struct Raw {
    pub socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// How a raw connection ended, or what came next.
#[derive(Debug)]
pub enum RawNext {
    Frame(ServerFrame),
    Closed(Option<u16>),
}

impl Raw {
    /// Connects and reads `hello`.
    pub async fn connect(url: &str) -> Raw {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        let mut raw = Raw { socket };
        match raw.next().await {
            RawNext::Frame(ServerFrame::Hello(_)) => {}
            other => panic!("expected hello, got {other:?}"),
        }
        raw
    }

    /// Connects, identifies and reads `ready`.
    pub async fn identified(url: &str, token: &str) -> Raw {
        let mut raw = Raw::connect(url).await;
        raw.send(&ClientFrame::Identify {
            token: token.into(),
        })
        .await;
        match raw.next().await {
            RawNext::Frame(ServerFrame::Ready(_)) => {}
            other => panic!("expected ready, got {other:?}"),
        }
        raw
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&serde_json::to_string(frame).expect("json"))
            .await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.expect("send");
    }

    /// The next frame or the close, failing after 10 s.
    pub async fn next(&mut self) -> RawNext {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("something within 10 s");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return RawNext::Frame(serde_json::from_str(t.as_str()).expect("server frame"))
                }
                Some(Ok(Message::Close(f))) => {
                    return RawNext::Closed(f.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return RawNext::Closed(None),
            }
        }
    }

    /// Skips frames until the connection closes; returns the close code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            if let RawNext::Closed(code) = self.next().await {
                return code;
            }
        }
    }
}
