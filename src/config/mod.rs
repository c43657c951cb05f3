//! Typed configuration: the only room that knows file formats.
//!
//! `load` reads a TOML file, rejects unknown keys, validates values and every file the
//! configuration references, and reports each problem as `file:line:column: key: message`.

mod types;
mod units;

use std::fmt;
use std::path::{Path, PathBuf};

pub use types::*;
pub use units::{ByteSize, Seconds};

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
        write!(f, "{}:{}:{}: {}: {}", self.file.display(), self.line, self.column, self.key, self.message)
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
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read file: {e}"),
        }],
    })?;
    parse(path, &text)
}

/// Parses configuration text that came from `path` (used for locations and relative paths).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    // Placeholder until the loader with spans and semantic validation lands.
    toml::from_str(text).map_err(|e: toml::de::Error| ConfigError {
        problems: vec![ConfigProblem {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: e.message().to_string(),
        }],
    })
}
