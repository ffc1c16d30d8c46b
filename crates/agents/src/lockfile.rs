//! A lock between processes on one machine: an advisory lock (`flock`) on a file, held while
//! the value lives. The kernel releases it when its holder exits, however it exits, so there
//! is no stale lock to detect and no holder to identify (a pid in a file cannot tell a live
//! holder from a reused pid, or from a process in another PID namespace).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The pause between attempts to take a lock someone else holds.
const POLL: Duration = Duration::from_millis(20);

/// A held lock; dropping it releases it. The file stays (removing it would let a waiter lock
/// a file nobody else opens any more).
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    _file: File,
}

impl FileLock {
    /// Takes the lock on `path` (created if missing), waiting while another holder has it.
    pub async fn take(path: &Path) -> std::io::Result<FileLock> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { path: path.to_path_buf(), _file: file }),
                Err(TryLockError::WouldBlock) => tokio::time::sleep(POLL).await,
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
