//! Keys and the mouse, turned into [`Action`]s. Which key does what is listed in the README's
//! "Terminal client" section and in the in-app help (`/help`, F1).

use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};

use crate::app::{Action, WHEEL_LINES};

/// The action for a terminal event, if it means one. `on_form`: the login form is showing.
pub fn action(event: &Event, on_form: bool) -> Option<Action> {
    match event {
        Event::Key(key) => key_action(key, on_form),
        Event::Mouse(mouse) => mouse_action(mouse),
        _ => None,
    }
}

/// The action for a key press.
pub fn key_action(key: &KeyEvent, on_form: bool) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let action = match key.code {
        KeyCode::Char('c' | 'q') if ctrl => Action::Quit,
        KeyCode::Char('r') if ctrl && on_form => Action::ToggleMode,
        KeyCode::Char('j') if ctrl => Action::Newline,
        KeyCode::Char('n') if ctrl => Action::NextChannel,
        KeyCode::Char('p') if ctrl => Action::PrevChannel,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => Action::Char(c),
        KeyCode::Enter if alt || shift => Action::Newline,
        KeyCode::Enter => Action::Submit,
        KeyCode::Tab if on_form => Action::NextField,
        KeyCode::BackTab if on_form => Action::PrevField,
        KeyCode::Up | KeyCode::Down if on_form => Action::NextField,
        KeyCode::Tab => Action::NextChannel,
        KeyCode::BackTab => Action::PrevChannel,
        KeyCode::Down if alt || ctrl => Action::NextChannel,
        KeyCode::Up if alt || ctrl => Action::PrevChannel,
        KeyCode::Up => Action::ScrollUp(Some(1)),
        KeyCode::Down => Action::ScrollDown(Some(1)),
        KeyCode::PageUp => Action::ScrollUp(None),
        KeyCode::PageDown => Action::ScrollDown(None),
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Delete => Action::Delete,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        KeyCode::Esc => Action::Cancel,
        KeyCode::F(1) => Action::Help,
        KeyCode::F(2) if on_form => Action::ToggleMode,
        _ => return None,
    };
    Some(action)
}

/// The mouse wheel scrolls the messages.
fn mouse_action(mouse: &MouseEvent) -> Option<Action> {
    match mouse.kind {
        MouseEventKind::ScrollUp => Some(Action::ScrollUp(Some(WHEEL_LINES))),
        MouseEventKind::ScrollDown => Some(Action::ScrollDown(Some(WHEEL_LINES))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn enter_sends_and_modified_enter_breaks_the_line() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            key_action(&key(KeyCode::Enter, none), false),
            Some(Action::Submit)
        );
        for m in [KeyModifiers::ALT, KeyModifiers::SHIFT] {
            assert_eq!(
                key_action(&key(KeyCode::Enter, m), false),
                Some(Action::Newline)
            );
        }
        let ctrl_j = key(KeyCode::Char('j'), KeyModifiers::CONTROL);
        assert_eq!(key_action(&ctrl_j, false), Some(Action::Newline));
    }

    #[test]
    fn tab_moves_between_fields_on_the_form_and_channels_in_chat() {
        let tab = key(KeyCode::Tab, KeyModifiers::NONE);
        assert_eq!(key_action(&tab, true), Some(Action::NextField));
        assert_eq!(key_action(&tab, false), Some(Action::NextChannel));
        let ctrl_r = key(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(key_action(&ctrl_r, true), Some(Action::ToggleMode));
        assert_eq!(key_action(&ctrl_r, false), None);
    }

    #[test]
    fn quit_keys_and_releases() {
        for c in ['c', 'q'] {
            let k = key(KeyCode::Char(c), KeyModifiers::CONTROL);
            assert_eq!(key_action(&k, true), Some(Action::Quit));
        }
        let mut release = key(KeyCode::Char('a'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(key_action(&release, false), None);
    }
}
