//! The code-for-tokens exchange, over the HTTP client the user provides.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};

use crate::login::tokens::parse_token_response;
use crate::login::{LoginError, Secret, Token, TokenClient};

/// A token response is a few KiB; anything past this is not one.
const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;

pub(crate) struct Exchange<'a> {
    pub(crate) token_url: &'a Uri,
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: Option<&'a Secret>,
    pub(crate) redirect_uri: &'a str,
    pub(crate) code: &'a Secret,
    pub(crate) verifier: &'a Secret,
}

impl Exchange<'_> {
    fn request(&self) -> Request<Full<Bytes>> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", self.code.secret())
            .append_pair("redirect_uri", self.redirect_uri)
            .append_pair("code_verifier", self.verifier.secret());
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
            let basic = STANDARD.encode(format!("{}:{}", self.client_id, secret.secret()));
            // Base64 is visible ASCII: any id and secret fit in the header.
            let mut value = HeaderValue::try_from(format!("Basic {basic}"))
                .expect("base64 text is a valid header value");
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        request
    }

    /// Sends the exchange and reads the tokens.
    pub(crate) async fn send<C: TokenClient>(&self, client: &C) -> Result<Vec<Token>, LoginError> {
        let response = client
            .send(self.request())
            .await
            .map_err(LoginError::Transport)?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_TOKEN_RESPONSE)
            .collect()
            .await
            .map_err(LoginError::Transport)?
            .to_bytes();
        parse_token_response(status, &body, SystemTime::now())
    }
}
