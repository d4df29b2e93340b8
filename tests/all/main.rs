//! The test suite, one binary (as reqwest-middleware and tower-http have
//! it): one build and one link for every module below, and no helper
//! compiled in some binaries and dead in others.
//!
//! `tests/memory.rs` is its own binary: it installs a counting global
//! allocator. `tests/login.rs` and the OAuth server tests are theirs too.

#[path = "../../examples/common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod challenge;
#[cfg(feature = "login")]
mod e2e_fauxbus;
mod gare_model;
mod gare_parity;
mod gare_props;
mod hardening;
mod redrive_http;
mod redrive_mock;
mod redrive_tokens;
mod replay_body;
#[cfg(feature = "reqwest")]
mod reqwest_middleware;
mod scopes;
mod testing_helpers;
