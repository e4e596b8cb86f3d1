//! What operators and balancers poll: `/healthz` (the process serves), `/readyz` (send traffic
//! here) and `/metrics` (Prometheus, in the format its `Accept` header prefers).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;

use crate::metrics::Format;
use crate::state::AppState;

/// `GET /healthz`: 200 while the process serves.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when this node should get new connections; 503 while it drains or while
/// the bus is disconnected (its clients would miss other nodes' events).
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.is_shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if !state.hub.bus_connected() {
        (StatusCode::SERVICE_UNAVAILABLE, "bus disconnected")
    } else {
        (StatusCode::OK, "ready")
    }
}

/// `GET /metrics`: every family, OpenMetrics or the classic text format by `Accept`.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    sample(&state);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    (
        [(header::CONTENT_TYPE, format.content_type())],
        state.metrics.encode(format),
    )
}

/// Sets the gauges that are read rather than kept: walking every session's queue or every user's
/// presence costs too much to do on each change, and nothing at all when done per scrape.
fn sample(state: &AppState) {
    let m = &state.metrics;
    let (queued, fullest) = state.hub.queued();
    m.queued_frames.set(gauge(queued));
    m.queued_frames_max.set(gauge(fullest));
    m.receipts_queued.set(gauge(state.receipts.queued()));
    m.channel_subscriptions
        .set(gauge(state.hub.channel_topics()));
    m.set_presence(state.presence.counts());
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
