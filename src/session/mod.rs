//! Browser sessions: the model, the cookie that carries the id, and the service that
//! keeps sessions in the shared [`Store`](crate::store::Store).
//!
//! Store keys (all under the store's own prefix):
//! - `session:<id>`: the session as JSON, with a store TTL of min(idle, remaining absolute);
//! - `session-gen:<username>`: the user's "log out everywhere" generation (no expiry);
//! - `sso-code:<code>`: a single-use hand-off code for app hosts outside the cookie domain.

mod cache;
mod cookie;
mod handoff;
mod id;
mod service;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::SessionConfig;
use crate::identity::{AuthStrength, Identity};
use crate::store::StoreError;

pub(crate) use cookie::CookieSpec;
pub use id::SessionId;
pub use service::SessionService;
pub(crate) use service::{now_unix, user_key};

/// How long an SSO hand-off code stays redeemable (default of `handoff_code_ttl`).
pub const HANDOFF_CODE_TTL: Duration = Duration::from_secs(60);
/// Sessions one instance caches at most.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// One person's login on one browser.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub identity: Identity,
    pub strength: AuthStrength,
    /// When this session was created (unix seconds).
    pub created_at: u64,
    /// When the person last proved who they are (unix seconds); a hand-off session keeps
    /// the original login's time.
    pub auth_time: u64,
    /// Last use recorded in the store (unix seconds; refreshed at most every refresh interval).
    pub last_seen: u64,
    /// Per-session secret for CSRF tokens.
    pub csrf_key: [u8; 32],
    /// The user's "log out everywhere" generation when the session was created.
    pub generation: u64,
    /// The app host a hand-off session was issued for; `None` for a portal login.
    pub host: Option<String>,
}

impl fmt::Debug for Session {
    /// Leaves out the id and the CSRF key: both are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("username", &self.identity.username)
            .field("strength", &self.strength)
            .field("created_at", &self.created_at)
            .field("auth_time", &self.auth_time)
            .field("last_seen", &self.last_seen)
            .field("generation", &self.generation)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// Runtime settings of a [`SessionService`] (from `[session]`, or [`Default`]).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub idle_timeout: Duration,
    pub absolute_lifetime: Duration,
    pub cookie_name: String,
    /// `Domain` attribute, e.g. `.namdinh.gov.vn`; `None` = host-only cookie.
    pub cookie_domain: Option<String>,
    /// Longest time a session is served from this instance's cache; zero disables it.
    pub cache_ttl: Duration,
    /// Most sessions cached by this instance.
    pub cache_capacity: usize,
    /// How long an SSO hand-off code stays redeemable.
    pub handoff_code_ttl: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self::from(&SessionConfig::default())
    }
}

impl From<&SessionConfig> for SessionSettings {
    fn from(config: &SessionConfig) -> Self {
        Self {
            idle_timeout: config.idle_timeout.get(),
            absolute_lifetime: config.absolute_lifetime.get(),
            cookie_name: config.cookie_name.clone(),
            cookie_domain: config.cookie_domain.clone(),
            cache_ttl: config.cache_ttl.get(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            handoff_code_ttl: HANDOFF_CODE_TTL,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the system random number generator failed")]
    Random,
    #[error("corrupt value in the store under {0}")]
    Corrupt(String),
    #[error("too many concurrent updates of {0}; try again")]
    Contention(String),
}

/// Told when a person logs out, so that what the session reached ends with it (the
/// OpenID Connect provider's clients). Returns front-channel logout URLs the logout page
/// loads in frames.
#[async_trait::async_trait]
pub trait SessionEndListener: Send + Sync {
    async fn session_ended(&self, session: &Session) -> Vec<String>;
}
