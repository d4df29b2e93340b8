//! The tower service's slow path: the engine decides, and the request is
//! sent again through the same service when it says retry.

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Buf;
use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use tower_service::Service;

use super::config::Setup;
use super::decide::{after_retry, decide, Decision, Sent};
use super::{Reauthenticator, RedriveBody, Replayable};

/// What is kept of a request to send it again.
pub(crate) struct ReplayRequest<B> {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: Option<B>,
    /// The generation of the remembered credentials it was sent with (0: none).
    sent_generation: u64,
}

impl<B> ReplayRequest<B> {
    pub(crate) fn of(request: &Request<B>, body: Option<B>, sent_generation: u64) -> Self {
        ReplayRequest {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
            body,
            sent_generation,
        }
    }
}

/// Everything the slow path needs: the service that sent the request (to
/// send it again), the engine, the settings, and the request to replay.
pub(crate) struct Retry<S, R, B> {
    pub(crate) service: S,
    pub(crate) setup: Arc<Setup<R>>,
    pub(crate) replay: ReplayRequest<B>,
}

impl<S, R, B> Retry<S, R, B> {
    pub(crate) fn triggers(&self, status: StatusCode) -> bool {
        self.setup.config.triggers(status)
    }
}

impl<S, R, B, ResBody> Retry<S, R, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    B: Replayable,
    ResBody: Body,
    ResBody::Data: Buf,
    R: Reauthenticator,
{
    pub(crate) async fn after_trigger(
        mut self,
        response: Response<ResBody>,
    ) -> Result<Response<RedriveBody<ResBody>>, S::Error> {
        let replay = self.replay;
        let body = replay.body.filter(Replayable::can_replay);
        let sent = Sent {
            method: &replay.method,
            uri: &replay.uri,
            authorization: replay.headers.get(http::header::AUTHORIZATION),
            generation: replay.sent_generation,
        };
        let config = &self.setup.config;
        let (credentials, outcome, body) = match decide(
            &self.setup.engine,
            config,
            sent,
            body,
            Replayable::can_replay,
            response,
        )
        .await
        {
            Decision::Retry {
                credentials,
                outcome,
                replay,
            } => (credentials, outcome, replay),
            Decision::Return { response } => return Ok(response),
        };

        let mut request = Request::new(body);
        *request.method_mut() = replay.method;
        *request.uri_mut() = replay.uri;
        *request.version_mut() = replay.version;
        *request.headers_mut() = replay.headers;
        *request.extensions_mut() = replay.extensions;
        credentials.apply_to(request.headers_mut());

        // The retry waits for readiness like any request.
        poll_fn(|cx| self.service.poll_ready(cx)).await?;
        let response = self.service.call(request).await?;
        Ok(after_retry(config, response, outcome).await)
    }
}
