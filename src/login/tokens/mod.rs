//! Tokens: the token type, and the stores that keep them.

mod store;
mod token;

pub use store::{JsonFileTokenStore, MemoryTokenStore, TokenStore};
pub(crate) use token::scope_names;
pub use token::Token;
