//! `[audit]`: where the tamper-evident audit log of logins and lockouts is written.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// File name of the audit log inside the data dir, unless `audit.path` says otherwise.
pub const DEFAULT_AUDIT_FILE: &str = "audit.log";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The audit log (JSON lines, hash-chained); default `<data_dir>/audit.log`.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

impl AuditConfig {
    /// The configured path, or `<data_dir>/audit.log`.
    pub fn path_in(&self, data_dir: &Path) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| data_dir.join(DEFAULT_AUDIT_FILE))
    }
}
