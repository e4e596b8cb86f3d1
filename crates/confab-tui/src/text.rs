//! Text from the network made safe to show: control characters and terminal escape sequences are
//! removed, so a message body or a group name cannot move the cursor, clear the screen, retitle the
//! window or reorder text on the user's terminal.

/// Returns `input` with escape sequences and control characters removed. Newlines are kept when
/// `keep_newlines` (message bodies), a tab becomes four spaces, and bidirectional overrides and
/// isolates (which can disguise text) are dropped.
pub fn sanitize(input: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 control sequence introducer and operating system command, the 8-bit forms.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push(' '),
            '\t' => out.push_str("    "),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// After ESC: skips a CSI (`ESC [ … final`), an OSC/DCS/APC/PM string (`ESC ] … BEL|ESC \`), or
/// the one character of a two-character sequence.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | '_' | '^' | 'X') => skip_string(chars),
        _ => {}
    }
}

/// Skips a CSI's parameter and intermediate bytes and its final byte (`@`–`~`).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Not a valid CSI: stop here (the character is dropped with it).
            return;
        }
    }
}

/// Skips a string sequence up to BEL or ST (`ESC \` or U+009C).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        assert_eq!(sanitize("\u{1b}[2Jclear", true), "clear");
        assert_eq!(sanitize("a\u{1b}[1;31mred\u{1b}[0m b", true), "ared b");
        assert_eq!(sanitize("\u{1b}]0;pwned\u{7}title", true), "title");
        assert_eq!(sanitize("\u{1b}]8;;http://x\u{1b}\\link", true), "link");
        assert_eq!(sanitize("bell\u{7}\r\u{8}\u{0}!", true), "bell!");
        assert_eq!(sanitize("\u{9b}2Jc1", true), "c1");
        assert_eq!(sanitize("evil\u{202e}txt", true), "eviltxt");
    }

    #[test]
    fn text_newlines_tabs_and_unicode_survive() {
        assert_eq!(sanitize("two\nlines", true), "two\nlines");
        assert_eq!(sanitize("two\nlines", false), "two lines");
        assert_eq!(sanitize("a\tb", true), "a    b");
        assert_eq!(sanitize("héllo 👋 日本", true), "héllo 👋 日本");
    }
}
