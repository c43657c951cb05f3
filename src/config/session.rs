//! `[session]` (browser sessions, cookies, SSO hand-off) and its nested
//! `[session.login_protection]` (brute-force regulation of the login form).

use serde::Deserialize;

use super::locate::{KeyPath, Reporter};
use super::units::Seconds;
use super::validate::check_host_pattern;

/// Browser sessions issued by the login portal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused for this long ends (sliding: every use extends it).
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout: Seconds,
    /// A session ends this long after login, however active it is.
    #[serde(default = "defaults::absolute_lifetime")]
    pub absolute_lifetime: Seconds,
    /// Name of the session cookie.
    #[serde(default = "defaults::cookie_name")]
    pub cookie_name: String,
    /// `Domain` attribute of the cookie (e.g. `.namdinh.gov.vn`) so every app host under it
    /// shares the login; absent = host-only cookie on the portal's host.
    #[serde(default)]
    pub cookie_domain: Option<String>,
    /// Each gateway instance caches a session for at most this long, so a logout on one
    /// instance takes effect on every instance within this time. `0s` disables the cache.
    #[serde(default = "defaults::cache_ttl")]
    pub cache_ttl: Seconds,
    /// Brute-force regulation of password logins.
    #[serde(default)]
    pub login_protection: LoginProtectionConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: defaults::idle_timeout(),
            absolute_lifetime: defaults::absolute_lifetime(),
            cookie_name: defaults::cookie_name(),
            cookie_domain: None,
            cache_ttl: defaults::cache_ttl(),
            login_protection: LoginProtectionConfig::default(),
        }
    }
}

/// Failure counters per username and per client address (IPv6 grouped by /64).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginProtectionConfig {
    /// Failed logins for one username within `window` before it is locked.
    #[serde(default = "defaults::user_max_failures")]
    pub user_max_failures: u32,
    /// How long a username stays locked.
    #[serde(default = "defaults::lockout")]
    pub user_lockout: Seconds,
    /// Failed logins from one client address (IPv6: one /64) within `window` before it is locked.
    #[serde(default = "defaults::ip_max_failures")]
    pub ip_max_failures: u32,
    /// How long a client address stays locked.
    #[serde(default = "defaults::lockout")]
    pub ip_lockout: Seconds,
    /// Failures are counted in a window of this length starting at the first failure.
    #[serde(default = "defaults::window")]
    pub window: Seconds,
}

impl Default for LoginProtectionConfig {
    fn default() -> Self {
        Self {
            user_max_failures: defaults::user_max_failures(),
            user_lockout: defaults::lockout(),
            ip_max_failures: defaults::ip_max_failures(),
            ip_lockout: defaults::lockout(),
            window: defaults::window(),
        }
    }
}

mod defaults {
    use super::Seconds;

    pub fn idle_timeout() -> Seconds {
        Seconds::from_secs(30 * 60)
    }
    pub fn absolute_lifetime() -> Seconds {
        Seconds::from_secs(10 * 3600)
    }
    pub fn cookie_name() -> String {
        "govgate_session".into()
    }
    pub fn cache_ttl() -> Seconds {
        Seconds::from_secs(2)
    }
    pub fn user_max_failures() -> u32 {
        5
    }
    pub fn ip_max_failures() -> u32 {
        20
    }
    pub fn lockout() -> Seconds {
        Seconds::from_secs(15 * 60)
    }
    pub fn window() -> Seconds {
        Seconds::from_secs(15 * 60)
    }
}

/// Checks `[session]`, `[session.login_protection]` and `[audit]`; lowercases the cookie domain.
pub(crate) fn validate(config: &mut super::Config, reporter: &mut Reporter<'_>) {
    let path = KeyPath::of("session");
    let session = &mut config.session;
    for (key, value) in [
        ("idle_timeout", session.idle_timeout),
        ("absolute_lifetime", session.absolute_lifetime),
    ] {
        if value.get().is_zero() {
            reporter.at(&path.key(key), "must be longer than zero");
        }
    }
    if session.absolute_lifetime < session.idle_timeout {
        reporter.at(
            &path.key("absolute_lifetime"),
            "must not be shorter than session.idle_timeout",
        );
    }
    if session.cookie_name.is_empty() || !session.cookie_name.bytes().all(is_token_byte) {
        reporter.at(
            &path.key("cookie_name"),
            format!(
                "{:?} is not a cookie name (letters, digits and !#$%&'*+-.^_`|~ only)",
                session.cookie_name
            ),
        );
    }
    if let Some(domain) = &mut session.cookie_domain {
        *domain = domain.to_ascii_lowercase();
        let name = domain.strip_prefix('.').unwrap_or(domain);
        let problem = if name.contains('*') {
            Some(format!(
                "{domain:?}: write the domain without a wildcard, e.g. \".namdinh.gov.vn\""
            ))
        } else {
            check_host_pattern(name).err()
        };
        if let Some(message) = problem {
            reporter.at(&path.key("cookie_domain"), message);
        }
    }
    let path = path.key("login_protection");
    let protection = &session.login_protection;
    for (key, value) in [
        ("user_max_failures", protection.user_max_failures),
        ("ip_max_failures", protection.ip_max_failures),
    ] {
        if value == 0 {
            reporter.at(&path.key(key), "must be greater than zero");
        }
    }
    for (key, value) in [
        ("user_lockout", protection.user_lockout),
        ("ip_lockout", protection.ip_lockout),
        ("window", protection.window),
    ] {
        if value.get().is_zero() {
            reporter.at(&path.key(key), "must be longer than zero");
        }
    }
    if config
        .audit
        .path
        .as_ref()
        .is_some_and(|path| path.as_os_str().is_empty())
    {
        reporter.at(&KeyPath::of("audit").key("path"), "must not be empty");
    }
}

/// RFC 6265 cookie names are RFC 7230 tokens.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::parse;

    use crate::config::tests::{problems, FILE};

    #[test]
    fn defaults() {
        let config = parse(Path::new(FILE), "").unwrap();
        let session = &config.session;
        assert_eq!(session.idle_timeout.get(), Duration::from_secs(1800));
        assert_eq!(session.absolute_lifetime.get(), Duration::from_secs(36_000));
        assert_eq!(session.cookie_name, "govgate_session");
        assert_eq!(session.cookie_domain, None);
        assert_eq!(session.cache_ttl.get(), Duration::from_secs(2));
        let protection = &session.login_protection;
        assert_eq!(
            (protection.user_max_failures, protection.ip_max_failures),
            (5, 20)
        );
        assert_eq!(protection.window.get(), Duration::from_secs(900));
        assert_eq!(
            config.audit.path_in(&config.data_dir),
            Path::new("/etc/govgate/govgate-data/audit.log")
        );
    }

    #[test]
    fn configured_values_and_relative_audit_path() {
        let text = "[session]\nidle_timeout = \"15m\"\ncookie_domain = \".NamDinh.gov.vn\"\ncache_ttl = \"0s\"\n\
                    [session.login_protection]\nuser_max_failures = 3\nip_lockout = \"1h\"\n\
                    [audit]\npath = \"logs/audit.log\"\n";
        let config = parse(Path::new(FILE), text).unwrap();
        assert_eq!(config.session.idle_timeout.get(), Duration::from_secs(900));
        assert_eq!(
            config.session.cookie_domain.as_deref(),
            Some(".namdinh.gov.vn")
        );
        assert!(config.session.cache_ttl.get().is_zero());
        assert_eq!(config.session.login_protection.user_max_failures, 3);
        assert_eq!(
            config.session.login_protection.ip_lockout.get(),
            Duration::from_secs(3600)
        );
        assert_eq!(
            config.audit.path_in(&config.data_dir),
            Path::new("/etc/govgate/logs/audit.log")
        );
    }

    #[test]
    fn invalid_values_are_located() {
        let text = "[session]\nidle_timeout = \"0s\"\nabsolute_lifetime = \"10m\"\ncookie_name = \"my cookie\"\n\
                    cookie_domain = \"*.namdinh.gov.vn\"\n\
                    [session.login_protection]\nip_max_failures = 0\nwindow = \"0s\"\n\
                    [audit]\npath = \"\"\n";
        assert_eq!(
            problems(text),
            [
                "F:2:16: session.idle_timeout: must be longer than zero",
                "F:4:15: session.cookie_name: \"my cookie\" is not a cookie name (letters, digits and !#$%&'*+-.^_`|~ only)",
                "F:5:17: session.cookie_domain: \"*.namdinh.gov.vn\": write the domain without a wildcard, e.g. \".namdinh.gov.vn\"",
                "F:7:19: session.login_protection.ip_max_failures: must be greater than zero",
                "F:8:10: session.login_protection.window: must be longer than zero",
                "F:10:8: audit.path: must not be empty",
            ]
        );
        assert_eq!(
            problems("[session]\nidle_timeout = \"1h\"\nabsolute_lifetime = \"30m\"\n"),
            ["F:3:21: session.absolute_lifetime: must not be shorter than session.idle_timeout"]
        );
        assert_eq!(
            problems("[session]\ncookie_domain = \"https://x.vn\"\n"),
            ["F:2:17: session.cookie_domain: \"https://x.vn\" is a URL; write only the host name, without scheme"]
        );
        let unknown = problems("[session]\nidle = \"1h\"\n");
        assert_eq!(unknown.len(), 1);
        assert!(
            unknown[0].starts_with("F:2:1: session.idle: unknown key `idle`"),
            "{unknown:?}"
        );
    }
}
