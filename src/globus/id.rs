//! The ids that go into scope strings: collections' and flows'.

use std::fmt;

/// An id that is not a UUID, refused before it could make a malformed
/// scope string (a space splits a scope in two, a bracket opens a
/// dependency, a quote breaks the JSON it is sent in).
///
/// Ids are UUIDs written as Globus writes them, 8-4-4-4-12 hex digits.
/// The Python SDK's `add_app_data_access_scope` also takes what Python's
/// `uuid.UUID` takes (braces, `urn:uuid:`, no hyphens) and puts the string
/// in the scope as given, where Globus Auth knows no such scope; those are
/// refused here, so the mistake shows when the scope is built rather than
/// as "Unknown Scope" at login.
///
/// ```
/// use tower_gare::globus;
///
/// let error = globus::collection_data_access("my collection").unwrap_err();
/// assert_eq!(error.id(), "my collection");
/// assert_eq!(
///     error.to_string(),
///     "collection id \"my collection\" is not a UUID (8-4-4-4-12 hex digits)",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    kind: &'static str,
    id: String,
}

impl InvalidId {
    /// The id as given.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:?}`: the id is the caller's input, perhaps with control
        // characters; quoted and escaped it cannot garble a terminal.
        write!(
            f,
            "{} id {:?} is not a UUID (8-4-4-4-12 hex digits)",
            self.kind, self.id
        )
    }
}

impl std::error::Error for InvalidId {}

/// `id` if it is a UUID in the 8-4-4-4-12 form, either case (kept as
/// given, as the Python SDK keeps it).
pub(super) fn uuid<'a>(kind: &'static str, id: &'a str) -> Result<&'a str, InvalidId> {
    let bytes = id.as_bytes();
    let well_formed = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if well_formed {
        Ok(id)
    } else {
        Err(InvalidId {
            kind,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::uuid;

    #[test]
    fn only_hyphenated_hex_uuids_pass() {
        for good in [
            "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00",
            "5A2E3C1A-1D77-4F5E-9C6B-0B7D3F2E1A00",
        ] {
            assert_eq!(uuid("collection", good), Ok(good));
        }
        for bad in [
            "",
            " ",
            "abc",
            "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a0",
            "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a000",
            "5a2e3c1a1d774f5e9c6b0b7d3f2e1a00",
            "{5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00}",
            "urn:uuid:5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00",
            "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a0 ",
            "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a0]",
            "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a0\"",
            "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1ag",
            "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1aé",
            "5a2e3c1a_1d77-4f5e-9c6b-0b7d3f2e1a00",
        ] {
            let error = uuid("flow", bad).unwrap_err();
            assert_eq!(error.id(), bad);
        }
    }
}
