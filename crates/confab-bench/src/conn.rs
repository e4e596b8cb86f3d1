//! The lean WebSocket client: one socket per connection, bound to a chosen source address, small
//! buffers, and the handshake (`hello`, then `identify` → `ready` or `resume` → `resumed`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use confab_proto::CloseCode;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::frame::Incoming;

/// A benchmark connection's socket.
pub type Ws = WebSocketStream<TcpStream>;

/// How long a handshake (TCP, upgrade, `hello`, `ready`) may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connection could not be opened. The one error type of this crate: it decides whether
/// the generator retries.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server refused for now: `503` on the upgrade, or close 4006 `overloaded`.
    #[error("refused by the server (retry after {retry_after:?}): {why}")]
    Refused { retry_after: Duration, why: String },
    /// The token was not accepted (close 4100).
    #[error("authentication failed (4100): the accounts cache does not match this server; delete the --accounts file")]
    Auth,
    /// Any other close.
    #[error("closed by the server ({code}): {reason}")]
    Closed { code: u16, reason: String },
    /// The socket or the WebSocket failed.
    #[error("connection failed: {0}")]
    Io(String),
    /// No answer in time.
    #[error("handshake timed out")]
    Timeout,
}

impl From<std::io::Error> for ConnectError {
    fn from(e: std::io::Error) -> Self {
        ConnectError::Io(e.to_string())
    }
}

impl From<tungstenite::Error> for ConnectError {
    fn from(e: tungstenite::Error) -> Self {
        if let tungstenite::Error::Http(response) = &e {
            if response.status().as_u16() == 503 {
                let secs = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                return ConnectError::Refused {
                    retry_after: Duration::from_secs(secs),
                    why: "HTTP 503 (connection limit or draining)".into(),
                };
            }
        }
        ConnectError::Io(e.to_string())
    }
}

/// One server to drive.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http://host:port`.
    pub base: String,
    /// The resolved address.
    pub addr: SocketAddr,
    /// `ws://host:port/ws`.
    pub ws_url: String,
}

impl Endpoint {
    /// Resolves a base URL like `http://127.0.0.1:8080`.
    pub async fn resolve(base: &str) -> anyhow::Result<Endpoint> {
        let base = base.trim_end_matches('/').to_owned();
        let host = base
            .strip_prefix("http://")
            .with_context(|| format!("--server {base}: only http:// URLs are supported"))?;
        let addr = tokio::net::lookup_host(host)
            .await
            .with_context(|| format!("resolving {host}"))?
            .find(SocketAddr::is_ipv4)
            .with_context(|| format!("{host} has no IPv4 address"))?;
        Ok(Endpoint {
            ws_url: format!("ws://{host}/ws"),
            base,
            addr,
        })
    }

    /// Resolves every `--server`.
    pub async fn resolve_all(bases: &[String]) -> anyhow::Result<Vec<Endpoint>> {
        let mut out = Vec::with_capacity(bases.len());
        for b in bases {
            out.push(Endpoint::resolve(b).await?);
        }
        anyhow::ensure!(!out.is_empty(), "give at least one --server");
        Ok(out)
    }

    /// The source address of connection `index`: 127.0.0.2 … 127.0.0.(count+1) round robin when
    /// the server is on loopback, so each address brings its own ~28,000 ephemeral ports.
    pub fn source(&self, index: usize, count: u8) -> Option<IpAddr> {
        if count == 0 || !self.addr.ip().is_loopback() {
            return None;
        }
        let k = 2 + (index % count as usize) as u8;
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, k)))
    }
}

/// Opens a WebSocket to `endpoint` from `source` with small buffers.
pub async fn open(endpoint: &Endpoint, source: Option<IpAddr>) -> Result<Ws, ConnectError> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(endpoint.addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(endpoint.ws_url.as_str(), stream, Some(config))
            .await?;
    Ok(ws)
}

/// Sends `first` (`identify` or `resume`) and reads until `ready` or `resumed`, handing every
/// frame before it (replayed events) to `on_frame`. Returns the `ready`/`resumed` frame's
/// `(channel, last_seq)` pairs (`ready` only; empty for `resumed`).
pub async fn authenticate(
    ws: &mut Ws,
    first: String,
    mut on_frame: impl FnMut(&Incoming<'_>),
) -> Result<Vec<(String, u64)>, ConnectError> {
    let work = async {
        ws.send(Message::text(first)).await?;
        loop {
            let Some(msg) = ws.next().await else {
                return Err(ConnectError::Io("connection ended in the handshake".into()));
            };
            match msg? {
                Message::Text(text) => {
                    let Some(frame) = Incoming::parse(text.as_str()) else {
                        continue;
                    };
                    match frame.op() {
                        "ready" => {
                            let channels = frame.channels.unwrap_or_default();
                            return Ok(channels
                                .iter()
                                .map(|c| (c.id.to_owned(), c.last_seq))
                                .collect());
                        }
                        "resumed" => return Ok(Vec::new()),
                        _ => on_frame(&frame),
                    }
                }
                Message::Close(close) => return Err(close_error(close)),
                _ => {}
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .unwrap_or(Err(ConnectError::Timeout))
}

/// The error a close frame stands for.
pub fn close_error(close: Option<tungstenite::protocol::CloseFrame>) -> ConnectError {
    let Some(close) = close else {
        return ConnectError::Closed {
            code: 1005,
            reason: "no close code".into(),
        };
    };
    let code = u16::from(close.code);
    let reason = close.reason.to_string();
    match code {
        4006 => ConnectError::Refused {
            retry_after: CloseCode::retry_hint(&reason).unwrap_or(Duration::from_secs(1)),
            why: "4006 overloaded (admission control: raise --identify-rate/--identify-burst or --resume-rate/--resume-burst)".into(),
        },
        4100 => ConnectError::Auth,
        _ => ConnectError::Closed { code, reason },
    }
}

/// Opens and authenticates with `identify`, retrying refusals (after the server's hint, at most
/// `attempts` times, each counted in `refusals`). Returns the socket and the `ready` channels.
pub async fn connect_identified(
    endpoint: &Endpoint,
    source: Option<IpAddr>,
    token: &str,
    attempts: usize,
    mut on_refusal: impl FnMut(),
) -> Result<(Ws, Vec<(String, u64)>), ConnectError> {
    let mut tries = 0;
    loop {
        let result = async {
            let mut ws = open(endpoint, source).await?;
            let channels = authenticate(&mut ws, crate::frame::identify(token), |_| {}).await?;
            Ok::<_, ConnectError>((ws, channels))
        }
        .await;
        match result {
            Err(ConnectError::Refused { retry_after, why }) => {
                on_refusal();
                tries += 1;
                if tries >= attempts {
                    return Err(ConnectError::Refused { retry_after, why });
                }
                tokio::time::sleep(retry_after).await;
            }
            other => return other,
        }
    }
}
