//! What the connection task needs of a transport, and nothing more: open a connection and read
//! its `hello` ([`open`]), send a frame, read the next frame, close ([`Conn`]); and how an attempt
//! or a connection ended ([`Ending`]), judged the same way whichever transport carried it.
//!
//! Two transports carry the same session protocol (docs/protocol.md §2.7): [`ws`], the WebSocket,
//! and [`long_poll`], an HTTP session read by long polling. [`Transport::Auto`] picks between them
//! here, so the connection task never knows which one it is on.

mod long_poll;
mod ws;

use std::fmt::Display;
use std::time::Duration;

use confab_proto::{ClientFrame, CloseCode, Hello, ServerFrame};
use tokio::time::Instant;

use crate::{ClientConfig, Transport};

/// Why a connection attempt or a connection ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Try again, not before `hint`.
    Retry { hint: Duration, reason: String },
    /// Do not try again.
    Fatal { code: Option<u16>, reason: String },
    /// The application closed the client.
    Closed,
}

impl Ending {
    /// Try again, as soon as the backoff allows: the server gave no hint.
    pub(crate) fn retry(reason: impl Into<String>) -> Self {
        Ending::Retry {
            hint: Duration::ZERO,
            reason: reason.into(),
        }
    }

    /// The server closed the connection with `code` (a Confab close code, docs/protocol.md §8):
    /// terminal codes end the client, every other code or none is retried, no sooner than a
    /// `retry_after_ms=N` in the reason.
    pub(crate) fn from_close(code: Option<u16>, reason: String) -> Self {
        match code {
            Some(c) if !CloseCode::should_reconnect(c) => Ending::Fatal { code, reason },
            _ => {
                let hint = CloseCode::retry_hint(&reason).unwrap_or_default();
                Ending::Retry { hint, reason }
            }
        }
    }

    /// The server refused to open a connection (`what`: the upgrade, the session) with HTTP
    /// `status`, and a `Retry-After` header's value if it sent one.
    fn refused(what: &str, status: impl Display, retry_after_header: Option<&str>) -> Self {
        Ending::Retry {
            hint: retry_after(retry_after_header),
            reason: format!("{what} refused: HTTP {status}"),
        }
    }

    /// The server sent a frame this SDK cannot read.
    fn bad_frame(e: serde_json::Error) -> Self {
        Ending::retry(format!("bad frame from server: {e}"))
    }

    /// Whether [`Transport::Auto`] should try long polling after a WebSocket attempt ended so.
    /// A server that answered and asked for patience, or closed for good, is not a reason to
    /// change transport.
    fn falls_back(&self) -> bool {
        match self {
            Ending::Retry { hint, .. } => hint.is_zero(),
            Ending::Fatal { .. } => false,
            Ending::Closed => true,
        }
    }
}

/// A `Retry-After` header's seconds (zero when absent or not a number).
fn retry_after(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default()
}

/// A live connection over either transport.
pub(crate) enum Conn {
    Ws(ws::WsConn),
    Poll(long_poll::PollConn),
}

impl Conn {
    /// Sends one frame; an error means the connection is gone.
    pub(crate) async fn send_frame(&mut self, frame: &ClientFrame) -> Result<(), Ending> {
        match self {
            Conn::Ws(ws) => ws.send(frame).await,
            Conn::Poll(poll) => poll.send(frame).await,
        }
    }

    /// The next frame from the server. Cancel-safe on both transports: a read dropped by a
    /// `select!` loses nothing.
    pub(crate) async fn next_frame(&mut self) -> Result<ServerFrame, Ending> {
        match self {
            Conn::Ws(ws) => ws.next().await,
            Conn::Poll(poll) => poll.next().await,
        }
    }

    /// Ends the session politely (a close frame, or deleting the HTTP session).
    pub(crate) async fn close(&mut self) {
        match self {
            Conn::Ws(ws) => ws.close().await,
            Conn::Poll(poll) => poll.close().await,
        }
    }

    /// Reads the `hello` every session starts with.
    async fn greeted(mut self) -> Result<(Conn, Hello), Ending> {
        match self.next_frame().await? {
            ServerFrame::Hello(hello) => Ok((self, hello)),
            other => Err(Ending::retry(format!("expected hello, got {other:?}"))),
        }
    }
}

/// Which transport the client is on, for [`Transport::Auto`].
#[derive(Debug, Default)]
pub(crate) struct Upgrade {
    /// Since when the client has been on long polling, if it is.
    polling_since: Option<Instant>,
}

impl Upgrade {
    /// Whether it is time to leave long polling (taken by fallback) and try the WebSocket again.
    pub(crate) fn due(&self, config: &ClientConfig, now: Instant) -> bool {
        config.transport == Transport::Auto
            && self
                .polling_since
                .is_some_and(|t| now.saturating_duration_since(t) >= config.upgrade_after)
    }
}

/// Opens a connection over the configured transport and reads its `hello`.
pub(crate) async fn open(
    config: &ClientConfig,
    upgrade: &mut Upgrade,
) -> Result<(Conn, Hello), Ending> {
    match config.transport {
        Transport::WebSocket => open_ws(&config.url).await,
        Transport::LongPoll => open_poll(&config.rest_base()).await,
        Transport::Auto => match open_ws(&config.url).await {
            Ok(opened) => {
                upgrade.polling_since = None;
                Ok(opened)
            }
            // Long polling only when the WebSocket itself failed: the node answers HTTP and is
            // ready, yet the upgrade did not work (a proxy that breaks WebSockets). A node that is
            // down, starting or draining fails both ways, and the next attempt tries the
            // WebSocket again.
            Err(e) if !e.falls_back() || !node_ready(&config.rest_base()).await => Err(e),
            Err(_) => {
                let opened = open_poll(&config.rest_base()).await?;
                upgrade.polling_since.get_or_insert_with(Instant::now);
                Ok(opened)
            }
        },
    }
}

/// Whether the node at the REST base `base` answers `GET /readyz` with a success.
async fn node_ready(base: &str) -> bool {
    let probe = reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    probe.is_ok_and(|r| r.status().is_success())
}

async fn open_ws(url: &str) -> Result<(Conn, Hello), Ending> {
    Conn::Ws(ws::WsConn::connect(url).await?).greeted().await
}

async fn open_poll(base: &str) -> Result<(Conn, Hello), Ending> {
    Conn::Poll(long_poll::PollConn::create(base).await?)
        .greeted()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_headers_are_seconds_or_nothing() {
        assert_eq!(retry_after(Some("3")), Duration::from_secs(3));
        assert_eq!(retry_after(Some(" 5 ")), Duration::from_secs(5));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::ZERO
        );
        assert_eq!(retry_after(None), Duration::ZERO);
    }

    #[test]
    fn terminal_codes_stop_and_others_retry() {
        assert!(matches!(
            Ending::from_close(Some(4100), "authentication_failed".into()),
            Ending::Fatal { .. }
        ));
        assert!(matches!(
            Ending::from_close(Some(4003), "server_shutdown".into()),
            Ending::Retry { .. }
        ));
        assert!(matches!(
            Ending::from_close(None, String::new()),
            Ending::Retry { .. }
        ));
        match Ending::from_close(Some(4006), "overloaded retry_after_ms=500".into()) {
            Ending::Retry { hint, .. } => assert_eq!(hint, Duration::from_millis(500)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refusal_carries_the_retry_after_hint() {
        match Ending::refused("upgrade", 503, Some("4")) {
            Ending::Retry { hint, reason } => {
                assert_eq!(hint, Duration::from_secs(4));
                assert_eq!(reason, "upgrade refused: HTTP 503");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auto_falls_back_only_when_the_websocket_failed_without_a_word() {
        assert!(Ending::retry("connection refused").falls_back());
        assert!(Ending::refused("upgrade", 404, None).falls_back());
        assert!(!Ending::refused("upgrade", 503, Some("2")).falls_back());
        assert!(
            !Ending::from_close(Some(4006), "overloaded retry_after_ms=10".into()).falls_back()
        );
        assert!(!Ending::from_close(Some(4100), "authentication_failed".into()).falls_back());
    }

    #[test]
    fn the_websocket_is_tried_again_only_after_upgrade_after_on_fallback() {
        let mut config = ClientConfig::new("ws://h/ws", "t");
        let start = Instant::now();
        let on_ws = Upgrade::default();
        assert!(!on_ws.due(&config, start + Duration::from_secs(3600)));
        let polling = Upgrade {
            polling_since: Some(start),
        };
        assert!(!polling.due(
            &config,
            start + config.upgrade_after - Duration::from_millis(1)
        ));
        assert!(polling.due(&config, start + config.upgrade_after));
        // Long polling chosen outright is never left.
        config.transport = Transport::LongPoll;
        assert!(!polling.due(&config, start + Duration::from_secs(3600)));
    }
}
