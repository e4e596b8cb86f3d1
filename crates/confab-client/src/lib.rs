//! Confab's Rust SDK.
//!
//! # Layout
//!
//! The gateway client is shaped like async-nats: a cheap cloneable handle sending commands to one
//! connection task that owns the connection.
//!
//! - [`client`]: [`Client`], the handle; each call becomes a command for the connection task.
//! - [`options`]: [`ClientConfig`] and [`Transport`], the settings; the fixed timings and bounds;
//!   [`backoff_delay`], the reconnect delay.
//! - [`event`]: [`ClientEvent`] and [`Events`], what the server pushed; [`ConnectionState`].
//! - `connection`: the connection task: its run loop, reconnect with backoff honouring retry
//!   hints, resume, heartbeats, commands in, the dispatch of server frames.
//! - `delivery`: events out to the application, behind a bounded queue (the backpressure), once
//!   and in order: repeats dropped, gaps filled from history.
//! - `transport`: what the task needs of a transport (open, send a frame, next frame, close) and
//!   how an attempt ended; `transport::ws` (WebSocket) and `transport::long_poll` (HTTP session)
//!   carry it, and `Transport::Auto` picks between them there.
//! - `outbox`: unacked sends, transmitted again after a reconnect with their original
//!   `client_id`.
//! - `cursor`: per channel, what the application was handed: resume cursors, repeats and gaps,
//!   `delivered` confirmations, `receipts_since`.
//! - `presence`: the status and watch list the application set, restored on every connection.
//! - [`http`]: [`Http`], the REST API: accounts, channels, members, history, read pointers.
//! - [`error`]: [`ClientError`] and the [`Result`] alias.
//!
//! docs/protocol.md §11 ("Writing a client") is the recipe the connection task follows.
//!
//! ```no_run
//! # async fn demo() -> confab_client::Result<()> {
//! use confab_client::{Client, Http};
//! let http = Http::new("http://127.0.0.1:8080");
//! let auth = http.register("alice", "correct horse").await?;
//! let http = http.with_token(&auth.token);
//! let dm = http.create_direct("bob").await?;
//! let (client, mut events) = Client::connect("ws://127.0.0.1:8080/ws", &auth.token).await?;
//! let ack = client.send(dm.id, "hi bob").await?;
//! println!("stored as seq {}", ack.seq);
//! while let Some(event) = events.next().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

pub mod client;
mod connection;
mod cursor;
mod delivery;
pub mod error;
pub mod event;
pub mod http;
pub mod options;
mod outbox;
mod presence;
mod transport;

pub use client::Client;
pub use error::{ClientError, Result};
pub use event::{ClientEvent, ConnectionState, Events};
pub use http::Http;
pub use options::{backoff_delay, ClientConfig, Transport};

pub use confab_proto as proto;
