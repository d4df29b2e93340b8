//! A scripted in-memory service.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use tower_service::Service;

use super::gares::json_response;
use crate::gare::Gare;

/// A request the service received (headers included, credentials too:
/// this is for tests).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Its method.
    pub method: Method,
    /// Its URI.
    pub uri: Uri,
    /// Its headers.
    pub headers: HeaderMap,
}

impl RecordedRequest {
    /// The `Authorization` header, as text.
    pub fn authorization(&self) -> Option<&str> {
        self.headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Script {
    queue: VecDeque<Response<String>>,
    until_authorized: Option<(StatusCode, Gare, String)>,
    requests: Vec<RecordedRequest>,
}

/// A `tower::Service` that answers from a script: queued responses first,
/// in order; then, if set, a GARE to every request without the right
/// bearer token; then `200 {}`. Clones share the script and the record.
#[derive(Clone, Default)]
pub struct ScriptedService {
    script: Arc<Mutex<Script>>,
}

impl ScriptedService {
    /// An empty script: every request gets `200 {}`.
    pub fn new() -> Self {
        Self::default()
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one response.
    pub fn respond(self, response: Response<String>) -> Self {
        self.script().queue.push_back(response);
        self
    }

    /// Queues `gare` as the answer to the next `times` requests.
    pub fn gare_times(self, times: usize, status: StatusCode, gare: &Gare) -> Self {
        for _ in 0..times {
            self.script()
                .queue
                .push_back(gare.to_response_with_status(status));
        }
        self
    }

    /// After the queue, answers `gare` to every request that does not carry
    /// `Authorization: Bearer <token>`.
    pub fn gare_until_authorized(self, status: StatusCode, gare: Gare, token: &str) -> Self {
        self.script().until_authorized = Some((status, gare, format!("Bearer {token}")));
        self
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.script().requests.clone()
    }
}

impl fmt::Debug for ScriptedService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let script = self.script();
        f.debug_struct("ScriptedService")
            .field("queued", &script.queue.len())
            .field("received", &script.requests.len())
            .finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for ScriptedService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut script = self.script();
        let recorded = RecordedRequest {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
        };
        let authorization = recorded.authorization().map(str::to_owned);
        script.requests.push(recorded);
        if let Some(response) = script.queue.pop_front() {
            return ready(Ok(response));
        }
        if let Some((status, gare, wanted)) = &script.until_authorized {
            if authorization.as_deref() != Some(wanted.as_str()) {
                return ready(Ok(gare.to_response_with_status(*status)));
            }
        }
        ready(Ok(json_response(StatusCode::OK, "{}".into())))
    }
}
