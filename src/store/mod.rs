//! Persistent key-value state every capability stores through: sessions, OIDC codes,
//! refresh tokens, revocations, counters.
//!
//! Two backends pass one conformance suite: `redb` (embedded, durable; the default)
//! and Redis (standalone, Sentinel or Cluster; for several gateway instances).

mod redb_store;
mod redis_store;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{StoreBackend, StoreConfig};

pub use redb_store::{RedbStore, DEFAULT_SWEEP_INTERVAL};
pub use redis_store::RedisStore;

/// File name of the embedded store inside the data dir, unless `store.path` says otherwise.
pub const DEFAULT_REDB_FILE: &str = "govgate.redb";

/// What can go wrong talking to a store. Callers map `Unavailable` to 503 / `/readyz` failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Backend(String),
    #[error("invalid store configuration: {0}")]
    Config(String),
}

/// A key-value store with expiry and the atomic operations protocol code needs.
///
/// Keys are UTF-8 strings namespaced by the caller (`session:…`, `oidc:code:…`).
/// A `ttl` of `None` means the value does not expire.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a value, replacing any previous one.
    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError>;
    /// Removes a value; true if one was present.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// Atomically reads and removes a value: of two concurrent callers only one gets it
    /// (single-use authorization codes).
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Atomically adds `by` to an integer counter and returns the new value; a counter that
    /// did not exist starts at 0 and gets `ttl` (an existing counter keeps its expiry).
    async fn increment(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, StoreError>;
    /// Atomically replaces the value if the current one equals `expected` (`None` = absent).
    /// `new` of `None` deletes. Returns whether the swap happened.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;
    /// Checks the backend answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// `"redb"` or `"redis"`, for logs and `/readyz`.
    fn backend_name(&self) -> &'static str;
}

/// A shared handle to the configured store.
pub type SharedStore = Arc<dyn Store>;

/// Opens the configured backend: the redb file (default `<data_dir>/govgate.redb`,
/// creating its directory) or Redis. The redb backend sweeps expired values in the
/// background every [`DEFAULT_SWEEP_INTERVAL`].
pub async fn open(config: &StoreConfig, data_dir: &Path) -> Result<SharedStore, StoreError> {
    match config.backend {
        StoreBackend::Redb => {
            let path = config
                .path
                .clone()
                .unwrap_or_else(|| data_dir.join(DEFAULT_REDB_FILE));
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    StoreError::Config(format!(
                        "cannot create store directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            Ok(Arc::new(RedbStore::open(&path).await?))
        }
        StoreBackend::Redis => {
            let redis = config.redis.as_ref().ok_or_else(|| {
                StoreError::Config("store.backend = \"redis\" needs a [store.redis] section".into())
            })?;
            Ok(Arc::new(RedisStore::connect(redis).await?))
        }
    }
}
