//! The attaching service.

use std::fmt;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response};
use tower_service::Service;

use super::future::{tell_sent, AttachFuture, InsecureUrl};
use crate::login::{Login, Prompt, TokenClient, TokenStore};
use crate::redrive::{may_carry_token, BoxError, User};

/// The service [`AttachTokensLayer`](super::AttachTokensLayer) makes.
pub struct AttachTokens<S, C, P, T> {
    inner: S,
    login: Login<C, P, T>,
    allow_plain_http: bool,
}

impl<S, C, P, T> AttachTokens<S, C, P, T> {
    pub(crate) fn new(inner: S, login: Login<C, P, T>, allow_plain_http: bool) -> Self {
        AttachTokens {
            inner,
            login,
            allow_plain_http,
        }
    }
}

impl<S, C, P, T, B, ResBody> Service<Request<B>> for AttachTokens<S, C, P, T>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
    C: TokenClient,
    P: Prompt,
    T: TokenStore,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = AttachFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if request.headers().contains_key(AUTHORIZATION) {
            return AttachFuture::sent(self.inner.call(request));
        }
        if !self.allow_plain_http && !may_carry_token(request.uri()) {
            return AttachFuture::failed(InsecureUrl::of(request.uri()).into());
        }
        let user = request.extensions().get::<User>();
        let resource_server = self.login.resource_server_of(request.uri());
        if let Some(credentials) = self.login.held_credentials(user, &resource_server) {
            credentials.apply_to(request.headers_mut());
            let sent = request.headers().get(AUTHORIZATION).cloned();
            return AttachFuture::attached(self.inner.call(request), sent);
        }
        // No token good for the refresh margin: get one (refresh, stored,
        // or a login), then send. The service made ready is the one called.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let resource_server = resource_server.into_owned();
        let login = self.login.clone();
        let user = user.cloned();
        AttachFuture::waiting(async move {
            let credentials = login.credentials(user.as_ref(), &resource_server).await?;
            credentials.apply_to(request.headers_mut());
            let sent = request.headers().get(AUTHORIZATION).cloned();
            let response = ready.call(request).await.map_err(Into::into)?;
            Ok(tell_sent(response, sent))
        })
    }
}

impl<S: Clone, C, P, T> Clone for AttachTokens<S, C, P, T> {
    fn clone(&self) -> Self {
        AttachTokens {
            inner: self.inner.clone(),
            login: self.login.clone(),
            allow_plain_http: self.allow_plain_http,
        }
    }
}

impl<S: fmt::Debug, C, P, T> fmt::Debug for AttachTokens<S, C, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachTokens")
            .field("inner", &self.inner)
            .field("allow_plain_http", &self.allow_plain_http)
            .finish_non_exhaustive()
    }
}
