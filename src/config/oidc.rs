//! `[oidc]` and `[[oidc.clients]]`: the OpenID Connect provider and the apps and systems
//! registered with it.

use std::path::PathBuf;

use serde::Deserialize;

use super::locate::{KeyPath, Reporter};
use super::units::Seconds;
use super::Config;

/// Longest access-token lifetime accepted: access tokens are bearer credentials.
const MAX_ACCESS_TOKEN_LIFETIME: u64 = 3600;
/// Longest authorization-code lifetime accepted (OAuth 2.1: "short", 10 minutes at most).
const MAX_CODE_LIFETIME: u64 = 600;
/// Shortest client secret accepted, in characters (the SHA-256 must hide a long random value).
pub const MIN_CLIENT_SECRET_CHARS: usize = 32;

/// The OpenID Connect provider. Absent: no `/oidc/*` endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL (`https://sso.namdinh.gov.vn`), exactly as clients will compare it;
    /// default: `portal.public_url`. One of the two is required.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Lifetime of access tokens unless a client sets its own (at most 1 h).
    #[serde(default = "defaults::access_token_lifetime")]
    pub access_token_lifetime: Seconds,
    /// Lifetime of ID tokens.
    #[serde(default = "defaults::id_token_lifetime")]
    pub id_token_lifetime: Seconds,
    /// Lifetime of refresh tokens bound to the single sign-on session (they end with it).
    #[serde(default = "defaults::refresh_token_lifetime")]
    pub refresh_token_lifetime: Seconds,
    /// Lifetime of `offline_access` refresh tokens (they outlive the session).
    #[serde(default = "defaults::offline_token_lifetime")]
    pub offline_token_lifetime: Seconds,
    /// Lifetime of authorization codes (at most 10 min).
    #[serde(default = "defaults::code_lifetime")]
    pub code_lifetime: Seconds,
    /// Back-channel logout notifications waiting for delivery at most; beyond, new ones are
    /// dropped (and counted), so a dead client cannot grow memory.
    #[serde(default = "defaults::logout_queue")]
    pub logout_queue: usize,
    /// Delivery attempts of one back-channel logout notification.
    #[serde(default = "defaults::logout_attempts")]
    pub logout_attempts: u32,
    /// The registered clients.
    #[serde(default)]
    pub clients: Vec<OidcClientConfig>,
}

/// How a client proves who it is at the token, introspection and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (the default).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with one of the client's keys (`jwks` / `jwks_file`), RFC 7523.
    PrivateKeyJwt,
    /// A public client (browser or native app): no secret; PKCE is always required.
    None,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
            ClientAuthMethod::None => "none",
        }
    }
}

/// The OAuth grants a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

/// The JWS algorithm of a client's ID and access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SigningAlg {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

/// One registered client: an app that delegates login, or a system that gets tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcClientConfig {
    /// The `client_id` (`[A-Za-z0-9._-]+`).
    pub id: String,
    /// Shown on the consent page, e.g. "Cổng dịch vụ công tỉnh".
    pub name: String,
    /// A first-party app of the province: no consent page.
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub auth_method: ClientAuthMethod,
    /// SHA-256 of the client secret, hex (`govgate oidc secret` makes a secret and its
    /// digest). Required for `client_secret_basic` and `client_secret_post`.
    #[serde(default)]
    pub secret_sha256: Option<String>,
    /// The client's public keys for `private_key_jwt`, as a JWK Set (JSON text).
    #[serde(default)]
    pub jwks: Option<String>,
    /// The same, from a file.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// For native apps (RFC 8252 §7.3): a `http://127.0.0.1` / `http://[::1]` redirect URI
    /// matches with any port. Off by default.
    #[serde(default)]
    pub loopback_any_port: bool,
    #[serde(default = "defaults::grant_types")]
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may ask for: `openid`, `profile`, `email`, `groups`, `roles`,
    /// `offline_access`, and API scopes of its own.
    #[serde(default = "defaults::scopes")]
    pub scopes: Vec<String>,
    /// The app the access policies decide sign-in for (`signin` on `App::"…"`); default: `id`.
    #[serde(default)]
    pub app: Option<String>,
    /// Audiences of the client's access tokens (app ids the tokens are good for); default:
    /// the client's app.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Roles (of `policies/roles.toml`) a system client holds for `client_credentials`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// PKCE for confidential clients too (always required for public clients).
    #[serde(default = "defaults::yes")]
    pub require_pkce: bool,
    #[serde(default)]
    pub signing_alg: SigningAlg,
    #[serde(default)]
    pub access_token_lifetime: Option<Seconds>,
    #[serde(default)]
    pub refresh_token_lifetime: Option<Seconds>,
    /// OIDC Back-Channel Logout 1.0: where logout tokens are POSTed.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// OIDC Front-Channel Logout 1.0: loaded in an iframe of the logout page.
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
}

impl OidcClientConfig {
    /// The app whose policies decide sign-in.
    pub fn app_id(&self) -> &str {
        self.app.as_deref().unwrap_or(&self.id)
    }
}

impl OidcConfig {
    /// The issuer in force: `oidc.issuer`, else `portal.public_url`, without a trailing `/`.
    pub fn issuer_in(&self, config: &Config) -> Option<String> {
        self.issuer
            .clone()
            .or_else(|| config.portal.public_url.clone())
            .map(|url| url.trim_end_matches('/').to_string())
    }
}

mod defaults {
    use super::{GrantType, Seconds};

    pub fn access_token_lifetime() -> Seconds {
        Seconds::from_secs(600)
    }
    pub fn id_token_lifetime() -> Seconds {
        Seconds::from_secs(600)
    }
    pub fn refresh_token_lifetime() -> Seconds {
        Seconds::from_secs(8 * 3600)
    }
    pub fn offline_token_lifetime() -> Seconds {
        Seconds::from_secs(30 * 24 * 3600)
    }
    pub fn code_lifetime() -> Seconds {
        Seconds::from_secs(60)
    }
    pub fn logout_queue() -> usize {
        10_000
    }
    pub fn logout_attempts() -> u32 {
        5
    }
    pub fn grant_types() -> Vec<GrantType> {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    }
    pub fn scopes() -> Vec<String> {
        ["openid", "profile", "email"].map(String::from).to_vec()
    }
    pub fn yes() -> bool {
        true
    }
}

/// Checks `[oidc]`: an issuer, sane lifetimes, and every client usable as configured.
pub(crate) fn validate(config: &Config, reporter: &mut Reporter<'_>) {
    let Some(oidc) = &config.oidc else { return };
    let path = KeyPath::of("oidc");
    match oidc.issuer_in(config) {
        None => reporter.at(
            &path.key("issuer"),
            "set oidc.issuer (or portal.public_url): clients compare the issuer exactly",
        ),
        Some(issuer) => {
            if let Some(problem) = url_problem(&issuer, false) {
                reporter.at(&path.key("issuer"), problem);
            } else if issuer.contains(['?', '#']) {
                reporter.at(&path.key("issuer"), "must have no query or fragment");
            }
        }
    }
    let lifetime = |key: &str, value: &Seconds, max: u64, reporter: &mut Reporter<'_>| {
        let secs = value.get().as_secs();
        if secs == 0 || secs > max {
            reporter.at(&path.key(key), format!("must be between 1s and {max}s"));
        }
    };
    lifetime(
        "access_token_lifetime",
        &oidc.access_token_lifetime,
        MAX_ACCESS_TOKEN_LIFETIME,
        reporter,
    );
    lifetime(
        "id_token_lifetime",
        &oidc.id_token_lifetime,
        MAX_ACCESS_TOKEN_LIFETIME,
        reporter,
    );
    lifetime(
        "code_lifetime",
        &oidc.code_lifetime,
        MAX_CODE_LIFETIME,
        reporter,
    );
    lifetime(
        "refresh_token_lifetime",
        &oidc.refresh_token_lifetime,
        u64::MAX,
        reporter,
    );
    lifetime(
        "offline_token_lifetime",
        &oidc.offline_token_lifetime,
        u64::MAX,
        reporter,
    );
    if oidc.logout_queue == 0 {
        reporter.at(&path.key("logout_queue"), "must be at least 1");
    }
    for (index, client) in oidc.clients.iter().enumerate() {
        validate_client(client, &path.key("clients").index(index), reporter);
        if oidc.clients[..index].iter().any(|c| c.id == client.id) {
            reporter.at(
                &path.key("clients").index(index).key("id"),
                format!("duplicate client id {:?}", client.id),
            );
        }
    }
}

fn validate_client(client: &OidcClientConfig, path: &KeyPath, reporter: &mut Reporter<'_>) {
    let id_ok = !client.id.is_empty()
        && client
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !id_ok {
        reporter.at(
            &path.key("id"),
            "use letters, digits, '.', '_' and '-' only",
        );
    }
    let secret_methods = [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ];
    match (&client.secret_sha256, client.auth_method) {
        (None, method) if secret_methods.contains(&method) => reporter.at(
            &path.key("secret_sha256"),
            format!(
                "{} needs secret_sha256 (make one with `govgate oidc secret`)",
                method.as_str()
            ),
        ),
        (Some(digest), _) if !is_sha256_hex(digest) => reporter.at(
            &path.key("secret_sha256"),
            "must be 64 hexadecimal characters (the SHA-256 of the secret)",
        ),
        (Some(_), method) if !secret_methods.contains(&method) => reporter.at(
            &path.key("secret_sha256"),
            format!("not used with auth_method = \"{}\"", method.as_str()),
        ),
        _ => {}
    }
    let has_jwks = client.jwks.is_some() || client.jwks_file.is_some();
    if client.auth_method == ClientAuthMethod::PrivateKeyJwt && !has_jwks {
        reporter.at(
            &path.key("jwks"),
            "private_key_jwt needs the client's public keys (jwks or jwks_file)",
        );
    }
    if client.jwks.is_some() && client.jwks_file.is_some() {
        reporter.at(&path.key("jwks_file"), "set jwks or jwks_file, not both");
    }
    if let Some(jwks) = &client.jwks {
        if serde_json::from_str::<serde_json::Value>(jwks).is_err() {
            reporter.at(
                &path.key("jwks"),
                "is not JSON (a JWK Set: {\"keys\": [...]})",
            );
        }
    }
    let code_flow = client.grant_types.contains(&GrantType::AuthorizationCode);
    if code_flow && client.redirect_uris.is_empty() {
        reporter.at(
            &path.key("redirect_uris"),
            "the authorization_code grant needs at least one redirect URI",
        );
    }
    if client.grant_types.contains(&GrantType::ClientCredentials)
        && client.auth_method == ClientAuthMethod::None
    {
        reporter.at(
            &path.key("grant_types"),
            "client_credentials needs an authenticated client (not auth_method = \"none\")",
        );
    }
    for (key, uris) in [
        ("redirect_uris", &client.redirect_uris),
        (
            "post_logout_redirect_uris",
            &client.post_logout_redirect_uris,
        ),
    ] {
        for (index, uri) in uris.iter().enumerate() {
            if let Some(problem) = url_problem(uri, true) {
                reporter.at(&path.key(key).index(index), problem);
            } else if uri.contains('#') {
                reporter.at(&path.key(key).index(index), "must have no fragment");
            }
        }
    }
    for (key, uri) in [
        ("backchannel_logout_uri", &client.backchannel_logout_uri),
        ("frontchannel_logout_uri", &client.frontchannel_logout_uri),
    ] {
        if let Some(problem) = uri.as_deref().and_then(|u| url_problem(u, false)) {
            reporter.at(&path.key(key), problem);
        }
    }
    if let Some(lifetime) = &client.access_token_lifetime {
        let secs = lifetime.get().as_secs();
        if secs == 0 || secs > MAX_ACCESS_TOKEN_LIFETIME {
            reporter.at(
                &path.key("access_token_lifetime"),
                format!("must be between 1s and {MAX_ACCESS_TOKEN_LIFETIME}s"),
            );
        }
    }
}

/// Why `url` is not an absolute http(s) URL with a host; `custom_schemes` allows a native
/// app's private-use scheme (`vn.gov.namdinh.app:/callback`, RFC 8252 §7.1).
fn url_problem(url: &str, custom_schemes: bool) -> Option<String> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Some(format!("{url:?} is not an absolute URL"));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "http" || scheme == "https" {
        let host = rest.strip_prefix("//").unwrap_or("");
        let host = host.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() {
            return Some(format!("{url:?} has no host"));
        }
        return None;
    }
    let private_use = custom_schemes && scheme.contains('.') && !rest.is_empty();
    if private_use {
        None
    } else {
        Some(format!(
            "{url:?}: use an http(s) URL{}",
            if custom_schemes {
                " or a reverse-domain private-use scheme"
            } else {
                ""
            }
        ))
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}
