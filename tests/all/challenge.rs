//! `WWW-Authenticate` challenges: parsing, normalization, and the layer
//! redriving a step-up challenge from a real server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::Empty;
use proptest::prelude::*;
use serde_json::json;
use tower::{Layer, ServiceExt};
use tower_gare::challenge::{self, parse};
use tower_gare::gare::Gare;
use tower_gare::redrive::{GareRedriveLayer, RedriveOutcome};
use tower_gare::testing::RecordingReauthenticator;

use crate::common::{reply, serve};
use crate::support::*;

fn one(value: &'static str) -> Option<Gare> {
    let mut headers = HeaderMap::new();
    headers.insert("www-authenticate", HeaderValue::from_static(value));
    challenge::from_headers(&headers)
}

fn scopes(gare: &Gare) -> Vec<String> {
    gare.authorization_parameters
        .required_scopes
        .clone()
        .unwrap_or_default()
}

#[test]
fn the_listed_headers_parse_to_their_requirements() {
    let g = one(r#"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR""#).unwrap();
    assert_eq!(g.code, "insufficient_user_authentication");
    assert_eq!(g.acr_values(), Some("myACR"));
    assert_eq!(g.max_age(), None);
    assert_eq!(
        g.authorization_parameters.session_message.as_deref(),
        Some("A different authentication level is required")
    );
    assert_eq!(g.authorization_parameters.prompt, None);

    let g = one(r#"Bearer error="insufficient_user_authentication", max_age="5""#).unwrap();
    assert_eq!(g.max_age(), Some(5));
    assert_eq!(g.extra["max_age"], json!(5));
    assert_eq!(g.authorization_parameters.prompt, None);

    let g = one(r#"Bearer error="insufficient_user_authentication", acr_values="2", max_age=300"#)
        .unwrap();
    assert_eq!((g.acr_values(), g.max_age()), (Some("2"), Some(300)));

    let g = one(
        r#"Bearer realm="example", error="insufficient_scope", scope="files:read files:write""#,
    )
    .unwrap();
    assert_eq!(g.code, "insufficient_scope");
    assert_eq!(scopes(&g), ["files:read", "files:write"]);
    assert_eq!(g.extra["realm"], "example");

    let g = one(r#"bearer ERROR="insufficient_scope", Scope="x""#).unwrap();
    assert_eq!(scopes(&g), ["x"]);

    assert!(one(
        r#"Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\"""#
    )
    .is_none());

    let g = one(r#"DPoP algs="ES256", Bearer error="insufficient_scope", scope="a b""#).unwrap();
    assert_eq!(scopes(&g), ["a", "b"]);
    assert!(
        g.extra.get("algs").is_none(),
        "the Bearer challenge's parameters, not DPoP's"
    );

    assert!(one(r#"Negotiate YIIC3gYGKwYBBQUCoII=, Bearer realm="""#).is_none());

    let g = one(r#"Bearer realm="", authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize, client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiY3AxIn19fQ==""#).unwrap();
    assert_eq!(g.code, "insufficient_claims");
    assert_eq!(
        g.claims(),
        Some(&json!({"access_token": {"acrs": {"essential": true, "value": "cp1"}}}))
    );
    assert_eq!(
        g.extra["authorization_uri"],
        "https://login.microsoftonline.com/common/oauth2/authorize"
    );
    assert_eq!(g.extra["client_id"], "00000003-0000-0000-c000-000000000000");
}

#[test]
fn more_shapes_real_servers_send() {
    // max_age=0 means "log in now".
    let g = one(r#"Bearer error="insufficient_user_authentication", max_age=0"#).unwrap();
    assert_eq!(g.authorization_parameters.prompt.as_deref(), Some("login"));
    // Globus scopes with spaces inside brackets stay whole.
    let g = one(r#"Bearer error="insufficient_scope", scope="urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/c1/data_access *https://auth.globus.org/scopes/c2/data_access] openid""#).unwrap();
    assert_eq!(scopes(&g).len(), 2);
    assert!(scopes(&g)[0].ends_with("c2/data_access]"));
    // Claims in URL-safe base64 without padding, and as bare JSON.
    let g = one(r#"Bearer error="insufficient_claims", claims="eyJpZF90b2tlbiI6eyJhY3IiOnsidmFsdWUiOiJ4In19fQ""#).unwrap();
    assert_eq!(
        g.claims(),
        Some(&json!({"id_token": {"acr": {"value": "x"}}}))
    );
    let g = one(r#"Bearer error="insufficient_claims", claims="{\"a\":{}}""#).unwrap();
    assert_eq!(g.claims(), Some(&json!({"a": {}})));
    // Undecodable claims are kept as they came, not invented.
    let g = one(r#"Bearer error="insufficient_claims", claims="%%%""#).unwrap();
    assert_eq!(g.claims(), None);
    assert_eq!(g.extra["claims"], "%%%");
    // No error, or an error that is no requirement.
    assert!(one(r#"Bearer realm="api""#).is_none());
    assert!(one(r#"Bearer error="invalid_token", error_description="expired""#).is_none());
    // BWS around '=', a trailing comma, odd case.
    let g = one("BEARER   Error = \"insufficient_scope\" ,  scope = \"s\" ,").unwrap();
    assert_eq!(scopes(&g), ["s"]);
    // An empty parameter value does not end the challenge.
    let g = one(r#"Bearer error="insufficient_scope", foo=, scope="x""#).unwrap();
    assert_eq!(scopes(&g), ["x"]);
    assert_eq!(g.extra["foo"], "");
    // The field repeated.
    let mut headers = HeaderMap::new();
    headers.append("www-authenticate", HeaderValue::from_static("Negotiate"));
    headers.append(
        "www-authenticate",
        HeaderValue::from_static(r#"Bearer error="insufficient_scope", scope="q""#),
    );
    assert_eq!(scopes(&challenge::from_headers(&headers).unwrap()), ["q"]);
}

#[test]
fn the_parser_reads_the_rfc_grammar() {
    let c =
        parse(br#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].param("title"), Some(r#"Login to "apps""#));
    assert_eq!(c[0].param("type"), Some("1"));
    assert_eq!(c[1].scheme(), "Basic");
    let c = parse(b"Negotiate YIIC3gYGKwYBBQUCoII=");
    assert_eq!(c[0].token68(), Some("YIIC3gYGKwYBBQUCoII="));
    assert!(
        !format!("{:?}", c[0]).contains("YIIC"),
        "token68 values are credential-like"
    );
    let c = parse(b"Bearer, Basic");
    assert_eq!(c.len(), 2);
    assert!(parse(b"").is_empty());
    assert!(parse(b" , ,, ").is_empty());
    let c = parse(br#"Bearer error="unterminated"#);
    assert_eq!(c[0].param("error"), Some("unterminated"));
    let c = parse(b"Bearer realm=\"caf\xc3\xa9\xff\"");
    assert_eq!(c[0].param("realm"), Some("café\u{fffd}"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_parse_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let challenges = parse(&bytes);
        // Each challenge consumed at least its scheme: never more challenges than bytes.
        prop_assert!(challenges.len() <= bytes.len());
        for c in &challenges {
            let _ = challenge::to_gare(c);
        }
    }

    #[test]
    fn header_like_text_parses_without_panic(text in r#"((Bearer|DPoP|Basic|Negotiate|bearer) ?([a-z_]{1,8} ?= ?("[^"]{0,12}"|[a-zA-Z0-9:/=+.]{0,12}) ?,? ?){0,4},? ?){0,3}"#) {
        for c in parse(text.as_bytes()) {
            if let Some(gare) = challenge::to_gare(&c) {
                prop_assert!(gare.code.starts_with("insufficient_"));
            }
        }
    }
}

#[tokio::test]
async fn a_step_up_challenge_from_a_real_server_is_redriven() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(move |req: Request<hyper::body::Incoming>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let stepped_up = authorized(&req, "acr-token");
        async move {
            if stepped_up {
                return reply(StatusCode::OK, "secret report");
            }
            let mut response = reply(StatusCode::UNAUTHORIZED, "");
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static(r#"Bearer error="insufficient_user_authentication", error_description="MFA needed", acr_values="urn:mfa", max_age=0"#),
            );
            response
        }
    })
    .await;
    let reauth = RecordingReauthenticator::returning("acr-token");
    let service = GareRedriveLayer::new(reauth.clone()).layer(client::<Empty<Bytes>>());
    let response = service
        .oneshot(
            Request::get(format!("http://{addr}/report"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        response.extensions().get(),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(body_bytes(response.into_body()).await, "secret report");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let cx = &reauth.contexts()[0];
    assert_eq!(cx.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(cx.gare().acr_values(), Some("urn:mfa"));
    assert_eq!(cx.gare().max_age(), Some(0));
    assert_eq!(
        cx.gare().authorization_parameters.prompt.as_deref(),
        Some("login")
    );
}

#[tokio::test]
async fn body_and_header_are_merged_and_header_challenges_can_be_turned_off() {
    let addr = serve(|req: Request<hyper::body::Incoming>| {
        let ok = authorized(&req, TOKEN);
        async move {
            if ok {
                return reply(StatusCode::OK, "ok");
            }
            let mut response = reply(
                StatusCode::FORBIDDEN,
                r#"{"code": "ConsentRequired", "authorization_parameters": {"required_scopes": ["a"]}}"#,
            );
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static(r#"Bearer error="insufficient_scope", scope="a b", acr_values="x""#),
            );
            response
        }
    })
    .await;
    let reauth = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(reauth.clone()).layer(client::<Empty<Bytes>>());
    let response = service
        .oneshot(
            Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let merged = reauth.contexts()[0].gare().clone();
    assert_eq!(merged.code, "ConsentRequired", "the body's code stands");
    assert_eq!(scopes(&merged), ["a", "b"]);
    assert_eq!(merged.acr_values(), Some("x"));

    // Header-only requirements are ignored when turned off.
    let addr = serve(|_req| async {
        let mut response = reply(StatusCode::UNAUTHORIZED, "");
        response.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static(r#"Bearer error="insufficient_scope", scope="s""#),
        );
        response
    })
    .await;
    let service = GareRedriveLayer::new(reauth.clone())
        .header_challenges(false)
        .layer(client::<Empty<Bytes>>());
    let response = service
        .oneshot(
            Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(matches!(
        response.extensions().get(),
        Some(RedriveOutcome::NoGare)
    ));
    assert_eq!(reauth.calls(), 1);
}
