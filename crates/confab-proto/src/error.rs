//! Error codes (in error frames and HTTP error bodies) and WebSocket close codes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a request failed. Sent as a number in `code`, with its name in `error`.
///
/// Codes are stable: a code's meaning never changes, and new codes are only ever added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// Something went wrong on the server. Retrying may help. HTTP 500.
    Internal = 1000,
    /// The frame or body is not valid JSON, or a field is missing or invalid. HTTP 400.
    BadRequest = 1001,
    /// The frame's `op` is not one this server knows. Gateway only.
    UnknownOp = 1002,
    /// The token is missing, malformed or revoked; or the password is wrong. HTTP 401.
    Unauthorized = 1003,
    /// Authenticated, but not allowed: not a member, not an admin. HTTP 403.
    Forbidden = 1004,
    /// No such user or channel (or not visible to you). HTTP 404.
    NotFound = 1005,
    /// The resource already exists (a taken username). HTTP 409.
    Conflict = 1006,
    /// Too many requests; `retry_after_ms` says when to try again. HTTP 429.
    RateLimited = 1007,
    /// The message body is longer than the server's limit. HTTP 413.
    TooLarge = 1008,
    /// A configured limit was reached (members per group). HTTP 422.
    LimitExceeded = 1009,
    /// A dependency (the store) is unavailable; the request changed nothing and may be retried. HTTP 503.
    Unavailable = 1010,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::Internal,
        ErrorCode::BadRequest,
        ErrorCode::UnknownOp,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::TooLarge,
        ErrorCode::LimitExceeded,
        ErrorCode::Unavailable,
    ];

    /// The numeric code.
    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// The code's stable name, as in the `error` field.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Internal => "internal",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status the REST API answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Internal => 500,
            ErrorCode::BadRequest | ErrorCode::UnknownOp => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::RateLimited => 429,
            ErrorCode::TooLarge => 413,
            ErrorCode::LimitExceeded => 422,
            ErrorCode::Unavailable => 503,
        }
    }

    /// Looks a numeric code up.
    pub fn from_u16(code: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_u16() == code)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u16::deserialize(d)?;
        // An unknown code from a newer server is still an error; treat it as internal.
        Ok(ErrorCode::from_u16(n).unwrap_or(ErrorCode::Internal))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .description(Some("Numeric error code; see docs/protocol.md"))
            .enum_values(Some(ErrorCode::ALL.map(|c| c.as_u16())))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ErrorCode {}

/// The error of a failed request: in an `error` frame, and as `{"error": …}` in an HTTP body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// The code's name (`rate_limited`), for people reading logs.
    pub error: String,
    /// A human-readable explanation. Not stable; do not match on it.
    pub message: String,
    /// For `rate_limited`: milliseconds to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// An error body for `code` with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            error: code.name().to_owned(),
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

/// WebSocket close codes the server uses.
///
/// `4000–4099` is the **reconnect** range: the client should reconnect (with backoff) and carry on.
/// `4100–4199` is the **terminal** range: reconnecting as before will fail the same way; the client
/// must change something first (log in again, fix its frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CloseCode {
    /// The server failed internally. Reconnect.
    InternalError = 4000,
    /// No frame arrived within the heartbeat timeout. Reconnect.
    HeartbeatTimeout = 4001,
    /// The client read too slowly and its outbound queue filled. Reconnect and catch up.
    SlowConsumer = 4002,
    /// The node is shutting down or draining. Reconnect (to another node).
    ServerShutdown = 4003,
    /// No `identify` arrived within the identify deadline. Reconnect.
    IdentifyTimeout = 4004,
    /// Too many frames over the rate limit. Reconnect after the backoff.
    RateLimited = 4005,
    /// The node admits no more sessions right now (reconnect storm). The reason carries
    /// `retry_after_ms=N`: reconnect, to this or another node, no sooner than that.
    Overloaded = 4006,
    /// The token is invalid or revoked. Log in again.
    AuthenticationFailed = 4100,
    /// A frame other than `identify` or `heartbeat` arrived before `identify`.
    NotIdentified = 4101,
    /// A second `identify` (or `resume`) on the same connection.
    AlreadyIdentified = 4102,
    /// A frame larger than the server's frame limit.
    FrameTooLarge = 4103,
    /// Too many invalid frames (bad JSON, unknown ops, binary frames).
    ProtocolViolation = 4104,
    /// The session's token was revoked (logout).
    SessionRevoked = 4105,
}

impl CloseCode {
    /// Every code, in numeric order.
    pub const ALL: [CloseCode; 13] = [
        CloseCode::InternalError,
        CloseCode::HeartbeatTimeout,
        CloseCode::SlowConsumer,
        CloseCode::ServerShutdown,
        CloseCode::IdentifyTimeout,
        CloseCode::RateLimited,
        CloseCode::Overloaded,
        CloseCode::AuthenticationFailed,
        CloseCode::NotIdentified,
        CloseCode::AlreadyIdentified,
        CloseCode::FrameTooLarge,
        CloseCode::ProtocolViolation,
        CloseCode::SessionRevoked,
    ];

    /// The numeric code.
    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// Looks a numeric code up.
    pub fn from_u16(code: u16) -> Option<CloseCode> {
        CloseCode::ALL.into_iter().find(|c| c.as_u16() == code)
    }

    /// The short reason sent in the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::InternalError => "internal_error",
            CloseCode::HeartbeatTimeout => "heartbeat_timeout",
            CloseCode::SlowConsumer => "slow_consumer",
            CloseCode::ServerShutdown => "server_shutdown",
            CloseCode::IdentifyTimeout => "identify_timeout",
            CloseCode::RateLimited => "rate_limited",
            CloseCode::Overloaded => "overloaded",
            CloseCode::AuthenticationFailed => "authentication_failed",
            CloseCode::NotIdentified => "not_identified",
            CloseCode::AlreadyIdentified => "already_identified",
            CloseCode::FrameTooLarge => "frame_too_large",
            CloseCode::ProtocolViolation => "protocol_violation",
            CloseCode::SessionRevoked => "session_revoked",
        }
    }

    /// Whether a client should reconnect after this code (the `4000–4099` range). Any code this
    /// crate does not know is judged by its range, so older clients handle newer servers.
    pub fn should_reconnect(code: u16) -> bool {
        (4000..4100).contains(&code) || code < 4000
    }

    /// The reason of a close that asks the client to wait: `overloaded retry_after_ms=N`.
    pub fn reason_with_retry(self, retry_after: Duration) -> String {
        format!(
            "{} retry_after_ms={}",
            self.reason(),
            retry_after.as_millis()
        )
    }

    /// The wait a close reason asks for (`retry_after_ms=N`, digits only), if any.
    pub fn retry_hint(reason: &str) -> Option<Duration> {
        let rest = reason.split("retry_after_ms=").nth(1)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().map(Duration::from_millis)
    }
}
