//! `room`: one group of N members, S of them sending R messages/s in total.

use std::time::Duration;

use crate::account::Accounts;
use crate::args::RoomArgs;
use crate::load::{self, LoadSpec, Member};
use crate::report::Report;
use crate::transport::Kind;

pub async fn run(a: &RoomArgs) -> anyhow::Result<Report> {
    let spec = plan(a, Kind::Ws, Duration::ZERO).await?;
    load::run(&a.common, spec).await
}

/// The room as a load: the first `senders` members send over WebSocket, the others receive over
/// `kind`.
pub(crate) async fn plan(
    a: &RoomArgs,
    kind: Kind,
    poll_interval: Duration,
) -> anyhow::Result<LoadSpec> {
    anyhow::ensure!(a.members >= 1, "--members must be at least 1");
    anyhow::ensure!(
        (1..=a.members).contains(&a.senders),
        "--senders must be between 1 and --members"
    );
    anyhow::ensure!(a.rate > 0.0, "--rate must be above 0");
    let base = super::first_server(&a.common)?;
    let mut accounts = Accounts::load(&a.common.accounts, &a.common.user_prefix)?;
    let users = accounts.users(base, a.members).await?;
    let group = accounts
        .group(base, &format!("room-{}", a.members), &users[0], &users)
        .await?;
    let per_sender = a.rate / a.senders as f64;
    let members = users
        .iter()
        .enumerate()
        .map(|(i, u)| Member {
            endpoint: 0,
            token: u.token.clone(),
            channel: 0,
            transport: if i < a.senders { Kind::Ws } else { kind },
            send_rate: if i < a.senders { per_sender } else { 0.0 },
        })
        .collect();
    Ok(LoadSpec {
        scenario: "room".into(),
        parameters: format!(
            "members={} rate={}/s senders={} size={}",
            a.members, a.rate, a.senders, a.size
        ),
        transport: kind,
        channels: vec![group],
        members,
        size: a.size,
        poll_interval,
    })
}
