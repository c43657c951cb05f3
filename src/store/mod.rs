//! Persistent key-value state every capability stores through: sessions, OIDC codes,
//! refresh tokens, revocations, counters.
//!
//! Two backends pass one conformance suite: `redb` (embedded, durable; the default)
//! and Redis (standalone, Sentinel or Cluster; for several gateway instances).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

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

/// Opens the configured store (stand-in until the backends land).
pub async fn open(_config: &crate::config::StoreConfig, _data_dir: &std::path::Path) -> Result<SharedStore, StoreError> {
    Err(StoreError::Config("no store backend yet".into()))
}
