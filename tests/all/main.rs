//! The test suite, one binary (as reqwest-middleware and tower-http have
//! it): one build and one link for every module below, and no helper
//! compiled in some binaries and dead in others.
//!
//! `tests/memory.rs` is its own binary: it installs a counting global
//! allocator. `tests/e2e_oidc.rs` is its own too: the token's whole life
//! against a real OAuth 2.0 server, as issue 12 asked for it.

#[path = "../../examples/common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod challenge;
#[cfg(feature = "login")]
mod credentials_step;
#[cfg(feature = "login")]
mod e2e_fauxbus;
mod gare_model;
mod gare_parity;
mod gare_props;
#[cfg(feature = "login")]
mod globus;
mod hardening;
mod https_client;
#[cfg(feature = "login")]
mod login;
#[cfg(all(feature = "login", feature = "reqwest"))]
mod login_life;
#[cfg(all(unix, feature = "rustls"))]
mod ls_example;
#[cfg(feature = "login")]
mod oidc_probe;
mod redrive_http;
mod redrive_mock;
mod redrive_tokens;
mod replay_body;
#[cfg(feature = "reqwest")]
mod reqwest_middleware;
mod scopes;
#[cfg(all(unix, feature = "login"))]
mod terminal;
mod testing_helpers;
#[cfg(all(feature = "login", feature = "reqwest"))]
mod token_bounds;
#[cfg(feature = "login")]
mod token_file_python;
#[cfg(all(unix, feature = "login"))]
mod token_file_safety;
#[cfg(feature = "tracing")]
mod tracing_records;
#[cfg(all(feature = "login", feature = "reqwest"))]
mod transport;
#[cfg(feature = "login")]
mod wire_oidc;
