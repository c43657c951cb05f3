//! Signature verification on one thread, next to a peer in the same run:
//!
//! 1. CMS verifications per second vs `openssl speed rsa2048`'s RSA-2048 verify rate
//!    (issue 6's goal: ≥ 0.5×);
//! 2. a 20-page PDF signed twice by pyHanko (the person, then the organisation): whole-
//!    document verifications per second vs pyHanko validating the same bytes in one
//!    Python process (`validate_pdf_signature` for both signatures, no fetching).
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
//!   taskset -c 0 cargo bench --bench signature_verify -- --bench --pdf   # the PDF case
//!   cargo test --bench signature_verify                            # smoke: a few operations
//!
//! Prints per-round rates, the paired medians and the ratio.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

#[allow(dead_code)]
#[path = "../tests/support/pdf.rs"]
mod pdf;

use govgate::pki::cms::verify_cms;
use govgate::pki::context::ContextOptions;
use govgate::pki::dev::DevPki;
use govgate::pki::document::verify_document;
use govgate::pki::{Indication, VerifyContext};

const ROUNDS: usize = 3;

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    govgate::install_crypto_provider();
    let temp = tempfile::tempdir().expect("temp dir");
    let pki = DevPki::generate(temp.path(), SystemTime::now()).expect("dev PKI");
    let (ctx, _) = VerifyContext::build(&ContextOptions {
        trust_dir: Some(pki.dir.clone()),
        offline: true,
        ..ContextOptions::default()
    })
    .expect("context");
    if std::env::args().any(|arg| arg == "--pdf") {
        return pdf_case(&ctx, &pki, full);
    }
    let content = temp.path().join("cong-van.txt");
    std::fs::write(
        &content,
        "Công văn số 123/UBND-VP về việc triển khai chữ ký số".as_bytes(),
    )
    .unwrap();
    let signature = sign_detached(&pki, &content);
    let content = std::fs::read(&content).unwrap();
    let signature = std::fs::read(signature).unwrap();
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
    paired_rounds(
        "govgate CMS verify",
        "openssl rsa2048 verify",
        "goal >= 0.5",
        || rate(Duration::from_secs(seconds), verify_once),
        || openssl_rsa2048_verify(seconds),
    );
}

/// The two-signature 20-page decision: govgate vs pyHanko on the same bytes.
fn pdf_case(ctx: &VerifyContext, pki: &DevPki, full: bool) {
    let once = pdf::pyhanko_sign(&pki.dir, &pdf::minimal_pdf(20), "an", "NguoiKy", None);
    let signed = pdf::pyhanko_sign(&pki.dir, &once, "ubnd", "CoQuan", None);
    let file = pki.dir.join("qd-20-trang-2-chu-ky.pdf");
    std::fs::write(&file, &signed).unwrap();
    let verify_once = || {
        let report = verify_document(ctx, &signed, None, "bench.pdf");
        assert!(
            report.passed() && report.signatures.len() == 2,
            "{report:?}"
        );
    };
    let seconds = if full { 5 } else { 1 };
    if !full {
        verify_once();
        println!(
            "signature_verify --pdf: smoke run passed ({:.1}/s pyHanko)",
            pyhanko_rate(pki, &file, 1)
        );
        return;
    }
    println!("PDF: {} bytes, 20 pages, 2 signatures", signed.len());
    paired_rounds(
        "govgate PDF verify",
        "pyHanko validate",
        "ratio reported",
        || rate(Duration::from_secs(seconds), verify_once),
        || pyhanko_rate(pki, &file, seconds),
    );
}

/// Validations per second of both signatures of `file` by pyHanko in one Python
/// process (reading the bytes from memory, trust = the dev roots, no fetching).
fn pyhanko_rate(pki: &DevPki, file: &Path, seconds: u64) -> f64 {
    let python = pdf::pyhanko_bin().join("python");
    let output = Command::new(python)
        .arg("-c")
        .arg(PYHANKO_LOOP)
        .arg(file)
        .arg(&pki.dir)
        .arg(seconds.to_string())
        .output()
        .expect("python");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().unwrap_or_else(|_| {
        panic!(
            "pyHanko loop: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

const PYHANKO_LOOP: &str = r#"
import io, sys, time
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
path, pki, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
data = open(path, 'rb').read()
roots = [load_cert_from_pemder(pki + p) for p in ('/trust/public/vnrca-test.pem', '/trust/government/rootca-cp-test.pem')]
others = [load_cert_from_pemder(pki + p) for p in ('/intermediates/vnpt-ca-test.pem', '/intermediates/cpca-test.pem')]
def once():
    vc = ValidationContext(trust_roots=roots, other_certs=others, allow_fetching=False, revocation_mode='soft-fail')
    reader = PdfFileReader(io.BytesIO(data))
    for signature in reader.embedded_signatures:
        status = validate_pdf_signature(signature, vc)
        assert status.bottom_line, status.pretty_print_details()
once()
start = time.perf_counter(); n = 0
while time.perf_counter() - start < seconds:
    once(); n += 1
print(n / (time.perf_counter() - start))
"#;

/// Alternating rounds of `ours` and `theirs` (rates), then the paired medians.
fn paired_rounds(
    ours_name: &str,
    theirs_name: &str,
    goal: &str,
    mut ours: impl FnMut() -> f64,
    mut theirs: impl FnMut() -> f64,
) {
    let mut our_rates = Vec::new();
    let mut their_rates = Vec::new();
    for round in 1..=ROUNDS {
        let (a, b) = (ours(), theirs());
        println!(
            "round {round}: {ours_name} {a:.1}/s   {theirs_name} {b:.1}/s   ratio {:.3}",
            a / b
        );
        our_rates.push(a);
        their_rates.push(b);
    }
    let (a, b) = (median(&mut our_rates), median(&mut their_rates));
    println!(
        "median: {ours_name} {a:.1}/s, {theirs_name} {b:.1}/s, ratio {:.3} ({goal})",
        a / b
    );
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
