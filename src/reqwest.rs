//! The redrive engine as a [`reqwest_middleware::Middleware`] (feature `reqwest`).
//!
//! ```
//! use tower_gare::redrive::{Credentials, ReauthContext};
//! use tower_gare::reqwest::GareRedriveMiddleware;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(GareRedriveMiddleware::new(|_cx: ReauthContext| async { Credentials::bearer("new-token") }))
//!     .build();
//! # let _ = client;
//! ```
//!
//! It runs the same engine as [`GareRedriveLayer`]: the same triggers and
//! caps, one reauthentication for concurrent requests with the same
//! requirements, credentials remembered per origin, one retry, a
//! [`RedriveOutcome`](crate::redrive::RedriveOutcome) and the
//! [`Gare`](crate::gare::Gare) in the response's extensions. A request whose
//! body reqwest cannot clone (a stream) is sent once: on a GARE the caller
//! gets the response with the GARE attached and `NotReplayable`.

use std::sync::Arc;

use ::reqwest::{Body, Request, Response};
use ::reqwest_middleware::{Middleware, Next, Result};
use http::header::AUTHORIZATION;
use http::{Extensions, Uri};

use crate::redrive::config::Setup;
use crate::redrive::decide::{after_retry, decide, Decision, Sent};
use crate::redrive::{GareRedriveLayer, Origin, Reauthenticator, RedriveBody};

/// A `reqwest_middleware::Middleware` that answers GAREs by reauthenticating
/// and retrying once.
pub struct GareRedriveMiddleware<R> {
    setup: Arc<Setup<R>>,
}

impl<R: Reauthenticator> GareRedriveMiddleware<R> {
    /// A middleware that calls `reauthenticator` on a GARE, with the
    /// layer's defaults (triggers 401, 403, 502; 64 KiB response cap).
    pub fn new(reauthenticator: R) -> Self {
        Self::from_layer(&GareRedriveLayer::new(reauthenticator))
    }

    /// A middleware with `layer`'s settings that shares its engine: its
    /// remembered credentials and running reauthentications, so a program
    /// that uses both a tower client and reqwest logs in once.
    ///
    /// ```
    /// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};
    /// use tower_gare::reqwest::GareRedriveMiddleware;
    ///
    /// let layer = GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
    ///     .response_cap(16 * 1024);
    /// let middleware = GareRedriveMiddleware::from_layer(&layer);
    /// # let _ = middleware;
    /// ```
    pub fn from_layer(layer: &GareRedriveLayer<R>) -> Self {
        GareRedriveMiddleware {
            setup: layer.setup(),
        }
    }
}

impl<R> Clone for GareRedriveMiddleware<R> {
    fn clone(&self) -> Self {
        GareRedriveMiddleware {
            setup: Arc::clone(&self.setup),
        }
    }
}

impl<R> std::fmt::Debug for GareRedriveMiddleware<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GareRedriveMiddleware")
            .field("config", &self.setup.config)
            .finish_non_exhaustive()
    }
}

/// An `http::Response` made by the engine, back into a reqwest one, keeping
/// the URL the response came from.
fn to_reqwest(response: http::Response<RedriveBody<Body>>, url: ::reqwest::Url) -> Response {
    use ::reqwest::ResponseBuilderExt;
    let (mut parts, body) = response.into_parts();
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(carrier.into_parts().0.extensions);
    }
    Response::from(http::Response::from_parts(parts, Body::wrap(body)))
}

#[async_trait::async_trait]
impl<R: Reauthenticator> Middleware for GareRedriveMiddleware<R> {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let Ok(uri) = request.url().as_str().parse::<Uri>() else {
            return next.run(request, extensions).await;
        };
        let engine = &self.setup.engine;
        let config = &self.setup.config;
        let generation = engine.apply_remembered(&uri, request.headers_mut());
        let method = request.method().clone();
        let authorization = request.headers().get(AUTHORIZATION).cloned();
        let replay = request.try_clone();

        let response = next.clone().run(request, extensions).await?;
        if !config.triggers(response.status()) {
            return Ok(response);
        }
        let url = response.url().clone();
        // reqwest followed a redirect to another origin: that server's
        // requirements are not this origin's to log in for.
        let answered_by = url
            .as_str()
            .parse::<Uri>()
            .ok()
            .map(|u| Origin::from_uri(&u));
        if answered_by != Some(Origin::from_uri(&uri)) {
            return Ok(response);
        }
        let sent = Sent {
            method: &method,
            uri: &uri,
            authorization: authorization.as_ref(),
            generation,
        };
        let response = http::Response::<Body>::from(response);
        let (credentials, outcome, mut request) =
            match decide(engine, config, sent, replay, |_| true, response).await {
                Decision::Return { response } => return Ok(to_reqwest(response, url)),
                Decision::Retry {
                    credentials,
                    outcome,
                    replay,
                } => (credentials, outcome, replay),
            };
        credentials.apply_to(request.headers_mut());
        let response = next.run(request, extensions).await?;
        let url = response.url().clone();
        if !config.triggers(response.status()) {
            let mut response = response;
            response.extensions_mut().insert(outcome);
            return Ok(response);
        }
        let response = after_retry(config, http::Response::<Body>::from(response), outcome).await;
        Ok(to_reqwest(response, url))
    }
}
