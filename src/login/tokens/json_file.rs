//! Tokens in the Python SDK's JSON token file, shared with it and with
//! other processes.

use std::collections::HashSet;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use super::disk::{self, Lock, TokenFileError};
use super::python_format::{Document, Unusable};
use super::store::{StoreWarning, TokenStore};
use crate::login::Token;

/// How long a store waits for another process to finish with the file.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a file that does not parse is read again before it is
/// called corrupt, for a writer that does not lock (the Python SDK
/// truncates the file, then writes it) to finish.
const REREADS: u32 = 4;

/// Tokens in a JSON file in the format of the Python SDK's
/// `JSONTokenStorage` (globus-sdk 4.10.0: `format_version` "2.0", then
/// namespaces, then resource servers), so a Python script and a Rust
/// program of one app share one login. By default the file is where
/// `GlobusApp` keeps it: see [`default_path`](JsonFileTokenStore::default_path).
///
/// - **Safe across processes.** A `put` or `remove` holds an advisory lock
///   (a file beside the token file, `tokens.json.lock`) across its read,
///   change and write, so two processes storing tokens at once keep both.
///   The Python SDK takes no lock: a Python process writing at the same
///   moment as a Rust one may still lose one of the two writes.
/// - **No torn writes.** The new file is written beside the old one,
///   flushed to the disk, then renamed over it.
/// - **Private.** The file is created 0600 and its folders 0700 on Unix,
///   whatever the umask; modes are set on the open file, never by a path
///   that could have been swapped.
/// - **Trusted only when it is yours (Unix).** As OpenSSH treats its keys:
///   the file, its lock and their folder must belong to this user (the
///   folder may be root's), and none may be writable by the group or
///   others; neither the file nor the lock may be a symbolic link (never
///   followed, never replaced). Otherwise every call fails with an
///   [`io::Error`] that names the path, with a [`TokenFileError`] inside.
///   Only the folder that holds the file is checked, not the folders above
///   it.
/// - **A newer format is left alone.** A file whose `format_version` this
///   crate does not know (a newer Python SDK wrote it) is not read, written
///   over or moved aside: every call fails with
///   [`TokenFileError::UnknownFormat`] (`io::ErrorKind::InvalidData`).
/// - **Nothing lost silently.** A file that cannot be read (not JSON, not
///   the shape of a token file, not readable) is renamed
///   `tokens.json.corrupt-<unix seconds>`, a [`StoreWarning`] says where
///   it went, and the store goes on as if there were no file: `get` finds
///   nothing, and `put` writes a new file with its tokens. One entry that
///   cannot be read is not used, and is left in the file.
/// - **No tokens left behind.** The temporary files of writes a crash cut
///   short (`.tokens.json.<hex>.tmp`) are removed by the next write.
/// - **No token in an error.** Errors and warnings name paths and say
///   what is wrong; they never quote the file's contents.
/// - **Nothing else touched.** Writing changes only the entries it puts or
///   removes: other namespaces, other resource servers, fields and
///   top-level keys it does not know are written back as they were read.
///
/// ```
/// use tower_gare::login::{JsonFileTokenStore, Token, TokenStore, DEFAULT_NAMESPACE};
///
/// let dir = std::env::temp_dir().join(format!("tower-gare-doc-{}", std::process::id()));
/// let store = JsonFileTokenStore::new(dir.join("tokens.json"));
/// store.put(DEFAULT_NAMESPACE, &[Token::new("transfer.api.globus.org", "t", "urn:x", None)]).unwrap();
/// let again = JsonFileTokenStore::new(dir.join("tokens.json"));
/// assert_eq!(again.get(DEFAULT_NAMESPACE, "transfer.api.globus.org").unwrap().unwrap().scope, "urn:x");
///
/// let text = std::fs::read_to_string(dir.join("tokens.json")).unwrap();
/// let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
/// assert_eq!(doc["format_version"], "2.0");
/// assert_eq!(doc["data"]["DEFAULT"]["transfer.api.globus.org"]["access_token"], "t");
/// # std::fs::remove_dir_all(dir).unwrap();
/// ```
#[derive(Debug)]
pub struct JsonFileTokenStore {
    path: PathBuf,
    warnings: Mutex<Warnings>,
}

#[derive(Debug, Default)]
struct Warnings {
    pending: Vec<StoreWarning>,
    /// Unreadable entries already reported (namespace, resource server,
    /// reason): each is reported once, not on every read.
    reported: HashSet<(String, String, String)>,
}

/// What reading the file found.
enum Read {
    Document(Document),
    Corrupt {
        reason: String,
        bytes: Option<Vec<u8>>,
    },
}

impl JsonFileTokenStore {
    /// A store kept at `path` (created on the first `put`, with its
    /// folders).
    ///
    /// ```
    /// use tower_gare::login::JsonFileTokenStore;
    ///
    /// let store = JsonFileTokenStore::new("tokens.json");
    /// assert_eq!(store.path(), std::path::Path::new("tokens.json"));
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonFileTokenStore {
            path: path.into(),
            warnings: Mutex::default(),
        }
    }

    /// Where the tokens are kept.
    ///
    /// ```
    /// use tower_gare::login::JsonFileTokenStore;
    ///
    /// assert!(JsonFileTokenStore::new("/tmp/t.json").path().ends_with("t.json"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the Python SDK's `GlobusApp` keeps the tokens of the app
    /// `app_name` with the client `client_id`:
    /// `~/.globus/app/<client_id>/<app_name>/tokens.json`
    /// (`%LOCALAPPDATA%\globus\app\...` on Windows), the file named
    /// `<environment>-tokens.json` when `GLOBUS_SDK_ENVIRONMENT` names an
    /// environment other than `production`. The app name is made safe for
    /// a path as the SDK makes it (`_slugify_app_name`): lowercased,
    /// `<>:"/\|?*` become `+`, dots and spaces `-`, characters that do not
    /// print are dropped.
    ///
    /// Errors: no home folder (`HOME` unset or empty), or an app name that
    /// is empty or a name Windows reserves (`con`, `nul`, `com1`, ...)
    /// once made safe, which the SDK refuses too.
    ///
    /// ```
    /// use tower_gare::login::JsonFileTokenStore;
    ///
    /// # if std::env::var_os("HOME").is_some() {
    /// let path = JsonFileTokenStore::default_path("6a1b0b9a", "My App")?;
    /// let environment = std::env::var("GLOBUS_SDK_ENVIRONMENT").unwrap_or("production".into());
    /// if environment == "production" {
    ///     assert!(path.ends_with(".globus/app/6a1b0b9a/my-app/tokens.json"));
    /// }
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn default_path(client_id: &str, app_name: &str) -> io::Result<PathBuf> {
        let environment = std::env::var_os(crate::login::environment::ENVIRONMENT_VAR).map_or_else(
            || "production".to_owned(),
            |e| e.to_string_lossy().into_owned(),
        );
        Self::default_path_in(client_id, app_name, &environment)
    }

    /// [`default_path`](JsonFileTokenStore::default_path) for the named
    /// environment, whatever `GLOBUS_SDK_ENVIRONMENT` says.
    ///
    /// ```
    /// use tower_gare::login::JsonFileTokenStore;
    ///
    /// # if std::env::var_os("HOME").is_some() {
    /// let path = JsonFileTokenStore::default_path_in("6a1b0b9a", "tower-gare", "sandbox")?;
    /// assert!(path.ends_with(".globus/app/6a1b0b9a/tower-gare/sandbox-tokens.json"));
    /// let path = JsonFileTokenStore::default_path_in("6a1b0b9a", "a.b c?", "production")?;
    /// assert!(path.ends_with(".globus/app/6a1b0b9a/a-b-c+/tokens.json"));
    /// assert!(JsonFileTokenStore::default_path_in("6a1b0b9a", "NUL", "production").is_err());
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn default_path_in(
        client_id: &str,
        app_name: &str,
        environment: &str,
    ) -> io::Result<PathBuf> {
        let app_name = slugify_app_name(app_name)?;
        let file_name = if environment == "production" {
            "tokens.json".to_owned()
        } else {
            format!("{environment}-tokens.json")
        };
        Ok(app_data_dir()?
            .join("app")
            .join(client_id)
            .join(app_name)
            .join(file_name))
    }

    /// Takes the lock, then removes what crashed writes left: holding the
    /// lock, no other store is writing (see [`disk::remove_stale_temp_files`]).
    fn lock(&self) -> io::Result<Lock> {
        let lock = Lock::acquire(&disk::beside(&self.path, ".lock"), LOCK_TIMEOUT)?;
        disk::remove_stale_temp_files(&self.path, &lock);
        Ok(lock)
    }

    /// The folder of the file, checked; whether it exists.
    fn check_folder(&self) -> io::Result<bool> {
        disk::check_folder(disk::folder_of(&self.path))
    }

    fn warn(&self, warning: StoreWarning) {
        let mut warnings = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        if let StoreWarning::UnreadableToken {
            namespace,
            resource_server,
            reason,
            ..
        } = &warning
        {
            let key = (namespace.clone(), resource_server.clone(), reason.clone());
            if !warnings.reported.insert(key) {
                return;
            }
        }
        warnings.pending.push(warning);
    }

    /// The file as it is now, without the lock: renames make every write
    /// of this crate whole, so a reader needs none. The folder and the file
    /// are checked first (see [`TokenFileError`]), and a file of a format
    /// not known is an error.
    fn read(&self) -> io::Result<Read> {
        if !self.check_folder()? {
            return Ok(Read::Document(Document::empty()));
        }
        let read = match disk::open_to_read(&self.path) {
            Ok(Some(mut file)) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map(|_| Some(bytes))
            }
            other => other.map(|_| None),
        };
        match read {
            Ok(Some(bytes)) => match Document::parse(&bytes) {
                Ok(document) => Ok(Read::Document(document)),
                Err(Unusable::Corrupt(reason)) => Ok(Read::Corrupt {
                    reason,
                    bytes: Some(bytes),
                }),
                Err(Unusable::UnknownFormat(format_version)) => {
                    Err(TokenFileError::UnknownFormat {
                        path: self.path.clone(),
                        format_version,
                    }
                    .into_io())
                }
            },
            Ok(None) => Ok(Read::Document(Document::empty())),
            // Refused by the checks: an error, never "corrupt".
            Err(e) if e.get_ref().is_some_and(|e| e.is::<TokenFileError>()) => Err(e),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(Read::Corrupt {
                reason: format!("not readable: {e}"),
                bytes: None,
            }),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("reading the token file {}: {e}", self.path.display()),
            )),
        }
    }

    /// The file, read while holding the lock; a file that cannot be read
    /// is moved aside and the document is empty.
    fn read_locked(&self, _lock: &Lock) -> io::Result<Document> {
        let mut seen: Option<Option<Vec<u8>>> = None;
        for attempt in 0.. {
            match self.read()? {
                Read::Document(document) => return Ok(document),
                Read::Corrupt { reason, bytes } => {
                    let settled = seen.as_ref() == Some(&bytes);
                    if !settled && attempt < REREADS {
                        seen = Some(bytes);
                        thread::sleep(Duration::from_millis(25));
                        continue;
                    }
                    let moved_to = disk::move_aside(&self.path)?;
                    self.warn(StoreWarning::MovedAside {
                        path: self.path.clone(),
                        moved_to,
                        reason,
                    });
                    return Ok(Document::empty());
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// The file for a read: without the lock unless it must be moved aside.
    fn read_for_get(&self) -> io::Result<Document> {
        match self.read()? {
            Read::Document(document) => Ok(document),
            Read::Corrupt { .. } => {
                let lock = self.lock()?;
                self.read_locked(&lock)
            }
        }
    }

    /// `read`, then the entry's token, or `None` with a warning.
    fn readable(
        &self,
        namespace: &str,
        resource_server: &str,
        token: Result<Token, String>,
    ) -> Option<Token> {
        token
            .map_err(|reason| {
                self.warn(StoreWarning::UnreadableToken {
                    path: self.path.clone(),
                    namespace: namespace.to_owned(),
                    resource_server: resource_server.to_owned(),
                    reason,
                })
            })
            .ok()
    }
}

impl TokenStore for JsonFileTokenStore {
    fn get(&self, namespace: &str, resource_server: &str) -> io::Result<Option<Token>> {
        Ok(self
            .read_for_get()?
            .token(namespace, resource_server)
            .and_then(|token| self.readable(namespace, resource_server, token)))
    }

    fn get_all(&self, namespace: &str) -> io::Result<Vec<Token>> {
        Ok(self
            .read_for_get()?
            .tokens(namespace)
            .into_iter()
            .filter_map(|(rs, token)| self.readable(namespace, &rs, token))
            .collect())
    }

    fn put(&self, namespace: &str, tokens: &[Token]) -> io::Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        let folder = disk::folder_of(&self.path);
        disk::create_private_dirs(folder)?;
        // Before the lock is made in it: a folder someone else may write
        // gets no lock file and no tokens.
        self.check_folder()?;
        let lock = self.lock()?;
        let mut document = self.read_locked(&lock)?;
        document.put(namespace, tokens);
        disk::write_atomically(&self.path, &document.to_bytes(), &lock)
    }

    fn remove(&self, namespace: &str, resource_server: &str) -> io::Result<()> {
        if let Read::Document(document) = self.read()? {
            if document.token(namespace, resource_server).is_none() {
                return Ok(());
            }
        }
        let lock = self.lock()?;
        let mut document = self.read_locked(&lock)?;
        if document.remove(namespace, resource_server) {
            disk::write_atomically(&self.path, &document.to_bytes(), &lock)?;
        }
        Ok(())
    }

    fn take_warnings(&self) -> Vec<StoreWarning> {
        let mut warnings = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut warnings.pending)
    }
}

/// `~/.globus` (`%LOCALAPPDATA%\globus` on Windows), as the SDK's
/// `_default_globus_app_filepath` finds it.
#[cfg(not(windows))]
fn app_data_dir() -> io::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "HOME is not set: no default place for the token file",
            )
        })?;
    Ok(PathBuf::from(home).join(".globus"))
}

#[cfg(windows)]
fn app_data_dir() -> io::Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let data = match var("LOCALAPPDATA").or_else(|| var("APPDATA")) {
        Some(data) => PathBuf::from(data),
        None => PathBuf::from(var("USERPROFILE").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "neither LOCALAPPDATA, APPDATA nor USERPROFILE is set: no default place for the token file",
            )
        })?)
        .join("AppData")
        .join("Local"),
    };
    Ok(data.join("globus"))
}

/// The SDK's `_slugify_app_name` (`globus_sdk/token_storage/base.py`).
fn slugify_app_name(app_name: &str) -> io::Result<String> {
    let slug: String = app_name
        .chars()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*' => '+',
            '.' | ' ' => '-',
            c => c,
        })
        .filter(|&c| is_printable(c))
        .collect::<String>()
        .to_lowercase();
    let invalid = |why: String| Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    if slug.is_empty() {
        return invalid(format!(
            "the app name {app_name:?} gives an empty file name"
        ));
    }
    if is_reserved_name(&slug) {
        return invalid(format!(
            "the app name {app_name:?} gives {slug:?}, a file name Windows reserves"
        ));
    }
    Ok(slug)
}

/// Python's `str.isprintable`, but for unassigned code points (which it
/// drops too): not a control, format, separator (other than the space),
/// surrogate or private-use character.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let format = matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    );
    let private_use = matches!(c, '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..='\u{10ffff}');
    !(c.is_control() || c.is_whitespace() || format || private_use)
}

/// The SDK's `con|prn|aux|nul|com\d|lpt\d`, matched whole.
fn is_reserved_name(slug: &str) -> bool {
    match slug.as_bytes() {
        b"con" | b"prn" | b"aux" | b"nul" => true,
        [b'c', b'o', b'm', d] | [b'l', b'p', b't', d] => d.is_ascii_digit(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::DEFAULT_NAMESPACE;
    use serde_json::{json, Value};
    use std::fs;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tower-gare-json-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn no_file_is_no_token_and_no_file_is_made() {
        let dir = temp_dir("nofile");
        let store = JsonFileTokenStore::new(dir.join("tokens.json"));
        assert!(store.get(DEFAULT_NAMESPACE, "rs").unwrap().is_none());
        assert!(store.get_all(DEFAULT_NAMESPACE).unwrap().is_empty());
        store.remove(DEFAULT_NAMESPACE, "rs").unwrap();
        store.put(DEFAULT_NAMESPACE, &[]).unwrap();
        assert!(!dir.exists());
        assert!(store.take_warnings().is_empty());
    }

    #[test]
    fn put_get_remove_by_namespace() {
        let dir = temp_dir("ops");
        let path = dir.join("tokens.json");
        let store = JsonFileTokenStore::new(&path);
        store
            .put(
                "alice",
                &[
                    Token::new("rs1", "a1", "s", None),
                    Token::new("rs2", "a2", "s", None),
                ],
            )
            .unwrap();
        store
            .put("bob", &[Token::new("rs1", "b1", "s", None)])
            .unwrap();
        store
            .put(
                "alice",
                &[Token::new("rs1", "a1'", "s", None).with_refresh_token("r")],
            )
            .unwrap();
        let alice = store.get_all("alice").unwrap();
        assert_eq!(
            alice.iter().map(Token::access_token).collect::<Vec<_>>(),
            ["a1'", "a2"]
        );
        assert_eq!(alice[0].refresh_token(), Some("r"));
        assert_eq!(
            store.get("bob", "rs1").unwrap().unwrap().access_token(),
            "b1"
        );
        store.remove("alice", "rs1").unwrap();
        assert!(store.get("alice", "rs1").unwrap().is_none());
        assert!(store.get("alice", "rs2").unwrap().is_some());
        assert!(store.get("bob", "rs1").unwrap().is_some());
        assert_eq!(names(&dir), ["tokens.json", "tokens.json.lock"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_put_keeps_its_tokens() {
        for (name, contents) in [
            ("notjson", &b"{ not json"[..]),
            ("shape", br#"{"format_version": "2.0", "data": []}"#),
            ("no version", br#"{"data": {}}"#),
            // (An unknown format_version is not corrupt: it is refused and
            // left as it is, see tests/all/token_file_safety.rs.)
            ("empty", b""),
        ] {
            let dir = temp_dir(&format!("corrupt-{name}"));
            fs::create_dir_all(&dir).unwrap();
            let path = dir.join("tokens.json");
            fs::write(&path, contents).unwrap();
            let store = JsonFileTokenStore::new(&path);
            store
                .put(DEFAULT_NAMESPACE, &[Token::new("rs", "new", "s", None)])
                .unwrap();
            assert_eq!(
                store
                    .get(DEFAULT_NAMESPACE, "rs")
                    .unwrap()
                    .unwrap()
                    .access_token(),
                "new",
                "{name}: the put after a corrupt file keeps its token"
            );
            let warnings = store.take_warnings();
            let [StoreWarning::MovedAside {
                moved_to,
                path: p,
                reason,
            }] = &warnings[..]
            else {
                panic!("{name}: one warning: {warnings:?}");
            };
            assert_eq!(p, &path);
            assert_eq!(
                fs::read(moved_to).unwrap(),
                contents,
                "{name}: nothing lost"
            );
            let text = warnings[0].to_string();
            assert!(text.contains(&moved_to.display().to_string()), "{text}");
            assert!(!reason.is_empty());
            assert!(store.take_warnings().is_empty(), "taken once");
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_corrupt_file_met_by_get_is_moved_aside_too() {
        let dir = temp_dir("corrupt-get");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.json");
        fs::write(&path, b"[1, 2]").unwrap();
        let store = JsonFileTokenStore::new(&path);
        assert!(store.get(DEFAULT_NAMESPACE, "rs").unwrap().is_none());
        assert!(!path.exists());
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0]
            .to_string()
            .contains("the root is not a JSON object"));
        let moved: Vec<_> = names(&dir)
            .into_iter()
            .filter(|n| n.starts_with("tokens.json.corrupt-"))
            .collect();
        assert_eq!(moved.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_entry_is_skipped_once_warned_and_kept() {
        let dir = temp_dir("entry");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.json");
        let file = json!({"format_version": "2.0", "globus-sdk.version": "4.10.0", "data": {"DEFAULT": {
            "bad": {"resource_server": "bad", "scope": 1, "access_token": "x", "expires_at_seconds": 1},
            "good": {"resource_server": "good", "scope": "s", "access_token": "g", "expires_at_seconds": 1}}}});
        fs::write(&path, file.to_string()).unwrap();
        let store = JsonFileTokenStore::new(&path);
        assert!(store.get(DEFAULT_NAMESPACE, "bad").unwrap().is_none());
        assert_eq!(store.get_all(DEFAULT_NAMESPACE).unwrap().len(), 1);
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "reported once: {warnings:?}");
        assert!(warnings[0].to_string().contains("'scope' must be a string"));
        store
            .put(DEFAULT_NAMESPACE, &[Token::new("other", "o", "s", None)])
            .unwrap();
        let written: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            written["data"]["DEFAULT"]["bad"],
            file["data"]["DEFAULT"]["bad"]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_namespaces_fields_and_keys_are_kept() {
        let dir = temp_dir("unknown");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.json");
        let theirs = json!({"rs": {"resource_server": "rs", "scope": "s", "access_token": "t",
            "expires_at_seconds": 7, "from_the_future": {"x": [1]}}});
        let file = json!({"format_version": "2.0", "globus-sdk.version": "4.99.0",
            "top_level_extra": true, "data": {"someone": theirs, "DEFAULT": {
                "rs": {"resource_server": "rs", "scope": "s", "access_token": "mine", "expires_at_seconds": 7,
                       "kept": "yes"}}}});
        fs::write(&path, file.to_string()).unwrap();
        let store = JsonFileTokenStore::new(&path);
        let mine = store.get(DEFAULT_NAMESPACE, "rs").unwrap().unwrap();
        assert_eq!(mine.extra["kept"], "yes");
        store
            .put(
                DEFAULT_NAMESPACE,
                &[mine, Token::new("rs2", "t2", "s", None)],
            )
            .unwrap();
        let written: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(written["data"]["someone"], theirs);
        assert_eq!(written["top_level_extra"], true);
        assert_eq!(written["globus-sdk.version"], "4.99.0");
        assert_eq!(written["data"]["DEFAULT"]["rs"]["kept"], "yes");
        assert_eq!(written["data"]["DEFAULT"]["rs2"]["access_token"], "t2");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn two_stores_on_one_file_from_many_threads_keep_every_token() {
        let dir = temp_dir("threads");
        let path = dir.join("tokens.json");
        const WRITERS: usize = 4;
        const PUTS: usize = 40;
        thread::scope(|scope| {
            for writer in 0..WRITERS {
                let path = &path;
                scope.spawn(move || {
                    // One store per thread: each its own lock file handle,
                    // as separate processes have.
                    let store = JsonFileTokenStore::new(path);
                    for i in 0..PUTS {
                        let rs = format!("w{writer}-{i}");
                        store
                            .put(DEFAULT_NAMESPACE, &[Token::new(rs, "t", "s", None)])
                            .unwrap();
                        assert!(store.take_warnings().is_empty());
                    }
                });
            }
        });
        let all = JsonFileTokenStore::new(&path)
            .get_all(DEFAULT_NAMESPACE)
            .unwrap();
        assert_eq!(all.len(), WRITERS * PUTS);
        assert_eq!(names(&dir), ["tokens.json", "tokens.json.lock"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Two processes (this test binary, run again as children) storing
    /// tokens in one file at the same time: every token of both is kept.
    #[test]
    fn two_processes_storing_at_once_keep_both() {
        const CHILD: &str = "TOWER_GARE_TEST_TOKEN_WRITER";
        const NAME: &str =
            "login::tokens::json_file::tests::two_processes_storing_at_once_keep_both";
        const PUTS: usize = 60;
        if let Some(spec) = std::env::var_os(CHILD) {
            let spec = spec.to_string_lossy().into_owned();
            let (who, path) = spec.split_once(':').unwrap();
            let store = JsonFileTokenStore::new(path);
            for i in 0..PUTS {
                store
                    .put(
                        DEFAULT_NAMESPACE,
                        &[Token::new(format!("{who}-{i}"), "t", "s", None)],
                    )
                    .unwrap();
            }
            return;
        }
        let dir = temp_dir("processes");
        let path = dir.join("tokens.json");
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = ["a", "b"]
            .iter()
            .map(|who| {
                std::process::Command::new(&exe)
                    .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
                    .env(CHILD, format!("{who}:{}", path.display()))
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "the child ran and passed:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let all = JsonFileTokenStore::new(&path)
            .get_all(DEFAULT_NAMESPACE)
            .unwrap();
        let mut expected: Vec<String> = ["a", "b"]
            .iter()
            .flat_map(|who| (0..PUTS).map(move |i| format!("{who}-{i}")))
            .collect();
        expected.sort();
        assert_eq!(
            all.iter()
                .map(|t| t.resource_server.clone())
                .collect::<Vec<_>>(),
            expected
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The file is 0600 and its folders 0700 whatever the umask of the
    /// process that writes them. A umask is process-wide, so the check runs
    /// in a child process of this test binary started by `sh` with
    /// `umask 022`.
    #[cfg(unix)]
    #[test]
    fn private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        const CHILD: &str = "TOWER_GARE_TEST_TOKEN_UMASK_CHILD";
        const NAME: &str = "login::tokens::json_file::tests::private_whatever_the_umask";
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        if std::env::var_os(CHILD).is_some() {
            let dir = temp_dir("umask");
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("probe"), b"").unwrap();
            assert_eq!(
                mode(&dir.join("probe")),
                0o644,
                "the child runs under umask 022"
            );
            let path = dir.join("app").join("name").join("tokens.json");
            let store = JsonFileTokenStore::new(&path);
            store
                .put(DEFAULT_NAMESPACE, &[Token::new("a", "t", "s", None)])
                .unwrap();
            let first = mode(&path);
            store
                .put(DEFAULT_NAMESPACE, &[Token::new("b", "t", "s", None)])
                .unwrap();
            let modes = [
                first,
                mode(&path),
                mode(&disk::beside(&path, ".lock")),
                mode(&dir.join("app")),
                mode(&dir.join("app").join("name")),
            ];
            fs::remove_dir_all(&dir).unwrap();
            assert_eq!(
                modes.map(|m| format!("{m:o}")),
                ["600", "600", "600", "700", "700"]
            );
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"umask 022 && exec "$0" "$@""#)
            .arg(&exe)
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the child ran the check and passed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn app_names_are_slugified_as_the_sdk_does() {
        for (name, slug) in [
            ("My App", "my-app"),
            ("a<b>c:d\"e/f\\g|h?i*j", "a+b+c+d+e+f+g+h+i+j"),
            ("a.b c", "a-b-c"),
            ("tab\there\u{0}\u{200b}", "tabhere"),
            ("ÉCOLE", "école"),
            ("com10", "com10"),
            ("console", "console"),
        ] {
            assert_eq!(slugify_app_name(name).unwrap(), slug, "{name:?}");
        }
        for name in ["", "\u{1}", "CON", "nul", "Com1", "lpt9", "aux"] {
            assert!(slugify_app_name(name).is_err(), "{name:?}");
        }
    }

    #[cfg(not(windows))]
    #[test]
    fn the_default_path_is_under_home() {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
        let Some(home) = home else { return };
        let path = JsonFileTokenStore::default_path_in("cid", "App", "preview").unwrap();
        assert_eq!(
            path,
            Path::new(&home).join(".globus/app/cid/app/preview-tokens.json")
        );
        let path = JsonFileTokenStore::default_path_in("cid", "App", "production").unwrap();
        assert_eq!(
            path,
            Path::new(&home).join(".globus/app/cid/app/tokens.json")
        );
    }
}
