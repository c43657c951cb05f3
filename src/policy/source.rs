//! A policy set as files: what officers edit, what the API receives and what versions keep.
//!
//! Everything the engine runs is compiled from a [`PolicySource`] held in memory, so a set read
//! from the policies directory, a set proposed through the API and a stored version are checked
//! by exactly the same code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;

use super::PolicyError;

/// The schema's file name inside a policies directory.
pub const SCHEMA_FILE: &str = "schema.cedarschema";
/// Directory groups → roles.
pub const ROLES_FILE: &str = "roles.toml";
/// Route classes per app.
pub const ROUTES_FILE: &str = "routes.toml";
/// Test tables run before a set takes effect.
pub const TESTS_DIR: &str = "tests";

/// Largest single file accepted in a policy set.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most files accepted in a policy set.
pub const MAX_FILES: usize = 2000;

/// The files of one policy set, by relative path (`mot-cua.cedar`, `tests/mot-cua.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySource {
    files: BTreeMap<String, String>,
}

impl PolicySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every file the engine uses from `dir`: the schema, `roles.toml`, `routes.toml`,
    /// `*.cedar` at the top level and `tests/*.toml`. Other files are ignored.
    pub fn read_dir(dir: &Path) -> Result<Self, PolicyError> {
        let mut source = PolicySource::new();
        for (relative, path) in policy_files(dir)? {
            let text = std::fs::read_to_string(&path).map_err(|e| PolicyError::Io {
                path: path.clone(),
                message: e.to_string(),
            })?;
            source.insert(&relative, text)?;
        }
        Ok(source)
    }

    /// Adds or replaces one file; refuses names the engine would not read back and oversize files.
    pub fn insert(&mut self, relative: &str, text: String) -> Result<(), PolicyError> {
        if !is_policy_file_name(relative) {
            return Err(PolicyError::FileName(relative.to_string()));
        }
        if text.len() > MAX_FILE_BYTES {
            return Err(PolicyError::TooLarge(relative.to_string()));
        }
        if self.files.len() >= MAX_FILES && !self.files.contains_key(relative) {
            return Err(PolicyError::TooManyFiles);
        }
        self.files.insert(relative.to_string(), text);
        Ok(())
    }

    pub fn get(&self, relative: &str) -> Option<&str> {
        self.files.get(relative).map(String::as_str)
    }

    /// Every file, in name order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `.cedar` policy files, in name order.
    pub fn policy_files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files().filter(|(name, _)| name.ends_with(".cedar"))
    }

    /// The test tables, in name order.
    pub fn test_files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files().filter(|(name, _)| name.starts_with("tests/"))
    }

    /// A content digest (hex SHA-256 over names and contents): the set's version identity.
    pub fn digest(&self) -> String {
        let mut context = digest::Context::new(&digest::SHA256);
        for (name, text) in &self.files {
            context.update(&(name.len() as u64).to_be_bytes());
            context.update(name.as_bytes());
            context.update(&(text.len() as u64).to_be_bytes());
            context.update(text.as_bytes());
        }
        hex(context.finish().as_ref())
    }

    /// Writes the set into `dir` so that a reader sees either an old or a new file, never a
    /// torn one: each file goes to a temporary name and is renamed over the old one; files of
    /// the old set that this one lacks are removed last.
    pub fn write_to(&self, dir: &Path) -> Result<(), PolicyError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |e: std::io::Error| PolicyError::Io {
                path,
                message: e.to_string(),
            }
        };
        std::fs::create_dir_all(dir.join(TESTS_DIR)).map_err(io(dir))?;
        for (relative, text) in &self.files {
            let target = dir.join(relative);
            let temporary = dir.join(format!(".{}.tmp", relative.replace('/', "_")));
            std::fs::write(&temporary, text).map_err(io(&temporary))?;
            if let Ok(file) = std::fs::File::open(&temporary) {
                let _ = file.sync_all();
            }
            std::fs::rename(&temporary, &target).map_err(io(&target))?;
        }
        for (relative, path) in policy_files(dir)? {
            if !self.files.contains_key(&relative) {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }

    /// A line-based summary of what changed from `before` to `self`, for audit records.
    pub fn diff_from(&self, before: &PolicySource) -> Vec<FileChange> {
        let mut changes = Vec::new();
        for (name, text) in &self.files {
            match before.files.get(name) {
                None => changes.push(FileChange::added(name, text)),
                Some(old) if old != text => changes.push(FileChange::changed(name, old, text)),
                Some(_) => {}
            }
        }
        for (name, old) in &before.files {
            if !self.files.contains_key(name) {
                changes.push(FileChange::removed(name, old));
            }
        }
        changes
    }
}

/// One file's change between two sets: the lines only in the old and only in the new text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    pub file: String,
    pub change: &'static str,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

impl FileChange {
    fn added(name: &str, text: &str) -> Self {
        Self::lines(name, "added", "", text)
    }
    fn removed(name: &str, text: &str) -> Self {
        Self::lines(name, "removed", text, "")
    }
    fn changed(name: &str, old: &str, new: &str) -> Self {
        Self::lines(name, "changed", old, new)
    }
    fn lines(name: &str, change: &'static str, old: &str, new: &str) -> Self {
        let old_lines: Vec<&str> = old.lines().collect();
        let new_lines: Vec<&str> = new.lines().collect();
        let only = |a: &[&str], b: &[&str]| -> Vec<String> {
            let mut others: BTreeMap<&str, usize> = BTreeMap::new();
            for line in b {
                *others.entry(line).or_default() += 1;
            }
            a.iter()
                .filter(|line| match others.get_mut(*line) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        false
                    }
                    _ => true,
                })
                .map(|line| line.to_string())
                .collect()
        };
        FileChange {
            file: name.to_string(),
            change,
            removed: only(&old_lines, &new_lines),
            added: only(&new_lines, &old_lines),
        }
    }
}

/// Names the engine reads: the three fixed files, `NAME.cedar` and `tests/NAME.toml`, with
/// plain names (letters, digits, `-`, `_`, `.`; no hidden files, no other directories).
pub fn is_policy_file_name(relative: &str) -> bool {
    let plain = |name: &str| {
        !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match relative.split_once('/') {
        None => {
            relative == SCHEMA_FILE
                || relative == ROLES_FILE
                || relative == ROUTES_FILE
                || (relative.ends_with(".cedar") && plain(relative))
        }
        Some((TESTS_DIR, name)) => name.ends_with(".toml") && plain(name),
        Some(_) => false,
    }
}

/// The engine's files under `dir` as (relative name, path).
fn policy_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, PolicyError> {
    let mut found = Vec::new();
    let read = |path: &Path| {
        std::fs::read_dir(path).map_err(|e| PolicyError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    };
    for entry in read(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_policy_file_name(&name) && entry.path().is_file() {
            found.push((name, entry.path()));
        }
    }
    let tests = dir.join(TESTS_DIR);
    if tests.is_dir() {
        for entry in read(&tests)?.flatten() {
            let name = format!(
                "{TESTS_DIR}/{}",
                entry.file_name().to_string_lossy().into_owned()
            );
            if is_policy_file_name(&name) && entry.path().is_file() {
                found.push((name, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_outside_the_layout_are_refused() {
        for good in [
            "schema.cedarschema",
            "roles.toml",
            "a.cedar",
            "tests/x.toml",
        ] {
            assert!(is_policy_file_name(good), "{good}");
        }
        for bad in [
            "../a.cedar",
            "tests/../x.toml",
            ".hidden.cedar",
            "a.txt",
            "sub/a.cedar",
            "tests/a.cedar",
            "",
        ] {
            assert!(!is_policy_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn digest_changes_with_any_byte_and_name() {
        let mut a = PolicySource::new();
        a.insert("a.cedar", "permit(principal, action, resource);".into())
            .unwrap();
        let mut b = a.clone();
        assert_eq!(a.digest(), b.digest());
        b.insert("a.cedar", "permit(principal, action, resource); ".into())
            .unwrap();
        assert_ne!(a.digest(), b.digest());
        let mut c = PolicySource::new();
        c.insert("b.cedar", "permit(principal, action, resource);".into())
            .unwrap();
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn diff_names_added_and_removed_lines() {
        let mut old = PolicySource::new();
        old.insert("a.cedar", "x\ny\n".into()).unwrap();
        old.insert("gone.cedar", "z\n".into()).unwrap();
        let mut new = PolicySource::new();
        new.insert("a.cedar", "x\nw\n".into()).unwrap();
        let changes = new.diff_from(&old);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].file, "a.cedar");
        assert_eq!(changes[0].removed, vec!["y"]);
        assert_eq!(changes[0].added, vec!["w"]);
        assert_eq!(changes[1].change, "removed");
    }
}
