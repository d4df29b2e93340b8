//! The error a strict parse gives: which field, and what was expected.

use std::fmt;

/// A document is not a canonical GARE: `field` did not hold what it must.
///
/// The message reads like the reference SDK's (`'code' must be a string`), so
/// logs from a Python service and a Rust client say the same thing.
///
/// ```
/// use serde_json::json;
/// use tower_gare::gare::Gare;
///
/// let err = Gare::from_value(&json!({"code": 5, "authorization_parameters": {}})).unwrap_err();
/// assert_eq!(err.field(), "code");
/// assert_eq!(err.to_string(), "'code' must be a string");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    field: &'static str,
    expected: &'static str,
}

impl ValidationError {
    pub(crate) const fn new(field: &'static str, expected: &'static str) -> Self {
        Self { field, expected }
    }

    /// The name of the offending field (`code`, `session_required_mfa`, ...).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What the field must hold (`a string`, `a bool or null`, ...).
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' must be {}", self.field, self.expected)
    }
}

impl std::error::Error for ValidationError {}
