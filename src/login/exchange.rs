//! The code-for-tokens exchange, over the HTTP client the user provides.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};

use super::authorize::Verifier;
use super::token::parse_token_response;
use super::{LoginError, Token, TokenClient};

/// A token response is a few KiB; anything past this is not one.
const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;

pub(crate) struct Exchange<'a> {
    pub(crate) token_url: &'a Uri,
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) redirect_uri: &'a str,
    pub(crate) code: &'a str,
    pub(crate) verifier: &'a Verifier,
}

impl Exchange<'_> {
    fn request(&self) -> Result<Request<Full<Bytes>>, LoginError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", self.code)
            .append_pair("redirect_uri", self.redirect_uri)
            .append_pair("code_verifier", &self.verifier.0);
        if self.client_secret.is_none() {
            // A native (public) client names itself in the form.
            form.append_pair("client_id", self.client_id);
        }
        let mut request = Request::new(Full::new(Bytes::from(form.finish())));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.token_url.clone();
        let headers = request.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(secret) = self.client_secret {
            // Raw id and secret, as the Python SDK (and Globus Auth) expect.
            let basic = STANDARD.encode(format!("{}:{secret}", self.client_id));
            let mut value = HeaderValue::from_str(&format!("Basic {basic}"))
                .map_err(|_| LoginError::Prompt("the client id cannot go in a header".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(request)
    }

    /// Sends the exchange and reads the tokens.
    pub(crate) async fn send<C: TokenClient>(&self, client: &C) -> Result<Vec<Token>, LoginError> {
        let request = self.request()?;
        let response = client.send(request).await.map_err(LoginError::Transport)?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_TOKEN_RESPONSE)
            .collect()
            .await
            .map_err(LoginError::Transport)?
            .to_bytes();
        parse_token_response(status, &body, SystemTime::now())
    }
}
