//! `confab admin users`: list, create, reset passwords, disable, enable, delete.

use std::io::BufRead;

use anyhow::Context;
use confab_server::admin as server;
use confab_server::Config;
use confab_store::admin::UserRecord;
use confab_store::AdminStore;
use serde_json::json;

use super::{code, live_note, notify, report, table, time, Failure, Outcome, UsersCommand};

/// The user named `raw` (not a deleted one).
pub(super) async fn find(store: &dyn AdminStore, raw: &str) -> Result<UserRecord, Failure> {
    let missing = || Failure::new(code::NOT_FOUND, format!("no user named {raw:?}"));
    let name = server::normalize_username(raw).map_err(|_| missing())?;
    match store.find_user(&name).await? {
        Some(user) if user.deleted_at.is_none() => Ok(user),
        _ => Err(missing()),
    }
}

/// A new password: the first line of stdin, or a generated one (returned to be printed).
pub(super) fn new_password(from_stdin: bool) -> Result<(String, bool), Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        server::check_password(&password).map_err(|m| Failure::new(code::USAGE, m))?;
        return Ok((password, false));
    }
    use rand::Rng;
    // No look-alikes (0/o, 1/l/i): read off a screen and typed.
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let password = (0..20)
        .map(|i| {
            let c = ALPHABET[rng.gen_range(0..ALPHABET.len())] as char;
            if i > 0 && i % 5 == 0 {
                format!("-{c}")
            } else {
                c.to_string()
            }
        })
        .collect();
    Ok((password, true))
}

pub(super) async fn hash(password: String) -> Result<String, Failure> {
    Ok(
        tokio::task::spawn_blocking(move || server::hash_password(&password))
            .await
            .context("hashing the password")??,
    )
}

pub(super) async fn users(
    config: &Config,
    store: &dyn AdminStore,
    cmd: UsersCommand,
    json: bool,
) -> Outcome {
    match cmd {
        UsersCommand::List { all } => {
            let users = store.list_users(all).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
                return Ok(0);
            }
            let rows = users
                .iter()
                .map(|u| {
                    vec![
                        u.id.to_string(),
                        u.username.clone(),
                        time(u.created_at),
                        u.last_seen.map_or_else(|| "-".into(), time),
                        status(u).into(),
                        u.tokens.to_string(),
                    ]
                })
                .collect();
            table(
                &["ID", "USERNAME", "CREATED", "LAST SEEN", "STATUS", "TOKENS"],
                rows,
            );
            Ok(0)
        }
        UsersCommand::Create {
            name,
            password_stdin,
        } => {
            let username =
                server::normalize_username(&name).map_err(|m| Failure::new(code::USAGE, m))?;
            let (password, generated) = new_password(password_stdin)?;
            let user = store
                .create_user(&username, &hash(password.clone()).await?)
                .await?;
            let shown = generated.then_some(password);
            report(
                json,
                &json!({"id": user.id, "username": user.username, "created_at": user.created_at,
                        "password": shown}),
                || {
                    let mut text = format!("created user {} (id {})", user.username, user.id);
                    if let Some(p) = &shown {
                        text.push_str(&format!("\npassword: {p}"));
                    }
                    text
                },
            )
        }
        UsersCommand::ResetPassword {
            name,
            password_stdin,
        } => {
            let user = find(store, &name).await?;
            let (password, generated) = new_password(password_stdin)?;
            store
                .set_password(user.id, &hash(password.clone()).await?)
                .await?;
            let shown = generated.then_some(password);
            report(
                json,
                &json!({"id": user.id, "username": user.username, "password": shown}),
                || {
                    let mut text = format!(
                        "new password set for {} (their devices stay signed in: \
                         `confab admin tokens revoke {}` signs them out)",
                        user.username, user.username
                    );
                    if let Some(p) = &shown {
                        text.push_str(&format!("\npassword: {p}"));
                    }
                    text
                },
            )
        }
        UsersCommand::Disable { name } => {
            let user = find(store, &name).await?;
            let changed = store.set_disabled(user.id, true).await?;
            let hashes = store.user_tokens(user.id).await?;
            let told = changed
                && notify(config, |n| async move { n.revoked(user.id, &hashes).await }).await;
            report(
                json,
                &json!({"username": user.username, "disabled": true, "changed": changed,
                        "sessions_closed": told}),
                || {
                    if changed {
                        format!(
                            "disabled {}{}",
                            user.username,
                            live_note(told, "their open sessions were closed")
                        )
                    } else {
                        format!("{} was already disabled", user.username)
                    }
                },
            )
        }
        UsersCommand::Enable { name } => {
            let user = find(store, &name).await?;
            let changed = store.set_disabled(user.id, false).await?;
            report(
                json,
                &json!({"username": user.username, "disabled": false, "changed": changed}),
                || {
                    if changed {
                        format!("enabled {}", user.username)
                    } else {
                        format!("{} was not disabled", user.username)
                    }
                },
            )
        }
        UsersCommand::Delete { name } => {
            let user = find(store, &name).await?;
            let hashes = store.user_tokens(user.id).await?;
            let deletion = store.delete_user(user.id).await?;
            let events = deletion.events.clone();
            let told = notify(config, |n| async move {
                n.revoked(user.id, &hashes).await?;
                n.events(&events).await
            })
            .await;
            report(json, &deletion, || {
                format!(
                    "deleted {} (id {}, kept as {}): {} tokens revoked, left {} channels, \
                     {} messages redacted, {} events renamed{}",
                    user.username,
                    user.id,
                    deletion.tombstone,
                    deletion.tokens_revoked,
                    deletion.channels_left,
                    deletion.messages_redacted,
                    deletion.events_renamed,
                    live_note(told, "running servers were told")
                )
            })
        }
    }
}

pub(super) fn status(u: &UserRecord) -> &'static str {
    if u.deleted_at.is_some() {
        "deleted"
    } else if u.disabled_at.is_some() {
        "disabled"
    } else {
        "active"
    }
}
