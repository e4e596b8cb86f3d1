//! How a [`Client`](crate::Client) behaves: the settings an application chooses ([`ClientConfig`],
//! [`Transport`]), the fixed timings and bounds it does not, and the reconnect delay
//! ([`backoff_delay`]). Kept apart from the connection task so that every number the SDK runs on
//! can be read in one place.

use std::time::Duration;

use rand::Rng;

use crate::Http;

/// How many pushed events the SDK buffers for the application. When the application does not read
/// them, the connection task waits, stops reading the socket, and the server eventually closes the
/// connection as a slow consumer (and the client resumes).
pub const EVENT_BUFFER: usize = 4096;

/// How long connecting waits for `hello` and `ready`/`resumed`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// How many times a send failing with `unavailable` or `internal` is retried (same client id).
pub const SEND_RETRIES: usize = 6;

/// How often `delivered` confirmations are sent, at most.
pub const DELIVERED_INTERVAL: Duration = Duration::from_millis(250);

/// The SDK's reconnect delay before attempt `attempt` (from 0): exponential backoff with full
/// jitter, a random duration in `0..=min(cap, base·2^attempt)`. Public so that other clients (the
/// load generator) reconnect exactly as the SDK does.
pub fn backoff_delay(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let bound = base
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(cap);
    Duration::from_millis(rand::thread_rng().gen_range(0..=bound.as_millis() as u64))
}

/// Settings of a [`Client`](crate::Client).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway, `ws://host:port/ws`.
    pub url: String,
    pub token: String,
    /// First reconnect delay bound (doubling per failed attempt).
    pub backoff_base: Duration,
    /// Largest reconnect delay bound.
    pub backoff_cap: Duration,
    /// The REST API's base URL for filling gaps; derived from `url` when `None`.
    pub http_base: Option<String>,
    /// Unacked sends kept for re-sending; more fail at once.
    pub outbox_limit: usize,
    /// WebSocket, long polling, or WebSocket with a fallback to long polling.
    pub transport: Transport,
    /// With [`Transport::Auto`]: after this long on long polling, reconnect to try the WebSocket
    /// again.
    pub upgrade_after: Duration,
}

impl ClientConfig {
    /// Defaults: backoff 250 ms doubling to 30 s, outbox of 10,000, WebSocket with a fallback to
    /// long polling (and a new WebSocket attempt every 5 minutes on long polling).
    pub fn new(url: &str, token: &str) -> Self {
        ClientConfig {
            url: url.to_owned(),
            token: token.to_owned(),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
            http_base: None,
            outbox_limit: 10_000,
            transport: Transport::Auto,
            upgrade_after: Duration::from_secs(300),
        }
    }

    /// The REST API's base URL: `http_base`, or the one derived from the gateway URL. HTTP
    /// sessions (long polling) and gap filling both live there.
    pub(crate) fn rest_base(&self) -> String {
        self.http_base
            .clone()
            .unwrap_or_else(|| http_base(&self.url))
    }

    /// The REST client the connection task fills gaps with.
    pub(crate) fn http(&self) -> Http {
        Http::new(self.rest_base()).with_token(&self.token)
    }
}

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket only.
    WebSocket,
    /// HTTP long polling only (an HTTP session: frames posted, answers polled).
    LongPoll,
    /// WebSocket, falling back to long polling when a WebSocket cannot be opened, and trying the
    /// WebSocket again after [`ClientConfig::upgrade_after`] on long polling.
    Auto,
}

/// The REST base URL of a gateway URL (`ws://host/ws` → `http://host`).
fn http_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let url = url.strip_suffix("/ws").unwrap_or(url);
    match url.strip_prefix("wss://") {
        Some(rest) => format!("https://{rest}"),
        None => format!("http://{}", url.strip_prefix("ws://").unwrap_or(url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_base_follows_the_gateway_url() {
        let c = ClientConfig::new("ws://127.0.0.1:9000/ws", "t");
        assert_eq!(c.http().base(), "http://127.0.0.1:9000");
        let c = ClientConfig::new("wss://chat.example/ws", "t");
        assert_eq!(c.http().base(), "https://chat.example");
    }

    #[test]
    fn an_explicit_http_base_wins_over_the_derived_one() {
        let mut c = ClientConfig::new("ws://127.0.0.1:9000/ws", "t");
        c.http_base = Some("http://rest.example:8080".into());
        assert_eq!(c.rest_base(), "http://rest.example:8080");
        assert_eq!(c.http().base(), "http://rest.example:8080");
    }

    #[test]
    fn backoff_stays_within_the_doubling_bound_and_the_cap() {
        let base = Duration::from_millis(250);
        let cap = Duration::from_secs(30);
        for attempt in 0..40u32 {
            let bound = (base * 2u32.pow(attempt.min(16))).min(cap);
            for _ in 0..50 {
                assert!(
                    backoff_delay(base, cap, attempt) <= bound,
                    "attempt {attempt}"
                );
            }
        }
    }

    #[test]
    fn backoff_survives_huge_attempts_and_a_zero_base() {
        let cap = Duration::from_secs(30);
        assert!(backoff_delay(Duration::from_secs(u64::MAX / 4), cap, u32::MAX) <= cap);
        assert_eq!(backoff_delay(Duration::ZERO, cap, 7), Duration::ZERO);
    }
}
