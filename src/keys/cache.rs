//! Reuse of assertions per (session, app): a proxied request then costs a map lookup
//! instead of an RSA signature. An entry is reused until half the assertion's lifetime
//! has passed, so an app always receives at least half a lifetime of validity.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use http::HeaderValue;

use super::{AssertionIssuer, KeyError};
use crate::identity::Identity;

/// Independent locks, so that the per-core runtimes rarely wait on each other.
const SHARDS: usize = 16;

struct CachedAssertion {
    app_id: Box<str>,
    /// The identity it was minted for: a changed identity gets a fresh assertion.
    identity: Identity,
    header: HeaderValue,
    refresh_at: Instant,
}

/// Assertions of one session, one per app it visited (usually a handful).
type SessionEntries = Vec<CachedAssertion>;
/// Session id to its assertions.
type Shard = HashMap<Box<str>, SessionEntries>;

/// A bounded cache of assertions in front of an [`AssertionIssuer`].
pub struct AssertionCache {
    issuer: AssertionIssuer,
    shards: Box<[Mutex<Shard>]>,
    sessions_per_shard: usize,
}

impl AssertionCache {
    /// `capacity` bounds the number of sessions kept (rounded up to a multiple of 16).
    pub fn new(issuer: AssertionIssuer, capacity: usize) -> Self {
        let sessions_per_shard = capacity.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        Self {
            issuer,
            shards,
            sessions_per_shard,
        }
    }

    pub fn issuer(&self) -> &AssertionIssuer {
        &self.issuer
    }

    /// The `X-Govgate-Assertion` value for `identity` of session `session_id` visiting
    /// `app_id`: a cached one while it is fresh, otherwise a newly minted one.
    pub fn assertion(
        &self,
        session_id: &str,
        app_id: &str,
        identity: &Identity,
    ) -> Result<HeaderValue, KeyError> {
        let now = Instant::now();
        if let Some(header) = self.lookup(session_id, app_id, identity, now) {
            return Ok(header);
        }
        // Sign outside the lock; two racing requests may both mint, which is harmless.
        let token = self.issuer.mint(app_id, identity)?;
        let header = HeaderValue::try_from(token)
            .map_err(|_| KeyError::Sign("token is not a valid header value".into()))?;
        self.store(session_id, app_id, identity, header.clone(), now);
        Ok(header)
    }

    /// Drops a session's assertions (on logout, so no later request reuses them).
    pub fn forget_session(&self, session_id: &str) {
        self.shard(session_id).remove(session_id);
    }

    /// Number of sessions with cached assertions.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lookup(
        &self,
        session_id: &str,
        app_id: &str,
        identity: &Identity,
        now: Instant,
    ) -> Option<HeaderValue> {
        let shard = self.shard(session_id);
        let cached = shard
            .get(session_id)?
            .iter()
            .find(|c| &*c.app_id == app_id)?;
        (now < cached.refresh_at && cached.identity == *identity).then(|| cached.header.clone())
    }

    fn store(
        &self,
        session_id: &str,
        app_id: &str,
        identity: &Identity,
        header: HeaderValue,
        minted_at: Instant,
    ) {
        let refresh_at = minted_at + self.issuer.lifetime() / 2;
        let mut shard = self.shard(session_id);
        if !shard.contains_key(session_id) && shard.len() >= self.sessions_per_shard {
            make_room(&mut shard, minted_at, self.sessions_per_shard);
        }
        let entries = shard.entry(session_id.into()).or_default();
        entries.retain(|c| &*c.app_id != app_id && c.refresh_at > minted_at);
        entries.push(CachedAssertion {
            app_id: app_id.into(),
            identity: identity.clone(),
            header,
            refresh_at,
        });
    }

    fn shard(&self, session_id: &str) -> MutexGuard<'_, Shard> {
        let mut hasher = DefaultHasher::new();
        session_id.hash(&mut hasher);
        // The modulo keeps the index below SHARDS, so the cast cannot truncate meaningfully.
        lock(&self.shards[(hasher.finish() % SHARDS as u64) as usize])
    }
}

/// Evicts sessions whose assertions are all stale; if that frees nothing, evicts one
/// arbitrary session (cheap, and a miss only costs one signature).
fn make_room(shard: &mut Shard, now: Instant, capacity: usize) {
    shard.retain(|_, entries| entries.iter().any(|c| c.refresh_at > now));
    if shard.len() < capacity {
        return;
    }
    let Some(victim) = shard.keys().next().cloned() else {
        return;
    };
    shard.remove(&victim);
}

/// A poisoned shard only means another thread panicked mid-update of a cache: the map is
/// still structurally sound, so keep using it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
