//! A raw WebSocket, for tests that speak the protocol by hand (malformed frames, close codes, what
//! the SDK would never send). The test server and the SDK helpers are in `confab_testkit`.

use std::time::Duration;

use confab_proto::{ClientFrame, ServerFrame};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

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
