//! Users, groups and direct channels for the benchmarks, provisioned once per server and cached
//! in a file (`--accounts`), keyed by server URL and username, so later runs skip the argon2
//! hashes of registration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use confab_client::Http;
use confab_proto::{ChannelId, ErrorCode};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

/// Every benchmark user's password.
pub const PASSWORD: &str = "confab-bench-password";

/// Registrations in flight at once (the server bounds concurrent hashes itself).
const REGISTER_CONCURRENCY: usize = 16;

/// A provisioned user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub username: String,
    pub token: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ServerCache {
    users: BTreeMap<String, Account>,
    /// Channel ids by key (`room-1000`, `dm-bench0-bench1`, …).
    channels: BTreeMap<String, String>,
}

/// The cache file, for several servers.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    servers: BTreeMap<String, ServerCache>,
}

/// The accounts of one run.
#[derive(Debug)]
pub struct Accounts {
    path: PathBuf,
    file: CacheFile,
    prefix: String,
}

impl Accounts {
    /// Loads the cache at `path` (missing: empty).
    pub fn load(path: &Path, prefix: &str) -> anyhow::Result<Accounts> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("reading the accounts cache {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CacheFile::default(),
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", path.display()));
            }
        };
        Ok(Accounts {
            path: path.to_owned(),
            file,
            prefix: prefix.to_owned(),
        })
    }

    /// Writes the cache back (through a temporary file, so a crash leaves the old one).
    pub fn save(&self) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let text = serde_json::to_string(&self.file).context("serializing the accounts cache")?;
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// The name of user `i`.
    pub fn username(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    /// Users 0..n on `base`, registering (or logging in) those not cached. Drops the server's
    /// cache first if its first cached token is no longer valid (the server's data was reset).
    pub async fn users(&mut self, base: &str, n: usize) -> anyhow::Result<Vec<Account>> {
        let http = Http::new(base);
        if let Some(first) = self
            .file
            .servers
            .get(base)
            .and_then(|s| s.users.values().next())
        {
            match http.with_token(&first.token).me().await {
                Ok(_) => {}
                // The token is unknown: the server's data was reset; provision again.
                Err(e) if e.api().is_some_and(|b| b.code == ErrorCode::Unauthorized) => {
                    self.file.servers.remove(base);
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("checking the cached accounts on {base}"));
                }
            }
        }
        let names: Vec<String> = (0..n).map(|i| self.username(i)).collect();
        let cache = self.file.servers.entry(base.to_owned()).or_default();
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !cache.users.contains_key(*n))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let http = Arc::new(http);
            let fresh: Vec<Account> = stream::iter(missing)
                .map(|name| {
                    let http = Arc::clone(&http);
                    async move { provision(&http, name).await }
                })
                .buffer_unordered(REGISTER_CONCURRENCY)
                .try_collect()
                .await?;
            for account in fresh {
                cache.users.insert(account.username.clone(), account);
            }
            self.save()?;
        }
        let cache = self.file.servers.entry(base.to_owned()).or_default();
        names
            .iter()
            .map(|n| {
                cache
                    .users
                    .get(n)
                    .cloned()
                    .with_context(|| format!("user {n} missing after provisioning"))
            })
            .collect()
    }

    /// Records users and channels provisioned outside the server's API (`confab bench seed`) as
    /// those of `base`, replacing what the cache held for it.
    pub fn record(
        &mut self,
        base: &str,
        users: impl IntoIterator<Item = Account>,
        channels: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<()> {
        let cache = ServerCache {
            users: users.into_iter().map(|a| (a.username.clone(), a)).collect(),
            channels: channels.into_iter().collect(),
        };
        self.file.servers.insert(base.to_owned(), cache);
        self.save()
    }

    /// A group named after `key` whose owner is `owner` and whose members are `members` (the
    /// owner included or not), created once and cached.
    pub async fn group(
        &mut self,
        base: &str,
        key: &str,
        owner: &Account,
        members: &[Account],
    ) -> anyhow::Result<String> {
        let http = Http::new(base).with_token(&owner.token);
        if let Some(id) = self.cached_channel(base, key, &http).await {
            return Ok(id);
        }
        let names: Vec<&str> = members
            .iter()
            .filter(|m| m.username != owner.username)
            .map(|m| m.username.as_str())
            .collect();
        let group = http
            .create_group(&format!("bench {key}"), &names)
            .await
            .with_context(|| {
                format!("creating group {key} with {} members (raise the server's --max-group-members?)", names.len() + 1)
            })?;
        let id = group.id.to_string();
        self.remember(base, key, &id)?;
        Ok(id)
    }

    /// The direct channel of `a` and `b`.
    pub async fn direct(&mut self, base: &str, a: &Account, b: &Account) -> anyhow::Result<String> {
        let key = format!("dm-{}-{}", a.username, b.username);
        let http = Http::new(base).with_token(&a.token);
        if let Some(id) = self.cached_channel(base, &key, &http).await {
            return Ok(id);
        }
        let dm = http
            .create_direct(&b.username)
            .await
            .with_context(|| format!("creating the direct channel {key}"))?;
        let id = dm.id.to_string();
        self.remember(base, &key, &id)?;
        Ok(id)
    }

    /// A cached channel id, if the channel still exists for `http`'s user.
    async fn cached_channel(&self, base: &str, key: &str, http: &Http) -> Option<String> {
        let id = self.file.servers.get(base)?.channels.get(key)?.clone();
        let parsed: ChannelId = id.parse().ok()?;
        http.channel(parsed).await.ok().map(|_| id)
    }

    fn remember(&mut self, base: &str, key: &str, id: &str) -> anyhow::Result<()> {
        self.file
            .servers
            .entry(base.to_owned())
            .or_default()
            .channels
            .insert(key.to_owned(), id.to_owned());
        self.save()
    }
}

/// Registers `name`, or logs in if it exists already.
async fn provision(http: &Http, name: String) -> anyhow::Result<Account> {
    let auth = match http.register(&name, PASSWORD).await {
        Ok(auth) => auth,
        Err(register) => http.login(&name, PASSWORD).await.with_context(|| {
            format!("registering {name} failed ({register}) and so did logging in")
        })?,
    };
    Ok(Account {
        username: name,
        token: auth.token,
    })
}
