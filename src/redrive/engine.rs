//! The redrive engine: credential memory and single-flight reauthentication,
//! shared by every service a layer makes, their clones, and the reqwest
//! middleware made from it.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::{Shared, WeakShared};
use futures_util::FutureExt;
use http::{HeaderMap, Uri};

use super::memory::Memory;
use super::{Credentials, ReauthContext, ReauthError, Reauthenticator, RedriveOutcome, User};
use crate::deadline::{within, Missed};
use serde_json::Value;

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
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data
    // (a map of weak handles, a list of credentials) is still consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Requirements that are the same to a login whatever order or message they
/// came with: lists sorted and deduplicated, the session message left out,
/// the step-up fields of a challenge (`acr_values`, `max_age`, `claims`) in;
/// whose they are, and whether a token was refused rather than a GARE met.
pub(crate) fn requirements_key(cx: &ReauthContext) -> String {
    let (origin, gare) = (cx.origin(), cx.gare());
    let mut normalized = gare.authorization_parameters.clone();
    normalized.session_message = None;
    for list in [
        &mut normalized.session_required_identities,
        &mut normalized.session_required_policies,
        &mut normalized.session_required_single_domain,
        &mut normalized.required_scopes,
    ]
    .into_iter()
    .flatten()
    {
        list.sort_unstable();
        list.dedup();
    }
    let step_up: Vec<&Value> = ["acr_values", "max_age", "claims"]
        .iter()
        .map(|key| gare.extra.get(*key).unwrap_or(&Value::Null))
        .collect();
    let user = Value::from(cx.user().map(User::id));
    format!(
        "{user} {origin} {} {} {}",
        cx.is_token_rejected(),
        normalized.to_value(true),
        Value::from(step_up.into_iter().cloned().collect::<Vec<_>>())
    )
}

impl<R: Reauthenticator> Engine<R> {
    pub(crate) fn new(reauthenticator: R) -> Self {
        Engine {
            reauthenticator,
            epoch: AtomicU64::new(0),
            memory: Memory::default(),
            next_id: AtomicU64::new(1),
            flights: Mutex::new(HashMap::new()),
        }
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
    /// or a reauthentication this request started (`Redriven`).
    pub(crate) async fn credentials_for(
        self: &Arc<Self>,
        cx: ReauthContext,
        sent_generation: u64,
        timeout: Option<Duration>,
    ) -> (FlightResult, RedriveOutcome) {
        match self.ticket(cx, sent_generation, timeout) {
            Ticket::Ready(credentials) => (Ok(credentials), RedriveOutcome::Coalesced),
            Ticket::Started(flight) => (flight.await, RedriveOutcome::Redriven),
            Ticket::Joined(flight) => (flight.await, RedriveOutcome::Coalesced),
        }
    }

    /// Where the credentials for a request that got a GARE come from: newer
    /// remembered ones, a reauthentication already running for the same
    /// requirements, or a new one.
    fn ticket(
        self: &Arc<Self>,
        cx: ReauthContext,
        sent_generation: u64,
        timeout: Option<Duration>,
    ) -> Ticket {
        let requirements = requirements_key(&cx);
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
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let run: BoxedFlight =
            Box::pin(Arc::clone(self).fly(id, requirements.clone(), cx, timeout));
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
        timeout: Option<Duration>,
    ) -> FlightResult {
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
        let outcome = match timeout {
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
        if let Ok(credentials) = &result {
            let current = self.epoch.load(Ordering::Acquire) == epoch;
            if current && !self.reauthenticator.attaches_credentials() {
                let requirements = requirements.clone();
                self.memory
                    .remember(user, &uri, requirements, credentials.clone());
            }
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
