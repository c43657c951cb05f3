//! The OpenID Connect provider: apps delegate login by redirect, systems get tokens, and
//! logout in one place reaches every app.
//!
//! Rooms, one job each:
//! - [`types`]: newtypes for protocol values (a nonce can never be passed for a state);
//! - [`clients`]: the registered clients, redirect-URI matching, client authentication;
//! - [`grants`]: what the store keeps (codes, refresh-token families, revocations, which
//!   clients a single sign-on session reached);
//! - [`tokens`]: minting ID, access and logout tokens, and checking access tokens;
//! - [`authorize`], [`token`], [`userinfo`], [`introspect`], [`logout`]: the endpoints'
//!   logic, free of HTTP;
//! - [`delivery`]: the bounded back-channel logout queue with retries, over [`outbound`];
//! - [`http`]: the thin adapter from HTTP requests to that logic, and [`pages`] it renders.
//!
//! Store keys, all under `oidc:`: `code:<digest>`, `code-used:<digest>`, `refresh:<digest>`,
//! `refresh-used:<digest>`, `revoked:<jti or grant id>`, `sid:<sid>`, `pending:<id>`,
//! `consent:<user>:<client>`. Codes and refresh tokens are stored under their SHA-256, so
//! the store never holds a usable credential.

pub mod authorize;
pub mod clients;
pub mod delivery;
pub mod discovery;
pub mod grants;
pub mod http;
pub mod introspect;
pub mod jwks;
pub mod logout;
pub mod outbound;
pub mod pages;
pub mod token;
pub mod tokens;
pub mod types;
pub mod userinfo;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

pub use clients::{Client, ClientRegistry};
pub use http::OidcEndpoint;
pub use tokens::{AccessTokenClaims, BearerError};

use crate::audit::AuditLog;
use crate::config::{Config, OidcConfig};
use crate::keys::KeyRing;
use crate::pages::Branding;
use crate::proxy::admit::Authorizer;
use crate::session::SessionService;
use crate::store::{SharedStore, StoreError};

pub use authorize::sid_of;

/// The path prefix of the provider's endpoints.
pub const OIDC_PREFIX: &str = "/oidc/";
/// The discovery document's path.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Everything that can go wrong setting the provider up.
#[derive(Debug, thiserror::Error)]
pub enum OidcSetupError {
    #[error("oidc.issuer (or portal.public_url) must be set")]
    NoIssuer,
    #[error("oidc.clients[{index}] ({id}): {reason}")]
    Client {
        index: usize,
        id: String,
        reason: String,
    },
}

/// Errors of the provider's own operation (the protocol errors are [`types::ProtocolError`]).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing failed: {0}")]
    Sign(#[from] crate::keys::KeyError),
    #[error("the system random number generator failed")]
    Random,
    #[error("too many concurrent updates of {0}")]
    Contention(String),
    #[error("cannot encode a record: {0}")]
    Encode(String),
}

/// Lifetimes in force, from `[oidc]`.
#[derive(Debug, Clone)]
pub struct Lifetimes {
    pub access_token: Duration,
    pub id_token: Duration,
    pub refresh_token: Duration,
    pub offline_token: Duration,
    pub code: Duration,
}

impl From<&OidcConfig> for Lifetimes {
    fn from(config: &OidcConfig) -> Self {
        Self {
            access_token: config.access_token_lifetime.get(),
            id_token: config.id_token_lifetime.get(),
            refresh_token: config.refresh_token_lifetime.get(),
            offline_token: config.offline_token_lifetime.get(),
            code: config.code_lifetime.get(),
        }
    }
}

/// The provider: its clients, keys, store and the session service it shares with the portal.
pub struct Provider {
    pub issuer: String,
    pub clients: ClientRegistry,
    pub keys: Arc<KeyRing>,
    grants: grants::Grants,
    pub sessions: Arc<SessionService>,
    pub lifetimes: Lifetimes,
    /// Decides `signin` (users) and client_credentials (systems), when `[policy]` is set.
    pub authorizer: Option<Authorizer>,
    pub audit: AuditLog,
    pub branding: Branding,
    pub logouts: delivery::LogoutQueue,
    /// Token and logout counters for `/metrics`.
    pub metrics: Arc<crate::metrics::OidcMetrics>,
    /// CSP sources of every client's redirect and post-logout URIs: where the login,
    /// consent and logout forms may lead.
    pub form_targets: Vec<String>,
}

impl Provider {
    /// Builds the provider from `[oidc]`; `None` when the section is absent.
    #[allow(clippy::too_many_arguments)]
    pub fn from_config(
        config: &Config,
        keys: Arc<KeyRing>,
        store: SharedStore,
        sessions: Arc<SessionService>,
        authorizer: Option<Authorizer>,
        audit: AuditLog,
        logouts: delivery::LogoutQueue,
    ) -> Result<Option<Provider>, OidcSetupError> {
        let Some(oidc) = &config.oidc else {
            return Ok(None);
        };
        let issuer = oidc.issuer_in(config).ok_or(OidcSetupError::NoIssuer)?;
        let lifetimes = Lifetimes::from(oidc);
        // Spent markers and revocations must outlive every token they concern.
        let longest = lifetimes
            .offline_token
            .max(lifetimes.refresh_token)
            .max(lifetimes.access_token)
            .max(sessions.settings().absolute_lifetime);
        let clients = ClientRegistry::from_config(&oidc.clients)?;
        let form_targets =
            crate::portal::http::form_target_sources(clients.iter().flat_map(|client| {
                client
                    .redirect_uris
                    .iter()
                    .chain(&client.post_logout_redirect_uris)
                    .map(|uri| (uri.as_str(), client.loopback_any_port))
            }));
        Ok(Some(Provider {
            issuer,
            clients,
            form_targets,
            keys,
            grants: grants::Grants::new(store, longest),
            sessions,
            lifetimes,
            authorizer,
            audit,
            branding: Branding {
                site_name: config.portal.site_name.clone(),
                logo_url: config.portal.logo_url.clone(),
            },
            metrics: logouts.stats.clone(),
            logouts,
        }))
    }

    /// The provider's records in the store.
    pub fn grants(&self) -> &grants::Grants {
        &self.grants
    }

    /// Checks an access token presented as `Authorization: Bearer` to app `audience`.
    pub async fn check_bearer(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<AccessTokenClaims, BearerError> {
        tokens::check_access_token(
            &self.keys,
            &self.grants,
            &self.issuer,
            token,
            Some(audience),
        )
        .await
    }

    /// `<issuer>/oidc/<name>`.
    pub fn endpoint_url(&self, name: &str) -> String {
        format!("{}{OIDC_PREFIX}{name}", self.issuer)
    }

    async fn record(&self, event: crate::audit::AuditEvent) {
        if let Err(error) = self.audit.record(event).await {
            tracing::error!(%error, "audit record not written");
        }
    }

    /// Token issuance is audited write-behind: a token request does not wait for the
    /// audit log's `fsync` (see [`AuditLog::record_behind`](crate::audit::AuditLog::record_behind)).
    async fn record_issued(&self, event: crate::audit::AuditEvent) {
        if let Err(error) = self.audit.record_behind(event).await {
            tracing::error!(%error, "audit record not queued");
        }
    }
}

#[async_trait::async_trait]
impl crate::proxy::admit::BearerAuthority for Provider {
    async fn check(
        &self,
        token: &str,
        app_id: &str,
    ) -> Result<crate::proxy::admit::BearerCaller, Option<String>> {
        match self.check_bearer(token, app_id).await {
            Ok(claims) => Ok(crate::proxy::admit::BearerCaller {
                token_id: claims.jti.clone(),
                identity: claims.identity(),
                strength: claims.strength(),
                system_roles: claims.is_system().then(|| claims.roles.clone()),
            }),
            Err(BearerError::Provider(error)) => {
                tracing::error!(%error, "cannot check an access token");
                Err(None)
            }
            Err(error) => Err(Some(error.to_string())),
        }
    }
}
