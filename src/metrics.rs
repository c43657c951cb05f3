//! Prometheus metrics, sharded per worker thread so the hot path never contends.
//!
//! Each worker increments only its own cache-line-padded shard with relaxed atomics;
//! `/metrics` sums the shards when scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;

/// Metric label for requests that matched no app.
pub const UNROUTED_APP: &str = "-";

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER",
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Latency histogram bucket bounds, in microseconds.
const LATENCY_BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// Kinds of upstream failure, for `govgate_upstream_errors_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    Connect = 0,
    Timeout = 1,
    Protocol = 2,
}
const UPSTREAM_ERROR_KINDS: [&str; 3] = ["connect", "timeout", "protocol"];

#[derive(Default)]
#[repr(align(128))]
struct AppShard {
    requests: [[AtomicU64; 5]; 8],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    upstream_errors: [AtomicU64; 3],
}

/// Counters of one app, one shard per worker.
pub struct AppMetrics {
    id: Box<str>,
    shards: Box<[AppShard]>,
}

impl AppMetrics {
    /// Records a finished request on worker `worker`.
    pub fn record_request(&self, worker: usize, method: &Method, status: u16, elapsed: Duration) {
        let Some(shard) = self.shards.get(worker) else {
            return;
        };
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        shard.requests[method_index(method)][class].fetch_add(1, Ordering::Relaxed);
        let micros = elapsed.as_micros().min(u64::MAX as u128) as u64;
        if let Some(bucket) = LATENCY_BUCKETS_US.iter().position(|&bound| micros <= bound) {
            shard.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        shard.latency_count.fetch_add(1, Ordering::Relaxed);
        shard.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn record_upstream_error(&self, worker: usize, kind: UpstreamErrorKind) {
        if let Some(shard) = self.shards.get(worker) {
            shard.upstream_errors[kind as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn sum(&self, read: impl Fn(&AppShard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| read(s).load(Ordering::Relaxed))
            .sum()
    }
}

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::PATCH => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// The registry: per-app counters (kept across configuration reloads) and gauges.
pub struct Metrics {
    workers: usize,
    apps: Mutex<BTreeMap<String, Arc<AppMetrics>>>,
    open_connections: AtomicI64,
    started: Instant,
    /// Access-policy decisions and reloads.
    pub policy: PolicyMetrics,
    /// The OpenID Connect provider's tokens, revocations and logout deliveries.
    pub oidc: Arc<OidcMetrics>,
}

/// Counters of the OpenID Connect provider (bumped once per token: no sharding needed).
#[derive(Default)]
pub struct OidcMetrics {
    pub tokens_code: AtomicU64,
    pub tokens_refresh: AtomicU64,
    pub tokens_client_credentials: AtomicU64,
    /// Grants revoked because a spent code or refresh token came back.
    pub reuse_revocations: AtomicU64,
    pub logouts_delivered: AtomicU64,
    pub logouts_failed: AtomicU64,
    pub logouts_dropped: AtomicU64,
    pub logouts_retried: AtomicU64,
}

impl OidcMetrics {
    /// Counts a token response of `grant` (`authorization_code`, `refresh_token`, …).
    pub fn record_tokens(&self, grant: &str) {
        let counter = match grant {
            "authorization_code" => &self.tokens_code,
            "refresh_token" => &self.tokens_refresh,
            _ => &self.tokens_client_credentials,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            out,
            "govgate_oidc_tokens_total",
            "Token responses of the OpenID Connect provider, by grant.",
            &[
                ("grant=\"authorization_code\"", get(&self.tokens_code)),
                ("grant=\"refresh_token\"", get(&self.tokens_refresh)),
                (
                    "grant=\"client_credentials\"",
                    get(&self.tokens_client_credentials),
                ),
            ],
        );
        counter(
            out,
            "govgate_oidc_reuse_revocations_total",
            "Grants revoked because a spent code or refresh token was presented again.",
            &[("", get(&self.reuse_revocations))],
        );
        counter(
            out,
            "govgate_oidc_backchannel_logouts_total",
            "Back-channel logout tokens, by outcome (dropped: the queue was full).",
            &[
                ("result=\"delivered\"", get(&self.logouts_delivered)),
                ("result=\"failed\"", get(&self.logouts_failed)),
                ("result=\"dropped\"", get(&self.logouts_dropped)),
                ("result=\"retried\"", get(&self.logouts_retried)),
            ],
        );
    }
}

/// One counter family in the text exposition: HELP, TYPE and a sample per label set.
fn counter(out: &mut String, name: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Decision counters of one worker (a cache line of its own: every request counts here).
#[derive(Default)]
#[repr(align(128))]
struct DecisionShard {
    allowed: AtomicU64,
    denied: AtomicU64,
    cache_misses: AtomicU64,
}

/// Counters of the access policies: decisions (and cache misses) and reloads by result.
#[derive(Default)]
pub struct PolicyMetrics {
    decisions: Vec<DecisionShard>,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Short version (first 12 hex digits of the digest) of the set in force.
    pub version: Mutex<Option<String>>,
}

impl PolicyMetrics {
    fn new(workers: usize) -> Self {
        PolicyMetrics {
            decisions: (0..workers.max(1))
                .map(|_| DecisionShard::default())
                .collect(),
            ..Default::default()
        }
    }

    /// Counts a decision on `worker`'s shard (the portal and admin API use shard 0).
    pub fn record_decision(&self, worker: usize, allowed: bool, miss: bool) {
        let Some(shard) = self.decisions.get(worker % self.decisions.len().max(1)) else {
            return;
        };
        let counter = if allowed {
            &shard.allowed
        } else {
            &shard.denied
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if miss {
            shard.cache_misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn total(&self, counter: impl Fn(&DecisionShard) -> &AtomicU64) -> u64 {
        self.decisions
            .iter()
            .map(|shard| counter(shard).load(Ordering::Relaxed))
            .sum()
    }

    pub fn record_reload(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_version(&self, version: &str) {
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(version.chars().take(12).collect());
    }

    fn render(&self, out: &mut String) {
        let Some(version) = self
            .version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return;
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (allowed, denied, misses) = (
            self.total(|s| &s.allowed),
            self.total(|s| &s.denied),
            self.total(|s| &s.cache_misses),
        );
        let _ = writeln!(
            out,
            "# HELP govgate_policy_decisions_total Access-policy decisions, by result."
        );
        let _ = writeln!(out, "# TYPE govgate_policy_decisions_total counter");
        let _ = writeln!(
            out,
            "govgate_policy_decisions_total{{result=\"allow\"}} {}",
            allowed
        );
        let _ = writeln!(
            out,
            "govgate_policy_decisions_total{{result=\"deny\"}} {}",
            denied
        );
        let _ = writeln!(out, "# HELP govgate_policy_cache_misses_total Decisions evaluated by Cedar (not answered from the cache).");
        let _ = writeln!(out, "# TYPE govgate_policy_cache_misses_total counter");
        let _ = writeln!(out, "govgate_policy_cache_misses_total {}", misses);
        let _ = writeln!(out, "# HELP govgate_policy_reloads_total Policy set reloads, by result (a failed one keeps the set in force).");
        let _ = writeln!(out, "# TYPE govgate_policy_reloads_total counter");
        let _ = writeln!(
            out,
            "govgate_policy_reloads_total{{result=\"ok\"}} {}",
            load(&self.reloads_ok)
        );
        let _ = writeln!(
            out,
            "govgate_policy_reloads_total{{result=\"failed\"}} {}",
            load(&self.reloads_failed)
        );
        let _ = writeln!(out, "# HELP govgate_policy_info The policy set in force.");
        let _ = writeln!(out, "# TYPE govgate_policy_info gauge");
        let _ = writeln!(out, "govgate_policy_info{{version=\"{version}\"}} 1");
    }
}

impl Metrics {
    pub fn new(workers: usize) -> Arc<Self> {
        Arc::new(Self {
            workers: workers.max(1),
            apps: Mutex::new(BTreeMap::new()),
            open_connections: AtomicI64::new(0),
            started: Instant::now(),
            policy: PolicyMetrics::new(workers),
            oidc: Arc::default(),
        })
    }

    /// The counters of app `id`, created on first use; the same ones after a reload.
    pub fn app(&self, id: &str) -> Arc<AppMetrics> {
        let mut apps = self
            .apps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        apps.entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(AppMetrics {
                    id: id.into(),
                    shards: (0..self.workers).map(|_| AppShard::default()).collect(),
                })
            })
            .clone()
    }

    /// Counts an open client connection until the guard drops.
    pub fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }

    pub fn open_connections(&self) -> i64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let apps: Vec<Arc<AppMetrics>> = self
            .apps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect();
        let mut out = String::with_capacity(4096);
        render_requests(&mut out, &apps);
        render_latency(&mut out, &apps);
        render_upstream_errors(&mut out, &apps);
        self.policy.render(&mut out);
        self.oidc.render(&mut out);
        let _ = writeln!(
            out,
            "# HELP govgate_open_connections Client connections currently open."
        );
        let _ = writeln!(out, "# TYPE govgate_open_connections gauge");
        let _ = writeln!(out, "govgate_open_connections {}", self.open_connections());
        let _ = writeln!(
            out,
            "# HELP govgate_uptime_seconds Seconds since the gateway started."
        );
        let _ = writeln!(out, "# TYPE govgate_uptime_seconds gauge");
        let _ = writeln!(
            out,
            "govgate_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        if let Some(rss) = resident_memory_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes."
            );
            let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        let _ = writeln!(
            out,
            "# HELP govgate_build_info Version of the running gateway."
        );
        let _ = writeln!(out, "# TYPE govgate_build_info gauge");
        let _ = writeln!(
            out,
            "govgate_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

fn render_requests(out: &mut String, apps: &[Arc<AppMetrics>]) {
    let _ = writeln!(
        out,
        "# HELP govgate_http_requests_total Requests answered, by app, method and status class."
    );
    let _ = writeln!(out, "# TYPE govgate_http_requests_total counter");
    for app in apps {
        for (m, method) in METHODS.iter().enumerate() {
            for (c, class) in STATUS_CLASSES.iter().enumerate() {
                let n = app.sum(|s| &s.requests[m][c]);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "govgate_http_requests_total{{app=\"{}\",method=\"{method}\",status=\"{class}\"}} {n}",
                        app.id
                    );
                }
            }
        }
    }
}

fn render_latency(out: &mut String, apps: &[Arc<AppMetrics>]) {
    let _ = writeln!(
        out,
        "# HELP govgate_http_request_duration_seconds Time from request head to response head."
    );
    let _ = writeln!(
        out,
        "# TYPE govgate_http_request_duration_seconds histogram"
    );
    for app in apps {
        let mut cumulative = 0;
        for (b, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
            cumulative += app.sum(|s| &s.latency_buckets[b]);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(out, "govgate_http_request_duration_seconds_bucket{{app=\"{}\",le=\"{le}\"}} {cumulative}", app.id);
        }
        let count = app.sum(|s| &s.latency_count);
        let sum = app.sum(|s| &s.latency_sum_us) as f64 / 1e6;
        let _ = writeln!(
            out,
            "govgate_http_request_duration_seconds_bucket{{app=\"{}\",le=\"+Inf\"}} {count}",
            app.id
        );
        let _ = writeln!(
            out,
            "govgate_http_request_duration_seconds_sum{{app=\"{}\"}} {sum}",
            app.id
        );
        let _ = writeln!(
            out,
            "govgate_http_request_duration_seconds_count{{app=\"{}\"}} {count}",
            app.id
        );
    }
}

fn render_upstream_errors(out: &mut String, apps: &[Arc<AppMetrics>]) {
    let _ = writeln!(
        out,
        "# HELP govgate_upstream_errors_total Failed upstream exchanges, by app and kind."
    );
    let _ = writeln!(out, "# TYPE govgate_upstream_errors_total counter");
    for app in apps {
        for (k, kind) in UPSTREAM_ERROR_KINDS.iter().enumerate() {
            let n = app.sum(|s| &s.upstream_errors[k]);
            let _ = writeln!(
                out,
                "govgate_upstream_errors_total{{app=\"{}\",kind=\"{kind}\"}} {n}",
                app.id
            );
        }
    }
}

/// Resident set size from `/proc/self/statm` (Linux).
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Decrements the open-connection gauge on drop.
pub struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_summed_and_rendered() {
        let metrics = Metrics::new(2);
        let app = metrics.app("mot-cua");
        app.record_request(0, &Method::GET, 200, Duration::from_micros(300));
        app.record_request(1, &Method::GET, 204, Duration::from_millis(3));
        app.record_request(1, &Method::POST, 502, Duration::from_millis(3));
        app.record_upstream_error(1, UpstreamErrorKind::Connect);
        // Same app after a "reload" shares counters.
        assert!(Arc::ptr_eq(&app, &metrics.app("mot-cua")));
        let text = metrics.render();
        assert!(text.contains(
            "govgate_http_requests_total{app=\"mot-cua\",method=\"GET\",status=\"2xx\"} 2"
        ));
        assert!(text.contains(
            "govgate_http_requests_total{app=\"mot-cua\",method=\"POST\",status=\"5xx\"} 1"
        ));
        assert!(text.contains(
            "govgate_http_request_duration_seconds_bucket{app=\"mot-cua\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains("govgate_http_request_duration_seconds_count{app=\"mot-cua\"} 3"));
        assert!(text.contains("govgate_upstream_errors_total{app=\"mot-cua\",kind=\"connect\"} 1"));
    }

    #[test]
    fn out_of_range_worker_is_ignored() {
        let metrics = Metrics::new(1);
        metrics
            .app("x")
            .record_request(7, &Method::GET, 200, Duration::ZERO);
        assert!(!metrics.render().contains("status=\"2xx\""));
    }
}
