//! Where tokens are kept between logins.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::login::Token;

/// Keeps tokens by resource server. Stored tokens are tried before a login
/// is started (unless expired), so a program does not log in on every run.
pub trait TokenStore: Send + Sync + 'static {
    /// The token stored for `resource_server`, if any.
    fn get(&self, resource_server: &str) -> io::Result<Option<Token>>;
    /// Stores `tokens`, replacing those of the same resource servers.
    fn put(&self, tokens: &[Token]) -> io::Result<()>;
}

/// Tokens in memory, for the life of the program.
///
/// ```
/// use tower_gare::login::{MemoryTokenStore, Token, TokenStore};
///
/// let store = MemoryTokenStore::default();
/// store.put(&[Token::new("groups.api.globus.org", "t", "s", None)]).unwrap();
/// assert_eq!(store.get("groups.api.globus.org").unwrap().unwrap().access_token(), "t");
/// assert!(store.get("transfer.api.globus.org").unwrap().is_none());
/// ```
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, Token>>,
}

impl TokenStore for MemoryTokenStore {
    fn get(&self, resource_server: &str) -> io::Result<Option<Token>> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        Ok(tokens.get(resource_server).cloned())
    }

    fn put(&self, new: &[Token]) -> io::Result<()> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        for token in new {
            tokens.insert(token.resource_server.clone(), token.clone());
        }
        Ok(())
    }
}

/// Tokens in a JSON file, readable and writable by its owner only (mode
/// 0600 on Unix), replaced atomically (written beside it, then renamed) so
/// a crash never leaves half a file.
///
/// ```
/// use tower_gare::login::{JsonFileTokenStore, Token, TokenStore};
///
/// let dir = std::env::temp_dir().join(format!("tower-gare-doc-{}", std::process::id()));
/// let store = JsonFileTokenStore::new(dir.join("tokens.json"));
/// store.put(&[Token::new("transfer.api.globus.org", "t", "urn:x", None)]).unwrap();
/// let again = JsonFileTokenStore::new(dir.join("tokens.json"));
/// assert_eq!(again.get("transfer.api.globus.org").unwrap().unwrap().scope, "urn:x");
/// # std::fs::remove_dir_all(dir).unwrap();
/// ```
#[derive(Debug)]
pub struct JsonFileTokenStore {
    path: PathBuf,
    /// One writer at a time within this process.
    lock: Mutex<()>,
}

impl JsonFileTokenStore {
    /// A store kept at `path` (created on the first `put`, with its folder).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonFileTokenStore {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Where the tokens are kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> io::Result<Map<String, Value>> {
        let text = match fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(e),
        };
        let doc: Value = serde_json::from_slice(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a token file: {e}", self.path.display()),
            )
        })?;
        Ok(doc
            .get("tokens")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    }

    fn write(&self, tokens: Map<String, Value>) -> io::Result<()> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            fs::create_dir_all(dir)?;
        }
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(io::Error::other)?;
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = self.path.with_file_name(format!(
            ".{file_name}.{}.tmp",
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ));
        let result = (|| {
            let mut file = private_file(&temp)?;
            file.write_all(
                json!({"version": 1, "tokens": tokens})
                    .to_string()
                    .as_bytes(),
            )?;
            file.sync_all()?;
            fs::rename(&temp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }
}

/// A new file only its owner may read or write: created 0600, so it is never
/// readable by others even for a moment, then set to 0600 exactly, whatever
/// the process's umask took away.
#[cfg(unix)]
fn private_file(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

fn seconds_since_epoch(at: SystemTime) -> Option<u64> {
    at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

impl TokenStore for JsonFileTokenStore {
    fn get(&self, resource_server: &str) -> io::Result<Option<Token>> {
        let tokens = self.read()?;
        let Some(entry) = tokens.get(resource_server).and_then(Value::as_object) else {
            return Ok(None);
        };
        let Some(access_token) = entry.get("access_token").and_then(Value::as_str) else {
            return Ok(None);
        };
        let expires_at = entry
            .get("expires_at")
            .and_then(Value::as_u64)
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)));
        let scope = entry
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(Some(Token::new(
            resource_server,
            access_token,
            scope,
            expires_at,
        )))
    }

    fn put(&self, new: &[Token]) -> io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut tokens = self.read()?;
        for token in new {
            tokens.insert(
                token.resource_server.clone(),
                json!({
                    "access_token": token.access_token(),
                    "scope": token.scope,
                    "expires_at": token.expires_at.and_then(seconds_since_epoch),
                    "token_type": "Bearer",
                }),
            );
        }
        self.write(tokens)
    }
}
