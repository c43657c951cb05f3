//! `[admin]`: the administrative API (unlock a locked login, log a user out everywhere).

use std::path::PathBuf;

use serde::Deserialize;

/// The administrative API under `/.govgate/admin/`. Off unless a token file is configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// File holding the bearer token administrators send (`Authorization: Bearer …`); at least
    /// 32 characters. The gateway keeps only its SHA-256 and compares in constant time.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}
