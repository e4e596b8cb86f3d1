//! Reading a run of a channel's events back from the store, a page at a time.
//!
//! The store is the source of truth and the bus only fan-out, so two layers read events back:
//! a channel topic of the [`hub`](crate::hub) fills a gap the bus left (once per node, for all its
//! sessions), and a [`session`](crate::session) brings its own client from its cursor up to where
//! it joined the live stream (after `ready`, a resume, a join, or a gap the hub could not fill).
//! Both walk the same way, here.

use confab_proto::api::HistoryPage;
use confab_proto::ChannelId;
use confab_store::{HistoryQuery, Store, StoreError};

/// Events read per page.
pub const PAGE: u32 = 200;

/// A walk through a channel's stored events with `seq` in `after + 1 ..= upto`.
#[derive(Debug, Clone, Copy)]
pub struct Backfill {
    channel: ChannelId,
    after: u64,
    upto: u64,
}

impl Backfill {
    pub fn new(channel: ChannelId, after: u64, upto: u64) -> Backfill {
        Backfill {
            channel,
            after,
            upto,
        }
    }

    /// The highest `seq` read so far (or the starting point).
    pub fn position(&self) -> u64 {
        self.after
    }

    /// The next page, ascending by `seq`; `None` once `upto` is reached. A page with no events
    /// ends the walk: nothing more is stored in the range (retention pruned it). `truncated` on a
    /// page says events right after the starting point are gone.
    pub async fn next_page(
        &mut self,
        store: &dyn Store,
    ) -> Result<Option<HistoryPage>, StoreError> {
        if self.after >= self.upto {
            return Ok(None);
        }
        let query = HistoryQuery {
            after: Some(self.after),
            before: Some(self.upto + 1),
            limit: PAGE,
        };
        let page = store.history(self.channel, query).await?;
        self.after = page.events.last().map_or(self.upto, |e| e.seq);
        Ok(Some(page))
    }
}
