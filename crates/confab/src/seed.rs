//! `confab bench seed`: the store's seeding (`confab_server::seed`) with the load generator's
//! accounts cache, so the scenarios that follow use the seeded users and channels.

use anyhow::Context;
use confab_bench::account::{Account, Accounts, PASSWORD};
use confab_bench::args::SeedArgs;
use confab_server::seed::SeedPlan;
use confab_server::{Config, RawConfig};

/// Seeds the store the flags name and records the accounts for the first `--server`.
pub fn run(args: SeedArgs) -> anyhow::Result<()> {
    let raw = RawConfig {
        data_dir: args.data_dir.clone(),
        store: args.store.clone(),
        store_schema: args.store_schema.clone(),
        ..RawConfig::default()
    };
    let config = Config::resolve(raw).context("invalid store settings")?;
    let plan = SeedPlan {
        prefix: args.common.user_prefix.clone(),
        users: args.users,
        large_group: args.large_group,
        small_groups: args.small_groups,
        small_size: args.small_size,
        directs: args.directs,
        messages: args.messages,
        large_share: args.large_share,
        unread: args.unread,
        body_size: args.size,
        password: PASSWORD.to_owned(),
        batch: args.batch,
        read_pointers_only: args.read_pointers_only,
        seed: args.seed,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let seeded = runtime.block_on(confab_server::seed::seed(&config, &plan, |line| {
        eprintln!("seed: {line}")
    }))?;
    let base = args
        .common
        .servers
        .first()
        .map(|s| s.trim_end_matches('/').to_owned())
        .context("no --server to record the accounts for")?;
    let mut accounts = Accounts::load(&args.common.accounts, &args.common.user_prefix)?;
    let users = seeded
        .users
        .into_iter()
        .map(|(username, token)| Account { username, token });
    let channels = seeded
        .channels
        .into_iter()
        .map(|(key, id)| (key, id.to_string()));
    accounts.record(&base, users, channels)?;
    println!(
        "seeded {} users, {} messages in {:.1} s; accounts for {base} in {}",
        plan.users,
        seeded.messages,
        seeded.elapsed.as_secs_f64(),
        args.common.accounts.display()
    );
    Ok(())
}
