//! The key directory: loading, first-start generation, rotation, and the key set in use.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::jwt::{self, VerifyOptions};
use super::lock::DirLock;
use super::material::KeyMaterial;
use super::{Algorithm, KeyError};

/// The index of the key directory, next to the PEM files.
pub const INDEX_FILE_NAME: &str = "keys.json";

/// Algorithms that always get a key on first start.
const DEFAULT_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// Public facts about one key, as recorded in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: Algorithm,
    /// The PEM file, inside the key directory.
    pub path: PathBuf,
    pub created_at: SystemTime,
    /// When the key stopped signing; retired keys still verify and stay in the JWKS.
    pub retired_at: Option<SystemTime>,
}

/// One entry of `keys.json`. Dates are RFC 3339 so operators can read them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IndexEntry {
    pub(super) kid: String,
    pub(super) alg: Algorithm,
    /// File name (no directory part) inside the key directory.
    pub(super) file: String,
    pub(super) created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) retired_at: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Index {
    pub(super) keys: Vec<IndexEntry>,
}

struct LoadedKey {
    info: KeyInfo,
    material: KeyMaterial,
}

/// The gateway's signing keys: the current key per algorithm signs; every key in the
/// index (current and retired) verifies and is published in the JWKS.
pub struct SigningKeys {
    dir: PathBuf,
    keys: Vec<LoadedKey>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<_> = self
            .keys
            .iter()
            .map(|k| (&k.info.kid, k.info.alg))
            .collect();
        f.debug_struct("SigningKeys")
            .field("dir", &self.dir)
            .field("keys", &kids)
            .finish()
    }
}

impl SigningKeys {
    /// Loads the keys in `dir` (normally `<data_dir>/keys`), generating an RS256 and an
    /// ES256 key when the directory has none. A damaged file is reported, never replaced.
    pub fn load_or_generate(dir: &Path) -> Result<Self, KeyError> {
        Self::load_or_generate_with(dir, &DEFAULT_ALGORITHMS)
    }

    /// Like [`Self::load_or_generate`], making sure each of `algorithms` (and RS256,
    /// always) has a current key. Only generation takes the directory lock; a complete
    /// directory is just read (it may be read-only).
    pub fn load_or_generate_with(dir: &Path, algorithms: &[Algorithm]) -> Result<Self, KeyError> {
        create_private_dir(dir)?;
        let keys = Self::read(dir)?;
        if missing_algorithms(&keys.keys, algorithms).is_empty() {
            return Ok(keys);
        }
        let _lock = DirLock::acquire(dir)?;
        Self::generate_missing(dir, algorithms)
    }

    /// Retires the current `alg` key in `dir` (it keeps verifying and stays published until
    /// [`super::prune`] removes it) and generates its successor. Returns the new key set;
    /// swap it in where the old one lives.
    pub fn rotate(dir: &Path, alg: Algorithm) -> Result<Self, KeyError> {
        create_private_dir(dir)?;
        let _lock = DirLock::acquire(dir)?;
        let current = Self::read(dir)?;
        let Some(kid) = current.current_kid(alg) else {
            // Nothing to retire: the first key of `alg` is the rotation.
            return Self::generate_missing(dir, &[alg]);
        };
        let mut index = read_index(dir)?;
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        for entry in index.keys.iter_mut().filter(|e| e.kid == kid) {
            entry.retired_at = Some(now.clone());
        }
        let (entry, _) = generate_key(dir, alg)?;
        index.keys.push(entry);
        write_index(dir, &index)?;
        Self::read(dir)
    }

    /// Reads the index and every key it names, generating nothing (for tools that only
    /// look, e.g. `govgate keys list`).
    pub fn read(dir: &Path) -> Result<Self, KeyError> {
        let index = read_index(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            keys: load_keys(dir, &index)?,
        })
    }

    /// Generates the missing current keys; the caller holds the directory lock (and the
    /// index is read again under it: another process may have generated them meanwhile).
    fn generate_missing(dir: &Path, algorithms: &[Algorithm]) -> Result<Self, KeyError> {
        let mut index = read_index(dir)?;
        let mut keys = load_keys(dir, &index)?;
        let missing = missing_algorithms(&keys, algorithms);
        for &alg in &missing {
            let (entry, key) = generate_key(dir, alg)?;
            index.keys.push(entry);
            keys.push(key);
        }
        if !missing.is_empty() {
            write_index(dir, &index)?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            keys,
        })
    }

    /// The directory the keys were loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every loaded key, current and retired, in index order.
    pub fn key_infos(&self) -> Vec<KeyInfo> {
        self.keys.iter().map(|k| k.info.clone()).collect()
    }

    /// The `kid` of the key that currently signs with `alg`.
    pub fn current_kid(&self, alg: Algorithm) -> Option<&str> {
        current_position(&self.keys, alg).map(|i| self.keys[i].info.kid.as_str())
    }

    /// The public JWK Set: `{"keys":[{kty,kid,use:"sig",alg,n,e | crv,x[,y]}]}`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().map(|k| k.material.public_jwk()).collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` with the current RS256 key; the header carries `alg`, `typ`, `kid`.
    pub fn sign_rs256(&self, claims: &impl Serialize, typ: &str) -> Result<String, KeyError> {
        self.sign(Algorithm::RS256, claims, typ)
    }

    /// Signs `claims` with the current key of `alg`.
    pub fn sign(
        &self,
        alg: Algorithm,
        claims: &impl Serialize,
        typ: &str,
    ) -> Result<String, KeyError> {
        let position = current_position(&self.keys, alg).ok_or(KeyError::NoKey(alg))?;
        jwt::encode(&self.keys[position].material, typ, claims)
    }

    /// Verifies a token signed by one of these keys and returns its claims. The key is
    /// chosen by `kid`; the token's `alg` must be that key's algorithm (so `none`, HS256
    /// with the public key as secret, or any other substitution is refused). `exp` is
    /// required; `nbf`, `iss`, `aud` and `typ` are checked as `expected` says.
    pub fn verify(&self, token: &str, expected: &VerifyOptions) -> Result<Value, KeyError> {
        let header = jwt::read_header(token)?;
        let kid = header
            .kid
            .ok_or_else(|| KeyError::MalformedToken("header has no kid".into()))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.info.kid == kid)
            .ok_or_else(|| KeyError::UnknownKey(kid.clone()))?;
        if header.alg != key.info.alg.as_str() {
            return Err(KeyError::AlgorithmMismatch {
                kid,
                key_alg: key.info.alg,
                token_alg: header.alg,
            });
        }
        if let Some(typ) = &expected.typ {
            if header.typ.as_deref() != Some(typ.as_str()) {
                return Err(KeyError::InvalidToken(format!(
                    "typ {:?} is not {typ:?}",
                    header.typ
                )));
            }
        }
        jwt::verify_with_key(&key.material, token, expected)
    }
}

/// RS256 and each of `algorithms` that has no current key.
fn missing_algorithms(keys: &[LoadedKey], algorithms: &[Algorithm]) -> Vec<Algorithm> {
    let mut wanted = vec![Algorithm::RS256];
    for &alg in algorithms {
        if !wanted.contains(&alg) {
            wanted.push(alg);
        }
    }
    wanted.retain(|&alg| current_position(keys, alg).is_none());
    wanted
}

/// The newest unretired key of `alg`.
fn current_position(keys: &[LoadedKey], alg: Algorithm) -> Option<usize> {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| k.info.alg == alg && k.info.retired_at.is_none())
        .max_by_key(|(_, k)| k.info.created_at)
        .map(|(i, _)| i)
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))
}

pub(super) fn read_index(dir: &Path) -> Result<Index, KeyError> {
    let path = dir.join(INDEX_FILE_NAME);
    let corrupt = |reason: String| KeyError::CorruptIndex {
        path: path.clone(),
        reason,
    };
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Key files without an index are someone's keys: never bury them under new ones.
            if let Some(orphan) = first_pem_file(dir)? {
                return Err(corrupt(format!(
                    "missing, but {} exists; restore {INDEX_FILE_NAME} or move the key files away",
                    orphan.display()
                )));
            }
            return Ok(Index::default());
        }
        Err(e) => return Err(io_error(&path)(e)),
    };
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    for (position, entry) in index.keys.iter().enumerate() {
        if !is_plain_file_name(&entry.file) {
            return Err(corrupt(format!(
                "keys[{position}].file {:?} must be a file name inside the key directory",
                entry.file
            )));
        }
        if index.keys[..position].iter().any(|e| e.kid == entry.kid) {
            return Err(corrupt(format!(
                "keys[{position}]: duplicate kid {:?}",
                entry.kid
            )));
        }
    }
    Ok(index)
}

fn first_pem_file(dir: &Path) -> Result<Option<PathBuf>, KeyError> {
    let entries = fs::read_dir(dir).map_err(io_error(dir))?;
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
}

fn load_keys(dir: &Path, index: &Index) -> Result<Vec<LoadedKey>, KeyError> {
    index
        .keys
        .iter()
        .enumerate()
        .map(|(position, entry)| {
            let info = entry_info(dir, position, entry)?;
            let material = read_key_file(&info.path, entry)?;
            Ok(LoadedKey { info, material })
        })
        .collect()
}

/// The facts `keys.json` records about its entry at `position` (dates parsed).
pub(super) fn entry_info(
    dir: &Path,
    position: usize,
    entry: &IndexEntry,
) -> Result<KeyInfo, KeyError> {
    let parse_date = |field: &str, value: &str| {
        humantime::parse_rfc3339(value).map_err(|e| KeyError::CorruptIndex {
            path: dir.join(INDEX_FILE_NAME),
            reason: format!("keys[{position}].{field} {value:?}: {e}"),
        })
    };
    let created_at = parse_date("created_at", &entry.created_at)?;
    let retired_at = match &entry.retired_at {
        Some(value) => Some(parse_date("retired_at", value)?),
        None => None,
    };
    Ok(KeyInfo {
        kid: entry.kid.clone(),
        alg: entry.alg,
        path: dir.join(&entry.file),
        created_at,
        retired_at,
    })
}

fn read_key_file(path: &Path, entry: &IndexEntry) -> Result<KeyMaterial, KeyError> {
    let mode = fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode: mode & 0o777,
        });
    }
    let text = fs::read(path).map_err(io_error(path))?;
    let corrupt = |reason: String| KeyError::CorruptKey {
        path: path.to_path_buf(),
        reason,
    };
    let pem = pem::parse(&text).map_err(|e| corrupt(format!("not PEM ({e})")))?;
    if pem.tag() != "PRIVATE KEY" {
        return Err(corrupt(format!(
            "PEM label is {:?}, expected \"PRIVATE KEY\" (PKCS#8)",
            pem.tag()
        )));
    }
    let material = KeyMaterial::from_pkcs8_file(entry.alg, pem.contents(), path)?;
    if material.kid != entry.kid {
        return Err(corrupt(format!(
            "holds key {} but {INDEX_FILE_NAME} says {}",
            material.kid, entry.kid
        )));
    }
    Ok(material)
}

/// Generates a key of `alg` and writes its PEM file (mode 0600, never overwriting).
fn generate_key(dir: &Path, alg: Algorithm) -> Result<(IndexEntry, LoadedKey), KeyError> {
    let (material, pkcs8) = KeyMaterial::generate(alg)?;
    let created_at = SystemTime::now();
    let kid_prefix: String = material.kid.chars().take(16).collect();
    let file = format!("{}-{kid_prefix}.pem", alg.file_prefix());
    let path = dir.join(&file);
    let text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8));
    write_new_private_file(&path, text.as_bytes())?;
    let entry = IndexEntry {
        kid: material.kid.clone(),
        alg,
        file,
        created_at: humantime::format_rfc3339_seconds(created_at).to_string(),
        retired_at: None,
    };
    // The index stores whole seconds; keep the in-memory date identical to what reloads.
    let created_at = humantime::parse_rfc3339(&entry.created_at).unwrap_or(created_at);
    let info = KeyInfo {
        kid: material.kid.clone(),
        alg,
        path,
        created_at,
        retired_at: None,
    };
    Ok((entry, LoadedKey { info, material }))
}

fn write_new_private_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(contents).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Replaces the index atomically (temp file, fsync, rename, fsync of the directory).
pub(super) fn write_index(dir: &Path, index: &Index) -> Result<(), KeyError> {
    let path = dir.join(INDEX_FILE_NAME);
    let temp = dir.join(format!(".{INDEX_FILE_NAME}.tmp"));
    let mut text = serde_json::to_vec_pretty(index)?;
    text.push(b'\n');
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io_error(&temp))?;
    file.write_all(&text).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    fs::rename(&temp, &path).map_err(io_error(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}
