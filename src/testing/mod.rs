//! Helpers for testing code that has the layer in it (feature `testing`),
//! as `globus_sdk.testing` serves the Python SDK's users: ready-made GAREs
//! and responses, a scripted in-memory service, and a reauthenticator that
//! records its calls.
//!
//! ```
//! use http::{Request, StatusCode};
//! use tower::{Layer, ServiceExt};
//! use tower_gare::redrive::{GareRedriveLayer, RedriveOutcome};
//! use tower_gare::testing::{gares, RecordingReauthenticator, ScriptedService};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! // A service that answers a consent GARE until it sees `Bearer new-token`.
//! let api = ScriptedService::new().gare_until_authorized(
//!     StatusCode::FORBIDDEN,
//!     gares::consent_required(&["urn:globus:auth:scope:transfer.api.globus.org:all"]),
//!     "new-token",
//! );
//! let reauth = RecordingReauthenticator::returning("new-token");
//! let client = GareRedriveLayer::new(reauth.clone()).layer(api.clone());
//!
//! let response = client.oneshot(Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert!(matches!(response.extensions().get(), Some(RedriveOutcome::Redriven)));
//! assert_eq!(reauth.calls(), 1);
//! assert_eq!(api.requests().len(), 2);
//! # });
//! ```

pub mod gares;
mod reauthenticator;
mod service;

pub use reauthenticator::RecordingReauthenticator;
pub use service::{RecordedRequest, ScriptedService};
