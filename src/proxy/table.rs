//! The proxy's view of the app registry: built once per configuration, swapped whole on reload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio_rustls::TlsConnector;

use super::routing::RoutingTable;
use super::upstream::{HealthPolicy, Upstream, UpstreamSet, UpstreamUrlError};
use crate::config::AppConfig;
use crate::metrics::{AppMetrics, Metrics};

/// Why the app registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("app {app}: {source}")]
    Upstream {
        app: String,
        source: UpstreamUrlError,
    },
    #[error("app {app}: upstream TLS: {message}")]
    Tls { app: String, message: String },
}

/// One app as the proxy uses it.
pub struct App {
    pub id: Arc<str>,
    pub access: crate::config::Access,
    /// Gateway access tokens (`Authorization: Bearer`) for this app are accepted too.
    pub accept_bearer: bool,
    pub name: Arc<str>,
    pub strip_prefix: bool,
    pub preserve_host: bool,
    pub websocket: bool,
    pub max_body: u64,
    pub retries: u32,
    pub connect_timeout: Duration,
    pub response_header_timeout: Duration,
    pub idle_timeout: Duration,
    pub upstreams: UpstreamSet,
    /// Set when any upstream is HTTPS.
    pub tls: Option<TlsConnector>,
    pub metrics: Arc<AppMetrics>,
    /// Requests this rule matches must carry a valid signature (`require_signature`).
    pub signature_guard: Option<crate::signatures::guard::GuardRule>,
}

/// Routing plus apps, indexed the same way.
pub struct ProxyTable {
    pub routing: RoutingTable,
    pub apps: Vec<App>,
}

/// Builds the rustls client configuration an app's HTTPS upstreams need.
pub type UpstreamTlsBuilder<'a> =
    dyn Fn(&AppConfig) -> Result<Arc<rustls::ClientConfig>, String> + 'a;

impl ProxyTable {
    pub fn build(
        configs: &[AppConfig],
        metrics: &Metrics,
        upstream_tls: &UpstreamTlsBuilder<'_>,
    ) -> Result<Self, TableError> {
        let apps = configs
            .iter()
            .map(|cfg| build_app(cfg, metrics, upstream_tls))
            .collect::<Result<Vec<_>, _>>()?;
        let routing = RoutingTable::build(
            configs
                .iter()
                .map(|c| (c.hosts.as_slice(), c.path_prefix.as_str())),
        );
        Ok(Self { routing, apps })
    }
}

fn build_app(
    cfg: &AppConfig,
    metrics: &Metrics,
    upstream_tls: &UpstreamTlsBuilder<'_>,
) -> Result<App, TableError> {
    let upstreams = cfg
        .upstreams
        .iter()
        .map(|url| {
            let key = pool_key(cfg, url);
            Upstream::parse(key, url).map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TableError::Upstream {
            app: cfg.id.clone(),
            source,
        })?;
    let tls = if upstreams.iter().any(|u| u.tls) {
        let config = upstream_tls(cfg).map_err(|message| TableError::Tls {
            app: cfg.id.clone(),
            message,
        })?;
        Some(TlsConnector::from(config))
    } else {
        None
    };
    Ok(App {
        id: cfg.id.as_str().into(),
        access: cfg.access,
        accept_bearer: cfg.accept_bearer,
        name: cfg.name.as_str().into(),
        strip_prefix: cfg.strip_prefix,
        preserve_host: cfg.preserve_host,
        websocket: cfg.websocket,
        max_body: cfg.max_body.bytes(),
        retries: cfg.retries,
        connect_timeout: cfg.timeouts.connect.get(),
        response_header_timeout: cfg.timeouts.response_header.get(),
        idle_timeout: cfg.timeouts.idle.get(),
        upstreams: UpstreamSet::new(upstreams, cfg.balance, HealthPolicy::from(&cfg.health)),
        tls,
        metrics: metrics.app(&cfg.id),
        signature_guard: cfg
            .require_signature
            .as_ref()
            .map(crate::signatures::guard::GuardRule::from_config),
    })
}

/// A stable small integer per (upstream URL, TLS settings), so pooled connections survive
/// configuration reloads and are never shared between apps with different client certificates.
fn pool_key(cfg: &AppConfig, url: &str) -> usize {
    static KEYS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    let identity = format!(
        "{url}|{:?}|{:?}|{:?}",
        cfg.upstream_ca_file, cfg.upstream_client_cert, cfg.upstream_client_key
    );
    let mut keys = KEYS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let next = keys.len();
    *keys.entry(identity).or_insert(next)
}
