//! The file system under a token file: folders only their owner enters,
//! an advisory lock beside the file, writes that are whole or not at all,
//! and moving a bad file aside.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Why a [`JsonFileTokenStore`](crate::login::JsonFileTokenStore) refused
/// its token file, the file's lock (`tokens.json.lock`) or the folder that
/// holds them. It is the error inside the [`io::Error`] the store returns
/// (find it with [`io::Error::get_ref`] and `downcast_ref`); its text names
/// the path and says how to fix it, and never holds a token.
///
/// The rules are those OpenSSH keeps for its keys (`StrictModes`): a token
/// is as good as a password, so the store neither reads nor writes a file
/// that someone else could have put there or could change. On Unix the
/// folder must be owned by this user (or by root) and the file and lock by
/// this user, none of them writable by the group or others, and neither the
/// file nor the lock a symbolic link. Other systems check only the format.
///
/// ```
/// # #[cfg(unix)] {
/// use tower_gare::login::{JsonFileTokenStore, TokenFileError, TokenStore, DEFAULT_NAMESPACE};
///
/// let dir = std::env::temp_dir().join(format!("tower-gare-doc-refused-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// // Only its owner may write in it (whatever the umask): the folder passes.
/// std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
/// let path = dir.join("tokens.json");
/// std::os::unix::fs::symlink(dir.join("elsewhere.json"), &path)?;
///
/// let error = JsonFileTokenStore::new(&path).get(DEFAULT_NAMESPACE, "rs").unwrap_err();
/// assert!(error.to_string().contains(&path.display().to_string()));
/// let why = error.get_ref().and_then(|e| e.downcast_ref::<TokenFileError>());
/// assert!(matches!(why, Some(TokenFileError::SymbolicLink { .. })));
/// assert_eq!(why.unwrap().path(), path);
/// # std::fs::remove_dir_all(dir)?;
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenFileError {
    /// The token file or its lock is a symbolic link. It is never
    /// followed (it could point at another user's file) nor replaced (it
    /// may be yours, made on purpose).
    SymbolicLink {
        /// The link.
        path: PathBuf,
    },
    /// The token file or its lock is not a regular file (a folder, a
    /// FIFO, a device).
    NotAFile {
        /// What is there.
        path: PathBuf,
    },
    /// The file, its lock or their folder is owned by another user, who
    /// could have planted it or may change it.
    OtherOwner {
        /// The file or folder.
        path: PathBuf,
        /// Its owner's user id.
        owner: u32,
    },
    /// The file, its lock or their folder may be written by its group or
    /// by everyone (a folder that others may write lets them put files in
    /// it or rename them, the sticky bit notwithstanding).
    WritableByOthers {
        /// The file or folder.
        path: PathBuf,
        /// Its permission bits (`0o7777` of `st_mode`).
        mode: u32,
    },
    /// The token file names a `format_version` this crate does not know,
    /// likely written by a newer Python SDK. It is neither read, written
    /// over, nor moved aside: the program that wrote it still needs it.
    UnknownFormat {
        /// The token file.
        path: PathBuf,
        /// The version, as JSON (`"3.0"` with its quotes), or what kind of
        /// JSON value it is when it is not a string (it is never shown).
        format_version: String,
    },
}

impl TokenFileError {
    /// The file or folder refused.
    ///
    /// ```
    /// use tower_gare::login::TokenFileError;
    ///
    /// let error = TokenFileError::SymbolicLink { path: "/home/me/tokens.json".into() };
    /// assert_eq!(error.path(), std::path::Path::new("/home/me/tokens.json"));
    /// ```
    pub fn path(&self) -> &Path {
        match self {
            TokenFileError::SymbolicLink { path }
            | TokenFileError::NotAFile { path }
            | TokenFileError::OtherOwner { path, .. }
            | TokenFileError::WritableByOthers { path, .. }
            | TokenFileError::UnknownFormat { path, .. } => path,
        }
    }

    /// As an [`io::Error`]: `InvalidData` for a format not known,
    /// `PermissionDenied` for the rest.
    pub(super) fn into_io(self) -> io::Error {
        let kind = match self {
            TokenFileError::UnknownFormat { .. } => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::PermissionDenied,
        };
        io::Error::new(kind, self)
    }
}

impl std::fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenFileError::SymbolicLink { path } => write!(
                f,
                "{} is a symbolic link; token files and their locks are never followed: \
                 replace it with the file itself",
                path.display()
            ),
            TokenFileError::NotAFile { path } => write!(
                f,
                "{} is not a regular file; a token file and its lock must be",
                path.display()
            ),
            TokenFileError::OtherOwner { path, owner } => write!(
                f,
                "{} is owned by another user (uid {owner}); token files are used only in \
                 folders and files of their own user",
                path.display()
            ),
            TokenFileError::WritableByOthers { path, mode } => write!(
                f,
                "{} may be written by others (mode {mode:o}); token files are used only \
                 where no one else may write: chmod go-w {}",
                path.display(),
                path.display()
            ),
            TokenFileError::UnknownFormat {
                path,
                format_version,
            } => write!(
                f,
                "the token file {} has format_version {format_version}, which this version \
                 of tower-gare does not know (a newer Python SDK may have written it); it is \
                 left as it is, neither read nor written over",
                path.display()
            ),
        }
    }
}

impl std::error::Error for TokenFileError {}

/// An exclusive advisory lock (`flock` on Unix, `LockFileEx` on Windows),
/// held until dropped. It is taken on a file beside the token file, never
/// on the token file itself: that one is replaced by a rename, and a lock
/// on the file it replaced would guard nothing.
///
/// Every write of the token file (its temporary file, the rename, moving a
/// corrupt file aside) happens while holding this lock, so whoever holds it
/// knows no other store is writing: that is what makes removing a crash's
/// temporary files safe ([`remove_stale_temp_files`]).
#[derive(Debug)]
pub(super) struct Lock {
    // Closing the file releases the lock.
    _file: File,
}

impl Lock {
    /// Waits up to `timeout` for the lock at `path` (created 0600 if
    /// missing; a symbolic link, another user's file or one that others
    /// may write is refused). Each call opens the file anew, so two stores
    /// in one process exclude each other as two processes do.
    pub(super) fn acquire(path: &Path, timeout: Duration) -> io::Result<Lock> {
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        let file = open_checked(path, &mut options)?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(fs4::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(fs4::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "another process has held the lock {} for more than {} s",
                            path.display(),
                            timeout.as_secs()
                        ),
                    ))
                }
                Err(fs4::TryLockError::Error(e)) => return Err(e),
            }
        }
    }
}

/// The folder that holds `path`: its parent, or `.` for a bare file name.
pub(super) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Whether the folder `dir` exists, after checking that no one but its
/// owner (this user, or root) may put files in it or rename them: once it
/// is so, every path inside it that this store opens, renames or removes
/// is this user's to decide, and none can be swapped under the store.
///
/// A folder reached through a symbolic link is checked where the link
/// leads (`~/.globus` may well be a link to another disk); the token file
/// and its lock, in it, are never links.
pub(super) fn check_folder(dir: &Path) -> io::Result<bool> {
    match fs::metadata(dir) {
        Ok(meta) => {
            check_owner_and_mode(dir, &meta, true)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("the token file's folder {}: {e}", dir.display()),
        )),
    }
}

/// The token file at `path`, opened to read, or `None` when there is none.
/// A symbolic link is refused, not followed, and so is anything but a
/// regular file of this user that only this user may write. The checks are
/// made on the open file, so what is read is what was checked.
pub(super) fn open_to_read(path: &Path) -> io::Result<Option<File>> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    match open_checked(path, &mut options) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `path` with `options`, never through a symbolic link, and checks
/// the open file: a regular file of this user that no one else may write.
fn open_checked(path: &Path, options: &mut fs::OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A file created here is 0600 from its first moment. NOFOLLOW: a
        // link in the last component fails the open instead of leading
        // elsewhere. NONBLOCK: a FIFO planted there fails the check below
        // instead of hanging the open (it changes nothing for a file).
        options.mode(0o600).custom_flags(
            (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
        );
    }
    let file = match options.open(path) {
        Ok(file) => file,
        // ELOOP on Linux, EMLINK on FreeBSD, ...: whatever the errno, a
        // link there is why.
        Err(e) if is_symlink(path) => {
            let _ = e;
            return Err(TokenFileError::SymbolicLink {
                path: path.to_owned(),
            }
            .into_io());
        }
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("opening {}: {e}", path.display()),
            ))
        }
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(TokenFileError::NotAFile {
            path: path.to_owned(),
        }
        .into_io());
    }
    check_owner_and_mode(path, &meta, false)?;
    Ok(file)
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// OpenSSH's `StrictModes`: owned by this user (a folder may be root's
/// too), and writable by no one else.
#[cfg(unix)]
fn check_owner_and_mode(path: &Path, meta: &fs::Metadata, folder: bool) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let owner = meta.uid();
    if owner != me && !(folder && owner == 0) {
        return Err(TokenFileError::OtherOwner {
            path: path.to_owned(),
            owner,
        }
        .into_io());
    }
    if meta.mode() & 0o022 != 0 {
        return Err(TokenFileError::WritableByOthers {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
        }
        .into_io());
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_and_mode(_: &Path, _: &fs::Metadata, _: bool) -> io::Result<()> {
    // Windows: the folder's ACL (the user's profile) decides.
    Ok(())
}

/// Creates `dir` and its missing parents, each readable, writable and
/// enterable by its owner only (0700 on Unix, whatever the umask). Folders
/// that exist are left as they are.
pub(super) fn create_private_dirs(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dirs(parent)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => set_dir_private(dir),
        // Another process made it first: theirs stands.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets the folder just made to 0700 exactly (the umask may have taken
/// bits from the owner): on the open folder, so a folder swapped for a
/// link in between is refused, not followed.
#[cfg(unix)]
fn set_dir_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let folder = fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::DIRECTORY).bits() as i32)
        .open(dir)?;
    folder.set_permissions(fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn set_dir_private(_: &Path) -> io::Result<()> {
    // Windows: the folder's ACL (the user's profile) decides.
    Ok(())
}

/// Replaces the file at `path` with `contents`, whole: written to a new
/// file beside it (0600 from its creation), flushed to the disk, then
/// renamed over it. A reader sees the old file or the new one, never half
/// of either. A crash leaves at most a stray temporary file, which the
/// next holder of the lock removes ([`remove_stale_temp_files`]).
///
/// Callers hold the lock and have checked the folder. A symbolic link at
/// `path` is refused: the rename would replace the link itself, and a
/// link there was made by someone, on purpose or not.
pub(super) fn write_atomically(path: &Path, contents: &[u8], _lock: &Lock) -> io::Result<()> {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(io::Error::other)?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let temp = path.with_file_name(format!(".{}.{suffix}{TEMP_SUFFIX}", file_name(path)));
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(TokenFileError::SymbolicLink {
                path: path.to_owned(),
            }
            .into_io())
        }
        Ok(meta) if !meta.is_file() => {
            return Err(TokenFileError::NotAFile {
                path: path.to_owned(),
            }
            .into_io())
        }
        _ => {}
    }
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        // O_EXCL: never a file (or link) that is there already.
        options.write(true).create_new(true);
        let mut file = open_checked(&temp, &mut options)?;
        // Exactly 0600 whatever the umask took, on the open file: the
        // name could be another file by now, the handle cannot.
        set_file_private(&file)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        sync_dir(path);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The end of a temporary file's name: `.tokens.json.<16 hex digits>.tmp`.
const TEMP_SUFFIX: &str = ".tmp";

/// Removes the temporary files of the token file at `path` that a crash
/// left behind (they hold tokens). Only this crate's own names are
/// touched: `.<file name>.<16 lowercase hex digits>.tmp`. Temporary files
/// are written only while holding the lock, so while `_lock` is held none
/// is being written, and every one found is stale: no age or process id
/// to guess from. Best effort: a file that cannot be removed stays.
pub(super) fn remove_stale_temp_files(path: &Path, _lock: &Lock) {
    let prefix = format!(".{}.", file_name(path));
    let Ok(entries) = fs::read_dir(folder_of(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_temp = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
            .is_some_and(|hex| {
                hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            });
        if is_temp {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Renames the file at `path` to `<name>.corrupt-<unix seconds>` (with a
/// `-<n>` after it if that is taken), and says where it went.
pub(super) fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("{}.corrupt-{seconds}", file_name(path));
    let mut to = path.with_file_name(&base);
    let mut n = 0;
    // Callers hold the lock, so no other store renames in between.
    while fs::symlink_metadata(&to).is_ok() {
        n += 1;
        to = path.with_file_name(format!("{base}-{n}"));
    }
    fs::rename(path, &to)?;
    sync_dir(path);
    Ok(to)
}

/// `path` with `suffix` after its file name: `tokens.json` → `tokens.json.lock`.
pub(super) fn beside(path: &Path, suffix: &str) -> PathBuf {
    path.with_file_name(format!("{}{suffix}", file_name(path)))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(unix)]
fn set_file_private(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_file_private(_: &File) -> io::Result<()> {
    // Windows: the folder's ACL (the user's profile) decides.
    Ok(())
}

/// Makes a rename in the folder of `path` durable. Best effort: a rename
/// that happened is not undone because the folder could not be flushed.
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(folder_of(path)) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tower-gare-disk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_lock_waits_for_the_first() {
        let dir = temp_dir("lock");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.json.lock");
        let first = Lock::acquire(&path, Duration::from_secs(1)).unwrap();
        let err = Lock::acquire(&path, Duration::from_millis(30)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("tokens.json.lock"), "{err}");
        drop(first);
        Lock::acquire(&path, Duration::from_millis(30)).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn moving_aside_never_overwrites_an_earlier_one() {
        let dir = temp_dir("aside");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.json");
        fs::write(&path, b"one").unwrap();
        let first = move_aside(&path).unwrap();
        fs::write(&path, b"two").unwrap();
        let second = move_aside(&path).unwrap();
        assert_ne!(first, second);
        assert_eq!(fs::read(&first).unwrap(), b"one");
        assert_eq!(fs::read(&second).unwrap(), b"two");
        assert!(first
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("tokens.json.corrupt-"));
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_atomic_write_leaves_no_temporary_file() {
        let dir = temp_dir("atomic");
        create_private_dirs(&dir.join("a").join("b")).unwrap();
        let path = dir.join("a").join("b").join("tokens.json");
        // The lock lives outside the folder counted below.
        let lock = Lock::acquire(&dir.join("lock"), Duration::from_secs(1)).unwrap();
        write_atomically(&path, b"1", &lock).unwrap();
        write_atomically(&path, b"22", &lock).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"22");
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.join("a")), 0o700);
            assert_eq!(mode(&dir.join("a").join("b")), 0o700);
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
