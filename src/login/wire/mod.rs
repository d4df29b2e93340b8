//! The wire to the authorization server: the authorize URL, the code
//! exchange, and the HTTP client they go over.

mod authorize;
mod client;
mod exchange;

pub use authorize::AuthorizeRequest;
pub use client::TokenClient;
pub(crate) use exchange::Exchange;
