//! Every policy set that took effect through the API, kept so officers can list and roll back.
//!
//! `<data_dir>/policy-versions/<seq>-<digest12>/` holds the set's files and `version.json`
//! (who, when, how). The set in force when the first change is made is kept as version 1.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::{PolicyError, PolicySource};

const META_FILE: &str = "version.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionInfo {
    pub seq: u64,
    /// The set's content digest.
    pub version: String,
    /// Unix seconds.
    pub time: i64,
    pub officer: String,
    /// `initial`, `apply` or `rollback`.
    pub change: String,
}

pub struct VersionStore {
    dir: PathBuf,
}

impl VersionStore {
    pub fn new(dir: PathBuf) -> Self {
        VersionStore { dir }
    }

    /// Every kept version, oldest first.
    pub fn list(&self) -> Vec<VersionInfo> {
        let mut versions: Vec<VersionInfo> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let text = std::fs::read_to_string(entry.path().join(META_FILE)).ok()?;
                serde_json::from_str(&text).ok()
            })
            .collect();
        versions.sort_by_key(|v| v.seq);
        versions
    }

    /// Keeps `source` as a new version (unless it is already the newest one).
    pub fn record(
        &self,
        source: &PolicySource,
        officer: &str,
        change: &str,
    ) -> Result<VersionInfo, PolicyError> {
        let versions = self.list();
        let version = source.digest();
        if let Some(last) = versions.last().filter(|v| v.version == version) {
            return Ok(last.clone());
        }
        let info = VersionInfo {
            seq: versions.last().map_or(1, |v| v.seq + 1),
            version,
            time: crate::policy::clock::now_unix(),
            officer: officer.to_string(),
            change: change.to_string(),
        };
        let dir = self.version_dir(&info);
        source.write_to(&dir)?;
        let meta = serde_json::to_string_pretty(&info).unwrap_or_default();
        std::fs::write(dir.join(META_FILE), meta).map_err(|e| PolicyError::Io {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        Ok(info)
    }

    /// The files of a kept version, by its digest (or a unique prefix of at least 8 digits).
    pub fn load(&self, version: &str) -> Option<(VersionInfo, PolicySource)> {
        if version.len() < 8 {
            return None;
        }
        let mut matching = self
            .list()
            .into_iter()
            .filter(|v| v.version.starts_with(version));
        let info = matching.next()?;
        if matching.next().is_some() {
            return None;
        }
        let source = PolicySource::read_dir(&self.version_dir(&info)).ok()?;
        Some((info, source))
    }

    fn version_dir(&self, info: &VersionInfo) -> PathBuf {
        self.dir.join(format!(
            "{:06}-{}",
            info.seq,
            &info.version[..12.min(info.version.len())]
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
