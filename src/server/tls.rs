//! TLS termination for the HTTPS listener, certificate hot reload, the generated
//! development certificate, and the client configuration used towards HTTPS upstreams.
//!
//! Invariants:
//! - Every rustls configuration here is built on the aws-lc-rs provider, explicitly, so a
//!   process that forgot to install a default provider still gets the right one.
//! - Only TLS 1.2 and TLS 1.3 are ever offered.
//! - A reload either swaps in a complete, validated configuration or changes nothing:
//!   a broken certificate or key file never takes the listener down.
//! - Connections hold their own `Arc<ServerConfig>`, so a reload never touches them.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::{CertificateConfig, TlsConfig};

/// ALPN identifiers offered to clients, most preferred first.
const SERVER_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Everything that can go wrong loading or generating TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[tls] lists no certificates")]
    NoCertificates,
    #[error("unsupported TLS min_version {0:?}: expected \"1.2\" or \"1.3\"")]
    MinVersion(String),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: invalid PEM: {message}", path.display())]
    Pem { path: PathBuf, message: String },
    #[error("{}: no PEM certificate found", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no PEM private key found", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("{}: unusable private key: {source}", path.display())]
    PrivateKey {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("{}: certificate does not match private key {}: {source}", cert.display(), key.display())]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("{}: cannot parse certificate: {message}", path.display())]
    Certificate { path: PathBuf, message: String },
    #[error("{}: no usable CA certificate: {message}", path.display())]
    CaFile { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("generating the development certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The HTTPS listener's certificates and TLS settings, reloadable at run time.
pub struct TlsTerminator {
    certificates: Vec<CertificateConfig>,
    versions: &'static [&'static SupportedProtocolVersion],
    watch_interval: Duration,
    current: ArcSwap<ServerConfig>,
    /// SHA-256 over every loaded file, to tell a real change from a touched file.
    loaded_digest: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for TlsTerminator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTerminator")
            .field("certificates", &self.certificates)
            .finish_non_exhaustive()
    }
}

impl TlsTerminator {
    /// Loads every certificate and key named in `config`; fails on the first bad file.
    pub fn new(config: &TlsConfig) -> Result<Self, TlsError> {
        if config.certificates.is_empty() {
            return Err(TlsError::NoCertificates);
        }
        let versions = protocol_versions(&config.min_version)?;
        let material = LoadedMaterial::read(&config.certificates)?;
        let server_config = build_server_config(&material, versions)?;
        Ok(Self {
            certificates: config.certificates.clone(),
            versions,
            watch_interval: config.watch_interval.get().max(Duration::from_millis(50)),
            current: ArcSwap::from_pointee(server_config),
            loaded_digest: Mutex::new(material.digest),
        })
    }

    /// An acceptor with the current configuration; cheap enough to call per connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// The current rustls configuration (for listeners that drive rustls themselves).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Re-reads the certificate and key files. `Ok(true)` when the new material is in
    /// force, `Ok(false)` when the files are unchanged; on error the old configuration stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let material = LoadedMaterial::read(&self.certificates)?;
        let mut loaded_digest = self
            .loaded_digest
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *loaded_digest == material.digest {
            return Ok(false);
        }
        let server_config = build_server_config(&material, self.versions)?;
        self.current.store(Arc::new(server_config));
        *loaded_digest = material.digest;
        Ok(true)
    }

    /// Polls the files' modification times every `watch_interval` and reloads on change.
    /// Runs until the task is dropped.
    pub async fn watch(self: Arc<Self>) {
        let mut seen = self.modification_times();
        let mut ticker = tokio::time::interval(self.watch_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let now = self.modification_times();
            if now == seen {
                continue;
            }
            // Remember the new times even if the reload fails, so a broken file is
            // reported once, not every interval; the fix will change the times again.
            seen = now;
            let this = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || this.reload()).await {
                Ok(Ok(true)) => tracing::info!("TLS certificates reloaded"),
                Ok(Ok(false)) => tracing::debug!("TLS certificate files touched but unchanged"),
                Ok(Err(error)) => {
                    tracing::error!(%error, "TLS certificate reload failed; keeping the previous certificates")
                }
                Err(error) => tracing::error!(%error, "TLS certificate reload task failed"),
            }
        }
    }

    fn modification_times(&self) -> Vec<Option<SystemTime>> {
        self.certificates
            .iter()
            .flat_map(|c| [&c.cert, &c.key])
            .map(|path| fs::metadata(path).and_then(|m| m.modified()).ok())
            .collect()
    }
}

fn protocol_versions(
    min_version: &str,
) -> Result<&'static [&'static SupportedProtocolVersion], TlsError> {
    static TLS12_AND_13: [&SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min_version.trim() {
        "1.2" => Ok(&TLS12_AND_13),
        "1.3" => Ok(&TLS13_ONLY),
        other => Err(TlsError::MinVersion(other.to_string())),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The parsed contents of every configured certificate/key pair.
struct LoadedMaterial {
    keys: Vec<NamedKey>,
    digest: Vec<u8>,
}

impl LoadedMaterial {
    fn read(certificates: &[CertificateConfig]) -> Result<Self, TlsError> {
        let provider = provider();
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut keys = Vec::with_capacity(certificates.len());
        for pair in certificates {
            let cert_pem = read_file(&pair.cert)?;
            let key_pem = read_file(&pair.key)?;
            for part in [&cert_pem, &key_pem] {
                digest.update(&(part.len() as u64).to_be_bytes());
                digest.update(part);
            }
            keys.push(certified_key(pair, &cert_pem, &key_pem, &provider)?);
        }
        Ok(Self {
            keys,
            digest: digest.finish().as_ref().to_vec(),
        })
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn parse_private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        other => TlsError::Pem {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    })
}

fn certified_key(
    pair: &CertificateConfig,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<NamedKey, TlsError> {
    let chain = parse_certificates(&pair.cert, cert_pem)?;
    let dns_names = dns_names(&pair.cert, &chain[0])?;
    let key_der = parse_private_key(&pair.key, key_pem)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|source| TlsError::PrivateKey {
            path: pair.key.clone(),
            source,
        })?;
    let key = CertifiedKey::new(chain, signing_key);
    match key.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(source) => {
            return Err(TlsError::KeyMismatch {
                cert: pair.cert.clone(),
                key: pair.key.clone(),
                source,
            })
        }
    }
    Ok(NamedKey {
        dns_names,
        key: Arc::new(key),
    })
}

/// The DNS names of a certificate's subjectAltName extension, lower-cased.
fn dns_names(path: &Path, leaf: &CertificateDer<'_>) -> Result<Vec<String>, TlsError> {
    use x509_parser::extensions::GeneralName;
    let invalid = |message: String| TlsError::Certificate {
        path: path.to_path_buf(),
        message,
    };
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| invalid(e.to_string()))?;
    let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| invalid(e.to_string()))?
    else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        })
        .collect())
}

fn build_server_config(
    material: &LoadedMaterial,
    versions: &'static [&'static SupportedProtocolVersion],
) -> Result<ServerConfig, TlsError> {
    let resolver = SniResolver {
        keys: material.keys.clone(),
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = SERVER_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

#[derive(Debug, Clone)]
struct NamedKey {
    dns_names: Vec<String>,
    key: Arc<CertifiedKey>,
}

/// Picks the certificate whose DNS SANs match the client's SNI (exactly, or by one
/// leading `*.` label); the first certificate otherwise.
#[derive(Debug)]
struct SniResolver {
    /// Never empty: `TlsTerminator::new` refuses an empty list.
    keys: Vec<NamedKey>,
}

impl SniResolver {
    fn find(&self, server_name: &str) -> Option<&NamedKey> {
        let wanted = server_name.trim_end_matches('.').to_ascii_lowercase();
        let exact = self.keys.iter().find(|k| k.dns_names.contains(&wanted));
        exact.or_else(|| {
            self.keys
                .iter()
                .find(|k| k.dns_names.iter().any(|n| wildcard_matches(n, &wanted)))
        })
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = client_hello
            .server_name()
            .and_then(|name| self.find(name))
            .or_else(|| self.keys.first());
        chosen.map(|k| Arc::clone(&k.key))
    }
}

/// `*.example.org` matches `a.example.org` but neither `example.org` nor `a.b.example.org`.
fn wildcard_matches(pattern: &str, name: &str) -> bool {
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    match name.split_once('.') {
        Some((first_label, rest)) => !first_label.is_empty() && rest == suffix,
        None => false,
    }
}

/// Returns the development certificate in `data_dir/tls/`, generating it on first use:
/// a "govgate demo CA" (`dev-ca.pem`, its key is not kept) and a leaf for `localhost`,
/// `127.0.0.1`, `::1` and `*.localhost` (`dev-cert.pem` chain, `dev-key.pem` mode 0600).
pub fn ensure_dev_certificate(data_dir: &Path) -> Result<CertificateConfig, TlsError> {
    let dir = data_dir.join("tls");
    let config = CertificateConfig {
        cert: dir.join("dev-cert.pem"),
        key: dir.join("dev-key.pem"),
    };
    let ca_path = dir.join("dev-ca.pem");
    if config.cert.is_file() && config.key.is_file() && ca_path.is_file() {
        return Ok(config);
    }
    fs::create_dir_all(&dir).map_err(|source| TlsError::Write {
        path: dir.clone(),
        source,
    })?;
    let generated = generate_dev_certificate()?;
    // The certificate is written last: its presence marks a complete set.
    write_atomically(&ca_path, generated.ca_pem.as_bytes(), 0o644)?;
    write_atomically(&config.key, generated.key_pem.as_bytes(), 0o600)?;
    write_atomically(&config.cert, generated.chain_pem.as_bytes(), 0o644)?;
    Ok(config)
}

struct DevCertificate {
    ca_pem: String,
    chain_pem: String,
    key_pem: String,
}

fn generate_dev_certificate() -> Result<DevCertificate, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let this_year = current_year();

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "govgate demo CA");
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "govgate");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = rcgen::date_time_ymd(this_year - 1, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(this_year + 10, 1, 1);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let names = ["localhost", "127.0.0.1", "::1", "*.localhost"]
        .map(String::from)
        .to_vec();
    let mut leaf_params = CertificateParams::new(names)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.not_before = rcgen::date_time_ymd(this_year - 1, 1, 1);
    leaf_params.not_after = rcgen::date_time_ymd(this_year + 2, 1, 1);
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;

    Ok(DevCertificate {
        ca_pem: ca.pem(),
        chain_pem: format!("{}{}", leaf.pem(), ca.pem()),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// The current calendar year (UTC), close enough for certificate validity bounds.
fn current_year() -> i32 {
    const SECONDS_PER_YEAR: u64 = 31_556_952; // mean Gregorian year
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    1970 + i32::try_from(since_epoch.as_secs() / SECONDS_PER_YEAR).unwrap_or(0)
}

/// Writes `contents` to a temporary sibling and renames it into place, so a reader never
/// sees a half-written file; `mode` applies from creation (keys are never world-readable).
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let _ = fs::remove_file(&temporary);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(error)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(error)?;
    fs::rename(&temporary, path).map_err(error)
}

/// A rustls client configuration for HTTPS upstreams: trusts the PEM bundle `ca_file`
/// (or the public web roots when absent), optionally presents a client certificate chain
/// and key (mTLS), and speaks HTTP/1.1.
pub fn upstream_client_config(
    ca_file: Option<&Path>,
    client_cert: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match ca_file {
        Some(path) => roots_from_file(path)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots);
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert_path, key_path)) => {
            let chain = parse_certificates(cert_path, &read_file(cert_path)?)?;
            let key = parse_private_key(key_path, &read_file(key_path)?)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsError::KeyMismatch {
                    cert: cert_path.to_path_buf(),
                    key: key_path.to_path_buf(),
                    source,
                })?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let certificates = parse_certificates(path, &read_file(path)?)?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(TlsError::CaFile {
            path: path.to_path_buf(),
            message: format!("{ignored} certificate(s) unusable"),
        });
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::wildcard_matches;

    #[test]
    fn wildcard_covers_exactly_one_label() {
        assert!(wildcard_matches(
            "*.namdinh.gov.vn",
            "motcua.namdinh.gov.vn"
        ));
        assert!(!wildcard_matches("*.namdinh.gov.vn", "namdinh.gov.vn"));
        assert!(!wildcard_matches(
            "*.namdinh.gov.vn",
            "a.motcua.namdinh.gov.vn"
        ));
        assert!(!wildcard_matches("*.namdinh.gov.vn", ".namdinh.gov.vn"));
        assert!(!wildcard_matches(
            "motcua.namdinh.gov.vn",
            "motcua.namdinh.gov.vn"
        ));
    }
}
