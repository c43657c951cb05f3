//! The OpenID Connect provider from a relying party's side (issue 5): the `openidconnect`
//! crate (v4) drives the protocol over a hyper transport of the test's own, a curl
//! cookie-jar browser logs civil servants of a real slapd in, `govgate serve` enforces real
//! Cedar policies, an nginx origin sits behind an `accept_bearer` app, and a loopback
//! listener receives back-channel logout tokens.
//!
//! - [`flows`]: code + PKCE, ID token and userinfo by scope, prompt=none, max_age, policy
//!   denial at sign-in;
//! - [`tokens`]: refresh rotation and reuse detection, introspection, revocation, bearer
//!   tokens at the proxy, client_credentials, private_key_jwt, forged tokens;
//! - [`logout`]: RP-initiated and portal logout, back-channel logout tokens;
//! - [`forged`]: forged and foreign tokens at introspection and at the proxy;
//! - [`negative`]: redirect-URI near misses, PKCE errors, code reuse and expiry, bad client
//!   authentication.

#[path = "../support/mod.rs"]
mod support;

#[path = "../support/jose.rs"]
mod jose;
#[path = "../support/oidc.rs"]
mod oidc;
#[path = "../support/relying_party.rs"]
mod relying_party;

mod flows;
mod forged;
mod logout;
mod negative;
mod tokens;

use oidc::World;
use openidconnect::{OAuth2TokenResponse as _, PkceCodeVerifier};
use relying_party::{GovTokenResponse, Rp};
use serde_json::Value;
use support::browser::Browser;

/// What one code flow produced.
pub struct Signed {
    pub tokens: GovTokenResponse,
    pub claims: relying_party::GovIdTokenClaims,
    /// The ID token's `sid`.
    pub sid: String,
}

/// Logs `user` in through an authorization request of `rp` for `scopes` (the browser sees
/// the login form unless it has a session), exchanges the code with the PKCE verifier and
/// verifies the ID token.
pub fn code_flow(world: &World, rp: &Rp, browser: &Browser, scopes: &[&str], user: &str) -> Signed {
    let request = rp.auth_request(scopes, |r| r);
    let first = browser.get(&request.url);
    let redirect = if first
        .location()
        .is_some_and(|l| l.contains("/.govgate/login"))
    {
        world.sign_in(browser, &request.url, user)
    } else {
        oidc::Redirect::of(&first)
    };
    let code = redirect.code_for(redirect_uri(rp), request.state.secret());
    let tokens = rp
        .exchange(&code, Some(request.verifier))
        .unwrap_or_else(|e| panic!("code exchange refused: {e:?}"));
    let claims = rp.verified_id_token(&tokens, &request.nonce);
    let sid = claims
        .additional_claims()
        .sid
        .clone()
        .expect("sid in the ID token");
    Signed {
        tokens,
        claims,
        sid,
    }
}

pub fn redirect_uri(rp: &Rp) -> &str {
    rp.client
        .redirect_uri()
        .map(|u| u.as_str())
        .expect("redirect URI set")
}

/// The access token's secret.
pub fn access(tokens: &GovTokenResponse) -> String {
    tokens.access_token().secret().clone()
}

/// The refresh token's secret (asserting there is one).
pub fn refresh(tokens: &GovTokenResponse) -> String {
    tokens
        .refresh_token()
        .expect("a refresh token in the token response")
        .secret()
        .clone()
}

/// A verifier that is not the one sent (same shape: 43+ unreserved characters).
pub fn other_verifier() -> PkceCodeVerifier {
    PkceCodeVerifier::new(format!("khac-{}", jose::random_id(40)))
}

/// `aud` as a list, whether the JWT wrote a string or an array.
pub fn audiences(claims: &Value) -> Vec<String> {
    match &claims["aud"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// An authorization URL with query parameter `name` set to `value` (replaced, or added),
/// or removed when `value` is `None`.
pub fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(n, _)| n != name)
        .collect();
    if let Some(value) = value {
        pairs.push((name.to_string(), value.to_string()));
    }
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}?{query}")
}
