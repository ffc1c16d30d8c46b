//! Whether the last process to use the database ended without closing it, and what that
//! means for opening it now. Each open store holds an advisory lock (`flock`) on a file of
//! its own in `<database>.holders/`; the kernel releases it when the process ends, however it
//! ends, and a store closed normally removes its file. A file nobody holds is a process that
//! died with the database open: the next open runs `PRAGMA quick_check`, and a database that
//! fails it is marked (`<database>.damaged`, with the reason) and refused until `l9 db check`
//! finds it sound again; `l9 db salvage` reads what it can meanwhile. A store that met a
//! damaged-database error while it was open runs the same check before its next write and
//! when it closes ([`WriteGate`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use l9_store::{Fault, Result, StoreError};

/// This store's file in the holders' directory, locked while the store is open.
#[derive(Debug)]
pub(crate) struct Holder {
    path: PathBuf,
    _file: File,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn holders_dir(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".holders");
    db.with_file_name(name)
}

/// Where a database that failed its check is marked.
pub(crate) fn damaged_mark(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    db.with_file_name(name)
}

/// Refuses a database marked damaged.
pub(crate) fn refuse_if_marked(db: &Path) -> Result<()> {
    match std::fs::read_to_string(damaged_mark(db)) {
        Ok(why) => Err(StoreError::Environment {
            fault: Fault::Corrupt,
            detail: format!(
                "{} failed its integrity check ({}); nothing is written to it until `l9 db check` finds it sound",
                db.display(),
                why.trim()
            ),
        }),
        Err(_) => Ok(()),
    }
}

/// Registers this open of `db`. Returns the holder (`None` where the directory cannot be
/// written: a read-only location is not an error here) and whether a process died with the
/// database open since the last check.
pub(crate) fn register(db: &Path) -> (Option<Holder>, bool) {
    let dir = holders_dir(db);
    // One level only: a database whose directory does not exist is the open's error to
    // report, not a directory to make here.
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(_) => return (None, false),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut unclean = false;
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        // A name starting with a dot is a file not yet locked by its maker (see below).
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(f) = OpenOptions::new().write(true).open(entry.path()) else { continue };
        match f.try_lock() {
            Ok(()) => {
                unclean = true;
                let _ = std::fs::remove_file(entry.path());
            }
            Err(TryLockError::WouldBlock) | Err(TryLockError::Error(_)) => {}
        }
    }
    (claim(&dir), unclean)
}

/// A file of this store's own in `dir`, locked: made under a dot name, locked, then renamed,
/// so another process's scan never finds it unlocked.
fn claim(dir: &Path) -> Option<Holder> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{pid}-{n}");
        let tmp = dir.join(format!(".{name}"));
        let mut open = OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        let file = match open.open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => return None,
        };
        if file.lock().is_err() {
            let _ = std::fs::remove_file(&tmp);
            return None;
        }
        let path = dir.join(&name);
        if path.exists() || std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
            continue;
        }
        return Some(Holder { path, _file: file });
    }
    None
}

/// After an unclean shutdown: SQLite's `quick_check`; a database that fails it is marked
/// and refused.
pub(crate) fn check_after_crash(db: &Path) -> Result<()> {
    check(db, "after an unclean shutdown")
}

/// SQLite's `quick_check` of `db`; one that fails is marked (with `when` and what failed)
/// and refused.
fn check(db: &Path, when: &str) -> Result<()> {
    use rusqlite::{Connection, OpenFlags};
    let conn = match Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(c) => c,
        // Not there yet (a first open) or not openable: the open itself says why.
        Err(_) => return Ok(()),
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(30));
    let problems: Vec<String> = match conn.prepare("PRAGMA quick_check(20)").and_then(|mut s| {
        s.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<String>>>()
    }) {
        Ok(rows) => rows.into_iter().filter(|r| r != "ok").collect(),
        Err(e) => vec![e.to_string()],
    };
    if problems.is_empty() {
        return Ok(());
    }
    let why = format!("{when}: {}", problems.join("; "));
    let _ = std::fs::write(damaged_mark(db), format!("{why}\n"));
    refuse_if_marked(db)
}

/// Stops a store's writes once SQLite has reported damage: before each write, and when the
/// store closes, if the process met a damaged-database error (`CORRUPTION_SEEN`) since the
/// file was last found sound, `quick_check` it then; a file that fails is marked and this and
/// every later write is refused (until `l9 db check` finds it sound and removes the mark),
/// so a long-running worker does not go on writing into it.
#[derive(Debug)]
pub(crate) struct WriteGate {
    db: PathBuf,
    /// `CORRUPTION_SEEN` when the file was last found sound (or the store opened).
    checked: AtomicU64,
}

impl WriteGate {
    pub(crate) fn new(db: &Path) -> Self {
        let seen = crate::codec::CORRUPTION_SEEN.load(Ordering::Relaxed);
        WriteGate { db: db.to_path_buf(), checked: AtomicU64::new(seen) }
    }

    /// The count to check up to, when there is anything to check.
    fn due(&self) -> Option<u64> {
        let seen = crate::codec::CORRUPTION_SEEN.load(Ordering::Relaxed);
        (seen > self.checked.load(Ordering::Relaxed)).then_some(seen)
    }

    /// `Ok` when writing may go on: two atomic loads while nothing was reported damaged.
    pub(crate) async fn open(&self) -> Result<()> {
        let Some(seen) = self.due() else { return Ok(()) };
        // Marked already (by this gate or by anyone): refused without checking again.
        refuse_if_marked(&self.db)?;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || check(&db, "after SQLite reported damage"))
            .await
            .map_err(|e| StoreError::Unavailable(format!("the integrity check stopped: {e}")))??;
        self.checked.fetch_max(seen, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for WriteGate {
    /// SQLite said "damaged" since the last check and no write came to check it: check as
    /// the store closes, so the next command is refused.
    fn drop(&mut self) {
        if self.due().is_some() && refuse_if_marked(&self.db).is_ok() {
            let _ = check(&self.db, "after SQLite reported damage");
        }
    }
}

/// `l9 db check` found the database sound: the mark goes.
pub(crate) fn clear_mark(db: &Path) {
    let _ = std::fs::remove_file(damaged_mark(db));
}
