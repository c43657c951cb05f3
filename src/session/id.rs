//! Random, unguessable identifiers: session ids and SSO hand-off codes.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SessionError;

/// Bytes of randomness in a session id or hand-off code (256 bits).
const RANDOM_BYTES: usize = 32;
/// Length of 32 bytes in unpadded base64url.
pub const ENCODED_LEN: usize = 43;

/// 256 random bits, base64url without padding (43 characters).
///
/// Compared in constant time; `Debug` never shows the value (it is a bearer credential).
#[derive(Clone)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh id from the system CSPRNG.
    pub fn generate() -> Result<Self, SessionError> {
        random_token().map(SessionId)
    }

    /// Accepts exactly 43 base64url characters (anything else cannot be an id we issued).
    pub fn parse(text: &str) -> Option<Self> {
        is_token(text).then(|| SessionId(text.to_string()))
    }

    /// The id as it appears in the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), other.0.as_bytes())
            .is_ok()
    }
}

impl Eq for SessionId {}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SessionId::parse(&text).ok_or_else(|| serde::de::Error::custom("not a session id"))
    }
}

/// 256 random bits as 43 base64url characters.
pub(crate) fn random_token() -> Result<String, SessionError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<RANDOM_BYTES>()?))
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], SessionError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SessionError::Random)?;
    Ok(bytes)
}

/// Exactly [`ENCODED_LEN`] characters of the base64url alphabet.
pub(crate) fn is_token(text: &str) -> bool {
    text.len() == ENCODED_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
