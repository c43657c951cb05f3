//! Third phase of loading: files the configuration names. Relative paths are made
//! absolute against the configuration file's directory, then each file is opened and
//! its PEM content checked, so `check` catches what `serve` would trip over.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::locate::{KeyPath, Reporter};
use super::Config;

/// Rewrites every relative path in `config` to an absolute one under `base`.
pub(crate) fn resolve_paths(config: &mut Config, base: &Path) {
    let resolve = |path: &mut PathBuf| {
        if !path.as_os_str().is_empty() && path.is_relative() {
            *path = base.join(&*path);
        }
    };
    resolve(&mut config.data_dir);
    if let Some(tls) = &mut config.tls {
        for certificate in &mut tls.certificates {
            resolve(&mut certificate.cert);
            resolve(&mut certificate.key);
        }
    }
    if let Some(path) = &mut config.store.path {
        resolve(path);
    }
    if let Some(path) = &mut config.audit.path {
        resolve(path);
    }
    if let Some(path) = &mut config.admin.token_file {
        resolve(path);
    }
    if let Some(policy) = &mut config.policy {
        resolve(&mut policy.dir);
    }
    if let Some(signatures) = &mut config.signatures {
        resolve(&mut signatures.trust_dir);
        signatures.crls.iter_mut().for_each(resolve);
    }
    if let Some(oidc) = &mut config.oidc {
        for client in &mut oidc.clients {
            if let Some(file) = &mut client.jwks_file {
                resolve(file);
            }
        }
    }
    if let Some(password_file) = config
        .store
        .redis
        .as_mut()
        .and_then(|redis| redis.password_file.as_mut())
    {
        resolve(password_file);
    }
    if let Some(directory) = &mut config.directory {
        super::directory::resolve_paths(directory, &resolve);
    }
    for app in &mut config.apps {
        for path in [
            &mut app.upstream_ca_file,
            &mut app.upstream_client_cert,
            &mut app.upstream_client_key,
        ]
        .into_iter()
        .flatten()
        {
            resolve(path);
        }
    }
}

/// Checks every referenced file; a problem is reported at the key that named the file.
pub(crate) fn check_files(config: &Config, reporter: &mut Reporter<'_>) {
    if config.data_dir.is_file() {
        let message = format!("{} is a file, not a directory", config.data_dir.display());
        reporter.at(&KeyPath::of("data_dir"), message);
    }
    if let Some(tls) = &config.tls {
        let certificates = KeyPath::of("tls").key("certificates");
        for (index, pair) in tls.certificates.iter().enumerate() {
            let path = certificates.index(index);
            let cert = (path.key("cert"), pair.cert.as_path());
            check_pair(reporter, cert, (path.key("key"), pair.key.as_path()));
        }
    }
    if let Some(token_file) = &config.admin.token_file {
        let key = KeyPath::of("admin").key("token_file");
        match read(token_file) {
            Ok(bytes) if String::from_utf8_lossy(&bytes).trim().len() < 32 => {
                reporter.at(
                    &key,
                    format!(
                        "{} must hold a token of at least 32 characters",
                        token_file.display()
                    ),
                );
            }
            Ok(_) => {}
            Err(message) => reporter.at(&key, message),
        }
    }
    for (index, client) in config
        .oidc
        .iter()
        .flat_map(|o| o.clients.iter().enumerate())
    {
        if let Some(file) = &client.jwks_file {
            if !file.is_file() {
                let message = format!("{} is not a readable file", file.display());
                let path = KeyPath::of("oidc").key("clients").index(index);
                reporter.at(&path.key("jwks_file"), message);
            }
        }
    }
    if let Some(policy) = &config.policy {
        if !policy.dir.is_dir() {
            let message = format!("{} is not a directory of policies", policy.dir.display());
            reporter.at(&KeyPath::of("policy").key("dir"), message);
        }
    }
    if let Some(signatures) = &config.signatures {
        let path = KeyPath::of("signatures");
        if !signatures.trust_dir.is_dir() {
            let message = format!(
                "{} is not a trust-store directory",
                signatures.trust_dir.display()
            );
            reporter.at(&path.key("trust_dir"), message);
        }
        for (index, crl) in signatures.crls.iter().enumerate() {
            if let Err(message) = read(crl) {
                reporter.at(&path.key("crls").index(index), message);
            }
        }
    }
    let redis = config.store.redis.as_ref();
    if let Some(password_file) = redis.and_then(|redis| redis.password_file.as_ref()) {
        let key = KeyPath::of("store").key("redis").key("password_file");
        if let Err(message) = read(password_file) {
            reporter.at(&key, message);
        }
    }
    if let Some(directory) = &config.directory {
        let check_certificates = |file: &Path| certificates_in(file).map(drop);
        let path = KeyPath::of("directory");
        super::directory::check_files(directory, &path, reporter, &check_certificates);
    }
    for (index, app) in config.apps.iter().enumerate() {
        let path = KeyPath::of("apps").index(index);
        if let Some(ca_file) = &app.upstream_ca_file {
            if let Err(message) = certificates_in(ca_file) {
                reporter.at(&path.key("upstream_ca_file"), message);
            }
        }
        let (cert_path, key_path) = (
            path.key("upstream_client_cert"),
            path.key("upstream_client_key"),
        );
        let problem = match (&app.upstream_client_cert, &app.upstream_client_key) {
            (Some(cert), Some(key)) => {
                check_pair(reporter, (cert_path, cert), (key_path, key));
                None
            }
            // Only one of the two is a validation problem of its own; still check the file.
            (Some(cert), None) => certificates_in(cert)
                .err()
                .map(|message| (cert_path, message)),
            (None, Some(key)) => private_key_in(key).err().map(|message| (key_path, message)),
            (None, None) => None,
        };
        if let Some((key, message)) = problem {
            reporter.at(&key, message);
        }
    }
}

/// A certificate chain and its private key: each must parse, and the key must be the
/// one the leaf certificate was issued for (a common mix-up after a renewal).
fn check_pair(reporter: &mut Reporter<'_>, cert: (KeyPath, &Path), key: (KeyPath, &Path)) {
    let chain = certificates_in(cert.1).map_err(|message| reporter.at(&cert.0, message));
    let private_key = private_key_in(key.1).map_err(|message| reporter.at(&key.0, message));
    let (Ok(chain), Ok(private_key)) = (chain, private_key) else {
        return;
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Err(error) = rustls::sign::CertifiedKey::from_der(chain, private_key, &provider) {
        let (key_file, cert_file) = (key.1.display(), cert.1.display());
        let message = match error {
            rustls::Error::InconsistentKeys(_) => {
                format!("{key_file} is not the private key of the certificate in {cert_file}")
            }
            other => format!("{key_file} cannot be used with {cert_file}: {other}"),
        };
        reporter.at(&key.0, message);
    }
}

/// Reads the whole file, so unreadable files are found now rather than at startup.
fn read(file: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(file) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("file not found: {}", file.display()))
        }
        Err(e) => Err(format!("cannot read {}: {e}", file.display())),
    }
}

/// At least one PEM certificate and no malformed PEM section.
fn certificates_in(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(file)?;
    let mut chain = Vec::new();
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        chain.push(certificate.map_err(|e| format!("{}: invalid PEM: {e}", file.display()))?);
    }
    if chain.is_empty() {
        return Err(format!(
            "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
            file.display()
        ));
    }
    Ok(chain)
}

/// A PEM private key (PKCS#8, PKCS#1 or SEC1).
fn private_key_in(file: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(file)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(rustls_pki_types::pem::Error::NoItemsFound) => Err(format!(
            "{} contains no PEM private key (-----BEGIN PRIVATE KEY-----)",
            file.display()
        )),
        Err(e) => Err(format!("{}: invalid PEM private key: {e}", file.display())),
    }
}
