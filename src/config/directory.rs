//! `[directory]`: where people and their passwords live — an LDAP / Active Directory
//! server, or a `users.toml` file for the demo and break-glass accounts.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::locate::{KeyPath, Reporter};
use super::Seconds;

/// Placeholder in [`LdapConfig::user_filter`] replaced by the escaped username.
pub const USERNAME_PLACEHOLDER: &str = "{username}";

/// Which directory vouches for people.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// `"ldap"` (needs `[directory.ldap]`) or `"file"` (needs `[directory.file]`).
    pub backend: DirectoryBackend,
    #[serde(default)]
    pub ldap: Option<LdapConfig>,
    #[serde(default)]
    pub file: Option<FileDirectoryConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryBackend {
    Ldap,
    File,
}

/// `users.toml`: `[[users]]` with Argon2id password hashes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDirectoryConfig {
    /// Path of the users file; relative to the configuration file.
    pub path: PathBuf,
}

/// An LDAP or Active Directory server (or several replicas).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// Server URLs tried in order (`ldap://host:389`, `ldaps://host:636`); the next one
    /// is used when a connection fails.
    pub urls: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS (not with `ldaps://`).
    #[serde(default)]
    pub starttls: bool,
    /// PEM CA certificate(s) trusted for `ldaps://` and StartTLS; absent = the system's
    /// Web PKI roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Service account DN used for searches; absent = anonymous searches.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// File holding the service account password (trailing newline ignored).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Name of the environment variable holding the service account password.
    #[serde(default)]
    pub bind_password_env: Option<String>,
    /// Where users are searched (subtree).
    pub user_base_dn: String,
    /// Search filter; `{username}` is replaced by the escaped login name.
    #[serde(default = "defaults::user_filter")]
    pub user_filter: String,
    /// Which entry attributes fill the identity.
    #[serde(default)]
    pub attributes: LdapAttributes,
    /// How group memberships are found.
    #[serde(default)]
    pub group_mode: GroupMode,
    /// Where groups are searched (required by `search` and `ad_in_chain`).
    #[serde(default)]
    pub group_base_dn: Option<String>,
    /// The attribute naming a group (its short name in identities).
    #[serde(default = "defaults::group_name_attribute")]
    pub group_name_attribute: String,
    /// How many levels of nested groups are followed.
    #[serde(default = "defaults::group_max_depth")]
    pub group_max_depth: usize,
    /// How long a user's resolved groups are reused (0 = no cache).
    #[serde(default = "defaults::group_cache_ttl")]
    pub group_cache_ttl: Seconds,
    /// TCP connect (and TLS handshake) timeout per server.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout: Seconds,
    /// Timeout of each LDAP operation (bind, search).
    #[serde(default = "defaults::operation_timeout")]
    pub operation_timeout: Seconds,
    /// Service-account connections kept for searches.
    #[serde(default = "defaults::pool_size")]
    pub pool_size: usize,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password itself is never held here, only where it comes from.
        f.debug_struct("LdapConfig")
            .field("urls", &self.urls)
            .field("starttls", &self.starttls)
            .field("ca_file", &self.ca_file)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password_file", &self.bind_password_file)
            .field("bind_password_env", &self.bind_password_env)
            .field("user_base_dn", &self.user_base_dn)
            .field("user_filter", &self.user_filter)
            .field("group_mode", &self.group_mode)
            .finish_non_exhaustive()
    }
}

/// Entry attribute names for each identity field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapAttributes {
    /// Login name as stored (`uid`; AD: `sAMAccountName`).
    #[serde(default = "defaults::attr_username")]
    pub username: String,
    /// Full name (`displayName`; `cn` is used when absent).
    #[serde(default = "defaults::attr_display_name")]
    pub display_name: String,
    #[serde(default = "defaults::attr_email")]
    pub email: String,
    /// Department or unit (`departmentNumber`; AD: `department`).
    #[serde(default = "defaults::attr_department")]
    pub department: String,
    #[serde(default = "defaults::attr_employee_number")]
    pub employee_number: String,
    /// Stable id: `entryUUID` (OpenLDAP) or `objectGUID` (AD, rendered as a GUID string).
    #[serde(default = "defaults::attr_subject")]
    pub subject: String,
    /// Attribute listing the entry's groups in `member_of` mode.
    #[serde(default = "defaults::attr_member_of")]
    pub member_of: String,
}

impl Default for LdapAttributes {
    fn default() -> Self {
        LdapAttributes {
            username: defaults::attr_username(),
            display_name: defaults::attr_display_name(),
            email: defaults::attr_email(),
            department: defaults::attr_department(),
            employee_number: defaults::attr_employee_number(),
            subject: defaults::attr_subject(),
            member_of: defaults::attr_member_of(),
        }
    }
}

/// How a user's groups are found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMode {
    /// Read `memberOf` on the user, then on each group (nested).
    #[default]
    MemberOf,
    /// Search `(member=<dn>)` under `group_base_dn`, then for each group found (nested).
    Search,
    /// Active Directory: one search with LDAP_MATCHING_RULE_IN_CHAIN; the server nests.
    AdInChain,
}

pub(crate) mod defaults {
    use super::Seconds;

    pub fn user_filter() -> String {
        "(&(objectClass=inetOrgPerson)(uid={username}))".to_string()
    }
    pub fn group_name_attribute() -> String {
        "cn".to_string()
    }
    pub fn group_max_depth() -> usize {
        8
    }
    pub fn group_cache_ttl() -> Seconds {
        Seconds::from_secs(60)
    }
    pub fn connect_timeout() -> Seconds {
        Seconds::from_secs(5)
    }
    pub fn operation_timeout() -> Seconds {
        Seconds::from_secs(10)
    }
    pub fn pool_size() -> usize {
        4
    }
    pub fn attr_username() -> String {
        "uid".to_string()
    }
    pub fn attr_display_name() -> String {
        "displayName".to_string()
    }
    pub fn attr_email() -> String {
        "mail".to_string()
    }
    pub fn attr_department() -> String {
        "departmentNumber".to_string()
    }
    pub fn attr_employee_number() -> String {
        "employeeNumber".to_string()
    }
    pub fn attr_subject() -> String {
        "entryUUID".to_string()
    }
    pub fn attr_member_of() -> String {
        "memberOf".to_string()
    }
}

/// Most pooled connections accepted; more is surely a typo.
const MAX_POOL_SIZE: usize = 64;
/// Deepest group nesting accepted.
const MAX_GROUP_DEPTH: usize = 64;

/// Validates `[directory]` (reported under `path`).
pub(crate) fn validate(config: &DirectoryConfig, path: &KeyPath, reporter: &mut Reporter<'_>) {
    match config.backend {
        DirectoryBackend::Ldap if config.ldap.is_none() => reporter.at(
            &path.key("backend"),
            "backend \"ldap\" requires a [directory.ldap] section",
        ),
        DirectoryBackend::File if config.file.is_none() => reporter.at(
            &path.key("backend"),
            "backend \"file\" requires a [directory.file] section with `path`",
        ),
        _ => {}
    }
    if let Some(file) = &config.file {
        if file.path.as_os_str().is_empty() {
            reporter.at(&path.key("file").key("path"), "must not be empty");
        }
    }
    if let Some(ldap) = &config.ldap {
        validate_ldap(ldap, &path.key("ldap"), reporter);
    }
}

fn validate_ldap(ldap: &LdapConfig, path: &KeyPath, reporter: &mut Reporter<'_>) {
    if ldap.urls.is_empty() {
        reporter.at(&path.key("urls"), "at least one server URL is required");
    }
    for (index, url) in ldap.urls.iter().enumerate() {
        match check_ldap_url(url) {
            Err(message) => reporter.at(&path.key("urls").index(index), message),
            Ok(true) if ldap.starttls => reporter.at(
                &path.key("urls").index(index),
                "ldaps:// is already TLS; StartTLS applies to ldap:// URLs only",
            ),
            Ok(_) => {}
        }
    }
    if ldap.bind_password_file.is_some() && ldap.bind_password_env.is_some() {
        reporter.at(
            &path.key("bind_password_env"),
            "set either bind_password_file or bind_password_env, not both",
        );
    }
    let has_password = ldap.bind_password_file.is_some() || ldap.bind_password_env.is_some();
    if ldap.bind_dn.is_some() && !has_password {
        reporter.at(
            &path.key("bind_dn"),
            "a service account needs bind_password_file or bind_password_env",
        );
    }
    if ldap.bind_dn.is_none() && has_password {
        reporter.at(
            &path.key("bind_dn"),
            "a bind password is set but no bind_dn",
        );
    }
    if let Some(env) = &ldap.bind_password_env {
        if env.is_empty() || env.contains('=') || env.contains('\0') {
            reporter.at(
                &path.key("bind_password_env"),
                format!("{env:?} is not an environment variable name"),
            );
        }
    }
    if ldap.user_base_dn.trim().is_empty() {
        reporter.at(&path.key("user_base_dn"), "must not be empty");
    }
    if !ldap.user_filter.contains(USERNAME_PLACEHOLDER) {
        reporter.at(
            &path.key("user_filter"),
            format!("must contain {USERNAME_PLACEHOLDER}"),
        );
    } else if ldap3::parse_filter(ldap.user_filter.replace(USERNAME_PLACEHOLDER, "x")).is_err() {
        reporter.at(&path.key("user_filter"), "is not a valid LDAP filter");
    }
    if ldap.group_mode != GroupMode::MemberOf
        && ldap
            .group_base_dn
            .as_deref()
            .is_none_or(|dn| dn.trim().is_empty())
    {
        reporter.at(
            &path.key("group_base_dn"),
            "required by group_mode \"search\" and \"ad_in_chain\"",
        );
    }
    if ldap.group_max_depth == 0 || ldap.group_max_depth > MAX_GROUP_DEPTH {
        reporter.at(
            &path.key("group_max_depth"),
            format!("must be between 1 and {MAX_GROUP_DEPTH}"),
        );
    }
    if ldap.pool_size == 0 || ldap.pool_size > MAX_POOL_SIZE {
        reporter.at(
            &path.key("pool_size"),
            format!("must be between 1 and {MAX_POOL_SIZE}"),
        );
    }
    for (key, value) in [
        ("connect_timeout", ldap.connect_timeout),
        ("operation_timeout", ldap.operation_timeout),
    ] {
        if value.get().is_zero() {
            reporter.at(&path.key(key), "must be longer than zero");
        }
    }
}

/// `Ok(true)` for `ldaps://`, `Ok(false)` for `ldap://`; a host is required.
pub(crate) fn check_ldap_url(url: &str) -> Result<bool, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("ldaps://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("ldap://") {
        (false, rest)
    } else {
        return Err(format!("{url:?} must start with ldap:// or ldaps://"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(tls)
}

/// Makes the section's relative paths absolute under `base`.
pub(crate) fn resolve_paths(config: &mut DirectoryConfig, resolve: &dyn Fn(&mut PathBuf)) {
    if let Some(file) = &mut config.file {
        resolve(&mut file.path);
    }
    if let Some(ldap) = &mut config.ldap {
        for path in [&mut ldap.ca_file, &mut ldap.bind_password_file]
            .into_iter()
            .flatten()
        {
            resolve(path);
        }
    }
}

/// Checks the files the section names: each must be readable (and the CA file hold
/// certificates); `check_certificates` is the loader's PEM check.
pub(crate) fn check_files(
    config: &DirectoryConfig,
    path: &KeyPath,
    reporter: &mut Reporter<'_>,
    check_certificates: &dyn Fn(&Path) -> Result<(), String>,
) {
    if let Some(file) = &config.file {
        if let Err(message) = readable(&file.path) {
            reporter.at(&path.key("file").key("path"), message);
        }
    }
    let Some(ldap) = &config.ldap else {
        return;
    };
    let path = path.key("ldap");
    if let Some(ca_file) = &ldap.ca_file {
        if let Err(message) = check_certificates(ca_file) {
            reporter.at(&path.key("ca_file"), message);
        }
    }
    if let Some(password_file) = &ldap.bind_password_file {
        if let Err(message) = readable(password_file) {
            reporter.at(&path.key("bind_password_file"), message);
        }
    }
}

fn readable(file: &Path) -> Result<(), String> {
    match std::fs::metadata(file) {
        Ok(meta) if meta.is_file() => std::fs::File::open(file)
            .map(drop)
            .map_err(|e| format!("cannot read {}: {e}", file.display())),
        Ok(_) => Err(format!("{} is not a file", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("file not found: {}", file.display()))
        }
        Err(e) => Err(format!("cannot read {}: {e}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse;

    use crate::config::tests::{problems, FILE};

    #[test]
    fn ldap_section_loads_with_defaults() {
        let text = r#"[directory]
backend = "ldap"
[directory.ldap]
urls = ["ldap://dc1.namdinh.gov.vn", "ldaps://dc2.namdinh.gov.vn:636"]
user_base_dn = "ou=people,dc=namdinh,dc=gov,dc=vn"
"#;
        let config = parse(Path::new(FILE), text).unwrap();
        let directory = config.directory.unwrap();
        assert_eq!(directory.backend, DirectoryBackend::Ldap);
        let ldap = directory.ldap.unwrap();
        assert_eq!(
            ldap.user_filter,
            "(&(objectClass=inetOrgPerson)(uid={username}))"
        );
        assert_eq!(ldap.group_mode, GroupMode::MemberOf);
        assert_eq!(ldap.group_max_depth, 8);
        assert_eq!(ldap.group_cache_ttl, Seconds::from_secs(60));
        assert_eq!(ldap.pool_size, 4);
        assert_eq!(ldap.attributes.subject, "entryUUID");
    }

    #[test]
    fn relative_paths_become_absolute() {
        let text = "[directory]\nbackend = \"file\"\n[directory.file]\npath = \"users.toml\"\n";
        let lines = problems(text);
        assert_eq!(
            lines,
            ["F:4:8: directory.file.path: file not found: /etc/govgate/users.toml"]
        );
    }

    #[test]
    fn ldap_problems_are_located() {
        let text = r#"[directory]
backend = "ldap"
[directory.ldap]
urls = ["http://dc1", "ldaps://dc2"]
starttls = true
bind_dn = "cn=svc,dc=x"
user_base_dn = ""
user_filter = "(uid=x)"
group_mode = "search"
group_max_depth = 0
pool_size = 0
"#;
        let lines = problems(text);
        for expected in [
            "directory.ldap.urls[0]: \"http://dc1\" must start with ldap:// or ldaps://",
            "directory.ldap.urls[1]: ldaps:// is already TLS",
            "directory.ldap.bind_dn: a service account needs bind_password_file or bind_password_env",
            "directory.ldap.user_base_dn: must not be empty",
            "directory.ldap.user_filter: must contain {username}",
            "directory.ldap.group_base_dn: required by group_mode",
            "directory.ldap.group_max_depth: must be between 1 and 64",
            "directory.ldap.pool_size: must be between 1 and 64",
        ] {
            assert!(
                lines.iter().any(|line| line.contains(expected)),
                "{expected} missing from {lines:#?}"
            );
        }
    }

    #[test]
    fn backend_needs_its_section() {
        assert_eq!(
            problems("[directory]\nbackend = \"ldap\"\n"),
            ["F:2:11: directory.backend: backend \"ldap\" requires a [directory.ldap] section"]
        );
        let lines = problems("[directory]\nbackend = \"file\"\n");
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("requires a [directory.file] section"));
    }

    #[test]
    fn url_shapes() {
        assert_eq!(check_ldap_url("ldap://dc1:389"), Ok(false));
        assert_eq!(check_ldap_url("ldaps://dc1"), Ok(true));
        assert!(check_ldap_url("ldap://").is_err());
        assert!(check_ldap_url("ldap://:389").is_err());
        assert!(check_ldap_url("dc1:389").is_err());
    }

    #[test]
    fn debug_output_names_password_sources_only() {
        let text = r#"[directory]
backend = "ldap"
[directory.ldap]
urls = ["ldap://dc1"]
bind_dn = "cn=svc,dc=x"
bind_password_env = "LDAP_PW"
user_base_dn = "dc=x"
"#;
        let config = parse(Path::new(FILE), text).unwrap();
        let debug = format!("{:?}", config.directory.unwrap());
        assert!(debug.contains("LDAP_PW"));
    }
}
