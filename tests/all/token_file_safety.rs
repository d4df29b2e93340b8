//! The token file and its folder, treated as OpenSSH treats its keys
//! (issue 18, item 12): a symbolic link is never followed nor replaced; a
//! folder, file or lock that another user owns or may write is refused; a
//! file of a format this crate does not know is an error and is left as
//! it is; temporary files a crash left behind (holding tokens) are removed.
//! Each refusal is an `io::Error` that names the path and never holds a
//! token.
//!
//! "Another user" is made with `chown` to uid 65534 (`nobody`), which needs
//! root: run as another user, those checks print `SKIPPED` and the rest
//! runs.
#![cfg(all(unix, feature = "login"))]

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tower_gare::login::{JsonFileTokenStore, Token, TokenFileError, TokenStore, DEFAULT_NAMESPACE};

/// A token value that must never show in an error.
const SECRET: &str = "AgSECRETaccessTOKENvalue";

/// A fresh folder only its owner may enter (0700, as the store makes them).
fn private_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-gare-safety-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn token_file(access_token: &str) -> Vec<u8> {
    json!({"format_version": "2.0", "globus-sdk.version": "4.10.0", "data": {"DEFAULT": {
        "rs": {"resource_server": "rs", "scope": "s", "access_token": access_token,
               "refresh_token": access_token, "expires_at_seconds": 253_402_214_400_i64}}}})
    .to_string()
    .into_bytes()
}

fn write_private(path: &Path, contents: &[u8]) {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn token() -> Token {
    Token::new("rs", SECRET, "s", None).with_refresh_token(SECRET)
}

/// The store's refusal: an error whose text names `path` and holds no
/// token, and the `TokenFileError` inside it.
#[track_caller]
fn refused(result: io::Result<impl std::fmt::Debug>, path: &Path) -> TokenFileError {
    let error = result.expect_err("the store refuses");
    let text = format!("{error} / {error:?}");
    assert!(
        text.contains(&path.display().to_string()),
        "names {}: {text}",
        path.display()
    );
    assert!(!text.contains(SECRET), "no token in the error: {text}");
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<TokenFileError>())
        .unwrap_or_else(|| panic!("a TokenFileError inside: {error:?}"))
        .clone()
}

/// Another user than this one: 65534 (`nobody`), or 65533 for `nobody`.
fn another_user() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    match unsafe { libc::geteuid() } {
        65534 => 65533,
        _ => 65534,
    }
}

/// `chown path <another user>`, or `false` after a visible `SKIPPED` line
/// when this user may not give files away (not root).
fn give_away(path: &Path, test: &str) -> bool {
    let other = another_user();
    match std::os::unix::fs::chown(path, Some(other), Some(other)) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let _ = writeln!(
                io::stderr(),
                "SKIPPED {test}: only root may chown a file to another user ({e})"
            );
            false
        }
        Err(e) => panic!("chown {}: {e}", path.display()),
    }
}

#[test]
fn a_symlinked_token_file_is_refused_never_followed_nor_replaced() {
    let dir = private_dir("symlink");
    let elsewhere = dir.join("elsewhere.json");
    write_private(&elsewhere, &token_file(SECRET));
    let path = dir.join("tokens.json");
    symlink(&elsewhere, &path).unwrap();
    let store = JsonFileTokenStore::new(&path);

    let why = refused(store.get(DEFAULT_NAMESPACE, "rs"), &path);
    assert!(
        matches!(why, TokenFileError::SymbolicLink { .. }),
        "{why:?}"
    );
    refused(store.get_all(DEFAULT_NAMESPACE), &path);
    refused(store.put(DEFAULT_NAMESPACE, &[token()]), &path);
    refused(store.remove(DEFAULT_NAMESPACE, "rs"), &path);

    // Nothing was replaced, moved aside or written through the link.
    assert!(fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&elsewhere).unwrap(), token_file(SECRET));
    assert!(store.take_warnings().is_empty());

    // A link to nowhere: the store does not create the file it names.
    let nowhere = dir.join("nowhere.json");
    fs::remove_file(&path).unwrap();
    symlink(&nowhere, &path).unwrap();
    refused(store.put(DEFAULT_NAMESPACE, &[token()]), &path);
    assert!(!nowhere.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_symlinked_lock_file_is_refused_never_followed() {
    let dir = private_dir("symlink-lock");
    let path = dir.join("tokens.json");
    let lock = dir.join("tokens.json.lock");
    let target = dir.join("made-through-the-link");
    symlink(&target, &lock).unwrap();
    let store = JsonFileTokenStore::new(&path);
    let why = refused(store.put(DEFAULT_NAMESPACE, &[token()]), &lock);
    assert!(
        matches!(why, TokenFileError::SymbolicLink { .. }),
        "{why:?}"
    );
    assert!(!target.exists(), "the link was not followed");
    assert!(!path.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_owned_by_another_user_is_refused() {
    const TEST: &str = "a_folder_owned_by_another_user_is_refused";
    let dir = private_dir("other-folder");
    let path = dir.join("tokens.json");
    // Planted: a file that looks like ours, in a folder someone else owns.
    write_private(&path, &token_file(SECRET));
    if !give_away(&dir, TEST) {
        fs::remove_dir_all(&dir).unwrap();
        return;
    }
    let store = JsonFileTokenStore::new(&path);
    let why = refused(store.get(DEFAULT_NAMESPACE, "rs"), &dir);
    assert!(
        matches!(why, TokenFileError::OtherOwner { owner, .. } if owner == another_user()),
        "{why:?}"
    );
    refused(store.put(DEFAULT_NAMESPACE, &[token()]), &dir);
    refused(store.remove(DEFAULT_NAMESPACE, "rs"), &dir);
    assert_eq!(names(&dir), ["tokens.json"], "no lock made, nothing moved");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_token_file_or_lock_owned_by_another_user_is_refused() {
    const TEST: &str = "a_token_file_or_lock_owned_by_another_user_is_refused";
    let dir = private_dir("other-file");
    let path = dir.join("tokens.json");
    write_private(&path, &token_file(SECRET));
    if !give_away(&path, TEST) {
        fs::remove_dir_all(&dir).unwrap();
        return;
    }
    let store = JsonFileTokenStore::new(&path);
    let why = refused(store.get(DEFAULT_NAMESPACE, "rs"), &path);
    assert!(
        matches!(why, TokenFileError::OtherOwner { owner, .. } if owner == another_user()),
        "{why:?}"
    );
    refused(store.put(DEFAULT_NAMESPACE, &[token()]), &path);
    assert_eq!(
        fs::read(&path).unwrap(),
        token_file(SECRET),
        "left as it is"
    );

    // The lock: a planted one is refused before anything is read or written.
    fs::remove_file(&path).unwrap();
    let lock = dir.join("tokens.json.lock");
    write_private(&lock, b"");
    assert!(give_away(&lock, TEST));
    let why = refused(store.put(DEFAULT_NAMESPACE, &[token()]), &lock);
    assert!(matches!(why, TokenFileError::OtherOwner { .. }), "{why:?}");
    assert!(!path.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_file_or_lock_that_others_may_write_is_refused() {
    let dir = private_dir("writable");
    let path = dir.join("tokens.json");
    let lock = dir.join("tokens.json.lock");
    let store = JsonFileTokenStore::new(&path);
    let mode = |p: &Path, mode: u32| fs::set_permissions(p, fs::Permissions::from_mode(mode));

    for folder_mode in [0o770, 0o707, 0o1777] {
        mode(&dir, folder_mode).unwrap();
        let why = refused(store.put(DEFAULT_NAMESPACE, &[token()]), &dir);
        assert!(
            matches!(why, TokenFileError::WritableByOthers { mode, .. } if mode & 0o7777 == folder_mode),
            "{folder_mode:o}: {why:?}"
        );
        refused(store.get(DEFAULT_NAMESPACE, "rs"), &dir);
        assert!(names(&dir).is_empty(), "{folder_mode:o}: nothing made");
    }
    // Readable by others is not the question here: writable is.
    mode(&dir, 0o755).unwrap();
    store.put(DEFAULT_NAMESPACE, &[token()]).unwrap();

    mode(&path, 0o620).unwrap();
    let why = refused(store.get(DEFAULT_NAMESPACE, "rs"), &path);
    assert!(
        matches!(why, TokenFileError::WritableByOthers { mode: 0o620, .. }),
        "{why:?}"
    );
    refused(store.put(DEFAULT_NAMESPACE, &[token()]), &path);
    mode(&path, 0o600).unwrap();

    mode(&lock, 0o666).unwrap();
    let why = refused(store.put(DEFAULT_NAMESPACE, &[token()]), &lock);
    assert!(
        matches!(why, TokenFileError::WritableByOthers { mode: 0o666, .. }),
        "{why:?}"
    );
    mode(&lock, 0o600).unwrap();
    store.put(DEFAULT_NAMESPACE, &[token()]).unwrap();
    assert!(store.take_warnings().is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_of_an_unknown_format_version_is_an_error_and_left_as_it_is() {
    let dir = private_dir("newer");
    let path = dir.join("tokens.json");
    let newer = json!({"format_version": "3.0", "globus-sdk.version": "5.0.0",
        "data": {"DEFAULT": {"rs": {"access_token": SECRET}}}})
    .to_string();
    write_private(&path, newer.as_bytes());
    let store = JsonFileTokenStore::new(&path);

    let error = store.get(DEFAULT_NAMESPACE, "rs").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    let text = error.to_string();
    assert!(text.contains("format_version \"3.0\""), "{text}");
    let why = refused(Err::<(), _>(error), &path);
    assert_eq!(
        why,
        TokenFileError::UnknownFormat {
            path: path.clone(),
            format_version: "\"3.0\"".to_owned()
        }
    );
    refused(store.get_all(DEFAULT_NAMESPACE), &path);
    refused(store.put(DEFAULT_NAMESPACE, &[token()]), &path);
    refused(store.remove(DEFAULT_NAMESPACE, "rs"), &path);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        newer,
        "never written over"
    );
    assert_eq!(
        names(&dir),
        ["tokens.json", "tokens.json.lock"],
        "never moved aside"
    );
    assert!(store.take_warnings().is_empty());

    // A format_version that is not even a string may hold anything: it is
    // described, never shown.
    let odd = json!({"format_version": {"token": SECRET}, "data": {}}).to_string();
    write_private(&path, odd.as_bytes());
    let why = refused(store.put(DEFAULT_NAMESPACE, &[token()]), &path);
    assert!(
        matches!(why, TokenFileError::UnknownFormat { .. }),
        "{why:?}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), odd);
    fs::remove_dir_all(&dir).unwrap();
}

/// A crash between writing the temporary file and renaming it leaves the
/// temporary file, tokens and all. Temporary files are only written while
/// holding the lock, so the next store that holds it removes them; while
/// another holds the lock (a writer may be mid-write), none is touched.
#[test]
fn temporary_files_left_by_a_crash_are_removed_under_the_lock() {
    let dir = private_dir("stale");
    let path = dir.join("tokens.json");
    let stale = dir.join(".tokens.json.0123456789abcdef.tmp");
    write_private(&stale, &token_file(SECRET));
    // Not this crate's temporary files of this token file: kept.
    let others = [
        ".tokens.json.not-hex.tmp",
        ".other.json.0123456789abcdef.tmp",
        ".tokens.json.0123456789abcdef.tmp.keep",
    ];
    for other in others {
        write_private(&dir.join(other), b"x");
    }

    // Another process holds the lock: its temporary file is its own.
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("tokens.json.lock"))
        .unwrap();
    fs::set_permissions(
        dir.join("tokens.json.lock"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    let writer = std::thread::spawn({
        let path = path.clone();
        move || JsonFileTokenStore::new(path).put(DEFAULT_NAMESPACE, &[token()])
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(stale.exists(), "not touched while another holds the lock");
    assert!(!path.exists(), "the writer waits for the lock");
    drop(lock);
    writer.join().unwrap().unwrap();

    let mut expected = vec!["tokens.json", "tokens.json.lock"];
    expected.extend(others);
    expected.sort();
    assert_eq!(
        names(&dir),
        expected,
        "the stale one is gone, the rest kept"
    );
    // A reader removes nothing (it takes no lock), but nothing it reads is stale.
    let store = JsonFileTokenStore::new(&path);
    assert!(store.get(DEFAULT_NAMESPACE, "rs").unwrap().is_some());
    fs::remove_dir_all(&dir).unwrap();
}

/// A folder of root's is trusted, as OpenSSH trusts it (root may read
/// every file anyway): here `/`, read as whatever user runs the test.
#[test]
fn a_folder_of_roots_is_trusted() {
    use std::os::unix::fs::MetadataExt;
    let root = fs::metadata("/").unwrap();
    if root.uid() != 0 || root.mode() & 0o022 != 0 {
        let _ = writeln!(
            io::stderr(),
            "SKIPPED a_folder_of_roots_is_trusted: / is not root's, or others may write it"
        );
        return;
    }
    let name = format!("/tower-gare-no-such-tokens-{}.json", std::process::id());
    let store = JsonFileTokenStore::new(&name);
    assert!(store.get(DEFAULT_NAMESPACE, "rs").unwrap().is_none());
    assert!(store.get_all(DEFAULT_NAMESPACE).unwrap().is_empty());
    store.remove(DEFAULT_NAMESPACE, "rs").unwrap();
    assert!(!Path::new(&name).exists());
}
