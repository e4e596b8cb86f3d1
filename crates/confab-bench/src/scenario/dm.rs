//! `dm`: N pairs, each in its direct channel, chatting at R messages/s per pair.

use std::time::Duration;

use crate::account::Accounts;
use crate::args::DmArgs;
use crate::load::{self, LoadSpec, Member};
use crate::report::Report;
use crate::transport::Kind;

pub async fn run(a: &DmArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(a.pairs >= 1, "--pairs must be at least 1");
    anyhow::ensure!(a.rate > 0.0, "--rate must be above 0");
    let base = super::first_server(&a.common)?;
    let mut accounts = Accounts::load(&a.common.accounts, &a.common.user_prefix)?;
    let users = accounts.users(base, a.pairs * 2).await?;
    let mut channels = Vec::with_capacity(a.pairs);
    let mut members = Vec::with_capacity(a.pairs * 2);
    for p in 0..a.pairs {
        let (x, y) = (&users[2 * p], &users[2 * p + 1]);
        channels.push(accounts.direct(base, x, y).await?);
        for u in [x, y] {
            members.push(Member {
                endpoint: 0,
                token: u.token.clone(),
                channel: p,
                transport: Kind::Ws,
                send_rate: a.rate / 2.0,
            });
        }
    }
    let spec = LoadSpec {
        scenario: "dm".into(),
        parameters: format!(
            "pairs={} rate={}/s per pair size={}",
            a.pairs, a.rate, a.size
        ),
        transport: Kind::Ws,
        channels,
        members,
        size: a.size,
        poll_interval: Duration::ZERO,
    };
    load::run(&a.common, spec).await
}
