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

/// Checks the room's flags.
pub(crate) fn validate(a: &RoomArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.members >= 1, "--members must be at least 1");
    anyhow::ensure!(
        (1..=a.members).contains(&a.senders),
        "--senders must be between 1 and --members"
    );
    anyhow::ensure!(a.rate > 0.0 && a.rate.is_finite(), "--rate must be above 0");
    Ok(())
}

/// The room as a load: the first `senders` members send over WebSocket, the others receive over
/// `kind`. Provisions the users and the group on the first `--server` (once; cached).
pub(crate) async fn plan(
    a: &RoomArgs,
    kind: Kind,
    poll_interval: Duration,
) -> anyhow::Result<LoadSpec> {
    validate(a)?;
    let base = super::first_server(&a.common)?;
    let mut accounts = Accounts::load(&a.common.accounts, &a.common.user_prefix)?;
    let users = accounts.users(base, a.members).await?;
    let group = accounts
        .group(base, &format!("room-{}", a.members), &users[0], &users)
        .await?;
    let tokens = users.iter().map(|u| u.token.clone()).collect();
    Ok(spec(a, kind, poll_interval, tokens, group))
}

/// The room as a load on the lean server (`confab bench lean-server`): nothing to provision, any
/// token, its one room.
pub(crate) fn lean_plan(a: &RoomArgs) -> anyhow::Result<LoadSpec> {
    validate(a)?;
    let tokens = (0..a.members).map(|i| format!("lean{i}")).collect();
    Ok(spec(
        a,
        Kind::Ws,
        Duration::ZERO,
        tokens,
        crate::lean::ROOM.to_owned(),
    ))
}

/// The measured run of the room, whatever the server: member i logs in with `tokens[i]`.
fn spec(
    a: &RoomArgs,
    kind: Kind,
    poll_interval: Duration,
    tokens: Vec<String>,
    group: String,
) -> LoadSpec {
    let per_sender = a.rate / a.senders as f64;
    let members = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| Member {
            endpoint: 0,
            token,
            channel: 0,
            transport: if i < a.senders { Kind::Ws } else { kind },
            send_rate: if i < a.senders { per_sender } else { 0.0 },
        })
        .collect();
    LoadSpec {
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
    }
}
