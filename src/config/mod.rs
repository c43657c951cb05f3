//! Typed configuration: the only room that knows file formats.
//!
//! `load` reads a TOML file, rejects unknown keys, validates values and every file the
//! configuration references, and reports each problem as `file:line:column: key: message`.

mod admin;
mod audit;
mod directory;
mod files;
mod locate;
mod oidc;
mod policy;
mod portal;
mod session;
mod signatures;
mod structure;
mod types;
mod units;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub use admin::AdminConfig;
pub use directory::*;
pub use oidc::{
    ClientAuthMethod, GrantType, OidcClientConfig, OidcConfig, SigningAlg, MIN_CLIENT_SECRET_CHARS,
};
pub use policy::PolicyConfig;
pub use portal::{IdentityHeadersConfig, PortalConfig};
pub use signatures::{SignatureGuardConfig, SignaturesConfig};
pub use types::*;
pub use units::{ByteSize, Seconds};
pub use {
    audit::{AuditConfig, DEFAULT_AUDIT_FILE},
    session::{LoginProtectionConfig, SessionConfig},
};

use locate::Reporter;

/// One problem found in a configuration file, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `apps[1].upstreams[0]`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.key,
            self.message
        )
    }
}

/// Every problem found in a configuration; loading stops only after collecting them all.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Reads, parses and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![ConfigProblem {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            key: locate::FILE_KEY.to_string(),
            message: format!("cannot read the configuration file: {e}"),
        }],
    })?;
    parse(path, &text)
}

/// Parses configuration text that came from `path` (used for locations and relative paths).
///
/// Relative paths in the configuration are resolved against `path`'s directory and
/// returned absolute; host names and header prefixes are returned lowercase.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut reporter = Reporter::new(path, text, None);
    let Some(doc) = structure::parse_document(text, &mut reporter) else {
        return Err(ConfigError {
            problems: reporter.into_problems(),
        });
    };
    let mut reporter = Reporter::new(path, text, Some(&doc));
    let Some(mut config) = structure::deserialize(text, &doc, &mut reporter) else {
        return Err(ConfigError {
            problems: reporter.into_problems(),
        });
    };
    validate::validate(&mut config, &mut reporter);
    files::resolve_paths(&mut config, &base_dir(path));
    files::check_files(&config, &mut reporter);
    if reporter.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError {
            problems: reporter.into_problems(),
        })
    }
}

/// The absolute directory relative paths in the file at `path` are resolved against.
fn base_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Settings that load but are probably not what the operator meant; `check` prints them and
/// `serve` logs them.
pub fn advisories(config: &Config) -> Vec<String> {
    let mut notes = Vec::new();
    if config.directory.is_none() {
        for app in config
            .apps
            .iter()
            .filter(|app| app.access == Access::Authenticated)
        {
            notes.push(format!(
                "app {:?} requires login (access = \"authenticated\", the default) but no [directory] is configured: \
                 its users will be told login is unavailable; configure [directory] or set access = \"public\"",
                app.id
            ));
        }
    }
    notes
}
