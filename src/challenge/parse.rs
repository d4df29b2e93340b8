//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1), lenient where real
//! servers are sloppy.

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;

/// One challenge of a `WWW-Authenticate` field: a scheme and either a
/// `token68` or auth-params.
///
/// ```
/// use tower_gare::challenge::parse;
///
/// let challenges = parse(br#"Basic realm="simple", Bearer error="insufficient_scope", scope="a b""#);
/// assert_eq!(challenges.len(), 2);
/// assert!(challenges[1].is_scheme("bearer"));
/// assert_eq!(challenges[1].param("SCOPE"), Some("a b"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    token68: Option<String>,
    params: Vec<(String, String)>,
}

impl Challenge {
    /// The auth scheme, as sent.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Whether the scheme is `scheme` (schemes are case-insensitive).
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The `token68` form's value (`Negotiate YIIC...`), if that is the form.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }

    /// The first parameter named `name` (names are case-insensitive), unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, names lowercased, values unquoted, in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // token68 values are credentials-like (Negotiate, NTLM): not shown.
        f.debug_struct("Challenge")
            .field("scheme", &self.scheme)
            .field("token68", &self.token68.as_ref().map(|_| "<redacted>"))
            .field("params", &self.params)
            .finish()
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.at += 1;
        }
    }

    fn skip_ows_and_commas(&mut self) {
        while self.peek().is_some_and(|b| is_ows(b) || b == b',') {
            self.at += 1;
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.at;
        while self.peek().is_some_and(&keep) {
            self.at += 1;
        }
        &self.bytes[start..self.at]
    }

    /// A quoted-string after its opening quote: escapes undone; an
    /// unterminated one runs to the end of the field. Borrowed unless it
    /// holds an escape or invalid UTF-8.
    fn quoted(&mut self) -> Cow<'a, str> {
        let start = self.at;
        let plain = self.take_while(|b| b != b'"' && b != b'\\');
        if self.peek() != Some(b'\\') {
            self.at += usize::from(self.peek() == Some(b'"'));
            return String::from_utf8_lossy(plain);
        }
        self.at = start;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.at += 1;
                    }
                }
                b => out.push(b),
            }
        }
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }

    /// An unquoted value. RFC 9110 says a token; servers send more (Microsoft
    /// Graph: `authorization_uri=https://login.microsoftonline.com/...`), so
    /// anything up to a comma or whitespace is taken.
    fn bare_value(&mut self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.take_while(|b| b != b',' && !is_ows(b)))
    }

    /// At `name BWS "=" BWS value`? Not at a token68 (`abc=` then a comma
    /// or the end, or `abc==` padding), whose `=` is no separator.
    fn at_param(&self) -> bool {
        let mut at = self.at;
        let name_start = at;
        while self.bytes.get(at).copied().is_some_and(is_tchar) {
            at += 1;
        }
        if at == name_start {
            return false;
        }
        while self.bytes.get(at).copied().is_some_and(is_ows) {
            at += 1;
        }
        if self.bytes.get(at) != Some(&b'=') || self.bytes.get(at + 1) == Some(&b'=') {
            return false;
        }
        at += 1;
        while self.bytes.get(at).copied().is_some_and(is_ows) {
            at += 1;
        }
        !matches!(self.bytes.get(at), None | Some(b','))
    }

    /// At `name BWS "="`, whatever follows (a parameter whose value may be empty)?
    fn at_param_or_empty(&self) -> bool {
        let mut at = self.at;
        let name_start = at;
        while self.bytes.get(at).copied().is_some_and(is_tchar) {
            at += 1;
        }
        while at > name_start && self.bytes.get(at).copied().is_some_and(is_ows) {
            at += 1;
        }
        at > name_start
            && self.bytes.get(at) == Some(&b'=')
            && self.bytes.get(at + 1) != Some(&b'=')
    }

    /// At a token68 that ends the challenge (`YIIC3g==` then `,` or the end)?
    fn token68_len(&self) -> Option<usize> {
        let rest = &self.bytes[self.at..];
        let body = rest.iter().take_while(|&&b| is_token68_char(b)).count();
        if body == 0 {
            return None;
        }
        let padding = rest[body..].iter().take_while(|&&b| b == b'=').count();
        let after = rest[body + padding..].iter().position(|&b| !is_ows(b));
        match after.map(|i| rest[body + padding + i]) {
            None | Some(b',') => Some(body + padding),
            _ => None,
        }
    }
}

/// A challenge as it lies in the header: borrowed wherever it can be, so
/// looking for a requirement allocates only for the challenge that has one.
pub(crate) struct RawChallenge<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) token68: Option<&'a str>,
    pub(crate) params: Vec<(&'a str, Cow<'a, str>)>,
}

impl RawChallenge<'_> {
    pub(crate) fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }
}

impl<'a> From<&'a Challenge> for RawChallenge<'a> {
    fn from(challenge: &'a Challenge) -> Self {
        RawChallenge {
            scheme: &challenge.scheme,
            token68: challenge.token68.as_deref(),
            params: challenge
                .params
                .iter()
                .map(|(n, v)| (n.as_str(), Cow::Borrowed(v.as_str())))
                .collect(),
        }
    }
}

/// `tchar`s are ASCII, so a run of them is always a `str`.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Calls `visit` with each challenge of one field value, in order, until it
/// says stop. Never fails: what cannot be read is skipped, and the work is
/// linear in the length of the value.
pub(crate) fn visit<'a, T>(
    value: &'a [u8],
    mut visit: impl FnMut(RawChallenge<'a>) -> ControlFlow<T>,
) -> Option<T> {
    let mut cursor = Cursor {
        bytes: value,
        at: 0,
    };
    loop {
        cursor.skip_ows_and_commas();
        cursor.peek()?;
        let scheme = cursor.take_while(is_tchar);
        if scheme.is_empty() {
            // Not a challenge: skip to the next comma.
            cursor.at += 1;
            cursor.take_while(|b| b != b',');
            continue;
        }
        let mut challenge = RawChallenge {
            scheme: ascii(scheme),
            token68: None,
            params: Vec::new(),
        };
        cursor.skip_ows();
        if !cursor.at_param() {
            if let Some(len) = cursor.token68_len() {
                challenge.token68 = Some(ascii(&value[cursor.at..cursor.at + len]));
                cursor.at += len;
            }
        }
        // auth-params, comma-separated, until something that is not one
        // (the next challenge's scheme) or the end.
        let mut first = true;
        loop {
            cursor.skip_ows_and_commas();
            // Only right after the scheme can `name=` be a token68; further
            // on it is a parameter with an empty value.
            let is_param = if first {
                cursor.at_param()
            } else {
                cursor.at_param_or_empty()
            };
            first = false;
            if challenge.token68.is_some() || !is_param {
                break;
            }
            let name = ascii(cursor.take_while(is_tchar));
            cursor.skip_ows();
            cursor.at += 1; // the '='
            cursor.skip_ows();
            let value = if cursor.peek() == Some(b'"') {
                cursor.at += 1;
                cursor.quoted()
            } else {
                cursor.bare_value()
            };
            challenge.params.push((name, value));
        }
        if let ControlFlow::Break(found) = visit(challenge) {
            return Some(found);
        }
    }
}

/// Parses one `WWW-Authenticate` field value into its challenges. Never
/// fails: what cannot be read is skipped, and the work is linear in the
/// length of the value.
///
/// ```
/// use tower_gare::challenge::parse;
///
/// let c = parse(b"Negotiate YIIC3gYGKwYBBQUCoII=, Bearer realm=\"\",");
/// assert_eq!(c.len(), 2);
/// assert!(c[0].token68().is_some());
/// assert_eq!(c[1].param("realm"), Some(""));
/// ```
pub fn parse(value: &[u8]) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    visit::<()>(value, |raw| {
        challenges.push(Challenge {
            scheme: raw.scheme.to_owned(),
            token68: raw.token68.map(str::to_owned),
            params: raw
                .params
                .into_iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.into_owned()))
                .collect(),
        });
        ControlFlow::Continue(())
    });
    challenges
}

/// Every challenge of every `WWW-Authenticate` field in `headers`, in order.
pub fn parse_all(headers: &http::HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .flat_map(|value| parse(value.as_bytes()))
        .collect()
}
