//! Waiting for what the server pushes to an SDK client, with a timeout, so that a test that
//! expects something fails with a message instead of hanging. Every suite that drives the SDK
//! waits through these.

use std::time::Duration;

use confab_client::proto::{Event, Presence, UserId};
use confab_client::{ClientEvent, Events};

/// How long a test waits for any one thing before failing: generous, for a loaded two-core
/// machine (only a failing test ever waits this long).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The first push that `pick` turns into something (the others are skipped), failing after
/// [`PATIENCE`] or when the stream ends.
pub async fn next_matching<T>(
    events: &mut Events,
    mut pick: impl FnMut(ClientEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(push)) => {
                if let Some(found) = pick(push) {
                    return found;
                }
            }
            Ok(None) => panic!("event stream ended"),
            Err(_) => panic!("nothing matching within {PATIENCE:?}"),
        }
    }
}

/// The next channel event, skipping other pushes; a close fails the test.
pub async fn next_event(events: &mut Events) -> Event {
    next_matching(events, |push| match push {
        ClientEvent::Event(e) => Some(e),
        ClientEvent::Closed { code, reason } => panic!("closed: {code:?} {reason}"),
        _ => None,
    })
    .await
}

/// The next presence report about `user`, skipping everything else; a close fails the test.
pub async fn presence_of(events: &mut Events, user: UserId) -> Presence {
    next_matching(events, |push| match push {
        ClientEvent::Presence(p) if p.user_id == user => Some(p),
        ClientEvent::Closed { code, reason } => panic!("closed: {code:?} {reason}"),
        _ => None,
    })
    .await
}

/// Receipts, presence and typing come and go with what other sessions do.
pub fn is_ephemeral(push: &ClientEvent) -> bool {
    matches!(
        push,
        ClientEvent::Receipt(_) | ClientEvent::Presence(_) | ClientEvent::Typing { .. }
    )
}

/// The next push that is not [ephemeral](is_ephemeral).
pub async fn next_push(events: &mut Events) -> ClientEvent {
    next_matching(events, |push| (!is_ephemeral(&push)).then_some(push)).await
}

/// Asserts nothing but receipts, presence or typing arrives for a moment (300 ms).
pub async fn quiet(events: &mut Events) {
    let until = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(push)) = tokio::time::timeout_at(until, events.next()).await {
        if !is_ephemeral(&push) {
            panic!("expected nothing, got {push:?}");
        }
    }
}
