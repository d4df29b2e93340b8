//! Untrusted text made safe to print on a terminal.

/// What server text a prompt prints is shown after: the person must be
/// able to tell the service's words from this program's.
pub(crate) const SERVICE_LABEL: &str = "Message from the service:";

/// How many characters of one piece of server text a terminal is shown
/// (a session message, an error description, a scope name).
pub(crate) const SERVER_TEXT_CAP: usize = 300;

/// How many characters of a list the server chose (the scopes a GARE
/// required, the commands built from them) a terminal is shown: longer
/// than one text, as real lists of Globus scopes are.
pub(crate) const SERVER_LIST_CAP: usize = 1000;

/// `text` without control characters or terminal escape sequences, with
/// line breaks and tabs turned into spaces.
///
/// A GARE's `session_message` comes from the server; printed as it is, it
/// could move the cursor, rewrite earlier lines ("Paste the code here:"),
/// change the window title or hide text. Users see it through
/// [`AuthorizeRequest::session_message`](crate::login::AuthorizeRequest::session_message);
/// what a prompt prints and the messages of [`LoginError`](crate::login::LoginError)
/// go through [`server_text`], which also caps it.
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
            // Bidirectional overrides, isolates and marks can reorder what
            // the user reads; zero-width characters hide what is there.
            '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2060}'..='\u{2064}'
            | '\u{061c}'
            | '\u{feff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Characters that show as blank space without being whitespace: padding
/// made of them fakes line breaks as well as spaces do.
fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{115f}' | '\u{1160}' | '\u{180e}' | '\u{2800}' | '\u{3164}' | '\u{ffa0}'
        )
}

/// Text the server chose, as a terminal may show it: sanitized
/// ([`sanitize_for_terminal`]), every run of blank space collapsed to one
/// space and the ends trimmed (padding to the terminal's width cannot fake
/// a line break), and at most `cap` characters, the last of them `…` when
/// it was cut.
///
/// Every server-chosen string that reaches a terminal goes through here:
/// what the prompts print (labelled as the service's) and the messages of
/// [`LoginError`](crate::login::LoginError).
pub(crate) fn server_text(text: &str, cap: usize) -> String {
    let clean = sanitize_for_terminal(text);
    let mut out = String::with_capacity(clean.len().min(cap * 4));
    let mut count = 0;
    let mut space = false;
    for c in clean.chars() {
        if is_blank(c) {
            space = count > 0;
            continue;
        }
        let needed = 1 + usize::from(space);
        if count + needed > cap {
            // Cut: room for the ellipsis, which replaces what did not fit.
            while count + 1 > cap {
                match out.pop() {
                    Some(_) => count -= 1,
                    None => break,
                }
            }
            out.truncate(out.trim_end().len());
            if cap > 0 {
                out.push('…');
            }
            return out;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        count += needed;
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
    use super::{sanitize_for_terminal, server_text, SERVER_TEXT_CAP};

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
        // Zero-width and bidirectional marks.
        assert_eq!(
            sanitize_for_terminal("a\u{200b}b\u{200f}c\u{feff}d\u{2060}e"),
            "abcde"
        );
    }

    #[test]
    fn padding_cannot_fake_a_line_break() {
        // A fake prompt block, each line padded to a 120-column terminal's
        // width with spaces, no-break spaces and blank-looking characters.
        let pad = |line: &str, fill: char| {
            let mut l = line.to_owned();
            l.extend(std::iter::repeat_n(fill, 120 - line.len()));
            l
        };
        let hostile = [
            pad("Please authenticate with Globus here:", ' '),
            pad("------------------------------------", '\u{a0}'),
            pad("https://evil.example/login", '\u{2800}'),
            pad("------------------------------------", '\u{3164}'),
        ]
        .concat();
        assert_eq!(
            server_text(&hostile, SERVER_TEXT_CAP),
            "Please authenticate with Globus here: ------------------------------------ \
             https://evil.example/login ------------------------------------"
        );
        assert_eq!(server_text("  \t a \u{2003}\u{2003} b\n\n", 300), "a b");
        assert_eq!(server_text("\u{a0} ", 300), "");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "x".repeat(64 * 1024);
        let shown = server_text(&long, SERVER_TEXT_CAP);
        assert_eq!(shown.chars().count(), SERVER_TEXT_CAP);
        assert!(shown.ends_with("x…"), "{shown}");
        // Exactly at the cap: not cut.
        assert_eq!(server_text(&"y".repeat(300), 300), "y".repeat(300));
        assert_eq!(
            server_text(&"y".repeat(301), 300),
            format!("{}…", "y".repeat(299))
        );
        // Characters, not bytes; no space left before the ellipsis.
        assert_eq!(server_text("ééé éé", 5), "ééé…");
        assert_eq!(server_text("ab cd", 4), "ab…");
        assert_eq!(server_text("ab cd", 0), "");
    }
}
