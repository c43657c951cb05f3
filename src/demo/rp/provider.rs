//! The demo relying party's side of OpenID Connect: discovery, the JWKS, the token and
//! userinfo endpoints, and checking the ID and logout tokens the provider sends, as any
//! relying party would do over HTTP. Nothing here reaches into the provider's internals.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::Full;
use jsonwebtoken::Validation;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::memory::lock;
use crate::oidc::jwks::{JwtRejected, VerifyingKeys};
use crate::oidc::outbound::{exchange, OutboundError};

/// Largest provider answer read (discovery, JWKS, tokens, userinfo are all small).
const BODY_LIMIT: usize = 256 * 1024;
/// Clock skew tolerated on the provider's tokens.
const LEEWAY_SECS: u64 = 30;
/// The `events` member of a back-channel logout token (Back-Channel Logout 1.0 §2.4).
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What went wrong talking to the provider or checking what it sent.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    #[error("provider unreachable: {0}")]
    Unreachable(#[from] OutboundError),
    #[error("{endpoint} answered {status}: {body}")]
    Refused {
        endpoint: &'static str,
        status: StatusCode,
        body: String,
    },
    #[error("{endpoint} answered something that is not the expected JSON: {reason}")]
    BadJson {
        endpoint: &'static str,
        reason: String,
    },
    #[error("discovery names issuer {found:?}, expected {expected:?}")]
    WrongIssuer { expected: String, found: String },
    #[error("the provider's JWKS is unusable: {0}")]
    BadJwks(String),
    #[error("{kind} refused: {reason}")]
    BadToken { kind: &'static str, reason: String },
}

/// The part of the discovery document this app uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub end_session_endpoint: Option<String>,
}

/// The token endpoint's answer to an authorization code.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
}

/// The provider as this client sees it, with discovery and keys cached.
pub struct Provider {
    issuer: String,
    client_id: String,
    client_secret: String,
    metadata: Mutex<Option<Arc<Metadata>>>,
    keys: Mutex<Option<Arc<VerifyingKeys>>>,
}

impl Provider {
    pub fn new(issuer: String, client_id: String, client_secret: String) -> Provider {
        Provider {
            issuer,
            client_id,
            client_secret,
            metadata: Mutex::new(None),
            keys: Mutex::new(None),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The discovery document, fetched on first use (the gateway may start after this app)
    /// and kept once it names the expected issuer.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, RpError> {
        if let Some(cached) = lock(&self.metadata).clone() {
            return Ok(cached);
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let metadata: Metadata = self.get_json("discovery", &url, None).await?;
        if metadata.issuer != self.issuer {
            return Err(RpError::WrongIssuer {
                expected: self.issuer.clone(),
                found: metadata.issuer,
            });
        }
        let metadata = Arc::new(metadata);
        *lock(&self.metadata) = Some(metadata.clone());
        Ok(metadata)
    }

    /// Redeems `code` at the token endpoint (client_secret_basic, PKCE verifier).
    pub async fn redeem(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Tokens, RpError> {
        let metadata = self.metadata().await?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", verifier)
            .finish();
        let request = Request::builder()
            .method(Method::POST)
            .uri(metadata.token_endpoint.as_str())
            .header(header::AUTHORIZATION, self.basic_credentials())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        self.send_json("token endpoint", request, Bytes::from(form))
            .await
    }

    /// The userinfo endpoint's claims for `access_token`.
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, RpError> {
        let metadata = self.metadata().await?;
        let bearer = format!("Bearer {access_token}");
        self.get_json("userinfo", &metadata.userinfo_endpoint, Some(&bearer))
            .await
    }

    /// Checks an ID token: signature by a published key, issuer, audience (this client),
    /// expiry, and the nonce this app sent. Returns its claims.
    pub async fn check_id_token(&self, token: &str, nonce: &str) -> Result<Value, RpError> {
        let claims = self
            .decode(token, "ID token", &["exp", "iat", "iss", "aud", "sub"])
            .await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(bad_token("ID token", "nonce differs from the one sent"));
        }
        Ok(claims)
    }

    /// Checks a back-channel logout token (§2.6): `typ`, signature, issuer, audience,
    /// expiry, the logout event, a `sid` or `sub`, and no `nonce`. Returns its claims.
    pub async fn check_logout_token(&self, token: &str) -> Result<Value, RpError> {
        const KIND: &str = "logout token";
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| bad_token(KIND, "not a JWT"))?;
        if header.typ.as_deref() != Some("logout+jwt") {
            return Err(bad_token(KIND, "typ is not logout+jwt"));
        }
        let claims = self
            .decode(token, KIND, &["exp", "iat", "iss", "aud"])
            .await?;
        let has_event = claims
            .pointer("/events")
            .and_then(Value::as_object)
            .is_some_and(|events| events.contains_key(BACKCHANNEL_LOGOUT_EVENT));
        if !has_event {
            return Err(bad_token(KIND, "no back-channel logout event"));
        }
        if claims.get("nonce").is_some() {
            return Err(bad_token(KIND, "carries a nonce (an ID token?)"));
        }
        if claims.get("sid").is_none() && claims.get("sub").is_none() {
            return Err(bad_token(KIND, "names neither sid nor sub"));
        }
        Ok(claims)
    }

    /// Verifies `token` against the provider's keys, fetching them again once when the
    /// token names a key not yet seen (the provider rotated its keys).
    async fn decode(
        &self,
        token: &str,
        kind: &'static str,
        required: &[&str],
    ) -> Result<Value, RpError> {
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| bad_token(kind, "not a JWT"))?
            .kid;
        let keys = self.keys(kid.as_deref()).await?;
        let validation = |alg| {
            let mut validation = Validation::new(alg);
            validation.leeway = LEEWAY_SECS;
            validation.set_issuer(&[self.issuer.as_str()]);
            validation.set_audience(&[self.client_id.as_str()]);
            validation.set_required_spec_claims(required);
            validation
        };
        match keys.decode::<Value>(token, validation) {
            Ok(data) => Ok(data.claims),
            Err(JwtRejected::NoKey) => Err(bad_token(kind, "signed by no published key")),
            Err(other) => Err(bad_token(kind, &other.to_string())),
        }
    }

    async fn keys(&self, kid: Option<&str>) -> Result<Arc<VerifyingKeys>, RpError> {
        let cached = lock(&self.keys).clone();
        if let Some(keys) = cached {
            if kid.is_none_or(|kid| keys.has_kid(kid)) {
                return Ok(keys);
            }
        }
        let metadata = self.metadata().await?;
        let text: Value = self.get_json("JWKS", &metadata.jwks_uri, None).await?;
        let keys = Arc::new(VerifyingKeys::parse(&text.to_string()).map_err(RpError::BadJwks)?);
        *lock(&self.keys) = Some(keys.clone());
        Ok(keys)
    }

    fn basic_credentials(&self) -> String {
        // RFC 6749 §2.3.1: id and secret are form-encoded before base64.
        let encode =
            |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
        let pair = format!(
            "{}:{}",
            encode(&self.client_id),
            encode(&self.client_secret)
        );
        format!("Basic {}", STANDARD.encode(pair))
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<T, RpError> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(header::ACCEPT, "application/json");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        self.send_json(endpoint, request, Bytes::new()).await
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<T, RpError> {
        let request = request
            .header(header::USER_AGENT, "govgate-demo-rp")
            .body(Full::new(body))
            .map_err(|e| RpError::BadJson {
                endpoint,
                reason: format!("cannot build the request: {e}"),
            })?;
        let answer = exchange(request, None, BODY_LIMIT).await?;
        if !answer.status.is_success() {
            return Err(RpError::Refused {
                endpoint,
                status: answer.status,
                body: String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(500)
                    .collect(),
            });
        }
        serde_json::from_slice(&answer.body).map_err(|e| RpError::BadJson {
            endpoint,
            reason: e.to_string(),
        })
    }
}

fn bad_token(kind: &'static str, reason: &str) -> RpError {
    RpError::BadToken {
        kind,
        reason: reason.to_string(),
    }
}
