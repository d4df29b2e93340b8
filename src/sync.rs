//! Locks that outlive a panic: the data under the crate's locks (maps of
//! flights, credentials, tokens, requirements) stays consistent if a holder
//! panicked, so a poisoned lock is taken as it is rather than spreading the
//! panic to every later request.

use std::sync::{Mutex, MutexGuard};

/// `mutex`, locked, poisoned or not.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
