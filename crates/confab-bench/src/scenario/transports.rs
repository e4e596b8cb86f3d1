//! `transports`: the room over WebSocket, SSE, long polling and naive history polling, one after
//! the other. The senders always use the WebSocket; the other members receive over the
//! transport being measured.

use crate::args::TransportsArgs;
use crate::load;
use crate::report::Report;

pub async fn run(a: &TransportsArgs) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::with_capacity(a.only.len());
    for &kind in &a.only {
        let mut spec = super::room::plan(&a.room, kind, a.poll_interval).await?;
        spec.scenario = "transports".into();
        spec.parameters = format!(
            "{} poll-interval={}",
            spec.parameters,
            humantime::format_duration(a.poll_interval)
        );
        reports.push(load::run(&a.room.common, spec).await?);
    }
    Ok(reports)
}
