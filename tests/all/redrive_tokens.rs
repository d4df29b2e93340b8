//! The engine's part of a token's life: refused tokens, users kept apart,
//! credentials per path prefix, bounded memory.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use tower::{service_fn, Layer, ServiceExt};
use tower_gare::gare::Gare;
use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext, RedriveOutcome, User};
use tower_gare::testing::{gares, RecordingReauthenticator, ScriptedService};

fn request(uri: &str, token: Option<&str>) -> Request<String> {
    let mut request = Request::get(uri).body(String::new()).unwrap();
    if let Some(token) = token {
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
    }
    request
}

fn unauthorized(www_authenticate: Option<&str>, body: &str) -> Response<String> {
    let mut response = Response::new(body.to_owned());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    if let Some(value) = www_authenticate {
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, value.parse().unwrap());
    }
    response
}

#[tokio::test]
async fn a_plain_401_on_a_request_with_a_token_is_one_reauthentication_and_one_retry() {
    for (challenge, body) in [
        (
            Some(r#"Bearer error="invalid_token", error_description="expired""#),
            "",
        ),
        (
            None,
            r#"{"code": "AuthenticationFailed", "message": "Token is not active"}"#,
        ),
        (None, ""),
    ] {
        let api = ScriptedService::new().respond(unauthorized(challenge, body));
        let reauth = RecordingReauthenticator::returning("fresh");
        let client = GareRedriveLayer::new(reauth.clone()).layer(api.clone());
        let response = client
            .oneshot(request("https://api.example.org/x", Some("stale")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{challenge:?} {body:?}");
        assert!(matches!(
            RedriveOutcome::of(&response),
            Some(RedriveOutcome::Redriven)
        ));
        assert!(
            response.extensions().get::<Gare>().is_none(),
            "a refused token is no GARE"
        );
        assert_eq!(reauth.calls(), 1);
        let cx = &reauth.contexts()[0];
        assert!(cx.is_token_rejected());
        assert!(cx.was_sent_with(&Credentials::bearer("stale").unwrap()));
        let sent = api.requests();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].authorization(), Some("Bearer fresh"));
    }
}

#[tokio::test]
async fn a_401_that_is_not_a_plain_refusal_is_left_alone() {
    let cases = [
        // No token was sent: nothing was refused.
        (None, unauthorized(None, "")),
        // Another error than invalid_token: not a refused token.
        (
            Some("stale"),
            unauthorized(Some(r#"Bearer error="invalid_request""#), ""),
        ),
    ];
    for (token, response) in cases {
        let api = ScriptedService::new().respond(response);
        let reauth = RecordingReauthenticator::returning("fresh");
        let client = GareRedriveLayer::new(reauth.clone()).layer(api.clone());
        let response = client
            .oneshot(request("https://api.example.org/x", token))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(matches!(
            RedriveOutcome::of(&response),
            Some(RedriveOutcome::NoGare)
        ));
        assert_eq!(reauth.calls(), 0);
    }
    // Switched off.
    let api = ScriptedService::new().respond(unauthorized(None, ""));
    let reauth = RecordingReauthenticator::returning("fresh");
    let client = GareRedriveLayer::new(reauth.clone())
        .rejected_tokens(false)
        .layer(api);
    let response = client
        .oneshot(request("https://api.example.org/x", Some("stale")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(reauth.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_on_one_expired_token_cause_one_reauthentication() {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&refreshes);
    let reauth = move |_cx: ReauthContext| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Credentials::bearer("fresh")
        }
    };
    let api = service_fn(|req: Request<String>| async move {
        let fresh = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v == "Bearer fresh");
        let response = if fresh {
            Response::new(String::from("ok"))
        } else {
            unauthorized(Some(r#"Bearer error="invalid_token""#), "")
        };
        Ok::<_, Infallible>(response)
    });
    let client = GareRedriveLayer::new(reauth).layer(api);
    let calls = (0..1000).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .oneshot(request("https://api.example.org/x", Some("expired")))
                .await
                .unwrap()
                .status()
        })
    });
    for call in futures_util::future::join_all(calls).await {
        assert_eq!(call.unwrap(), StatusCode::OK);
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_users_credentials_never_serve_another_users_request() {
    let api = ScriptedService::new().gare_until_authorized(
        StatusCode::FORBIDDEN,
        gares::consent_required(&["s"]),
        "alice-token",
    );
    let reauth = move |cx: ReauthContext| async move {
        let user = cx.user().map(|u| u.id().to_owned()).unwrap_or_default();
        Credentials::bearer(format!("{user}-token"))
    };
    let layer = GareRedriveLayer::new(reauth);
    let client = layer.layer(api.clone());
    let for_user = |user: &str| {
        let mut request = request("https://api.example.org/x", None);
        request.extensions_mut().insert(User::new(user));
        request
    };
    // Alice logs in; her token is remembered for her requests only.
    let response = client.clone().oneshot(for_user("alice")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client.clone().oneshot(for_user("alice")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        RedriveOutcome::of(&response).is_none(),
        "sent with her remembered token"
    );
    // Bob's request does not carry Alice's token; his own login gets his.
    let _ = client.clone().oneshot(for_user("bob")).await.unwrap();
    let _ = client
        .clone()
        .oneshot(request("https://api.example.org/x", None))
        .await;
    let sent: Vec<Option<String>> = api
        .requests()
        .iter()
        .map(|r| r.authorization().map(str::to_owned))
        .collect();
    assert_eq!(
        sent,
        [
            None,
            Some("Bearer alice-token".into()),
            Some("Bearer alice-token".into()),
            None,
            Some("Bearer bob-token".into()),
            None,
            Some("Bearer -token".into()),
        ]
    );
}

#[tokio::test]
async fn credentials_for_a_path_prefix_serve_only_requests_under_it() {
    // Two resource servers behind one host: each flow is its own.
    let api = service_fn(|req: Request<String>| async move {
        let auth = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let wanted = if req.uri().path().starts_with("/flows/a/") {
            "Bearer a"
        } else {
            "Bearer b"
        };
        let response = if auth.as_deref() == Some(wanted) {
            Response::new(String::from("ok"))
        } else {
            gares::consent_required(&["s"]).to_response()
        };
        Ok::<_, Infallible>(response)
    });
    let logins = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&logins);
    let reauth = move |cx: ReauthContext| {
        counter.fetch_add(1, Ordering::SeqCst);
        let flow = if cx.uri().path().starts_with("/flows/a/") {
            "a"
        } else {
            "b"
        };
        async move {
            Ok::<_, Infallible>(
                Credentials::bearer(flow)
                    .unwrap()
                    .for_path_prefix(format!("/flows/{flow}/")),
            )
        }
    };
    let client = GareRedriveLayer::new(reauth).layer(api);
    for path in ["/flows/a/run", "/flows/b/run"] {
        let uri = format!("https://flows.example.org{path}");
        let response = client.clone().oneshot(request(&uri, None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(logins.load(Ordering::SeqCst), 2);
    // Alternating now: each request carries its own flow's token.
    for path in ["/flows/a/run", "/flows/b/run", "/flows/a/x", "/flows/b/y"] {
        let uri = format!("https://flows.example.org{path}");
        let response = client.clone().oneshot(request(&uri, None)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            RedriveOutcome::of(&response).is_none(),
            "{path} needed no GARE"
        );
    }
    assert_eq!(logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_credential_memory_is_bounded() {
    let api = ScriptedService::new().gare_until_authorized(
        StatusCode::FORBIDDEN,
        gares::consent_required(&["s"]),
        "t",
    );
    let layer = GareRedriveLayer::new(RecordingReauthenticator::returning("t"));
    let client = layer.layer(api);
    for host in 0..1100 {
        let uri = format!("https://h{host}.example.org/");
        let _ = client.clone().oneshot(request(&uri, None)).await.unwrap();
    }
    assert_eq!(layer.remembered_credentials(), 1024);
    layer.forget_credentials();
    assert_eq!(layer.remembered_credentials(), 0);
}
