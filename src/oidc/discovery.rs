//! The discovery document (OIDC Discovery 1.0 §3): everything it says is what the provider
//! actually does.

use serde_json::{json, Value};

use super::tokens::ACR_VALUES;
use super::Provider;

/// Scopes with a meaning of their own; clients may register API scopes besides.
pub const STANDARD_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "groups",
    "roles",
    "offline_access",
];

impl Provider {
    pub fn discovery(&self) -> Value {
        let endpoint = |name: &str| self.endpoint_url(name);
        let mut scopes: Vec<String> = STANDARD_SCOPES.map(String::from).to_vec();
        for client in self.clients.iter() {
            for scope in client.scopes.iter() {
                if !scopes.iter().any(|s| s == scope) {
                    scopes.push(scope.to_string());
                }
            }
        }
        scopes.sort_unstable();
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": endpoint("authorize"),
            "token_endpoint": endpoint("token"),
            "userinfo_endpoint": endpoint("userinfo"),
            "jwks_uri": endpoint("jwks"),
            "end_session_endpoint": endpoint("logout"),
            "introspection_endpoint": endpoint("introspect"),
            "revocation_endpoint": endpoint("revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            "userinfo_signing_alg_values_supported": ["none"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported":
                ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"],
            "introspection_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "revocation_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "scopes_supported": scopes,
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
                "azp", "at_hash", "name", "given_name", "middle_name", "family_name",
                "preferred_username", "department", "email", "email_verified", "groups", "roles"
            ],
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "acr_values_supported": ACR_VALUES,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": true,
            "frontchannel_logout_session_supported": true,
            "ui_locales_supported": ["vi", "en"],
        })
    }
}
