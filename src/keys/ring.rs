//! [`KeyRing`]: the key set in use, swappable at run time, so that a key rotated on disk (by
//! `govgate keys rotate` here, or by the operator on a shared key directory) is picked up by
//! every gateway instance without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use super::{KeyError, SigningKeys};

/// The signing keys of one gateway instance, re-readable from their directory.
pub struct KeyRing {
    dir: PathBuf,
    keys: ArcSwap<SigningKeys>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &*self.keys.load())
            .finish()
    }
}

impl KeyRing {
    /// Loads (or, on first start, generates) the keys in `dir`.
    pub fn open(dir: &Path) -> Result<Self, KeyError> {
        Ok(Self::new(SigningKeys::load_or_generate(dir)?))
    }

    /// A ring holding `keys`.
    pub fn new(keys: SigningKeys) -> Self {
        Self {
            dir: keys.dir().to_path_buf(),
            keys: ArcSwap::from_pointee(keys),
        }
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key set in force (cheap; hold it only for the duration of one operation).
    pub fn load(&self) -> Guard<Arc<SigningKeys>> {
        self.keys.load()
    }

    /// The key set in force, as an owned handle.
    pub fn current(&self) -> Arc<SigningKeys> {
        self.keys.load_full()
    }

    /// Re-reads the key directory; swaps the new set in when its keys differ. A damaged
    /// directory is reported and the keys in force stay. Returns whether anything changed.
    pub fn reload(&self) -> Result<bool, KeyError> {
        let fresh = SigningKeys::load_or_generate(&self.dir)?;
        if fresh.key_infos() == self.keys.load().key_infos() {
            return Ok(false);
        }
        self.keys.store(Arc::new(fresh));
        Ok(true)
    }

    /// Swaps in a key set produced here (after a rotation).
    pub fn replace(&self, keys: SigningKeys) {
        self.keys.store(Arc::new(keys));
    }
}
