#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod challenge;
mod deadline;
pub mod gare;
#[cfg(feature = "login")]
pub mod globus;
#[cfg(feature = "rustls")]
pub mod https;
#[cfg(feature = "login")]
pub mod login;
pub mod redrive;
#[cfg(feature = "reqwest")]
pub mod reqwest {
    //! The redrive engine as a [`reqwest_middleware::Middleware`] (feature
    //! `reqwest`): see [`GareRedriveMiddleware`].
    pub use crate::redrive::reqwest::GareRedriveMiddleware;
}
pub mod scopes;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
