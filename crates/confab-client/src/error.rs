//! The SDK's error type.

use confab_proto::ErrorBody;

/// Why an SDK call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request with a documented error code.
    #[error("server error {} ({}): {}", .0.code.as_u16(), .0.error, .0.message)]
    Api(ErrorBody),
    /// The HTTP request failed before the server answered (connection refused, timeout).
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The WebSocket failed.
    #[error("websocket: {0}")]
    WebSocket(Box<tokio_tungstenite::tungstenite::Error>),
    /// The server closed the connection. `code` is a Confab close code (see `CloseCode`).
    #[error("connection closed ({code:?}): {reason}")]
    Closed { code: Option<u16>, reason: String },
    /// The server said something this SDK did not expect.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        ClientError::WebSocket(Box::new(e))
    }
}

impl ClientError {
    /// The server's error body, when the server refused the request.
    pub fn api(&self) -> Option<&ErrorBody> {
        match self {
            ClientError::Api(body) => Some(body),
            _ => None,
        }
    }
}

/// The SDK's result type.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
