//! [`SessionService`]: create, look up (idle sliding + absolute lifetime), destroy, and
//! "log out everywhere", over the shared store with a short per-instance cache.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};

use super::cache::{Cached, SessionCache};
use super::cookie::CookieSpec;
use super::id::random_bytes;
use super::{Session, SessionError, SessionId, SessionSettings};
use crate::identity::{AuthStrength, Identity};
use crate::store::SharedStore;

const SESSION_PREFIX: &str = "session:";
const GENERATION_PREFIX: &str = "session-gen:";
/// The sliding expiry is written back at most this often (keeps the hot path to reads).
const MAX_REFRESH_INTERVAL: u64 = 60;
/// Attempts at bumping a generation counter before giving up under contention.
const MAX_CAS_ATTEMPTS: usize = 16;

/// Sessions over a [`SharedStore`]; one per gateway instance, shared by its workers.
pub struct SessionService {
    pub(super) store: SharedStore,
    settings: SessionSettings,
    cookie: CookieSpec,
    cache: SessionCache,
}

impl SessionService {
    pub fn new(store: SharedStore, settings: SessionSettings) -> Self {
        let cookie = CookieSpec {
            name: settings.cookie_name.clone(),
            domain: settings.cookie_domain.clone(),
        };
        let cache = SessionCache::new(settings.cache_ttl, settings.cache_capacity);
        Self {
            store,
            settings,
            cookie,
            cache,
        }
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// A new session for a person who just logged in.
    pub async fn create(
        &self,
        identity: Identity,
        strength: AuthStrength,
    ) -> Result<Session, SessionError> {
        self.start(identity, strength, now_unix(), None).await
    }

    /// Creates and stores a session; `auth_time` is when the person last authenticated.
    pub(super) async fn start(
        &self,
        identity: Identity,
        strength: AuthStrength,
        auth_time: u64,
        host: Option<String>,
    ) -> Result<Session, SessionError> {
        let generation = self.generation(&identity.username).await?;
        let now = now_unix();
        let session = Session {
            id: SessionId::generate()?,
            identity,
            strength,
            created_at: now,
            auth_time,
            last_seen: now,
            csrf_key: random_bytes()?,
            generation,
            host,
        };
        let stored = encode(&session)?;
        let ttl = self.store_ttl(&session, now);
        self.store
            .put(&session_key(&session.id), &stored, Some(ttl))
            .await?;
        self.cache.insert(Cached {
            session: session.clone(),
            stored,
        });
        Ok(session)
    }

    /// The live session with this id, or `None` if it never existed, was destroyed, timed
    /// out (idle or absolute), or was ended by "log out everywhere". Extends the idle timeout.
    pub async fn get(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        let cached = match self.cache.get(id.as_str()) {
            Some(cached) => cached,
            None => match self.load(id).await? {
                Some(loaded) => {
                    self.cache.insert(loaded.clone());
                    loaded
                }
                None => {
                    self.cache.remove(id.as_str());
                    return Ok(None);
                }
            },
        };
        let now = now_unix();
        if self.expired(&cached.session, now) {
            self.destroy(id).await?;
            return Ok(None);
        }
        if now.saturating_sub(cached.session.last_seen) >= self.refresh_interval() {
            return self.touch(cached, now).await;
        }
        Ok(Some(cached.session))
    }

    /// Ends one session (logout). Other instances stop honouring it within the cache TTL.
    pub async fn destroy(&self, id: &SessionId) -> Result<(), SessionError> {
        self.cache.remove(id.as_str());
        self.store.delete(&session_key(id)).await?;
        Ok(())
    }

    /// Ends every session of `username` on every instance ("log out everywhere") by
    /// raising the user's generation: older sessions are refused on their next store read.
    pub async fn destroy_all_for_user(&self, username: &str) -> Result<(), SessionError> {
        let key = generation_key(username);
        for _ in 0..MAX_CAS_ATTEMPTS {
            let current = self.store.get(&key).await?;
            let next = parse_generation(&key, current.as_deref())? + 1;
            let next = next.to_string();
            let swapped = self
                .store
                .compare_and_set(&key, current.as_deref(), Some(next.as_bytes()), None)
                .await?;
            if swapped {
                self.cache.remove_user(&user_key(username));
                return Ok(());
            }
        }
        Err(SessionError::Contention(key))
    }

    /// `Set-Cookie` value carrying the session id; `secure` when the request came over TLS.
    /// A hand-off session (bound to one app host) gets a host-only cookie.
    pub fn cookie(&self, session: &Session, secure: bool) -> HeaderValue {
        self.spec_for(session).set(&session.id, secure)
    }

    /// `Set-Cookie` value removing the session cookie.
    pub fn clear_cookie(&self, secure: bool) -> HeaderValue {
        self.cookie.clear(secure)
    }

    /// `Set-Cookie` value removing `session`'s cookie, with the attributes it was set with.
    pub fn clear_cookie_of(&self, session: &Session, secure: bool) -> HeaderValue {
        self.spec_for(session).clear(secure)
    }

    fn spec_for(&self, session: &Session) -> std::borrow::Cow<'_, CookieSpec> {
        match session.host {
            Some(_) if self.cookie.domain.is_some() => {
                std::borrow::Cow::Owned(self.cookie.host_only())
            }
            _ => std::borrow::Cow::Borrowed(&self.cookie),
        }
    }

    /// The session id in the request's `Cookie` header(s), if exactly one well-formed id is there.
    pub fn session_id_from(&self, headers: &HeaderMap) -> Option<SessionId> {
        self.cookie.session_id_from(headers)
    }

    /// Reads a session from the store and checks its generation (one extra read).
    async fn load(&self, id: &SessionId) -> Result<Option<Cached>, SessionError> {
        let key = session_key(id);
        let Some(stored) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let session: Session = match serde_json::from_slice(&stored) {
            Ok(session) => session,
            Err(error) => {
                tracing::warn!(%error, "discarding an unreadable stored session");
                self.store.delete(&key).await?;
                return Ok(None);
            }
        };
        if session.id != *id {
            return Err(SessionError::Corrupt(format!("{SESSION_PREFIX}…")));
        }
        if session.generation < self.generation(&session.identity.username).await? {
            self.store.delete(&key).await?;
            return Ok(None);
        }
        Ok(Some(Cached { session, stored }))
    }

    /// Writes the new `last_seen` unless the stored session changed meanwhile (it may have
    /// been destroyed: a blind write would bring it back).
    async fn touch(&self, cached: Cached, now: u64) -> Result<Option<Session>, SessionError> {
        let mut session = cached.session;
        session.last_seen = now;
        let stored = encode(&session)?;
        let key = session_key(&session.id);
        let ttl = self.store_ttl(&session, now);
        let swapped = self
            .store
            .compare_and_set(&key, Some(&cached.stored), Some(&stored), Some(ttl))
            .await?;
        if swapped {
            self.cache.insert(Cached {
                session: session.clone(),
                stored,
            });
            return Ok(Some(session));
        }
        // Someone else refreshed or destroyed it: the store has the truth.
        let reloaded = self.load(&session.id).await?;
        match reloaded {
            Some(reloaded) if !self.expired(&reloaded.session, now) => {
                self.cache.insert(reloaded.clone());
                Ok(Some(reloaded.session))
            }
            _ => {
                self.cache.remove(session.id.as_str());
                Ok(None)
            }
        }
    }

    /// The user's current "log out everywhere" generation (0 if never raised).
    async fn generation(&self, username: &str) -> Result<u64, SessionError> {
        let key = generation_key(username);
        let current = self.store.get(&key).await?;
        parse_generation(&key, current.as_deref())
    }

    fn expired(&self, session: &Session, now: u64) -> bool {
        let absolute_end = session
            .created_at
            .saturating_add(self.settings.absolute_lifetime.as_secs());
        let idle_end = session
            .last_seen
            .saturating_add(self.settings.idle_timeout.as_secs());
        now >= absolute_end || now > idle_end
    }

    /// Half the idle timeout, at most a minute, at least a second: an active session is
    /// always written back well before the store lets it expire.
    fn refresh_interval(&self) -> u64 {
        (self.settings.idle_timeout.as_secs() / 2).clamp(1, MAX_REFRESH_INTERVAL)
    }

    /// min(idle timeout, what is left of the absolute lifetime).
    fn store_ttl(&self, session: &Session, now: u64) -> Duration {
        let absolute_end = session
            .created_at
            .saturating_add(self.settings.absolute_lifetime.as_secs());
        let remaining = Duration::from_secs(absolute_end.saturating_sub(now).max(1));
        self.settings.idle_timeout.min(remaining)
    }
}

/// Usernames are compared case-insensitively (directories are).
pub(crate) fn user_key(username: &str) -> String {
    username.trim().to_lowercase()
}

fn session_key(id: &SessionId) -> String {
    format!("{SESSION_PREFIX}{}", id.as_str())
}

fn generation_key(username: &str) -> String {
    format!("{GENERATION_PREFIX}{}", user_key(username))
}

fn parse_generation(key: &str, value: Option<&[u8]>) -> Result<u64, SessionError> {
    let Some(value) = value else { return Ok(0) };
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| SessionError::Corrupt(key.to_string()))
}

fn encode(session: &Session) -> Result<Vec<u8>, SessionError> {
    serde_json::to_vec(session).map_err(|_| SessionError::Corrupt(SESSION_PREFIX.into()))
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
