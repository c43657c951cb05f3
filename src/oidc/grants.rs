//! What the provider keeps in the store: authorization codes, refresh-token families,
//! revocations, the clients each single sign-on session reached, pending authorization
//! requests and consents.
//!
//! Every token issued from one authorization shares a *grant id*: revoking the grant
//! (a reused code or refresh token, a revocation request, a logout) makes all of them
//! inactive at once, however many rotations later.

use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::types::{random_id, random_token, sha256_b64, CodeChallenge, Nonce, Scopes, Sid};
use super::OidcError;
use crate::identity::{AuthStrength, Identity};
use crate::store::SharedStore;

const CODE: &str = "oidc:code:";
const CODE_USED: &str = "oidc:code-used:";
const REFRESH: &str = "oidc:refresh:";
const REFRESH_USED: &str = "oidc:refresh-used:";
const REVOKED: &str = "oidc:revoked:";
const SID: &str = "oidc:sid:";
const PENDING: &str = "oidc:pending:";
const CONSENT: &str = "oidc:consent:";
const ASSERTION: &str = "oidc:assertion:";
/// Attempts at updating a session's client list under contention.
const MAX_CAS_ATTEMPTS: usize = 16;
/// How long a consent is remembered.
const CONSENT_TTL: Duration = Duration::from_secs(180 * 24 * 3600);

/// One authorization of one client by one user: what every token from it says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub identity: Identity,
    pub strength: AuthStrength,
    pub auth_time: u64,
    pub scopes: Scopes,
    /// The single sign-on session the grant came from.
    pub sid: Sid,
    /// `offline_access`: refresh tokens outlive the session.
    pub offline: bool,
}

/// An authorization code's record, stored under the code's digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub grant: Grant,
    pub redirect_uri: String,
    pub code_challenge: Option<CodeChallenge>,
    pub nonce: Option<Nonce>,
}

/// A refresh token's record: its grant and when it stops working.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub grant: Grant,
    pub expires_at: u64,
}

/// What presenting a code or refresh token found.
pub enum Redemption<T> {
    /// First use: here is what it stood for (it is now spent).
    Fresh(T),
    /// Already spent: someone holds a copy. The grant it belonged to.
    Reused(UsedMarker),
    /// Never issued, expired, or garbage.
    Unknown,
}

/// Left behind when a code or refresh token is spent, to recognise a second use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsedMarker {
    pub grant_id: String,
    pub client_id: String,
    pub username: String,
}

/// One client a single sign-on session reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidClient {
    pub client_id: String,
    pub grant_id: String,
    pub offline: bool,
}

/// The clients a single sign-on session reached, for logout.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SidRecord {
    pub subject: String,
    pub username: String,
    pub clients: Vec<SidClient>,
}

/// The store, seen through the provider's records.
#[derive(Clone)]
pub struct Grants {
    store: SharedStore,
    /// How long spent markers and revocations are kept: as long as any token may live.
    pub longest_lifetime: Duration,
}

impl Grants {
    pub fn new(store: SharedStore, longest_lifetime: Duration) -> Self {
        Self {
            store,
            longest_lifetime,
        }
    }

    pub fn new_grant_id() -> Result<String, OidcError> {
        random_id()
    }

    // ----- authorization codes -----

    /// Stores `record` and returns the code (the store keeps only its digest).
    pub async fn issue_code(
        &self,
        record: &CodeRecord,
        ttl: Duration,
    ) -> Result<String, OidcError> {
        let code = random_token()?;
        self.put(&key(CODE, &code), record, ttl).await?;
        Ok(code)
    }

    /// Spends a code: of two concurrent redemptions only one gets it.
    pub async fn redeem_code(&self, code: &str) -> Result<Redemption<CodeRecord>, OidcError> {
        self.redeem(CODE, CODE_USED, code, |r: &CodeRecord| &r.grant)
            .await
    }

    // ----- refresh tokens -----

    pub async fn issue_refresh(&self, record: &RefreshRecord) -> Result<String, OidcError> {
        let token = random_token()?;
        let ttl = Duration::from_secs(
            record
                .expires_at
                .saturating_sub(super::types::now_unix())
                .max(1),
        );
        self.put(&key(REFRESH, &token), record, ttl).await?;
        Ok(token)
    }

    /// Spends a refresh token (rotation: the caller issues its successor).
    pub async fn redeem_refresh(
        &self,
        token: &str,
    ) -> Result<Redemption<RefreshRecord>, OidcError> {
        self.redeem(REFRESH, REFRESH_USED, token, |r: &RefreshRecord| &r.grant)
            .await
    }

    /// Reads a refresh token's record without spending it (introspection, revocation).
    pub async fn peek_refresh(&self, token: &str) -> Result<Option<RefreshRecord>, OidcError> {
        self.get(&key(REFRESH, token)).await
    }

    async fn redeem<T: DeserializeOwned>(
        &self,
        live_prefix: &str,
        used_prefix: &str,
        secret: &str,
        grant_of: impl Fn(&T) -> &Grant,
    ) -> Result<Redemption<T>, OidcError> {
        if secret.is_empty() || secret.len() > 512 {
            return Ok(Redemption::Unknown);
        }
        let used_key = key(used_prefix, secret);
        match self.store.take(&key(live_prefix, secret)).await? {
            Some(bytes) => {
                let Ok(record) = serde_json::from_slice::<T>(&bytes) else {
                    return Ok(Redemption::Unknown);
                };
                let grant = grant_of(&record);
                let marker = UsedMarker {
                    grant_id: grant.id.clone(),
                    client_id: grant.client_id.clone(),
                    username: grant.identity.username.clone(),
                };
                self.put(&used_key, &marker, self.longest_lifetime).await?;
                Ok(Redemption::Fresh(record))
            }
            None => match self.get::<UsedMarker>(&used_key).await? {
                Some(marker) => Ok(Redemption::Reused(marker)),
                None => Ok(Redemption::Unknown),
            },
        }
    }

    // ----- revocation -----

    /// Revokes every token of a grant.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<(), OidcError> {
        self.store
            .put(
                &format!("{REVOKED}{grant_id}"),
                b"grant",
                Some(self.longest_lifetime),
            )
            .await?;
        Ok(())
    }

    /// Revokes one access token until it would have expired anyway.
    pub async fn revoke_token_id(&self, jti: &str, until: u64) -> Result<(), OidcError> {
        let ttl = Duration::from_secs(until.saturating_sub(super::types::now_unix()).max(1));
        self.store
            .put(&format!("{REVOKED}{jti}"), b"token", Some(ttl))
            .await?;
        Ok(())
    }

    /// Whether the token `jti` or its grant was revoked.
    pub async fn is_revoked(&self, jti: &str, grant_id: Option<&str>) -> Result<bool, OidcError> {
        if self.store.get(&format!("{REVOKED}{jti}")).await?.is_some() {
            return Ok(true);
        }
        match grant_id {
            Some(grant) => Ok(self
                .store
                .get(&format!("{REVOKED}{grant}"))
                .await?
                .is_some()),
            None => Ok(false),
        }
    }

    // ----- sessions and their clients -----

    /// Notes that `sid` reached `client` (once per grant), for logout.
    pub async fn remember_client(
        &self,
        sid: &Sid,
        grant: &Grant,
        ttl: Duration,
    ) -> Result<(), OidcError> {
        let key = format!("{SID}{}", sid.as_str());
        for _ in 0..MAX_CAS_ATTEMPTS {
            let current = self.store.get(&key).await?;
            let mut record: SidRecord = current
                .as_deref()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
                .unwrap_or_default();
            record.subject = grant.identity.subject.clone();
            record.username = grant.identity.username.clone();
            let entry = SidClient {
                client_id: grant.client_id.clone(),
                grant_id: grant.id.clone(),
                offline: grant.offline,
            };
            if record.clients.contains(&entry) {
                return Ok(());
            }
            record.clients.push(entry);
            let next = serde_json::to_vec(&record).map_err(|e| OidcError::Encode(e.to_string()))?;
            if self
                .store
                .compare_and_set(&key, current.as_deref(), Some(&next), Some(ttl))
                .await?
            {
                return Ok(());
            }
        }
        Err(OidcError::Contention(key))
    }

    /// Ends a session for the provider: returns (and forgets) the clients it reached.
    pub async fn end_sid(&self, sid: &Sid) -> Result<Option<SidRecord>, OidcError> {
        let bytes = self.store.take(&format!("{SID}{}", sid.as_str())).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    // ----- pending authorization requests -----

    pub async fn put_pending<T: Serialize>(
        &self,
        request: &T,
        ttl: Duration,
    ) -> Result<String, OidcError> {
        let id = random_token()?;
        self.put(&format!("{PENDING}{id}"), request, ttl).await?;
        Ok(id)
    }

    pub async fn get_pending<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, OidcError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        self.get(&format!("{PENDING}{id}")).await
    }

    pub async fn drop_pending(&self, id: &str) -> Result<(), OidcError> {
        self.store.delete(&format!("{PENDING}{id}")).await?;
        Ok(())
    }

    // ----- consent -----

    pub async fn consented_scopes(
        &self,
        username: &str,
        client_id: &str,
    ) -> Result<Option<Scopes>, OidcError> {
        self.get(&consent_key(username, client_id)).await
    }

    pub async fn save_consent(
        &self,
        username: &str,
        client_id: &str,
        scopes: &Scopes,
    ) -> Result<(), OidcError> {
        self.put(&consent_key(username, client_id), scopes, CONSENT_TTL)
            .await
    }

    // ----- client assertions -----

    /// Remembers a `private_key_jwt` assertion's `jti` until it expires; false if it was
    /// already used (a replay).
    pub async fn first_use_of_assertion(
        &self,
        client_id: &str,
        jti: &str,
        exp: u64,
    ) -> Result<bool, OidcError> {
        let key = format!("{ASSERTION}{client_id}:{}", sha256_b64(jti.as_bytes()));
        let ttl = Duration::from_secs(exp.saturating_sub(super::types::now_unix()).max(1) + 60);
        Ok(self
            .store
            .compare_and_set(&key, None, Some(b"1"), Some(ttl))
            .await?)
    }

    // ----- plumbing -----

    async fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), OidcError> {
        let bytes = serde_json::to_vec(value).map_err(|e| OidcError::Encode(e.to_string()))?;
        self.store.put(key, &bytes, Some(ttl)).await?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, OidcError> {
        let Some(bytes) = self.store.get(key).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&bytes).ok())
    }
}

/// Secrets are stored under their digest: the store never holds a usable code or token.
fn key(prefix: &str, secret: &str) -> String {
    format!("{prefix}{}", sha256_b64(secret.as_bytes()))
}

fn consent_key(username: &str, client_id: &str) -> String {
    format!(
        "{CONSENT}{}:{client_id}",
        crate::session::user_key(username)
    )
}
