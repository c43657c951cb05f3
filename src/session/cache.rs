//! The per-instance session cache: a bounded map whose entries are trusted for at most
//! `cache_ttl`, so a logout elsewhere is seen within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Session;

/// A session as this instance last read or wrote it, with the exact stored bytes (the
/// expected value of the next compare-and-set).
#[derive(Clone)]
pub(crate) struct Cached {
    pub session: Session,
    pub stored: Vec<u8>,
}

struct Entry {
    cached: Cached,
    fetched: Instant,
}

pub(crate) struct SessionCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl SessionCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// The entry for `id` if it is younger than the cache TTL.
    pub fn get(&self, id: &str) -> Option<Cached> {
        if !self.enabled() {
            return None;
        }
        let entries = self.lock();
        let entry = entries.get(id)?;
        (entry.fetched.elapsed() < self.ttl).then(|| entry.cached.clone())
    }

    pub fn insert(&self, cached: Cached) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, entry| entry.fetched.elapsed() < ttl);
            if entries.len() >= self.capacity {
                // Still full of fresh entries: start over rather than track recency;
                // a miss costs one store read.
                entries.clear();
            }
        }
        let key = cached.session.id.as_str().to_string();
        let entry = Entry {
            cached,
            fetched: Instant::now(),
        };
        entries.insert(key, entry);
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Drops every cached session of the user (after "log out everywhere" here).
    pub fn remove_user(&self, user_key: &str) {
        self.lock().retain(|_, entry| {
            super::service::user_key(&entry.cached.session.identity.username) != user_key
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
