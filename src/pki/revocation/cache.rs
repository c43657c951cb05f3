//! Downloaded CRLs kept in memory until their nextUpdate, within an entry count and a
//! byte budget. Only CRLs that were accepted for some certificate are stored, so a
//! forged CRL cannot sit in the cache. Concurrent checks that need the same URL fetch
//! it once: the first takes the URL's gate, the others wait on it and then find the
//! CRL in the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::crl::Crl;

struct Entry {
    crl: Arc<Crl>,
    /// Insertion order, for evicting the oldest first.
    sequence: u64,
}

#[derive(Default)]
struct Entries {
    by_url: HashMap<String, Entry>,
    bytes: usize,
    next_sequence: u64,
}

pub(crate) struct CrlCache {
    max_entries: usize,
    max_bytes: usize,
    entries: Mutex<Entries>,
    gates: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// A poisoned lock only means another check panicked; the map is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CrlCache {
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> CrlCache {
        CrlCache {
            max_entries,
            max_bytes,
            entries: Mutex::new(Entries::default()),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// The cached CRL of `url`, unless it is past its nextUpdate at `now`.
    pub(crate) fn get(&self, url: &str, now: SystemTime) -> Option<Arc<Crl>> {
        let mut entries = lock(&self.entries);
        let expired = match entries.by_url.get(url) {
            None => return None,
            Some(entry) if entry.crl.next_update >= now => return Some(entry.crl.clone()),
            Some(_) => true,
        };
        if expired {
            entries.remove(url);
        }
        None
    }

    pub(crate) fn insert(&self, url: &str, crl: Arc<Crl>) {
        let size = crl.size();
        if size > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let mut entries = lock(&self.entries);
        entries.remove(url);
        while entries.by_url.len() >= self.max_entries || entries.bytes + size > self.max_bytes {
            let oldest = entries
                .by_url
                .iter()
                .min_by_key(|(_, entry)| entry.sequence)
                .map(|(url, _)| url.clone());
            match oldest {
                Some(oldest) => entries.remove(&oldest),
                None => break,
            }
        }
        let sequence = entries.next_sequence;
        entries.next_sequence += 1;
        entries.bytes += size;
        entries
            .by_url
            .insert(url.to_string(), Entry { crl, sequence });
    }

    /// Runs `fetch` for `url` with no other thread fetching the same URL.
    pub(crate) fn gated<T>(&self, url: &str, fetch: impl FnOnce() -> T) -> T {
        let gate = lock(&self.gates)
            .entry(url.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(())))
            .clone();
        let result = {
            let _held = lock(&gate);
            fetch()
        };
        let mut gates = lock(&self.gates);
        // Two references: the map's and ours. Nobody else waits: drop the gate.
        if Arc::strong_count(&gate) == 2 {
            gates.remove(url);
        }
        result
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.entries).by_url.len()
    }
}

impl Entries {
    fn remove(&mut self, url: &str) {
        if let Some(entry) = self.by_url.remove(url) {
            self.bytes = self.bytes.saturating_sub(entry.crl.size());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rcgen::{
        CertificateParams, CertificateRevocationListParams, IsCa, Issuer, KeyIdMethod, KeyPair,
        SerialNumber,
    };
    use time::OffsetDateTime;

    use super::*;

    fn crl(next_update: SystemTime) -> Arc<Crl> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = Issuer::from_params(&params, &key);
        let crl = CertificateRevocationListParams {
            this_update: OffsetDateTime::from(next_update - Duration::from_secs(3600)),
            next_update: OffsetDateTime::from(next_update),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .unwrap();
        Arc::new(Crl::parse(crl.der().to_vec(), "test".into()).unwrap())
    }

    #[test]
    fn entries_expire_at_next_update_and_the_oldest_go_first() {
        let now = SystemTime::now();
        let cache = CrlCache::new(2, 1 << 20);
        cache.insert("a", crl(now + Duration::from_secs(60)));
        assert!(cache.get("a", now).is_some());
        assert!(cache.get("a", now + Duration::from_secs(61)).is_none());
        assert_eq!(cache.len(), 0, "an expired entry is dropped");
        for url in ["a", "b", "c"] {
            cache.insert(url, crl(now + Duration::from_secs(600)));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a", now).is_none(), "the oldest was evicted");
        assert!(cache.get("c", now).is_some());
    }

    #[test]
    fn the_byte_budget_holds() {
        let now = SystemTime::now();
        let one = crl(now + Duration::from_secs(600));
        let cache = CrlCache::new(100, one.size() * 2);
        for url in ["a", "b", "c", "d"] {
            cache.insert(url, one.clone());
        }
        assert_eq!(cache.len(), 2);
        let tiny = CrlCache::new(100, one.size() - 1);
        tiny.insert("a", one);
        assert_eq!(tiny.len(), 0, "a CRL over the whole budget is not cached");
    }
}
