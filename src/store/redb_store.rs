//! Embedded durable store on a `redb` file: the default for one gateway instance.
//!
//! Every value is stored with an 8-byte big-endian expiry prefix (unix milliseconds,
//! 0 = never). Expired values are invisible on read and removed by [`RedbStore::sweep_expired`]
//! (run every sweep interval by a background thread). Every write commits with
//! `Durability::Immediate`, so an acknowledged write survives `kill -9`.
//!
//! redb is a blocking library and the gateway runs current_thread runtimes, so every
//! database call runs on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};

use super::{Store, StoreError};

/// The one table: caller key → expiry prefix ++ value.
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

/// Expired keys removed per write transaction by the sweeper, so no write waits long on it.
const SWEEP_BATCH: usize = 512;

/// How often the background sweeper removes expired values.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Bytes of the expiry prefix in front of every stored value.
const EXPIRY_LEN: usize = 8;

/// The embedded `redb` backend. Cheap to clone (shares one database handle).
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

impl RedbStore {
    /// Opens (or creates) the database file. A file held by another process gives
    /// `StoreError::Config` naming the file.
    /// Starts a background sweeper removing expired values every `DEFAULT_SWEEP_INTERVAL`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_sweep_interval(path, DEFAULT_SWEEP_INTERVAL).await
    }

    /// Like [`Self::open`], sweeping expired values every `sweep_interval`.
    ///
    /// The sweeper is a plain thread (redb is blocking, and it must not depend on which
    /// runtime opened the store); it stops by itself once the store is dropped.
    pub async fn open_with_sweep_interval(
        path: &Path,
        sweep_interval: Duration,
    ) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let opened = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || Database::create(&path))
                .await
                .map_err(join_error)?
        };
        let db = opened.map_err(|e| open_error(&path, e))?;
        let store = RedbStore {
            db: Arc::new(db),
            path: Arc::new(path),
        };
        store.blocking(create_table).await?;
        start_sweeper(Arc::downgrade(&store.db), sweep_interval)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes every expired value now, in short write transactions of at most
    /// `SWEEP_BATCH` keys each. Returns how many were removed. The background sweeper
    /// does this every sweep interval; tests and maintenance tools call it directly.
    pub async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.blocking(sweep).await
    }

    /// How many records the file holds, expired ones not yet swept included (for metrics).
    pub async fn stored_entries(&self) -> Result<u64, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(ENTRIES)?;
            Ok(table.len()?)
        })
        .await
    }

    /// Runs `work` against the database on the blocking pool.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(join_error)?
            .map_err(|e| StoreError::Backend(format!("redb: {e}")))
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(ENTRIES)?;
            let stored = table.get(key.as_str())?;
            Ok(stored.and_then(|v| live_value(v.value(), now_millis()).map(<[u8]>::to_vec)))
        })
        .await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let key = key.to_owned();
        let record = encode(expiry_millis(ttl), value);
        self.blocking(move |db| {
            write(db, |table| {
                table.insert(key.as_str(), record.as_slice())?;
                Ok(())
            })
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.take(key).await.map(|taken| taken.is_some())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            write(db, |table| {
                let removed = table.remove(key.as_str())?;
                Ok(removed.and_then(|v| live_value(v.value(), now_millis()).map(<[u8]>::to_vec)))
            })
        })
        .await
    }

    async fn increment(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, StoreError> {
        let key = key.to_owned();
        let outcome = self
            .blocking(move |db| {
                write(db, |table| {
                    let now = now_millis();
                    let current = table.get(key.as_str())?.and_then(|v| {
                        let record = v.value();
                        live_value(record, now).map(|value| (expiry_of(record), value.to_vec()))
                    });
                    let (expiry, previous) = match current {
                        Some((expiry, value)) => match parse_counter(&value) {
                            Some(n) => (expiry, n),
                            None => {
                                return Ok(Err(format!(
                                    "value at {key:?} is not an integer counter"
                                )))
                            }
                        },
                        None => (expiry_millis(Some(ttl)), 0),
                    };
                    let Some(next) = previous.checked_add(by) else {
                        return Ok(Err(format!("counter at {key:?} would overflow")));
                    };
                    let record = encode(expiry, next.to_string().as_bytes());
                    table.insert(key.as_str(), record.as_slice())?;
                    Ok(Ok(next))
                })
            })
            .await?;
        outcome.map_err(StoreError::Backend)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        let expected = expected.map(<[u8]>::to_vec);
        let new_record = new.map(|value| encode(expiry_millis(ttl), value));
        self.blocking(move |db| {
            write(db, |table| {
                let matches = {
                    let stored = table.get(key.as_str())?;
                    let current = stored
                        .as_ref()
                        .and_then(|v| live_value(v.value(), now_millis()));
                    current == expected.as_deref()
                };
                if !matches {
                    return Ok(false);
                }
                match &new_record {
                    Some(record) => table.insert(key.as_str(), record.as_slice()).map(drop)?,
                    None => table.remove(key.as_str()).map(drop)?,
                }
                Ok(true)
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read()?;
            txn.open_table(ENTRIES)?;
            Ok(())
        })
        .await
    }

    fn backend_name(&self) -> &'static str {
        "redb"
    }
}

/// Runs `body` in one write transaction and commits it durably; the transaction is
/// dropped (aborted) if `body` fails.
fn write<T>(
    db: &Database,
    body: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<T, redb::Error>,
) -> Result<T, redb::Error> {
    let txn = db.begin_write()?;
    let result = {
        let mut table = txn.open_table(ENTRIES)?;
        body(&mut table)?
    };
    txn.commit()?;
    Ok(result)
}

fn create_table(db: &Database) -> Result<(), redb::Error> {
    write(db, |_| Ok(()))
}

/// Sweeps `db` every `interval` until the database is dropped.
fn start_sweeper(db: Weak<Database>, interval: Duration) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("govgate-store-sweep".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            let Some(db) = db.upgrade() else { return };
            match sweep(&db) {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "removed expired store entries"),
                Err(e) => {
                    tracing::warn!(error = %e, "store sweep failed; retrying at the next interval")
                }
            }
        })
        .map(drop)
        .map_err(|e| StoreError::Backend(format!("cannot start the store sweeper thread: {e}")))
}

/// Removes every expired value, batch by batch, each batch in its own short write transaction.
fn sweep(db: &Database) -> Result<usize, redb::Error> {
    let mut removed = 0;
    let mut resume_after: Option<String> = None;
    loop {
        let expired = find_expired(db, resume_after.as_deref(), now_millis())?;
        if expired.is_empty() {
            return Ok(removed);
        }
        removed += remove_if_expired(db, &expired, now_millis())?;
        if expired.len() < SWEEP_BATCH {
            return Ok(removed);
        }
        resume_after = expired.last().cloned();
    }
}

/// Up to `SWEEP_BATCH` expired keys after `after` (exclusive), in key order.
fn find_expired(db: &Database, after: Option<&str>, now: u64) -> Result<Vec<String>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ENTRIES)?;
    let range = match after {
        Some(after) => {
            table.range::<&str>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))?
        }
        None => table.range::<&str>(..)?,
    };
    let mut expired = Vec::new();
    for entry in range {
        let (key, value) = entry?;
        if live_value(value.value(), now).is_none() {
            expired.push(key.value().to_owned());
            if expired.len() == SWEEP_BATCH {
                break;
            }
        }
    }
    Ok(expired)
}

/// Removes those of `keys` that are still expired (a writer may have renewed one since the scan).
fn remove_if_expired(db: &Database, keys: &[String], now: u64) -> Result<usize, redb::Error> {
    write(db, |table| {
        let mut removed = 0;
        for key in keys {
            let still_expired = match table.get(key.as_str())? {
                Some(v) => live_value(v.value(), now).is_none(),
                None => false,
            };
            if still_expired {
                table.remove(key.as_str())?;
                removed += 1;
            }
        }
        Ok(removed)
    })
}

fn encode(expiry: u64, value: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(EXPIRY_LEN + value.len());
    record.extend_from_slice(&expiry.to_be_bytes());
    record.extend_from_slice(value);
    record
}

/// The expiry prefix of a record (0 = never; a truncated record counts as expired long ago).
fn expiry_of(record: &[u8]) -> u64 {
    record
        .get(..EXPIRY_LEN)
        .and_then(|prefix| <[u8; EXPIRY_LEN]>::try_from(prefix).ok())
        .map_or(1, u64::from_be_bytes)
}

/// The value of a record, unless it has expired at `now` (or is malformed).
fn live_value(record: &[u8], now: u64) -> Option<&[u8]> {
    let expiry = expiry_of(record);
    if expiry != 0 && expiry <= now {
        return None;
    }
    record.get(EXPIRY_LEN..)
}

fn parse_counter(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Absolute expiry for a TTL; at least one millisecond in the future so a tiny TTL
/// still writes something (matching Redis, which rejects `PX 0`).
fn expiry_millis(ttl: Option<Duration>) -> u64 {
    match ttl {
        None => 0,
        Some(ttl) => {
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            now_millis().saturating_add(ttl_ms)
        }
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    match error {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Config(format!(
            "store file {} is locked by another process (is another gateway running with the same data dir?)",
            path.display()
        )),
        other => StoreError::Config(format!("cannot open store file {}: {other}", path.display())),
    }
}

fn join_error(error: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("store task failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_and_malformed_records_are_invisible() {
        assert_eq!(live_value(&encode(0, b"v"), 5), Some(&b"v"[..]));
        assert_eq!(live_value(&encode(10, b"v"), 5), Some(&b"v"[..]));
        assert_eq!(live_value(&encode(10, b"v"), 10), None);
        assert_eq!(live_value(b"short", 5), None);
        assert_eq!(live_value(&encode(0, b""), 5), Some(&b""[..]));
    }

    #[test]
    fn tiny_ttls_still_expire_in_the_future() {
        let before = now_millis();
        assert!(expiry_millis(Some(Duration::ZERO)) > before);
        assert_eq!(expiry_millis(None), 0);
    }
}
