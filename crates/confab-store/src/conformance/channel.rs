//! Channels and membership: one direct channel per pair, fixed members there; groups with
//! roles, the size limit, who may add, remove and promote, and the owner's heir.

use confab_proto::{ChannelKind, EventBody, Role};

use super::new_user;
use crate::{Store, StoreError};

pub(super) async fn direct_channels_are_one_per_pair(store: &dyn Store, tag: &str) {
    let a = new_user(store, &format!("da{tag}")).await;
    let b = new_user(store, &format!("db{tag}")).await;
    let first = store.create_direct(a, b).await.expect("direct");
    let created = first.created.expect("new channel has an event");
    assert_eq!(created.seq, 1);
    assert!(matches!(
        created.body,
        EventBody::ChannelCreated {
            kind: ChannelKind::Direct,
            ..
        }
    ));
    let again = store.create_direct(b, a).await.expect("direct again");
    assert_eq!(again.channel_id, first.channel_id);
    assert!(again.created.is_none());
    assert!(matches!(
        store.create_direct(a, a).await,
        Err(StoreError::Invalid(_))
    ));
    let summary = store
        .channel_of(first.channel_id, a)
        .await
        .expect("summary")
        .expect("member");
    assert_eq!(summary.peer.expect("peer").id, b);
    assert_eq!(summary.member_count, 2);
    // Membership of a direct channel is fixed.
    let c = new_user(store, &format!("dc{tag}")).await;
    assert!(matches!(
        store.add_member(first.channel_id, a, c, 100).await,
        Err(StoreError::Invalid(_))
    ));
}

pub(super) async fn groups_and_roles(store: &dyn Store, tag: &str) {
    let owner = new_user(store, &format!("go{tag}")).await;
    let m1 = new_user(store, &format!("gm1{tag}")).await;
    let m2 = new_user(store, &format!("gm2{tag}")).await;
    let m3 = new_user(store, &format!("gm3{tag}")).await;
    let created = store
        .create_group(owner, "team", &[m1, m1, m2], 4)
        .await
        .expect("group");
    let ch = created.channel_id;
    assert_eq!(
        store.member_role(ch, owner).await.expect("role"),
        Some(Role::Owner)
    );
    assert_eq!(store.members(ch).await.expect("members").len(), 3);
    assert!(matches!(
        store.create_group(owner, "big", &[m1, m2, m3], 3).await,
        Err(StoreError::LimitExceeded(_))
    ));

    // A plain member may not add; the owner may; the limit holds.
    assert!(matches!(
        store.add_member(ch, m1, m3, 4).await,
        Err(StoreError::Forbidden(_))
    ));
    let added = store.add_member(ch, owner, m3, 4).await.expect("add");
    assert_eq!(added.seq, 2);
    assert!(matches!(
        store.add_member(ch, owner, m3, 4).await,
        Err(StoreError::Conflict(_))
    ));
    let extra = new_user(store, &format!("gx{tag}")).await;
    assert!(matches!(
        store.add_member(ch, owner, extra, 4).await,
        Err(StoreError::LimitExceeded(_))
    ));

    // Roles: only the owner promotes; an admin removes plain members but not admins.
    assert!(matches!(
        store.set_role(ch, m1, m2, Role::Admin).await,
        Err(StoreError::Forbidden(_))
    ));
    store
        .set_role(ch, owner, m1, Role::Admin)
        .await
        .expect("promote");
    store
        .set_role(ch, owner, m2, Role::Admin)
        .await
        .expect("promote");
    assert!(matches!(
        store.remove_member(ch, m1, m2).await,
        Err(StoreError::Forbidden(_))
    ));
    store
        .set_role(ch, owner, m2, Role::Member)
        .await
        .expect("demote");
    let removed = store
        .remove_member(ch, m1, m2)
        .await
        .expect("admin removes member");
    assert!(matches!(removed[0].body, EventBody::MemberRemoved { ref user } if user.id == m2));
    assert_eq!(store.member_role(ch, m2).await.expect("role"), None);

    // The owner leaves: the admin inherits.
    let left = store.remove_member(ch, owner, owner).await.expect("leave");
    assert!(matches!(left[0].body, EventBody::MemberLeft));
    assert!(
        matches!(left[1].body, EventBody::RoleChanged { ref user, role: Role::Owner } if user.id == m1)
    );
    assert_eq!(left[1].seq, left[0].seq + 1);
    assert_eq!(
        store.member_role(ch, m1).await.expect("role"),
        Some(Role::Owner)
    );
    let summary = store
        .channel_of(ch, m1)
        .await
        .expect("summary")
        .expect("member");
    assert_eq!(summary.member_count, 2);
    assert_eq!(summary.last_seq, left[1].seq);
}
