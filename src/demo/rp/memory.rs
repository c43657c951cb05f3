//! What the demo relying party remembers, in memory only: logins in progress (state →
//! nonce and PKCE verifier) and signed-in browsers (cookie → tokens and claims). Both are
//! bounded and expire, so a flood of `/login` requests cannot grow memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A login sent to the provider and not yet back.
pub struct PendingLogin {
    pub nonce: String,
    pub verifier: String,
}

/// A browser signed in to the demo app.
#[derive(Clone)]
pub struct SignedIn {
    pub id_token: String,
    pub claims: Value,
    pub userinfo: Value,
}

impl SignedIn {
    /// The provider's session id, which back-channel logout tokens name.
    pub fn sid(&self) -> Option<&str> {
        self.claims.get("sid").and_then(Value::as_str)
    }

    pub fn sub(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }
}

/// A map whose entries expire after `ttl` and which never holds more than `capacity`
/// (the oldest entry makes room).
pub struct Expiring<V> {
    entries: HashMap<String, (Instant, V)>,
    capacity: usize,
    ttl: Duration,
}

impl<V> Expiring<V> {
    pub fn new(capacity: usize, ttl: Duration) -> Expiring<V> {
        Expiring {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    pub fn insert(&mut self, key: String, value: V) {
        let now = Instant::now();
        if self.entries.len() >= self.capacity {
            let ttl = self.ttl;
            self.entries
                .retain(|_, (at, _)| now.duration_since(*at) < ttl);
        }
        if self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (now, value));
    }

    /// Removes and returns the live entry under `key` (single use).
    pub fn take(&mut self, key: &str) -> Option<V> {
        let (at, value) = self.entries.remove(key)?;
        (at.elapsed() < self.ttl).then_some(value)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let (at, value) = self.entries.get(key)?;
        (at.elapsed() < self.ttl).then_some(value)
    }

    /// Drops every entry `doomed` says so of; returns how many went.
    pub fn remove_where(&mut self, doomed: impl Fn(&V) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, (_, value)| !doomed(value));
        before - self.entries.len()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The maps hold plain data: a panic elsewhere cannot leave them half-written.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_single_use_bounded_and_expire() {
        let mut map = Expiring::new(2, Duration::from_secs(60));
        map.insert("a".into(), 1);
        map.insert("b".into(), 2);
        map.insert("c".into(), 3);
        assert_eq!(map.len(), 2, "the oldest made room");
        assert_eq!(map.take("a"), None);
        assert_eq!(map.take("c"), Some(3));
        assert_eq!(map.take("c"), None, "single use");
        assert_eq!(map.remove_where(|v| *v == 2), 1);
        assert!(map.is_empty());

        let mut expired = Expiring::new(4, Duration::ZERO);
        expired.insert("x".into(), 1);
        assert_eq!(expired.get("x"), None);
        assert_eq!(expired.take("x"), None);
    }
}
