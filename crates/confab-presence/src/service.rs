//! Presence leases over the bus, aggregated on every node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use confab_bus::{subject, Bus, BusError};
use confab_proto::{Presence, Status, UserId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::local::{LocalPresence, Transition};

/// Aggregate changes queued for the server before new ones are dropped (a dropped change is not
/// sent again: watchers see the user's next change, or the state at their next identify/resume).
pub const CHANGE_QUEUE: usize = 65_536;

/// Settings of the presence service.
#[derive(Debug, Clone, Copy)]
pub struct PresenceConfig {
    pub node_id: u16,
    /// How often the node announces all its users. Leases last three intervals; a dead or cut-off
    /// node's users go offline everywhere within four.
    pub interval: Duration,
}

impl PresenceConfig {
    /// How long a node's announcement stays valid.
    pub fn lease(&self) -> Duration {
        self.interval * 3
    }

    /// The longest a dead node's users can still appear online elsewhere.
    pub fn offline_bound(&self) -> Duration {
        self.interval * 4
    }
}

/// Users online and idle, from [`PresenceService::counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresenceCounts {
    /// Users whose sessions on this node are active.
    pub node_online: usize,
    /// Users with sessions on this node, all idle.
    pub node_idle: usize,
    /// Users online anywhere in the cluster.
    pub cluster_online: usize,
    /// Users idle everywhere in the cluster (and online nowhere).
    pub cluster_idle: usize,
}

/// What nodes say on the presence subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Announcement {
    /// Every user with a session on the node; replaces what was known of it.
    Full {
        node: u16,
        boot: u64,
        users: Vec<(UserId, Status)>,
    },
    /// One user's status on the node changed (`offline`: no more sessions there).
    Delta {
        node: u16,
        boot: u64,
        user: UserId,
        status: Status,
    },
}

#[derive(Debug)]
struct Lease {
    boot: u64,
    expires: Instant,
    users: HashMap<UserId, Status>,
}

#[derive(Debug, Default)]
struct State {
    leases: HashMap<u16, Lease>,
    /// Every user whose aggregate status is not offline, as last reported.
    known: HashMap<UserId, Status>,
}

struct Inner {
    config: PresenceConfig,
    /// Distinguishes this run of the node from an earlier one with the same node id.
    boot: u64,
    local: LocalPresence,
    bus: Arc<dyn Bus>,
    state: Mutex<State>,
    changes: mpsc::Sender<Presence>,
    publish: mpsc::Sender<Announcement>,
}

/// Cluster-wide presence. Cheap to clone.
#[derive(Clone)]
pub struct PresenceService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PresenceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceService").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl PresenceService {
    /// Subscribes to the presence subject and starts announcing. Returns the service and the
    /// stream of aggregate changes.
    pub async fn start(
        bus: Arc<dyn Bus>,
        config: PresenceConfig,
    ) -> Result<(PresenceService, mpsc::Receiver<Presence>), BusError> {
        let sub = bus.subscribe(&subject::presence()).await?;
        let (changes, changes_rx) = mpsc::channel(CHANGE_QUEUE);
        let (publish, publish_rx) = mpsc::channel(4096);
        let inner = Arc::new(Inner {
            config,
            boot: rand::random(),
            local: LocalPresence::new(),
            bus,
            state: Mutex::new(State::default()),
            changes,
            publish,
        });
        tokio::spawn(run(Arc::downgrade(&inner), sub, publish_rx));
        Ok((PresenceService { inner }, changes_rx))
    }

    /// A session of `user` opened (online).
    pub fn connect(&self, user: UserId) {
        let t = self.inner.local.connect(user);
        self.local_changed(user, t);
    }

    /// A session of `user` with status `status` closed. Returns whether it was the user's last
    /// session on this node.
    pub fn disconnect(&self, user: UserId, status: Status) -> bool {
        let t = self.inner.local.disconnect(user, status);
        self.local_changed(user, t);
        t == Transition::Changed(Status::Offline)
    }

    /// A session of `user` changed between online and idle.
    pub fn set(&self, user: UserId, from: Status, to: Status) {
        let t = self.inner.local.set(user, from, to);
        self.local_changed(user, t);
    }

    /// `user`'s aggregate status over the cluster.
    pub fn status(&self, user: UserId) -> Status {
        let state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.aggregate(&state, user)
    }

    /// Users with a session on this node.
    pub fn local_users(&self) -> usize {
        self.inner.local.online_users()
    }

    /// How many users are online and idle: by their sessions on this node, and by their
    /// aggregate status over the cluster as this node knows it. (For metrics: it walks every
    /// user, so it is read when scraped, not kept up to date.)
    pub fn counts(&self) -> PresenceCounts {
        let tally = |statuses: &mut dyn Iterator<Item = Status>| {
            statuses.fold((0, 0), |(online, idle), s| match s {
                Status::Online => (online + 1, idle),
                Status::Idle => (online, idle + 1),
                Status::Offline => (online, idle),
            })
        };
        let local = self.inner.local.snapshot();
        let (node_online, node_idle) = tally(&mut local.into_iter().map(|(_, s)| s));
        let state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let (cluster_online, cluster_idle) = tally(&mut state.known.values().copied());
        PresenceCounts {
            node_online,
            node_idle,
            cluster_online,
            cluster_idle,
        }
    }

    fn local_changed(&self, user: UserId, t: Transition) {
        let Transition::Changed(status) = t else {
            return;
        };
        let a = Announcement::Delta {
            node: self.inner.config.node_id,
            boot: self.inner.boot,
            user,
            status,
        };
        // A full announcement follows within an interval if this one is dropped.
        let _ = self.inner.publish.try_send(a);
        let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.recompute(&mut state, user);
    }
}

impl Inner {
    fn aggregate(&self, state: &State, user: UserId) -> Status {
        let now = Instant::now();
        state
            .leases
            .values()
            .filter(|l| l.expires > now)
            .filter_map(|l| l.users.get(&user).copied())
            .chain(std::iter::once(self.local.status(user)))
            .max()
            .unwrap_or(Status::Offline)
    }

    /// Reports `user`'s aggregate status if it changed.
    fn recompute(&self, state: &mut State, user: UserId) {
        let now = self.aggregate(state, user);
        let before = state.known.get(&user).copied().unwrap_or(Status::Offline);
        if now == before {
            return;
        }
        if now == Status::Offline {
            state.known.remove(&user);
        } else {
            state.known.insert(user, now);
        }
        let last_seen = (now == Status::Offline).then(now_ms);
        let _ = self.changes.try_send(Presence {
            user_id: user,
            status: now,
            last_seen,
        });
    }

    fn apply(&self, a: Announcement) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let expires = Instant::now() + self.config.lease();
        let mut touched: Vec<UserId> = Vec::new();
        match a {
            Announcement::Full { node, boot, users } => {
                if node == self.config.node_id && boot == self.boot {
                    return;
                }
                let users: HashMap<UserId, Status> = users.into_iter().collect();
                if let Some(old) = state.leases.get(&node) {
                    touched.extend(old.users.keys().filter(|u| !users.contains_key(u)));
                }
                touched.extend(users.keys().copied());
                state.leases.insert(
                    node,
                    Lease {
                        boot,
                        expires,
                        users,
                    },
                );
            }
            Announcement::Delta {
                node,
                boot,
                user,
                status,
            } => {
                if node == self.config.node_id && boot == self.boot {
                    return;
                }
                let lease = state.leases.entry(node).or_insert_with(|| Lease {
                    boot,
                    expires,
                    users: HashMap::new(),
                });
                if lease.boot != boot {
                    // The node restarted: what the old run said no longer holds.
                    touched.extend(lease.users.keys().copied());
                    lease.users.clear();
                    lease.boot = boot;
                }
                lease.expires = expires;
                if status == Status::Offline {
                    lease.users.remove(&user);
                } else {
                    lease.users.insert(user, status);
                }
                touched.push(user);
            }
        }
        for user in touched {
            self.recompute(&mut state, user);
        }
    }

    /// Drops leases that were not renewed in time.
    fn expire(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let expired: Vec<u16> = state
            .leases
            .iter()
            .filter(|(_, l)| l.expires <= now)
            .map(|(n, _)| *n)
            .collect();
        for node in expired {
            if let Some(lease) = state.leases.remove(&node) {
                tracing::warn!(
                    node_id = node,
                    users = lease.users.len(),
                    "presence lease expired; its users go offline"
                );
                for user in lease.users.keys() {
                    self.recompute(&mut state, *user);
                }
            }
        }
    }

    fn full(&self) -> Announcement {
        Announcement::Full {
            node: self.config.node_id,
            boot: self.boot,
            users: self.local.snapshot(),
        }
    }
}

async fn publish(bus: &dyn Bus, a: &Announcement) {
    match serde_json::to_vec(a) {
        Ok(payload) => {
            if let Err(e) = bus
                .publish(&subject::presence(), Bytes::from(payload))
                .await
            {
                tracing::debug!(error = %e, "presence announcement not published");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot serialize presence announcement"),
    }
}

async fn run(
    inner: std::sync::Weak<Inner>,
    mut sub: confab_bus::Subscription,
    mut outbox: mpsc::Receiver<Announcement>,
) {
    let (interval, reconnections, bus) = match inner.upgrade() {
        Some(i) => (i.config.interval, i.bus.reconnections(), i.bus.clone()),
        None => return,
    };
    let mut reconnections = Some(reconnections);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let Some(inner) = inner.upgrade() else { return };
                inner.expire();
                publish(&*bus, &inner.full()).await;
            }
            changed = async {
                match reconnections.as_mut() {
                    Some(r) => r.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if !changed {
                    // This bus never reconnects (the in-process one): stop watching.
                    reconnections = None;
                    continue;
                }
                // Back on the bus after an outage: tell everyone at once.
                let Some(inner) = inner.upgrade() else { return };
                publish(&*bus, &inner.full()).await;
            }
            a = outbox.recv() => {
                let Some(a) = a else { return };
                publish(&*bus, &a).await;
            }
            msg = sub.next() => {
                let Some(payload) = msg else { return };
                let Some(inner) = inner.upgrade() else { return };
                match serde_json::from_slice::<Announcement>(&payload) {
                    Ok(a) => inner.apply(a),
                    Err(e) => tracing::warn!(error = %e, "undecodable presence announcement"),
                }
            }
        }
    }
}
