//! What Python's `json` module reads and serde_json does not: lone UTF-16
//! surrogate escapes (`"\ud83d"`, from a truncated emoji), `NaN`,
//! `Infinity`, `-Infinity`, and numbers too large for a float (`1e400`).
//!
//! The reference SDK parses bodies with Python's `json`, so a GARE whose
//! extra fields hold one of these is still a GARE there. On a parse error
//! the body is rewritten into JSON serde_json reads, in one linear pass:
//! lone surrogates become U+FFFD, the non-finite numbers `null`.

/// The rewritten text, or `None` when there was nothing to rewrite.
pub(super) fn to_strict_json(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                let end = string_end(bytes, at);
                changed |= push_string(&mut out, &text[at..end]);
                at = end;
            }
            b'N' if text[at..].starts_with("NaN") => {
                out.push_str("null");
                changed = true;
                at += 3;
            }
            b'I' if text[at..].starts_with("Infinity") => {
                out.push_str("null");
                changed = true;
                at += 8;
            }
            b'-' if text[at..].starts_with("-Infinity") => {
                out.push_str("null");
                changed = true;
                at += 9;
            }
            b'-' | b'0'..=b'9' => {
                let len = bytes[at..]
                    .iter()
                    .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count();
                let number = &text[at..at + len];
                if number.parse::<f64>().is_ok_and(|n| n.is_infinite()) {
                    out.push_str("null");
                    changed = true;
                } else {
                    out.push_str(number);
                }
                at += len.max(1);
            }
            _ => {
                let len = text[at..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[at..at + len]);
                at += len;
            }
        }
    }
    changed.then_some(out)
}

/// The index just past the string that starts at `start` (its closing
/// quote), or the end of the text.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

fn hex4(s: &str) -> Option<u16> {
    if s.len() >= 4 && s.is_char_boundary(4) {
        u16::from_str_radix(&s[..4], 16).ok()
    } else {
        None
    }
}

/// Copies a string literal, replacing lone surrogate escapes with `\ufffd`.
fn push_string(out: &mut String, literal: &str) -> bool {
    let mut changed = false;
    let mut rest = literal;
    while let Some(i) = rest.find("\\u") {
        // An escaped backslash before it (`\\u`) is not an escape of `u`.
        let backslashes = rest[..i].bytes().rev().take_while(|b| *b == b'\\').count();
        if backslashes % 2 == 1 {
            out.push_str(&rest[..i + 2]);
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match hex4(after) {
            Some(0xD800..=0xDBFF) => {
                let pair = after[4..].strip_prefix("\\u").and_then(hex4);
                if pair.is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) {
                    out.push_str(&rest[i..i + 12]);
                    rest = &rest[i + 12..];
                } else {
                    out.push_str("\\ufffd");
                    changed = true;
                    rest = &after[4..];
                }
            }
            Some(0xDC00..=0xDFFF) => {
                out.push_str("\\ufffd");
                changed = true;
                rest = &after[4..];
            }
            _ => {
                out.push_str("\\u");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    changed
}
