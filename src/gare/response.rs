//! A GARE as an HTTP response, for services that emit them.

use http::{header, HeaderValue, Response, StatusCode};

use serde_json::Value;

use super::{parse, Gare};

impl Gare {
    /// This GARE as a `403 Forbidden` JSON response: the canonical document
    /// plus its extra fields, `Content-Type: application/json`. The document
    /// always passes [`Gare::from_value`]: an extra parameter that carries a
    /// canonical name with a value of the wrong type is left out.
    ///
    /// ```
    /// use tower_gare::gare::{AuthorizationParameters, Gare};
    ///
    /// let response = Gare::new("ConsentRequired", AuthorizationParameters {
    ///     required_scopes: Some(vec!["urn:globus:auth:scope:transfer.api.globus.org:all".into()]),
    ///     ..Default::default()
    /// })
    /// .to_response();
    /// assert_eq!(response.status(), 403);
    /// assert_eq!(response.headers()["content-type"], "application/json");
    /// let back = tower_gare::gare::from_body(response.body().as_bytes()).unwrap();
    /// assert_eq!(back.code, "ConsentRequired");
    /// ```
    pub fn to_response(&self) -> Response<String> {
        self.to_response_with_status(StatusCode::FORBIDDEN)
    }

    /// Like [`to_response`](Gare::to_response) with another status (Globus
    /// uses 401 and 502 too).
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_gare::gare::{AuthorizationParameters, Gare};
    ///
    /// let gare = Gare::new("AuthorizationRequired", AuthorizationParameters::default());
    /// assert_eq!(gare.to_response_with_status(StatusCode::UNAUTHORIZED).status(), 401);
    /// ```
    pub fn to_response_with_status(&self, status: StatusCode) -> Response<String> {
        let mut response = Response::new(self.response_document().to_string());
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl Gare {
    /// `to_value(true)` without the extras that would make it fail a strict
    /// parse: a legacy document can leave, say, `"required_scopes": false`
    /// among the extra parameters, and a service must not send that on.
    fn response_document(&self) -> Value {
        let mut doc = self.to_value(true);
        // Each failed check names one bad field; there are seven at most.
        while let Some(Err(err)) = doc.as_object().map(|map| parse::canonical(map.clone())) {
            let removed = doc
                .get_mut("authorization_parameters")
                .and_then(Value::as_object_mut)
                .and_then(|params| params.remove(err.field()));
            if removed.is_none() {
                break;
            }
        }
        doc
    }
}

/// `Gare` → `403` JSON response, for handlers that return `Response<String>`.
impl From<Gare> for Response<String> {
    fn from(gare: Gare) -> Self {
        gare.to_response()
    }
}
