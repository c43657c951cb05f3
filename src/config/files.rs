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
    if let Some(password_file) = config
        .store
        .redis
        .as_mut()
        .and_then(|redis| redis.password_file.as_mut())
    {
        resolve(password_file);
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
        reporter.at(
            &KeyPath::of("data_dir"),
            format!("{} is a file, not a directory", config.data_dir.display()),
        );
    }
    if let Some(tls) = &config.tls {
        let certificates = KeyPath::of("tls").key("certificates");
        for (index, certificate) in tls.certificates.iter().enumerate() {
            let path = certificates.index(index);
            check(
                reporter,
                &path.key("cert"),
                &certificate.cert,
                certificates_in,
            );
            check(reporter, &path.key("key"), &certificate.key, private_key_in);
        }
    }
    if let Some(password_file) = config
        .store
        .redis
        .as_ref()
        .and_then(|redis| redis.password_file.as_ref())
    {
        check(
            reporter,
            &KeyPath::of("store").key("redis").key("password_file"),
            password_file,
            readable,
        );
    }
    for (index, app) in config.apps.iter().enumerate() {
        let path = KeyPath::of("apps").index(index);
        if let Some(ca_file) = &app.upstream_ca_file {
            check(
                reporter,
                &path.key("upstream_ca_file"),
                ca_file,
                certificates_in,
            );
        }
        if let Some(cert) = &app.upstream_client_cert {
            check(
                reporter,
                &path.key("upstream_client_cert"),
                cert,
                certificates_in,
            );
        }
        if let Some(key) = &app.upstream_client_key {
            check(
                reporter,
                &path.key("upstream_client_key"),
                key,
                private_key_in,
            );
        }
    }
}

fn check(
    reporter: &mut Reporter<'_>,
    key: &KeyPath,
    file: &Path,
    content_check: fn(&Path) -> Result<(), String>,
) {
    if let Err(message) = content_check(file) {
        reporter.at(key, message);
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

fn readable(file: &Path) -> Result<(), String> {
    read(file).map(|_| ())
}

/// At least one PEM certificate and no malformed PEM section.
fn certificates_in(file: &Path) -> Result<(), String> {
    let bytes = read(file)?;
    let mut count = 0;
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        certificate.map_err(|e| format!("{}: invalid PEM: {e}", file.display()))?;
        count += 1;
    }
    if count == 0 {
        return Err(format!(
            "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
            file.display()
        ));
    }
    Ok(())
}

/// A PEM private key (PKCS#8, PKCS#1 or SEC1).
fn private_key_in(file: &Path) -> Result<(), String> {
    let bytes = read(file)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(_) => Ok(()),
        Err(rustls_pki_types::pem::Error::NoItemsFound) => Err(format!(
            "{} contains no PEM private key (-----BEGIN PRIVATE KEY-----)",
            file.display()
        )),
        Err(e) => Err(format!("{}: invalid PEM private key: {e}", file.display())),
    }
}
