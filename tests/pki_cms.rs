//! CMS / PKCS#7 SignedData verification against signatures made by `openssl cms -sign`
//! (and `openssl ts` for timestamps) with the development PKI; every verdict of the
//! tamper matrix is compared with `openssl cms -verify`'s. Where govgate is deliberately
//! stricter than openssl, the case says why.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use govgate::pki::cms::{verify_cms, verify_signer_infos, verify_timestamp_token};
use govgate::pki::{
    CryptoPolicy, DocumentReport, Indication, SignatureReport, SubIndication, VerifyContext,
};
use support::cms::{add_timestamp_attribute, path, CmsFixture, Der};

const DAY: Duration = Duration::from_secs(24 * 3600);
/// The CAfile for `openssl cms -verify`: both roots and both intermediates.
const FULL_BUNDLE: &[&str] = &[
    "trust/public/vnrca-test.pem",
    "trust/government/rootca-cp-test.pem",
    "intermediates/vnpt-ca-test.pem",
    "intermediates/cpca-test.pem",
];
const ROOTS_ONLY: &[&str] = &[
    "trust/public/vnrca-test.pem",
    "trust/government/rootca-cp-test.pem",
];

struct Signed {
    fixture: CmsFixture,
    content: PathBuf,
}

fn fixture_with_content() -> Signed {
    let fixture = CmsFixture::new();
    let content = fixture.path("quyet-dinh.txt");
    std::fs::write(
        &content,
        "Quyết định số 123/QĐ-UBND ngày 02/12/2026\n".repeat(20),
    )
    .unwrap();
    Signed { fixture, content }
}

impl Signed {
    /// Signs the content as `signer` (a stem), embedding the VNPT-CA intermediate.
    fn sign(&self, out: &str, signer: &Path, extra: &[&str]) -> PathBuf {
        let certfile = self.fixture.path("intermediates/vnpt-ca-test.pem");
        let mut args = vec!["-certfile", certfile.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.fixture.sign(out, &self.content, signer, &args)
    }

    fn ctx(&self) -> VerifyContext {
        self.fixture.context(CryptoPolicy::STRICT, self.fixture.now)
    }

    fn content_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.content).unwrap()
    }

    /// govgate on a detached signature over `content`.
    fn verify_detached(
        &self,
        ctx: &VerifyContext,
        signature: &[u8],
        content: &[u8],
    ) -> DocumentReport {
        let mut content = content;
        verify_cms(ctx, signature, Some(&mut content), "test.p7s")
    }
}

fn only_signature(report: &DocumentReport) -> &SignatureReport {
    assert_eq!(report.signatures.len(), 1, "{report:#?}");
    &report.signatures[0]
}

fn assert_passed(report: &DocumentReport) {
    assert!(report.passed(), "{report:#?}");
}

fn assert_sub(report: &DocumentReport, expected: SubIndication) {
    assert_eq!(report.sub_indication, Some(expected), "{report:#?}");
}

fn flip(bytes: &mut [u8], index: usize) {
    bytes[index] ^= 0x01;
}

fn position_of(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("needle present")
}

#[test]
fn attached_and_detached_signatures_pass_and_report_what_they_cover() {
    let signed = fixture_with_content();
    let an = signed.fixture.signer("an");
    let detached = signed.sign("detached.p7s", &an, &[]);
    let attached = signed.sign("attached.p7s", &an, &["-nodetach"]);
    let fixture = &signed.fixture;
    assert!(fixture.openssl_verify(
        &detached,
        Some(&signed.content),
        FULL_BUNDLE,
        fixture.now,
        &[]
    ));
    assert!(fixture.openssl_verify(&attached, None, FULL_BUNDLE, fixture.now, &[]));

    let ctx = signed.ctx();
    let content = signed.content_bytes();
    let report = signed.verify_detached(&ctx, &std::fs::read(&detached).unwrap(), &content);
    assert_passed(&report);
    let signature = only_signature(&report);
    assert_eq!(signature.covers, vec!["the detached content".to_string()]);
    assert_eq!(signature.digest_algorithm.as_deref(), Some("sha-256"));
    assert_eq!(
        signature.signature_algorithm.as_deref(),
        Some("rsa-pkcs1-sha256")
    );
    let signer = signature.signer.as_ref().unwrap();
    assert_eq!(signer.common_name.as_deref(), Some("Nguyễn Văn An"));
    assert_eq!(signer.identifiers, vec!["CCCD:027090001234".to_string()]);
    assert_eq!(signature.chain.len(), 3);
    assert_eq!(signature.trust_list.as_deref(), Some("public"));
    assert!(signature.claimed_signing_time.is_some());
    assert_eq!(signature.validation_time, fixture.now);

    let report = verify_cms(
        &ctx,
        &std::fs::read(&attached).unwrap(),
        None,
        "attached.p7s",
    );
    assert_passed(&report);
    assert_eq!(
        only_signature(&report).covers,
        vec![format!("the attached content, {} bytes", content.len())]
    );
}

#[test]
fn pem_input_is_read_and_a_missing_or_surplus_content_is_a_format_failure() {
    let signed = fixture_with_content();
    let an = signed.fixture.signer("an");
    let pem = signed
        .fixture
        .sign("detached.pem", &signed.content, &an, &["-outform", "PEM"]);
    let pem = std::fs::read(pem).unwrap();
    assert!(pem.starts_with(b"-----BEGIN"), "openssl wrote PEM");
    let ctx = signed.ctx();
    let content = signed.content_bytes();
    // No intermediate embedded here: the store's intermediates complete the chain.
    assert_passed(&signed.verify_detached(&ctx, &pem, &content));

    let report = verify_cms(&ctx, &pem, None, "detached.pem");
    assert_sub(&report, SubIndication::FormatFailure);
    assert!(
        report.errors[0].contains("needs its content"),
        "{report:#?}"
    );

    let attached = std::fs::read(signed.sign("attached.p7s", &an, &["-nodetach"])).unwrap();
    let report = signed.verify_detached(&ctx, &attached, &content);
    assert_sub(&report, SubIndication::FormatFailure);
    assert!(report.errors[0].contains("attached"), "{report:#?}");
    // The PDF entry point refuses an attached SignedData the same way.
    let mut bytes = content.as_slice();
    assert!(verify_signer_infos(&ctx, &attached, &mut bytes).is_err());
}

/// One row of the tamper matrix.
struct Case {
    name: &'static str,
    signature: Vec<u8>,
    /// Detached content (None: attached).
    content: Option<Vec<u8>>,
    ctx: VerifyContext,
    expected: Option<SubIndication>,
    /// `openssl cms -verify`'s verdict and the CAfile it is given.
    openssl_passes: bool,
    ca_files: &'static [&'static str],
    /// Why govgate's verdict differs from openssl's, when it does.
    stricter_because: Option<&'static str>,
}

fn run_matrix(signed: &Signed, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let report = match &case.content {
            Some(content) => signed.verify_detached(&case.ctx, &case.signature, content),
            None => verify_cms(&case.ctx, &case.signature, None, case.name),
        };
        if report.sub_indication != case.expected || report.passed() != case.expected.is_none() {
            failures.push(format!(
                "{}: govgate said {:?}: {:#?}",
                case.name, report.sub_indication, report
            ));
        }
        let signature_file = signed.fixture.path("case.p7s");
        std::fs::write(&signature_file, &case.signature).unwrap();
        let content_file = signed.fixture.path("case.content");
        if let Some(content) = &case.content {
            std::fs::write(&content_file, content).unwrap();
        }
        let at = case.ctx.at.unwrap();
        let openssl = signed.fixture.openssl_verify(
            &signature_file,
            case.content.as_ref().map(|_| content_file.as_path()),
            case.ca_files,
            at,
            &[],
        );
        if openssl != case.openssl_passes {
            failures.push(format!("{}: openssl cms -verify said {openssl}", case.name));
        }
        let agree = openssl == report.passed();
        if !agree && case.stricter_because.is_none() {
            failures.push(format!(
                "{}: govgate and openssl disagree without a reason",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn tamper_matrix_agrees_with_openssl() {
    let signed = fixture_with_content();
    let fixture = &signed.fixture;
    let content = signed.content_bytes();
    let strict = signed.ctx();
    let legacy = fixture.context(CryptoPolicy::LEGACY, fixture.now);
    let read = |path: PathBuf| std::fs::read(path).unwrap();
    let an = fixture.signer("an");
    let detached = read(signed.sign("an.p7s", &an, &[]));
    let attached = read(signed.sign("an-attached.p7s", &an, &["-nodetach"]));

    let case =
        |name, signature: Vec<u8>, content: Option<Vec<u8>>, expected, openssl_passes| Case {
            name,
            signature,
            content,
            ctx: strict.clone(),
            expected,
            openssl_passes,
            ca_files: FULL_BUNDLE,
            stricter_because: None,
        };
    let mut cases = vec![
        case(
            "intact detached",
            detached.clone(),
            Some(content.clone()),
            None,
            true,
        ),
        case("intact attached", attached.clone(), None, None, true),
    ];

    let mut changed = content.clone();
    flip(&mut changed, 10);
    cases.push(case(
        "flipped content byte (detached)",
        detached.clone(),
        Some(changed),
        Some(SubIndication::HashFailure),
        false,
    ));

    let mut tampered = attached.clone();
    let at = position_of(&tampered, &content[..32]) + 5;
    flip(&mut tampered, at);
    cases.push(case(
        "flipped content byte (attached)",
        tampered,
        None,
        Some(SubIndication::HashFailure),
        false,
    ));

    let mut tree = Der::parse(&detached);
    let signature_index = tree.first_signer_info().child_with_tag(0x04).unwrap();
    flip(
        &mut tree.first_signer_info().children[signature_index].value,
        40,
    );
    cases.push(case(
        "flipped signature byte",
        tree.encode(),
        Some(content.clone()),
        Some(SubIndication::SigCryptoFailure),
        false,
    ));

    // Patching the messageDigest attribute (without re-signing) breaks the signature
    // over the attributes too: both are reported, the hash failure first.
    let mut patched = detached.clone();
    let digest = govgate::pki::DigestAlgorithm::Sha256.digest(&content);
    let at = position_of(&patched, &digest);
    flip(&mut patched, at);
    let report = signed.verify_detached(&strict, &patched, &content);
    let errors = &only_signature(&report).errors;
    assert!(
        errors.iter().any(|e| e.contains("messageDigest")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("signature value does not verify")),
        "{errors:?}"
    );
    cases.push(case(
        "wrong messageDigest",
        patched,
        Some(content.clone()),
        Some(SubIndication::HashFailure),
        false,
    ));

    // Another signer's certificate in place of the signer's: the SignerInfo's
    // issuerAndSerialNumber names no embedded certificate.
    let mut tree = Der::parse(&detached);
    let certificates = tree.at(&path::CERTIFICATES);
    let signer_index = certificates
        .children
        .iter()
        .position(|cert| cert.encode() == fixture.pki.der("an"))
        .unwrap();
    certificates.children[signer_index] = Der::parse(&fixture.pki.der("ecdsa"));
    cases.push(case(
        "swapped certificate",
        tree.encode(),
        Some(content.clone()),
        Some(SubIndication::NoSigningCertificateFound),
        false,
    ));

    // Only the signer's certificate embedded, and a store without intermediates.
    let lone = read(fixture.sign("lone.p7s", &signed.content, &an, &[]));
    cases.push(Case {
        ctx: fixture.roots_only_context(),
        ca_files: ROOTS_ONLY,
        ..case(
            "missing intermediate",
            lone,
            Some(content.clone()),
            Some(SubIndication::NoCertificateChainFound),
            false,
        )
    });

    for (name, signer, expected) in [
        ("expired signer", "expired", SubIndication::Expired),
        (
            "not-yet-valid signer",
            "not-yet-valid",
            SubIndication::NotYetValid,
        ),
        (
            "wrong key usage",
            "wrong-ku",
            SubIndication::ChainConstraintsFailure,
        ),
    ] {
        let signature = read(signed.sign(&format!("{signer}.p7s"), &fixture.signer(signer), &[]));
        cases.push(case(
            name,
            signature,
            Some(content.clone()),
            Some(expected),
            false,
        ));
    }

    let sha1 = read(signed.sign("sha1.p7s", &an, &["-md", "sha1"]));
    cases.push(Case {
        stricter_because: Some(
            "Circular 15/2025 requires SHA-2; SHA-1 only under the legacy switch",
        ),
        ..case(
            "SHA-1 (strict)",
            sha1.clone(),
            Some(content.clone()),
            Some(SubIndication::CryptoConstraintsFailure),
            true,
        )
    });
    cases.push(Case {
        ctx: legacy.clone(),
        ..case("SHA-1 (legacy)", sha1, Some(content.clone()), None, true)
    });

    let rsa1024 = fixture.issue("rsa1024", "vnpt-ca-test", "rsa:1024", 30, "sha256");
    let rsa1024 = read(signed.sign("rsa1024.p7s", &rsa1024, &[]));
    cases.push(Case {
        stricter_because: Some(
            "Circular 15/2025 requires RSA ≥ 2048 bits; RSA-1024 only under the legacy switch",
        ),
        ..case(
            "RSA-1024 (strict)",
            rsa1024.clone(),
            Some(content.clone()),
            Some(SubIndication::CryptoConstraintsFailure),
            true,
        )
    });
    cases.push(Case {
        ctx: legacy,
        ..case(
            "RSA-1024 (legacy)",
            rsa1024,
            Some(content.clone()),
            None,
            true,
        )
    });

    let pss = read(signed.sign("pss.p7s", &an, &["-keyopt", "rsa_padding_mode:pss"]));
    cases.push(case(
        "RSA-PSS",
        pss.clone(),
        Some(content.clone()),
        None,
        true,
    ));
    let report = signed.verify_detached(&strict, &pss, &content);
    assert_eq!(
        only_signature(&report).signature_algorithm.as_deref(),
        Some("rsa-pss-sha256")
    );

    let ecdsa = read(signed.sign("ecdsa.p7s", &fixture.signer("ecdsa"), &[]));
    cases.push(case(
        "ECDSA P-256",
        ecdsa.clone(),
        Some(content.clone()),
        None,
        true,
    ));
    let report = signed.verify_detached(&strict, &ecdsa, &content);
    assert_eq!(
        only_signature(&report).signature_algorithm.as_deref(),
        Some("ecdsa-p256-sha256")
    );

    let noattr = read(signed.sign("noattr.p7s", &an, &["-noattr"]));
    cases.push(case(
        "no signed attributes",
        noattr.clone(),
        Some(content.clone()),
        None,
        true,
    ));
    let report = signed.verify_detached(&strict, &noattr, &content);
    assert!(only_signature(&report).claimed_signing_time.is_none());
    assert!(!only_signature(&report).warnings.is_empty());
    let mut changed = content.clone();
    flip(&mut changed, 0);
    cases.push(case(
        "no signed attributes, flipped content",
        noattr,
        Some(changed),
        Some(SubIndication::SigCryptoFailure),
        false,
    ));

    run_matrix(&signed, cases);
}

/// ESS signing-certificate-v2 (`-cades`) binds the certificate: the same key certified
/// again under another name must not pass as the signer.
#[test]
fn ess_signing_certificate_catches_a_substituted_certificate() {
    let signed = fixture_with_content();
    let fixture = &signed.fixture;
    let content = signed.content_bytes();
    let ctx = signed.ctx();
    let original = fixture.issue("twin-a", "vnpt-ca-test", "rsa:2048", 30, "sha256");
    let signature = std::fs::read(signed.sign("cades.p7s", &original, &["-cades"])).unwrap();
    assert_passed(&signed.verify_detached(&ctx, &signature, &content));

    // A second certificate for the same key (same CSR), with another serial.
    std::fs::copy(fixture.path("twin-a.csr"), fixture.path("twin-b.csr")).unwrap();
    fixture.issue_for_csr("twin-b", "vnpt-ca-test", 30, "sha256", "digitalSignature");
    let twin_b = pem::parse(std::fs::read(fixture.path("twin-b.pem")).unwrap())
        .unwrap()
        .into_contents();
    let twin_a = pem::parse(std::fs::read(fixture.path("twin-a.pem")).unwrap())
        .unwrap()
        .into_contents();
    assert_ne!(twin_a, twin_b);

    // Put twin-b in and make the SignerInfo point at it: the signature still verifies
    // (same key), only the ESS attribute tells the certificates apart.
    let mut tree = Der::parse(&signature);
    let certificates = tree.at(&path::CERTIFICATES);
    let index = certificates
        .children
        .iter()
        .position(|c| c.encode() == twin_a)
        .unwrap();
    certificates.children[index] = Der::parse(&twin_b);
    let twin_b_tree = Der::parse(&twin_b);
    let tbs = &twin_b_tree.children[0];
    let serial = tbs.children[1].clone();
    let issuer = tbs.children[3].clone();
    let signer_info = tree.first_signer_info();
    signer_info.children[1] = Der::constructed(0x30, vec![issuer, serial]);
    let substituted = tree.encode();

    let report = signed.verify_detached(&ctx, &substituted, &content);
    assert_sub(&report, SubIndication::NoSigningCertificateFound);
    let errors = only_signature(&report).errors.join(" ");
    assert!(errors.contains("certificate substitution"), "{report:#?}");
    // openssl checks the ESS attribute too when asked to (-cades).
    let file = fixture.path("substituted.p7s");
    std::fs::write(&file, &substituted).unwrap();
    assert!(!fixture.openssl_verify(
        &file,
        Some(&signed.content),
        FULL_BUNDLE,
        fixture.now,
        &["-cades"]
    ));
}

/// A signer whose certificate expired after an RFC 3161 timestamp proved the signature
/// existed: valid at the proven time. openssl cms -verify ignores timestamps, so it (and
/// govgate without the timestamp) fail the same signature.
#[test]
fn a_timestamp_proves_the_signing_time_for_an_expired_signer() {
    let signed = fixture_with_content();
    let fixture = &signed.fixture;
    let content = signed.content_bytes();
    let short_lived = fixture.issue("short-lived", "vnpt-ca-test", "rsa:2048", 1, "sha256");
    let signature = std::fs::read(signed.sign("short.p7s", &short_lived, &[])).unwrap();

    let mut tree = Der::parse(&signature);
    let signer_info = tree.first_signer_info();
    let value_index = signer_info.child_with_tag(0x04).unwrap();
    let signature_value = signer_info.children[value_index].value.clone();
    let token = fixture.timestamp_token(&signature_value);
    add_timestamp_attribute(signer_info, &token);
    let timestamped = tree.encode();

    let later = fixture.now + 3 * DAY;
    let ctx = fixture.context(CryptoPolicy::STRICT, later);
    let report = signed.verify_detached(&ctx, &timestamped, &content);
    assert_passed(&report);
    let signature_report = only_signature(&report);
    let timestamp = signature_report.timestamp.as_ref().unwrap();
    assert_eq!(
        timestamp.indication,
        Indication::TotalPassed,
        "{timestamp:#?}"
    );
    assert_eq!(signature_report.validation_time, timestamp.time);
    let age = SystemTime::now()
        .duration_since(timestamp.time)
        .unwrap_or_default();
    assert!(age < Duration::from_secs(600), "genTime is about now");
    assert_eq!(
        timestamp.authority.as_ref().unwrap().common_name.as_deref(),
        Some("VNPT-CA TSA (thử nghiệm)")
    );

    let without = signed.verify_detached(&ctx, &signature, &content);
    assert_sub(&without, SubIndication::Expired);
    let file = fixture.path("timestamped.p7s");
    std::fs::write(&file, &timestamped).unwrap();
    assert!(!fixture.openssl_verify(&file, Some(&signed.content), FULL_BUNDLE, later, &[]));
    assert!(fixture.openssl_verify(&file, Some(&signed.content), FULL_BUNDLE, fixture.now, &[]));

    // A token over something else proves nothing: the signature is judged at `later`.
    let other_token = fixture.timestamp_token(b"another signature value");
    let mut tree = Der::parse(&signature);
    add_timestamp_attribute(tree.first_signer_info(), &other_token);
    let report = signed.verify_detached(&ctx, &tree.encode(), &content);
    assert_sub(&report, SubIndication::Expired);
    let signature_report = only_signature(&report);
    assert_eq!(
        signature_report.timestamp.as_ref().unwrap().sub_indication,
        Some(SubIndication::HashFailure)
    );
    assert!(!signature_report.warnings.is_empty());

    // The document-timestamp entry point on its own.
    let mut imprint = signature_value.as_slice();
    let report = verify_timestamp_token(&ctx, &token, &mut imprint);
    assert_eq!(report.indication, Indication::TotalPassed, "{report:#?}");
    let mut wrong = &b"not it"[..];
    let report = verify_timestamp_token(&ctx, &token, &mut wrong);
    assert_eq!(report.sub_indication, Some(SubIndication::HashFailure));
    // A truncated token is unreadable.
    let mut imprint = signature_value.as_slice();
    let report = verify_timestamp_token(&ctx, &token[..token.len() / 2], &mut imprint);
    assert_eq!(report.sub_indication, Some(SubIndication::FormatFailure));
}

#[test]
fn malformed_der_is_a_format_failure_without_panicking() {
    let signed = fixture_with_content();
    let ctx = signed.ctx();
    let content = signed.content_bytes();
    let an = signed.fixture.signer("an");
    let signature = std::fs::read(signed.sign("an.p7s", &an, &[])).unwrap();
    for length in (0..signature.len()).step_by(7) {
        let report = signed.verify_detached(&ctx, &signature[..length], &content);
        assert_sub(&report, SubIndication::FormatFailure);
    }
    for garbage in [
        &b""[..],
        b"hello",
        b"\x30\x80\x00\x00",
        b"\x30\x84\xff\xff\xff\xff",
        b"-----BEGIN PKCS7-----\n!!!\n-----END PKCS7-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let report = signed.verify_detached(&ctx, garbage, &content);
        assert_sub(&report, SubIndication::FormatFailure);
    }
    let mut trailing = signature.clone();
    trailing.push(0x01);
    assert_sub(
        &signed.verify_detached(&ctx, &trailing, &content),
        SubIndication::FormatFailure,
    );
    // Zero padding (as in a PDF /Contents string) is not an error.
    let mut padded = signature.clone();
    padded.extend([0u8; 64]);
    assert_passed(&signed.verify_detached(&ctx, &padded, &content));
    // Every single-bit flip gives a verdict and never a panic; inside the signed
    // attributes or the signature value it never passes. (Elsewhere a flip may be
    // harmless: the SignedData version, the unsigned digestAlgorithms list, or the
    // embedded intermediate, which the store's own copy replaces.)
    let mut tree = Der::parse(&signature);
    let signer_info = tree.first_signer_info();
    let covered: Vec<Vec<u8>> = [0xa0u8, 0x04]
        .iter()
        .map(|&tag| signer_info.children[signer_info.child_with_tag(tag).unwrap()].encode())
        .collect();
    let ranges: Vec<std::ops::Range<usize>> = covered
        .iter()
        .map(|part| {
            let start = position_of(&signature, part);
            start..start + part.len()
        })
        .collect();
    for index in 0..signature.len() {
        let mut flipped = signature.clone();
        flip(&mut flipped, index);
        let report = signed.verify_detached(&ctx, &flipped, &content);
        if ranges.iter().any(|range| range.contains(&index)) {
            assert!(!report.passed(), "a flip at {index} passed");
        }
    }
}
