//! The administrator's calls ([`AdminStore`]): listing, disabling, token revocation, deleting a
//! user with their data (seqs stay gapless, counts exact), channels, and a clean check.

use confab_proto::{ChannelKind, EventBody, Role};

use super::{after, new_user, page};
use crate::admin::{tombstone_name, REDACTED_BODY};
use crate::{AdminStore, StoreError};

pub(super) async fn users_disable_and_tokens(store: &dyn AdminStore, tag: &str) {
    let name = format!("adm{tag}");
    let ann = store.create_user(&name, "hash-1").await.expect("create");
    let listed = store.list_users(false).await.expect("list");
    let record = listed
        .iter()
        .find(|u| u.id == ann.id)
        .expect("a new user is listed");
    assert_eq!(record.username, name);
    assert_eq!((record.disabled_at, record.deleted_at), (None, None));
    assert_eq!(record.tokens, 0);
    let found = store.find_user(&name).await.expect("find").expect("found");
    assert_eq!(found.id, ann.id);
    assert_eq!(store.find_user("nobody-at-all").await.expect("find"), None);

    store.set_password(ann.id, "hash-2").await.expect("reset");
    let creds = store.credentials(&name).await.expect("c").expect("exists");
    assert_eq!(creds.password_hash, "hash-2");
    assert!(!creds.disabled);

    let (t1, t2) = (format!("adm-t1-{tag}"), format!("adm-t2-{tag}"));
    store.insert_token(t1.as_bytes(), ann.id).await.expect("t1");
    store.insert_token(t2.as_bytes(), ann.id).await.expect("t2");
    let record = store.find_user(&name).await.expect("find").expect("found");
    assert_eq!(record.tokens, 2);

    // Disabled: no login, no token works, but the tokens are kept.
    assert!(store.set_disabled(ann.id, true).await.expect("disable"));
    assert!(!store.set_disabled(ann.id, true).await.expect("again"));
    let creds = store.credentials(&name).await.expect("c").expect("exists");
    assert!(creds.disabled, "credentials say the account is disabled");
    assert_eq!(store.token_user(t1.as_bytes()).await.expect("lookup"), None);
    let record = store.find_user(&name).await.expect("find").expect("found");
    assert!(record.disabled_at.is_some());
    assert_eq!(store.user_tokens(ann.id).await.expect("tokens").len(), 2);

    // Enabled again: the same tokens work.
    assert!(store.set_disabled(ann.id, false).await.expect("enable"));
    assert!(!store.set_disabled(ann.id, false).await.expect("again"));
    assert_eq!(
        store.token_user(t1.as_bytes()).await.expect("lookup"),
        Some(ann.clone())
    );

    let mut revoked = store.revoke_tokens(ann.id).await.expect("revoke");
    revoked.sort();
    assert_eq!(revoked, vec![t1.clone().into_bytes(), t2.into_bytes()]);
    assert_eq!(store.token_user(t1.as_bytes()).await.expect("lookup"), None);
    assert!(store.revoke_tokens(ann.id).await.expect("again").is_empty());
}

pub(super) async fn deleting_a_user_keeps_seqs_gapless(store: &dyn AdminStore, tag: &str) {
    let name = format!("gone{tag}");
    let gone = new_user(store, &name).await;
    let bob = new_user(store, &format!("stay{tag}")).await;
    let carol = new_user(store, &format!("heir{tag}")).await;
    let token = format!("gone-token-{tag}");
    store.insert_token(token.as_bytes(), gone).await.expect("t");
    let group = store
        .create_group(gone, "doomed owner", &[bob], 10)
        .await
        .expect("group")
        .channel_id;
    store.add_member(group, gone, carol, 10).await.expect("add");
    store
        .set_role(group, gone, carol, Role::Admin)
        .await
        .expect("promote");
    let direct = store.create_direct(gone, bob).await.expect("dm").channel_id;
    for (i, (ch, from)) in [(group, gone), (group, bob), (direct, gone), (group, gone)]
        .into_iter()
        .enumerate()
    {
        store
            .append_message(ch, from, &format!("c{i}"), &format!("text {i}"))
            .await
            .expect("send");
    }
    let unread_before = store
        .channel_of(group, bob)
        .await
        .expect("s")
        .expect("m")
        .unread;
    assert_eq!(unread_before, 2);
    let last_before = page(store, group, after(0, 100)).await.last_seq;

    let deletion = store.delete_user(gone).await.expect("delete");
    let tombstone = tombstone_name(gone);
    assert_eq!(deletion.tombstone, tombstone);
    assert_eq!(deletion.tokens_revoked, 1);
    assert_eq!(deletion.channels_left, 2);
    assert_eq!(deletion.messages_redacted, 3);
    assert!(deletion.events_renamed >= 2, "created and added-by events");
    // The group: the owner left, the admin inherited it; both events in seq order.
    let kinds: Vec<_> = deletion.events.iter().map(|e| e.body.kind()).collect();
    assert_eq!(kinds, ["member_left", "role_changed", "member_left"]);
    assert!(
        deletion
            .events
            .iter()
            .all(|e| e.author.username == tombstone),
        "the events name the tombstone, as history does"
    );

    let history = page(store, group, after(0, 100)).await;
    assert_eq!(history.last_seq, last_before + 2);
    let seqs: Vec<u64> = history.events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=history.last_seq).collect::<Vec<_>>(),
        "gapless after the deletion"
    );
    for event in &history.events {
        if event.author.id == gone {
            assert_eq!(event.author.username, tombstone);
            if let EventBody::Message { body, .. } = &event.body {
                assert_eq!(body, REDACTED_BODY);
            }
        } else if let EventBody::Message { body, .. } = &event.body {
            assert_ne!(body, REDACTED_BODY, "others' messages are kept");
        }
        let text = serde_json::to_string(&event.body).expect("json");
        assert!(
            !text.contains(&name),
            "no event names the deleted user: {text}"
        );
    }
    let members = store.members(group).await.expect("members");
    assert_eq!(members.len(), 2);
    assert_eq!((members[0].user.id, members[0].role), (carol, Role::Owner));
    assert_eq!(
        store
            .channel_of(group, bob)
            .await
            .expect("s")
            .expect("m")
            .unread,
        unread_before,
        "redacted messages still count; membership events never do"
    );
    let dm = page(store, direct, after(0, 100)).await;
    assert_eq!(
        dm.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=dm.last_seq).collect::<Vec<_>>()
    );
    assert_eq!(
        store
            .channel_of(direct, bob)
            .await
            .expect("s")
            .map(|s| s.member_count),
        Some(1)
    );
    assert_eq!(store.channels_of(gone).await.expect("none").len(), 0);

    // The name is free, the tombstone can do nothing.
    assert!(store.credentials(&name).await.expect("c").is_none());
    assert_eq!(store.token_user(token.as_bytes()).await.expect("t"), None);
    assert!(store.find_send(gone, "c0").await.expect("send").is_none());
    let record = store.find_user(&tombstone).await.expect("f").expect("tomb");
    assert!(record.deleted_at.is_some() && record.disabled_at.is_some());
    assert_eq!(record.tokens, 0);
    assert!(!store
        .list_users(false)
        .await
        .expect("list")
        .iter()
        .any(|u| u.id == gone));
    assert!(store
        .list_users(true)
        .await
        .expect("list")
        .iter()
        .any(|u| u.id == gone));
    assert!(matches!(
        store.delete_user(gone).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_disabled(gone, false).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_password(gone, "x").await,
        Err(StoreError::NotFound(_))
    ));
    store
        .create_user(&name, "h")
        .await
        .expect("the name is free");
}

pub(super) async fn channels_listed_inspected_deleted(store: &dyn AdminStore, tag: &str) {
    let a = new_user(store, &format!("cha{tag}")).await;
    let b = new_user(store, &format!("chb{tag}")).await;
    let group = store
        .create_group(a, "inspected", &[b], 10)
        .await
        .expect("group")
        .channel_id;
    store
        .set_role(group, a, b, Role::Admin)
        .await
        .expect("role");
    for i in 0..3 {
        store
            .append_message(group, b, &format!("i{i}"), "x")
            .await
            .expect("send");
    }
    store.mark_read(group, a, 3).await.expect("read");
    let direct = store.create_direct(a, b).await.expect("dm").channel_id;

    let channels = store.list_channels().await.expect("list");
    let g = channels.iter().find(|c| c.id == group).expect("listed");
    assert_eq!(
        (g.kind, g.name.as_deref(), g.member_count),
        (ChannelKind::Group, Some("inspected"), 2)
    );
    assert_eq!((g.last_seq, g.msg_count, g.pruned_through), (5, 3, 0));
    let d = channels.iter().find(|c| c.id == direct).expect("listed");
    let mut pair = d.pair.expect("a direct channel has its pair");
    pair.sort();
    let mut want = [a, b];
    want.sort();
    assert_eq!(pair, want);

    let detail = store
        .inspect_channel(group)
        .await
        .expect("inspect")
        .expect("exists");
    assert_eq!((detail.events_stored, detail.messages_stored), (5, 3));
    let roles: Vec<_> = detail.members.iter().map(|m| (m.user.id, m.role)).collect();
    assert_eq!(roles, [(a, Role::Owner), (b, Role::Admin)]);
    assert_eq!(detail.members[0].read_seq, 3);
    assert!(detail.oldest_ts.is_some() && detail.newest_ts >= detail.oldest_ts);

    let deleted = store.delete_channel(group).await.expect("delete");
    assert_eq!((deleted.events, deleted.members, deleted.sends), (5, 2, 3));
    assert_eq!(store.inspect_channel(group).await.expect("inspect"), None);
    assert!(matches!(
        store.history(group, after(0, 10)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_channel(group).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.append_message(group, a, "late", "x").await,
        Err(StoreError::Forbidden(_) | StoreError::NotFound(_))
    ));
    let left: Vec<_> = store
        .channels_of(a)
        .await
        .expect("channels")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, [direct]);
}

/// Everything the suite did, retention included, leaves a store the check finds sound.
pub(super) async fn the_check_finds_nothing_wrong(store: &dyn AdminStore) {
    let problems = store.check().await.expect("check");
    assert!(
        problems.is_empty(),
        "a sound store has no problems: {:#?}",
        problems
    );
}
