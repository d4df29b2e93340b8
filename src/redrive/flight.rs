//! One reauthentication per requirement at a time (the single flight), the
//! quiet period after one that failed, and the memory a closure's
//! credentials are kept in: the engine every service a layer makes, their
//! clones, and the reqwest middleware made from it share.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{Shared, WeakShared};
use futures_util::FutureExt;
use http::{HeaderMap, Uri};
use tokio::time::Instant;

use super::credentials::Memory;
use super::decide::Carried;
use super::{Credentials, ReauthContext, ReauthError, Reauthenticator, RedriveOutcome, User};
use crate::deadline::{within, Missed};
use crate::sync::lock;
use serde_json::Value;

/// The most requirements kept quiet at once: past it, those whose quiet
/// period is over go, then the oldest.
pub(crate) const MAX_QUIET: usize = 1024;

type FlightResult = Result<Credentials, ReauthError>;
type BoxedFlight = Pin<Box<dyn Future<Output = FlightResult> + Send>>;

/// A running reauthentication that any number of requests can wait on.
/// Whichever waiter is polled drives it, so dropping the request that
/// started it strands nobody; when every waiter is gone it is dropped.
type Flight = Shared<BoxedFlight>;

/// Where a request's credentials will come from.
enum Ticket {
    /// Another request's reauthentication already replaced the credentials
    /// this request was sent with.
    Ready(Credentials),
    /// A reauthentication this request started.
    Started(Flight),
    /// A reauthentication another request started.
    Joined(Flight),
    /// One for the same requirements failed or did not help a moment ago:
    /// its error, and no new one until the quiet period is over.
    Quiet(ReauthError),
}

/// Requirements whose last reauthentication failed or did not help: no
/// other starts for them for `period` from `since`.
struct Quiet {
    since: Instant,
    period: Duration,
    error: ReauthError,
}

impl Quiet {
    fn is_over(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) >= self.period
    }
}

/// How long a reauthentication may take, and how long its requirements
/// stay quiet when it fails.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) timeout: Option<Duration>,
    pub(crate) quiet_period: Duration,
}

/// What a flight does with the credentials it gets.
#[derive(Clone, Copy)]
struct Keep {
    limits: Limits,
    /// Remember them for later requests (a reauthenticator that keeps no
    /// tokens of its own).
    remember: bool,
}

struct FlightEntry {
    id: u64,
    flight: WeakShared<BoxedFlight>,
}

pub(crate) struct Engine<R> {
    reauthenticator: R,
    /// Bumped by `forget_all`: a flight that started before it does not
    /// store its credentials.
    epoch: AtomicU64,
    memory: Memory,
    next_id: AtomicU64,
    flights: Mutex<HashMap<String, FlightEntry>>,
    /// By requirements key; at most `MAX_QUIET`. Locked after `flights`
    /// when both are (never the other way round).
    quiet: Mutex<HashMap<String, Quiet>>,
}

/// Requirements that are the same to a login whatever order or message they
/// came with: lists sorted and deduplicated, the session message left out,
/// the step-up fields of a challenge (`acr_values`, `max_age`, `claims`) in;
/// whose they are, and whether a token was refused rather than a GARE met.
fn requirements_key(cx: &ReauthContext, partition: Option<&str>) -> String {
    let (origin, gare) = (cx.origin(), cx.gare());
    let normalized = gare.authorization_parameters.normalized();
    let step_up: Vec<&Value> = ["acr_values", "max_age", "claims"]
        .iter()
        .map(|key| gare.extra.get(*key).unwrap_or(&Value::Null))
        .collect();
    let user = Value::from(cx.user().map(User::id));
    let partition = Value::from(partition);
    format!(
        "{user} {origin} {partition} {} {} {}",
        cx.is_token_rejected(),
        normalized.to_value(true),
        Value::from(step_up.into_iter().cloned().collect::<Vec<_>>())
    )
}

impl<R: Reauthenticator> Engine<R> {
    /// The flight key of `cx`: what requests must share to share one
    /// reauthentication (see `requirements_key` and
    /// `Reauthenticator::partition`).
    pub(crate) fn key_of(&self, cx: &ReauthContext) -> String {
        let partition = self.reauthenticator.partition(cx);
        requirements_key(cx, partition.as_deref())
    }

    pub(crate) fn new(reauthenticator: R) -> Self {
        Engine {
            reauthenticator,
            epoch: AtomicU64::new(0),
            memory: Memory::default(),
            next_id: AtomicU64::new(1),
            flights: Mutex::new(HashMap::new()),
            quiet: Mutex::new(HashMap::new()),
        }
    }

    /// The reauthenticator, for the credentials step.
    #[inline]
    pub(crate) fn reauthenticator(&self) -> &R {
        &self.reauthenticator
    }

    /// Puts the credentials remembered for `user`'s requests to `uri` on
    /// `headers` and returns their generation (0: none). Allocates nothing,
    /// and costs one atomic load while nothing is remembered: until then,
    /// requests go out exactly as their callers made them.
    #[inline]
    pub(crate) fn apply_remembered(
        &self,
        user: Option<&User>,
        uri: &Uri,
        headers: &mut HeaderMap,
    ) -> u64 {
        self.memory.apply(user, uri, headers)
    }

    /// Whether any credentials are remembered (one atomic load).
    #[inline]
    pub(crate) fn remembers_any(&self) -> bool {
        self.memory.any()
    }

    /// How many credentials are remembered (bounded by `MAX_REMEMBERED`).
    pub(crate) fn remembered(&self) -> usize {
        self.memory.len()
    }

    /// Forgets every remembered credential (after a logout, say).
    pub(crate) fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.memory.clear();
    }

    /// Credentials for a request that got a GARE, and how they came: newer
    /// remembered ones or another request's reauthentication (`Coalesced`),
    /// or a reauthentication this request started (`Redriven`). `requirements`
    /// is `key_of(&cx)`.
    pub(crate) async fn credentials_for(
        self: &Arc<Self>,
        cx: ReauthContext,
        requirements: String,
        carried: Carried,
        limits: Limits,
    ) -> (FlightResult, RedriveOutcome) {
        let keep = Keep {
            limits,
            remember: carried.remembered,
        };
        match self.ticket(cx, requirements, carried.generation, keep) {
            Ticket::Ready(credentials) => (Ok(credentials), RedriveOutcome::Coalesced),
            Ticket::Started(flight) => (flight.await, RedriveOutcome::Redriven),
            Ticket::Joined(flight) => (flight.await, RedriveOutcome::Coalesced),
            Ticket::Quiet(error) => (Err(error), RedriveOutcome::Coalesced),
        }
    }

    /// Keeps `requirements` quiet for `period`: until then, a request that
    /// meets them gets `error` and no reauthentication starts for them.
    pub(crate) fn keep_quiet(&self, requirements: &str, error: ReauthError, period: Duration) {
        if period.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut quiet = lock(&self.quiet);
        if quiet.len() >= MAX_QUIET && !quiet.contains_key(requirements) {
            quiet.retain(|_, entry| !entry.is_over(now));
            if quiet.len() >= MAX_QUIET {
                let oldest = quiet
                    .iter()
                    .min_by_key(|(_, entry)| entry.since)
                    .map(|(key, _)| key.clone());
                if let Some(key) = oldest {
                    quiet.remove(&key);
                }
            }
        }
        let entry = Quiet {
            since: now,
            period,
            error,
        };
        quiet.insert(requirements.to_owned(), entry);
    }

    /// The error `requirements` are kept quiet with, if their quiet period
    /// is not over.
    fn quiet_error(&self, requirements: &str) -> Option<ReauthError> {
        let mut quiet = lock(&self.quiet);
        let entry = quiet.get(requirements)?;
        if !entry.is_over(Instant::now()) {
            return Some(entry.error.clone());
        }
        quiet.remove(requirements);
        None
    }

    /// How many requirements are kept quiet now (expired ones included
    /// until they are looked at or pushed out); at most `MAX_QUIET`.
    #[cfg(test)]
    fn quiet_len(&self) -> usize {
        lock(&self.quiet).len()
    }

    /// Where the credentials for a request that got a GARE come from: newer
    /// remembered ones, a reauthentication already running for the same
    /// requirements, or a new one.
    fn ticket(
        self: &Arc<Self>,
        cx: ReauthContext,
        requirements: String,
        sent_generation: u64,
        keep: Keep,
    ) -> Ticket {
        let newer = || {
            let user = cx.user();
            self.memory
                .newer(user, cx.uri(), &requirements, sent_generation)
        };
        if let Some(credentials) = newer() {
            return Ticket::Ready(credentials);
        }
        let mut flights = lock(&self.flights);
        if let Some(flight) = flights.get(&requirements).and_then(|e| e.flight.upgrade()) {
            return Ticket::Joined(flight);
        }
        // A flight stores its credentials and leaves the map under this lock,
        // so this second look cannot miss one that finished in between.
        if let Some(credentials) = newer() {
            return Ticket::Ready(credentials);
        }
        // A flight that fails is quiet before it leaves the map (under this
        // lock), so this look cannot miss one that just failed.
        if let Some(error) = self.quiet_error(&requirements) {
            return Ticket::Quiet(error);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let run: BoxedFlight = Box::pin(Arc::clone(self).fly(id, requirements.clone(), cx, keep));
        let flight = run.shared();
        // Entries whose waiters all went away are dead weight: drop them.
        flights.retain(|_, entry| entry.flight.upgrade().is_some());
        if let Some(weak) = flight.downgrade() {
            flights.insert(requirements, FlightEntry { id, flight: weak });
        }
        Ticket::Started(flight)
    }

    async fn fly(
        self: Arc<Self>,
        id: u64,
        requirements: String,
        cx: ReauthContext,
        keep: Keep,
    ) -> FlightResult {
        let limits = keep.limits;
        let epoch = self.epoch.load(Ordering::Acquire);
        let (user, uri) = (cx.user().cloned(), cx.uri().clone());
        // The reauthenticator is the user's code: a panic in it (while it is
        // called or polled) becomes an error for every waiter, not a panic.
        let run = AssertUnwindSafe(async {
            let result = self.reauthenticator.reauthenticate(cx).await;
            result.map_err(|error| ReauthError::new(error.into()))
        })
        .catch_unwind();
        // On a runtime without timers the deadline cannot be kept: that is
        // the error of every waiter, where `tokio::time::timeout` panics.
        let outcome = match limits.timeout {
            Some(limit) => match within(limit, run).await {
                Ok(outcome) => outcome,
                Err(Missed::Elapsed) => Ok(Err(ReauthError::timed_out(limit))),
                Err(Missed::NoTimer) => Ok(Err(ReauthError::no_timer(limit))),
            },
            None => run.await,
        };
        let result = match outcome {
            Ok(result) => result,
            Err(_panic) => Err(ReauthError::panicked()),
        };
        let mut flights = lock(&self.flights);
        match &result {
            Ok(credentials) => {
                let current = self.epoch.load(Ordering::Acquire) == epoch;
                if current && keep.remember {
                    let requirements = requirements.clone();
                    self.memory
                        .remember(user, &uri, requirements, credentials.clone());
                }
            }
            // Failed or cancelled: not asked again for a while.
            Err(error) => self.keep_quiet(&requirements, error.clone(), limits.quiet_period),
        }
        if flights
            .get(&requirements)
            .is_some_and(|entry| entry.id == id)
        {
            flights.remove(&requirements);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine<impl Reauthenticator> {
        Engine::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
    }

    #[tokio::test(start_paused = true)]
    async fn the_quiet_requirements_are_bounded_the_oldest_go() {
        let engine = engine();
        let period = Duration::from_secs(10);
        for i in 0..MAX_QUIET + 100 {
            engine.keep_quiet(&format!("k{i}"), ReauthError::did_not_help(), period);
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(engine.quiet_len(), MAX_QUIET);
        assert!(engine.quiet_error("k99").is_none(), "among the oldest");
        assert!(engine.quiet_error("k100").is_some());
        assert!(engine
            .quiet_error(&format!("k{}", MAX_QUIET + 99))
            .is_some());
        // Past their period, they all go at once when room is needed.
        tokio::time::advance(period).await;
        engine.keep_quiet("new", ReauthError::did_not_help(), period);
        assert_eq!(engine.quiet_len(), 1);
        assert!(engine.quiet_error("new").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_quiet_period_keeps_nothing() {
        let engine = engine();
        engine.keep_quiet("k", ReauthError::did_not_help(), Duration::ZERO);
        assert_eq!(engine.quiet_len(), 0);
    }
}
