//! Slash commands typed into the message line (`/dm`, `/group`, `/add`, `/leave`, `/help`,
//! `/logout`, `/quit`): each becomes a [`Command`] for the network or a change of the screen, and
//! anything else is refused with a hint. Its own module so that the commands, which the help
//! lists (`view::HELP`), are read and changed in one place.

use std::time::Instant;

use confab_client::proto::ChannelKind;

use super::{App, Command};

impl App {
    /// Runs a `/command` (without its slash).
    pub(super) fn command(&mut self, line: &str, now: Instant) -> Vec<Command> {
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
}

#[cfg(test)]
mod tests {
    use confab_client::proto::ChannelId;

    use super::*;
    use crate::app::fixture::{connected, summary};

    fn notice(app: &App) -> &str {
        app.notice.as_ref().map_or("", |(text, _, _)| text)
    }

    #[test]
    fn commands_become_requests_and_unknown_ones_get_a_hint() {
        let now = Instant::now();
        let (mut app, _) = connected(vec![summary(10, ChannelKind::Direct, 0)], now);
        assert_eq!(
            app.command("dm bob", now),
            vec![Command::Direct {
                username: "bob".into()
            }]
        );
        assert_eq!(
            app.command("group crew bob carol", now),
            vec![Command::Group {
                name: "crew".into(),
                members: vec!["bob".into(), "carol".into()],
            }]
        );
        assert!(app.command("add carol", now).is_empty(), "a DM is open");
        assert!(notice(&app).contains("/add works in a group"));
        assert!(app.command("nonsense", now).is_empty());
        assert!(notice(&app).contains("/help lists the commands"));
    }

    #[test]
    fn add_and_leave_act_on_the_open_group() {
        let now = Instant::now();
        let (mut app, _) = connected(vec![summary(20, ChannelKind::Group, 0)], now);
        assert_eq!(
            app.command("add carol dave", now),
            vec![Command::Add {
                channel: ChannelId(20),
                usernames: vec!["carol".into(), "dave".into()],
            }]
        );
        assert_eq!(
            app.command("leave", now),
            vec![Command::Leave {
                channel: ChannelId(20)
            }]
        );
    }
}
