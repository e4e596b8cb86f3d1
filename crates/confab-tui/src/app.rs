//! The client's state and how it changes: a pure state machine. What the user does arrives as an
//! [`Action`] (from `input`), what the network says as a [`NetEvent`] (from `net`); what must be
//! done on the network leaves as [`Command`]s. No I/O here, and the time is passed in.
//!
//! This file holds the state ([`App`]) and its update functions ([`App::act`], [`App::handle`],
//! [`App::tick`]), which route each action and report to the part it concerns. The parts are the
//! submodules declared below (the crate's *Layout* names each one's job): the login form, the
//! message being written, slash commands, one channel's transcript, the channel list with its
//! unread counts, and presence with typing.

mod channel;
mod command;
mod compose;
#[cfg(test)]
mod fixture;
mod list;
mod login;
mod presence;

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use confab_client::proto::api::HistoryPage;
use confab_client::proto::{ChannelId, ChannelSummary, Event, EventBody, Presence, User, UserId};
use confab_client::{ClientEvent, ConnectionState};

pub use self::channel::{Channel, Entry, Metrics, Pending, PAGE_SIZE, WHEEL_LINES};
pub use self::login::LoginForm;
pub use self::presence::TYPING_INTERVAL;
use crate::text::sanitize;

/// How long the status bar says "back" after a reconnect.
pub const BACK_SHOWN_FOR: Duration = Duration::from_secs(5);
/// How long a notice stays in the status bar.
pub const NOTICE_SHOWN_FOR: Duration = Duration::from_secs(10);

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

    /// The channel being viewed.
    pub fn current(&self) -> Option<&Channel> {
        self.selected.and_then(|id| self.channel(id))
    }

    /// A user's name, sanitized.
    pub fn name_of(&self, user: UserId) -> String {
        self.usernames
            .get(&user)
            .map_or_else(|| format!("user {user}"), |n| sanitize(n, false))
    }

    /// Remembers the names an event mentions.
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
            Action::Newline
            | Action::Backspace
            | Action::Delete
            | Action::Left
            | Action::Right
            | Action::Home
            | Action::End => self.edit(action),
            Action::Submit => return self.submit(now),
            Action::NextChannel => return self.step_channel(1),
            Action::PrevChannel => return self.step_channel(-1),
            Action::ScrollUp(lines) => return self.scroll_up(lines),
            Action::ScrollDown(lines) => self.scroll_down(lines),
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

    /// Applies what the network reported.
    pub fn handle(&mut self, event: NetEvent, now: Instant) -> Vec<Command> {
        match event {
            NetEvent::NeedLogin { error } => {
                self.reset();
                self.screen = Screen::Login(LoginForm::with_error(error));
            }
            NetEvent::LoginFailed(error) => {
                if let Screen::Login(form) = &mut self.screen {
                    form.busy = false;
                    form.error = Some(error);
                } else {
                    self.screen = Screen::Login(LoginForm::with_error(Some(error)));
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
                    self.presence_lost();
                }
            }
            ConnectionState::BackingOff { attempt, .. } => {
                if was_up || matches!(self.link, Link::Reconnecting { .. }) {
                    self.link = Link::Reconnecting { attempt };
                    self.presence_lost();
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
            ClientEvent::ReadState(read) => self.read_reported(read),
            ClientEvent::Receipt(_) => {}
            ClientEvent::Presence(p) => self.presence_pushed(p),
            ClientEvent::Typing {
                channel_id,
                user_id,
                expires_in_ms,
            } => self.typing_reported(channel_id, user_id, expires_in_ms, now),
            ClientEvent::ChannelJoined(summary) => self.join(summary),
            ClientEvent::ChannelLeft(id) => return self.left(id),
            ClientEvent::Resync(summary) => return self.resync(summary),
            ClientEvent::Resumed { .. } => {
                self.presence_resumed();
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
}
