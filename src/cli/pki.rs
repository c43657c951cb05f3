//! `govgate pki …`: trust-store and development-PKI tools.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use clap::Subcommand;

use crate::pki::dev::DevPki;
use crate::pki::TrustStore;

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Make a test PKI shaped like the Vietnamese one (hạ tầng khóa công khai thử nghiệm).
    ///
    /// Writes into DIR, with rcgen: two roots — "Vietnam National Root CA (thử nghiệm)" in
    /// trust list `public` and "RootCA chuyên dùng Chính phủ (thử nghiệm)" in `government` —,
    /// the intermediates "VNPT-CA (thử nghiệm)" and "CA phục vụ các cơ quan Nhà nước
    /// (thử nghiệm)", signers with Vietnamese subject names and UID=MST:… / UID=CCCD:…
    /// (an, so-tnmt, ubnd, ecdsa), an expired, a not-yet-valid, a revoked and a
    /// wrong-key-usage signer, a TSA (tsa) and an OCSP responder (ocsp-vnpt), and CRLs.
    ///
    /// Layout: DIR/trust/<list>/*.pem, DIR/intermediates/*.pem, DIR/ca-keys/*.key.pem,
    /// DIR/signers/<name>.{pem,key.pem,chain.pem}, DIR/crl/<ca>.crl.pem. DIR can be used as
    /// a trust-store directory. The keys are unencrypted: for tests and demos only, never
    /// for production.
    DevInit {
        /// Output directory (created if missing; existing files are overwritten).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Load a trust-store directory and list its trust lists, anchors (with SHA-256
    /// fingerprints) and intermediates; every file that could not be used is named.
    Trust {
        /// Trust-store directory (with trust/<list>/ and intermediates/).
        #[arg(value_name = "DIR", default_value = "certs")]
        dir: PathBuf,
    },
}

pub fn run(command: &PkiCommand) -> anyhow::Result<()> {
    match command {
        PkiCommand::DevInit { dir } => dev_init(dir),
        PkiCommand::Trust { dir } => list_trust(dir),
    }
}

fn dev_init(dir: &Path) -> anyhow::Result<()> {
    let pki = DevPki::generate(dir, SystemTime::now())
        .with_context(|| format!("making the development PKI in {}", dir.display()))?;
    for (name, cert) in &pki.certs {
        println!("{name:<16} {}", cert.cert_path.display());
    }
    eprintln!(
        "Development PKI written to {}. Its keys are unencrypted: never use them in production.",
        dir.display()
    );
    Ok(())
}

fn list_trust(dir: &Path) -> anyhow::Result<()> {
    let (store, warnings) = TrustStore::load(dir)?;
    for anchor in store.anchors() {
        println!(
            "anchor [{}] {}\n    SHA-256 {}",
            anchor.list, anchor.info.subject, anchor.info.sha256_fingerprint
        );
    }
    println!("{} intermediate(s)", store.intermediates().count());
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
