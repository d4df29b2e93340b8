//! Tokens attached to requests: the small layer a [`Login`](super::Login)
//! puts inside the redrive layer, so every request carries its own resource
//! server's token, refreshed before it expires.

mod future;
mod layer;
mod service;

pub use future::AttachFuture;
pub use layer::AttachTokensLayer;
pub use service::AttachTokens;
