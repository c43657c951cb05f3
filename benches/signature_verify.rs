//! CMS signature verification per second on one thread, next to `openssl speed rsa2048`'s
//! RSA-2048 verify rate in the same run (issue 6's goal: ≥ 0.5×).
//!
//! The case is the common one: a small detached CMS signature (`openssl cms -sign`, RSA-2048
//! signer, SHA-256, signed attributes) by a signer three levels down (root → VNPT-CA → signer)
//! of the development PKI, with revocation checked against the CA's CRL already in memory
//! (offline, CRLs loaded once: "CRL cached"). Each verification does the whole job a request
//! would: parse the CMS, hash the content, check messageDigest and the RSA signature over the
//! signed attributes, build and check the path (two more RSA verifications), consult the CRLs
//! and fill the report.
//!
//!   taskset -c 0 cargo bench --bench signature_verify -- --bench   # pinned, 3 paired rounds
//!   cargo test --bench signature_verify                            # smoke: a few operations
//!
//! Prints per-round rates, the paired medians and the ratio.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use govgate::pki::cms::verify_cms;
use govgate::pki::context::ContextOptions;
use govgate::pki::dev::DevPki;
use govgate::pki::{Indication, VerifyContext};

const ROUNDS: usize = 3;

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    govgate::install_crypto_provider();
    let temp = tempfile::tempdir().expect("temp dir");
    let pki = DevPki::generate(temp.path(), SystemTime::now()).expect("dev PKI");
    let content = temp.path().join("cong-van.txt");
    std::fs::write(
        &content,
        "Công văn số 123/UBND-VP về việc triển khai chữ ký số".as_bytes(),
    )
    .unwrap();
    let signature = sign_detached(&pki, &content);
    let content = std::fs::read(&content).unwrap();
    let signature = std::fs::read(signature).unwrap();
    let (ctx, _) = VerifyContext::build(&ContextOptions {
        trust_dir: Some(pki.dir.clone()),
        offline: true,
        ..ContextOptions::default()
    })
    .expect("context");
    let verify_once = || {
        let mut detached: &[u8] = &content;
        let report = verify_cms(&ctx, &signature, Some(&mut detached), "bench");
        assert_eq!(report.indication, Indication::TotalPassed, "{report:?}");
    };
    if !full {
        for _ in 0..5 {
            verify_once();
        }
        println!("signature_verify: smoke run passed (pass --bench for numbers)");
        return;
    }
    let seconds = 5;
    let mut govgate = Vec::new();
    let mut openssl = Vec::new();
    for round in 1..=ROUNDS {
        let ours = rate(Duration::from_secs(seconds), verify_once);
        let theirs = openssl_rsa2048_verify(seconds);
        println!("round {round}: govgate CMS verify {ours:.0}/s   openssl rsa2048 verify {theirs:.0}/s   ratio {:.3}", ours / theirs);
        govgate.push(ours);
        openssl.push(theirs);
    }
    let (ours, theirs) = (median(&mut govgate), median(&mut openssl));
    println!("median: govgate CMS verify {ours:.0}/s, openssl rsa2048 verify {theirs:.0}/s, ratio {:.3} (goal >= 0.5)", ours / theirs);
}

/// Operations per second of `operation` over about `budget`.
fn rate(budget: Duration, mut operation: impl FnMut()) -> f64 {
    for _ in 0..50 {
        operation();
    }
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < budget {
        for _ in 0..100 {
            operation();
        }
        done += 100;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// `openssl speed -seconds N rsa2048`: the verify/s column (one process, this core).
fn openssl_rsa2048_verify(seconds: u64) -> f64 {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "rsa2048"])
        .output()
        .expect("openssl is installed by scripts/test");
    let text = String::from_utf8_lossy(&output.stdout);
    // "rsa 2048 bits 0.000588s 0.000017s   1700.6  58823.5": sign/s, then verify/s.
    text.lines()
        .find(|line| {
            line.trim_start().starts_with("rsa 2048 bits")
                || line.trim_start().starts_with("rsa  2048 bits")
        })
        .and_then(|line| line.split_whitespace().last())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("openssl speed output not understood:\n{text}"))
}

fn sign_detached(pki: &DevPki, content: &Path) -> std::path::PathBuf {
    let signers = pki.dir.join("signers");
    let out = pki.dir.join("cong-van.p7s");
    let status = Command::new("openssl")
        .args([
            "cms", "-sign", "-binary", "-md", "sha256", "-outform", "DER",
        ])
        .arg("-in")
        .arg(content)
        .arg("-signer")
        .arg(signers.join("an.pem"))
        .arg("-inkey")
        .arg(signers.join("an.key.pem"))
        .arg("-out")
        .arg(&out)
        .status()
        .expect("openssl");
    assert!(status.success());
    out
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
