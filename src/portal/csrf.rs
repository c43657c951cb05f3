//! CSRF protection for the portal's forms: a token that is an HMAC of something only the
//! legitimate browser holds (its pre-login cookie, or its session id), under a key only the
//! gateway holds. A cross-site form can neither read that cookie nor compute the HMAC.

use std::io::Write as _;
use std::path::Path;

use aws_lc_rs::{constant_time, hmac, rand};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Why the CSRF key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CsrfKeyError {
    #[error("cannot read or create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} must hold exactly 32 bytes (delete it to generate a new one)")]
    BadLength { path: String },
    #[error("no secure random numbers available")]
    Random,
}

/// The gateway's form-token key. Instances behind one load balancer must share the file.
pub struct CsrfKey {
    key: hmac::Key,
}

impl CsrfKey {
    /// Reads `path`, or creates it with 32 random bytes (mode 0600) on first start.
    pub fn load_or_generate(path: &Path) -> Result<Self, CsrfKeyError> {
        let io_error = |source| CsrfKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut fresh = [0u8; 32];
                rand::fill(&mut fresh).map_err(|_| CsrfKeyError::Random)?;
                write_secret(path, &fresh).map_err(io_error)?;
                fresh.to_vec()
            }
            Err(e) => return Err(io_error(e)),
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| CsrfKeyError::BadLength {
            path: path.display().to_string(),
        })?;
        Ok(Self::from_bytes(&bytes))
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// The token a form must carry, bound to `purpose` ("login", "logout") and `binding`.
    pub fn token(&self, purpose: &str, binding: &str) -> String {
        let tag = hmac::sign(&self.key, format!("{purpose}\0{binding}").as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Constant-time check of a submitted token.
    pub fn verify(&self, purpose: &str, binding: &str, submitted: &str) -> bool {
        let expected = self.token(purpose, binding);
        constant_time::verify_slices_are_equal(expected.as_bytes(), submitted.as_bytes()).is_ok()
    }
}

/// A fresh random value for a pre-login cookie (128 bits, base64url).
pub fn random_binding() -> Option<String> {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_purpose_and_binding() {
        let key = CsrfKey::from_bytes(&[7; 32]);
        let token = key.token("login", "abc");
        assert!(key.verify("login", "abc", &token));
        assert!(!key.verify("login", "abd", &token));
        assert!(!key.verify("logout", "abc", &token));
        assert!(!key.verify("login", "abc", ""));
        assert!(!CsrfKey::from_bytes(&[8; 32]).verify("login", "abc", &token));
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/portal-csrf.key");
        let first = CsrfKey::load_or_generate(&path)
            .unwrap()
            .token("login", "x");
        let second = CsrfKey::load_or_generate(&path)
            .unwrap()
            .token("login", "x");
        assert_eq!(first, second);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            CsrfKey::load_or_generate(&path),
            Err(CsrfKeyError::BadLength { .. })
        ));
    }
}
