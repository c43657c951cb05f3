//! Upstream servers of an app: their addresses, passive health and load balancing.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};

use crate::config::{Balance, PassiveHealth};

/// Why an upstream URL from the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamUrlError {
    #[error("invalid upstream URL {0:?}: {1}")]
    Invalid(String, String),
}

/// One upstream server: where it is and how healthy it has been.
#[derive(Debug)]
pub struct Upstream {
    /// Index of this upstream in the whole routing table; keys the per-worker pools.
    pub pool_key: usize,
    pub tls: bool,
    pub authority: Authority,
    /// Host name for TLS SNI and certificate checks.
    pub host: Box<str>,
    pub port: u16,
    /// `Host` header value for requests that do not preserve the client's Host.
    pub host_header: HeaderValue,
    /// Path the upstream's URL carried (`http://h/base` → `/base`), without trailing `/`.
    pub base_path: Box<str>,
    in_flight: AtomicUsize,
    consecutive_failures: AtomicU32,
    /// Milliseconds since `epoch` until which this upstream is out of rotation (0 = in rotation).
    ejected_until_ms: AtomicU64,
}

impl Upstream {
    pub fn parse(pool_key: usize, url: &str) -> Result<Self, UpstreamUrlError> {
        let invalid = |why: &str| UpstreamUrlError::Invalid(url.to_string(), why.to_string());
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => false,
            Some(s) if *s == Scheme::HTTPS => true,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("a host is required"))?;
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .into();
        let base_path = uri.path().trim_end_matches('/').into();
        let host_header = HeaderValue::from_str(authority.as_str())
            .map_err(|_| invalid("the host is not a valid header value"))?;
        Ok(Self {
            host_header,
            pool_key,
            tls,
            authority,
            host,
            port,
            base_path,
            in_flight: AtomicUsize::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
        })
    }

    pub fn scheme(&self) -> Scheme {
        if self.tls {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        }
    }

    fn available(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    /// Records a successful connection: the failure streak ends.
    pub fn record_connect_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failed connection; returns true when this failure ejected the upstream.
    pub fn record_connect_failure(&self, health: &HealthPolicy) -> bool {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= health.max_failures {
            self.consecutive_failures.store(0, Ordering::Relaxed);
            let until = clock_ms() + health.eject_for.as_millis() as u64;
            self.ejected_until_ms.store(until, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Counts a request as in flight on this upstream until the guard is dropped.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Decrements the upstream's in-flight count when a request ends (for least-connections).
#[derive(Debug)]
pub struct InFlight(Arc<Upstream>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Passive health settings, resolved to durations.
#[derive(Debug, Clone, Copy)]
pub struct HealthPolicy {
    pub max_failures: u32,
    pub eject_for: Duration,
}

impl From<&PassiveHealth> for HealthPolicy {
    fn from(cfg: &PassiveHealth) -> Self {
        Self {
            max_failures: cfg.max_failures.max(1),
            eject_for: cfg.eject_for.get(),
        }
    }
}

/// The upstreams of one app and the rule to choose among them.
#[derive(Debug)]
pub struct UpstreamSet {
    pub upstreams: Box<[Arc<Upstream>]>,
    balance: Balance,
    next: AtomicUsize,
    pub health: HealthPolicy,
}

impl UpstreamSet {
    pub fn new(upstreams: Vec<Arc<Upstream>>, balance: Balance, health: HealthPolicy) -> Self {
        Self {
            upstreams: upstreams.into(),
            balance,
            next: AtomicUsize::new(0),
            health,
        }
    }

    /// Picks an upstream, skipping ejected ones and any in `tried`. When every untried
    /// upstream is ejected, the one whose ejection ends first is used anyway: a possibly
    /// recovered upstream beats a certain 502.
    pub fn pick(&self, tried: &[usize]) -> Option<&Arc<Upstream>> {
        let candidates = || {
            self.upstreams
                .iter()
                .enumerate()
                .filter(|(i, _)| !tried.contains(i))
                .map(|(_, u)| u)
        };
        if self.upstreams.len() == 1 {
            return candidates().next();
        }
        let now = clock_ms();
        let healthy = match self.balance {
            Balance::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                let n = self.upstreams.len();
                (0..n)
                    .map(|offset| (start + offset) % n)
                    .filter(|i| !tried.contains(i))
                    .map(|i| &self.upstreams[i])
                    .find(|u| u.available(now))
            }
            Balance::LeastConnections => candidates()
                .filter(|u| u.available(now))
                .min_by_key(|u| u.in_flight()),
        };
        healthy.or_else(|| candidates().min_by_key(|u| u.ejected_until_ms.load(Ordering::Relaxed)))
    }

    /// Counts a request on `upstream` while the guard lives — only where the balancing rule
    /// reads the count, so round robin pays no shared-counter traffic per request.
    pub fn track(&self, upstream: &Arc<Upstream>) -> Option<InFlight> {
        (self.balance == Balance::LeastConnections).then(|| upstream.start_request())
    }

    /// Index of an upstream in this set (for the `tried` list).
    pub fn index_of(&self, upstream: &Upstream) -> Option<usize> {
        self.upstreams
            .iter()
            .position(|u| std::ptr::eq(&**u, upstream))
    }
}

/// Milliseconds on a monotonic clock shared by all threads.
fn clock_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize, balance: Balance) -> UpstreamSet {
        let ups = (0..n)
            .map(|i| {
                Arc::new(Upstream::parse(i, &format!("http://127.0.0.1:{}", 9000 + i)).unwrap())
            })
            .collect();
        UpstreamSet::new(
            ups,
            balance,
            HealthPolicy {
                max_failures: 2,
                eject_for: Duration::from_secs(60),
            },
        )
    }

    #[test]
    fn parses_urls() {
        let u = Upstream::parse(0, "https://qlvb.namdinh.gov.vn/base/").unwrap();
        assert!(u.tls);
        assert_eq!(u.port, 443);
        assert_eq!(&*u.base_path, "/base");
        assert_eq!(&*u.host, "qlvb.namdinh.gov.vn");
        let v6 = Upstream::parse(0, "http://[::1]:8081").unwrap();
        assert_eq!(&*v6.host, "::1");
        assert!(Upstream::parse(0, "ftp://x").is_err());
        assert!(Upstream::parse(0, "/relative").is_err());
    }

    #[test]
    fn round_robin_cycles() {
        let s = set(3, Balance::RoundRobin);
        let picks: Vec<usize> = (0..6).map(|_| s.pick(&[]).unwrap().pool_key).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn ejected_upstream_is_skipped_until_all_are_down() {
        let s = set(2, Balance::RoundRobin);
        assert!(!s.upstreams[0].record_connect_failure(&s.health));
        assert!(s.upstreams[0].record_connect_failure(&s.health));
        for _ in 0..4 {
            assert_eq!(s.pick(&[]).unwrap().pool_key, 1);
        }
        s.upstreams[1].record_connect_failure(&s.health);
        s.upstreams[1].record_connect_failure(&s.health);
        // Both ejected: still answer with the one that comes back first.
        assert_eq!(s.pick(&[]).unwrap().pool_key, 0);
    }

    #[test]
    fn least_connections_prefers_idle() {
        let s = set(2, Balance::LeastConnections);
        let _busy = s.upstreams[0].start_request();
        assert_eq!(s.pick(&[]).unwrap().pool_key, 1);
        assert_eq!(s.pick(&[1]).unwrap().pool_key, 0);
    }
}
