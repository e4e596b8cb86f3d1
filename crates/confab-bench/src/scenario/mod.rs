//! One module per scenario, each turning its flags into a run and a [`crate::Report`].

pub mod compare;
pub mod dm;
pub mod idle;
pub mod room;
pub mod rtt;
pub mod soak;
pub mod storm;
pub mod transports;

/// The server that scenarios needing shared channels use: the first `--server` (separate
/// servers do not share channels unless they form a cluster).
pub(crate) fn first_server(common: &crate::Common) -> anyhow::Result<&str> {
    common
        .servers
        .first()
        .map(|s| s.trim_end_matches('/'))
        .ok_or_else(|| anyhow::anyhow!("give at least one --server"))
}
