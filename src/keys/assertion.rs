//! The signed identity assertion handed to upstream apps in `X-Govgate-Assertion`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::material::b64;
use super::{Algorithm, KeyError, KeyRing, VerifyOptions};
use crate::identity::Identity;

/// Lifetime of an assertion unless configured otherwise.
pub const DEFAULT_ASSERTION_LIFETIME: Duration = Duration::from_secs(30);
/// Longest lifetime an assertion may have: it is a bearer credential in a header.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(60);
/// Shortest lifetime: `exp` has one-second resolution.
const MIN_ASSERTION_LIFETIME: Duration = Duration::from_secs(1);

/// The claims of an assertion, as an upstream app (or a test) reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    /// The app id the assertion is for; apps must check it is theirs.
    pub aud: String,
    /// The identity's stable subject.
    pub sub: String,
    pub preferred_username: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub groups: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    /// 128 random bits, base64url: lets apps refuse replays within the lifetime.
    pub jti: String,
}

/// The same claims, borrowed, so minting copies no identity strings.
#[derive(Serialize)]
struct BorrowedClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    preferred_username: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    department: Option<&'a str>,
    groups: &'a [String],
    iat: u64,
    exp: u64,
    jti: String,
}

/// Mints RS256 identity assertions (`typ: JWT`) for upstream apps.
#[derive(Debug, Clone)]
pub struct AssertionIssuer {
    keys: Arc<KeyRing>,
    issuer: String,
    lifetime: Duration,
}

impl AssertionIssuer {
    /// `lifetime` is clamped to 1..=60 s ([`DEFAULT_ASSERTION_LIFETIME`] is 30 s).
    pub fn new(keys: Arc<KeyRing>, issuer: String, lifetime: Duration) -> Self {
        Self {
            keys,
            issuer,
            lifetime: lifetime.clamp(MIN_ASSERTION_LIFETIME, MAX_ASSERTION_LIFETIME),
        }
    }

    /// The lifetime actually used (after clamping).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// Signs an assertion of `identity` for the app `app_id` (its `aud`).
    pub fn mint(&self, app_id: &str, identity: &Identity) -> Result<String, KeyError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = BorrowedClaims {
            iss: &self.issuer,
            aud: app_id,
            sub: &identity.subject,
            preferred_username: &identity.username,
            name: &identity.display_name,
            email: identity.email.as_deref(),
            department: identity.department.as_deref(),
            groups: &identity.groups,
            iat,
            exp: iat + self.lifetime.as_secs(),
            jti: random_jti()?,
        };
        self.keys.load().sign(Algorithm::RS256, &claims, "JWT")
    }

    /// Verifies an assertion as the app `app_id` would (signature, alg, iss, aud, exp).
    pub fn verify(&self, token: &str, app_id: &str) -> Result<AssertionClaims, KeyError> {
        let options = VerifyOptions {
            issuer: Some(self.issuer.clone()),
            audience: Some(app_id.to_string()),
            typ: Some("JWT".into()),
            leeway: Duration::ZERO,
        };
        let claims = self.keys.load().verify(token, &options)?;
        serde_json::from_value(claims).map_err(|e| KeyError::InvalidToken(e.to_string()))
    }
}

fn random_jti() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::Sign("no randomness".into()))?;
    Ok(b64(&bytes))
}
