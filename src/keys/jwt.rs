//! JWS compact serialization: signing with a preloaded key (the private key is parsed
//! once at start-up, not per token), and verification through `jsonwebtoken` with one
//! `Validation` per key so that the token's `alg` header never chooses the algorithm.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::material::KeyMaterial;
use super::KeyError;

/// What [`super::SigningKeys::verify`] checks besides the signature and `exp` (always
/// required) and `nbf` (checked when present).
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Required `iss` value; `None` skips the issuer check.
    pub issuer: Option<String>,
    /// Required `aud` value (string or member of the array); `None` skips the check.
    pub audience: Option<String>,
    /// Required `typ` header value; `None` skips the check.
    pub typ: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

#[derive(Serialize)]
struct SigningHeader<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

/// The header members verification looks at; anything else is ignored.
#[derive(Deserialize)]
pub(super) struct TokenHeader {
    pub(super) alg: String,
    pub(super) kid: Option<String>,
    pub(super) typ: Option<String>,
}

/// Produces `base64url(header).base64url(claims).base64url(signature)`.
pub(super) fn encode(
    key: &KeyMaterial,
    typ: &str,
    claims: &impl Serialize,
) -> Result<String, KeyError> {
    let header = serde_json::to_vec(&SigningHeader {
        alg: key.alg.as_str(),
        typ,
        kid: &key.kid,
    })?;
    let payload = serde_json::to_vec(claims)?;
    // base64 grows 4/3; 344 covers a 2048-bit RSA signature.
    let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 350);
    URL_SAFE_NO_PAD.encode_string(&header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    Ok(token)
}

/// Reads the (unverified) header: only to pick the key by `kid`, never to pick the algorithm.
pub(super) fn read_header(token: &str) -> Result<TokenHeader, KeyError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(KeyError::MalformedToken(
            "expected three dot-separated parts".into(),
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|e| KeyError::MalformedToken(format!("header is not base64url: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| KeyError::MalformedToken(format!("header is not a JWS header: {e}")))
}

/// Checks signature and claims of `token` against `key`, whose algorithm alone is allowed.
pub(super) fn verify_with_key(
    key: &KeyMaterial,
    token: &str,
    options: &VerifyOptions,
) -> Result<Value, KeyError> {
    let mut validation = jsonwebtoken::Validation::new(key.alg.jsonwebtoken());
    validation.leeway = options.leeway.as_secs();
    validation.validate_nbf = true;
    // jsonwebtoken only compares iss/aud when present: make them required when expected.
    let mut required = vec!["exp"];
    required.extend(options.issuer.as_ref().map(|_| "iss"));
    required.extend(options.audience.as_ref().map(|_| "aud"));
    validation.set_required_spec_claims(&required);
    match &options.issuer {
        Some(issuer) => validation.set_issuer(&[issuer]),
        None => validation.iss = None,
    }
    match &options.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| KeyError::InvalidToken(e.to_string()))
}
