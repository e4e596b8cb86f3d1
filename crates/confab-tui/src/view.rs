//! Draws the [`App`] into a ratatui [`Frame`]: the login form, or the channel list, the messages,
//! who is typing, the message being written and the status bar. Everything shown from the network
//! was sanitized by `app` (see `text`).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use crate::app::{App, Channel, Entry, Link, LoginForm, Metrics, Screen};
use confab_client::proto::{ChannelKind, Presence, Status};

/// Most rows the message editor grows to.
const COMPOSE_MAX_ROWS: usize = 6;

/// The key bindings and commands, as the help shows them.
pub const HELP: &[(&str, &str)] = &[
    ("Enter", "send the message (or run the /command)"),
    ("Alt+Enter, Shift+Enter, Ctrl+J", "new line in the message"),
    (
        "Tab / Shift+Tab, Ctrl+N / Ctrl+P",
        "next / previous channel",
    ),
    ("Alt+Down / Alt+Up", "next / previous channel"),
    (
        "PageUp / PageDown, wheel",
        "scroll messages (older history loads)",
    ),
    ("Up / Down", "scroll one line"),
    ("Left Right Home End", "move in the message"),
    ("Esc", "clear the notice, then the message"),
    ("F1", "this help"),
    ("Ctrl+C / Ctrl+Q", "quit"),
    ("/dm USER", "open a direct chat"),
    ("/group NAME USER…", "create a group"),
    ("/add USER…", "add members to this group"),
    ("/leave", "leave this group"),
    ("/logout", "log out and forget the saved token"),
    ("//text", "send text starting with /"),
];

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    match &app.screen {
        Screen::Connecting => {
            let text = Paragraph::new(vec![
                Line::from(format!("Connecting to {}…", app.server)),
                Line::from(""),
                Line::from(status_text(app)).style(Style::new().fg(Color::Red)),
                Line::from("Ctrl+Q quits").style(Style::new().fg(Color::DarkGray)),
            ]);
            frame.render_widget(text, centered(area, 60, 6));
        }
        Screen::Login(form) => draw_login(frame, app, form, area),
        Screen::Chat => draw_chat(frame, app, area),
    }
    if app.help {
        draw_help(frame, area);
    }
}

fn status_text(app: &App) -> String {
    app.notice
        .as_ref()
        .map(|(text, _, _)| text.clone())
        .unwrap_or_default()
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn draw_login(frame: &mut Frame, app: &App, form: &LoginForm, area: Rect) {
    let title = if form.register {
        " Confab — Register "
    } else {
        " Confab — Log in "
    };
    let rect = centered(area, 64, 13);
    let block = Block::bordered().title(title);
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let focus = Style::new().add_modifier(Modifier::REVERSED);
    let field = |label: &str, value: String, focused: bool| {
        Line::from(vec![
            Span::raw(format!("{label:<10}")),
            Span::styled(
                format!("{value:<24}"),
                if focused { focus } else { Style::new() },
            ),
        ])
    };
    let masked = "•".repeat(form.password.chars().count());
    let (other, verb) = if form.register {
        ("log in", "register")
    } else {
        ("register", "log in")
    };
    let state = match (&form.error, form.busy) {
        (Some(e), _) => Line::styled(e.clone(), Style::new().fg(Color::Red)),
        (None, true) => Line::from("Please wait…"),
        (None, false) => Line::from(""),
    };
    let lines = vec![
        Line::from(format!("Server    {}", app.server)),
        Line::from(""),
        field("Username", form.username.clone(), !form.on_password),
        field("Password", masked.clone(), form.on_password),
        Line::from(""),
        state,
        Line::from(""),
        Line::styled(
            format!("Enter: {verb} · Tab: next field · Ctrl+R: {other} instead"),
            Style::new().fg(Color::DarkGray),
        ),
        Line::styled("Ctrl+Q: quit", Style::new().fg(Color::DarkGray)),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
    let (row, len) = if form.on_password {
        (3, masked.width())
    } else {
        (2, form.username.width())
    };
    let x = inner.x + 10 + (len as u16).min(inner.width.saturating_sub(11));
    frame.set_cursor_position(Position::new(x, inner.y + row));
}

fn draw_chat(frame: &mut Frame, app: &App, area: Rect) {
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let list_width = (area.width / 3).clamp(12, 28);
    let [list, right] =
        Layout::horizontal([Constraint::Length(list_width), Constraint::Min(10)]).areas(main);
    let inner_width = right.width.saturating_sub(2).max(1) as usize;
    let compose_lines = wrap(&app.compose, inner_width);
    let compose_rows = compose_lines.len().clamp(1, COMPOSE_MAX_ROWS) as u16;
    let [messages, typing, compose] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(compose_rows + 2),
    ])
    .areas(right);

    draw_channels(frame, app, list);
    draw_messages(frame, app, messages);
    draw_typing(frame, app, typing);
    draw_compose(frame, app, compose, compose_lines);
    draw_status(frame, app, status);
}

/// The dot for a user's presence.
fn presence_dot(p: Option<&Presence>) -> Span<'static> {
    match p.map(|p| p.status) {
        Some(Status::Online) => Span::styled("● ", Style::new().fg(Color::Green)),
        Some(Status::Idle) => Span::styled("◐ ", Style::new().fg(Color::Yellow)),
        _ => Span::styled("○ ", Style::new().fg(Color::DarkGray)),
    }
}

fn draw_channels(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered().title(" Channels ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = Vec::new();
    for ch in &app.channels {
        let selected = app.selected == Some(ch.summary.id);
        let marker = match ch.peer() {
            Some(peer) => presence_dot(app.presence.get(&peer.id)),
            None => Span::styled("# ", Style::new().fg(Color::Cyan)),
        };
        let unread = ch.summary.unread;
        let mut name_style = Style::new();
        if unread > 0 {
            name_style = name_style.add_modifier(Modifier::BOLD);
        }
        let mut spans = vec![marker, Span::styled(ch.title(), name_style)];
        if unread > 0 {
            spans.push(Span::styled(
                format!(" ({unread})"),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ));
        }
        let mut line = Line::from(spans);
        if selected {
            line = line.style(Style::new().add_modifier(Modifier::REVERSED));
        }
        lines.push(line);
    }
    if lines.is_empty() {
        lines.push(Line::styled(
            "No channels yet: /dm USER",
            Style::new().fg(Color::DarkGray),
        ));
    }
    // Keep the selected channel in sight.
    let at = app
        .selected
        .and_then(|id| app.channels.iter().position(|c| c.summary.id == id))
        .unwrap_or(0);
    let offset = (at + 1).saturating_sub(inner.height as usize);
    frame.render_widget(Paragraph::new(lines).scroll((offset as u16, 0)), inner);
}

/// "online", "idle", "last seen 5 min ago", "offline".
pub fn presence_text(p: Option<&Presence>, now_ms: i64) -> String {
    match p {
        Some(p) if p.status == Status::Online => "online".into(),
        Some(p) if p.status == Status::Idle => "idle".into(),
        Some(Presence {
            last_seen: Some(seen),
            ..
        }) => {
            let ago = (now_ms - seen).max(0) / 1000;
            match ago {
                0..=59 => "last seen just now".into(),
                60..=3599 => format!("last seen {} min ago", ago / 60),
                3600..=86_399 => format!("last seen {} h ago", ago / 3600),
                _ => format!("last seen {} d ago", ago / 86_400),
            }
        }
        _ => "offline".into(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn draw_messages(frame: &mut Frame, app: &App, area: Rect) {
    let Some(ch) = app.current() else {
        let block = Block::bordered().title(" Messages ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new("Pick a channel with Tab, or start one: /dm USER, /group NAME USER…")
                .style(Style::new().fg(Color::DarkGray)),
            inner,
        );
        app.metrics.set(Metrics::default());
        return;
    };
    let subtitle = match ch.summary.kind {
        ChannelKind::Direct => {
            let peer = ch.peer().map(|p| p.id);
            presence_text(peer.and_then(|id| app.presence.get(&id)), now_ms())
        }
        ChannelKind::Group => format!("group · {} members", ch.summary.member_count),
    };
    let block = Block::bordered().title(format!(" {} · {} ", ch.title(), subtitle));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width.max(1) as usize;
    let lines = transcript(app, ch, width);
    let height = inner.height as usize;
    app.metrics.set(Metrics {
        height,
        lines: lines.len(),
    });
    let scroll = ch.scroll.min(lines.len().saturating_sub(height));
    let end = lines.len() - scroll;
    let start = end.saturating_sub(height);
    let visible: Vec<Line> = lines[start..end].to_vec();
    frame.render_widget(Paragraph::new(visible), inner);
}

/// The channel's lines at `width`, oldest first.
fn transcript(app: &App, ch: &Channel, width: usize) -> Vec<Line<'static>> {
    let dim = Style::new().fg(Color::DarkGray);
    let me = app.me.as_ref().map(|u| u.id);
    let mut out = Vec::new();
    if ch.loading_older {
        out.push(Line::styled("loading older messages…", dim));
    } else if !ch.has_older && ch.loaded {
        out.push(Line::styled("— start of the conversation —", dim));
    } else if ch.has_older {
        out.push(Line::styled("PageUp for older messages", dim));
    }
    for entry in ch.entries.values() {
        match entry {
            Entry::Message { author, body } => {
                let style = if Some(author.id) == me {
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
                } else {
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
                };
                push_message(&mut out, &app.name_of(author.id), body, style, None, width);
            }
            Entry::Notice(text) => {
                for row in wrap(&format!("— {text}"), width) {
                    out.push(Line::styled(row, dim));
                }
            }
        }
    }
    let my_name = app
        .me
        .as_ref()
        .map(|u| app.name_of(u.id))
        .unwrap_or_default();
    for p in &ch.pending {
        let (note, style) = match &p.failed {
            Some(e) => (format!(" (not sent: {e})"), Style::new().fg(Color::Red)),
            None if p.acked => (String::new(), dim),
            None => (" (sending…)".to_owned(), dim),
        };
        let who = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
        push_message(
            &mut out,
            &my_name,
            &format!("{}{note}", p.body),
            who,
            Some(style),
            width,
        );
    }
    out
}

/// `author: body`, wrapped, the author styled.
fn push_message(
    out: &mut Vec<Line<'static>>,
    author: &str,
    body: &str,
    author_style: Style,
    body_style: Option<Style>,
    width: usize,
) {
    let prefix = format!("{author}: ");
    let text = format!("{prefix}{body}");
    let body_style = body_style.unwrap_or_default();
    for (i, row) in wrap(&text, width).into_iter().enumerate() {
        if i == 0 && row.starts_with(&prefix) {
            let rest = row[prefix.len()..].to_owned();
            out.push(Line::from(vec![
                Span::styled(prefix.clone(), author_style),
                Span::styled(rest, body_style),
            ]));
        } else {
            out.push(Line::styled(row, body_style));
        }
    }
}

/// Splits `text` into rows of at most `width` columns: at newlines, then at the last space that
/// fits, else anywhere. Always at least one row.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    for hard in text.split('\n') {
        let mut row = String::new();
        for c in hard.chars() {
            let mut candidate = row.clone();
            candidate.push(c);
            if candidate.width() <= width {
                row = candidate;
                continue;
            }
            match row.rfind(' ').filter(|&at| at > 0) {
                Some(at) if c != ' ' => {
                    let rest = row[at + 1..].to_owned();
                    row.truncate(at);
                    rows.push(std::mem::take(&mut row));
                    row = rest;
                    row.push(c);
                }
                _ => {
                    rows.push(std::mem::take(&mut row));
                    if c != ' ' {
                        row.push(c);
                    }
                }
            }
        }
        rows.push(row);
    }
    rows
}

fn draw_typing(frame: &mut Frame, app: &App, area: Rect) {
    let Some(ch) = app.selected else {
        return;
    };
    let names = app.typing_in(ch, Instant::now());
    let text = match names.as_slice() {
        [] => return,
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        more => format!("{} people are typing…", more.len()),
    };
    frame.render_widget(
        Paragraph::new(text).style(Style::new().fg(Color::DarkGray)),
        area,
    );
}

fn draw_compose(frame: &mut Frame, app: &App, area: Rect, rows: Vec<String>) {
    let title = if app.selected.is_some() {
        " Message · Enter send · Alt+Enter new line · F1 help "
    } else {
        " Message · /dm USER to start · F1 help "
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width.max(1) as usize;
    // Where the cursor is: wrap what precedes it the same way.
    let before: String = app.compose.chars().take(app.cursor).collect();
    let before_rows = wrap(&before, width);
    let mut cursor_row = before_rows.len() - 1;
    let mut cursor_col = before_rows.last().map_or(0, |r| r.width());
    if cursor_col >= width {
        cursor_row += 1;
        cursor_col = 0;
    }
    let height = inner.height as usize;
    let first = (cursor_row + 1).saturating_sub(height);
    let shown: Vec<Line> = rows
        .into_iter()
        .skip(first)
        .take(height)
        .map(Line::from)
        .collect();
    frame.render_widget(Paragraph::new(shown), inner);
    if !app.help {
        frame.set_cursor_position(Position::new(
            inner.x + cursor_col as u16,
            inner.y + (cursor_row - first) as u16,
        ));
    }
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let (state, color) = match &app.link {
        Link::Down => ("connecting…".to_owned(), Color::Yellow),
        Link::Connected => ("● connected".to_owned(), Color::Green),
        Link::Reconnecting { attempt: 0 } => ("reconnecting…".to_owned(), Color::Yellow),
        Link::Reconnecting { attempt } => {
            (format!("reconnecting… (attempt {attempt})"), Color::Yellow)
        }
        Link::Back { .. } => ("● back online".to_owned(), Color::Green),
        Link::Closed(reason) => (format!("disconnected: {reason}"), Color::Red),
    };
    let who = app
        .me
        .as_ref()
        .map(|u| format!(" · {} @ {}", app.name_of(u.id), app.server))
        .unwrap_or_default();
    let mut spans = vec![
        Span::styled(state, Style::new().fg(color).add_modifier(Modifier::BOLD)),
        Span::raw(who),
    ];
    match &app.notice {
        Some((text, error, _)) => spans.push(Span::styled(
            format!(" · {text}"),
            Style::new().fg(if *error { Color::Red } else { Color::Green }),
        )),
        None => spans.push(Span::styled(
            " · F1 help · Ctrl+Q quit",
            Style::new().fg(Color::DarkGray),
        )),
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let rect = centered(area, 74, HELP.len() as u16 + 2);
    let block = Block::bordered().title(" Help · any key closes ");
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{keys:<34}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_prefers_spaces_and_keeps_newlines() {
        assert_eq!(wrap("hello world", 7), vec!["hello", "world"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(wrap("日本語", 4), vec!["日本", "語"]);
    }

    #[test]
    fn last_seen_reads_like_a_person_would_say_it() {
        let seen = |ms| Presence {
            user_id: confab_client::proto::UserId(1),
            status: Status::Offline,
            last_seen: Some(ms),
        };
        assert_eq!(presence_text(Some(&seen(0)), 10_000), "last seen just now");
        assert_eq!(
            presence_text(Some(&seen(0)), 300_000),
            "last seen 5 min ago"
        );
        assert_eq!(presence_text(None, 0), "offline");
    }
}
