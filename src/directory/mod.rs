//! The directory room: who people are and whether their password is right.
//!
//! Two backends behind one [`Directory`] trait: LDAP / Active Directory ([`ldap`]) and a
//! `users.toml` file with Argon2id hashes ([`file`]). Callers never learn *why* a login
//! failed beyond three classes: wrong credentials (one variant whatever was wrong), a
//! disabled account, or a directory that cannot answer right now.

pub mod file;
pub mod ldap;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{DirectoryBackend, DirectoryConfig};
use crate::identity::Identity;

/// Longest username accepted, in bytes.
pub const MAX_USERNAME_BYTES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Unknown user, wrong password or empty password: deliberately one variant.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The password was right (or the server said the account is locked), but the
    /// account may not log in.
    #[error("the account is disabled")]
    AccountDisabled,
    /// The directory cannot be reached or did not answer in time (callers answer 503).
    #[error("the directory is temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("directory configuration: {0}")]
    Config(String),
    #[error("directory internal error: {0}")]
    Internal(String),
}

/// A source of identities that can check passwords.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// Checks `password` for `username` and returns who they are, groups resolved.
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Identity, DirectoryError>;
    /// Finds a person without a password (certificate login, token refresh). `None`
    /// when no (single) entry matches or the username is malformed.
    /// A disabled account is `Err(AccountDisabled)`.
    async fn lookup(&self, username: &str) -> Result<Option<Identity>, DirectoryError>;
    /// `Ok` when the directory can answer searches right now.
    async fn health(&self) -> Result<(), DirectoryError>;
    /// Every enabled person (groups resolved), at most `limit`: for the policy impact preview.
    async fn list_users(&self, limit: usize) -> Result<Vec<Identity>, DirectoryError>;
    /// `"ldap"` or `"file"`; also the `source` of identities it returns.
    fn kind(&self) -> &'static str;
}

pub type SharedDirectory = Arc<dyn Directory>;

/// Opens the configured backend. The file backend reads and checks its file now; the LDAP
/// backend reads the service password now and connects lazily, so a directory that is
/// down at start-up does not stop the gateway (logins answer `Unavailable` until it is up).
pub async fn open(config: &DirectoryConfig) -> Result<SharedDirectory, DirectoryError> {
    match config.backend {
        DirectoryBackend::Ldap => {
            let ldap = config.ldap.as_ref().ok_or_else(|| {
                DirectoryError::Config("backend \"ldap\" needs [directory.ldap]".into())
            })?;
            Ok(Arc::new(ldap::LdapDirectory::new(ldap)?))
        }
        DirectoryBackend::File => {
            let file = config.file.as_ref().ok_or_else(|| {
                DirectoryError::Config("backend \"file\" needs [directory.file]".into())
            })?;
            Ok(Arc::new(file::FileDirectory::load(&file.path).await?))
        }
    }
}

/// A username worth sending anywhere: non-empty, at most [`MAX_USERNAME_BYTES`], no
/// control characters (NUL included).
pub fn is_acceptable_username(username: &str) -> bool {
    !username.is_empty()
        && username.len() <= MAX_USERNAME_BYTES
        && !username.chars().any(char::is_control)
}

/// Empty and whitespace-only passwords are refused before anything else happens: to an
/// LDAP server an empty password is an unauthenticated bind, which succeeds.
pub fn is_acceptable_password(password: &str) -> bool {
    !password.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_with_control_characters_or_too_long_are_refused() {
        assert!(is_acceptable_username("nvan"));
        assert!(is_acceptable_username("Nguyễn"));
        assert!(!is_acceptable_username(""));
        assert!(!is_acceptable_username("nv\0an"));
        assert!(!is_acceptable_username("nvan\n"));
        assert!(!is_acceptable_username(&"a".repeat(MAX_USERNAME_BYTES + 1)));
        assert!(is_acceptable_username(&"a".repeat(MAX_USERNAME_BYTES)));
    }

    #[test]
    fn blank_passwords_are_refused() {
        assert!(!is_acceptable_password(""));
        assert!(!is_acceptable_password(" \t\n"));
        assert!(!is_acceptable_password("\u{3000}"));
        assert!(is_acceptable_password(" x "));
    }
}
