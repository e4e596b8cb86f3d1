//! Confab's server: the composition root and everything that talks to clients.
//!
//! # Layout
//!
//! - [`config`]: raw settings (flags, `CONFAB_*`, TOML) validated once into [`Config`].
//! - [`app`]: builds the store, bus and hub from the config, routes, serves; [`app::Server`].
//! - [`gateway`]: `/ws` admission (connection cap, shutdown) and upgrade.
//! - [`link`]: what a session talks through: a WebSocket or an HTTP session's outbox.
//! - [`session`]: one connection's state machine: hello → identify → ready → events.
//! - [`hub`]: local fan-out, one bus subscription per channel and per user with local sessions.
//! - [`queue`]: the bounded, never-blocking queue from the hub to one session.
//! - [`api`]: the REST API, one file per resource, and its OpenAPI document.
//! - [`auth`]: argon2id passwords, tokens, the bearer extractor.
//! - [`limit`]: per-user send token buckets; admission buckets for identifies and resumes.
//! - [`presence`]: routing presence changes to watching sessions; typing limits.
//! - [`receipt`]: delivered pointers, batched into one write per interval, and receipt events.
//! - [`retention`]: the background pruner.
//! - [`metrics`]: Prometheus metrics.
//! - [`error`]: errors become codes and HTTP statuses here, once.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod gateway;
pub mod hub;
pub mod limit;
pub mod link;
pub mod metrics;
pub mod presence;
pub mod queue;
pub mod receipt;
pub mod retention;
pub mod session;

pub use app::{start, Server};
pub use config::{Config, RawConfig};
