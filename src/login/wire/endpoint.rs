//! The token endpoint and the revocation endpoint: every grant a login
//! makes (RFC 6749 §4.1.3, §4.4, §6) and token revocation (RFC 7009), over
//! the HTTP client the user provides, each within a deadline.

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

use super::response::{oauth2_error, parse_token_response, TokenResponse};
use crate::deadline::{within, Missed};
use crate::login::{LoginError, Secret, TokenClient};

/// A token response is a few KiB; anything past this is not one.
const MAX_RESPONSE: usize = 1024 * 1024;

/// How long a token request may take by default, answer read in full.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An authorization server's token and revocation endpoints, as one
/// client sees them.
///
/// A confidential client (one with a secret) authenticates with HTTP Basic,
/// its id and secret sent raw as Globus Auth and the Python SDK expect; a
/// public one names itself with `client_id` in the form. `Debug` never
/// shows the secret.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    token_url: Uri,
    revocation_url: Uri,
    client_id: String,
    client_secret: Option<Secret>,
    timeout: Duration,
}

impl TokenEndpoint {
    /// The endpoints for `client_id` (with its secret when it is a
    /// confidential client): tokens at `token_url` (Globus Auth:
    /// `/v2/oauth2/token`), revocation (RFC 7009) at `revocation_url`
    /// (Globus Auth: `/v2/oauth2/token/revoke`; node-oidc-provider:
    /// `/token/revocation`). Requests time out after [`DEFAULT_TIMEOUT`].
    pub fn new(
        token_url: Uri,
        revocation_url: Uri,
        client_id: impl Into<String>,
        client_secret: Option<Secret>,
    ) -> Self {
        TokenEndpoint {
            token_url,
            revocation_url,
            client_id: client_id.into(),
            client_secret,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// How long each request may take, from sending it to the end of the
    /// answer's body (default [`DEFAULT_TIMEOUT`]). Past it, the request is
    /// dropped and the call is [`LoginError::EndpointTimeout`].
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// The token URL.
    pub fn token_url(&self) -> &Uri {
        &self.token_url
    }

    /// The revocation URL.
    pub fn revocation_url(&self) -> &Uri {
        &self.revocation_url
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether the client has a secret (and so may use client credentials).
    pub fn is_confidential(&self) -> bool {
        self.client_secret.is_some()
    }

    /// Exchanges an authorization code and its PKCE verifier for tokens
    /// (RFC 6749 §4.1.3, RFC 7636 §4.5). `redirect_uri` is the one the
    /// authorize request sent.
    pub async fn exchange_code<C: TokenClient>(
        &self,
        client: &C,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<TokenResponse, LoginError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.secret()),
        ];
        self.grant(client, &form).await
    }

    /// New tokens for `refresh_token` (RFC 6749 §6), the secret itself (as
    /// [`Token::refresh_token`](crate::login::Token) gives it).
    ///
    /// A server may rotate the refresh token: a new one then comes with the
    /// new access token, and the one sent stops working (node-oidc-provider
    /// answers `invalid_grant` to it). When the answer holds none, the one
    /// sent stays valid (§6), and the caller keeps it.
    pub async fn refresh<C: TokenClient>(
        &self,
        client: &C,
        refresh_token: &str,
    ) -> Result<TokenResponse, LoginError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.grant(client, &form).await
    }

    /// Tokens for the client itself, with no user (RFC 6749 §4.4): the
    /// Python SDK's `ClientApp`. Only a confidential client may;
    /// a public one gets [`LoginError::NoClientSecret`] without a request.
    /// An empty `scope` is left out (the server's default scopes).
    pub async fn client_credentials<C: TokenClient>(
        &self,
        client: &C,
        scope: &str,
    ) -> Result<TokenResponse, LoginError> {
        if self.client_secret.is_none() {
            return Err(LoginError::NoClientSecret);
        }
        let form = [("grant_type", "client_credentials"), ("scope", scope)];
        let form = if scope.is_empty() {
            &form[..1]
        } else {
            &form[..]
        };
        self.grant(client, form).await
    }

    /// Revokes `token`, an access or a refresh token, the secret itself
    /// (RFC 7009). Revoking a
    /// token the server does not know (already revoked, expired) succeeds,
    /// as §2.2 says it must.
    pub async fn revoke<C: TokenClient>(&self, client: &C, token: &str) -> Result<(), LoginError> {
        let request = self.request(&self.revocation_url, &[("token", token)]);
        let (status, body) = self.send(client, request).await?;
        if status.is_success() {
            return Ok(());
        }
        // An OAuth2 error (`invalid_client`, `unsupported_token_type`) says
        // what is wrong; a body that is not one says only the status.
        let refused = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|doc| doc.as_object().and_then(oauth2_error));
        Err(refused.unwrap_or(LoginError::RevocationFailed { status }))
    }

    async fn grant<C: TokenClient>(
        &self,
        client: &C,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, LoginError> {
        let request = self.request(&self.token_url, form);
        let (status, body) = self.send(client, request).await?;
        parse_token_response(status, &body, SystemTime::now())
    }

    /// A form POST of `pairs` to `url`, the client authenticated as it
    /// must be.
    fn request(&self, url: &Uri, pairs: &[(&str, &str)]) -> Request<Full<Bytes>> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(pairs);
        if self.client_secret.is_none() {
            // A public client names itself in the form (RFC 6749 §3.2.1).
            form.append_pair("client_id", &self.client_id);
        }
        let mut request = Request::new(Full::new(Bytes::from(form.finish())));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = url.clone();
        let headers = request.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(secret) = &self.client_secret {
            // Raw id and secret, as the Python SDK (and Globus Auth) expect.
            let basic = STANDARD.encode(format!("{}:{}", self.client_id, secret.secret()));
            // Base64 is visible ASCII, so this cannot fail; were it to, the
            // request goes without, and the server says `invalid_client`.
            if let Ok(mut value) = HeaderValue::try_from(format!("Basic {basic}")) {
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
        }
        request
    }

    /// Sends `request` and reads the whole answer, within the deadline.
    async fn send<C: TokenClient>(
        &self,
        client: &C,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), LoginError> {
        let exchange = async {
            let response = client.send(request).await.map_err(LoginError::Transport)?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(LoginError::Transport)?
                .to_bytes();
            Ok((status, body))
        };
        match within(self.timeout, exchange).await {
            Ok(answer) => answer,
            Err(Missed::Elapsed) => Err(LoginError::EndpointTimeout {
                limit: self.timeout,
            }),
            Err(Missed::NoTimer) => Err(LoginError::NoTimer),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use http::{HeaderMap, Response};
    use http_body_util::StreamBody;
    use serde_json::json;

    use super::*;

    const TOKEN_URL: &str = "https://auth.example.org/v2/oauth2/token";
    const REVOKE_URL: &str = "https://auth.example.org/v2/oauth2/token/revoke";

    /// A request as the server saw it.
    #[derive(Debug)]
    struct Seen {
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        form: Vec<(String, String)>,
    }

    impl Seen {
        fn field(&self, name: &str) -> Option<&str> {
            self.form
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }

        fn names(&self) -> Vec<&str> {
            self.form.iter().map(|(n, _)| n.as_str()).collect()
        }
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    /// A token endpoint that answers every request with `status` and `body`,
    /// and writes down what it was sent.
    fn scripted(
        status: u16,
        body: serde_json::Value,
    ) -> (impl TokenClient<Body = Full<Bytes>>, Log) {
        let log = Log::default();
        let seen = log.clone();
        let body = body.to_string();
        let client = tower::service_fn(move |request: Request<Full<Bytes>>| {
            let (seen, body) = (seen.clone(), body.clone());
            async move {
                let (parts, sent) = request.into_parts();
                let sent = sent.collect().await.unwrap().to_bytes();
                seen.lock().unwrap().push(Seen {
                    method: parts.method,
                    uri: parts.uri,
                    headers: parts.headers,
                    form: form_urlencoded::parse(&sent).into_owned().collect(),
                });
                let mut response = Response::new(Full::new(Bytes::from(body)));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok::<_, Infallible>(response)
            }
        });
        (client, log)
    }

    fn public() -> TokenEndpoint {
        TokenEndpoint::new(
            TOKEN_URL.parse().unwrap(),
            REVOKE_URL.parse().unwrap(),
            "native-client",
            None,
        )
    }

    fn confidential() -> TokenEndpoint {
        TokenEndpoint::new(
            TOKEN_URL.parse().unwrap(),
            REVOKE_URL.parse().unwrap(),
            "svc:client",
            Some(Secret::new("s3cret/+=")),
        )
    }

    fn granted() -> serde_json::Value {
        json!({"access_token": "at", "refresh_token": "rt", "expires_in": 3600,
               "scope": "files:read", "token_type": "Bearer"})
    }

    fn only(log: &Log) -> Seen {
        let mut log = log.lock().unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        log.remove(0)
    }

    fn assert_form_post(seen: &Seen, url: &str) {
        assert_eq!(seen.method, Method::POST);
        assert_eq!(seen.uri, url);
        assert_eq!(
            seen.headers[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(seen.headers[ACCEPT], "application/json");
    }

    /// A public client names itself in the form and sends no Authorization.
    fn assert_public(seen: &Seen) {
        assert_eq!(seen.field("client_id"), Some("native-client"));
        assert!(seen.headers.get(AUTHORIZATION).is_none());
    }

    /// A confidential client authenticates with HTTP Basic, id and secret
    /// raw, and does not repeat its id in the form.
    fn assert_confidential(seen: &Seen) {
        let basic = &seen.headers[AUTHORIZATION];
        let expected = format!("Basic {}", STANDARD.encode("svc:client:s3cret/+="));
        assert_eq!(basic, expected.as_str());
        assert!(basic.is_sensitive());
        assert_eq!(seen.field("client_id"), None);
        assert_eq!(seen.field("client_secret"), None);
    }

    #[tokio::test]
    async fn a_code_exchange_sends_the_code_the_verifier_and_the_redirect() {
        let (client, log) = scripted(200, granted());
        let code = Secret::new("the code");
        let verifier = Secret::new("v".repeat(43));
        let response = public()
            .exchange_code(&client, &code, &verifier, "http://localhost:5000")
            .await
            .unwrap();
        assert_eq!(response.tokens[0].access_token(), "at");
        let seen = only(&log);
        assert_form_post(&seen, TOKEN_URL);
        assert_public(&seen);
        assert_eq!(
            seen.names(),
            [
                "grant_type",
                "code",
                "redirect_uri",
                "code_verifier",
                "client_id"
            ]
        );
        assert_eq!(seen.field("grant_type"), Some("authorization_code"));
        assert_eq!(seen.field("code"), Some("the code"));
        assert_eq!(seen.field("redirect_uri"), Some("http://localhost:5000"));
        assert_eq!(seen.field("code_verifier"), Some("v".repeat(43).as_str()));

        let (client, log) = scripted(200, granted());
        confidential()
            .exchange_code(&client, &code, &verifier, "http://localhost:5000")
            .await
            .unwrap();
        let seen = only(&log);
        assert_form_post(&seen, TOKEN_URL);
        assert_confidential(&seen);
        assert_eq!(
            seen.names(),
            ["grant_type", "code", "redirect_uri", "code_verifier"]
        );
    }

    #[tokio::test]
    async fn a_refresh_sends_the_refresh_token() {
        for endpoint in [public(), confidential()] {
            let (client, log) = scripted(200, granted());
            let response = endpoint.refresh(&client, "old-rt").await.unwrap();
            assert_eq!(response.tokens[0].access_token(), "at");
            let seen = only(&log);
            assert_form_post(&seen, TOKEN_URL);
            assert_eq!(seen.field("grant_type"), Some("refresh_token"));
            assert_eq!(seen.field("refresh_token"), Some("old-rt"));
            if endpoint.is_confidential() {
                assert_confidential(&seen);
                assert_eq!(seen.names(), ["grant_type", "refresh_token"]);
            } else {
                assert_public(&seen);
                assert_eq!(seen.names(), ["grant_type", "refresh_token", "client_id"]);
            }
        }
    }

    #[tokio::test]
    async fn an_invalid_grant_on_refresh_is_a_refusal() {
        let (client, _) = scripted(
            400,
            json!({"error": "invalid_grant", "error_description": "grant request is invalid"}),
        );
        let err = public().refresh(&client, "spent").await.unwrap_err();
        assert!(
            matches!(&err, LoginError::Refused { error, .. } if error == "invalid_grant"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn client_credentials_are_for_a_confidential_client_only() {
        let (client, log) = scripted(200, granted());
        let err = public()
            .client_credentials(&client, "files:read")
            .await
            .unwrap_err();
        assert!(matches!(err, LoginError::NoClientSecret), "{err:?}");
        assert!(log.lock().unwrap().is_empty(), "nothing is sent");
        assert!(err.to_string().contains("no secret"), "{err}");

        let response = confidential()
            .client_credentials(&client, "files:read files:write")
            .await
            .unwrap();
        assert_eq!(response.tokens.len(), 1);
        let seen = only(&log);
        assert_form_post(&seen, TOKEN_URL);
        assert_confidential(&seen);
        assert_eq!(seen.names(), ["grant_type", "scope"]);
        assert_eq!(seen.field("grant_type"), Some("client_credentials"));
        assert_eq!(seen.field("scope"), Some("files:read files:write"));

        confidential()
            .client_credentials(&client, "")
            .await
            .unwrap();
        assert_eq!(
            only(&log).names(),
            ["grant_type"],
            "an empty scope is left out"
        );
    }

    #[tokio::test]
    async fn a_wrong_client_secret_is_a_clear_refusal() {
        let (client, _) = scripted(
            401,
            json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        );
        let err = confidential()
            .client_credentials(&client, "files:read")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the authorization server refused: invalid_client: client authentication failed"
        );
        assert!(!format!("{err:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn a_revocation_posts_the_token_to_the_revocation_url() {
        // Globus answers 200 with a JSON body, others an empty one.
        for body in [json!({"active": false}), json!(null)] {
            let (client, log) = scripted(200, body);
            public().revoke(&client, "a-token").await.unwrap();
            let seen = only(&log);
            assert_form_post(&seen, REVOKE_URL);
            assert_public(&seen);
            assert_eq!(seen.names(), ["token", "client_id"]);
            assert_eq!(seen.field("token"), Some("a-token"));
        }
        let (client, log) = scripted(200, json!({}));
        confidential().revoke(&client, "a-token").await.unwrap();
        let seen = only(&log);
        assert_form_post(&seen, REVOKE_URL);
        assert_confidential(&seen);
        assert_eq!(seen.names(), ["token"]);

        let elsewhere = TokenEndpoint::new(
            "http://127.0.0.1:1/token".parse().unwrap(),
            "http://127.0.0.1:1/token/revocation".parse().unwrap(),
            "native-app",
            None,
        );
        assert_eq!(
            elsewhere.revocation_url(),
            "http://127.0.0.1:1/token/revocation"
        );
        let (client, log) = scripted(200, json!({}));
        elsewhere.revoke(&client, "t").await.unwrap();
        assert_eq!(only(&log).uri, "http://127.0.0.1:1/token/revocation");
    }

    #[tokio::test]
    async fn a_failed_revocation_says_why() {
        let (client, _) = scripted(400, json!({"error": "unsupported_token_type"}));
        let err = public().revoke(&client, "t").await.unwrap_err();
        assert!(
            matches!(&err, LoginError::Refused { error, .. } if error == "unsupported_token_type"),
            "{err:?}"
        );
        let (client, _) = scripted(503, json!("<html>down</html>"));
        let err = public().revoke(&client, "t").await.unwrap_err();
        assert!(
            matches!(
                err,
                LoginError::RevocationFailed {
                    status: StatusCode::SERVICE_UNAVAILABLE
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the revocation endpoint answered 503 Service Unavailable with no OAuth2 error"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transport_error_with_its_cause() {
        let client = tower::service_fn(|_: Request<Full<Bytes>>| async {
            Err::<Response<Full<Bytes>>, _>(std::io::Error::other("connection refused"))
        });
        let err = public().refresh(&client, "rt").await.unwrap_err();
        assert!(matches!(err, LoginError::Transport(_)), "{err:?}");
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(source.to_string(), "connection refused");
    }

    #[tokio::test]
    async fn an_oversized_answer_is_not_read_whole() {
        let huge = "x".repeat(MAX_RESPONSE + 1);
        let (client, _) = scripted(200, json!({ "access_token": huge }));
        let err = public().refresh(&client, "rt").await.unwrap_err();
        assert!(matches!(err, LoginError::Transport(_)), "{err:?}");
    }

    /// A server that accepts the request and never answers.
    fn silent() -> impl TokenClient {
        tower::service_fn(|_: Request<Full<Bytes>>| async {
            std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>().await
        })
    }

    /// A server that sends its headers, then nothing of the body.
    fn trickling() -> impl TokenClient {
        tower::service_fn(|_: Request<Full<Bytes>>| async {
            let body = StreamBody::new(futures_util::stream::pending::<
                Result<http_body::Frame<Bytes>, Infallible>,
            >());
            Ok::<_, Infallible>(Response::new(body))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_times_out_after_30_seconds_by_default() {
        assert_eq!(public().timeout, Duration::from_secs(30));
        let began = tokio::time::Instant::now();
        let err = public().refresh(&silent(), "rt").await.unwrap_err();
        assert!(
            matches!(err, LoginError::EndpointTimeout { limit } if limit == DEFAULT_TIMEOUT),
            "{err:?}"
        );
        assert_eq!(began.elapsed(), DEFAULT_TIMEOUT);
        assert_eq!(
            err.to_string(),
            "the authorization server did not answer within 30s"
        );
    }

    /// Each of the four calls over `client`, in turn.
    async fn every_call<C: TokenClient>(endpoint: &TokenEndpoint, client: &C) -> Vec<LoginError> {
        let code = Secret::new("c");
        let results = [
            endpoint
                .exchange_code(client, &code, &code, "r")
                .await
                .map(drop),
            endpoint.refresh(client, "rt").await.map(drop),
            endpoint.client_credentials(client, "s").await.map(drop),
            endpoint.revoke(client, "t").await,
        ];
        results.into_iter().filter_map(Result::err).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn every_call_keeps_the_deadline_set() {
        let limit = Duration::from_secs(2);
        let endpoint = confidential().timeout(limit);
        let timed_out = |errors: Vec<LoginError>| {
            assert_eq!(errors.len(), 4);
            for err in errors {
                assert!(
                    matches!(err, LoginError::EndpointTimeout { limit: l } if l == limit),
                    "{err:?}"
                );
            }
        };
        let began = tokio::time::Instant::now();
        timed_out(every_call(&endpoint, &silent()).await);
        assert_eq!(began.elapsed(), 4 * limit);
        // The deadline covers the body too: headers in time are not enough.
        let began = tokio::time::Instant::now();
        timed_out(every_call(&endpoint, &trickling()).await);
        assert_eq!(began.elapsed(), 4 * limit);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_in_time_is_taken() {
        let client = tower::service_fn(|_: Request<Full<Bytes>>| async {
            tokio::time::sleep(Duration::from_secs(29)).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(granted().to_string()))))
        });
        let response = public().refresh(&client, "rt").await.unwrap();
        assert_eq!(response.tokens[0].access_token(), "at");
    }

    #[test]
    fn a_runtime_without_timers_is_an_error_not_a_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (client, log) = scripted(200, granted());
        let err = runtime
            .block_on(public().refresh(&client, "rt"))
            .unwrap_err();
        assert!(matches!(err, LoginError::NoTimer), "{err:?}");
        assert!(err.to_string().contains("enable_time"), "{err}");
        assert!(
            log.lock().unwrap().is_empty(),
            "nothing is sent without a deadline"
        );
    }
}
