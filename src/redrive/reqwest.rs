//! The engine as a [`reqwest_middleware::Middleware`], beside the tower
//! service: the same credentials step, decision and retry, with reqwest's
//! `next.run` to send.

use std::sync::Arc;

use ::reqwest::{Body, Request, Response, ResponseBuilderExt, Url};
use ::reqwest_middleware::{Error, Middleware, Next, Result};
use http::{Extensions, Uri};
use tower_http::follow_redirect::RequestUri;

use super::decide::{Carried, Decision, Redriver, Sent, Step};
use super::{GareRedriveLayer, Outgoing, Reauthenticator, RedriveBody, User};

/// A `reqwest_middleware::Middleware` that answers GAREs by reauthenticating
/// and retrying once (feature `reqwest`).
///
/// ```
/// use tower_gare::redrive::{Credentials, ReauthContext, RedriveOutcome};
/// use tower_gare::reqwest::GareRedriveMiddleware;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # // A resource server on 127.0.0.1 that answers a consent GARE until it
/// # // sees `Bearer new-token`: plain HTTP/1.1, one request per connection.
/// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// # let url = format!("http://{}/v0.10/endpoint_search", server.local_addr().unwrap());
/// # tokio::spawn(async move {
/// #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// #     while let Ok((mut stream, _)) = server.accept().await {
/// #         let mut request = Vec::new();
/// #         let mut chunk = [0; 1024];
/// #         while !request.windows(4).any(|w| w == b"\r\n\r\n") {
/// #             match stream.read(&mut chunk).await {
/// #                 Ok(0) | Err(_) => break,
/// #                 Ok(n) => request.extend_from_slice(&chunk[..n]),
/// #             }
/// #         }
/// #         let request = String::from_utf8_lossy(&request).to_ascii_lowercase();
/// #         let (status, body) = if request.contains("authorization: bearer new-token") {
/// #             ("200 OK", r#"{"DATA": []}"#)
/// #         } else {
/// #             ("403 Forbidden", r#"{"code": "ConsentRequired", "authorization_parameters": {"required_scopes": ["transfer:all"]}}"#)
/// #         };
/// #         let response = format!(
/// #             "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
/// #             body.len()
/// #         );
/// #         let _ = stream.write_all(response.as_bytes()).await;
/// #     }
/// # });
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(GareRedriveMiddleware::new(|cx: ReauthContext| async move {
///         // A real program logs the user in here (see the `login` module).
///         let scopes = cx.gare().authorization_parameters.required_scopes.as_deref();
///         assert_eq!(scopes, Some(&["transfer:all".to_owned()][..]));
///         Credentials::bearer("new-token")
///     }))
///     .build();
///
/// // `url` answers a consent GARE until it sees `Bearer new-token`.
/// let response = client.get(&url).send().await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert!(matches!(response.extensions().get(), Some(RedriveOutcome::Redriven)));
/// assert_eq!(response.text().await.unwrap(), r#"{"DATA": []}"#);
/// # });
/// ```
///
/// It runs the same engine as [`GareRedriveLayer`]: the same triggers and
/// caps, one reauthentication for concurrent requests with the same
/// requirements, credentials remembered per origin, one retry, a
/// [`RedriveOutcome`](crate::redrive::RedriveOutcome) and the
/// [`Gare`](crate::gare::Gare) in the response's extensions. A request whose
/// body reqwest cannot clone (a stream) is sent once: on a GARE the caller
/// gets the response with the GARE attached and `NotReplayable`. A GARE
/// from another origin, reached by following a redirect, is not logged in
/// for (`OtherOrigin`).
pub struct GareRedriveMiddleware<R> {
    redriver: Arc<Redriver<R>>,
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
    /// assert!(format!("{middleware:?}").contains("response_cap: 16384"));
    /// ```
    pub fn from_layer<P, M>(layer: &GareRedriveLayer<R, P, M>) -> Self {
        GareRedriveMiddleware {
            redriver: layer.redriver(),
        }
    }
}

impl<R> Clone for GareRedriveMiddleware<R> {
    fn clone(&self) -> Self {
        GareRedriveMiddleware {
            redriver: Arc::clone(&self.redriver),
        }
    }
}

impl<R> std::fmt::Debug for GareRedriveMiddleware<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GareRedriveMiddleware")
            .field("settings", &self.redriver.settings)
            .finish_non_exhaustive()
    }
}

/// A reqwest response as the engine reads it: an `http::Response` that says
/// in a `RequestUri` which URL answered (reqwest follows redirects).
fn to_http(response: Response) -> http::Response<Body> {
    let final_uri = response.url().as_str().parse::<Uri>().ok();
    let mut response = http::Response::<Body>::from(response);
    if let Some(uri) = final_uri {
        response.extensions_mut().insert(RequestUri(uri));
    }
    response
}

/// An engine's response back into a reqwest one, with the URL it came from.
fn to_reqwest(response: http::Response<RedriveBody<Body>>, sent_to: &Url) -> Response {
    let (mut parts, body) = response.into_parts();
    let url = parts
        .extensions
        .get::<RequestUri>()
        .and_then(|RequestUri(uri)| Url::parse(&uri.to_string()).ok())
        .unwrap_or_else(|| sent_to.clone());
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
        let user = extensions.get::<User>().cloned();
        // The credentials step.
        let head = Outgoing::new(request.method(), &uri, request.headers());
        let carried = match self.redriver.step(head.for_user(user.as_ref())) {
            Step::Send(carried) => carried,
            Step::Put(credentials) => {
                credentials.apply_to(request.headers_mut());
                Default::default()
            }
            Step::PutRemembered => {
                let headers = request.headers_mut();
                self.redriver.put_remembered(user.as_ref(), &uri, headers)
            }
            Step::Wait(credentials) => match credentials.await {
                Ok(credentials) => {
                    credentials.apply_to(request.headers_mut());
                    Default::default()
                }
                Err(error) => return Err(Error::Middleware(anyhow_of(error))),
            },
            Step::Refused(error) => return Err(Error::Middleware(anyhow_of(error))),
        };
        // reqwest clones every body but a stream; a stream is sent once,
        // and what it carried is kept now. A copy is read on the slow path.
        let kept = match request.try_clone() {
            Some(copy) => Kept::Replay(copy),
            None => Kept::Once(sent_of(&request, &uri, user.as_ref(), carried)),
        };

        let response = next.clone().run(request, extensions).await?;
        if !self.redriver.triggers(response.status()) {
            return Ok(response);
        }
        // The slow path in a box of its own: a request that is never
        // redriven carries none of it.
        let slow = self.slow_path(kept, uri, user, carried, response, extensions, next);
        Box::pin(slow).await
    }
}

impl<R: Reauthenticator> GareRedriveMiddleware<R> {
    /// A trigger-status response: decide, send again, read the retried
    /// response. One retry, ever.
    #[allow(clippy::too_many_arguments)]
    async fn slow_path(
        &self,
        kept: Kept,
        uri: Uri,
        user: Option<User>,
        carried: Carried,
        response: Response,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let sent_to = response.url().clone();
        let (sent, replay) = match kept {
            Kept::Replay(copy) => (sent_of(&copy, &uri, user.as_ref(), carried), Some(copy)),
            Kept::Once(sent) => (sent, None),
        };
        let redriver = Arc::clone(&self.redriver);
        let decided = redriver.decide(sent, replay.is_some(), to_http(response));
        let retry = match Box::pin(decided).await {
            Decision::Return(response) => return Ok(to_reqwest(response, &sent_to)),
            Decision::Retry(retry) => retry,
        };
        let Some(mut replay) = replay else {
            return Ok(to_reqwest(retry.not_replayable(), &sent_to));
        };
        let after = retry.send(replay.headers_mut());
        let retried = to_http(next.run(replay, extensions).await?);
        let redriver = Arc::clone(&self.redriver);
        let response = Box::pin(redriver.after_retry(retried, after)).await;
        Ok(to_reqwest(response, &sent_to))
    }
}

/// A request as kept for the slow path.
enum Kept {
    /// A copy to send again.
    Replay(Request),
    /// What it carried: it cannot be sent again.
    Once(Sent),
}

/// What `request` carried, as the engine reads it on the slow path.
fn sent_of(request: &Request, uri: &Uri, user: Option<&User>, carried: Carried) -> Sent {
    let method = request.method().clone();
    Sent::new(
        method,
        uri.clone(),
        request.headers(),
        user.cloned(),
        carried,
    )
}

/// The credentials step's error as the middleware's: a
/// [`LoginError`](crate::login::LoginError) as itself, so `downcast_ref`
/// finds it; any other error boxed (`downcast_ref::<Box<dyn Error + Send + Sync>>`).
fn anyhow_of(error: crate::redrive::BoxError) -> anyhow::Error {
    #[cfg(feature = "login")]
    let error = match error.downcast::<crate::login::LoginError>() {
        Ok(login) => return anyhow::Error::new(*login),
        Err(other) => other,
    };
    anyhow::Error::from_boxed(error)
}
