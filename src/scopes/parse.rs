//! Scope-string parsing, with the reference SDK's rules for what is malformed.

use std::fmt;

use super::Scope;

/// How deep brackets may nest. Real scopes nest two or three levels; the
/// limit keeps hostile input from costing stack in `Display` and `merge`.
pub const MAX_DEPTH: usize = 64;

/// A malformed scope string: what is wrong and the byte offset where it was seen.
///
/// ```
/// let err = tower_gare::scopes::parse("a]").unwrap_err();
/// assert_eq!(err.to_string(), "found ']' with no matching '[' preceding it (at byte 1)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeParseError {
    reason: &'static str,
    position: usize,
}

impl ScopeParseError {
    /// What is wrong.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The byte offset in the input where it was found.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl fmt::Display for ScopeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.reason, self.position)
    }
}

impl std::error::Error for ScopeParseError {}

fn is_special(c: char) -> bool {
    matches!(c, '[' | ']' | '*') || c.is_whitespace()
}

/// A control character no scope string may hold: ESC, DEL, every C0 and C1
/// control except the ASCII whitespace that separates scopes (tab, line
/// feed, vertical tab, form feed, carriage return). Scope names reach
/// terminals (in error messages, in the commands a person is told to run);
/// a scope that carries an escape sequence is an attack, not a scope.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

/// Parses a scope string into its top-level scopes, in order.
///
/// Whitespace separates scopes, `*` marks the next scope optional, and
/// `name[...]` gives `name` dependencies. Empty input gives no scopes.
/// Unbalanced, empty or misplaced brackets and markers are errors, as in the
/// Python SDK's parser; nesting deeper than [`MAX_DEPTH`] is an error too.
/// Unlike the SDK (which builds a graph), a scope that depends on itself
/// (`a[b[a]]`) is kept as the tree it is, and any whitespace, not only a
/// space, separates scopes. Unlike the SDK too, a control character (ESC,
/// DEL, any other C0 or C1 control but the ASCII whitespace that separates
/// scopes) is an error wherever it is: scope names are printed on terminals.
///
/// ```
/// use tower_gare::scopes::parse;
///
/// let scopes = parse("a[b[c] *d] e").unwrap();
/// assert_eq!(scopes.len(), 2);
/// assert_eq!(scopes[0].dependencies[0].dependencies[0].name, "c");
/// assert!(parse("").unwrap().is_empty());
/// for bad in ["a[", "a[]", "[a]", "a [b]", "*", "* a", "a]b", "a[b]c"] {
///     assert!(parse(bad).is_err(), "{bad}");
/// }
/// let escape = parse("a b\x1b]0;owned\x07").unwrap_err();
/// assert_eq!(escape.reason(), "a scope string may not hold control characters");
/// assert_eq!(escape.position(), 3);
/// assert_eq!(parse("a\tb\nc").unwrap().len(), 3);
/// ```
pub fn parse(input: &str) -> Result<Vec<Scope>, ScopeParseError> {
    let error = |reason, position| Err(ScopeParseError { reason, position });
    // `levels[0]` collects top-level scopes; each `[` moves the scope before
    // it onto `parents` and opens a level for its dependencies.
    let mut levels: Vec<Vec<Scope>> = vec![Vec::new()];
    let mut parents: Vec<Scope> = Vec::new();
    let mut optional = false;
    let mut name_start: Option<usize> = None;
    let mut chars = input.char_indices().peekable();

    while let Some((at, c)) = chars.next() {
        if is_forbidden_control(c) {
            return error("a scope string may not hold control characters", at);
        }
        let next = chars.peek().map(|&(_, n)| n);
        if !is_special(c) {
            name_start.get_or_insert(at);
            if next.is_none_or(is_special) {
                let start = name_start.take().unwrap_or(at);
                let name = &input[start..at + c.len_utf8()];
                let scope = Scope {
                    name: name.to_owned(),
                    optional: std::mem::take(&mut optional),
                    dependencies: Vec::new(),
                };
                if let Some(level) = levels.last_mut() {
                    level.push(scope);
                }
            }
            continue;
        }
        match c {
            '*' => match next {
                Some(n) if n.is_whitespace() => {
                    return error("'*' must not be followed by a space", at)
                }
                Some(n) if !is_special(n) => optional = true,
                Some(_) => {
                    return error("a scope string must always follow an optional marker", at)
                }
                None => return error("ended in optional marker", at),
            },
            '[' => {
                match next {
                    None => return error("ended in left bracket", at),
                    Some(']') => return error("found empty brackets", at),
                    Some('[') => return error("found double left-bracket", at),
                    _ => {}
                }
                let preceded_by_name = input[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|p| !is_special(p));
                let parent = levels.last_mut().and_then(Vec::pop);
                match parent {
                    Some(parent) if preceded_by_name => parents.push(parent),
                    _ => return error("found '[' without a preceding scope string", at),
                }
                if parents.len() > MAX_DEPTH {
                    return error("brackets nest too deeply", at);
                }
                levels.push(Vec::new());
            }
            ']' => {
                let Some(mut parent) = parents.pop() else {
                    return error("found ']' with no matching '[' preceding it", at);
                };
                // `levels` holds one more entry than `parents`, so this is the
                // level `parent`'s `[` opened.
                let children = levels.pop().unwrap_or_default();
                if next.is_some_and(|n| !(n == ']' || n.is_whitespace())) {
                    return error("']' may only be followed by a space or ']'", at);
                }
                if children.is_empty() {
                    // `a[ ]`: brackets with nothing but space in them.
                    return error("found empty brackets", at);
                }
                parent.dependencies.extend(children);
                if let Some(level) = levels.last_mut() {
                    level.push(parent);
                }
            }
            _ => {
                // Whitespace separates scopes; a bracket may not follow it.
                if next == Some('[') {
                    return error("'[' cannot have a preceding space", at);
                }
            }
        }
    }
    if !parents.is_empty() {
        return error("unclosed brackets, missing ']'", input.len());
    }
    Ok(levels.pop().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn every_control_character_but_separating_whitespace_is_an_error() {
        let controls = ('\0'..='\u{1f}').chain('\u{7f}'..='\u{9f}');
        for c in controls {
            let separator = matches!(c, '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r');
            // Inside a name, alone, after a separator, inside brackets.
            for input in [
                format!("ab{c}cd"),
                format!("{c}"),
                format!("a {c}b"),
                format!("a[b{c}]"),
            ] {
                match parse(&input) {
                    Ok(scopes) => {
                        assert!(separator, "{input:?} parsed");
                        assert!(
                            scopes.iter().all(|s| !s.name.contains(c)),
                            "{input:?} kept {c:?} in a name"
                        );
                    }
                    Err(e) if !separator => {
                        assert_eq!(e.reason(), "a scope string may not hold control characters");
                        assert_eq!(&input[e.position()..][..c.len_utf8()], c.to_string());
                    }
                    Err(e) => assert_ne!(
                        e.reason(),
                        "a scope string may not hold control characters",
                        "{input:?}"
                    ),
                }
            }
        }
        // Printable non-ASCII stays allowed.
        assert_eq!(parse("é:ü[ß]").unwrap()[0].name, "é:ü");
    }
}
