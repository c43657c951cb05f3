//! LDAP / Active Directory backend.
//!
//! A login: refuse blank passwords and odd usernames before any traffic; find exactly one
//! entry with the service account (filter value escaped); check the password by binding
//! as that entry on a fresh connection of its own; refuse disabled accounts; resolve
//! groups. A directory that cannot answer is `Unavailable`, never `InvalidCredentials`.

mod connect;
mod entry;
mod groups;

use std::sync::Arc;

use async_trait::async_trait;
use ldap3::{ldap_escape, Scope, SearchEntry};

use connect::{is_server_unavailable, unavailable, Connector, Pool, ServiceAccount};
use groups::GroupResolver;

use super::{is_acceptable_password, is_acceptable_username, Directory, DirectoryError};
use crate::config::{LdapConfig, USERNAME_PLACEHOLDER};
use crate::identity::Identity;

const KIND: &str = "ldap";
/// LDAP result code invalidCredentials.
const RC_INVALID_CREDENTIALS: u32 = 49;

/// A password that never appears in `Debug` output or logs.
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

pub struct LdapDirectory {
    config: LdapConfig,
    connector: Arc<Connector>,
    pool: Pool,
    groups: GroupResolver,
}

impl std::fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The user entry found by the search, with what the login needs from it.
struct UserEntry {
    entry: SearchEntry,
    disabled: bool,
}

impl LdapDirectory {
    /// Reads the service password now (a missing file or variable is a configuration
    /// error); connects lazily on first use.
    pub fn new(config: &LdapConfig) -> Result<LdapDirectory, DirectoryError> {
        let connector = Arc::new(Connector::new(config)?);
        let service = match &config.bind_dn {
            Some(dn) => Some(ServiceAccount {
                dn: dn.clone(),
                password: service_password(config)?,
            }),
            None => None,
        };
        Ok(LdapDirectory {
            pool: Pool::new(connector.clone(), service, config.pool_size),
            groups: GroupResolver::new(config),
            connector,
            config: config.clone(),
        })
    }

    /// Exactly one entry matching the user filter, or `None` (none, or ambiguous).
    async fn find_user(&self, username: &str) -> Result<Option<UserEntry>, DirectoryError> {
        let filter = self
            .config
            .user_filter
            .replace(USERNAME_PLACEHOLDER, &ldap_escape(username));
        let mapped = &self.config.attributes;
        let mut attributes: Vec<&str> = vec![
            &mapped.username,
            &mapped.display_name,
            &mapped.email,
            &mapped.department,
            &mapped.employee_number,
            &mapped.subject,
            "cn",
        ];
        attributes.extend(entry::DISABLED_ATTRIBUTES);
        attributes.extend(self.groups.user_attribute());
        let mut entries = self
            .pool
            .search(
                &self.config.user_base_dn,
                Scope::Subtree,
                &filter,
                &attributes,
            )
            .await?;
        if entries.len() > 1 {
            tracing::warn!(
                matches = entries.len(),
                "the LDAP user filter matched several entries; refusing the login"
            );
            return Ok(None);
        }
        Ok(entries.pop().map(|entry| UserEntry {
            disabled: entry::is_disabled(&entry),
            entry,
        }))
    }

    /// Binds as `dn` with `password` on a fresh connection. `Ok(true)` = accepted,
    /// `Ok(false)` = invalid credentials; a lock reported by the server is AccountDisabled.
    async fn check_password(&self, dn: &str, password: &str) -> Result<bool, DirectoryError> {
        let mut ldap = self.connector.connect().await?;
        let result = ldap
            .with_controls(entry::ppolicy_request())
            .with_timeout(self.connector.operation_timeout)
            .simple_bind(dn, password)
            .await
            .map_err(unavailable)?;
        let _ = ldap.unbind().await;
        match result.rc {
            0 => Ok(true),
            RC_INVALID_CREDENTIALS if entry::bind_says_locked(&result.ctrls, &result.text) => {
                Err(DirectoryError::AccountDisabled)
            }
            rc if is_server_unavailable(rc) => Err(DirectoryError::Unavailable(format!(
                "LDAP bind: result code {rc}"
            ))),
            RC_INVALID_CREDENTIALS => Ok(false),
            rc => {
                tracing::warn!(rc, text = %result.text, "LDAP user bind refused");
                Ok(false)
            }
        }
    }

    async fn identity_with_groups(&self, user: &UserEntry) -> Result<Identity, DirectoryError> {
        let mut identity = entry::identity_of(&user.entry, &self.config.attributes, KIND)?;
        let direct = match self.groups.user_attribute() {
            Some(attribute) => entry::all_text(&user.entry, attribute),
            None => Vec::new(),
        };
        let memberships = self
            .groups
            .groups_of(&self.pool, &user.entry.dn, &direct)
            .await?;
        identity.groups = memberships.names.clone();
        identity.group_dns = memberships.dns.clone();
        Ok(identity)
    }
}

/// The service account password from its file (trailing newline dropped) or variable.
fn service_password(config: &LdapConfig) -> Result<Secret, DirectoryError> {
    let password = if let Some(path) = &config.bind_password_file {
        std::fs::read_to_string(path)
            .map_err(|e| DirectoryError::Config(format!("cannot read {}: {e}", path.display())))?
            .trim_end_matches(['\r', '\n'])
            .to_string()
    } else if let Some(name) = &config.bind_password_env {
        std::env::var(name).map_err(|_| {
            DirectoryError::Config(format!("environment variable {name} is not set"))
        })?
    } else {
        return Err(DirectoryError::Config(
            "bind_dn needs bind_password_file or bind_password_env".into(),
        ));
    };
    if !is_acceptable_password(&password) {
        // An empty password would make the "service bind" an anonymous one.
        return Err(DirectoryError::Config(
            "the LDAP service account password is empty".into(),
        ));
    }
    Ok(Secret::new(password))
}

#[async_trait]
impl Directory for LdapDirectory {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Identity, DirectoryError> {
        if !is_acceptable_password(password) || !is_acceptable_username(username) {
            return Err(DirectoryError::InvalidCredentials);
        }
        let Some(user) = self.find_user(username).await? else {
            return Err(DirectoryError::InvalidCredentials);
        };
        if !self.check_password(&user.entry.dn, password).await? {
            return Err(DirectoryError::InvalidCredentials);
        }
        if user.disabled {
            return Err(DirectoryError::AccountDisabled);
        }
        self.identity_with_groups(&user).await
    }

    async fn lookup(&self, username: &str) -> Result<Option<Identity>, DirectoryError> {
        if !is_acceptable_username(username) {
            return Ok(None);
        }
        let Some(user) = self.find_user(username).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Err(DirectoryError::AccountDisabled);
        }
        self.identity_with_groups(&user).await.map(Some)
    }

    /// Every entry the user filter matches with any username (the placeholder becomes a
    /// presence test), each then looked up as a login would, disabled accounts left out.
    async fn list_users(&self, limit: usize) -> Result<Vec<Identity>, DirectoryError> {
        let filter = self.config.user_filter.replace(USERNAME_PLACEHOLDER, "*");
        let username_attribute = self.config.attributes.username.clone();
        let entries = self
            .pool
            .search(
                &self.config.user_base_dn,
                Scope::Subtree,
                &filter,
                &[username_attribute.as_str()],
            )
            .await?;
        let mut users = Vec::new();
        for entry in entries {
            if users.len() >= limit {
                break;
            }
            let Some(username) = entry::first_text(&entry, &username_attribute) else {
                continue;
            };
            if let Ok(Some(identity)) = self.lookup(&username).await {
                users.push(identity);
            }
        }
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn health(&self) -> Result<(), DirectoryError> {
        self.pool
            .search(
                &self.config.user_base_dn,
                Scope::Base,
                "(objectClass=*)",
                &["1.1"],
            )
            .await
            .map(drop)
    }

    fn kind(&self) -> &'static str {
        KIND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secret = Secret::new("admin-secret".into());
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), "admin-secret");
    }
}
