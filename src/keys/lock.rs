//! An advisory lock on the key directory, held by whoever changes it (first-start
//! generation, rotation, pruning), so that several gateway instances and the CLI sharing
//! one directory never write the index over each other's changes. Readers take no lock:
//! the index is replaced atomically and PEM files are written before the index names them.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::KeyError;

/// The lock file inside the key directory (hidden, so it is never taken for a key).
pub const LOCK_FILE_NAME: &str = ".keys.lock";

/// Holds the exclusive lock until dropped (closing the file releases it).
#[derive(Debug)]
pub(super) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Waits for the exclusive lock on `dir`. Fails (with the I/O error) where the
    /// directory cannot be written, e.g. a read-only mount.
    pub(super) fn acquire(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(LOCK_FILE_NAME);
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(Self { _file: file })
    }
}
