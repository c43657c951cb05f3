//! The registered clients: who they are, where they may be redirected, and how they prove it.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::Validation;
use serde::Deserialize;

use super::jwks::{JwtRejected, VerifyingKeys};
use super::types::{constant_time_eq, ClientId, ProtocolError, Scopes};
use super::OidcSetupError;
use crate::config::{ClientAuthMethod, GrantType, OidcClientConfig, SigningAlg};
use crate::keys::Algorithm;

/// The `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew tolerated on client assertions.
const ASSERTION_LEEWAY_SECS: u64 = 30;

/// A registered client, ready to use.
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub first_party: bool,
    pub auth_method: ClientAuthMethod,
    secret_sha256: Option<[u8; 32]>,
    /// The public keys of a `private_key_jwt` client.
    keys: Option<VerifyingKeys>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub loopback_any_port: bool,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scopes,
    /// The app whose policies decide sign-in.
    pub app: String,
    pub audiences: Vec<String>,
    pub roles: Vec<String>,
    pub require_pkce: bool,
    pub alg: Algorithm,
    pub access_token_lifetime: Option<Duration>,
    pub refresh_token_lifetime: Option<Duration>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("auth_method", &self.auth_method)
            .finish_non_exhaustive()
    }
}

impl Client {
    fn from_config(config: &OidcClientConfig) -> Result<Client, String> {
        let secret_sha256 = match &config.secret_sha256 {
            Some(hex) => Some(parse_hex32(hex).ok_or("secret_sha256 is not 64 hex digits")?),
            None => None,
        };
        let keys = match (&config.jwks, &config.jwks_file) {
            (Some(text), _) => Some(VerifyingKeys::parse(text)?),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Some(VerifyingKeys::parse(&text)?)
            }
            (None, None) => None,
        };
        let app = config.app_id().to_string();
        let audiences = if config.audiences.is_empty() {
            vec![app.clone()]
        } else {
            config.audiences.clone()
        };
        Ok(Client {
            id: ClientId::new(&config.id),
            name: config.name.clone(),
            first_party: config.first_party,
            auth_method: config.auth_method,
            secret_sha256,
            keys,
            redirect_uris: config.redirect_uris.clone(),
            post_logout_redirect_uris: config.post_logout_redirect_uris.clone(),
            loopback_any_port: config.loopback_any_port,
            grant_types: config.grant_types.clone(),
            scopes: Scopes::from_list(&config.scopes),
            app,
            audiences,
            roles: config.roles.clone(),
            // Public clients cannot keep a secret: PKCE is their only proof.
            require_pkce: config.require_pkce || config.auth_method == ClientAuthMethod::None,
            alg: match config.signing_alg {
                SigningAlg::RS256 => Algorithm::RS256,
                SigningAlg::ES256 => Algorithm::ES256,
                SigningAlg::EdDSA => Algorithm::EdDSA,
            },
            access_token_lifetime: config.access_token_lifetime.as_ref().map(|s| s.get()),
            refresh_token_lifetime: config.refresh_token_lifetime.as_ref().map(|s| s.get()),
            backchannel_logout_uri: config.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: config.frontchannel_logout_uri.clone(),
        })
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Exact match against the registered list; for native apps that asked for it
    /// (RFC 8252 §7.3), a loopback IP redirect URI matches with any port.
    pub fn redirect_uri_allowed(&self, uri: &str) -> bool {
        if self.redirect_uris.iter().any(|r| r == uri) {
            return true;
        }
        if !self.loopback_any_port {
            return false;
        }
        let Some(asked) = loopback_without_port(uri) else {
            return false;
        };
        self.redirect_uris
            .iter()
            .filter_map(|r| loopback_without_port(r))
            .any(|registered| registered == asked)
    }

    pub fn post_logout_uri_allowed(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    /// Checks a presented secret against the stored SHA-256, in constant time.
    fn secret_matches(&self, secret: &str) -> bool {
        let Some(expected) = &self.secret_sha256 else {
            return false;
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        constant_time_eq(digest.as_ref(), expected)
    }

    /// Verifies a `private_key_jwt` assertion (RFC 7523 §3): signed by one of the client's
    /// keys (the key's algorithm, never the token's, decides), `iss` = `sub` = client id,
    /// `aud` one of `audiences`, unexpired. Returns its `jti` and `exp` for replay checks.
    fn verify_assertion(
        &self,
        assertion: &str,
        audiences: &[String],
    ) -> Result<(String, u64), ProtocolError> {
        let refused = |why: &str| ProtocolError::invalid_client(format!("client assertion: {why}"));
        let keys = self
            .keys
            .as_ref()
            .ok_or_else(|| refused("no keys registered"))?;
        let data = keys
            .decode::<AssertionClaims>(assertion, |alg| {
                let mut validation = Validation::new(alg);
                validation.leeway = ASSERTION_LEEWAY_SECS;
                validation.set_audience(audiences);
                validation.set_issuer(&[self.id.as_str()]);
                validation.sub = Some(self.id.as_str().to_string());
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
                validation
            })
            .map_err(|rejected| match rejected {
                JwtRejected::Malformed => refused("malformed"),
                _ => refused("not signed by a registered key of this client, or claims invalid"),
            })?;
        let jti = data.claims.jti.ok_or_else(|| refused("no jti"))?;
        Ok((jti, data.claims.exp))
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    exp: u64,
    jti: Option<String>,
}

/// What a request presented to prove which client sent it.
#[derive(Debug, Default)]
pub struct PresentedCredentials {
    /// From `Authorization: Basic` (already form-decoded, RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

impl PresentedCredentials {
    /// Decodes `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    pub fn parse_basic(header: &str) -> Option<(String, String)> {
        let encoded = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let unescape = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        Some((unescape(id)?, unescape(secret)?))
    }
}

/// A successful client authentication; `assertion` carries what replay protection needs.
pub struct Authenticated<'a> {
    pub client: &'a Client,
    /// `(jti, exp)` of a `private_key_jwt` assertion, to be remembered until it expires.
    pub assertion: Option<(String, u64)>,
}

/// The clients of `[[oidc.clients]]`, by id.
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
}

impl ClientRegistry {
    pub fn from_config(configs: &[OidcClientConfig]) -> Result<Self, OidcSetupError> {
        let mut clients = HashMap::new();
        for (index, config) in configs.iter().enumerate() {
            let client = Client::from_config(config).map_err(|reason| OidcSetupError::Client {
                index,
                id: config.id.clone(),
                reason,
            })?;
            clients.insert(config.id.clone(), client);
        }
        Ok(Self { clients })
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }

    /// Authenticates the client of a token, introspection or revocation request by the
    /// method it registered — and only that one (RFC 6749 §2.3: one method per request).
    pub fn authenticate(
        &self,
        presented: &PresentedCredentials,
        assertion_audiences: &[String],
    ) -> Result<Authenticated<'_>, ProtocolError> {
        let unknown = || ProtocolError::invalid_client("unknown client or bad credentials");
        let methods = [
            presented.basic.is_some(),
            presented.client_secret.is_some(),
            presented.assertion.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(ProtocolError::invalid_request(
                "use exactly one client authentication method",
            ));
        }
        let id = match (&presented.basic, &presented.client_id) {
            (Some((basic_id, _)), Some(form_id)) if basic_id != form_id => {
                return Err(ProtocolError::invalid_request(
                    "client_id differs from the authenticated client",
                ))
            }
            (Some((id, _)), _) => id.as_str(),
            (None, Some(id)) => id.as_str(),
            (None, None) => return Err(ProtocolError::invalid_client("no client authentication")),
        };
        let client = self.get(id).ok_or_else(unknown)?;
        let authenticated = |assertion| Ok(Authenticated { client, assertion });
        match client.auth_method {
            ClientAuthMethod::ClientSecretBasic => match &presented.basic {
                Some((_, secret)) if client.secret_matches(secret) => authenticated(None),
                _ => Err(unknown()),
            },
            ClientAuthMethod::ClientSecretPost => match &presented.client_secret {
                Some(secret) if presented.basic.is_none() && client.secret_matches(secret) => {
                    authenticated(None)
                }
                _ => Err(unknown()),
            },
            ClientAuthMethod::PrivateKeyJwt => {
                if presented.assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
                    return Err(unknown());
                }
                let assertion = presented.assertion.as_deref().ok_or_else(unknown)?;
                let proof = client.verify_assertion(assertion, assertion_audiences)?;
                authenticated(Some(proof))
            }
            ClientAuthMethod::None => {
                if methods.iter().any(|m| *m) {
                    return Err(unknown());
                }
                authenticated(None)
            }
        }
    }
}

/// `http://127.0.0.1:PORT/path` → `http://127.0.0.1/path` (also `[::1]`); else `None`.
fn loopback_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let host = if authority.starts_with("[::1]") {
        "[::1]"
    } else if authority == "127.0.0.1" || authority.starts_with("127.0.0.1:") {
        "127.0.0.1"
    } else {
        return None;
    };
    let port = authority[host.len()..].strip_prefix(':');
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some(format!("http://{host}{path}"))
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Used by tests and tools: base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ports_are_flexible_only_on_loopback() {
        assert_eq!(
            loopback_without_port("http://127.0.0.1:5173/cb").as_deref(),
            Some("http://127.0.0.1/cb")
        );
        assert_eq!(
            loopback_without_port("http://[::1]:80/cb").as_deref(),
            Some("http://[::1]/cb")
        );
        assert_eq!(loopback_without_port("http://127.0.0.1.evil.vn/cb"), None);
        assert_eq!(loopback_without_port("http://localhost:80/cb"), None);
        assert_eq!(loopback_without_port("https://127.0.0.1:80/cb"), None);
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("qlvb:a%2Bb%3Ac"));
        assert_eq!(
            PresentedCredentials::parse_basic(&header),
            Some(("qlvb".to_string(), "a+b:c".to_string()))
        );
        assert_eq!(PresentedCredentials::parse_basic("Bearer x"), None);
    }
}
