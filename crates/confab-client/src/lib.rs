//! Confab's Rust SDK.
//!
//! # Layout
//!
//! - [`http`]: [`Http`], the REST API: accounts, channels, members, history, read pointers.
//! - [`gateway`]: [`Client`], a cheap cloneable handle to one connection task that owns the
//!   WebSocket; [`Events`], the stream of what the server pushes.
//! - [`error`]: [`ClientError`] and the [`Result`] alias.
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

pub mod error;
pub mod gateway;
pub mod http;

pub use error::{ClientError, Result};
pub use gateway::{
    backoff_delay, Client, ClientConfig, ClientEvent, ConnectionState, Events, Transport,
};
pub use http::Http;

pub use confab_proto as proto;
