//! The trust store: anchors grouped in named trust lists, plus known intermediates.
//!
//! On disk (`certs/` by default):
//!
//! ```text
//! certs/trust/<list>/<file>    anchors of trust list <list> (e.g. public, government)
//! certs/intermediates/<file>   CA certificates offered to path building, never trusted
//! ```
//!
//! A file may be PEM, DER or PKCS#7 (see [`super::bundle`]). A bad file is reported as
//! a [`LoadWarning`] naming it and skipped; the other files still load, so one broken
//! download never empties the store.

use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, TrustAnchor};

use super::bundle;
use super::certificate::CertificateInfo;

/// Files larger than this are not certificate bundles.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Extensions of files the loader reads; others (README.md, ...) are left alone.
const CERTIFICATE_EXTENSIONS: &[&str] = &["pem", "crt", "cer", "der", "p7b", "p7c"];

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no `trust/` directory with trust lists", path.display())]
    NoTrustLists { path: PathBuf },
    #[error("trust list name {0:?}: use letters, digits, '-' and '_'")]
    BadListName(String),
    #[error("not a usable certificate: {0}")]
    BadCertificate(String),
}

/// A file (or one certificate in it) that was skipped or deserves attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadWarning {
    pub file: PathBuf,
    pub problem: String,
}

impl std::fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.problem)
    }
}

/// A trust anchor with the list it belongs to.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub list: String,
    pub der: Vec<u8>,
    pub info: CertificateInfo,
}

#[derive(Debug, Default)]
pub struct TrustStore {
    pub(crate) anchors: Vec<Anchor>,
    /// Parallel to `anchors`: the form webpki builds paths to.
    pub(crate) webpki_anchors: Vec<TrustAnchor<'static>>,
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
}

impl TrustStore {
    pub fn empty() -> TrustStore {
        TrustStore::default()
    }

    /// Loads `dir/trust/<list>/*` as anchors and `dir/intermediates/*` as
    /// intermediates. Fails only if `dir/trust` cannot be read at all.
    pub fn load(dir: &Path) -> Result<(TrustStore, Vec<LoadWarning>), PkiError> {
        let mut store = TrustStore::empty();
        let mut warnings = Vec::new();
        let trust_dir = dir.join("trust");
        if !trust_dir.is_dir() {
            return Err(PkiError::NoTrustLists { path: dir.into() });
        }
        for entry in sorted_entries(&trust_dir)? {
            if entry.is_dir() {
                let list = file_name(&entry);
                store.load_list(&list, &entry, &mut warnings)?;
            } else if is_certificate_file(&entry) {
                warnings.push(LoadWarning {
                    file: entry,
                    problem: "not in a trust list: move it into trust/<list>/".into(),
                });
            }
        }
        let intermediates_dir = dir.join("intermediates");
        if intermediates_dir.is_dir() {
            for file in certificate_files(&intermediates_dir)? {
                for der in read_certificates(&file, &mut warnings) {
                    if let Err(error) = store.add_intermediate(der) {
                        warnings.push(LoadWarning {
                            file: file.clone(),
                            problem: error.to_string(),
                        });
                    }
                }
            }
        }
        if store.anchors.is_empty() {
            warnings.push(LoadWarning {
                file: trust_dir,
                problem: "no trust anchor loaded: every chain will fail".into(),
            });
        }
        Ok((store, warnings))
    }

    fn load_list(
        &mut self,
        list: &str,
        dir: &Path,
        warnings: &mut Vec<LoadWarning>,
    ) -> Result<(), PkiError> {
        for file in certificate_files(dir)? {
            for der in read_certificates(&file, warnings) {
                if let Err(error) = self.add_anchor(list, der) {
                    warnings.push(LoadWarning {
                        file: file.clone(),
                        problem: error.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Adds a trust anchor to trust list `list`. A certificate already in the store is
    /// not added twice.
    pub fn add_anchor(&mut self, list: &str, der: Vec<u8>) -> Result<(), PkiError> {
        check_list_name(list)?;
        let info = CertificateInfo::from_der(&der)
            .ok_or_else(|| PkiError::BadCertificate("does not parse as X.509".into()))?;
        let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
            .map_err(|error| PkiError::BadCertificate(format!("{error:?}")))?
            .to_owned();
        if self.anchors.iter().any(|known| known.der == der) {
            return Ok(());
        }
        self.anchors.push(Anchor {
            list: list.to_string(),
            der,
            info,
        });
        self.webpki_anchors.push(anchor);
        Ok(())
    }

    /// Adds a certificate path building may use as an intermediate (never as an anchor).
    pub fn add_intermediate(&mut self, der: Vec<u8>) -> Result<(), PkiError> {
        if CertificateInfo::from_der(&der).is_none() {
            return Err(PkiError::BadCertificate("does not parse as X.509".into()));
        }
        if !self.intermediates.iter().any(|known| known.as_ref() == der) {
            self.intermediates.push(CertificateDer::from(der));
        }
        Ok(())
    }

    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    pub fn intermediates(&self) -> impl Iterator<Item = &[u8]> {
        self.intermediates.iter().map(|der| der.as_ref())
    }

    /// The names of the trust lists that hold at least one anchor.
    pub fn trust_lists(&self) -> Vec<&str> {
        let mut lists: Vec<&str> = self.anchors.iter().map(|a| a.list.as_str()).collect();
        lists.sort_unstable();
        lists.dedup();
        lists
    }
}

fn check_list_name(list: &str) -> Result<(), PkiError> {
    let valid = !list.is_empty()
        && list
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match valid {
        true => Ok(()),
        false => Err(PkiError::BadListName(list.to_string())),
    }
}

/// The certificates of one file; problems become warnings naming the file.
fn read_certificates(file: &Path, warnings: &mut Vec<LoadWarning>) -> Vec<Vec<u8>> {
    let warn = |warnings: &mut Vec<LoadWarning>, problem: String| {
        warnings.push(LoadWarning {
            file: file.to_path_buf(),
            problem,
        })
    };
    match std::fs::metadata(file) {
        Ok(metadata) if metadata.len() > MAX_FILE_BYTES => {
            warn(warnings, format!("larger than {MAX_FILE_BYTES} bytes"));
            return Vec::new();
        }
        Err(error) => {
            warn(warnings, error.to_string());
            return Vec::new();
        }
        Ok(_) => {}
    }
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(error) => {
            warn(warnings, error.to_string());
            return Vec::new();
        }
    };
    match bundle::decode_certificates(&bytes) {
        Ok(certificates) => certificates,
        Err(error) => {
            warn(warnings, error.to_string());
            Vec::new()
        }
    }
}

fn certificate_files(dir: &Path) -> Result<Vec<PathBuf>, PkiError> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|path| path.is_file() && is_certificate_file(path))
        .collect())
}

fn is_certificate_file(path: &Path) -> bool {
    let hidden = file_name(path).starts_with('.');
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    !hidden && extension.is_some_and(|e| CERTIFICATE_EXTENSIONS.contains(&e.as_str()))
}

/// Directory entries in name order, so loading (and warnings) are reproducible.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, PkiError> {
    let io = |source| PkiError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        entries.push(entry.map_err(io)?.path());
    }
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
