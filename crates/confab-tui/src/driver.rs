//! Ties the pieces together, one step at a time: a terminal event goes through `input` into the
//! [`App`], a network report goes into the [`App`], and the [`Command`]s that come out go to the
//! `net` task. The real terminal loop (`terminal`) and the tests drive the client through this.

use std::time::Instant;

use ratatui::crossterm::event::Event;
use tokio::sync::mpsc;

use crate::app::{Action, App, Command, NetEvent, Screen};
use crate::input;
use crate::net::{self, NetConfig};

/// A running client: its state and its line to the network task.
#[derive(Debug)]
pub struct Driver {
    pub app: App,
    commands: mpsc::Sender<Command>,
    reports: mpsc::Receiver<NetEvent>,
}

impl Driver {
    /// Starts the network task (inside a tokio runtime) and a client that shows "connecting…"
    /// when a token is saved, else the login form.
    pub fn start(config: NetConfig) -> Driver {
        let saved = matches!(config.tokens.load(), Ok(Some(_)));
        let app = App::new(&config.server, saved);
        let (commands, reports) = net::spawn(config);
        Driver {
            app,
            commands,
            reports,
        }
    }

    /// Handles a terminal event (key, mouse, paste, resize).
    pub fn terminal_event(&mut self, event: &Event, now: Instant) {
        let on_form = matches!(self.app.screen, Screen::Login(_));
        if let Event::Paste(text) = event {
            // Pasted line breaks stay in the message instead of sending it.
            for c in text.chars().filter(|c| *c != '\r') {
                let action = if c == '\n' {
                    Action::Newline
                } else {
                    Action::Char(c)
                };
                self.act(action, now);
            }
            return;
        }
        if let Some(action) = input::action(event, on_form) {
            self.act(action, now);
        }
    }

    /// Applies an action.
    pub fn act(&mut self, action: Action, now: Instant) {
        let commands = self.app.act(action, now);
        self.dispatch(commands, now);
    }

    /// The next report from the network; `None` once the network task ended.
    pub async fn next_report(&mut self) -> Option<NetEvent> {
        self.reports.recv().await
    }

    /// Applies a report from the network.
    pub fn report(&mut self, event: NetEvent, now: Instant) {
        let commands = self.app.handle(event, now);
        self.dispatch(commands, now);
    }

    fn dispatch(&mut self, commands: Vec<Command>, now: Instant) {
        for command in commands {
            if self.commands.try_send(command).is_err() {
                self.app.handle(
                    NetEvent::Failed("too much at once; try again in a moment".into()),
                    now,
                );
            }
        }
    }
}
