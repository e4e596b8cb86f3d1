//! Every type that crosses Confab's wire.
//!
//! # Layout
//!
//! - [`id`]: [`UserId`], [`ChannelId`], [`EventId`]: 64-bit identifiers, written as decimal strings.
//! - [`event`]: [`Event`], one lasting change to a channel (a message, a membership change), with its `seq`.
//! - [`frame`]: [`ClientFrame`] and [`ServerFrame`], the gateway's JSON frames (WebSocket text frames).
//! - [`error`]: [`ErrorCode`] (numeric codes in error frames and HTTP bodies) and [`CloseCode`]
//!   (WebSocket close codes, split into a *reconnect* range and a *terminal* range).
//! - [`api`]: request and response bodies of the REST API under `/api/v1`.
//! - [`model`]: users, channels, members and the per-channel summary the client keeps.
//!
//! This crate is serde only: no I/O, no runtime. `docs/protocol.md` describes the same types for people;
//! the tests in `tests/wire.rs` freeze their JSON.

pub mod api;
pub mod error;
pub mod event;
pub mod frame;
pub mod id;
pub mod model;

pub use error::{CloseCode, ErrorBody, ErrorCode};
pub use event::{Event, EventBody};
pub use frame::{Ack, ClientFrame, Hello, Limits, Ready, Resumed, ServerFrame};
pub use id::{ChannelId, EventId, UserId};
pub use model::{
    ChannelKind, ChannelSummary, Member, Presence, ReadState, Receipt, Role, Status, User, UserRef,
};

/// The protocol version announced in `hello`. Bumped only for incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;
