//! What `confab admin` (the binary's administration commands) takes from the server, so that it
//! does exactly what the server does: the store opened the same way, usernames and passwords
//! checked and hashed the same way, and, on a cluster bus, the same signals a server sends when a
//! token is revoked or a member leaves, so that live sessions learn of it at once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use confab_bus::{subject, Bus, Envelope, Route};
use confab_proto::{Event, ServerFrame, UserId};
use confab_store::AdminStore;

use crate::config::{BusConfig, Config};
use crate::hub::{hex, UserSignal};

/// Opens the store `config` names, as `confab serve` would (migrating it if it is older).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn AdminStore>> {
    crate::app::open_admin_store(config).await
}

/// The username as the server stores it (lower case), or why it is not one.
pub fn normalize_username(raw: &str) -> Result<String, String> {
    crate::auth::normalize_username(raw).map_err(|e| e.0.message)
}

/// Whether the server accepts `password` for a new account, or why not.
pub fn check_password(password: &str) -> Result<(), String> {
    crate::auth::check_password(password).map_err(|e| e.0.message)
}

/// Hashes a password as the server does at registration (argon2id, default parameters).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Tells the servers of a cluster about changes the administrator made in the store. Over the
/// NATS bus of `--bus nats://…` it sends what a server would have sent; with the in-process bus
/// (a single node) there is nobody to tell, and sessions learn at their next authentication (a
/// reconnect, a REST call) or their next event in the channel.
pub struct Notifier {
    bus: Option<Arc<dyn Bus>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("bus", &self.bus.is_some())
            .finish()
    }
}

impl Notifier {
    /// Connects to the cluster bus `config` names, if it names one.
    pub async fn connect(config: &Config) -> anyhow::Result<Notifier> {
        let bus = match &config.bus {
            BusConfig::Local => None,
            BusConfig::Nats(_) => Some(
                tokio::time::timeout(Duration::from_secs(10), crate::app::open_bus(config))
                    .await
                    .context("connecting to the NATS bus: timed out")??,
            ),
        };
        Ok(Notifier { bus })
    }

    /// Whether anything is told to running servers.
    pub fn is_live(&self) -> bool {
        self.bus.is_some()
    }

    /// Closes the sessions opened with these tokens of `user` (`session_revoked`), on every node.
    pub async fn revoked(&self, user: UserId, token_hashes: &[Vec<u8>]) -> anyhow::Result<()> {
        let Some(bus) = &self.bus else { return Ok(()) };
        for hash in token_hashes {
            let payload = serde_json::to_vec(&UserSignal::Revoked(hex(hash)))?;
            bus.publish(&subject::user(user), payload.into()).await?;
        }
        Ok(())
    }

    /// Fans committed events out to the channels' sessions, and tells each user an event removes
    /// that they left (as a server does after a removal).
    pub async fn events(&self, events: &[Event]) -> anyhow::Result<()> {
        let Some(bus) = &self.bus else { return Ok(()) };
        for event in events {
            let route = Route::Event {
                channel: event.channel_id,
                seq: event.seq,
                removes: event.removes(),
            };
            let payload = Envelope::encode(route, &ServerFrame::Event(event.clone()))?;
            bus.publish(&subject::channel(event.channel_id), payload)
                .await?;
            if let Some(gone) = event.removes() {
                let signal = UserSignal::Left {
                    channel: event.channel_id,
                    seq: event.seq,
                };
                bus.publish(&subject::user(gone), serde_json::to_vec(&signal)?.into())
                    .await?;
            }
        }
        Ok(())
    }

    /// Waits until everything published has left this process.
    pub async fn flush(&self) -> anyhow::Result<()> {
        if let Some(bus) = &self.bus {
            bus.flush().await?;
        }
        Ok(())
    }
}
