//! Throughput over loopback, bare client against layered client, measured
//! A/B: rounds alternate the two so that drift on a shared machine hits
//! both alike. Reports requests per second and the median ratio.
//!
//! Run: `cargo bench --bench loopback_ab`. Target: layered within 2% of bare.

use std::time::Instant;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};

#[path = "../examples/common/mod.rs"]
mod common;
use common::{bearer, reply, serve};

const GARE: &str =
    r#"{"code": "ConsentRequired", "authorization_parameters": {"required_scopes": ["s"]}}"#;

/// `/protected` answers a consent GARE unless the request carries `Bearer t`;
/// every other path answers 200.
async fn server() -> std::net::SocketAddr {
    serve(|req: Request<hyper::body::Incoming>| async move {
        let ok = req.uri().path() != "/protected" || bearer(&req).as_deref() == Some("t");
        if ok {
            reply(StatusCode::OK, "{\"DATA\": []}")
        } else {
            reply(StatusCode::FORBIDDEN, GARE)
        }
    })
    .await
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let addr = server().await;
        let plain: http::Uri = format!("http://{addr}/listing").parse().unwrap();
        let protected: http::Uri = format!("http://{addr}/protected").parse().unwrap();
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let layer = GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") });
        let layered = layer.layer(client.clone());

        const N: usize = 2000;
        const ROUNDS: usize = 7;
        let mut ratios = Vec::new();
        let mut bare_rates = Vec::new();
        let mut layered_rates = Vec::new();
        // Warm-up: connections, allocator, caches.
        for _ in 0..500 {
            let r = client
                .clone()
                .oneshot(Request::get(plain.clone()).body(Empty::new()).unwrap())
                .await
                .unwrap();
            r.into_body().collect().await.unwrap();
            let r = layered
                .clone()
                .oneshot(Request::get(plain.clone()).body(Empty::new()).unwrap())
                .await
                .unwrap();
            r.into_body().collect().await.unwrap();
        }
        for round in 0..ROUNDS {
            let mut rate = [0.0f64; 2];
            // Alternate which side goes first.
            for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
                let start = Instant::now();
                for _ in 0..N {
                    let request = Request::get(plain.clone()).body(Empty::new()).unwrap();
                    let body = if side == 0 {
                        client
                            .clone()
                            .oneshot(request)
                            .await
                            .unwrap()
                            .into_body()
                            .collect()
                            .await
                            .unwrap()
                            .to_bytes()
                    } else {
                        layered
                            .clone()
                            .oneshot(request)
                            .await
                            .unwrap()
                            .into_body()
                            .collect()
                            .await
                            .unwrap()
                            .to_bytes()
                    };
                    std::hint::black_box(body);
                }
                rate[side] = N as f64 / start.elapsed().as_secs_f64();
            }
            bare_rates.push(rate[0]);
            layered_rates.push(rate[1]);
            ratios.push(rate[1] / rate[0]);
        }
        println!("pass-through over loopback, {ROUNDS} rounds of {N} GETs each side, alternating:");
        println!(
            "  bare hyper-util client: {:8.0} req/s (median)",
            median(bare_rates)
        );
        println!(
            "  with GareRedriveLayer:  {:8.0} req/s (median)",
            median(layered_rates)
        );
        println!(
            "  layered / bare:         {:8.3} (median of per-round ratios; target >= 0.98)",
            median(ratios.clone())
        );

        // The redrive over loopback: each request gets a GARE, a login
        // (instant) and a retry, against two requests made by hand.
        let mut by_hand = Vec::new();
        let mut redriven = Vec::new();
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..N / 4 {
                let first = client
                    .clone()
                    .oneshot(Request::get(protected.clone()).body(Empty::new()).unwrap())
                    .await
                    .unwrap();
                let body = first.into_body().collect().await.unwrap().to_bytes();
                std::hint::black_box(tower_gare::gare::from_body(&body));
                let second = Request::get(protected.clone())
                    .header("authorization", "Bearer t")
                    .body(Empty::new())
                    .unwrap();
                client
                    .clone()
                    .oneshot(second)
                    .await
                    .unwrap()
                    .into_body()
                    .collect()
                    .await
                    .unwrap();
            }
            by_hand.push(start.elapsed().as_secs_f64() * 1e6 / (N / 4) as f64);
            let start = Instant::now();
            for _ in 0..N / 4 {
                // A fresh layer: nothing remembered, so every request is redriven.
                let fresh =
                    GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
                        .layer(client.clone());
                let response = fresh
                    .oneshot(Request::get(protected.clone()).body(Empty::new()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap();
            }
            redriven.push(start.elapsed().as_secs_f64() * 1e6 / (N / 4) as f64);
        }
        println!("redrive over loopback (403 GARE, instant login, retry, 200):");
        println!(
            "  the two requests by hand: {:7.1} us (median)",
            median(by_hand)
        );
        println!(
            "  through the layer:        {:7.1} us (median)",
            median(redriven)
        );
    });
}
