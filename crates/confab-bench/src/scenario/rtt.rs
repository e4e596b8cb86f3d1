//! `rtt`: the latency a user feels with no load. Two users in a direct channel, each on one SDK
//! client over the transport measured: A sends, B receives it and replies, A receives the reply.
//! One round trip at a time, so nothing queues behind anything.

use std::time::{Duration, Instant};

use confab_client::{Client, ClientConfig, ClientEvent, Events, Transport};
use confab_proto::{ChannelId, EventBody, UserId};

use crate::account::Accounts;
use crate::args::RttArgs;
use crate::meter::Percentiles;
use crate::report::Report;
use crate::transport::Kind;

/// Round trips made before measuring (connections and caches warm).
const WARMUP_TRIPS: usize = 5;

/// How long one leg may take before the run fails.
const PATIENCE: Duration = Duration::from_secs(10);

pub async fn run(a: &RttArgs) -> anyhow::Result<Vec<Report>> {
    anyhow::ensure!(a.trips >= 1, "--trips must be at least 1");
    let base = super::first_server(&a.common)?;
    let mut accounts = Accounts::load(&a.common.accounts, &a.common.user_prefix)?;
    let users = accounts.users(base, 2).await?;
    let channel: ChannelId = accounts
        .direct(base, &users[0], &users[1])
        .await?
        .parse()
        .map_err(|_| anyhow::anyhow!("the accounts cache holds a bad channel id"))?;
    let mut reports = Vec::new();
    for kind in &a.only {
        let transport = match kind {
            Kind::Ws => Transport::WebSocket,
            Kind::Longpoll => Transport::LongPoll,
            other => anyhow::bail!("rtt measures ws and longpoll, not {}", other.name()),
        };
        let (alice, mut alice_events) = connect(base, &users[0].token, transport).await?;
        let (bob, mut bob_events) = connect(base, &users[1].token, transport).await?;
        let alice_id = alice.ready().user.id;
        let bob_id = bob.ready().user.id;
        let mut micros = Vec::with_capacity(a.trips);
        for i in 0..WARMUP_TRIPS + a.trips {
            let started = Instant::now();
            alice.send(channel, &format!("ping {i}")).await?;
            message_from(&mut bob_events, channel, alice_id).await?;
            bob.send(channel, &format!("pong {i}")).await?;
            message_from(&mut alice_events, channel, bob_id).await?;
            if i >= WARMUP_TRIPS {
                micros.push(started.elapsed().as_micros() as u64);
            }
        }
        alice.close().await;
        bob.close().await;
        reports.push(Report {
            scenario: "rtt".into(),
            transport: Some(kind.name().into()),
            parameters: format!("trips={}", a.trips),
            servers: 1,
            connections: 2,
            sent: 2 * (WARMUP_TRIPS + a.trips) as u64,
            acked: 2 * (WARMUP_TRIPS + a.trips) as u64,
            latency: Percentiles::of_samples(&micros),
            ..Report::default()
        });
    }
    Ok(reports)
}

async fn connect(
    base: &str,
    token: &str,
    transport: Transport,
) -> anyhow::Result<(Client, Events)> {
    let ws = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut config = ClientConfig::new(&ws, token);
    config.http_base = Some(base.to_owned());
    config.transport = transport;
    Ok(Client::connect_with(config).await?)
}

/// Waits for the next message from `author` in `channel`.
async fn message_from(
    events: &mut Events,
    channel: ChannelId,
    author: UserId,
) -> anyhow::Result<()> {
    loop {
        let next = tokio::time::timeout(PATIENCE, events.next())
            .await
            .map_err(|_| anyhow::anyhow!("no message within {PATIENCE:?}"))?;
        match next {
            Some(ClientEvent::Event(event))
                if event.channel_id == channel
                    && event.author.id == author
                    && matches!(event.body, EventBody::Message { .. }) =>
            {
                return Ok(())
            }
            Some(ClientEvent::Closed { code, reason }) => {
                anyhow::bail!("connection closed ({code:?}): {reason}")
            }
            Some(_) => {}
            None => anyhow::bail!("event stream ended"),
        }
    }
}
