//! Where tokens are kept between logins: the trait, its warnings, and the
//! store in memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::login::Token;

/// The namespace of a program that acts for one person: the one the Python
/// SDK's `GlobusApp` uses, so both find the same tokens in a shared file.
///
/// ```
/// use tower_gare::login::{MemoryTokenStore, Token, TokenStore, DEFAULT_NAMESPACE};
///
/// let store = MemoryTokenStore::default();
/// store.put(DEFAULT_NAMESPACE, &[Token::new("rs", "t", "s", None)]).unwrap();
/// assert_eq!(DEFAULT_NAMESPACE, "DEFAULT");
/// assert!(store.get("DEFAULT", "rs").unwrap().is_some());
/// ```
pub const DEFAULT_NAMESPACE: &str = "DEFAULT";

/// Keeps tokens by namespace, then by resource server.
///
/// A namespace is a person: [`DEFAULT_NAMESPACE`] for a program that acts
/// for one, as the Python SDK's `GlobusApp` does; a backend that acts for
/// many (a science gateway) uses one namespace per signed-in person, so no
/// one's tokens ever serve another's request. Stored tokens are tried
/// before a login is started (unless expired), so a program does not log
/// in on every run.
///
/// The methods may block (a file store reads and writes the disk, and waits
/// for the file's lock): a [`Login`](crate::login::Login) calls them on
/// tokio's blocking pool, never on an async worker, and only when it holds
/// no token in memory that will do (a refresh, a login, a first request).
///
/// ```
/// use tower_gare::login::{MemoryTokenStore, Token, TokenStore};
///
/// let store = MemoryTokenStore::default();
/// store.put("alice", &[Token::new("transfer.api.globus.org", "a", "s", None)]).unwrap();
/// store.put("bob", &[Token::new("transfer.api.globus.org", "b", "s", None)]).unwrap();
/// assert_eq!(store.get("alice", "transfer.api.globus.org").unwrap().unwrap().access_token(), "a");
/// assert_eq!(store.get("bob", "transfer.api.globus.org").unwrap().unwrap().access_token(), "b");
/// store.remove("alice", "transfer.api.globus.org").unwrap();
/// assert!(store.get_all("alice").unwrap().is_empty());
/// assert_eq!(store.get_all("bob").unwrap().len(), 1);
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// The token of `resource_server` in `namespace`, if any.
    fn get(&self, namespace: &str, resource_server: &str) -> io::Result<Option<Token>>;
    /// Every token in `namespace`, ordered by resource server.
    fn get_all(&self, namespace: &str) -> io::Result<Vec<Token>>;
    /// Stores `tokens`, replacing those of the same resource servers; every other token is kept.
    fn put(&self, namespace: &str, tokens: &[Token]) -> io::Result<()>;
    /// Forgets the token of `resource_server` in `namespace` (nothing to
    /// forget is not an error).
    fn remove(&self, namespace: &str, resource_server: &str) -> io::Result<()>;
    /// What went wrong but was recovered from since the last call (a corrupt file moved aside), for the login to show the person.
    fn take_warnings(&self) -> Vec<StoreWarning> {
        Vec::new()
    }
    /// Whether the methods may block (file or network I/O, waiting for a
    /// lock): then a [`Login`](crate::login::Login) calls them on tokio's
    /// blocking pool. Default: yes. A store in memory says no, and is
    /// called in place.
    ///
    /// ```
    /// use tower_gare::login::{JsonFileTokenStore, MemoryTokenStore, TokenStore};
    ///
    /// assert!(!MemoryTokenStore::default().blocks());
    /// assert!(JsonFileTokenStore::new("tokens.json").blocks());
    /// ```
    fn blocks(&self) -> bool {
        true
    }
}

macro_rules! forward_token_store {
    ($($wrapper:ident),*) => {$(
        /// The store it holds.
        impl<S: TokenStore + ?Sized> TokenStore for $wrapper<S> {
            fn get(&self, namespace: &str, resource_server: &str) -> io::Result<Option<Token>> {
                (**self).get(namespace, resource_server)
            }
            fn get_all(&self, namespace: &str) -> io::Result<Vec<Token>> {
                (**self).get_all(namespace)
            }
            fn put(&self, namespace: &str, tokens: &[Token]) -> io::Result<()> {
                (**self).put(namespace, tokens)
            }
            fn remove(&self, namespace: &str, resource_server: &str) -> io::Result<()> {
                (**self).remove(namespace, resource_server)
            }
            fn take_warnings(&self) -> Vec<StoreWarning> {
                (**self).take_warnings()
            }
            fn blocks(&self) -> bool {
                (**self).blocks()
            }
        }
    )*};
}

forward_token_store!(Arc, Box);

/// Something a store recovered from, to be shown to the person whose login
/// it touched: nothing was lost, but they may want to look.
///
/// ```
/// use std::path::PathBuf;
/// use tower_gare::login::StoreWarning;
///
/// let warning = StoreWarning::MovedAside {
///     path: PathBuf::from("/home/me/tokens.json"),
///     moved_to: PathBuf::from("/home/me/tokens.json.corrupt-1700000000"),
///     reason: "not JSON: expected value at line 1 column 1".to_owned(),
/// };
/// let text = warning.to_string();
/// assert!(text.contains("/home/me/tokens.json.corrupt-1700000000"));
/// assert!(text.contains("not JSON"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreWarning {
    /// A token file that could not be read (not JSON, not the shape of a
    /// token file, not readable by this user) was renamed, and a new file
    /// started in its place. Its tokens are not used, and are still in the
    /// renamed file. (A file of a `format_version` not known is never
    /// renamed: it is an error, [`TokenFileError::UnknownFormat`](crate::login::TokenFileError::UnknownFormat).)
    MovedAside {
        /// The token file.
        path: PathBuf,
        /// Where it is now.
        moved_to: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// One token in a token file could not be read (a field missing or of
    /// the wrong type) and is not used. It stays in the file until a token
    /// for the same resource server replaces it.
    UnreadableToken {
        /// The token file.
        path: PathBuf,
        /// The namespace it is in.
        namespace: String,
        /// The resource server it is filed under.
        resource_server: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for StoreWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreWarning::MovedAside {
                path,
                moved_to,
                reason,
            } => write!(
                f,
                "the token file {} could not be read ({reason}); it was moved to {} and a new one was started",
                path.display(),
                moved_to.display()
            ),
            StoreWarning::UnreadableToken {
                path,
                namespace,
                resource_server,
                reason,
            } => write!(
                f,
                "the token for {resource_server:?} in namespace {namespace:?} of {} could not be read ({reason}); it is left in the file and not used",
                path.display()
            ),
        }
    }
}

/// Tokens in memory, for the life of the program.
///
/// ```
/// use tower_gare::login::{MemoryTokenStore, Token, TokenStore, DEFAULT_NAMESPACE};
///
/// let store = MemoryTokenStore::default();
/// store.put(DEFAULT_NAMESPACE, &[Token::new("groups.api.globus.org", "t", "s", None)]).unwrap();
/// assert_eq!(store.get(DEFAULT_NAMESPACE, "groups.api.globus.org").unwrap().unwrap().access_token(), "t");
/// assert!(store.get(DEFAULT_NAMESPACE, "transfer.api.globus.org").unwrap().is_none());
/// assert!(store.get("someone-else", "groups.api.globus.org").unwrap().is_none());
/// ```
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    namespaces: Mutex<HashMap<String, BTreeMap<String, Token>>>,
}

impl MemoryTokenStore {
    fn namespaces(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, Token>>> {
        // A panic elsewhere while holding the lock leaves whole maps behind:
        // every operation below is a single insert or remove.
        self.namespaces.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for MemoryTokenStore {
    fn blocks(&self) -> bool {
        false
    }

    fn get(&self, namespace: &str, resource_server: &str) -> io::Result<Option<Token>> {
        Ok(self
            .namespaces()
            .get(namespace)
            .and_then(|tokens| tokens.get(resource_server))
            .cloned())
    }

    fn get_all(&self, namespace: &str) -> io::Result<Vec<Token>> {
        Ok(self
            .namespaces()
            .get(namespace)
            .map(|tokens| tokens.values().cloned().collect())
            .unwrap_or_default())
    }

    fn put(&self, namespace: &str, new: &[Token]) -> io::Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let mut namespaces = self.namespaces();
        let tokens = namespaces.entry(namespace.to_owned()).or_default();
        for token in new {
            tokens.insert(token.resource_server.clone(), token.clone());
        }
        Ok(())
    }

    fn remove(&self, namespace: &str, resource_server: &str) -> io::Result<()> {
        if let Some(tokens) = self.namespaces().get_mut(namespace) {
            tokens.remove(resource_server);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_keeps_namespaces_apart_and_replaces_by_resource_server() {
        let store = MemoryTokenStore::default();
        store
            .put(
                "a",
                &[
                    Token::new("rs1", "a1", "s", None),
                    Token::new("rs2", "a2", "s", None),
                ],
            )
            .unwrap();
        store
            .put("b", &[Token::new("rs1", "b1", "s", None)])
            .unwrap();
        store
            .put(
                "a",
                &[Token::new("rs1", "a1'", "s", None).with_refresh_token("r")],
            )
            .unwrap();
        let a: Vec<_> = store
            .get_all("a")
            .unwrap()
            .iter()
            .map(|t| (t.resource_server.clone(), t.access_token().to_owned()))
            .collect();
        assert_eq!(
            a,
            [("rs1".into(), "a1'".into()), ("rs2".into(), "a2".into())]
        );
        assert_eq!(
            store.get("a", "rs1").unwrap().unwrap().refresh_token(),
            Some("r")
        );
        assert_eq!(store.get("b", "rs1").unwrap().unwrap().access_token(), "b1");
        store.remove("a", "rs1").unwrap();
        store.remove("nobody", "rs1").unwrap();
        assert!(store.get("a", "rs1").unwrap().is_none());
        assert!(store.get("b", "rs1").unwrap().is_some());
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn a_shared_store_is_a_store() {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::default());
        let boxed: Box<Arc<dyn TokenStore>> = Box::new(store.clone());
        boxed
            .put(DEFAULT_NAMESPACE, &[Token::new("rs", "t", "s", None)])
            .unwrap();
        assert!(store.get(DEFAULT_NAMESPACE, "rs").unwrap().is_some());
    }

    #[test]
    fn warnings_name_where_the_file_went() {
        let warning = StoreWarning::UnreadableToken {
            path: "/x/tokens.json".into(),
            namespace: "DEFAULT".into(),
            resource_server: "rs".into(),
            reason: "'scope' must be a string".into(),
        };
        let text = warning.to_string();
        assert!(
            text.contains("/x/tokens.json") && text.contains("\"rs\""),
            "{text}"
        );
    }
}
