//! The client's state and how it changes: a pure state machine. What the user does arrives as an
//! [`Action`] (from `input`), what the network says as a [`NetEvent`] (from `net`); what must be
//! done on the network leaves as [`Command`]s. No I/O here, and the time is passed in.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use confab_client::proto::api::HistoryPage;
use confab_client::proto::{
    ChannelId, ChannelKind, ChannelSummary, Event, EventBody, Presence, Status, User, UserId,
    UserRef,
};
use confab_client::{ClientEvent, ConnectionState};

use crate::text::sanitize;

/// How often a `typing` frame is sent while composing, at most (the server passes one on per 2 s).
pub const TYPING_INTERVAL: Duration = Duration::from_secs(3);
/// How long the status bar says "back" after a reconnect.
pub const BACK_SHOWN_FOR: Duration = Duration::from_secs(5);
/// How long a notice stays in the status bar.
pub const NOTICE_SHOWN_FOR: Duration = Duration::from_secs(10);
/// Events per history page.
pub const PAGE_SIZE: u32 = 50;
/// Lines the mouse wheel scrolls per notch.
pub const WHEEL_LINES: usize = 3;

/// What must be done on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Log in (or register), remember the token, connect.
    Login {
        username: String,
        password: String,
        register: bool,
    },
    Send {
        channel: ChannelId,
        client_id: String,
        body: String,
    },
    /// Load the newest page (`before: None`) or the page before `before`.
    History {
        channel: ChannelId,
        before: Option<u64>,
    },
    MarkRead {
        channel: ChannelId,
        seq: u64,
    },
    Typing {
        channel: ChannelId,
    },
    /// Open (or create) the direct channel with a username.
    Direct {
        username: String,
    },
    Group {
        name: String,
        members: Vec<String>,
    },
    Add {
        channel: ChannelId,
        usernames: Vec<String>,
    },
    Leave {
        channel: ChannelId,
    },
    /// Look up a user's presence (for "last seen").
    Presence {
        user: UserId,
    },
    /// Revoke the token, forget it, and go back to the login form.
    Logout,
}

/// What the network reports.
#[derive(Debug, Clone, PartialEq)]
pub enum NetEvent {
    /// No (valid) saved session: show the login form, with why if something went wrong.
    NeedLogin { error: Option<String> },
    /// Logging in, registering or connecting failed.
    LoginFailed(String),
    /// Connected; the channel list and my contacts' presence.
    Connected {
        me: User,
        channels: Vec<ChannelSummary>,
        presence: Vec<Presence>,
    },
    /// The gateway connection's state changed.
    State(ConnectionState),
    /// Something the server pushed.
    Push(ClientEvent),
    /// A page of history.
    History {
        channel: ChannelId,
        before: Option<u64>,
        page: HistoryPage,
    },
    /// A send finished: acked (`error: None`) or failed for good.
    Sent {
        channel: ChannelId,
        client_id: String,
        error: Option<String>,
    },
    /// A channel made or found for `/dm` or `/group`: show it.
    Opened(ChannelSummary),
    /// A looked-up presence.
    Presence(Presence),
    /// Something worth telling the user.
    Notice(String),
    /// Something failed.
    Failed(String),
    /// Logged out: back to the login form.
    LoggedOut,
}

/// What the user did, already interpreted by `input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Char(char),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    /// Insert a newline into the message.
    Newline,
    /// Enter: submit the form, or send the message or command.
    Submit,
    /// Next / previous form field.
    NextField,
    PrevField,
    /// Switch the form between logging in and registering.
    ToggleMode,
    NextChannel,
    PrevChannel,
    /// Scroll the messages up (back in time) by lines; `None`: a page.
    ScrollUp(Option<usize>),
    ScrollDown(Option<usize>),
    /// Esc: close help, clear the notice, or clear the message being written.
    Cancel,
    Help,
}

/// Which screen is showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Connecting with a saved token.
    Connecting,
    Login(LoginForm),
    Chat,
}

/// The login / register form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    /// `true`: the password field has the focus.
    pub on_password: bool,
    /// `true`: registering a new account rather than logging in.
    pub register: bool,
    /// Waiting for the server.
    pub busy: bool,
    pub error: Option<String>,
}

/// The gateway connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Not connected yet.
    Down,
    Connected,
    /// Lost; the SDK is reconnecting.
    Reconnecting {
        attempt: u32,
    },
    /// Reconnected and resumed (shown for a moment, then `Connected`).
    Back {
        until: Instant,
    },
    /// Ended for good.
    Closed(String),
}

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
    fn new(summary: ChannelSummary) -> Channel {
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
}

/// What the last drawing measured of the message pane; lets scrolling know where the top is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Rows the message pane shows.
    pub height: usize,
    /// Rows the selected channel's transcript takes at the pane's width.
    pub lines: usize,
}

/// The whole client state.
#[derive(Debug)]
pub struct App {
    /// The server's base URL (shown in the status bar).
    pub server: String,
    pub screen: Screen,
    pub me: Option<User>,
    /// Channels, most recently active first.
    pub channels: Vec<Channel>,
    pub selected: Option<ChannelId>,
    /// The message being written.
    pub compose: String,
    /// The cursor in `compose`, in characters.
    pub cursor: usize,
    pub link: Link,
    /// The latest presence per user.
    pub presence: HashMap<UserId, Presence>,
    /// Users whose presence was reported since the connection was last lost (see `resumed`).
    presence_fresh: HashSet<UserId>,
    /// (channel, user) → when the typing indicator expires.
    pub typing: HashMap<(ChannelId, UserId), Instant>,
    /// When I last sent `typing` per channel.
    typing_sent: HashMap<ChannelId, Instant>,
    /// Usernames seen in events and summaries.
    pub usernames: HashMap<UserId, String>,
    /// A line for the status bar: (text, is an error, shown until).
    pub notice: Option<(String, bool, Instant)>,
    pub help: bool,
    pub quit: bool,
    /// Written by the view while drawing.
    pub metrics: Cell<Metrics>,
}

impl App {
    /// A new client for `server`, connecting with a saved token (`saved`) or showing the login form.
    pub fn new(server: &str, saved: bool) -> App {
        App {
            server: server.to_owned(),
            screen: if saved {
                Screen::Connecting
            } else {
                Screen::Login(LoginForm::default())
            },
            me: None,
            channels: Vec::new(),
            selected: None,
            compose: String::new(),
            cursor: 0,
            link: Link::Down,
            presence: HashMap::new(),
            presence_fresh: HashSet::new(),
            typing: HashMap::new(),
            typing_sent: HashMap::new(),
            usernames: HashMap::new(),
            notice: None,
            help: false,
            quit: false,
            metrics: Cell::new(Metrics::default()),
        }
    }

    /// The channel with this id.
    pub fn channel(&self, id: ChannelId) -> Option<&Channel> {
        self.channels.iter().find(|c| c.summary.id == id)
    }

    fn channel_mut(&mut self, id: ChannelId) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.summary.id == id)
    }

    /// The channel being viewed.
    pub fn current(&self) -> Option<&Channel> {
        self.selected.and_then(|id| self.channel(id))
    }

    /// Who is typing in `channel` now (not me), by name.
    pub fn typing_in(&self, channel: ChannelId, now: Instant) -> Vec<String> {
        let me = self.me.as_ref().map(|u| u.id);
        let mut names: Vec<String> = self
            .typing
            .iter()
            .filter(|((c, u), until)| *c == channel && Some(*u) != me && **until > now)
            .map(|((_, u), _)| self.name_of(*u))
            .collect();
        names.sort();
        names
    }

    /// A user's name, sanitized.
    pub fn name_of(&self, user: UserId) -> String {
        self.usernames
            .get(&user)
            .map_or_else(|| format!("user {user}"), |n| sanitize(n, false))
    }

    fn notify(&mut self, text: impl Into<String>, error: bool, now: Instant) {
        self.notice = Some((text.into(), error, now + NOTICE_SHOWN_FOR));
    }

    /// Time passes: indicators and notices expire.
    pub fn tick(&mut self, now: Instant) {
        self.typing.retain(|_, until| *until > now);
        if matches!(self.link, Link::Back { until } if until <= now) {
            self.link = Link::Connected;
        }
        if matches!(&self.notice, Some((_, _, until)) if *until <= now) {
            self.notice = None;
        }
    }

    /// Applies what the user did.
    pub fn act(&mut self, action: Action, now: Instant) -> Vec<Command> {
        if action == Action::Quit {
            self.quit = true;
            return Vec::new();
        }
        if self.help {
            // Any key closes the help.
            self.help = false;
            return Vec::new();
        }
        match &mut self.screen {
            Screen::Connecting => Vec::new(),
            Screen::Login(form) => form.act(action),
            Screen::Chat => self.chat_act(action, now),
        }
    }

    fn chat_act(&mut self, action: Action, now: Instant) -> Vec<Command> {
        match action {
            Action::Char(c) => {
                self.insert(c);
                return self.typed(now);
            }
            Action::Newline => self.insert('\n'),
            Action::Backspace => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    let at = byte_at(&self.compose, self.cursor);
                    self.compose.remove(at);
                }
            }
            Action::Delete => {
                if self.cursor < self.compose.chars().count() {
                    let at = byte_at(&self.compose, self.cursor);
                    self.compose.remove(at);
                }
            }
            Action::Left => self.cursor = self.cursor.saturating_sub(1),
            Action::Right => self.cursor = (self.cursor + 1).min(self.compose.chars().count()),
            Action::Home => self.cursor = 0,
            Action::End => self.cursor = self.compose.chars().count(),
            Action::Submit => return self.submit(now),
            Action::NextChannel => return self.step_channel(1),
            Action::PrevChannel => return self.step_channel(-1),
            Action::ScrollUp(lines) => return self.scroll_up(lines),
            Action::ScrollDown(lines) => {
                let page = self.page();
                if let Some(ch) = self.selected.and_then(|id| self.channel_mut(id)) {
                    ch.scroll = ch.scroll.saturating_sub(lines.unwrap_or(page));
                }
            }
            Action::Cancel => {
                if self.notice.is_some() {
                    self.notice = None;
                } else {
                    self.compose.clear();
                    self.cursor = 0;
                }
            }
            Action::Help => self.help = true,
            Action::Quit | Action::NextField | Action::PrevField | Action::ToggleMode => {}
        }
        Vec::new()
    }

    fn insert(&mut self, c: char) {
        let at = byte_at(&self.compose, self.cursor);
        self.compose.insert(at, c);
        self.cursor += 1;
    }

    /// After a keystroke in the message: tell the channel I am typing, rate-limited.
    fn typed(&mut self, now: Instant) -> Vec<Command> {
        let Some(channel) = self.selected else {
            return Vec::new();
        };
        if self.compose.starts_with('/') {
            return Vec::new();
        }
        let due = self
            .typing_sent
            .get(&channel)
            .is_none_or(|last| now.duration_since(*last) >= TYPING_INTERVAL);
        if !due {
            return Vec::new();
        }
        self.typing_sent.insert(channel, now);
        vec![Command::Typing { channel }]
    }

    fn page(&self) -> usize {
        self.metrics.get().height.saturating_sub(2).max(1)
    }

    fn scroll_up(&mut self, lines: Option<usize>) -> Vec<Command> {
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

    fn step_channel(&mut self, step: isize) -> Vec<Command> {
        if self.channels.is_empty() {
            return Vec::new();
        }
        let len = self.channels.len() as isize;
        let at = self
            .selected
            .and_then(|id| self.channels.iter().position(|c| c.summary.id == id))
            .map_or(if step > 0 { -1 } else { 0 }, |i| i as isize);
        let next = (at + step).rem_euclid(len) as usize;
        let id = self.channels[next].summary.id;
        self.select(id)
    }

    /// Shows channel `id`: loads its newest page if needed and marks it read.
    pub fn select(&mut self, id: ChannelId) -> Vec<Command> {
        self.selected = Some(id);
        let mut commands = Vec::new();
        let peer_lookup = self.channel(id).and_then(|c| c.peer()).map(|p| p.id);
        if let Some(peer) = peer_lookup {
            let known = self
                .presence
                .get(&peer)
                .is_some_and(|p| p.status != Status::Offline || p.last_seen.is_some());
            if !known {
                commands.push(Command::Presence { user: peer });
            }
        }
        let Some(ch) = self.channel_mut(id) else {
            return commands;
        };
        ch.scroll = 0;
        if !ch.loaded {
            ch.loaded = true;
            commands.push(Command::History {
                channel: id,
                before: None,
            });
        }
        commands.extend(self.mark_read(id));
        commands
    }

    /// Marks the channel read up to its newest event, if anything is unread.
    fn mark_read(&mut self, id: ChannelId) -> Vec<Command> {
        let Some(ch) = self.channel_mut(id) else {
            return Vec::new();
        };
        let s = &mut ch.summary;
        if s.unread == 0 && s.read_seq >= s.last_seq {
            return Vec::new();
        }
        s.unread = 0;
        s.read_seq = s.last_seq;
        vec![Command::MarkRead {
            channel: id,
            seq: s.last_seq,
        }]
    }

    fn submit(&mut self, now: Instant) -> Vec<Command> {
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

    /// Runs a `/command` (without its slash).
    fn command(&mut self, line: &str, now: Instant) -> Vec<Command> {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or("");
        let args: Vec<String> = words.map(str::to_owned).collect();
        match (name, args.as_slice()) {
            ("dm", [user]) => vec![Command::Direct {
                username: user.clone(),
            }],
            ("group", [name, members @ ..]) => vec![Command::Group {
                name: name.clone(),
                members: members.to_vec(),
            }],
            ("add", users) if !users.is_empty() => match self.current() {
                Some(ch) if ch.summary.kind == ChannelKind::Group => vec![Command::Add {
                    channel: ch.summary.id,
                    usernames: users.to_vec(),
                }],
                _ => {
                    self.notify("/add works in a group: open one first", true, now);
                    Vec::new()
                }
            },
            ("leave", []) => match self.current() {
                Some(ch) if ch.summary.kind == ChannelKind::Group => vec![Command::Leave {
                    channel: ch.summary.id,
                }],
                _ => {
                    self.notify("/leave works in a group: open one first", true, now);
                    Vec::new()
                }
            },
            ("help", []) => {
                self.help = true;
                Vec::new()
            }
            ("logout", []) => vec![Command::Logout],
            ("quit", []) => {
                self.quit = true;
                Vec::new()
            }
            _ => {
                self.notify(
                    format!("Unknown command /{line}: /help lists the commands"),
                    true,
                    now,
                );
                Vec::new()
            }
        }
    }

    /// Applies what the network reported.
    pub fn handle(&mut self, event: NetEvent, now: Instant) -> Vec<Command> {
        match event {
            NetEvent::NeedLogin { error } => {
                self.reset();
                self.screen = Screen::Login(LoginForm {
                    error,
                    ..LoginForm::default()
                });
            }
            NetEvent::LoginFailed(error) => {
                if let Screen::Login(form) = &mut self.screen {
                    form.busy = false;
                    form.error = Some(error);
                } else {
                    self.screen = Screen::Login(LoginForm {
                        error: Some(error),
                        ..LoginForm::default()
                    });
                }
            }
            NetEvent::Connected {
                me,
                channels,
                presence,
            } => return self.connected(me, channels, presence),
            NetEvent::State(state) => self.state(state),
            NetEvent::Push(push) => return self.push(push, now),
            NetEvent::History {
                channel,
                before,
                page,
            } => self.history(channel, before, page),
            NetEvent::Sent {
                channel,
                client_id,
                error,
            } => {
                if let Some(ch) = self.channel_mut(channel) {
                    if let Some(p) = ch.pending.iter_mut().find(|p| p.client_id == client_id) {
                        match error {
                            None => p.acked = true,
                            Some(e) => p.failed = Some(e),
                        }
                    }
                }
            }
            NetEvent::Opened(summary) => {
                let id = summary.id;
                self.join(summary);
                return self.select(id);
            }
            NetEvent::Presence(p) => {
                self.presence.insert(p.user_id, p);
            }
            NetEvent::Notice(text) => self.notify(text, false, now),
            NetEvent::Failed(text) => self.notify(text, true, now),
            NetEvent::LoggedOut => {
                self.reset();
                self.screen = Screen::Login(LoginForm::default());
            }
        }
        Vec::new()
    }

    /// Forgets everything about the session (logout, expired token).
    fn reset(&mut self) {
        let server = std::mem::take(&mut self.server);
        *self = App::new(&server, false);
    }

    fn connected(
        &mut self,
        me: User,
        channels: Vec<ChannelSummary>,
        presence: Vec<Presence>,
    ) -> Vec<Command> {
        self.usernames.insert(me.id, me.username.clone());
        self.me = Some(me);
        self.screen = Screen::Chat;
        self.link = Link::Connected;
        for p in presence {
            self.presence.insert(p.user_id, p);
        }
        for summary in channels {
            self.join(summary);
        }
        match self
            .selected
            .or_else(|| self.channels.first().map(|c| c.summary.id))
        {
            Some(id) => self.select(id),
            None => Vec::new(),
        }
    }

    /// Adds a channel (at the top) unless it is listed.
    fn join(&mut self, summary: ChannelSummary) {
        if let Some(peer) = &summary.peer {
            self.usernames.insert(peer.id, peer.username.clone());
        }
        if self.channel(summary.id).is_none() {
            self.channels.insert(0, Channel::new(summary));
        }
    }

    fn state(&mut self, state: ConnectionState) {
        let was_up = matches!(self.link, Link::Connected | Link::Back { .. });
        match state {
            ConnectionState::Ready => {
                if matches!(self.link, Link::Reconnecting { .. }) {
                    // `Resumed` follows and says "back".
                }
            }
            ConnectionState::Connecting | ConnectionState::Resuming => {
                if was_up {
                    self.link = Link::Reconnecting { attempt: 0 };
                    self.presence_fresh.clear();
                }
            }
            ConnectionState::BackingOff { attempt, .. } => {
                if was_up || matches!(self.link, Link::Reconnecting { .. }) {
                    self.link = Link::Reconnecting { attempt };
                    self.presence_fresh.clear();
                }
            }
            ConnectionState::Closed { reason, .. } => {
                if self.screen == Screen::Chat {
                    self.link = Link::Closed(reason);
                }
            }
        }
    }

    fn push(&mut self, push: ClientEvent, now: Instant) -> Vec<Command> {
        match push {
            ClientEvent::Event(event) => return self.event(event),
            ClientEvent::ReadState(read) => {
                if let Some(ch) = self.channel_mut(read.channel_id) {
                    if read.read_seq >= ch.summary.read_seq {
                        ch.summary.read_seq = read.read_seq;
                        ch.summary.unread = read.unread;
                    }
                }
            }
            ClientEvent::Receipt(_) => {}
            ClientEvent::Presence(p) => {
                self.presence_fresh.insert(p.user_id);
                self.presence.insert(p.user_id, p);
            }
            ClientEvent::Typing {
                channel_id,
                user_id,
                expires_in_ms,
            } => {
                self.typing.insert(
                    (channel_id, user_id),
                    now + Duration::from_millis(expires_in_ms),
                );
            }
            ClientEvent::ChannelJoined(summary) => self.join(summary),
            ClientEvent::ChannelLeft(id) => {
                self.channels.retain(|c| c.summary.id != id);
                if self.selected == Some(id) {
                    self.selected = None;
                    if let Some(first) = self.channels.first().map(|c| c.summary.id) {
                        return self.select(first);
                    }
                }
            }
            ClientEvent::Resync(summary) => {
                let id = summary.id;
                if let Some(ch) = self.channel_mut(id) {
                    *ch = Channel::new(summary);
                }
                if self.selected == Some(id) {
                    return self.select(id);
                }
            }
            ClientEvent::Resumed { .. } => {
                // `resumed` replaces presence: whoever it did not list is offline now.
                for p in self.presence.values_mut() {
                    if !self.presence_fresh.contains(&p.user_id) {
                        p.status = Status::Offline;
                    }
                }
                self.link = Link::Back {
                    until: now + BACK_SHOWN_FOR,
                };
            }
            ClientEvent::Error(body) => self.notify(sanitize(&body.message, false), true, now),
            ClientEvent::Closed { code, reason } => {
                let reason = sanitize(&reason, false);
                self.link = Link::Closed(match code {
                    Some(code) => format!("{reason} ({code})"),
                    None => reason,
                });
            }
        }
        Vec::new()
    }

    fn event(&mut self, event: Event) -> Vec<Command> {
        self.learn_names(&event);
        let me = self.me.as_ref().map(|u| u.id);
        let viewing = self.screen == Screen::Chat && self.selected == Some(event.channel_id);
        let entry = entry_of(&event);
        let is_message = matches!(event.body, EventBody::Message { .. });
        let from_other = Some(event.author.id) != me;
        if is_message {
            self.typing.remove(&(event.channel_id, event.author.id));
        }
        let Some(ch) = self.channel_mut(event.channel_id) else {
            return Vec::new();
        };
        if let EventBody::Message { client_id, .. } = &event.body {
            if !from_other {
                ch.pending.retain(|p| &p.client_id != client_id);
            }
        }
        let is_new = event.seq > ch.summary.last_seq;
        if ch.loaded || is_new {
            if ch.scroll > 0 && !ch.entries.contains_key(&event.seq) {
                // Keep the view where the reader is while new lines arrive below.
                ch.scroll += 1;
            }
            ch.entries.insert(event.seq, entry);
        }
        if !is_new {
            return Vec::new();
        }
        ch.summary.last_seq = event.seq;
        match &event.body {
            EventBody::MemberAdded { .. } => ch.summary.member_count += 1,
            EventBody::MemberRemoved { .. } | EventBody::MemberLeft => {
                ch.summary.member_count = ch.summary.member_count.saturating_sub(1)
            }
            _ => {}
        }
        if !is_message {
            return Vec::new();
        }
        if !from_other {
            ch.summary.read_seq = event.seq;
        } else if !viewing {
            ch.summary.unread += 1;
        }
        // The newest conversation goes to the top of the list.
        if let Some(at) = self
            .channels
            .iter()
            .position(|c| c.summary.id == event.channel_id)
        {
            let ch = self.channels.remove(at);
            self.channels.insert(0, ch);
        }
        if viewing && from_other {
            self.mark_read(event.channel_id)
        } else {
            Vec::new()
        }
    }

    fn learn_names(&mut self, event: &Event) {
        self.usernames
            .insert(event.author.id, event.author.username.clone());
        match &event.body {
            EventBody::ChannelCreated { members, .. } => {
                for m in members {
                    self.usernames.insert(m.id, m.username.clone());
                }
            }
            EventBody::MemberAdded { user }
            | EventBody::MemberRemoved { user }
            | EventBody::RoleChanged { user, .. } => {
                self.usernames.insert(user.id, user.username.clone());
            }
            EventBody::Message { .. } | EventBody::MemberLeft => {}
        }
    }

    fn history(&mut self, channel: ChannelId, before: Option<u64>, page: HistoryPage) {
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

impl LoginForm {
    fn act(&mut self, action: Action) -> Vec<Command> {
        if self.busy {
            return Vec::new();
        }
        let field = if self.on_password {
            &mut self.password
        } else {
            &mut self.username
        };
        match action {
            Action::Char(c) => field.push(c),
            Action::Backspace => {
                field.pop();
            }
            Action::NextField | Action::PrevField => self.on_password = !self.on_password,
            Action::ToggleMode => {
                self.register = !self.register;
                self.error = None;
            }
            Action::Cancel => self.error = None,
            Action::Submit => {
                if !self.on_password && self.password.is_empty() {
                    self.on_password = true;
                    return Vec::new();
                }
                if self.username.trim().is_empty() || self.password.is_empty() {
                    self.error = Some("Enter a username and a password".into());
                    return Vec::new();
                }
                self.busy = true;
                self.error = None;
                return vec![Command::Login {
                    username: self.username.trim().to_owned(),
                    password: self.password.clone(),
                    register: self.register,
                }];
            }
            _ => {}
        }
        Vec::new()
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

/// The byte offset of character `index` in `s` (its end when past it).
fn byte_at(s: &str, index: usize) -> usize {
    s.char_indices().nth(index).map_or(s.len(), |(i, _)| i)
}
