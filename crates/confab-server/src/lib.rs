//! Confab's server: the composition root and everything that talks to clients.
//!
//! # Layout
//!
//! Modules depend only on those listed before them (no cycles):
//!
//! - [`config`]: raw settings (flags, `CONFAB_*`, TOML) validated once into [`Config`].
//! - `error`: errors become codes and HTTP statuses here, once; `extract`: request extractors
//!   that turn malformed input into those errors.
//! - [`asset`]: files embedded in the binary, served with strong ETags and gzip / brotli.
//! - `limit`: send token buckets and admission buckets. [`metrics`]: Prometheus metrics (the
//!   families, the two text formats, the store and the bus wrapped to be timed).
//! - [`queue`]: the bounded, never-blocking queue from the hub to one session.
//! - [`hub`]: local fan-out, one bus subscription per channel and per user with local sessions;
//!   `backfill`: reading a run of a channel's events back from the store (hub and sessions).
//! - `presence`: routing presence changes to watching sessions; typing limits. `receipt`:
//!   delivered pointers, batched into one write per interval, and receipt events.
//! - `state`: the shared state ([`AppState`]); imports nothing above this line. `heartbeat`: one
//!   timer for every session, ending those whose client went silent.
//! - `auth`: argon2id passwords, tokens, the bearer extractor.
//! - `ops`: every operation once (send, history, read/delivered, channels, members, presence,
//!   receipts, accounts), called by both the REST API and the sessions.
//! - [`session`]: one connection's state machine over any [`session::Link`]: handshake, ready or
//!   resume, the serve loop, one file per client op.
//! - `transport`: what carries a session — the WebSocket at `/ws`, HTTP sessions (long polling,
//!   SSE) — and connection admission.
//! - `api`: the REST API, one thin file per resource; `openapi`: its document; `reference`: the
//!   API reference page at `/api/docs` (a pinned, embedded Swagger UI). `probe`:
//!   `/healthz`, `/readyz` and `/metrics`.
//! - [`web`]: the embedded web UI. `retention`: the background pruner. [`seed`]: a realistic
//!   database built directly through the store, for benchmarks.
//! - [`app`]: builds the store, bus, hub and the rest from the config, routes, serves, drains;
//!   [`start`] and [`Server`].
//! - [`admin`]: what `confab admin` takes from the server (opening the store, checking and
//!   hashing passwords, telling a cluster's sessions about revoked tokens and removals).
//!
//! `docs/architecture.md` follows one message through these modules.

pub mod admin;
mod api;
pub mod app;
pub mod asset;
mod auth;
mod backfill;
pub mod config;
mod error;
mod extract;
mod heartbeat;
pub mod hub;
mod limit;
pub mod metrics;
mod openapi;
mod ops;
mod presence;
mod probe;
pub mod queue;
mod receipt;
mod reference;
mod retention;
pub mod seed;
pub mod session;
mod state;
mod transport;
pub mod web;

pub use app::{start, Server};
pub use config::{Config, RawConfig};
pub use state::{AppState, State};
