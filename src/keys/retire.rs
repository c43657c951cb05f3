//! Retirement: how long a retired key stays published, and removing it for good.
//!
//! A rotated key stops signing at once but must keep verifying (and stay in the JWKS)
//! while any token it signed may still be presented: `retired_at + keep`, where `keep` is
//! the longest lifetime of anything the gateway signs plus a clock-skew margin. This room
//! does not know the configuration; the caller computes `keep`.

use std::fmt;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::lock::DirLock;
use super::store::{entry_info, io_error, read_index, write_index};
use super::{KeyError, KeyInfo, SigningKeys, INDEX_FILE_NAME};

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs (and verifies).
    Current,
    /// No longer signs; still published and verifying until `retired_at + keep`.
    Retired,
    /// Past `retired_at + keep`: every token it signed has expired; pruning removes it.
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Current => "current",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl KeyInfo {
    /// Until when a retired key stays published and verifying; `None` for a current key.
    pub fn published_until(&self, keep: Duration) -> Option<SystemTime> {
        self.retired_at.map(|retired| retired + keep)
    }

    /// The key's state at `now` when retired keys are kept for `keep`.
    pub fn state(&self, keep: Duration, now: SystemTime) -> KeyState {
        match self.published_until(keep) {
            None => KeyState::Current,
            Some(until) if until <= now => KeyState::Expired,
            Some(_) => KeyState::Retired,
        }
    }
}

impl SigningKeys {
    /// The loaded keys that are past `retired_at + keep` at `now` (what [`prune`] would remove).
    pub fn expired(&self, keep: Duration, now: SystemTime) -> Vec<KeyInfo> {
        self.key_infos()
            .into_iter()
            .filter(|k| k.state(keep, now) == KeyState::Expired)
            .collect()
    }
}

/// Removes from `dir` every retired key past `retired_at + keep` at `now`: first from the
/// index (atomically), then its PEM file. Current keys are never removed. Idempotent, and
/// safe against other processes sharing the directory (it holds the directory lock).
/// Returns the keys removed. A directory that does not exist has nothing to prune.
pub fn prune(dir: &Path, keep: Duration, now: SystemTime) -> Result<Vec<KeyInfo>, KeyError> {
    if !dir.join(INDEX_FILE_NAME).exists() {
        return Ok(Vec::new());
    }
    let _lock = DirLock::acquire(dir)?;
    let mut index = read_index(dir)?;
    let mut expired = Vec::new();
    let mut kept = Vec::with_capacity(index.keys.len());
    for (position, entry) in index.keys.into_iter().enumerate() {
        let info = entry_info(dir, position, &entry)?;
        if info.state(keep, now) == KeyState::Expired {
            expired.push(info);
        } else {
            kept.push(entry);
        }
    }
    index.keys = kept;
    if expired.is_empty() {
        return Ok(expired);
    }
    write_index(dir, &index)?;
    for key in &expired {
        match fs::remove_file(&key.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&key.path)(e)),
        }
    }
    Ok(expired)
}
