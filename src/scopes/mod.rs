//! Globus scope strings: parse, serialize, merge.
//!
//! A Globus scope string is not a list of space-separated words: a scope can
//! carry dependent scopes in brackets, and brackets nest, so
//! `a[*b c[d]] e` is two scopes, `a` (with dependencies `b`, optional, and
//! `c`, which depends on `d`) and `e`.
//!
//! ```
//! use tower_gare::scopes;
//!
//! let parsed = scopes::parse(
//!     "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/abc/data_access] openid",
//! )
//! .unwrap();
//! assert_eq!(parsed.len(), 2);
//! assert_eq!(parsed[0].dependencies[0].name, "https://auth.globus.org/scopes/abc/data_access");
//! assert!(parsed[0].dependencies[0].optional);
//!
//! // Merging is bracket-aware and removes duplicates.
//! let merged = scopes::merge(&parsed, &scopes::parse("openid email").unwrap());
//! assert_eq!(
//!     scopes::serialize(&merged),
//!     "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/abc/data_access] openid email",
//! );
//! assert!(scopes::parse("a[b").is_err());
//! ```

mod merge;
mod parse;
mod scope;

pub use merge::{merge, merge_strings};
pub use parse::{parse, ScopeParseError, MAX_DEPTH};
pub use scope::{serialize, Scope};
