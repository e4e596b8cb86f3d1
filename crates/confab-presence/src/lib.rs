//! Presence: online / idle / offline per user, aggregated over all sessions on all nodes.
//!
//! # Layout
//!
//! - [`LocalPresence`]: the sessions of each user on this node and their status.
//! - [`PresenceService`]: leases over the bus. Every node announces its users' statuses (a full
//!   list every `interval`, a delta at every change) on one subject; every node aggregates what it
//!   hears. A node's announcements are a lease of `3 × interval`: a node that crashes or loses the
//!   bus stops renewing, and its users go offline everywhere within `4 × interval` (the lease plus
//!   one expiry check). When it comes back
//!   (or the bus reconnects) it announces at once, and they are online again.
//!
//! Changes of a user's aggregate status come out of [`PresenceService::changes`], for the server to
//! route to the sessions that care.

pub mod local;
pub mod service;

pub use local::{LocalPresence, Transition};
pub use service::{PresenceConfig, PresenceCounts, PresenceService};
