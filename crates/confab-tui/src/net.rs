//! The network side: one task that owns the SDK [`Client`] and the REST client, carries out
//! [`Command`]s and reports back as [`NetEvent`]s over a channel. The SDK does reconnect, resume,
//! outbox and dedup; this task forwards its events and connection states.

use std::time::Duration;

use confab_client::http::HistoryQuery;
use confab_client::proto::{CloseCode, ErrorCode};
use confab_client::{
    Client, ClientConfig, ClientError, ClientEvent, ConnectionState, Events, Http,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::{Command, NetEvent, PAGE_SIZE};
use crate::token::TokenStore;

/// Queued commands from the UI, at most; more are refused with a notice.
pub const COMMAND_QUEUE: usize = 256;
/// Queued reports to the UI, at most; when full, the SDK's events wait (the SDK buffers 4096 more).
pub const EVENT_QUEUE: usize = 1024;
/// Longest wait between attempts to connect with a saved token while the server is unreachable.
pub const SAVED_RETRY_CAP: Duration = Duration::from_secs(10);

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The server's base URL (`http://host:port`).
    pub server: String,
    pub tokens: TokenStore,
    /// Reconnect backoff of the SDK (first bound, and cap).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl NetConfig {
    /// The SDK's default backoff (250 ms doubling to 30 s).
    pub fn new(server: &str, tokens: TokenStore) -> NetConfig {
        NetConfig {
            server: server.trim_end_matches('/').to_owned(),
            tokens,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
        }
    }

    /// The gateway URL: `http://h:p` → `ws://h:p/ws`, `https://` → `wss://`.
    pub fn gateway_url(&self) -> String {
        if let Some(rest) = self.server.strip_prefix("https://") {
            format!("wss://{rest}/ws")
        } else if let Some(rest) = self.server.strip_prefix("http://") {
            format!("ws://{rest}/ws")
        } else {
            format!("ws://{}/ws", self.server)
        }
    }
}

/// Starts the network task (inside a tokio runtime). It first tries the saved token, then waits
/// for commands; it ends when the command sender is dropped, closing the connection.
pub fn spawn(config: NetConfig) -> (mpsc::Sender<Command>, mpsc::Receiver<NetEvent>) {
    let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
    tokio::spawn(Net::new(config, events).run(commands));
    (commands_tx, events_rx)
}

/// A live session: the SDK client, an authenticated REST client, and the forwarding tasks.
struct Session {
    client: Client,
    http: Http,
    /// The SDK's pushes, until forwarding starts.
    events: Option<Events>,
    forwarders: Vec<JoinHandle<()>>,
}

impl Session {
    async fn end(self) {
        for f in &self.forwarders {
            f.abort();
        }
        self.client.close().await;
    }
}

enum Internal {
    Connected(Box<Session>),
}

/// How to get a session.
enum Attempt {
    /// With the saved token.
    Saved(String),
    /// Log in (or register) first.
    Login {
        username: String,
        password: String,
        register: bool,
    },
}

struct Net {
    config: NetConfig,
    http: Http,
    events: mpsc::Sender<NetEvent>,
    session: Option<Session>,
    internal_tx: mpsc::Sender<Internal>,
    internal: mpsc::Receiver<Internal>,
    /// The login or saved-token attempt in flight.
    connecting: Option<JoinHandle<()>>,
}

impl Net {
    fn new(config: NetConfig, events: mpsc::Sender<NetEvent>) -> Net {
        let (internal_tx, internal) = mpsc::channel(4);
        Net {
            http: Http::new(&config.server),
            config,
            events,
            session: None,
            internal_tx,
            internal,
            connecting: None,
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        match self.config.tokens.load() {
            Ok(Some(token)) => self.start_connect(Attempt::Saved(token)),
            Ok(None) => self.report(NetEvent::NeedLogin { error: None }).await,
            Err(e) => {
                let error = format!(
                    "cannot read the saved token {}: {e}",
                    self.config.tokens.path().display()
                );
                self.report(NetEvent::NeedLogin { error: Some(error) })
                    .await
            }
        }
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command).await,
                    None => break,
                },
                Some(Internal::Connected(session)) = self.internal.recv() => {
                    self.connected(*session).await;
                }
            }
        }
        if let Some(task) = self.connecting.take() {
            task.abort();
        }
        if let Some(session) = self.session.take() {
            session.end().await;
        }
    }

    async fn report(&self, event: NetEvent) {
        let _ = self.events.send(event).await;
    }

    /// Gets a session, in a task of its own.
    fn start_connect(&mut self, attempt: Attempt) {
        let config = self.config.clone();
        let http = self.http.clone();
        let events = self.events.clone();
        let internal = self.internal_tx.clone();
        let task = tokio::spawn(async move {
            let outcome = match attempt {
                Attempt::Saved(token) => connect_saved(&config, &events, token).await,
                Attempt::Login {
                    username,
                    password,
                    register,
                } => {
                    login_and_connect(&config, &http, &events, &username, &password, register).await
                }
            };
            match outcome {
                Ok(session) => {
                    let _ = internal.send(Internal::Connected(Box::new(session))).await;
                }
                Err(event) => {
                    let _ = events.send(event).await;
                }
            }
        });
        self.connecting = Some(task);
    }

    async fn connected(&mut self, mut session: Session) {
        if let Some(old) = self.session.take() {
            old.end().await;
        }
        let channels = match session.http.channels().await {
            Ok(channels) => channels,
            Err(e) => {
                session.end().await;
                self.report(NetEvent::LoginFailed(describe(&e))).await;
                return;
            }
        };
        let ready = session.client.ready();
        self.report(NetEvent::Connected {
            me: ready.user.clone(),
            channels,
            presence: ready.presence.clone(),
        })
        .await;
        if let Some(events) = session.events.take() {
            session.forwarders.push(tokio::spawn(forward_events(
                events,
                self.events.clone(),
                self.config.tokens.clone(),
            )));
        }
        session.forwarders.push(tokio::spawn(forward_states(
            session.client.state_changes(),
            self.events.clone(),
        )));
        self.session = Some(session);
    }

    async fn command(&mut self, command: Command) {
        if let Command::Login {
            username,
            password,
            register,
        } = command
        {
            // The form shows only without a working session; a dead one is replaced.
            if let Some(old) = self.session.take() {
                old.end().await;
            }
            self.start_connect(Attempt::Login {
                username,
                password,
                register,
            });
            return;
        }
        if command == Command::Logout {
            return self.logout().await;
        }
        let Some(session) = &self.session else {
            return self.report(NetEvent::Failed("not connected".into())).await;
        };
        let client = session.client.clone();
        let http = session.http.clone();
        let events = self.events.clone();
        // Each command runs on its own so that a slow one (a send waiting out a reconnect) holds
        // up nothing else.
        tokio::spawn(async move {
            if let Some(event) = execute(command, &client, &http).await {
                let _ = events.send(event).await;
            }
        });
    }

    async fn logout(&mut self) {
        if let Some(session) = self.session.take() {
            // Best effort: the token is forgotten here even when the server cannot be told.
            let _ = tokio::time::timeout(Duration::from_secs(5), session.http.logout()).await;
            session.end().await;
        }
        let event = match self.config.tokens.forget() {
            Ok(()) => NetEvent::LoggedOut,
            Err(e) => NetEvent::NeedLogin {
                error: Some(format!(
                    "logged out, but {} could not be removed: {e}",
                    self.config.tokens.path().display()
                )),
            },
        };
        self.report(event).await;
    }
}

/// Carries out one command on a live session.
async fn execute(command: Command, client: &Client, http: &Http) -> Option<NetEvent> {
    let failed =
        |what: &str, e: &ClientError| Some(NetEvent::Failed(format!("{what}: {}", describe(e))));
    match command {
        Command::Send {
            channel,
            client_id,
            body,
        } => {
            let result = client.send_with_id(channel, &client_id, &body).await;
            Some(NetEvent::Sent {
                channel,
                client_id,
                error: result.err().map(|e| describe(&e)),
            })
        }
        Command::History { channel, before } => {
            let query = HistoryQuery {
                after: None,
                before,
                limit: Some(PAGE_SIZE),
            };
            match http.history(channel, query).await {
                Ok(page) => Some(NetEvent::History {
                    channel,
                    before,
                    page,
                }),
                Err(e) => failed("loading history", &e),
            }
        }
        Command::MarkRead { channel, seq } => match client.mark_read(channel, seq).await {
            Ok(()) => None,
            Err(e) => failed("marking read", &e),
        },
        // Typing is a hint: dropped while disconnected, and never worth an error line.
        Command::Typing { channel } => {
            let _ = client.typing(channel).await;
            None
        }
        Command::Direct { username } => match http.create_direct(&username).await {
            Ok(summary) => Some(NetEvent::Opened(summary)),
            Err(e) => failed(&format!("/dm {username}"), &e),
        },
        Command::Group { name, members } => {
            let members: Vec<&str> = members.iter().map(String::as_str).collect();
            match http.create_group(&name, &members).await {
                Ok(summary) => Some(NetEvent::Opened(summary)),
                Err(e) => failed(&format!("/group {name}"), &e),
            }
        }
        Command::Add { channel, usernames } => {
            let mut added = Vec::new();
            for username in &usernames {
                if let Err(e) = http.add_member(channel, username).await {
                    return failed(&format!("adding {username}"), &e);
                }
                added.push(username.as_str());
            }
            Some(NetEvent::Notice(format!("added {}", added.join(", "))))
        }
        Command::Leave { channel } => match http.leave(channel).await {
            Ok(()) => Some(NetEvent::Notice("left the group".into())),
            Err(e) => failed("leaving", &e),
        },
        Command::Presence { user } => match http.presence(user).await {
            Ok(p) => Some(NetEvent::Presence(p)),
            Err(_) => None,
        },
        Command::Login { .. } | Command::Logout => None,
    }
}

/// Connects with a saved token, retrying while the server cannot be reached; an expired token
/// is forgotten and the login form shown.
async fn connect_saved(
    config: &NetConfig,
    events: &mpsc::Sender<NetEvent>,
    token: String,
) -> Result<Session, NetEvent> {
    let mut delay = Duration::from_millis(500);
    loop {
        match connect(config, &token).await {
            Ok(session) => return Ok(session),
            Err(e) if is_auth_failure(&e) => {
                let _ = config.tokens.forget();
                return Err(NetEvent::NeedLogin {
                    error: Some("The saved session has expired: log in again".into()),
                });
            }
            Err(e) => {
                let _ = events
                    .send(NetEvent::Failed(format!(
                        "{}; retrying in {} s",
                        describe(&e),
                        delay.as_secs_f32().ceil()
                    )))
                    .await;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(SAVED_RETRY_CAP);
            }
        }
    }
}

async fn login_and_connect(
    config: &NetConfig,
    http: &Http,
    events: &mpsc::Sender<NetEvent>,
    username: &str,
    password: &str,
    register: bool,
) -> Result<Session, NetEvent> {
    let auth = if register {
        http.register(username, password).await
    } else {
        http.login(username, password).await
    };
    let auth = auth.map_err(|e| NetEvent::LoginFailed(describe(&e)))?;
    let session = connect(config, &auth.token)
        .await
        .map_err(|e| NetEvent::LoginFailed(describe(&e)))?;
    if let Err(e) = config.tokens.save(&auth.token) {
        // Logged in all the same; the user just has to log in again next time.
        let _ = events
            .send(NetEvent::Failed(format!(
                "cannot save the token in {}: {e}",
                config.tokens.path().display()
            )))
            .await;
    }
    Ok(session)
}

async fn connect(config: &NetConfig, token: &str) -> Result<Session, ClientError> {
    let mut client_config = ClientConfig::new(&config.gateway_url(), token);
    client_config.http_base = Some(config.server.clone());
    client_config.backoff_base = config.backoff_base;
    client_config.backoff_cap = config.backoff_cap;
    let (client, events) = Client::connect_with(client_config).await?;
    Ok(Session {
        client,
        http: Http::new(&config.server).with_token(token),
        events: Some(events),
        forwarders: Vec::new(),
    })
}

/// Forwards the SDK's pushes to the UI.
/// Forwards the SDK's pushes to the UI. When the server ends the session for good because the
/// token is no longer valid (revoked by a logout elsewhere), the token is forgotten and the login
/// form shown.
async fn forward_events(mut events: Events, to: mpsc::Sender<NetEvent>, tokens: TokenStore) {
    while let Some(event) = events.next().await {
        let revoked = matches!(
            &event,
            ClientEvent::Closed { code: Some(code), .. }
                if *code == CloseCode::AuthenticationFailed as u16
        );
        if to.send(NetEvent::Push(event)).await.is_err() {
            return;
        }
        if revoked {
            let _ = tokens.forget();
            let error = Some("The session ended (logged out elsewhere): log in again".into());
            let _ = to.send(NetEvent::NeedLogin { error }).await;
            return;
        }
    }
}

/// Forwards connection states to the UI.
async fn forward_states(
    mut states: tokio::sync::watch::Receiver<ConnectionState>,
    to: mpsc::Sender<NetEvent>,
) {
    loop {
        let state = states.borrow_and_update().clone();
        if to.send(NetEvent::State(state)).await.is_err() {
            return;
        }
        if states.changed().await.is_err() {
            return;
        }
    }
}

fn is_auth_failure(e: &ClientError) -> bool {
    match e {
        ClientError::Api(body) => body.code == ErrorCode::Unauthorized,
        ClientError::Closed { code, .. } => *code == Some(CloseCode::AuthenticationFailed as u16),
        _ => false,
    }
}

/// A short, user-facing account of an SDK error.
pub fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Api(body) => crate::text::sanitize(&body.message, false),
        ClientError::Http(e) if e.is_connect() || e.is_timeout() => {
            "cannot reach the server".into()
        }
        other => crate::text::sanitize(&other.to_string(), false),
    }
}
