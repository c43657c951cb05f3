//! Signing keys, the published JWKS, and the signed identity assertion for upstream apps.
//!
//! The gateway keeps its signing keys in `<data_dir>/keys/`: one PKCS#8 PEM file per key
//! (mode 0600) and an index, `keys.json`, naming each key's `kid`, algorithm, file and
//! dates. The current key of each algorithm signs; retired keys stay in the index (and in
//! the JWKS) so that tokens they signed still verify until they expire, then [`prune`]
//! removes them (index entry and file). Whoever changes the directory holds its lock
//! (`.keys.lock`), so several instances and the CLI may share it. Private keys never
//! leave this room: other rooms get signed tokens, public JWKs and verification results.
//!
//! Apps behind the gateway receive the user's identity as a short-lived RS256 JWT in
//! `X-Govgate-Assertion` ([`AssertionIssuer`]); an [`AssertionCache`] reuses one assertion
//! per (session, app) for half its lifetime so that proxying does not sign per request.

mod assertion;
mod cache;
mod jwt;
mod lock;
mod material;
mod retire;
mod ring;
mod store;

pub use assertion::{
    AssertionClaims, AssertionIssuer, DEFAULT_ASSERTION_LIFETIME, MAX_ASSERTION_LIFETIME,
};
pub use cache::AssertionCache;
pub use jwt::VerifyOptions;
pub use lock::LOCK_FILE_NAME;
pub use retire::{prune, KeyState};
pub use ring::KeyRing;
pub use store::{KeyInfo, SigningKeys, INDEX_FILE_NAME};

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Name of the HTTP request header carrying the identity assertion to upstream apps.
pub const ASSERTION_HEADER: &str = "x-govgate-assertion";

/// The JWS algorithms the gateway signs with. RS256 is always available (OIDC requires
/// it); ES256 is generated on first start as well; EdDSA (Ed25519) on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit modulus.
    RS256,
    /// ECDSA on P-256 with SHA-256 (fixed-width r||s signatures, as JWS requires).
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm's name in file names (`rs256-<kid>.pem`).
    fn file_prefix(self) -> &'static str {
        match self {
            Algorithm::RS256 => "rs256",
            Algorithm::ES256 => "es256",
            Algorithm::EdDSA => "eddsa",
        }
    }

    fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong with keys, signing and verification.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key file exists but cannot be used; it is left untouched.
    #[error("{path}: unusable signing key: {reason} (the file was left untouched; fix or remove it and its entry in keys.json)")]
    CorruptKey { path: PathBuf, reason: String },
    /// The key index exists but cannot be read; nothing is regenerated.
    #[error("{path}: unreadable key index: {reason}")]
    CorruptIndex { path: PathBuf, reason: String },
    /// A private key file is readable by group or others.
    #[error("{path}: private key file has mode {mode:o}; it must not be readable by group or others (chmod 600)")]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("key generation failed for {0}")]
    Generate(Algorithm),
    /// No current (unretired) key of this algorithm is loaded.
    #[error("no current {0} signing key")]
    NoKey(Algorithm),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("cannot serialize JWT part: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The token is not a well-formed JWS compact serialization, or its header is unusable.
    #[error("malformed token: {0}")]
    MalformedToken(String),
    /// The token names a `kid` the gateway does not have.
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(String),
    /// The token's `alg` header differs from the algorithm of the key its `kid` names.
    #[error("token alg {token_alg} does not match key {kid} ({key_alg})")]
    AlgorithmMismatch {
        kid: String,
        key_alg: Algorithm,
        token_alg: String,
    },
    /// Signature, expiry, not-before, issuer or audience check failed.
    #[error("invalid token: {0}")]
    InvalidToken(String),
}
