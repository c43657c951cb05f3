//! `[portal]`: the login portal's face and address, and `[identity_headers]`: the header
//! names upstream apps receive the logged-in person in.

use serde::Deserialize;

use super::locate::{KeyPath, Reporter};

/// The login portal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// Shown in every page's header, e.g. "Cổng đăng nhập một lần — UBND tỉnh Nam Định".
    #[serde(default = "defaults::site_name")]
    pub site_name: String,
    /// Logo shown left of the site name (an `https://` URL or a path on the gateway).
    #[serde(default)]
    pub logo_url: Option<String>,
    /// The portal's own address, e.g. `https://sso.namdinh.gov.vn`: the issuer of identity
    /// assertions, and where apps on hosts outside `session.cookie_domain` send users to log
    /// in. Absent: the portal answers on whichever host a request came to.
    #[serde(default)]
    pub public_url: Option<String>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            site_name: defaults::site_name(),
            logo_url: None,
            public_url: None,
        }
    }
}

/// Header names carrying the logged-in person to upstream apps (and to forward-auth callers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityHeadersConfig {
    #[serde(default = "defaults::user")]
    pub user: String,
    #[serde(default = "defaults::name")]
    pub name: String,
    #[serde(default = "defaults::email")]
    pub email: String,
    #[serde(default = "defaults::groups")]
    pub groups: String,
    #[serde(default = "defaults::department")]
    pub department: String,
    /// The signed identity assertion (a JWT).
    #[serde(default = "defaults::assertion")]
    pub assertion: String,
}

impl Default for IdentityHeadersConfig {
    fn default() -> Self {
        Self {
            user: defaults::user(),
            name: defaults::name(),
            email: defaults::email(),
            groups: defaults::groups(),
            department: defaults::department(),
            assertion: defaults::assertion(),
        }
    }
}

impl IdentityHeadersConfig {
    pub fn names(&self) -> [(&'static str, &str); 6] {
        [
            ("user", &self.user),
            ("name", &self.name),
            ("email", &self.email),
            ("groups", &self.groups),
            ("department", &self.department),
            ("assertion", &self.assertion),
        ]
    }
}

mod defaults {
    pub fn site_name() -> String {
        "govgate".into()
    }
    pub fn user() -> String {
        "X-Remote-User".into()
    }
    pub fn name() -> String {
        "X-Remote-Name".into()
    }
    pub fn email() -> String {
        "X-Remote-Email".into()
    }
    pub fn groups() -> String {
        "X-Remote-Groups".into()
    }
    pub fn department() -> String {
        "X-Remote-Department".into()
    }
    pub fn assertion() -> String {
        "X-Govgate-Assertion".into()
    }
}

/// Checks `[portal]` and `[identity_headers]`.
pub(crate) fn validate(config: &mut super::Config, reporter: &mut Reporter<'_>) {
    let portal = KeyPath::of("portal");
    if config.portal.site_name.trim().is_empty() {
        reporter.at(&portal.key("site_name"), "must not be empty");
    }
    if let Some(url) = &config.portal.public_url {
        let parsed = url.parse::<http::Uri>().ok();
        let ok = parsed.as_ref().is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.host().is_some()
                && u.path().trim_matches('/').is_empty()
                && u.query().is_none()
        });
        if !ok {
            reporter.at(&portal.key("public_url"), format!("{url:?} must be an http(s) URL with a host and no path, e.g. \"https://sso.namdinh.gov.vn\""));
        }
    }
    let headers = KeyPath::of("identity_headers");
    for (key, name) in config.identity_headers.names() {
        if http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).is_err() {
            reporter.at(
                &headers.key(key),
                format!("{name:?} is not a valid header name"),
            );
        }
    }
}
