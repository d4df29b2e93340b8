//! Untrusted text made safe to print on a terminal.

/// `text` without control characters or terminal escape sequences, with
/// line breaks and tabs turned into spaces.
///
/// A GARE's `session_message` comes from the server; printed as it is, it
/// could move the cursor, rewrite earlier lines ("Paste the code here:"),
/// change the window title or hide text. Users see it through
/// [`AuthorizeRequest::session_message`](crate::login::AuthorizeRequest::session_message)
/// and the messages of [`LoginError`](crate::login::LoginError).
pub(crate) fn sanitize_for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // ESC starts a sequence: CSI (`ESC [` ... final byte 0x40-0x7e),
            // OSC/DCS/SOS/PM/APC (`ESC ]` etc. ... BEL or `ESC \`), or a
            // two-character escape.
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                _ => {}
            },
            // The 8-bit forms of the same introducers.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            // Bidirectional overrides can reorder what the user reads.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{07}' | '\u{9c}' => return,
            '\u{1b}' if chars.peek() == Some(&'\\') => {
                chars.next();
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize_for_terminal;

    #[test]
    fn escape_sequences_and_control_characters_are_removed() {
        let hostile = "Please log in\x1b[2J\x1b]0;pwned\x07 again\r\nEnter your password:\x1b[8m";
        assert_eq!(
            sanitize_for_terminal(hostile),
            "Please log in again  Enter your password:"
        );
        // 8-bit introducers, string terminators, bidirectional overrides.
        assert_eq!(
            sanitize_for_terminal("a\u{9b}31mb\u{9d}title\u{9c}c\u{202e}d\x1bP..\x1b\\e"),
            "abcde"
        );
        assert_eq!(sanitize_for_terminal("tab\there"), "tab here");
    }
}
