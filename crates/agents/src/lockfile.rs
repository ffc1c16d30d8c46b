//! A lock between processes on one machine: an advisory lock (`flock`) on a file, held while
//! the value lives. The kernel releases it when its holder exits, however it exits, so there
//! is no stale lock to detect and no holder to identify (a pid in a file cannot tell a live
//! holder from a reused pid, or from a process in another PID namespace).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::Duration;

/// The pause between attempts to take a lock someone else holds.
const POLL: Duration = Duration::from_millis(20);

/// A held lock; dropping it releases it. The file stays (removing it would let a waiter lock
/// a file nobody else opens any more).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Takes the lock on `path` (created if missing), waiting while another holder has it.
    pub async fn take(path: &Path) -> std::io::Result<FileLock> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { _file: file }),
                Err(TryLockError::WouldBlock) => tokio::time::sleep(POLL).await,
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second taker waits while the first holds the lock and gets it once it is dropped.
    #[tokio::test]
    async fn a_second_taker_waits_for_the_first() {
        let dir = l9_test_support::temp_dir();
        let path = dir.path().join("x.lock");
        let first = FileLock::take(&path).await.unwrap();
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(200), FileLock::take(&path));
        assert!(waiting.await.is_err(), "taken while held");
        drop(first);
        let second =
            tokio::time::timeout(std::time::Duration::from_secs(5), FileLock::take(&path)).await;
        assert!(second.is_ok_and(|r| r.is_ok()), "not taken after release");
    }
}
