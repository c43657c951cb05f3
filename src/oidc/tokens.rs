//! The tokens the provider signs — ID tokens (OIDC Core §2), access tokens (RFC 9068),
//! logout tokens (Back-Channel Logout §2.4) — and the check of an access token presented
//! back to the gateway (introspection, `Authorization: Bearer`).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::clients::Client;
use super::grants::{Grant, Grants};
use super::types::{now_unix, random_id, Nonce, Scopes};
use super::OidcError;
use crate::identity::{AuthStrength, Identity};
use crate::keys::{Algorithm, KeyRing, VerifyOptions};

/// `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of logout tokens (Back-Channel Logout §2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The event member of a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Logout tokens are acted on at once; two minutes covers clock skew and retries.
const LOGOUT_TOKEN_LIFETIME: u64 = 120;
/// Clock skew tolerated when checking our own tokens: none — the gateway (or its instances,
/// whose clocks NTP keeps together) issued them; an expired token is expired.
const LEEWAY: Duration = Duration::ZERO;

/// The `acr` value of a login strength, and back.
pub fn acr_of(strength: AuthStrength) -> &'static str {
    match strength {
        AuthStrength::Password => "urn:govgate:acr:password",
        AuthStrength::SecondFactor => "urn:govgate:acr:second_factor",
        AuthStrength::Certificate => "urn:govgate:acr:certificate",
    }
}

/// Every `acr` value, weakest first (for discovery and `acr_values`).
pub const ACR_VALUES: [&str; 3] = [
    "urn:govgate:acr:password",
    "urn:govgate:acr:second_factor",
    "urn:govgate:acr:certificate",
];

/// The strength an `acr` value asks for.
pub fn strength_of_acr(acr: &str) -> Option<AuthStrength> {
    match acr {
        "urn:govgate:acr:password" => Some(AuthStrength::Password),
        "urn:govgate:acr:second_factor" => Some(AuthStrength::SecondFactor),
        "urn:govgate:acr:certificate" => Some(AuthStrength::Certificate),
        _ => None,
    }
}

/// RFC 8176 authentication method references.
fn amr_of(strength: AuthStrength) -> Vec<&'static str> {
    match strength {
        AuthStrength::Password => vec!["pwd"],
        AuthStrength::SecondFactor => vec!["pwd", "otp", "mfa"],
        AuthStrength::Certificate => vec!["hwk", "sc"],
    }
}

/// The claims of an access token, as the gateway reads them back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    /// The grant the token belongs to (private claim): revoking it revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// For user tokens: who, so that apps and the gateway's policies need no lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_dns: Vec<String>,
    /// For system tokens (client_credentials): the client's roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl AccessTokenClaims {
    /// Whether this token was issued to a system (client_credentials), not for a user.
    pub fn is_system(&self) -> bool {
        self.preferred_username.is_none()
    }

    /// The user the token speaks for, as an identity the policies can decide on.
    pub fn identity(&self) -> Identity {
        Identity {
            subject: self.sub.clone(),
            username: self
                .preferred_username
                .clone()
                .unwrap_or_else(|| self.client_id.clone()),
            display_name: self.name.clone().unwrap_or_default(),
            email: self.email.clone(),
            department: self.department.clone(),
            employee_number: None,
            groups: self.groups.clone(),
            group_dns: self.group_dns.clone(),
            source: "oidc-token".into(),
        }
    }

    /// The login strength the token carries (password when unknown).
    pub fn strength(&self) -> AuthStrength {
        self.acr
            .as_deref()
            .and_then(strength_of_acr)
            .unwrap_or(AuthStrength::Password)
    }
}

/// Why a presented access token is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token is not for this audience")]
    WrongAudience,
    #[error("token was revoked")]
    Revoked,
    #[error(transparent)]
    Provider(#[from] OidcError),
}

/// A freshly minted access token.
pub struct MintedAccessToken {
    pub token: String,
    pub claims: AccessTokenClaims,
}

/// Signs the provider's tokens with the gateway's keys.
pub struct TokenMinter<'a> {
    pub issuer: &'a str,
    pub keys: &'a KeyRing,
}

impl TokenMinter<'_> {
    /// An access token for a user grant.
    pub fn user_access_token(
        &self,
        client: &Client,
        grant: &Grant,
        lifetime: Duration,
    ) -> Result<MintedAccessToken, OidcError> {
        let now = now_unix();
        let identity = &grant.identity;
        let claims = AccessTokenClaims {
            iss: self.issuer.to_string(),
            sub: identity.subject.clone(),
            aud: client.audiences.clone(),
            exp: now + lifetime.as_secs(),
            iat: now,
            jti: random_id()?,
            client_id: client.id.as_str().to_string(),
            scope: grant.scopes.to_text(),
            gid: Some(grant.id.clone()),
            auth_time: Some(grant.auth_time),
            acr: Some(acr_of(grant.strength).to_string()),
            sid: Some(grant.sid.as_str().to_string()),
            preferred_username: Some(identity.username.clone()),
            name: Some(identity.display_name.clone()),
            department: identity.department.clone(),
            email: identity.email.clone(),
            groups: identity.groups.clone(),
            group_dns: identity.group_dns.clone(),
            roles: Vec::new(),
        };
        self.sign_access(client.alg, claims)
    }

    /// An access token for a system client (client_credentials).
    pub fn system_access_token(
        &self,
        client: &Client,
        scopes: &Scopes,
        lifetime: Duration,
    ) -> Result<MintedAccessToken, OidcError> {
        let now = now_unix();
        let claims = AccessTokenClaims {
            iss: self.issuer.to_string(),
            sub: client.id.as_str().to_string(),
            aud: client.audiences.clone(),
            exp: now + lifetime.as_secs(),
            iat: now,
            jti: random_id()?,
            client_id: client.id.as_str().to_string(),
            scope: scopes.to_text(),
            gid: None,
            auth_time: None,
            acr: None,
            sid: None,
            preferred_username: None,
            name: None,
            department: None,
            email: None,
            groups: Vec::new(),
            group_dns: Vec::new(),
            roles: client.roles.clone(),
        };
        self.sign_access(client.alg, claims)
    }

    fn sign_access(
        &self,
        alg: Algorithm,
        claims: AccessTokenClaims,
    ) -> Result<MintedAccessToken, OidcError> {
        let token = self.keys.load().sign(alg, &claims, ACCESS_TOKEN_TYP)?;
        Ok(MintedAccessToken { token, claims })
    }

    /// An ID token (OIDC Core §2, §3.1.3.6 `at_hash`).
    pub fn id_token(
        &self,
        client: &Client,
        grant: &Grant,
        nonce: Option<&Nonce>,
        access_token: &str,
        lifetime: Duration,
    ) -> Result<String, OidcError> {
        let now = now_unix();
        let mut claims = serde_json::json!({
            "iss": self.issuer,
            "sub": grant.identity.subject,
            "aud": client.id.as_str(),
            "azp": client.id.as_str(),
            "exp": now + lifetime.as_secs(),
            "iat": now,
            "auth_time": grant.auth_time,
            "acr": acr_of(grant.strength),
            "amr": amr_of(grant.strength),
            "sid": grant.sid.as_str(),
            "at_hash": token_hash(client.alg, access_token),
        });
        if let (Some(nonce), Some(object)) = (nonce, claims.as_object_mut()) {
            object.insert("nonce".into(), nonce.as_str().into());
        }
        if let (Some(object), serde_json::Value::Object(user)) = (
            claims.as_object_mut(),
            super::userinfo::claims_for(&grant.identity, &grant.scopes),
        ) {
            for (name, value) in user {
                object.entry(name).or_insert(value);
            }
        }
        Ok(self.keys.load().sign(client.alg, &claims, "JWT")?)
    }

    /// A logout token for `client` about session `sid` of `subject`.
    pub fn logout_token(
        &self,
        client: &Client,
        subject: &str,
        sid: &str,
    ) -> Result<String, OidcError> {
        let now = now_unix();
        let claims = serde_json::json!({
            "iss": self.issuer,
            "aud": client.id.as_str(),
            "iat": now,
            "exp": now + LOGOUT_TOKEN_LIFETIME,
            "jti": random_id()?,
            "sub": subject,
            "sid": sid,
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        Ok(self
            .keys
            .load()
            .sign(client.alg, &claims, LOGOUT_TOKEN_TYP)?)
    }
}

/// OIDC Core §3.1.3.6: the left half of the hash of the token's ASCII, base64url; the hash
/// is the JWS algorithm's (SHA-256 for RS256/ES256, SHA-512 for Ed25519).
pub fn token_hash(alg: Algorithm, token: &str) -> String {
    let algorithm = match alg {
        Algorithm::EdDSA => &aws_lc_rs::digest::SHA512,
        _ => &aws_lc_rs::digest::SHA256,
    };
    let digest = aws_lc_rs::digest::digest(algorithm, token.as_bytes());
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// Checks an access token the gateway issued: signature (the `kid`'s key and algorithm
/// only), `typ`, issuer, expiry, optionally the audience, and revocation.
pub async fn check_access_token(
    keys: &KeyRing,
    grants: &Grants,
    issuer: &str,
    token: &str,
    audience: Option<&str>,
) -> Result<AccessTokenClaims, BearerError> {
    let options = VerifyOptions {
        issuer: Some(issuer.to_string()),
        audience: None,
        typ: Some(ACCESS_TOKEN_TYP.into()),
        leeway: LEEWAY,
    };
    let value = keys
        .load()
        .verify(token, &options)
        .map_err(|e| BearerError::Invalid(e.to_string()))?;
    let claims: AccessTokenClaims =
        serde_json::from_value(value).map_err(|e| BearerError::Invalid(e.to_string()))?;
    if let Some(audience) = audience {
        if !claims.aud.iter().any(|a| a == audience) {
            return Err(BearerError::WrongAudience);
        }
    }
    if grants
        .is_revoked(&claims.jti, claims.gid.as_deref())
        .await?
    {
        return Err(BearerError::Revoked);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_oidc_core_example() {
        // OIDC Core Appendix A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
        // at_hash "77QmUPtjPfzWtF2AnpK9RQ" (RS256).
        assert_eq!(
            token_hash(
                Algorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn acr_values_round_trip() {
        for strength in [
            AuthStrength::Password,
            AuthStrength::SecondFactor,
            AuthStrength::Certificate,
        ] {
            assert_eq!(strength_of_acr(acr_of(strength)), Some(strength));
        }
        assert_eq!(strength_of_acr("urn:other"), None);
    }
}
