//! Time-ordered 64-bit ids.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// 2025-01-01T00:00:00Z in milliseconds since the Unix epoch: the ids' epoch.
pub const EPOCH_MS: i64 = 1_735_689_600_000;

/// The largest node id (10 bits).
pub const MAX_NODE_ID: u16 = 1023;

/// Generates Snowflake-style ids: 41 bits of milliseconds since [`EPOCH_MS`], 10 bits of node id,
/// 12 bits of sequence within the millisecond. Ids from one generator strictly increase; ids from
/// different nodes never collide as long as node ids differ.
#[derive(Debug)]
pub struct Snowflake {
    node: i64,
    /// (last millisecond used, sequence within it).
    state: Mutex<(i64, i64)>,
}

impl Snowflake {
    /// A generator for `node` (0–1023; larger values are masked).
    pub fn new(node: u16) -> Self {
        Snowflake {
            node: i64::from(node & MAX_NODE_ID),
            state: Mutex::new((0, 0)),
        }
    }

    /// The next id, as whichever id type it is for.
    pub fn next_id<T: From<i64>>(&self) -> T {
        let now = now_ms() - EPOCH_MS;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, seq) = *state;
        // A clock that steps back keeps using the last millisecond, so ids still increase.
        let (ms, seq) = if now > last {
            (now, 0)
        } else if seq < 4095 {
            (last, seq + 1)
        } else {
            (last + 1, 0)
        };
        *state = (ms, seq);
        T::from((ms << 22) | (self.node << 12) | seq)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_strictly_increase_and_carry_the_node() {
        let gen = Snowflake::new(7);
        let mut prev: i64 = gen.next_id();
        for _ in 0..20_000 {
            let id: i64 = gen.next_id();
            assert!(id > prev, "{id} after {prev}");
            assert_eq!((id >> 12) & 1023, 7);
            prev = id;
        }
    }
}
