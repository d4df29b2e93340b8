//! Tokens: the token type, the store trait, and the stores that keep them
//! (in memory, and in the Python SDK's JSON token file).
//!
//! ```
//! use tower_gare::login::{MemoryTokenStore, Token, TokenStore, DEFAULT_NAMESPACE};
//!
//! let store = MemoryTokenStore::default();
//! let token = Token::new("transfer.api.globus.org", "t", "urn:x", None).with_refresh_token("r");
//! store.put(DEFAULT_NAMESPACE, &[token]).unwrap();
//! let back = store.get(DEFAULT_NAMESPACE, "transfer.api.globus.org").unwrap().unwrap();
//! assert_eq!(back.refresh_token(), Some("r"));
//! ```

mod disk;
mod json_file;
mod python_format;
mod store;
mod token;

pub use disk::TokenFileError;
pub use json_file::JsonFileTokenStore;
pub use store::{MemoryTokenStore, StoreWarning, TokenStore, DEFAULT_NAMESPACE};
pub(crate) use token::scope_names;
pub use token::Token;
