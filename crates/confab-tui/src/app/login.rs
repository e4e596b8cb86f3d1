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

#[cfg(test)]
mod tests {
    use super::*;

    fn type_text(form: &mut LoginForm, text: &str) {
        for c in text.chars() {
            form.act(Action::Char(c));
        }
    }

    #[test]
    fn enter_moves_to_the_password_then_logs_in_once() {
        let mut form = LoginForm::default();
        type_text(&mut form, " carol ");
        assert!(form.act(Action::Submit).is_empty());
        assert!(form.on_password, "Enter moved to the password");
        type_text(&mut form, "secret");
        form.act(Action::ToggleMode);
        assert_eq!(
            form.act(Action::Submit),
            vec![Command::Login {
                username: "carol".into(),
                password: "secret".into(),
                register: true,
            }]
        );
        assert!(form.busy);
        assert!(
            form.act(Action::Submit).is_empty(),
            "nothing more while waiting"
        );
    }

    #[test]
    fn an_empty_username_is_refused_with_a_reason() {
        let mut form = LoginForm::default();
        form.act(Action::NextField);
        type_text(&mut form, "secret");
        assert!(form.act(Action::Submit).is_empty());
        assert_eq!(
            form.error.as_deref(),
            Some("Enter a username and a password")
        );
        form.act(Action::Cancel);
        assert_eq!(form.error, None);
    }
}
