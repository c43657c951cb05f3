//! Whole documents through `govgate verify` with the real CMS verifier inside: a 20-page
//! decision signed by pyHanko twice (the person, then the organisation, as Decree
//! 30/2020 prescribes), the same PDF changed after signing, and an edXML message signed
//! by `xmlsec1` with a signed PDF attached. The format verifiers' own suites test the
//! details; this one proves the pieces are wired together as a user meets them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::cms::CmsFixture;
use support::pdf::{append_update, content_obj, minimal_pdf, pyhanko_sign, stream};
use support::xml::xmlsec_sign;

fn verify(pki: &Path, files: &[&Path]) -> (Option<i32>, Vec<serde_json::Value>) {
    let output = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(["verify", "--offline", "--json", "--trust-dir"])
        .arg(pki)
        .args(files)
        .output()
        .expect("run govgate");
    let reports = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "JSON reports: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), reports)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A 20-page decision signed by `an` and then by `ubnd`.
fn decision(fixture: &CmsFixture) -> Vec<u8> {
    let pki = &fixture.pki.dir;
    let once = pyhanko_sign(pki, &minimal_pdf(20), "an", "NguoiKy", None);
    pyhanko_sign(pki, &once, "ubnd", "CoQuan", None)
}

#[test]
fn a_decision_signed_by_the_person_then_the_organisation_passes_both_signatures() {
    govgate::install_crypto_provider();
    let fixture = CmsFixture::new();
    let pki = fixture.pki.dir.clone();
    let signed = write(&pki, "qd-20-trang.pdf", &decision(&fixture));
    let (code, reports) = verify(&pki, &[&signed]);
    let report = &reports[0];
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["format"], "pdf");
    let signatures = report["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2, "{report:#}");
    assert_eq!(signatures[0]["signer"]["common_name"], "Nguyễn Văn An");
    assert!(
        signatures[1]["signer"]["organisation"]
            .as_str()
            .unwrap()
            .contains("Ủy ban nhân dân"),
        "{report:#}"
    );
    for signature in signatures {
        assert_eq!(signature["indication"], "TOTAL_PASSED", "{signature:#}");
        assert_eq!(signature["revocation"]["status"], "GOOD", "{signature:#}");
    }
}

#[test]
fn a_page_changed_after_signing_fails_the_signatures_it_came_after() {
    govgate::install_crypto_provider();
    let fixture = CmsFixture::new();
    let pki = fixture.pki.dir.clone();
    let signed = decision(&fixture);
    let changed = append_update(
        &signed,
        &[(
            content_obj(3),
            stream("BT /F1 12 Tf 72 720 Td (Noi dung da sua) Tj ET"),
        )],
    );
    let changed = write(&pki, "qd-da-sua.pdf", &changed);
    let (code, reports) = verify(&pki, &[&changed]);
    assert_eq!(code, Some(1));
    let report = &reports[0];
    assert_ne!(report["indication"], "TOTAL_PASSED", "{report:#}");
    for signature in report["signatures"].as_array().unwrap() {
        assert_ne!(signature["indication"], "TOTAL_PASSED", "{signature:#}");
    }
}

#[test]
fn an_edxml_message_with_a_signed_pdf_attached_is_verified_with_its_attachment() {
    govgate::install_crypto_provider();
    let fixture = CmsFixture::new();
    let pki = fixture.pki.dir.clone();
    let decision = decision(&fixture);
    let signed = signed_edxml(&fixture, "edxml-ok", &decision);
    let (code, reports) = verify(&pki, &[&signed]);
    let report = &reports[0];
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["format"], "edxml");
    let covers = report["signatures"][0]["covers"].to_string();
    assert!(
        covers.contains("QD-123.pdf"),
        "the attachment is named in what the signature covers: {covers}"
    );

    // The envelope's own signature holds, but the PDF inside was altered before it was
    // wrapped: the message does not pass.
    let mut altered = decision.clone();
    let page_text = b"trang 7";
    let at = altered
        .windows(page_text.len())
        .position(|window| window == page_text)
        .expect("page 7's text");
    altered[at + 6] = b'8';
    let signed = signed_edxml(&fixture, "edxml-pdf-sua", &altered);
    let (code, reports) = verify(&pki, &[&signed]);
    assert_eq!(code, Some(1), "{:#}", reports[0]);
}

/// An edXML message carrying `pdf` as its attachment, signed by xmlsec1 as `so-tnmt`.
fn signed_edxml(fixture: &CmsFixture, name: &str, pdf: &[u8]) -> PathBuf {
    let pki = &fixture.pki.dir;
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/edxml/edxml-template.xml"),
    )
    .unwrap();
    let template = write(
        pki,
        &format!("{name}-tmpl.xml"),
        attach(&template, &base64(pdf)).as_bytes(),
    );
    let signed = pki.join(format!("{name}.xml"));
    let signers = pki.join("signers");
    xmlsec_sign(
        &template,
        &signers.join("so-tnmt.key.pem"),
        &[&signers.join("so-tnmt.pem")],
        &[],
        &signed,
    );
    signed
}

/// The template with its zipped attachment replaced by a PDF (`content`, base64).
fn attach(template: &str, content: &str) -> String {
    let open = template
        .find("<ContentTransferEncoded>")
        .expect("attachment content")
        + "<ContentTransferEncoded>".len();
    let close = open
        + template[open..]
            .find("</ContentTransferEncoded>")
            .expect("its end");
    format!("{}{content}{}", &template[..open], &template[close..])
        .replace("QD-123.zip", "QD-123.pdf")
        .replace("application/zip", "application/pdf")
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_stray_byte_in_a_signature_value_is_a_format_failure_not_ignored() {
    govgate::install_crypto_provider();
    let fixture = CmsFixture::new();
    let pki = fixture.pki.dir.clone();
    let mut signed = decision(&fixture);
    let contents = signed
        .windows(11)
        .position(|window| window == b"/Contents <")
        .expect("a signature value")
        + 11;
    let end = contents + signed[contents..].iter().position(|&b| b == b'>').unwrap();
    // In the zero padding after the DER: covered by nothing, so only the parser can object.
    signed[end - 8] = 0x10;
    let file = write(&pki, "qd-contents-sua.pdf", &signed);
    let (code, reports) = verify(&pki, &[&file]);
    assert_eq!(code, Some(1), "{:#}", reports[0]);
}
