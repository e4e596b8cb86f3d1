//! The login / register form: two fields, a switch between logging in and registering, and Enter,
//! which asks the network to log in. Its own module because it is a small state machine of its
//! own, shown before there is any session (see `Screen::Login`).

use super::{Action, Command};

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

impl LoginForm {
    /// A fresh form showing `error` (why the user is asked to log in again).
    pub(super) fn with_error(error: Option<String>) -> LoginForm {
        LoginForm {
            error,
            ..LoginForm::default()
        }
    }

    /// Applies what the user did on the form.
    pub(super) fn act(&mut self, action: Action) -> Vec<Command> {
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

