//! Whose request it is, for a program that acts for many people.

use std::fmt;
use std::sync::Arc;

/// Whose request this is, put in the request's extensions by a program that
/// acts for many people (a science gateway calling Globus for each person
/// signed in to it). Credentials, refreshes and logins are kept apart per
/// user: no user's token ever serves another user's request. A request
/// without one is the program's own (one user, as a command-line tool).
///
/// ```
/// use tower_gare::redrive::User;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(User::new("alice@example.org"));
/// assert_eq!(request.extensions().get::<User>().unwrap().id(), "alice@example.org");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct User(Arc<str>);

impl User {
    /// The user with this id: any string that names one person to the
    /// program (a session's subject, an account id). It is also the token
    /// store's namespace for them.
    pub fn new(id: impl AsRef<str>) -> Self {
        User(Arc::from(id.as_ref()))
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("User").field(&self.id()).finish()
    }
}
