//! Unread counts, exact: after every step of a long pseudo-random run — messages from several
//! members, read pointers moving, members leaving and coming back, retention pruning — every
//! member's count equals a recount of the channel's stored history, in the channel summary, the
//! channel list and the answer to a read.

use confab_proto::{ChannelId, EventBody, UserId};

use super::{after, new_user, page};
use crate::{Retention, Store};

/// A small deterministic generator (xorshift), so a failing run can be repeated exactly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Messages from others after `read_seq`, counted from the stored history.
async fn recount(store: &dyn Store, channel: ChannelId, user: UserId, read_seq: u64) -> u64 {
    let mut n = 0;
    let mut from = read_seq;
    loop {
        let p = page(store, channel, after(from, 200)).await;
        for e in &p.events {
            if matches!(e.body, EventBody::Message { .. }) && e.author.id != user {
                n += 1;
            }
        }
        match p.events.last() {
            Some(last) if p.has_more => from = last.seq,
            _ => return n,
        }
    }
}

pub(super) async fn unread_counts_stay_exact(store: &dyn Store, tag: &str) {
    let owner = new_user(store, &format!("ua{tag}")).await;
    let mut others = Vec::new();
    for name in ["ub", "uc", "ud"] {
        others.push(new_user(store, &format!("{name}{tag}")).await);
    }
    let channel = store
        .create_group(owner, "counts", &others, 10)
        .await
        .expect("group")
        .channel_id;
    let everyone: Vec<UserId> = std::iter::once(owner)
        .chain(others.iter().copied())
        .collect();
    let mut members = everyone.clone();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..240u32 {
        match rng.below(10) {
            // Mostly messages, from any member.
            0..=5 => {
                let from = members[rng.below(members.len() as u64) as usize];
                store
                    .append_message(channel, from, &format!("k{tag}-{step}"), "x")
                    .await
                    .expect("send");
            }
            // A read pointer moves somewhere up to the end.
            6 | 7 => {
                let who = members[rng.below(members.len() as u64) as usize];
                let last = store.channel_of(channel, who).await.expect("s").expect("m");
                let to = last.read_seq + rng.below(last.last_seq - last.read_seq + 1);
                let state = store.mark_read(channel, who, to).await.expect("read");
                let expected = recount(store, channel, who, state.read_seq).await;
                assert_eq!(state.unread, expected, "the answer to a read, step {step}");
            }
            // The last member leaves, or comes back (starting with nothing unread).
            8 => {
                let last = everyone[3];
                if members.contains(&last) {
                    store
                        .remove_member(channel, last, last)
                        .await
                        .expect("leave");
                    members.retain(|m| *m != last);
                } else {
                    store
                        .add_member(channel, owner, last, 10)
                        .await
                        .expect("add");
                    members.push(last);
                }
            }
            // Retention keeps the newest events of every channel.
            _ => {
                let keep = 5 + rng.below(40);
                let retention = Retention {
                    max_age: None,
                    max_events: Some(keep),
                };
                store.prune(retention).await.expect("prune");
            }
        }
        for &who in &members {
            let summary = store.channel_of(channel, who).await.expect("s").expect("m");
            let expected = recount(store, channel, who, summary.read_seq).await;
            assert_eq!(summary.unread, expected, "summary, step {step}");
            let listed = store.channels_of(who).await.expect("list");
            let listed = listed.iter().find(|c| c.id == channel).expect("listed");
            assert_eq!(listed.unread, expected, "channel list, step {step}");
        }
    }
}
