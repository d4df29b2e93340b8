//! The tower middleware: on a GARE, reauthenticate and send the request again, once.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_gare::gare::{AuthorizationParameters, Gare};
//! use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext, RedriveOutcome};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // A resource server that wants consent to `transfer:all` first.
//! let server = service_fn(|req: Request<String>| async move {
//!     if req.headers().get("authorization").is_some_and(|v| v == "Bearer with-consent") {
//!         return Ok::<_, Infallible>(Response::new(String::from("[files]")));
//!     }
//!     let gare = Gare::new("ConsentRequired", AuthorizationParameters {
//!         required_scopes: Some(vec!["transfer:all".into()]),
//!         ..Default::default()
//!     });
//!     Ok(gare.to_response())
//! });
//!
//! let client = ServiceBuilder::new()
//!     .layer(GareRedriveLayer::new(|cx: ReauthContext| async move {
//!         // A real program logs the user in here (see the `login` module).
//!         assert_eq!(cx.gare().code, "ConsentRequired");
//!         Credentials::bearer("with-consent")
//!     }))
//!     .service(server);
//!
//! let response = client.oneshot(Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert!(matches!(response.extensions().get(), Some(RedriveOutcome::Redriven)));
//! # });
//! ```
//!
//! # What it does
//! 1. The credentials step: asks the [`Reauthenticator`] what the request
//!    goes out with ([`Reauthenticator::credentials`]): a
//!    [`Login`](crate::login::Login)'s token for its resource server, held,
//!    refreshed or from a login; or, for a closure, the credentials an
//!    earlier reauthentication produced for its origin. Never on plain
//!    `http` off loopback, unless [allowed](GareRedriveLayer::allow_plain_http).
//!    The inner service is made ready only once they are in hand.
//! 2. A response whose status is not a trigger (401, 403, 502 by default)
//!    goes straight back, unread, with no allocation.
//! 3. A trigger status: the body is read up to a cap (64 KiB), within a
//!    deadline (10 s), and parsed with
//!    [`gare::from_body`](crate::gare::from_body). Not a GARE, over the cap,
//!    or too slow: the response goes back with its body byte for byte.
//! 4. A GARE: the [`Reauthenticator`] is called (once for any number of
//!    concurrent requests with the same requirements at the same origin), and
//!    the request is sent again with the new credentials. The retried
//!    response goes back whatever it is; there is never a second retry.
//!    After a 502 only idempotent methods are sent again
//!    ([`retry_any_method_on`](GareRedriveLayer::retry_any_method_on)); and
//!    requirements whose reauthentication just failed, or did not help, get
//!    no new one for a [quiet period](GareRedriveLayer::reauth_quiet_period).
//!
//! Each response it read carries a [`RedriveOutcome`] in its extensions, and
//! the [`Gare`](crate::gare::Gare) it found, if any.
//!
//! # Where to put it
//! Inside (closer to the client than) any layer that sets `Authorization`:
//! the layer replaces it with the credentials it learned. Inside a generic
//! retry layer: a 502 GARE is not a transient failure and must not be retried
//! as one. Outside a timeout if the timeout should cover one attempt, inside
//! if it should cover both.

mod body;
mod credentials;
mod decide;
mod flight;
mod future;
mod layer;
mod outcome;
mod reauth;
mod replay;
#[cfg(feature = "reqwest")]
pub(crate) mod reqwest;
mod service;
mod trigger;

pub use body::RedriveBody;
#[cfg(feature = "login")]
pub(crate) use credentials::may_carry_token;
pub use credentials::{Credentials, InvalidCredentials, Origin};
pub use future::ResponseFuture;
pub use layer::{BoxErrors, ErrorMode, GareRedriveLayer, InnerErrors, DEFAULT_RESPONSE_CAP};
pub use outcome::RedriveOutcome;
pub(crate) use reauth::BoxError;
pub use reauth::{
    Attach, Outgoing, ReauthContext, ReauthError, Reauthenticator, User, WaitForCredentials,
};
pub use replay::{
    CloneBodyFn, ReplayBody, ReplayPolicy, Replayable, ReplayableBodies, DEFAULT_REPLAY_CAP,
};
pub use service::GareRedrive;
