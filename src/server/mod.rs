//! Listeners, TLS, router assembly, ops endpoints and shutdown.
//!
//! Threading model (measured, see `docs/BENCHMARKS.md`): one single-threaded tokio runtime
//! per worker thread, each with its own listening socket on the shared port
//! (`SO_REUSEPORT`) and its own upstream connection pool. The main thread runs a small
//! control runtime for signals, certificate watching and reloads.

mod connection;
pub mod keys;
mod listener;
pub mod login;
pub mod ops;
pub mod policies;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;

use self::connection::{ConnectionContext, HttpSettings};
use self::tls::{TlsError, TlsTerminator};
use crate::admin::AdminApi;
use crate::config::{AppConfig, Config};
use crate::metrics::Metrics;
use crate::oidc::OidcEndpoint;
use crate::portal::service::{Caller, Endpoint, Portal};
use crate::signatures::api::{SignatureApi, VERIFY_PATH};
use crate::signatures::SignatureService;

/// The administrative API's path prefix.
const ADMIN_PREFIX: &str = "/.govgate/admin/";
use crate::proxy::body::ResponseBody;
use crate::proxy::pool::WorkerPool;
use crate::proxy::table::{ProxyTable, TableError};
use crate::proxy::{ConnInfo, Proxy, ProxySettings, ProxyState};
use crate::store::{SharedStore, StoreError};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("https_listen is set but [tls] is missing")]
    HttpsWithoutTls,
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Apps(#[from] TableError),
    #[error("cannot start worker threads: {0}")]
    Runtime(std::io::Error),
    #[error("no listener configured: set server.http_listen and/or server.https_listen")]
    NoListener,
    #[error("login: {0}")]
    Login(#[from] login::LoginSetupError),
    #[error("signature verification: {0}")]
    Signatures(#[from] crate::signatures::SignaturesSetupError),
}

/// State shared by every worker: the proxy, metrics, store and HTTP settings.
pub struct Gateway {
    pub proxy: Proxy,
    pub metrics: Arc<Metrics>,
    pub store: Option<SharedStore>,
    http: HttpSettings,
    /// When set, plain-HTTP requests are redirected to HTTPS on this port.
    redirect_to_https_port: Option<u16>,
    /// The login portal (reserved `/.govgate/` paths on every host).
    portal: Arc<Portal>,
    /// The administrative API (`/.govgate/admin/…`), when configured.
    admin: Option<Arc<AdminApi>>,
    /// Reloads the access policies, when `[policy]` is configured.
    policies: Option<Arc<policies::PolicyReloader>>,
    /// The OpenID Connect provider (`/.well-known/openid-configuration`, `/oidc/…`).
    oidc: Option<Arc<crate::oidc::Provider>>,
    /// `POST /api/v1/signatures/verify`, when `[signatures]` is configured.
    signatures: Option<Arc<SignatureApi>>,
}

impl Gateway {
    /// The client's address: the peer's, or a forwarded one when the peer is a trusted proxy.
    fn client_ip(&self, conn: &ConnInfo, headers: &http::HeaderMap) -> std::net::IpAddr {
        self.proxy
            .state()
            .settings
            .trusted
            .client_ip(conn.peer.ip(), headers)
    }

    /// Routes one request: ops endpoints first, then the HTTPS redirect, then the proxy.
    pub async fn dispatch(
        &self,
        request: Request<Incoming>,
        conn: &ConnInfo,
    ) -> Response<ResponseBody> {
        if let Some(endpoint) = ops::OpsEndpoint::from_path(request.uri().path()) {
            return ops::answer(self, endpoint).await;
        }
        if let (false, Some(port)) = (conn.https, self.redirect_to_https_port) {
            // HTTPS is required: a request without a usable Host is refused, never proxied in clear text.
            return ops::https_redirect(&request, port).unwrap_or_else(ops::unusable_host);
        }
        if let Some(action) = request.uri().path().strip_prefix(ADMIN_PREFIX) {
            let Some(admin) = &self.admin else {
                return ops::not_found();
            };
            let client_ip = self.client_ip(conn, request.headers());
            let action = action.to_string();
            let (parts, body) = request.into_parts();
            return admin
                .handle(&action, &parts.method, &parts.headers, body, client_ip)
                .await
                .map(ResponseBody::full);
        }
        if let (Some(provider), Some(endpoint)) =
            (&self.oidc, OidcEndpoint::from_path(request.uri().path()))
        {
            let client_ip = self.client_ip(conn, request.headers());
            return provider
                .handle(endpoint, request, client_ip, conn.https)
                .await
                .map(ResponseBody::full);
        }
        if request.uri().path() == VERIFY_PATH {
            let Some(api) = &self.signatures else {
                return ops::not_found();
            };
            let client_ip = self.client_ip(conn, request.headers());
            return api.handle(request, client_ip).await.map(ResponseBody::full);
        }
        if let Some(endpoint) = Endpoint::reserved(request.uri().path()) {
            let caller = Caller {
                client_ip: self.client_ip(conn, request.headers()),
                https: conn.https,
            };
            return login::answer(&self.portal, endpoint, request, caller).await;
        }
        self.proxy.handle(request, conn).await
    }
}

/// Where the running configuration came from, so SIGHUP can read it again.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    pub path: Option<PathBuf>,
}

/// Builds the proxy's state (app registry + settings) from a configuration.
pub fn build_proxy_state(config: &Config, metrics: &Metrics) -> Result<ProxyState, TableError> {
    let upstream_tls = |app: &AppConfig| {
        let client_cert = app
            .upstream_client_cert
            .as_deref()
            .zip(app.upstream_client_key.as_deref());
        tls::upstream_client_config(app.upstream_ca_file.as_deref(), client_cert)
            .map_err(|e| e.to_string())
    };
    Ok(ProxyState {
        table: ProxyTable::build(&config.apps, metrics, &upstream_tls)?,
        settings: ProxySettings::from_config(config),
    })
}

/// Runs the gateway until SIGTERM or SIGINT, then drains in-flight requests.
pub fn run(config: Config, source: ConfigSource) -> Result<(), ServerError> {
    crate::install_crypto_provider();
    let workers = worker_count(config.server.workers);
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    let metrics = Metrics::new(workers);
    let store = control.block_on(crate::store::open(&config.store, &config.data_dir))?;
    let tls = match (&config.server.https_listen, &config.tls) {
        (Some(_), Some(tls_config)) => Some(Arc::new(TlsTerminator::new(tls_config)?)),
        (Some(_), None) => return Err(ServerError::HttpsWithoutTls),
        (None, _) => None,
    };
    let mut login = control.block_on(login::Login::build(&config, store.clone(), &metrics))?;
    if let Some(sender) = login.logout_sender.take() {
        control.spawn(sender.run());
    }
    for note in crate::config::advisories(&config) {
        tracing::warn!("{note}");
    }
    let fallback = Arc::new(login::PortalFallback {
        portal: login.portal.clone(),
        trusted: crate::proxy::headers::TrustedProxies::new(&config.server.trusted_proxies),
    });
    let signatures = match &config.signatures {
        Some(signatures) => Some(Arc::new(SignatureService::from_config(
            signatures,
            login.audit.clone(),
        )?)),
        None => None,
    };
    let mut proxy = Proxy::new(build_proxy_state(&config, &metrics)?, &metrics)
        .with_login(login.gatekeeper.clone(), fallback);
    if let Some(service) = &signatures {
        proxy = proxy.with_signatures(service.clone());
    }
    let signatures = signatures.map(|service| {
        Arc::new(SignatureApi {
            service,
            sessions: login.gatekeeper.sessions.clone(),
            authorizer: login.gatekeeper.authorizer.clone(),
        })
    });
    let redirect_to_https_port = config
        .server
        .https_listen
        .filter(|_| config.server.redirect_http_to_https)
        .map(|addr| addr.port());
    let gateway = Arc::new(Gateway {
        proxy,
        metrics: metrics.clone(),
        store: Some(store),
        http: HttpSettings::from_config(&config.server),
        redirect_to_https_port,
        portal: login.portal,
        admin: login.admin,
        oidc: login.oidc.clone(),
        signatures,
        policies: login.policies.map(|store| {
            Arc::new(policies::PolicyReloader {
                store,
                audit: login.audit.clone(),
                metrics: metrics.clone(),
            })
        }),
    });

    let listeners = bind_all(&config, workers)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let grace = config.server.shutdown_grace.get();
    let threads = spawn_workers(listeners, &gateway, tls.clone(), shutdown_rx, grace)?;
    tracing::info!(
        workers,
        http = ?config.server.http_listen,
        https = ?config.server.https_listen,
        apps = config.apps.len(),
        "govgate is serving"
    );
    control.block_on(control_loop(gateway.clone(), tls, source, config));
    let _ = shutdown_tx.send(true);
    for thread in threads {
        let _ = thread.join();
    }
    tracing::info!("govgate stopped");
    Ok(())
}

fn worker_count(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// One listening socket per worker for each configured address; `true` marks HTTPS.
type WorkerListeners = Vec<Vec<(std::net::TcpListener, bool)>>;

fn bind_all(config: &Config, workers: usize) -> Result<WorkerListeners, ServerError> {
    let addresses: Vec<(SocketAddr, bool)> = [
        (config.server.http_listen, false),
        (config.server.https_listen, true),
    ]
    .into_iter()
    .filter_map(|(addr, https)| addr.map(|a| (a, https)))
    .collect();
    if addresses.is_empty() {
        return Err(ServerError::NoListener);
    }
    (0..workers)
        .map(|_| {
            addresses
                .iter()
                .map(|&(addr, https)| {
                    listener::bind_reuseport(addr)
                        .map(|l| (l, https))
                        .map_err(|e| ServerError::Bind(addr, e))
                })
                .collect()
        })
        .collect()
}

fn spawn_workers(
    listeners: WorkerListeners,
    gateway: &Arc<Gateway>,
    tls: Option<Arc<TlsTerminator>>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> Result<Vec<JoinHandle<()>>, ServerError> {
    listeners
        .into_iter()
        .enumerate()
        .map(|(worker, sockets)| {
            let ctx = ConnectionContext {
                gateway: gateway.clone(),
                worker,
                pool: WorkerPool::new(),
                shutdown: shutdown.clone(),
            };
            let tls = tls.clone();
            std::thread::Builder::new()
                .name(format!("govgate-worker-{worker}"))
                .spawn(move || run_worker(sockets, ctx, tls, grace))
                .map_err(ServerError::Runtime)
        })
        .collect()
}

fn run_worker(
    sockets: Vec<(std::net::TcpListener, bool)>,
    ctx: ConnectionContext,
    tls: Option<Arc<TlsTerminator>>,
    grace: Duration,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, worker = ctx.worker, "cannot start worker runtime");
            return;
        }
    };
    let active = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        for (socket, https) in sockets {
            let tls = if https { tls.clone() } else { None };
            tokio::spawn(accept_loop(socket, tls, ctx.clone(), active.clone()));
        }
        let mut shutdown = ctx.shutdown.clone();
        connection::stopped(&mut shutdown).await;
        drain(&active, grace).await;
    });
}

async fn accept_loop(
    socket: std::net::TcpListener,
    tls: Option<Arc<TlsTerminator>>,
    ctx: ConnectionContext,
    active: Arc<AtomicUsize>,
) {
    let listener = match TcpListener::from_std(socket) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot register listening socket");
            return;
        }
    };
    let mut shutdown = ctx.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let acceptor = tls.as_ref().map(|t| t.acceptor());
                    let ctx = ctx.clone();
                    let active = active.clone();
                    active.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        connection::serve(stream, peer, acceptor, ctx).await;
                        active.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = connection::stopped(&mut shutdown) => return,
        }
    }
}

/// Waits for this worker's connections to finish, up to `grace`.
async fn drain(active: &AtomicUsize, grace: Duration) {
    let deadline = Instant::now() + grace;
    while active.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = active.load(Ordering::Relaxed);
    if left > 0 {
        tracing::warn!(
            connections = left,
            "shutdown grace period over; closing remaining connections"
        );
    }
}

/// Signals and reloads, on the main thread, until SIGTERM or SIGINT.
async fn control_loop(
    gateway: Arc<Gateway>,
    tls: Option<Arc<TlsTerminator>>,
    source: ConfigSource,
    config: Config,
) {
    use tokio::signal::unix::{signal, SignalKind};
    if let Some(tls) = &tls {
        tokio::spawn(tls.clone().watch());
    }
    if let (Some(reloader), Some(policy)) = (&gateway.policies, &config.policy) {
        tokio::spawn(reloader.clone().watch(policy.watch_interval.get()));
    }
    let key_watcher = keys::KeyWatcher::start(gateway.portal.keys.clone(), &config);
    let (Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the gateway with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    let mut running = config;
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                if let Some(tls) = &tls {
                    if let Err(error) = tls.reload() {
                        tracing::error!(%error, "TLS certificates not reloaded; the previous ones stay in force");
                    }
                }
                if let Some(next) = reload_config(&gateway, &source, &running) {
                    let apps = login::known_apps(&next);
                    match &gateway.policies {
                        Some(reloader) if apps != login::known_apps(&running) => {
                            reloader.apps_changed(apps).await;
                        }
                        _ => {}
                    }
                    running = next;
                }
                key_watcher.hangup(&running);
                if let Some(reloader) = &gateway.policies {
                    reloader.reload("sighup").await;
                }
            }
        }
    }
    tracing::info!("shutting down: no new connections; draining requests in flight");
}

/// Re-reads the configuration file; a bad file leaves the running configuration in force.
fn reload_config(gateway: &Gateway, source: &ConfigSource, running: &Config) -> Option<Config> {
    let path = source.path.as_ref()?;
    let config = match crate::config::load(path) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "configuration not reloaded; the previous one stays in force");
            return None;
        }
    };
    if config.server.http_listen != running.server.http_listen
        || config.server.https_listen != running.server.https_listen
    {
        tracing::warn!("listener addresses changed: restart the gateway to apply them");
    }
    match build_proxy_state(&config, &gateway.metrics) {
        Ok(state) => {
            gateway.proxy.replace(state);
            gateway.portal.set_apps(login::portal_apps(&config));
            tracing::info!(apps = config.apps.len(), "configuration reloaded");
            Some(config)
        }
        Err(error) => {
            tracing::error!(%error, "configuration not reloaded; the previous one stays in force");
            None
        }
    }
}
