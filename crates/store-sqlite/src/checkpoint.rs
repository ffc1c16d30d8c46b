//! Background WAL checkpoints for the journal's hot path.
//!
//! A checkpoint copies the WAL's pages back into the database file and syncs both files.
//! Run automatically, it happens inside whichever commit crosses the WAL-size threshold,
//! and that one step waits for two `fsync`s (tens of milliseconds on small disks). Here
//! the journal writer's connection does not checkpoint on its own (beyond a high backstop)
//! and asks this thread instead, which runs `PRAGMA wal_checkpoint(PASSIVE)` on a
//! connection of its own: passive checkpoints never block the writer, so steps go on
//! while the pages are copied and synced on the other core.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Commits between two checkpoint requests (a few pages each).
pub(crate) const EVERY_COMMITS: usize = 1000;

/// WAL pages after which the writer's own connection checkpoints anyway (the thread fell
/// behind or is gone).
pub(crate) const BACKSTOP_PAGES: i64 = 32_768;

#[derive(Debug, Default)]
struct State {
    requested: bool,
    stop: bool,
}

/// The checkpoint thread; stopped and joined when dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread with its own connection to `path`. `None` when it cannot be
    /// started (the writer's backstop then does the work).
    pub(crate) fn start(path: &Path) -> Option<Checkpointer> {
        let conn = Connection::open(path).ok()?;
        // A checkpoint waits briefly for readers and the writer's commit, never long.
        conn.busy_timeout(Duration::from_millis(50)).ok()?;
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("l9-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &theirs))
            .ok()?;
        Some(Checkpointer { shared, thread: Some(thread) })
    }

    /// Asks for a checkpoint (requests made while one runs fold into the next).
    pub(crate) fn request(&self) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).requested = true;
        cv.notify_one();
    }
}

fn run(conn: &Connection, shared: &(Mutex<State>, Condvar)) {
    let (lock, cv) = shared;
    loop {
        let (requested, stop) = {
            let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !st.requested && !st.stop {
                st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            (std::mem::take(&mut st.requested), st.stop)
        };
        if requested {
            // Best effort: a busy or failed checkpoint is retried at the next request,
            // and the writer's backstop bounds the WAL meanwhile.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        if stop {
            return;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_requested_checkpoint_empties_the_wal_into_the_database() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("c.db");
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.execute("CREATE TABLE t (x INTEGER)", []).unwrap();
        for i in 0..50 {
            c.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        }
        // Everything is in the WAL; the database file holds only its first page.
        let size = || std::fs::metadata(&path).unwrap().len();
        assert_eq!(size(), 4096);
        let ck = Checkpointer::start(&path).unwrap();
        ck.request();
        drop(ck); // a request made before the stop is carried out
        assert!(size() > 4096, "the pages were copied back: {} bytes", size());
    }
}
