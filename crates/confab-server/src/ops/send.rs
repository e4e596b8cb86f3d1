//! Sending a message: validated, rate-limited, committed, then published; idempotent on the
//! sender's `client_id`, and acknowledged only after the commit.

use std::time::Instant;

use confab_proto::{Ack, ChannelId, ErrorCode, UserId};
use confab_store::{SendRecord, StoreError};

use crate::error::{ApiError, ApiResult};
use crate::metrics::Reason;
use crate::state::AppState;

/// Longest `client_id`, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// The outcome of [`send`].
#[derive(Debug, Clone)]
pub struct Sent {
    /// The ack: the original one for a duplicate. Its `ref` is left for the gateway to fill in.
    pub ack: Ack,
    /// Whether this send repeated an earlier one and stored nothing.
    pub duplicate: bool,
}

/// Checks a `client_id`: 1–64 printable ASCII characters without spaces.
pub fn check_client_id(client_id: &str) -> ApiResult<()> {
    if client_id.is_empty()
        || client_id.len() > MAX_CLIENT_ID_LEN
        || !client_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::bad_request(format!(
            "client_id must be 1-{MAX_CLIENT_ID_LEN} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

/// Checks a message body: not blank, at most the configured number of characters.
pub fn check_body(state: &AppState, body: &str) -> ApiResult<()> {
    if body.trim().is_empty() {
        return Err(ApiError::bad_request("a message body cannot be empty"));
    }
    let max = state.config.max_message_chars as usize;
    if body.chars().count() > max {
        state.metrics.reject(Reason::too_large);
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("a message is at most {max} characters"),
        ));
    }
    Ok(())
}

/// Validates and stores a message from `sender`, publishes it, and returns the ack (the original
/// one for a duplicate). Returns only after the store committed.
pub async fn send(
    state: &AppState,
    channel: ChannelId,
    sender: UserId,
    client_id: &str,
    body: &str,
) -> ApiResult<Sent> {
    let started = Instant::now();
    let sent = send_checked(state, channel, sender, client_id, body).await?;
    state.metrics.acks.inc();
    state
        .metrics
        .ack_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok(sent)
}

/// [`send`] without its metrics.
async fn send_checked(
    state: &AppState,
    channel: ChannelId,
    sender: UserId,
    client_id: &str,
    body: &str,
) -> ApiResult<Sent> {
    check_client_id(client_id)?;
    check_body(state, body)?;
    if let Err(wait) = state.limiter.check(sender) {
        // A retry of a message already stored is answered, not limited: retries must stay safe.
        if let Some(r) = state.store.find_send(sender, client_id).await? {
            state.metrics.duplicate_sends.inc();
            return Ok(Sent {
                ack: ack_of(r),
                duplicate: true,
            });
        }
        state.metrics.reject(Reason::rate_limited);
        return Err(ApiError::rate_limited(
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
        ));
    }
    let appended = state
        .store
        .append_message(channel, sender, client_id, body)
        .await
        .inspect_err(|e| {
            if matches!(e, StoreError::Forbidden(_)) {
                state.metrics.reject(Reason::forbidden);
            }
        })?;
    match &appended.event {
        Some(event) => {
            state.metrics.messages_stored.inc();
            state.hub.publish_event(event).await;
        }
        None => {
            state.metrics.duplicate_sends.inc();
        }
    }
    Ok(Sent {
        duplicate: appended.event.is_none(),
        ack: ack_of(appended.record),
    })
}

/// The ack of a stored send.
fn ack_of(r: SendRecord) -> Ack {
    Ack {
        reference: None,
        channel_id: r.channel_id,
        client_id: r.client_id,
        id: r.id,
        seq: r.seq,
        ts: r.ts,
    }
}
