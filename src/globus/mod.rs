//! What Globus is, as globus-sdk 4.10 knows it: its services (resource
//! servers, default scopes, URLs in each environment) and the scopes of
//! Globus Connect Server collections and of flows, including the dependent
//! scopes that spare a user a second consent.
//!
//! With these a program says what it needs as briefly as Python's
//! `GlobusApp` with `TransferClient(app=app).add_app_data_access_scope(...)`:
//!
//! ```
//! use tower_gare::globus::{self, Service};
//! use tower_gare::login::Login;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let collection = "5a2e3c1a-1d77-4f5e-9c6b-0b7d3f2e1a00";
//! let builder = Login::builder("client id")
//!     .scope_requirements(Service::GROUPS.resource_server(), Service::GROUPS.default_scopes())
//!     .scope_requirements(
//!         Service::TRANSFER.resource_server(),
//!         [globus::transfer_data_access([collection])?],
//!     );
//! # let _ = builder;
//! // Transfer's API, wherever GLOBUS_SDK_ENVIRONMENT puts it.
//! let url = format!("{}endpoint/{collection}", Service::TRANSFER.api_url()?);
//! # let _ = url;
//! # Ok(())
//! # }
//! ```
//!
//! Ids that go into scopes (collections', flows') must be UUIDs: anything
//! else is an [`InvalidId`], never a malformed scope string.

mod collections;
mod flows;
mod id;
mod service;

pub use collections::{collection_data_access, collection_https, transfer_data_access};
pub use flows::{flow_transfer_data_access, flow_user};
pub use id::InvalidId;
pub use service::{InvalidScopeName, Service};
