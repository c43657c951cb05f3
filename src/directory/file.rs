//! The file backend: `users.toml` with Argon2id hashes, for the demo and for break-glass
//! administrator accounts that must work when the province's directory does not.
//!
//! ```toml
//! [[users]]
//! username = "nvan"
//! display_name = "Nguyễn Văn An"
//! email = "an.nv@example.gov.vn"      # optional
//! department = "Văn phòng UBND"       # optional
//! employee_number = "NV-0001"         # optional
//! groups = ["lanh-dao"]
//! password_hash = "$argon2id$v=19$..."  # govgate users hash-password
//! disabled = false                    # optional
//! subject = "..."                     # optional stable id; default "file:<username>"
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use serde::Deserialize;

use super::{is_acceptable_password, is_acceptable_username, Directory, DirectoryError};
use crate::identity::Identity;

const KIND: &str = "file";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRecord {
    username: String,
    display_name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    employee_number: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    password_hash: String,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    subject: Option<String>,
}

/// One user as loaded: the identity it yields and its checked PHC hash string.
struct FileUser {
    identity: Identity,
    password_hash: String,
    disabled: bool,
}

/// Users read once from `users.toml`.
pub struct FileDirectory {
    users: HashMap<String, Arc<FileUser>>,
    /// Verified against when the username is unknown, so the answer takes as long as
    /// for a known user and timing does not tell who exists.
    dummy_hash: Arc<String>,
}

impl std::fmt::Debug for FileDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDirectory")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl FileDirectory {
    /// Reads and checks `path` (unknown keys, duplicate usernames, hashes that are not
    /// Argon2id are errors naming the user).
    pub async fn load(path: &Path) -> Result<FileDirectory, DirectoryError> {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| DirectoryError::Config(format!("cannot read {}: {e}", path.display())))?;
        let parsed: UsersFile = toml::from_str(&text)
            .map_err(|e| DirectoryError::Config(format!("{}: {e}", path.display())))?;
        let mut users = HashMap::new();
        for record in parsed.users {
            let user = checked_user(record)
                .map_err(|e| DirectoryError::Config(format!("{}: {e}", path.display())))?;
            let username = user.identity.username.clone();
            if users.insert(username.clone(), Arc::new(user)).is_some() {
                return Err(DirectoryError::Config(format!(
                    "{}: user {username:?} appears twice",
                    path.display()
                )));
            }
        }
        let dummy_hash = tokio::task::spawn_blocking(|| hash_password("govgate-dummy-password"))
            .await
            .map_err(|e| DirectoryError::Internal(format!("hashing task failed: {e}")))??;
        Ok(FileDirectory {
            users,
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn checked_user(record: UserRecord) -> Result<FileUser, String> {
    let username = record.username;
    if !is_acceptable_username(&username) {
        return Err(format!("user {username:?}: not an acceptable username"));
    }
    if !record.password_hash.starts_with("$argon2id$")
        || PasswordHash::new(&record.password_hash).is_err()
    {
        return Err(format!(
            "user {username:?}: password_hash must be an Argon2id PHC string ($argon2id$...) \
             from `govgate users hash-password`"
        ));
    }
    let subject = record
        .subject
        .unwrap_or_else(|| format!("{KIND}:{username}"));
    Ok(FileUser {
        identity: Identity {
            subject,
            username: username.clone(),
            display_name: record.display_name,
            email: record.email,
            department: record.department,
            employee_number: record.employee_number,
            groups: record.groups,
            group_dns: Vec::new(),
            source: KIND.to_string(),
        },
        password_hash: record.password_hash,
        disabled: record.disabled,
    })
}

/// An Argon2id PHC string (default parameters, random salt) for `password`.
pub fn hash_password(password: &str) -> Result<String, DirectoryError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| DirectoryError::Internal(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the PHC string `hash` (false on any malformed input).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[async_trait]
impl Directory for FileDirectory {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Identity, DirectoryError> {
        if !is_acceptable_password(password) || !is_acceptable_username(username) {
            return Err(DirectoryError::InvalidCredentials);
        }
        let user = self.users.get(username).cloned();
        let hash = match &user {
            Some(user) => user.password_hash.clone(),
            None => self.dummy_hash.as_str().to_owned(),
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| DirectoryError::Internal(format!("verification task failed: {e}")))?;
        match user {
            Some(user) if matches && user.disabled => Err(DirectoryError::AccountDisabled),
            Some(user) if matches => Ok(user.identity.clone()),
            _ => Err(DirectoryError::InvalidCredentials),
        }
    }

    async fn lookup(&self, username: &str) -> Result<Option<Identity>, DirectoryError> {
        match self.users.get(username) {
            Some(user) if user.disabled => Err(DirectoryError::AccountDisabled),
            Some(user) => Ok(Some(user.identity.clone())),
            None => Ok(None),
        }
    }

    async fn list_users(&self, limit: usize) -> Result<Vec<Identity>, DirectoryError> {
        let mut users: Vec<Identity> = self
            .users
            .values()
            .filter(|user| !user.disabled)
            .map(|user| user.identity.clone())
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        users.truncate(limit);
        Ok(users)
    }

    async fn health(&self) -> Result<(), DirectoryError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        KIND
    }
}
