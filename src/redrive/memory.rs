//! The credential memory: what reauthentications produced, for the later
//! requests they are for. Only for reauthenticators that keep no tokens
//! themselves (a closure); a [`login::Login`](crate::login) attaches its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

use http::{HeaderMap, Uri};

use super::{Credentials, Origin, User};

/// The most credentials remembered at once: past it, the oldest go.
pub(crate) const MAX_REMEMBERED: usize = 1024;

struct Remembered {
    user: Option<User>,
    origin: Origin,
    /// The path prefix the credentials are for ("" for the whole origin).
    path_prefix: String,
    /// The requirements they were obtained for.
    requirements: String,
    credentials: Credentials,
    generation: u64,
}

impl Remembered {
    fn serves(&self, user: Option<&User>, uri: &Uri) -> bool {
        self.user.as_ref() == user
            && self.origin.matches(uri)
            && uri.path().starts_with(self.path_prefix.as_str())
    }
}

/// Remembered credentials by host (lowercase), so a request looks only at
/// the few of its own host, and nothing while none are remembered.
#[derive(Default)]
pub(crate) struct Memory {
    any: AtomicBool,
    by_host: RwLock<HashMap<String, Vec<Remembered>>>,
    next_generation: AtomicU64,
}

fn host_of(uri: &Uri) -> std::borrow::Cow<'_, str> {
    let host = uri.host().unwrap_or("");
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase().into()
    } else {
        host.into()
    }
}

impl Memory {
    /// Puts the credentials remembered for `user`'s requests to `uri` on
    /// `headers` (the longest path prefix wins) and returns their generation
    /// (0: none). One atomic load while nothing is remembered.
    pub(crate) fn apply(&self, user: Option<&User>, uri: &Uri, headers: &mut HeaderMap) -> u64 {
        if !self.any.load(Ordering::Acquire) {
            return 0;
        }
        let by_host = self.by_host.read().unwrap_or_else(|p| p.into_inner());
        let best = by_host
            .get(host_of(uri).as_ref())
            .into_iter()
            .flatten()
            .filter(|r| r.serves(user, uri))
            .max_by_key(|r| r.path_prefix.len());
        match best {
            Some(entry) => {
                entry.credentials.apply_to(headers);
                entry.generation
            }
            None => 0,
        }
    }

    /// Credentials for `user`'s requests to `uri`, newer than
    /// `sent_generation` and obtained for the same requirements.
    pub(crate) fn newer(
        &self,
        user: Option<&User>,
        uri: &Uri,
        requirements: &str,
        sent_generation: u64,
    ) -> Option<Credentials> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let by_host = self.by_host.read().unwrap_or_else(|p| p.into_inner());
        by_host
            .get(host_of(uri).as_ref())
            .into_iter()
            .flatten()
            .filter(|r| r.serves(user, uri))
            .max_by_key(|r| r.path_prefix.len())
            .filter(|r| r.generation > sent_generation && r.requirements == requirements)
            .map(|r| r.credentials.clone())
    }

    /// Remembers `credentials` for `user`'s requests to `uri`'s origin under
    /// their path prefix, replacing what was there; the oldest entry goes
    /// when the memory is full.
    pub(crate) fn remember(
        &self,
        user: Option<User>,
        uri: &Uri,
        requirements: String,
        credentials: Credentials,
    ) {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Remembered {
            user,
            origin: Origin::from_uri(uri),
            path_prefix: credentials.path_prefix().unwrap_or("").to_owned(),
            requirements,
            credentials,
            generation,
        };
        let mut by_host = self.by_host.write().unwrap_or_else(|p| p.into_inner());
        let same_host = by_host.entry(host_of(uri).into_owned()).or_default();
        let slot = same_host.iter_mut().find(|r| {
            r.user == entry.user && r.origin == entry.origin && r.path_prefix == entry.path_prefix
        });
        match slot {
            Some(slot) => *slot = entry,
            None => same_host.push(entry),
        }
        let total: usize = by_host.values().map(Vec::len).sum();
        if total > MAX_REMEMBERED {
            evict_oldest(&mut by_host);
        }
        self.any.store(true, Ordering::Release);
    }

    /// Whether any credentials are remembered.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// How many credentials are remembered.
    pub(crate) fn len(&self) -> usize {
        let by_host = self.by_host.read().unwrap_or_else(|p| p.into_inner());
        by_host.values().map(Vec::len).sum()
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        let mut by_host = self.by_host.write().unwrap_or_else(|p| p.into_inner());
        by_host.clear();
        self.any.store(false, Ordering::Release);
    }
}

fn evict_oldest(by_host: &mut HashMap<String, Vec<Remembered>>) {
    let oldest = by_host
        .iter()
        .flat_map(|(host, entries)| entries.iter().map(move |r| (r.generation, host)))
        .min_by_key(|(generation, _)| *generation)
        .map(|(generation, host)| (generation, host.clone()));
    if let Some((generation, host)) = oldest {
        if let Some(entries) = by_host.get_mut(&host) {
            entries.retain(|r| r.generation != generation);
            if entries.is_empty() {
                by_host.remove(&host);
            }
        }
    }
}
