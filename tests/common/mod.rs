//! Helpers shared by the redrive tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower_gare::redrive::{Credentials, ReauthContext};

pub const CONSENT_GARE: &str = r#"{"code": "ConsentRequired", "authorization_parameters": {"session_message": "needs consent", "required_scopes": ["urn:globus:auth:scope:transfer.api.globus.org:all"]}, "request_id": "r1"}"#;

pub const TOKEN: &str = "fresh-token-123";

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub fn authorized<B>(req: &Request<B>, token: &str) -> bool {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == bearer(token).as_bytes())
}

pub fn gare_response(status: StatusCode, body: &str) -> Response<String> {
    let mut response = Response::new(body.to_owned());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A reauthenticator that counts its calls and keeps their contexts.
#[derive(Clone, Default)]
pub struct Recorder {
    pub calls: Arc<AtomicUsize>,
    pub contexts: Arc<Mutex<Vec<ReauthContext>>>,
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// A closure reauthenticator returning `token` after `delay`.
    pub fn reauth(
        &self,
        token: &'static str,
        delay: std::time::Duration,
    ) -> impl Fn(
        ReauthContext,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<Credentials, tower_gare::redrive::InvalidCredentials>,
                > + Send,
        >,
    > + Send
           + Sync
           + 'static {
        let me = self.clone();
        move |cx: ReauthContext| {
            me.calls.fetch_add(1, Ordering::SeqCst);
            me.contexts.lock().unwrap().push(cx);
            Box::pin(async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Credentials::bearer(token)
            })
        }
    }
}

pub async fn body_bytes<B>(body: B) -> Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    body.collect().await.unwrap().to_bytes()
}
pub mod counting;
#[cfg(feature = "login")]
pub mod fauxbus;
pub mod ok200;
pub mod server;
