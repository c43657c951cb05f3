//! `[signatures]`: verifying signed documents (PDF, CMS/PKCS#7, XML / edXML) — the HTTP
//! API `POST /api/v1/signatures/verify` and the apps' signature guards
//! (`[apps.require_signature]`) both check against what is configured here.

use std::path::PathBuf;

use serde::Deserialize;

use super::locate::{KeyPath, Reporter};
use super::units::ByteSize;
use super::Config;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignaturesConfig {
    /// The trust-store directory: `trust/<list>/*.pem` anchors (`public`, `government`,
    /// ...), `intermediates/`. Relative to the configuration file.
    pub trust_dir: PathBuf,
    /// Local CRL files (PEM or DER), used before fetching distribution points.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// Use only local revocation data: fetch no CRL, ask no OCSP responder.
    #[serde(default)]
    pub offline: bool,
    /// Accept SHA-1 and RSA keys from 1024 bits (old documents). Off by default.
    #[serde(default)]
    pub legacy_crypto: bool,
    /// Largest document the API and the guards read.
    #[serde(default = "default_max_document")]
    pub max_document: ByteSize,
}

fn default_max_document() -> ByteSize {
    ByteSize(64 * 1024 * 1024)
}

/// An app's signature guard: matching requests are forwarded only when their body
/// carries a valid signature (from a signer the rule accepts); otherwise 422 with the
/// report. The verified signer is passed upstream as headers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureGuardConfig {
    /// Path prefixes (as the client sends them) the guard applies to; empty: every path
    /// of the app.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Methods the guard applies to.
    #[serde(default = "default_guarded_methods")]
    pub methods: Vec<String>,
    /// Accepted formats (`edxml`, `xml`, `cms`, `pdf`); empty: any.
    #[serde(default)]
    pub formats: Vec<String>,
    /// The signer's chain must end in one of these trust lists; empty: any.
    #[serde(default)]
    pub trust_lists: Vec<String>,
    /// The signer's organisation (O=) must be one of these; empty: any.
    #[serde(default)]
    pub organisations: Vec<String>,
    /// The signer must carry one of these identifiers (`MST:0100109106`,
    /// `CCCD:001099001234`); empty: any.
    #[serde(default)]
    pub identifiers: Vec<String>,
}

fn default_guarded_methods() -> Vec<String> {
    ["POST", "PUT", "PATCH"].map(String::from).to_vec()
}

const GUARD_FORMATS: [&str; 4] = ["edxml", "xml", "cms", "pdf"];

pub(crate) fn validate(config: &Config, reporter: &mut Reporter<'_>) {
    for (index, app) in config.apps.iter().enumerate() {
        let Some(guard) = &app.require_signature else {
            continue;
        };
        let path = KeyPath::of("apps").index(index).key("require_signature");
        if config.signatures.is_none() {
            reporter.at(
                &path,
                "a signature guard needs a [signatures] section (the trust store it checks against)",
            );
        }
        for (i, format) in guard.formats.iter().enumerate() {
            if !GUARD_FORMATS.contains(&format.as_str()) {
                let message = format!("unknown format {format:?}: use one of {GUARD_FORMATS:?}");
                reporter.at(&path.key("formats").index(i), message);
            }
        }
        for (i, method) in guard.methods.iter().enumerate() {
            if http::Method::from_bytes(method.as_bytes()).is_err() || method.is_empty() {
                reporter.at(
                    &path.key("methods").index(i),
                    format!("{method:?} is not an HTTP method"),
                );
            }
        }
        for (i, prefix) in guard.paths.iter().enumerate() {
            if !prefix.starts_with('/') {
                reporter.at(&path.key("paths").index(i), "a path prefix starts with /");
            }
        }
    }
}
