//! A ready in-memory service answering `200` with an empty body: the bare
//! service the pass-through measurements compare the layer against. Shared
//! by `tests/memory.rs` and `benches/redrive.rs` (`#[path]`).

use std::convert::Infallible;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

#[derive(Clone)]
pub struct Ok200;

impl Service<Request<String>> for Ok200 {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<String>) -> Self::Future {
        std::future::ready(Ok(Response::new(String::new())))
    }
}
