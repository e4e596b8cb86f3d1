//! `confab bench seed`: a database that looks like a real team's, built in seconds directly
//! through the store — no HTTP, and one argon2 hash for every user instead of one each — so every
//! benchmark scenario can run against realistic history and read pointers.
//!
//! What it builds: `users` users named `<prefix><i>`, each with a session token; one large group
//! of the first `large_group` users (owned by user 0: the group `confab bench room --members N`
//! looks for); `small_groups` groups of `small_size` random users; `directs` direct channels (the
//! first ones pairing users 0–1, 2–3, … as `confab bench dm` does); `messages` messages, a
//! `large_share` of them in the large group and the rest spread over the other channels, each from
//! a random member; then every member's read pointer about `unread` messages before the end of
//! each channel (0: everything read). A run with `read_pointers_only` moves the pointers of an
//! already seeded database forward (they never move back) and adds nothing.

use std::time::{Duration, Instant};

use anyhow::Context;
use confab_proto::{ChannelId, UserId};
use confab_store::{NewMessage, Store};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::auth;
use crate::config::Config;

/// What to build.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    /// Usernames are the prefix and a number.
    pub prefix: String,
    pub users: usize,
    /// Members of the large group (users 0..n); 0: no large group.
    pub large_group: usize,
    pub small_groups: usize,
    pub small_size: usize,
    pub directs: usize,
    pub messages: u64,
    /// The fraction of the messages sent in the large group.
    pub large_share: f64,
    /// Messages each member leaves unread in each channel, roughly (±10 %).
    pub unread: u64,
    pub body_size: usize,
    /// Every user's password.
    pub password: String,
    /// Messages stored in one transaction.
    pub batch: usize,
    /// Only move the read pointers of an existing seeded database.
    pub read_pointers_only: bool,
    /// The random generator's seed, so that two runs build the same shapes.
    pub seed: u64,
}

/// What was built: the users' tokens and the channels' keys, for the benchmark's accounts cache.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    /// (username, token) of each user, in order.
    pub users: Vec<(String, String)>,
    /// (key, id) of the channels the scenarios look up (`room-N`, `dm-A-B`).
    pub channels: Vec<(String, ChannelId)>,
    pub messages: u64,
    pub elapsed: Duration,
}

/// One channel being filled: its id and members.
struct Target {
    id: ChannelId,
    key: Option<String>,
    members: Vec<UserId>,
}

/// Builds the database the plan describes in the store `config` names, reporting progress with
/// `note` (a line at a time).
pub async fn seed(config: &Config, plan: &SeedPlan, note: impl Fn(&str)) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let store = crate::app::open_store(config).await?;
    let result = build(&*store, plan, &note).await;
    store.close().await;
    let mut seeded = result?;
    seeded.elapsed = started.elapsed();
    Ok(seeded)
}

async fn build(store: &dyn Store, plan: &SeedPlan, note: &impl Fn(&str)) -> anyhow::Result<Seeded> {
    anyhow::ensure!(plan.users >= 2, "seed at least 2 users");
    anyhow::ensure!(
        plan.large_group <= plan.users,
        "the large group has more members than users"
    );
    anyhow::ensure!(
        plan.small_size >= 2 || plan.small_groups == 0,
        "a small group needs 2 members"
    );
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let (users, tokens) = users(store, plan, note).await?;
    let mut seeded = Seeded {
        users: tokens,
        ..Seeded::default()
    };
    let targets = channels(store, plan, &users, &mut rng).await?;
    seeded.channels = targets
        .iter()
        .filter_map(|t| t.key.clone().map(|k| (k, t.id)))
        .collect();
    if !plan.read_pointers_only {
        seeded.messages = messages(store, plan, &targets, note).await?;
    }
    note("moving read pointers");
    for t in &targets {
        let last = store
            .channel_of(t.id, t.members[0])
            .await?
            .context("a seeded channel without its owner")?
            .last_seq;
        for &member in &t.members {
            let jitter = plan.unread / 10;
            let left = plan.unread.saturating_sub(jitter) + rng.gen_range(0..=jitter * 2);
            store
                .mark_read(t.id, member, last.saturating_sub(left))
                .await?;
        }
    }
    Ok(seeded)
}

/// The users, created (with one shared password hash) or found, each with a new token.
async fn users(
    store: &dyn Store,
    plan: &SeedPlan,
    note: &impl Fn(&str),
) -> anyhow::Result<(Vec<UserId>, Vec<(String, String)>)> {
    note(&format!("{} users", plan.users));
    let hash = auth::hash_password(plan.password.clone())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the password: {}", e.0.message))?;
    let mut ids = Vec::with_capacity(plan.users);
    let mut tokens = Vec::with_capacity(plan.users);
    for i in 0..plan.users {
        let name = format!("{}{i}", plan.prefix);
        let user = match store.create_user(&name, &hash).await {
            Ok(user) => user,
            Err(confab_store::StoreError::Conflict(_)) => {
                store
                    .credentials(&name)
                    .await?
                    .context("a user that exists and does not")?
                    .user
            }
            Err(e) => return Err(e).with_context(|| format!("creating {name}")),
        };
        let (token, token_hash) = auth::new_token();
        store.insert_token(&token_hash, user.id).await?;
        ids.push(user.id);
        tokens.push((name, token));
    }
    Ok((ids, tokens))
}

/// The large group, the small groups and the direct channels (the existing ones when seeding
/// pointers only: a direct channel exists once per pair, groups are found through user 0).
async fn channels(
    store: &dyn Store,
    plan: &SeedPlan,
    users: &[UserId],
    rng: &mut StdRng,
) -> anyhow::Result<Vec<Target>> {
    let name = |i: usize| format!("{}{i}", plan.prefix);
    let mut targets = Vec::new();
    let existing = store.channels_of(users[0]).await?;
    if plan.large_group > 0 {
        let members = users[..plan.large_group].to_vec();
        let key = format!("room-{}", plan.large_group);
        let group_name = format!("bench {key}");
        let id = match existing
            .iter()
            .find(|c| c.name.as_deref() == Some(&group_name))
        {
            Some(c) => c.id,
            None => {
                let max = u32::try_from(members.len()).unwrap_or(u32::MAX);
                store
                    .create_group(members[0], &group_name, &members[1..], max)
                    .await?
                    .channel_id
            }
        };
        targets.push(Target {
            id,
            key: Some(key),
            members,
        });
    }
    for g in 0..plan.small_groups {
        let mut members: Vec<UserId> = users
            .choose_multiple(rng, plan.small_size)
            .copied()
            .collect();
        let group_name = format!("seed small {g}");
        let id = match existing
            .iter()
            .find(|c| c.name.as_deref() == Some(&group_name))
        {
            Some(c) => {
                members = store
                    .members(c.id)
                    .await?
                    .iter()
                    .map(|m| m.user.id)
                    .collect();
                c.id
            }
            None => {
                // User 0 owns every small group, so a later run finds them through it.
                members.retain(|u| *u != users[0]);
                members.insert(0, users[0]);
                members.truncate(plan.small_size);
                store
                    .create_group(users[0], &group_name, &members[1..], plan.small_size as u32)
                    .await?
                    .channel_id
            }
        };
        targets.push(Target {
            id,
            key: None,
            members,
        });
    }
    for d in 0..plan.directs {
        // The first pairs are the load generator's (`dm --pairs`); then random ones.
        let (a, b) = if 2 * d + 1 < users.len() {
            (2 * d, 2 * d + 1)
        } else {
            let a = rng.gen_range(0..users.len());
            let b = (a + rng.gen_range(1..users.len())) % users.len();
            (a.min(b), a.max(b))
        };
        let id = store.create_direct(users[a], users[b]).await?.channel_id;
        let key = (2 * d + 1 < users.len()).then(|| format!("dm-{}-{}", name(a), name(b)));
        targets.push(Target {
            id,
            key,
            members: vec![users[a], users[b]],
        });
    }
    Ok(targets)
}

/// Appends the messages, `batch` to a transaction (the same rules as sends, one commit per batch:
/// a commit per message would cost more than the messages); returns how many were stored.
async fn messages(
    store: &dyn Store,
    plan: &SeedPlan,
    targets: &[Target],
    note: &impl Fn(&str),
) -> anyhow::Result<u64> {
    if targets.is_empty() || plan.messages == 0 {
        return Ok(0);
    }
    let has_large = plan.large_group > 0;
    let (large, rest) = if has_large {
        (&targets[..1], &targets[1..])
    } else {
        (&targets[..0], targets)
    };
    let body: String = "The quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(plan.body_size.max(1))
        .collect();
    let started = Instant::now();
    let batch = plan.batch.max(1) as u64;
    let mut rng = StdRng::seed_from_u64(plan.seed ^ 0x9e37_79b9);
    let mut sent = 0;
    let mut reported = 0;
    while sent < plan.messages {
        let count = batch.min(plan.messages - sent);
        let drafts = (sent..sent + count)
            .map(|n| {
                let in_large =
                    !large.is_empty() && (rest.is_empty() || rng.gen_bool(plan.large_share));
                let t = if in_large {
                    &large[0]
                } else {
                    &rest[rng.gen_range(0..rest.len())]
                };
                NewMessage {
                    channel: t.id,
                    sender: t.members[rng.gen_range(0..t.members.len())],
                    client_id: format!("seed-{}-{n}", plan.seed),
                    body: body.clone(),
                }
            })
            .collect();
        let outcomes = store
            .append_messages(drafts)
            .await
            .with_context(|| format!("appending messages {sent}.."))?;
        for outcome in outcomes {
            outcome.context("a seeded message was refused")?;
        }
        sent += count;
        if sent / 100_000 > reported {
            reported = sent / 100_000;
            let rate = sent as f64 / started.elapsed().as_secs_f64();
            note(&format!("{sent} messages ({rate:.0}/s)"));
        }
    }
    Ok(sent)
}
