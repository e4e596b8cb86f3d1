//! The WebSocket transport: one text message per frame each way, the server's close frame
//! carrying the close code.

use confab_proto::{ClientFrame, ServerFrame};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Ending;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open WebSocket to the gateway.
pub(crate) struct WsConn {
    socket: Box<Socket>,
}

impl WsConn {
    /// Opens the socket. A refused upgrade (`503` when the node is full or draining) carries the
    /// server's `Retry-After`.
    pub(super) async fn connect(url: &str) -> Result<Self, Ending> {
        // No Nagle delay (`true`): a lone frame goes out at once instead of waiting for the
        // server's delayed ACK.
        match tokio_tungstenite::connect_async_with_config(url, None, true).await {
            Ok((socket, _)) => Ok(WsConn {
                socket: Box::new(socket),
            }),
            Err(tungstenite::Error::Http(response)) => Err(Ending::refused(
                "upgrade",
                response.status(),
                response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
            )),
            Err(e) => Err(Ending::retry(e.to_string())),
        }
    }

    pub(super) async fn send(&mut self, frame: &ClientFrame) -> Result<(), Ending> {
        self.socket
            .send(Message::text(encode(frame)))
            .await
            .map_err(|e| Ending::retry(e.to_string()))
    }

    /// The next text message as a frame; other messages (pings, pongs, binary) are skipped.
    pub(super) async fn next(&mut self) -> Result<ServerFrame, Ending> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).map_err(Ending::bad_frame)
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(Ending::from_close(code, reason));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(Ending::retry(e.to_string())),
                None => return Err(Ending::retry("connection lost")),
            }
        }
    }

    pub(super) async fn close(&mut self) {
        let bye = CloseFrame {
            code: WsCloseCode::Normal,
            reason: "bye".into(),
        };
        let _ = WebSocketStream::close(&mut self.socket, Some(bye)).await;
    }
}

fn encode(frame: &ClientFrame) -> String {
    // Client frames are plain structs of strings and numbers: serializing cannot fail.
    serde_json::to_string(frame).unwrap_or_default()
}
