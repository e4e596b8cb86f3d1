//! The long-polling transport (docs/protocol.md §2.7): an HTTP session whose frames are posted one
//! request at a time, while a background task polls for the server's frames and queues them, so
//! reading is cancel-safe (a dropped read never loses an answer: the poll cursor is the ack).

use confab_proto::{ClientFrame, ServerFrame};
use serde_json::Value;
use tokio::sync::mpsc;

use super::Ending;

/// How long one poll asks the server to wait for frames.
const POLL_TIMEOUT_MS: u64 = 25_000;

/// Frames polled but not yet read by the connection task.
const POLLED_FRAMES: usize = 1024;

/// An open HTTP session on one gateway node.
pub(crate) struct PollConn {
    http: reqwest::Client,
    /// The session's URL, `{base}/api/v1/sessions/{id}`.
    session: String,
    frames: mpsc::Receiver<Result<ServerFrame, Ending>>,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for PollConn {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl PollConn {
    /// Creates an HTTP session at the REST base `base` and starts polling it. A refused session
    /// (`503` when the node is full or draining) carries the server's `Retry-After`.
    pub(super) async fn create(base: &str) -> Result<Self, Ending> {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/api/v1/sessions"))
            .send()
            .await
            .map_err(|e| Ending::retry(e.to_string()))?;
        if !response.status().is_success() {
            return Err(Ending::refused(
                "session",
                response.status(),
                response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
            ));
        }
        let created: Value = response
            .json()
            .await
            .map_err(|e| Ending::retry(e.to_string()))?;
        let id = created["session_id"]
            .as_str()
            .ok_or_else(|| Ending::retry("no session id"))?;
        let session = format!("{base}/api/v1/sessions/{id}");
        let (tx, frames) = mpsc::channel(POLLED_FRAMES);
        let poller = tokio::spawn(poll(http.clone(), session.clone(), tx));
        Ok(PollConn {
            http,
            session,
            frames,
            poller,
        })
    }

    pub(super) async fn send(&mut self, frame: &ClientFrame) -> Result<(), Ending> {
        let response = self
            .http
            .post(format!("{}/frames", self.session))
            .json(frame)
            .send()
            .await
            .map_err(|e| Ending::retry(e.to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Ending::retry(format!(
                "session refused a frame: HTTP {}",
                response.status()
            )))
        }
    }

    pub(super) async fn next(&mut self) -> Result<ServerFrame, Ending> {
        match self.frames.recv().await {
            Some(result) => result,
            None => Err(Ending::retry("poller stopped")),
        }
    }

    pub(super) async fn close(&mut self) {
        let _ = self.http.delete(self.session.clone()).send().await;
    }
}

/// Polls an HTTP session until it ends, queueing its frames in order; how it ended comes last.
async fn poll(
    http: reqwest::Client,
    session: String,
    tx: mpsc::Sender<Result<ServerFrame, Ending>>,
) {
    let mut after = 0u64;
    loop {
        let batch = match fetch(&http, &session, after).await {
            Ok(batch) => read_batch(&batch, after),
            Err(ending) => {
                let _ = tx.send(Err(ending)).await;
                return;
            }
        };
        for frame in batch.frames {
            if tx.send(frame).await.is_err() {
                return;
            }
        }
        after = batch.next;
        if let Some(ending) = batch.closed {
            let _ = tx.send(Err(ending)).await;
            return;
        }
    }
}

/// One poll: the frames numbered above `after`, as the server's JSON answer.
async fn fetch(http: &reqwest::Client, session: &str, after: u64) -> Result<Value, Ending> {
    let url = format!("{session}/poll?after={after}&timeout_ms={POLL_TIMEOUT_MS}");
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| Ending::retry(e.to_string()))?;
    if !response.status().is_success() {
        return Err(Ending::retry(format!(
            "poll failed: HTTP {}",
            response.status()
        )));
    }
    response
        .json()
        .await
        .map_err(|e| Ending::retry(e.to_string()))
}

/// What one poll answer says.
#[derive(Debug)]
struct Batch {
    /// Its frames, oldest first; one the SDK cannot read stands as the error it ends the
    /// connection with.
    frames: Vec<Result<ServerFrame, Ending>>,
    /// The `after` of the next poll: the acknowledgement of these frames.
    next: u64,
    /// How the session ended, if it has, after these frames.
    closed: Option<Ending>,
}

/// Reads a poll answer `{"next", "frames", "closed"}` to a poll with `after`.
fn read_batch(batch: &Value, after: u64) -> Batch {
    let frames = batch["frames"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|frame| {
            serde_json::from_value::<ServerFrame>(frame.clone()).map_err(Ending::bad_frame)
        })
        .collect();
    let closed = batch["closed"]["code"].as_u64().map(|code| {
        let reason = batch["closed"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ending::from_close(u16::try_from(code).ok(), reason)
    });
    Batch {
        frames,
        next: batch["next"].as_u64().unwrap_or(after),
        closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_batch_gives_its_frames_in_order_and_the_next_cursor() {
        let batch = read_batch(
            &json!({"next": 4, "frames": [{"op": "heartbeat_ack"}, {"op": "heartbeat_ack"}], "closed": null}),
            2,
        );
        assert_eq!(batch.next, 4);
        assert_eq!(batch.frames.len(), 2);
        assert!(batch
            .frames
            .iter()
            .all(|f| matches!(f, Ok(ServerFrame::HeartbeatAck))));
        assert!(batch.closed.is_none());
    }

    #[test]
    fn an_empty_batch_keeps_the_cursor() {
        let batch = read_batch(&json!({"frames": [], "closed": null}), 7);
        assert_eq!(batch.next, 7);
        assert!(batch.frames.is_empty());
        assert!(batch.closed.is_none());
    }

    #[test]
    fn an_unreadable_frame_ends_the_connection_in_its_place() {
        let batch = read_batch(
            &json!({"next": 2, "frames": [{"op": "no_such_op"}, {"op": "heartbeat_ack"}], "closed": null}),
            0,
        );
        assert!(
            matches!(&batch.frames[0], Err(Ending::Retry { reason, .. }) if reason.starts_with("bad frame from server"))
        );
        assert!(matches!(batch.frames[1], Ok(ServerFrame::HeartbeatAck)));
    }

    #[test]
    fn a_closed_session_is_judged_by_its_close_code() {
        let drained = read_batch(
            &json!({"next": 3, "frames": [], "closed": {"code": 4003, "reason": "server_shutdown"}}),
            3,
        );
        assert!(matches!(drained.closed, Some(Ending::Retry { .. })));
        let revoked = read_batch(
            &json!({"next": 3, "frames": [], "closed": {"code": 4105, "reason": "session_revoked"}}),
            3,
        );
        assert!(matches!(
            revoked.closed,
            Some(Ending::Fatal {
                code: Some(4105),
                ..
            })
        ));
    }
}
