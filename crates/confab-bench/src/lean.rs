//! `confab bench lean-server`: the lean limit. A minimal broadcast server that speaks just enough of
//! Confab's gateway protocol for the load generator to drive it like Confab: `hello`, `identify` →
//! `ready` (one room), `send` → `ack` to the sender and an `event` with the room's next `seq` to
//! every identified connection, `heartbeat` → `heartbeat_ack`. No store, no auth (any token), no
//! resume, one room.
//!
//! It is what `confab bench compare` measures Confab against, so it is kept honest and simple, not
//! slow: each connection is one task; `TCP_NODELAY` is set on every accepted socket (as Confab does);
//! an event is serialized once and the same bytes (a reference-counted `Utf8Bytes`) are pushed to
//! every connection's bounded queue under the room's lock (so `seq` order is the queue order); a
//! connection writes everything queued (up to [`WRITE_BATCH`] frames) and flushes once. A
//! connection whose queue is full is closed with 4002 (Confab's `slow_consumer`), never blocking
//! the others.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The one room's id, as the `ready` frame lists it.
pub const ROOM: &str = "1";

/// Frames a connection may have queued before it is closed as too slow (Confab's default session
/// queue holds the same order of frames).
pub const QUEUE: usize = 1024;

/// Frames written before one flush.
pub const WRITE_BATCH: usize = 64;

/// What the printed banner starts with, before the address (`compare` reads it).
pub const BANNER: &str = "lean server listening on http://";

/// The room: its `seq` and the queues of its identified connections.
#[derive(Debug, Default)]
struct Room {
    seq: u64,
    next_conn: u64,
    members: HashMap<u64, mpsc::Sender<Utf8Bytes>>,
}

type Shared = Arc<Mutex<Room>>;

/// The fields of a client frame this server reads.
#[derive(Debug, Deserialize)]
struct ClientFrame<'a> {
    op: &'a str,
    #[serde(default, rename = "ref")]
    reference: Option<u64>,
    #[serde(default, borrow)]
    client_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    body: Option<std::borrow::Cow<'a, str>>,
}

/// Binds `listen`, prints [`BANNER`] with the bound address on stdout, and serves until the
/// process ends.
pub async fn serve(listen: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    println!("{BANNER}{addr}");
    run(listener).await
}

/// Serves connections from `listener` forever.
pub async fn run(listener: TcpListener) -> anyhow::Result<()> {
    let room: Shared = Arc::default();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(ok) => ok,
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let room = Arc::clone(&room);
        tokio::spawn(async move {
            let _ = connection(room, tcp, peer).await;
        });
    }
}

/// One connection: handshake, then frames in and queued frames out until either side ends.
async fn connection(room: Shared, tcp: TcpStream, _peer: SocketAddr) -> anyhow::Result<()> {
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let mut ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await?;
    ws.send(Message::text(
        r#"{"op":"hello","protocol":1,"node_id":0,"heartbeat_interval_ms":30000,"identify_timeout_ms":10000,"limits":{"max_frame_bytes":65536,"max_message_chars":4000}}"#,
    ))
    .await?;
    let mut me: Option<(u64, mpsc::Receiver<Utf8Bytes>)> = None;
    let result = serve_connection(&room, &mut ws, &mut me).await;
    if let Some((id, _)) = me {
        if let Ok(mut r) = room.lock() {
            r.members.remove(&id);
        }
    }
    result
}

async fn serve_connection(
    room: &Shared,
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
    me: &mut Option<(u64, mpsc::Receiver<Utf8Bytes>)>,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                };
                let Ok(frame) = serde_json::from_str::<ClientFrame<'_>>(text.as_str()) else {
                    continue;
                };
                match frame.op {
                    "identify" if me.is_none() => {
                        let (tx, rx) = mpsc::channel(QUEUE);
                        // The `seq` in `ready` and the registration are taken under one lock, so
                        // this connection gets exactly the events after it.
                        let (id, last_seq) = {
                            let mut r = room.lock().map_err(|_| anyhow::anyhow!("room lock poisoned"))?;
                            r.next_conn += 1;
                            let id = r.next_conn;
                            r.members.insert(id, tx);
                            (id, r.seq)
                        };
                        *me = Some((id, rx));
                        ws.send(Message::text(format!(
                            r#"{{"op":"ready","session_id":"lean-{id}","user":{{"id":"{id}","username":"lean{id}","created_at":0}},"channels":[{{"id":"{ROOM}","kind":"group","name":"lean","peer":null,"member_count":0,"role":"member","last_seq":{last_seq},"read_seq":0,"unread":0,"created_at":0}}],"server_ts":0,"presence":[]}}"#
                        )))
                        .await?;
                    }
                    "send" if me.is_some() => {
                        let client_id = frame.client_id.as_deref().unwrap_or("");
                        let body = frame.body.as_deref().unwrap_or("");
                        let now = crate::frame::now_ns() / 1_000_000;
                        let seq = broadcast(room, |seq| {
                            format!(
                                r#"{{"op":"event","channel_id":"{ROOM}","seq":{seq},"id":"{seq}","ts":{now},"author":{{"id":"0","username":"lean"}},"type":"message","body":{},"client_id":{}}}"#,
                                json_string(body),
                                json_string(client_id),
                            )
                        })?;
                        let reference = frame.reference.map(|r| format!(r#""ref":{r},"#)).unwrap_or_default();
                        ws.send(Message::text(format!(
                            r#"{{"op":"ack",{reference}"channel_id":"{ROOM}","client_id":{},"id":"{seq}","seq":{seq},"ts":{now}}}"#,
                            json_string(client_id),
                        )))
                        .await?;
                    }
                    "heartbeat" => ws.send(Message::text(r#"{"op":"heartbeat_ack"}"#)).await?,
                    _ => {}
                }
            }
            frame = async {
                match me.as_mut() {
                    Some((_, rx)) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let Some(frame) = frame else {
                    // The room dropped this connection's queue: it was full.
                    let _ = ws
                        .send(Message::Close(Some(CloseFrame {
                            code: CloseCode::from(4002),
                            reason: "slow_consumer".into(),
                        })))
                        .await;
                    return Ok(());
                };
                ws.feed(Message::Text(frame)).await?;
                if let Some((_, rx)) = me.as_mut() {
                    for _ in 1..WRITE_BATCH {
                        match rx.try_recv() {
                            Ok(frame) => ws.feed(Message::Text(frame)).await?,
                            Err(_) => break,
                        }
                    }
                }
                ws.flush().await?;
            }
        }
    }
}

/// Assigns the room's next `seq`, serializes the event once with `frame(seq)` and queues the same
/// bytes to every member; members whose queue is full are dropped from the room (their connection
/// then closes with 4002). Returns the `seq`.
fn broadcast(room: &Shared, frame: impl FnOnce(u64) -> String) -> anyhow::Result<u64> {
    let mut r = room
        .lock()
        .map_err(|_| anyhow::anyhow!("room lock poisoned"))?;
    r.seq += 1;
    let seq = r.seq;
    let bytes = Utf8Bytes::from(frame(seq));
    r.members.retain(|_, tx| tx.try_send(bytes.clone()).is_ok());
    Ok(seq)
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{self, Incoming};

    async fn open(
        addr: SocketAddr,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("connect");
        ws
    }

    async fn next_text(
        ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    ) -> String {
        let next = async {
            loop {
                match ws.next().await.expect("a frame").expect("no error") {
                    Message::Text(t) => return t.to_string(),
                    _ => continue,
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), next)
            .await
            .expect("a frame within 10 s")
    }

    /// Two identified connections: a send is acked to its sender and delivered to both with the
    /// next `seq`, in the generator's fast event format; a heartbeat is answered.
    #[tokio::test]
    async fn a_send_is_acked_and_broadcast_with_the_next_seq() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(run(listener));
        let mut a = open(addr).await;
        let mut b = open(addr).await;
        for ws in [&mut a, &mut b] {
            assert!(next_text(ws).await.contains(r#""op":"hello""#));
            ws.send(Message::text(frame::identify("any")))
                .await
                .expect("send");
            let ready = next_text(ws).await;
            let f = Incoming::parse(&ready).expect("ready parses");
            assert_eq!(f.op(), "ready");
            let channels = f.channels.expect("channels");
            assert_eq!((channels[0].id, channels[0].last_seq), (ROOM, 0));
        }
        let body = frame::body(12345, 40);
        a.send(Message::text(frame::send(7, ROOM, "c-1", &body)))
            .await
            .expect("send");
        let mut acked = false;
        let mut got_event = false;
        while !(acked && got_event) {
            let text = next_text(&mut a).await;
            let f = Incoming::parse(&text).expect("parses");
            match f.op() {
                "ack" => {
                    assert_eq!((f.reference, f.seq), (Some(7), Some(1)));
                    acked = true;
                }
                "event" => {
                    assert_eq!(frame::fast_event(&text), Some((ROOM, 1, Some(12345))));
                    got_event = true;
                }
                other => panic!("unexpected {other}"),
            }
        }
        let text = next_text(&mut b).await;
        assert_eq!(frame::fast_event(&text), Some((ROOM, 1, Some(12345))));
        b.send(Message::text(frame::HEARTBEAT)).await.expect("send");
        assert_eq!(next_text(&mut b).await, r#"{"op":"heartbeat_ack"}"#);
    }
}
