//! The message being written: editing it at the cursor, and Enter, which either runs it as a
//! `/command` or sends it (shown as pending until its event arrives). Its own module because the
//! cursor counts characters while the text is UTF-8, and sending has rules of its own: `//`
//! escapes a leading slash, a blank message is not sent, nothing is lost when no channel is open.

use std::time::Instant;

use super::{Action, App, Command, Pending};
use crate::text::sanitize;

impl App {
    /// Inserts `c` at the cursor.
    pub(super) fn insert(&mut self, c: char) {
        let at = byte_at(&self.compose, self.cursor);
        self.compose.insert(at, c);
        self.cursor += 1;
    }

    /// Applies an editing key (newline, deletion, cursor movement); other actions do nothing.
    pub(super) fn edit(&mut self, action: Action) {
        match action {
            Action::Newline => self.insert('\n'),
            Action::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = byte_at(&self.compose, self.cursor);
                self.compose.remove(at);
            }
            Action::Delete if self.cursor < self.compose.chars().count() => {
                let at = byte_at(&self.compose, self.cursor);
                self.compose.remove(at);
            }
            Action::Left => self.cursor = self.cursor.saturating_sub(1),
            Action::Right => self.cursor = (self.cursor + 1).min(self.compose.chars().count()),
            Action::Home => self.cursor = 0,
            Action::End => self.cursor = self.compose.chars().count(),
            _ => {}
        }
    }

    /// Enter: runs the `/command`, or sends the message to the open channel.
    pub(super) fn submit(&mut self, now: Instant) -> Vec<Command> {
        let text = std::mem::take(&mut self.compose);
        self.cursor = 0;
        if let Some(line) = text.strip_prefix('/').filter(|l| !l.starts_with('/')) {
            return self.command(line.trim(), now);
        }
        // `//text` sends `/text`.
        let body = if text.starts_with("//") {
            &text[1..]
        } else {
            &text
        };
        if body.trim().is_empty() {
            return Vec::new();
        }
        let Some(channel) = self.selected else {
            self.notify("No channel open: /dm USER or /group NAME USER…", true, now);
            self.compose = text;
            self.cursor = self.compose.chars().count();
            return Vec::new();
        };
        let client_id = uuid::Uuid::new_v4().simple().to_string();
        let body = body.to_owned();
        self.typing_sent.remove(&channel);
        if let Some(ch) = self.channel_mut(channel) {
            ch.scroll = 0;
            ch.pending.push(Pending {
                client_id: client_id.clone(),
                body: sanitize(&body, true),
                acked: false,
                failed: None,
            });
        }
        vec![Command::Send {
            channel,
            client_id,
            body,
        }]
    }
}

/// The byte offset of character `index` in `s` (its end when past it).
fn byte_at(s: &str, index: usize) -> usize {
    s.char_indices().nth(index).map_or(s.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use confab_client::proto::{ChannelId, ChannelKind};

    use super::*;
    use crate::app::fixture::{connected, summary};

    fn type_text(app: &mut App, text: &str, now: Instant) {
        for c in text.chars() {
            app.act(Action::Char(c), now);
        }
    }

    #[test]
    fn editing_counts_characters_not_bytes() {
        let now = Instant::now();
        let (mut app, _) = connected(Vec::new(), now);
        type_text(&mut app, "héllo", now);
        app.act(Action::Left, now);
        app.act(Action::Left, now);
        app.act(Action::Backspace, now);
        app.act(Action::Home, now);
        app.act(Action::Delete, now);
        app.act(Action::End, now);
        app.act(Action::Newline, now);
        assert_eq!((app.compose.as_str(), app.cursor), ("élo\n", 4));
    }

    #[test]
    fn enter_sends_to_the_open_channel_and_shows_it_pending() {
        let now = Instant::now();
        let (mut app, _) = connected(vec![summary(10, ChannelKind::Direct, 0)], now);
        type_text(&mut app, "//hi", now);
        let commands = app.act(Action::Submit, now);
        let [Command::Send {
            channel,
            client_id,
            body,
        }] = commands.as_slice()
        else {
            panic!("expected one send, got {commands:?}");
        };
        assert_eq!((*channel, body.as_str()), (ChannelId(10), "/hi"));
        let pending = &app.current().expect("open").pending;
        assert_eq!(pending.len(), 1);
        assert_eq!(&pending[0].client_id, client_id);
        assert_eq!((app.compose.as_str(), app.cursor), ("", 0));
    }

    #[test]
    fn blank_messages_are_not_sent_and_with_no_channel_the_text_stays() {
        let now = Instant::now();
        let (mut app, _) = connected(Vec::new(), now);
        type_text(&mut app, "  ", now);
        assert!(app.act(Action::Submit, now).is_empty());
        assert_eq!(app.compose, "");
        type_text(&mut app, "hello", now);
        assert!(app.act(Action::Submit, now).is_empty());
        assert_eq!((app.compose.as_str(), app.cursor), ("hello", 5));
        assert!(
            matches!(&app.notice, Some((_, true, _))),
            "an error says why"
        );
    }
}
