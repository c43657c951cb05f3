//! `[policy]`: the access policies (Cedar) that decide who may reach which app.

use std::path::PathBuf;

use serde::Deserialize;

use super::units::Seconds;

/// Access policies. Without this section, an app with `access = "authenticated"` admits every
/// logged-in user; with it, every request to such an app is decided by the policies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policies directory: `schema.cedarschema`, `*.cedar`, `roles.toml`, `routes.toml`,
    /// `tests/*.toml`. Relative to the configuration file.
    pub dir: PathBuf,
    /// Look for edited files this often and reload them (validated and tested first);
    /// `"0s"` turns watching off (SIGHUP still reloads).
    #[serde(default = "default_watch_interval")]
    pub watch_interval: Seconds,
}

fn default_watch_interval() -> Seconds {
    Seconds::from_secs(5)
}
