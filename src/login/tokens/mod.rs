//! Tokens: the token type, and the stores that keep them.

mod store;
mod token;

pub use store::{JsonFileTokenStore, MemoryTokenStore, TokenStore};
pub use token::Token;
pub(crate) use token::{parse_token_response, scope_names};
