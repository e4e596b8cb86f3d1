//! Receivers over HTTP: an HTTP session read as an event stream (SSE) or by long polling
//! (docs/protocol.md §2.7), and the naive baseline, a client polling channel history every few
//! seconds. Each returns its [`Tally`]; an error before it was ready means it never connected.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use serde::Deserialize;
use tokio::sync::watch;

use crate::conn::ConnectError;
use crate::frame::{self, Incoming};
use crate::load::{receive, Phase};
use crate::meter::Meter;
use crate::tally::Tally;

/// How a receiver gets its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// WebSocket.
    Ws,
    /// An HTTP session's event stream.
    Sse,
    /// An HTTP session's long polls.
    Longpoll,
    /// `GET /api/v1/channels/{id}/messages?after=` every `--poll-interval`.
    Poll,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ws => "ws",
            Kind::Sse => "sse",
            Kind::Longpoll => "longpoll",
            Kind::Poll => "poll",
        }
    }
}

/// The HTTP client for one server.
#[derive(Debug, Clone)]
pub struct HttpCtx {
    client: reqwest::Client,
    base: String,
    meter: Arc<Meter>,
}

impl HttpCtx {
    pub fn new(base: &str, meter: Arc<Meter>) -> anyhow::Result<HttpCtx> {
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        Ok(HttpCtx {
            client,
            base: base.to_owned(),
            meter,
        })
    }

    fn count(&self) {
        Meter::bump(&self.meter.http_requests);
    }
}

fn io(e: impl std::fmt::Display) -> ConnectError {
    ConnectError::Io(e.to_string())
}

/// Creates an HTTP session and posts `identify`.
async fn open_session(http: &HttpCtx, token: &str) -> Result<String, ConnectError> {
    #[derive(Deserialize)]
    struct Created {
        session_id: String,
    }
    let mut tries = 0;
    let created: Created = loop {
        http.count();
        let resp = http
            .client
            .post(format!("{}/api/v1/sessions", http.base))
            .send()
            .await
            .map_err(io)?;
        if resp.status().as_u16() == 503 && tries < 20 {
            tries += 1;
            Meter::bump(&http.meter.refusals);
            let secs = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            continue;
        }
        if !resp.status().is_success() {
            return Err(io(format!("POST /api/v1/sessions: HTTP {}", resp.status())));
        }
        break resp.json().await.map_err(io)?;
    };
    post_frame(http, &created.session_id, frame::identify(token)).await?;
    Ok(created.session_id)
}

async fn post_frame(http: &HttpCtx, sid: &str, frame: String) -> Result<(), ConnectError> {
    http.count();
    let resp = http
        .client
        .post(format!("{}/api/v1/sessions/{sid}/frames", http.base))
        .header("content-type", "application/json")
        .body(frame)
        .send()
        .await
        .map_err(io)?;
    if !resp.status().is_success() {
        return Err(io(format!("posting a frame: HTTP {}", resp.status())));
    }
    Ok(())
}

async fn close_session(http: &HttpCtx, sid: &str) {
    http.count();
    let _ = http
        .client
        .delete(format!("{}/api/v1/sessions/{sid}", http.base))
        .send()
        .await;
}

/// A receiver's state until `ready` arrives, then its tally.
struct Receiver<'a, F: FnOnce(u64)> {
    channel: &'a str,
    meter: &'a Meter,
    on_ready: Option<F>,
    tally: Option<Tally>,
}

impl<'a, F: FnOnce(u64)> Receiver<'a, F> {
    /// Opens an HTTP session for `token` and a receiver of `channel` on it; returns the session id.
    async fn open(
        http: &'a HttpCtx,
        token: &str,
        channel: &'a str,
        on_ready: F,
    ) -> Result<(String, Self), ConnectError> {
        let sid = open_session(http, token).await?;
        let rx = Receiver {
            channel,
            meter: &http.meter,
            on_ready: Some(on_ready),
            tally: None,
        };
        Ok((sid, rx))
    }

    fn frame(&mut self, f: &Incoming<'_>) -> Result<(), ConnectError> {
        match (&mut self.tally, f.op()) {
            (None, "ready") => {
                let base = f
                    .channels
                    .iter()
                    .flatten()
                    .find(|c| c.id == self.channel)
                    .map(|c| c.last_seq)
                    .ok_or_else(|| io(format!("not a member of channel {}", self.channel)))?;
                self.tally = Some(Tally::new(base));
                Meter::bump(&self.meter.connected);
                if let Some(ready) = self.on_ready.take() {
                    ready(base);
                }
            }
            (Some(tally), _) => receive(tally, self.channel, f, self.meter),
            _ => {}
        }
        Ok(())
    }

    /// The end of the receiver: its tally (counted as dropped if `dropped`), or the error.
    fn finish(mut self, dropped: bool, why: &str) -> Result<Option<Tally>, ConnectError> {
        match self.tally.take() {
            Some(mut t) => {
                if dropped {
                    Meter::bump(&self.meter.dropped);
                }
                t.flush(self.meter);
                Ok(Some(t))
            }
            None => Err(io(why)),
        }
    }
}

fn stopped(phase: &watch::Receiver<Phase>) -> bool {
    *phase.borrow() == Phase::Stop
}

/// A poll answer of an HTTP session.
#[derive(Deserialize)]
struct PollAnswer<'a> {
    next: u64,
    #[serde(borrow)]
    frames: Vec<Incoming<'a>>,
    #[serde(default)]
    closed: Option<serde::de::IgnoredAny>,
}

/// A receiver on an HTTP session, long polling.
pub async fn long_poll(
    http: &HttpCtx,
    token: &str,
    channel: &str,
    on_ready: impl FnOnce(u64),
    mut phase: watch::Receiver<Phase>,
) -> Result<Option<Tally>, ConnectError> {
    let (sid, mut rx) = Receiver::open(http, token, channel, on_ready).await?;
    let mut after = 0u64;
    let mut dropped = false;
    while !stopped(&phase) {
        http.count();
        let request = http
            .client
            .get(format!(
                "{}/api/v1/sessions/{sid}/poll?after={after}&timeout_ms=20000",
                http.base
            ))
            .timeout(Duration::from_secs(30))
            .send();
        let body = tokio::select! {
            r = async { request.await?.error_for_status()?.bytes().await } => r,
            _ = phase.changed() => continue,
        };
        let Ok(body) = body else {
            dropped = true;
            break;
        };
        let Ok(answer) = serde_json::from_slice::<PollAnswer<'_>>(&body) else {
            dropped = true;
            break;
        };
        for f in &answer.frames {
            rx.frame(f)?;
        }
        after = answer.next;
        if answer.closed.is_some() {
            dropped = true;
            break;
        }
    }
    close_session(http, &sid).await;
    rx.finish(dropped, "the session ended before ready")
}

/// A receiver on an HTTP session's event stream.
pub async fn sse(
    http: &HttpCtx,
    token: &str,
    channel: &str,
    on_ready: impl FnOnce(u64),
    mut phase: watch::Receiver<Phase>,
) -> Result<Option<Tally>, ConnectError> {
    let (sid, mut rx) = Receiver::open(http, token, channel, on_ready).await?;
    http.count();
    let mut stream = http
        .client
        .get(format!("{}/api/v1/sessions/{sid}/events", http.base))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(io)?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut dropped = false;
    'read: loop {
        let chunk = tokio::select! {
            c = stream.chunk() => c,
            _ = phase.changed() => if stopped(&phase) { break } else { continue },
        };
        let Ok(Some(chunk)) = chunk else {
            dropped = true;
            break;
        };
        buf.extend_from_slice(&chunk);
        let mut consumed = 0;
        while let Some(end) = buf[consumed..].iter().position(|&b| b == b'\n') {
            let line = &buf[consumed..consumed + end];
            consumed += end + 1;
            if let Some(data) = line.strip_prefix(b"data: ") {
                if let Some(f) = std::str::from_utf8(data).ok().and_then(Incoming::parse) {
                    rx.frame(&f)?;
                }
            } else if line.starts_with(b"event: close") {
                dropped = true;
                break 'read;
            }
        }
        buf.drain(..consumed);
    }
    drop(stream);
    close_session(http, &sid).await;
    rx.finish(dropped, "the stream ended before ready")
}

/// A page of history.
#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    events: Vec<Incoming<'a>>,
    has_more: bool,
}

/// `GET /channels/{id}` answer, for the starting point.
#[derive(Deserialize)]
struct Summary {
    last_seq: u64,
}

/// The naive baseline: poll channel history every `interval`.
pub async fn poll(
    http: &HttpCtx,
    token: &str,
    channel: &str,
    interval: Duration,
    on_ready: impl FnOnce(u64),
    mut phase: watch::Receiver<Phase>,
) -> Result<Option<Tally>, ConnectError> {
    http.count();
    let summary: Summary = http
        .client
        .get(format!("{}/api/v1/channels/{channel}", http.base))
        .bearer_auth(token)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(io)?
        .json()
        .await
        .map_err(io)?;
    let mut tally = Tally::new(summary.last_seq);
    Meter::bump(&http.meter.connected);
    on_ready(summary.last_seq);
    let mut cursor = summary.last_seq;
    // Clients start at random points of the interval, as real ones would.
    let offset = interval.mul_f64(rand::thread_rng().gen::<f64>());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dropped = false;
    'run: loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = phase.changed() => if stopped(&phase) { break } else { continue },
        }
        loop {
            http.count();
            let body = http
                .client
                .get(format!(
                    "{}/api/v1/channels/{channel}/messages?after={cursor}&limit=200",
                    http.base
                ))
                .bearer_auth(token)
                .send()
                .await
                .and_then(|r| r.error_for_status());
            let body = match body {
                Ok(r) => r.bytes().await,
                Err(e) => Err(e),
            };
            let Ok(body) = body else {
                dropped = true;
                break 'run;
            };
            let Ok(page) = serde_json::from_slice::<Page<'_>>(&body) else {
                dropped = true;
                break 'run;
            };
            for e in &page.events {
                receive(&mut tally, channel, e, &http.meter);
                cursor = cursor.max(e.seq.unwrap_or(0));
            }
            if !page.has_more {
                break;
            }
        }
    }
    if dropped {
        Meter::bump(&http.meter.dropped);
    }
    tally.flush(&http.meter);
    Ok(Some(tally))
}
