//! One channel and what is loaded of it: its transcript (events by `seq`, as lines to show), my
//! messages still on their way, pages of older history, and scrolling back through it. Its own
//! module because the transcript has rules the channel list does not care about: an event may
//! arrive twice (live and in a page), the view stays put while new lines arrive below, and older
//! history is asked for only when the reader reaches the top.

use std::collections::BTreeMap;

use confab_client::proto::api::HistoryPage;
use confab_client::proto::{ChannelId, ChannelKind, ChannelSummary, Event, EventBody, UserRef};

use super::{App, Command};
use crate::text::sanitize;

/// Events per history page.
pub const PAGE_SIZE: u32 = 50;
/// Lines the mouse wheel scrolls per notch.
pub const WHEEL_LINES: usize = 3;

/// One line of a channel's transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Message {
        author: UserRef,
        /// Sanitized.
        body: String,
    },
    /// A membership change, shown dimmed.
    Notice(String),
}

/// A message I sent that the channel's events do not show yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: String,
    pub body: String,
    /// The server stored it (its event is on the way).
    pub acked: bool,
    /// It failed for good.
    pub failed: Option<String>,
}

/// One channel and what is loaded of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub summary: ChannelSummary,
    /// Loaded events by `seq`.
    pub entries: BTreeMap<u64, Entry>,
    pub pending: Vec<Pending>,
    /// The newest page was asked for.
    pub loaded: bool,
    /// A page of older history is on its way.
    pub loading_older: bool,
    /// Older history exists below the oldest loaded event.
    pub has_older: bool,
    /// How many lines the view is scrolled up from the newest.
    pub scroll: usize,
}

impl Channel {
    pub(super) fn new(summary: ChannelSummary) -> Channel {
        Channel {
            has_older: summary.last_seq > 0,
            summary,
            entries: BTreeMap::new(),
            pending: Vec::new(),
            loaded: false,
            loading_older: false,
            scroll: 0,
        }
    }

    /// The name to show: the peer's username, or the group's name.
    pub fn title(&self) -> String {
        match (&self.summary.peer, &self.summary.name) {
            (Some(peer), _) => sanitize(&peer.username, false),
            (None, Some(name)) => sanitize(name, false),
            (None, None) => format!("#{}", self.summary.id),
        }
    }

    /// The direct channel's other member.
    pub fn peer(&self) -> Option<&UserRef> {
        match self.summary.kind {
            ChannelKind::Direct => self.summary.peer.as_ref(),
            ChannelKind::Group => None,
        }
    }

    /// Takes in a live event (`mine`: I wrote it): my pending copy goes, the transcript shows it
    /// when loaded (or new), and a new one moves `last_seq` and the member count on. Returns
    /// whether it was new (after `last_seq`); the read pointer and unread count are the list's.
    pub(super) fn add(&mut self, event: &Event, mine: bool) -> bool {
        if let EventBody::Message { client_id, .. } = &event.body {
            if mine {
                self.pending.retain(|p| &p.client_id != client_id);
            }
        }
        let is_new = event.seq > self.summary.last_seq;
        if self.loaded || is_new {
            if self.scroll > 0 && !self.entries.contains_key(&event.seq) {
                // Keep the view where the reader is while new lines arrive below.
                self.scroll += 1;
            }
            self.entries.insert(event.seq, entry_of(event));
        }
        if !is_new {
            return false;
        }
        self.summary.last_seq = event.seq;
        match &event.body {
            EventBody::MemberAdded { .. } => self.summary.member_count += 1,
            EventBody::MemberRemoved { .. } | EventBody::MemberLeft => {
                self.summary.member_count = self.summary.member_count.saturating_sub(1)
            }
            _ => {}
        }
        true
    }
}

/// What the last drawing measured of the message pane; lets scrolling know where the top is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Rows the message pane shows.
    pub height: usize,
    /// Rows the selected channel's transcript takes at the pane's width.
    pub lines: usize,
}

impl App {
    /// Rows a page scroll moves.
    fn page(&self) -> usize {
        self.metrics.get().height.saturating_sub(2).max(1)
    }

    /// Scrolls the open channel back by `lines` (`None`: a page); at the top, asks for the page
    /// before the oldest loaded event.
    pub(super) fn scroll_up(&mut self, lines: Option<usize>) -> Vec<Command> {
        let metrics = self.metrics.get();
        let page = self.page();
        let Some(ch) = self.selected.and_then(|id| self.channel_mut(id)) else {
            return Vec::new();
        };
        let top = metrics.lines.saturating_sub(metrics.height);
        ch.scroll = (ch.scroll + lines.unwrap_or(page)).min(top);
        if ch.scroll >= top && ch.has_older && ch.loaded && !ch.loading_older {
            if let Some(&oldest) = ch.entries.keys().next() {
                ch.loading_older = true;
                return vec![Command::History {
                    channel: ch.summary.id,
                    before: Some(oldest),
                }];
            }
        }
        Vec::new()
    }

    /// Scrolls the open channel forward by `lines` (`None`: a page), no further than the newest.
    pub(super) fn scroll_down(&mut self, lines: Option<usize>) {
        let page = self.page();
        if let Some(ch) = self.selected.and_then(|id| self.channel_mut(id)) {
            ch.scroll = ch.scroll.saturating_sub(lines.unwrap_or(page));
        }
    }

    /// Takes in a page of history: the newest (`before: None`) or the one before `before`.
    pub(super) fn history(&mut self, channel: ChannelId, before: Option<u64>, page: HistoryPage) {
        for event in &page.events {
            self.learn_names(event);
        }
        let Some(ch) = self.channel_mut(channel) else {
            return;
        };
        ch.loading_older = false;
        let oldest = page.events.first().map(|e| e.seq);
        for event in &page.events {
            ch.entries.insert(event.seq, entry_of(event));
        }
        if page.last_seq > ch.summary.last_seq {
            ch.summary.last_seq = page.last_seq;
        }
        // Older history remains when this page says so, or (for the newest page) when it did not
        // reach the first event.
        ch.has_older = match before {
            Some(_) => page.has_more,
            None => page.has_more || oldest.is_some_and(|s| s > page.pruned_through + 1),
        };
        if page.events.is_empty() {
            ch.has_older = false;
        }
    }
}

/// The transcript line for an event.
fn entry_of(event: &Event) -> Entry {
    let who = sanitize(&event.author.username, false);
    match &event.body {
        EventBody::Message { body, .. } => Entry::Message {
            author: event.author.clone(),
            body: sanitize(body, true),
        },
        EventBody::ChannelCreated { kind, name, .. } => Entry::Notice(match (kind, name) {
            (ChannelKind::Direct, _) => format!("{who} started this conversation"),
            (ChannelKind::Group, name) => format!(
                "{who} created the group {}",
                sanitize(name.as_deref().unwrap_or(""), false)
            ),
        }),
        EventBody::MemberAdded { user } => {
            Entry::Notice(format!("{who} added {}", sanitize(&user.username, false)))
        }
        EventBody::MemberRemoved { user } => {
            Entry::Notice(format!("{who} removed {}", sanitize(&user.username, false)))
        }
        EventBody::MemberLeft => Entry::Notice(format!("{who} left")),
        EventBody::RoleChanged { user, role } => Entry::Notice(format!(
            "{who} made {} {}",
            sanitize(&user.username, false),
            role.as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::app::fixture::{connected, message, summary, user, BOB, ME};
    use crate::app::{Action, NetEvent};

    #[test]
    fn an_event_seen_twice_is_one_line_and_the_view_stays_put() {
        let mut ch = Channel::new(summary(10, ChannelKind::Direct, 5));
        ch.loaded = true;
        ch.scroll = 4;
        assert!(ch.add(&message(ChannelId(10), 6, BOB, "new"), false));
        assert_eq!(ch.scroll, 5, "the view stays where the reader is");
        assert!(!ch.add(&message(ChannelId(10), 6, BOB, "new"), false));
        assert_eq!(
            (ch.entries.len(), ch.scroll, ch.summary.last_seq),
            (1, 5, 6)
        );
    }

    #[test]
    fn my_message_replaces_its_pending_copy() {
        let mut ch = Channel::new(summary(10, ChannelKind::Direct, 0));
        ch.pending.push(Pending {
            client_id: "c1".into(),
            body: "hi".into(),
            acked: true,
            failed: None,
        });
        assert!(ch.add(&message(ChannelId(10), 1, ME, "hi"), true));
        assert!(ch.pending.is_empty());
        assert_eq!(
            ch.entries.get(&1),
            Some(&Entry::Message {
                author: user(ME),
                body: "hi".into()
            })
        );
    }

    #[test]
    fn scrolling_to_the_top_asks_once_for_the_page_before_the_oldest() {
        let now = Instant::now();
        let id = ChannelId(10);
        let (mut app, _) = connected(vec![summary(10, ChannelKind::Group, 120)], now);
        let page = HistoryPage {
            events: (71..=120).map(|seq| message(id, seq, BOB, "m")).collect(),
            last_seq: 120,
            pruned_through: 0,
            truncated: false,
            has_more: true,
        };
        app.handle(
            NetEvent::History {
                channel: id,
                before: None,
                page,
            },
            now,
        );
        app.metrics.set(Metrics {
            height: 10,
            lines: 50,
        });
        assert!(app.act(Action::ScrollUp(Some(3)), now).is_empty());
        assert_eq!(
            app.act(Action::ScrollUp(None), now),
            Vec::new(),
            "a page short of the top"
        );
        assert_eq!(
            app.act(Action::ScrollUp(Some(100)), now),
            vec![Command::History {
                channel: id,
                before: Some(71)
            }]
        );
        assert!(
            app.act(Action::ScrollUp(None), now).is_empty(),
            "asked once"
        );
        assert_eq!(app.current().expect("open").scroll, 40);
        app.act(Action::ScrollDown(None), now);
        assert_eq!(app.current().expect("open").scroll, 32);
    }
}
