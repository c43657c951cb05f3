//! Assembles login and single sign-on from the configuration: sessions, directory, brute-force
//! regulation, audit log, signing keys, the portal, and the proxy's gatekeeper.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::header::HeaderName;
use http::{Request, Response};
use hyper::body::Incoming;

use crate::admin::versions::VersionStore;
use crate::admin::{AdminApi, AdminError, PolicyAdmin};
use crate::audit::{AuditError, AuditEvent, AuditLog};
use crate::bruteforce::LoginGuard;
use crate::config::{Config, IdentityHeadersConfig};
use crate::directory::DirectoryError;
use crate::identity::headers::IdentityHeaderNames;
use crate::keys::{
    Algorithm, AssertionCache, AssertionIssuer, KeyError, KeyRing, SigningKeys,
    DEFAULT_ASSERTION_LIFETIME,
};
use crate::metrics::Metrics;
use crate::oidc::delivery::{LogoutQueue, LogoutSender};
use crate::oidc::Provider;
use crate::pages::Branding;
use crate::policy::{KnownApp, PolicyStore};
use crate::portal::csrf::{CsrfKey, CsrfKeyError};
use crate::portal::service::{Caller, Endpoint, Portal, PortalApp};
use crate::proxy::admit::{Authorizer, Gatekeeper};
use crate::proxy::body::ResponseBody;
use crate::proxy::{ConnInfo, Fallback};
use crate::session::{SessionEndListener, SessionService};
use crate::store::SharedStore;

/// Sessions kept in the assertion cache (each holds a few signed tokens).
const ASSERTION_CACHE_SESSIONS: usize = 100_000;

/// Why login could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoginSetupError {
    #[error("directory: {0}")]
    Directory(#[from] DirectoryError),
    #[error("audit log: {0}")]
    Audit(#[from] AuditError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("portal form key: {0}")]
    Csrf(#[from] CsrfKeyError),
    #[error("admin API: {0}")]
    Admin(#[from] AdminError),
    #[error("access policies: {0}")]
    Policy(#[from] crate::policy::ReloadError),
    #[error("OpenID Connect provider: {0}")]
    Oidc(#[from] crate::oidc::OidcSetupError),
}

/// The login pieces the server hands to the proxy and the dispatcher.
pub struct Login {
    pub portal: Arc<Portal>,
    pub gatekeeper: Arc<Gatekeeper>,
    /// The administrative API, when `admin.token_file` or `[policy]` is configured.
    pub admin: Option<Arc<AdminApi>>,
    /// The access policies in force, when `[policy]` is configured.
    pub policies: Option<Arc<PolicyStore>>,
    pub audit: AuditLog,
    /// The OpenID Connect provider, when `[oidc]` is configured.
    pub oidc: Option<Arc<Provider>>,
    /// Delivers back-channel logout tokens; the server spawns it on its control runtime.
    pub logout_sender: Option<LogoutSender>,
}

impl Login {
    pub async fn build(
        config: &Config,
        store: SharedStore,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, LoginSetupError> {
        let directory = match &config.directory {
            Some(directory) => Some(crate::directory::open(directory).await?),
            None => None,
        };
        let sessions = Arc::new(SessionService::new(store.clone(), (&config.session).into()));
        let guard = Arc::new(LoginGuard::new(
            store.clone(),
            (&config.session.login_protection).into(),
        ));
        let audit = AuditLog::open(&config.audit.path_in(&config.data_dir))?;
        let policies = match &config.policy {
            Some(policy) => Some(Arc::new(
                open_policies(&policy.dir, config, &audit, metrics).await?,
            )),
            None => None,
        };
        let authorizer = policies.as_ref().map(|policies| Authorizer {
            policies: policies.clone(),
            audit: audit.clone(),
            metrics: metrics.clone(),
        });
        let keys_dir = config.data_dir.join("keys");
        let keys = Arc::new(KeyRing::new(SigningKeys::load_or_generate_with(
            &keys_dir,
            &signing_algorithms(config),
        )?));
        let csrf = CsrfKey::load_or_generate(&keys_dir.join("portal-csrf.key"))?;
        let issuer = config
            .portal
            .public_url
            .clone()
            .unwrap_or_else(|| "govgate".to_string());
        let assertions = Arc::new(AssertionCache::new(
            AssertionIssuer::new(
                keys.clone(),
                issuer,
                DEFAULT_ASSERTION_LIFETIME.min(Duration::from_secs(60)),
            ),
            ASSERTION_CACHE_SESSIONS,
        ));
        let headers = identity_header_names(&config.identity_headers);
        let portal_host = config
            .portal
            .public_url
            .as_deref()
            .and_then(|u| u.parse::<http::Uri>().ok())
            .and_then(|u| u.host().map(str::to_ascii_lowercase));
        let admin = if config.admin.token_file.is_some() || policies.is_some() {
            let api = AdminApi::new(
                config.admin.token_file.as_deref(),
                guard.clone(),
                sessions.clone(),
                audit.clone(),
            )?;
            let api = match (&policies, &authorizer) {
                (Some(store), Some(authorizer)) => api.with_policies(
                    PolicyAdmin {
                        store: store.clone(),
                        directory: directory.clone(),
                        versions: VersionStore::new(config.data_dir.join("policy-versions")),
                        audit: audit.clone(),
                    },
                    authorizer.clone(),
                ),
                _ => api,
            };
            Some(Arc::new(api))
        } else {
            None
        };
        let (oidc, logout_sender) = build_provider(
            config,
            &keys,
            &store,
            &sessions,
            authorizer.clone(),
            &audit,
            metrics,
        )?;
        let portal = Arc::new(Portal {
            sessions: sessions.clone(),
            directory,
            guard,
            audit: audit.clone(),
            csrf,
            keys,
            assertions: assertions.clone(),
            headers: headers.clone(),
            branding: Branding {
                site_name: config.portal.site_name.clone(),
                logo_url: config.portal.logo_url.clone(),
            },
            portal_host,
            public_url: config
                .portal
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_string()),
            apps: ArcSwap::from_pointee(portal_apps(config)),
            authorizer: authorizer.clone(),
            logout_listener: oidc
                .clone()
                .map(|provider| provider as Arc<dyn SessionEndListener>),
            form_targets: oidc
                .as_ref()
                .map(|provider| provider.form_targets.clone())
                .unwrap_or_default(),
        });
        let gatekeeper = Arc::new(Gatekeeper {
            sessions,
            assertions,
            headers,
            portal_url: config
                .portal
                .public_url
                .clone()
                .map(|u| u.trim_end_matches('/').to_string()),
            cookie_domain: config
                .session
                .cookie_domain
                .as_deref()
                .map(|d| d.trim_start_matches('.').to_string()),
            authorizer,
            bearer: oidc
                .clone()
                .map(|provider| provider as Arc<dyn crate::proxy::admit::BearerAuthority>),
        });
        Ok(Self {
            portal,
            gatekeeper,
            admin,
            policies,
            audit,
            oidc,
            logout_sender,
        })
    }
}

/// The algorithms the gateway needs a key for: RS256 and ES256 always, EdDSA when a client
/// signs with it.
fn signing_algorithms(config: &Config) -> Vec<Algorithm> {
    let mut algorithms = vec![Algorithm::RS256, Algorithm::ES256];
    let eddsa = config
        .oidc
        .iter()
        .flat_map(|o| &o.clients)
        .any(|c| c.signing_alg == crate::config::SigningAlg::EdDSA);
    if eddsa {
        algorithms.push(Algorithm::EdDSA);
    }
    algorithms
}

/// The OpenID Connect provider and its logout delivery, when `[oidc]` is configured.
fn build_provider(
    config: &Config,
    keys: &Arc<KeyRing>,
    store: &SharedStore,
    sessions: &Arc<SessionService>,
    authorizer: Option<Authorizer>,
    audit: &AuditLog,
    metrics: &Metrics,
) -> Result<(Option<Arc<Provider>>, Option<LogoutSender>), LoginSetupError> {
    let Some(oidc) = &config.oidc else {
        return Ok((None, None));
    };
    // https logout URIs are verified against the public web roots.
    let tls = crate::server::tls::upstream_client_config(None, None)
        .map_err(|e| {
            tracing::warn!(error = %e, "no TLS for https back-channel logout URIs");
        })
        .ok();
    let (queue, sender) = LogoutQueue::new(
        oidc.logout_queue,
        oidc.logout_attempts,
        tls,
        metrics.oidc.clone(),
    );
    let provider = Provider::from_config(
        config,
        keys.clone(),
        store.clone(),
        sessions.clone(),
        authorizer,
        audit.clone(),
        queue,
    )?;
    Ok((provider.map(Arc::new), Some(sender)))
}

/// Reads the policy set the gateway starts with: it must compile and pass its tests, or the
/// gateway does not start (there is no "last good set" yet to keep). Audited either way.
async fn open_policies(
    dir: &std::path::Path,
    config: &Config,
    audit: &AuditLog,
    metrics: &Metrics,
) -> Result<PolicyStore, LoginSetupError> {
    let opened = PolicyStore::open(dir, known_apps(config));
    let event = match &opened {
        Ok(store) => {
            let engine = store.current();
            metrics.policy.set_version(engine.version());
            AuditEvent::PolicyReloaded {
                trigger: "startup".into(),
                version: engine.version().to_string(),
                ok: true,
                detail: format!("{} policies", engine.set().policies.len()),
            }
        }
        Err(error) => AuditEvent::PolicyReloaded {
            trigger: "startup".into(),
            version: String::new(),
            ok: false,
            detail: first_lines(&error.to_string()),
        },
    };
    metrics.policy.record_reload(opened.is_ok());
    if let Err(error) = audit.record(event).await {
        tracing::error!(%error, "audit record of the policy load not written");
    }
    Ok(opened?)
}

/// The apps the gateway serves, as the policy compiler knows them.
pub fn known_apps(config: &Config) -> Vec<KnownApp> {
    config
        .apps
        .iter()
        .map(|app| KnownApp {
            id: app.id.clone(),
            name: app.name.clone(),
        })
        .collect()
}

/// The first few lines of a long error, for an audit record.
pub fn first_lines(text: &str) -> String {
    text.lines().take(5).collect::<Vec<_>>().join("\n")
}

/// The apps as the portal's launcher lists them.
pub fn portal_apps(config: &Config) -> Vec<PortalApp> {
    let scheme = if config.server.https_listen.is_some() {
        "https"
    } else {
        "http"
    };
    config
        .apps
        .iter()
        .map(|app| {
            let prefix = if app.path_prefix.ends_with('/') {
                app.path_prefix.clone()
            } else {
                format!("{}/", app.path_prefix)
            };
            let url = match app.hosts.iter().find(|h| !h.starts_with('*')) {
                Some(host) => format!("{scheme}://{host}{prefix}"),
                None => prefix.clone(),
            };
            PortalApp {
                id: app.id.clone(),
                name: app.name.clone(),
                hosts: app.hosts.clone(),
                url,
                entry_path: prefix,
                public: app.access == crate::config::Access::Public,
            }
        })
        .collect()
}

fn identity_header_names(config: &IdentityHeadersConfig) -> IdentityHeaderNames {
    let defaults = IdentityHeaderNames::default();
    let name = |value: &str, fallback: HeaderName| {
        HeaderName::from_bytes(value.to_ascii_lowercase().as_bytes()).unwrap_or(fallback)
    };
    IdentityHeaderNames {
        user: name(&config.user, defaults.user),
        name: name(&config.name, defaults.name),
        email: name(&config.email, defaults.email),
        groups: name(&config.groups, defaults.groups),
        department: name(&config.department, defaults.department),
        assertion: name(&config.assertion, defaults.assertion),
    }
}

/// The portal's answer for a request (a thin adapter from the portal's plain bodies).
pub async fn answer(
    portal: &Portal,
    endpoint: Endpoint,
    request: Request<Incoming>,
    caller: Caller,
) -> Response<ResponseBody> {
    portal
        .handle(endpoint, request, caller)
        .await
        .map(ResponseBody::full)
}

/// Serves portal pages at their short paths where no app claims the path; 404 otherwise.
pub struct PortalFallback {
    pub portal: Arc<Portal>,
    pub trusted: crate::proxy::headers::TrustedProxies,
}

#[async_trait::async_trait]
impl Fallback for PortalFallback {
    async fn answer(
        &self,
        request: Request<Incoming>,
        conn: &ConnInfo,
    ) -> Result<Response<ResponseBody>, Request<Incoming>> {
        let Some(endpoint) = Endpoint::short(request.uri().path()) else {
            return Err(request);
        };
        let caller = Caller {
            client_ip: self.trusted.client_ip(conn.peer.ip(), request.headers()),
            https: conn.https,
        };
        Ok(answer(&self.portal, endpoint, request, caller).await)
    }
}
