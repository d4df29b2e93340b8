//! A deadline that never panics: on a runtime built without timers (or
//! outside any tokio runtime) it is an error, where `tokio::time::timeout`
//! panics. The crate's one way to keep a deadline: the token endpoint's
//! (`login::wire`), the reauthentication's (`reauth_timeout`) and the
//! trigger-status body read's (`response_read_timeout`).

use std::future::Future;
use std::panic::catch_unwind;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};

/// Why a future did not finish within its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missed {
    /// The time ran out first.
    Elapsed,
    /// There is no timer to keep the deadline with: no tokio runtime, or
    /// one built without `enable_time`.
    NoTimer,
}

/// Runs `future` for at most `limit`.
///
/// Tokio offers no way to ask whether the current runtime has timers; it
/// panics when a `Sleep` is made on one that does not. So the `Sleep` is
/// made first, inside `catch_unwind`, before `future` is polled (a panic
/// there touches nothing of the caller's): `Missed::NoTimer`. The runtime's
/// panic hook still prints the panic's message once; with `panic = "abort"`
/// the process aborts, as it would have anyway.
pub(crate) async fn within<F: Future>(limit: Duration, future: F) -> Result<F::Output, Missed> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Missed::NoTimer);
    }
    let sleep = catch_unwind(|| tokio::time::sleep(limit)).map_err(|_| Missed::NoTimer)?;
    // `select` polls the future first: an answer that is ready when the
    // time runs out still counts.
    match select(pin!(future), pin!(sleep)).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(((), _)) => Err(Missed::Elapsed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_future_that_finishes_in_time_gives_its_output() {
        let answer = within(Duration::from_secs(1), async {
            tokio::time::sleep(Duration::from_millis(999)).await;
            7
        });
        assert_eq!(answer.await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_past_its_deadline_is_elapsed() {
        let began = tokio::time::Instant::now();
        let never = within(Duration::from_secs(30), std::future::pending::<()>());
        assert_eq!(never.await, Err(Missed::Elapsed));
        assert_eq!(began.elapsed(), Duration::from_secs(30));
    }

    #[test]
    fn a_runtime_without_timers_is_an_error_not_a_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let polled = std::sync::atomic::AtomicBool::new(false);
        let result = runtime.block_on(within(Duration::from_secs(1), async {
            polled.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        assert_eq!(result, Err(Missed::NoTimer));
        assert!(
            !polled.into_inner(),
            "the future is not started without a deadline"
        );
    }

    #[test]
    fn no_runtime_at_all_is_an_error_not_a_panic() {
        let result =
            futures_util::FutureExt::now_or_never(within(Duration::from_secs(1), async {}));
        assert_eq!(result, Some(Err(Missed::NoTimer)));
    }
}
