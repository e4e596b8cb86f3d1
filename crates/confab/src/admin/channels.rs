//! `confab admin channels`: list, inspect, delete.

use confab_proto::{ChannelId, ChannelKind, UserId};
use confab_store::admin::ChannelRecord;
use confab_store::AdminStore;

use super::{code, report, table, time, ChannelsCommand, Failure, Outcome};

pub(super) fn channel_id(raw: &str) -> Result<ChannelId, Failure> {
    raw.trim()
        .parse()
        .map_err(|_| Failure::new(code::USAGE, format!("{raw:?} is not a channel id")))
}

/// How a channel is called: a group's name, or a direct channel's two usernames.
pub(super) fn channel_label(
    c: &ChannelRecord,
    names: &std::collections::HashMap<UserId, String>,
) -> String {
    match (c.kind, &c.pair) {
        (ChannelKind::Direct, Some(pair)) => pair
            .iter()
            .map(|id| names.get(id).cloned().unwrap_or_else(|| id.to_string()))
            .collect::<Vec<_>>()
            .join(" + "),
        _ => c.name.clone().unwrap_or_default(),
    }
}

pub(super) fn kind(k: ChannelKind) -> &'static str {
    match k {
        ChannelKind::Direct => "direct",
        ChannelKind::Group => "group",
    }
}

pub(super) async fn channels(store: &dyn AdminStore, cmd: ChannelsCommand, json: bool) -> Outcome {
    match cmd {
        ChannelsCommand::List => {
            let channels = store.list_channels().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&channels)?);
                return Ok(0);
            }
            let names = usernames(store).await?;
            let rows = channels
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        kind(c.kind).into(),
                        channel_label(c, &names),
                        c.member_count.to_string(),
                        c.last_seq.to_string(),
                        c.msg_count.to_string(),
                        time(c.created_at),
                    ]
                })
                .collect();
            table(
                &[
                    "ID", "KIND", "NAME", "MEMBERS", "HEAD SEQ", "MESSAGES", "CREATED",
                ],
                rows,
            );
            Ok(0)
        }
        ChannelsCommand::Inspect { id } => {
            let id = channel_id(&id)?;
            let Some(detail) = store.inspect_channel(id).await? else {
                return Err(Failure::new(code::NOT_FOUND, format!("no channel {id}")));
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
                return Ok(0);
            }
            let c = &detail.channel;
            let names = usernames(store).await?;
            let fields = [
                ("id", c.id.to_string()),
                ("kind", kind(c.kind).into()),
                ("name", channel_label(c, &names)),
                ("created", time(c.created_at)),
                ("members", c.member_count.to_string()),
                ("head seq", c.last_seq.to_string()),
                ("pruned through", c.pruned_through.to_string()),
                ("events stored", detail.events_stored.to_string()),
                ("messages", c.msg_count.to_string()),
                ("messages stored", detail.messages_stored.to_string()),
                (
                    "oldest event",
                    detail.oldest_ts.map_or_else(|| "-".into(), time),
                ),
                (
                    "newest event",
                    detail.newest_ts.map_or_else(|| "-".into(), time),
                ),
            ];
            for (key, value) in fields {
                println!("{:<16} {value}", format!("{key}:"));
            }
            println!();
            let rows = detail
                .members
                .iter()
                .map(|m| {
                    vec![
                        m.user.id.to_string(),
                        m.user.username.clone(),
                        m.role.as_str().into(),
                        m.joined_seq.to_string(),
                        m.read_seq.to_string(),
                        m.delivered_seq.to_string(),
                    ]
                })
                .collect();
            table(
                &["USER ID", "USERNAME", "ROLE", "JOINED", "READ", "DELIVERED"],
                rows,
            );
            Ok(0)
        }
        ChannelsCommand::Delete { id } => {
            let id = channel_id(&id)?;
            let deleted = store.delete_channel(id).await?;
            report(json, &deleted, || {
                format!(
                    "deleted channel {id}: {} events, {} memberships",
                    deleted.events, deleted.members
                )
            })
        }
    }
}

pub(super) async fn usernames(
    store: &dyn AdminStore,
) -> Result<std::collections::HashMap<UserId, String>, Failure> {
    Ok(store
        .list_users(true)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
}
