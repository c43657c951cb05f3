//! Protocol values as types: a nonce can never be passed where a state belongs, and every
//! error the protocol defines has one name.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::OidcError;

macro_rules! protocol_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
    };
}

protocol_string!(
    /// A registered client's `client_id`.
    ClientId
);
protocol_string!(
    /// A redirect URI, exactly as the client sent it.
    RedirectUri
);
protocol_string!(
    /// The client's opaque `state`, echoed back untouched.
    State
);
protocol_string!(
    /// The client's `nonce`, copied into the ID token.
    Nonce
);
protocol_string!(
    /// A PKCE S256 code challenge: base64url(SHA-256(verifier)).
    CodeChallenge
);
protocol_string!(
    /// The session id as clients see it (`sid`): derived from, never equal to, the cookie.
    Sid
);

impl CodeChallenge {
    /// RFC 7636 §4.6: does `verifier` hash to this challenge? (Constant time.)
    pub fn accepts(&self, verifier: &str) -> bool {
        if !is_pkce_verifier(verifier) {
            return false;
        }
        let digest = sha256_b64(verifier.as_bytes());
        constant_time_eq(digest.as_bytes(), self.0.as_bytes())
    }
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`.
pub fn is_pkce_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A challenge is the base64url of 32 bytes: 43 characters.
pub fn is_s256_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The scopes of a request or grant, in the order given, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a space-separated `scope` parameter.
    pub fn parse(text: &str) -> Scopes {
        let mut scopes: Vec<String> = Vec::new();
        for scope in text.split(' ').filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_string());
            }
        }
        Scopes(scopes)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every scope here is also in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.iter().all(|s| other.contains(s))
    }

    /// The space-separated form.
    pub fn to_text(&self) -> String {
        self.0.join(" ")
    }

    pub fn from_list(list: &[String]) -> Scopes {
        Scopes::parse(&list.join(" "))
    }
}

/// The error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 7009 and OIDC Core §3.1.2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    ServerError,
    TemporarilyUnavailable,
    InvalidToken,
    UnsupportedTokenType,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
        }
    }
}

/// A protocol error as the client receives it: a code and a human description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub description: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// The provider itself failed (store down, signing failed): logged, described vaguely.
    pub fn internal(error: &OidcError) -> Self {
        tracing::error!(%error, "OpenID Connect provider error");
        match error {
            OidcError::Store(_) => Self::new(
                ErrorCode::TemporarilyUnavailable,
                "the provider's store is unavailable; try again",
            ),
            _ => Self::new(ErrorCode::ServerError, "internal error"),
        }
    }
}

impl From<OidcError> for ProtocolError {
    fn from(error: OidcError) -> Self {
        ProtocolError::internal(&error)
    }
}

/// base64url(SHA-256(bytes)), no padding.
pub fn sha256_b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// 256 random bits, base64url: codes, refresh tokens, pending-request ids.
pub fn random_token() -> Result<String, OidcError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| OidcError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// 128 random bits, base64url: `jti`s and grant ids.
pub fn random_id() -> Result<String, OidcError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| OidcError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Unix seconds now.
pub fn now_unix() -> u64 {
    crate::session::now_unix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let challenge = CodeChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGmSw-cM");
        assert!(
            CodeChallenge::new(sha256_b64(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
                .accepts("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        );
        assert_eq!(
            sha256_b64(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGmSw-cM"
        );
        assert!(challenge.accepts("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!challenge.accepts("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
        assert!(!challenge.accepts("short"));
    }

    #[test]
    fn scopes_parse_dedupe_and_compare() {
        let asked = Scopes::parse("openid  profile openid email");
        assert_eq!(asked.to_text(), "openid profile email");
        let allowed = Scopes::parse("openid profile email groups");
        assert!(asked.is_subset_of(&allowed));
        assert!(!Scopes::parse("openid admin").is_subset_of(&allowed));
    }
}
