//! Integration tests: real servers on 127.0.0.1 port 0, real sockets, the SDK and raw WebSockets.
//! All in one binary (one link, shared helpers).

mod bad_input;
mod chat;
mod cluster;
mod delivery;
mod latency;
mod lifecycle;
mod metrics;
mod presence;
mod raw;
mod rest;
mod seed;
mod transport;
mod web;
