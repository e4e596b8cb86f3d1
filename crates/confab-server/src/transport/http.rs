//! HTTP sessions: the gateway protocol without a WebSocket, for networks and proxies that break
//! them. A session is created, then the client posts frames (`identify` or `resume` first, then
//! anything a WebSocket client sends) and reads the server's frames by long polling or from an
//! event stream (SSE). The frames, their order and every rule are the WebSocket's: the same session
//! code runs behind both (see [`crate::session::Link`]).
//!
//! The server's frames are numbered from 1. A poll with `after=N`, or an event stream opened with
//! `Last-Event-ID: N`, acknowledges frames up to `N`; unacknowledged frames are returned again, so
//! a lost response loses nothing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use confab_proto::api::ErrorResponse;
use confab_proto::{CloseCode, ErrorCode};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::outbox::{Closed, HttpLink, Outbox, PipeIn};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, PathIds};
use crate::metrics::Transport;
use crate::state::AppState;

/// How long a poll waits for frames by default.
pub const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_secs(25);
/// The longest a poll may ask to wait.
pub const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(55);
/// Most frames one poll returns.
pub const MAX_POLL_FRAMES: usize = 500;
/// Frames an event stream keeps after sending them, so a reconnecting stream can resume.
pub const SSE_REPLAY: usize = 1024;
/// How long an ended session's last frames (and close code) stay readable.
pub const CLOSED_GRACE: Duration = Duration::from_secs(30);
/// Client frames queued for a session before `POST …/frames` waits.
pub const INBOUND_QUEUE: usize = 64;

/// The routes of `/api/v1/sessions`, with this node's registry of HTTP sessions.
pub fn router(sessions: Arc<Sessions>) -> Router<AppState> {
    Router::new()
        .route("/sessions", post(create))
        .route("/sessions/{id}", delete(end))
        .route("/sessions/{id}/frames", post(frames))
        .route("/sessions/{id}/poll", get(poll))
        .route("/sessions/{id}/events", get(events))
        .layer(Extension(sessions))
}

/// This node's HTTP sessions.
type Registry = Extension<Arc<Sessions>>;

/// One HTTP session, as the request handlers reach it.
#[derive(Debug, Clone)]
pub struct Entry {
    tx: mpsc::Sender<PipeIn>,
    outbox: Arc<Outbox>,
}

/// This node's HTTP sessions by id.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    fn get(&self, id: &str) -> ApiResult<Entry> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                "no such session on this node (expired or never created): create one and resume",
            )
        })
    }

    fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Open HTTP sessions.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The answer to `POST /api/v1/sessions`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Created {
    /// Use in the session's URLs. Starts with `n<node id>.`, so a balancer can route by it.
    pub session_id: String,
}

/// Creates an HTTP session. Post `identify` or `resume` to it within the identify deadline.
#[utoipa::path(post, path = "/api/v1/sessions", operation_id = "createSession", tag = "sessions",
    responses(
        (status = 201, description = "Created", body = Created),
        (status = 503, description = "Node full or draining: try again (another node) after Retry-After", content_type = "text/plain", body = String,
            headers(("Retry-After" = u64, description = "Seconds to wait, 1–5 (jittered)")))))]
pub async fn create(State(state): State<AppState>, Extension(sessions): Registry) -> Response {
    let slot = match super::admit(&state, Transport::http) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
    let outbox = Arc::new(Outbox::new(
        state.config.outbound_queue + SSE_REPLAY,
        state.metrics.clone(),
    ));
    let id = format!(
        "n{}.{}",
        state.config.node_id,
        uuid::Uuid::new_v4().simple()
    );
    sessions
        .map
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            id.clone(),
            Entry {
                tx,
                outbox: outbox.clone(),
            },
        );
    let link = HttpLink {
        inbound: rx,
        outbox,
    };
    let task_id = id.clone();
    // Polls may still collect the last frames and the close code for a while after the end.
    // (A combinator keeps the session's future once in the task, see `super::serve`.)
    tokio::spawn(super::serve(link, state, slot).then(move |()| async move {
        tokio::time::sleep(CLOSED_GRACE).await;
        sessions.remove(&task_id);
    }));
    (StatusCode::CREATED, Json(Created { session_id: id })).into_response()
}

/// Posts client frames: one frame object, or an array of them, in order.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/frames", operation_id = "postSessionFrames", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    request_body(content = serde_json::Value, description = "A client frame, or an array of them; anything else is passed to the session, which answers as a WebSocket session would (error frames)"),
    responses(
        (status = 202, description = "Queued for the session; answers arrive by poll or stream"),
        (status = 413, description = "Body over 2 MB", content_type = "text/plain", body = String),
        (status = 404, description = "No such session", body = ErrorResponse)))]
pub async fn frames(
    Extension(sessions): Registry,
    PathIds(id): PathIds<String>,
    body: String,
) -> ApiResult<StatusCode> {
    let entry = sessions.get(&id)?;
    // Only the outer shape is checked here; each frame gets the WebSocket's answers (error
    // frames, close codes) from the session itself.
    let frames: Vec<String> = match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(items)) => items.iter().map(|v| v.to_string()).collect(),
        Ok(_) | Err(_) => vec![body],
    };
    for frame in frames {
        if entry.tx.send(PipeIn::Frame(frame)).await.is_err() {
            return Err(ApiError::new(ErrorCode::NotFound, "the session has ended"));
        }
    }
    Ok(StatusCode::ACCEPTED)
}

/// Query of a poll.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollParams {
    /// Frames up to this number were received (acknowledges them); default 0.
    pub after: Option<u64>,
    /// How long to wait for frames, in milliseconds (default 25,000, at most 55,000).
    pub timeout_ms: Option<u64>,
}

/// Numbered frames, and how the session ended if it did.
type Batch = (Vec<(u64, axum::extract::ws::Utf8Bytes)>, Option<Closed>);

fn closed_json(closed: &Option<Closed>) -> String {
    match closed {
        Some(c) => serde_json::json!({"code": c.code, "reason": c.reason}).to_string(),
        None => "null".to_owned(),
    }
}

/// The frames after `after`, when there are any (or the session ended): `None` while there is
/// nothing to say. Frames the client missed and that are no longer kept end the session with
/// `slow_consumer`, so the client resumes.
fn collect(entry: &Entry, after: u64, max: usize) -> Option<Batch> {
    let (frames, lost, closed) = entry.outbox.after(after, max);
    if lost {
        entry.outbox.lost();
        let code = CloseCode::SlowConsumer;
        return Some((
            Vec::new(),
            Some(Closed {
                code: code.as_u16(),
                reason: "frames_lost".into(),
            }),
        ));
    }
    if frames.is_empty() && closed.is_none() {
        return None;
    }
    Some((frames, closed))
}

/// Long poll: waits up to `timeout_ms` for frames after `after`, and returns them as a batch.
/// `{"next": N, "frames": [...], "closed": null | {"code", "reason"}}`; pass `next` as `after` in
/// the next poll. An empty batch means the wait ran out.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/poll", operation_id = "pollSession", tag = "sessions",
    params(("id" = String, Path, description = "Session id"), PollParams),
    responses(
        (status = 200, description = "A batch of frames (possibly empty)"),
        (status = 400, description = "Malformed query", body = ErrorResponse),
        (status = 404, description = "No such session", body = ErrorResponse)))]
pub async fn poll(
    Extension(sessions): Registry,
    PathIds(id): PathIds<String>,
    Params(q): Params<PollParams>,
) -> ApiResult<Response> {
    let entry = sessions.get(&id)?;
    let after = q.after.unwrap_or(0);
    let wait = q
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_POLL_TIMEOUT)
        .min(MAX_POLL_TIMEOUT);
    let _ = entry.tx.try_send(PipeIn::Alive);
    entry.outbox.ack(after);
    let deadline = tokio::time::Instant::now() + wait;
    let (frames, closed) = loop {
        let changed = entry.outbox.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if let Some(found) = collect(&entry, after, MAX_POLL_FRAMES) {
            break found;
        }
        tokio::select! {
            _ = &mut changed => {}
            _ = tokio::time::sleep_until(deadline) => break (Vec::new(), None),
        }
    };
    if closed.as_ref().is_some_and(|c| c.reason == "frames_lost") {
        let _ = entry.tx.try_send(PipeIn::End);
        sessions.remove(&id);
    }
    let next = frames.last().map_or(after, |(n, _)| *n);
    let mut body = format!("{{\"next\":{next},\"frames\":[");
    for (i, (_, frame)) in frames.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(frame.as_str());
    }
    body.push_str("],\"closed\":");
    body.push_str(&closed_json(&closed));
    body.push('}');
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// Query of an event stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Frames up to this number were received; `Last-Event-ID` wins when both are given.
    pub after: Option<u64>,
}

/// Event stream (SSE): every frame after `Last-Event-ID` (or `after`), as `id: N` + `data: <frame>`;
/// an `event: close` with `{"code", "reason"}` when the session ends. A browser's `EventSource`
/// reconnects with `Last-Event-ID` by itself and misses nothing.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/events", operation_id = "streamSessionEvents", tag = "sessions",
    params(("id" = String, Path, description = "Session id"), StreamParams),
    responses(
        (status = 200, description = "text/event-stream of frames"),
        (status = 400, description = "Malformed query", body = ErrorResponse),
        (status = 404, description = "No such session", body = ErrorResponse)))]
pub async fn events(
    Extension(sessions): Registry,
    PathIds(id): PathIds<String>,
    Params(q): Params<StreamParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let entry = sessions.get(&id)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(q.after)
        .unwrap_or(0);
    let _ = entry.tx.try_send(PipeIn::Alive);
    entry.outbox.ack(after);
    let stream = futures::stream::unfold(
        (entry, after, false),
        |(entry, mut last, done)| async move {
            if done {
                return None;
            }
            let mut alive = tokio::time::Instant::now();
            let outbox = entry.outbox.clone();
            loop {
                let changed = outbox.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some((frames, closed)) = collect(&entry, last, 1) {
                    if let Some((n, frame)) = frames.into_iter().next() {
                        entry.outbox.trim_sent(n, SSE_REPLAY);
                        last = n;
                        let event = SseEvent::default().id(n.to_string()).data(frame.as_str());
                        return Some((Ok::<_, Infallible>(event), (entry, last, false)));
                    }
                    let event = SseEvent::default()
                        .event("close")
                        .data(closed_json(&closed));
                    return Some((Ok(event), (entry, last, true)));
                }
                // An open stream is a live client: keep the session's heartbeat deadline moving.
                if alive.elapsed() >= Duration::from_secs(10) {
                    let _ = entry.tx.try_send(PipeIn::Alive);
                    alive = tokio::time::Instant::now();
                }
                tokio::select! {
                    _ = &mut changed => {}
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Ends a session now (as closing a WebSocket would).
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", operation_id = "endSession", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Ended"), (status = 404, description = "No such session", body = ErrorResponse)))]
pub async fn end(
    Extension(sessions): Registry,
    PathIds(id): PathIds<String>,
) -> ApiResult<StatusCode> {
    let entry = sessions.get(&id)?;
    // Ends it like a closed socket, even while a poll or a stream is still open.
    let _ = entry.tx.send(PipeIn::End).await;
    sessions.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}
