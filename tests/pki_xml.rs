//! XML-DSig and edXML verification against `xmlsec1` (signing and verifying) and the
//! canonical forms of `xmllint`, with a tamper matrix on signed edXML messages.
//!
//! Every case states govgate's verdict and xmlsec1's. Where they differ, govgate is
//! deliberately stricter and the case says why: xmlsec1 proves only that the
//! references it was given verify (it accepts signature wrapping), accepts SHA-1, and
//! knows nothing about what an edXML signature must cover.

mod support;

use std::cell::RefCell;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use govgate::pki::dev::DevPki;
use govgate::pki::xml::c14n::{self, C14nMethod, C14nOptions, Canonicalization};
use govgate::pki::xml::{verify_xml, verify_xml_detailed, XmlLimits};
use govgate::pki::{
    CryptoPolicy, DocumentFormat, DocumentReport, Indication, SignatureReport, SubIndication,
    TrustStore, VerifyContext,
};
use support::xml::{xmllint_c14n, xmlsec_sign, xmlsec_verify, XmllintC14n};

const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
/// xmlsec1 resolves `#id` only through attributes registered as ids.
const PLAIN_IDS: &[(&str, &str)] = &[("Id", "urn:govgate:test:hoso:ThongTin")];
const EDXML_IDS: &[(&str, &str)] = &[
    ("Id", "http://www.mic.gov.vn/TBT/QCVN_102_2016:edXMLHeader"),
    ("Id", "http://www.mic.gov.vn/TBT/QCVN_102_2016:edXMLBody"),
    (
        "Id",
        "http://www.mic.gov.vn/TBT/QCVN_102_2016:AttachmentEncoded",
    ),
];

struct Fixture {
    dir: tempfile::TempDir,
    pki: DevPki,
    ctx: VerifyContext,
    roots: Vec<PathBuf>,
    intermediates: Vec<PathBuf>,
}

/// The dev PKI with only its two roots trusted: intermediates must come from the
/// signature's KeyInfo (so that a missing one is noticed).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate(dir.path(), SystemTime::now()).unwrap();
    let mut store = TrustStore::empty();
    store.add_anchor("public", pki.der("vnrca-test")).unwrap();
    store
        .add_anchor("government", pki.der("rootca-cp-test"))
        .unwrap();
    let roots = ["vnrca-test", "rootca-cp-test"]
        .map(|name| pki.cert(name).unwrap().cert_path.clone())
        .to_vec();
    let intermediates = ["vnpt-ca-test", "cpca-test"]
        .map(|name| pki.cert(name).unwrap().cert_path.clone())
        .to_vec();
    Fixture {
        dir,
        pki,
        ctx: VerifyContext::new(Arc::new(store)),
        roots,
        intermediates,
    }
}

fn template(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/edxml")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// The edXML template signed with references to the header, the body and the
/// attachments by Id instead of one reference to the whole document.
fn edxml_by_id_template() -> String {
    let whole = template("edxml-template.xml");
    let reference_start = whole.find("<Reference URI=\"\">").unwrap();
    let reference_end = whole.find("</Reference>").unwrap() + "</Reference>".len();
    let reference = |uri: &str, enveloped: bool| {
        let enveloped = match enveloped {
            true => {
                "<Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>"
            }
            false => "",
        };
        format!(
            "<Reference URI=\"{uri}\"><Transforms>{enveloped}<Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></Transforms><DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><DigestValue/></Reference>"
        )
    };
    let references = format!(
        "{}\n{}\n{}",
        reference("#hdr", true),
        reference("#body", false),
        reference("#att", false)
    );
    format!(
        "{}{references}{}",
        &whole[..reference_start],
        &whole[reference_end..]
    )
    .replace("<edXML:edXMLHeader>", "<edXML:edXMLHeader Id=\"hdr\">")
    .replace("<edXML:edXMLBody>", "<edXML:edXMLBody Id=\"body\">")
    .replace("<AttachmentEncoded>", "<AttachmentEncoded Id=\"att\">")
}

impl Fixture {
    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// xmlsec1 signs `template_text` as `signer`, with the signer's intermediate in
    /// KeyInfo unless `leaf_only`.
    fn sign_as(
        &self,
        template_text: &str,
        signer: &str,
        leaf_only: bool,
        ids: &[(&str, &str)],
    ) -> String {
        let template_path = self.path(&format!("{signer}-template.xml"));
        std::fs::write(&template_path, template_text).unwrap();
        let cert = self.pki.cert(signer).unwrap();
        // xmlsec1 takes one certificate from each file it is given.
        let issuer = cert
            .issuer
            .as_deref()
            .and_then(|issuer| self.pki.cert(issuer))
            .unwrap();
        let certs: Vec<&Path> = match leaf_only {
            true => vec![cert.cert_path.as_path()],
            false => vec![cert.cert_path.as_path(), issuer.cert_path.as_path()],
        };
        let out = self.path(&format!("{signer}-signed.xml"));
        xmlsec_sign(&template_path, &cert.key_path, &certs, ids, &out);
        std::fs::read_to_string(out).unwrap()
    }

    fn sign(&self, template_text: &str) -> String {
        self.sign_as(template_text, "so-tnmt", false, &[])
    }

    fn verify(&self, document: &str) -> DocumentReport {
        verify_xml(&self.ctx, document.as_bytes(), "message.edxml", &|_, _| {
            None
        })
    }

    fn xmlsec(&self, document: &str, ids: &[(&str, &str)]) -> bool {
        let path = self.path("under-test.xml");
        std::fs::write(&path, document).unwrap();
        xmlsec_verify(&path, &self.roots, &self.intermediates, ids)
    }

    fn xmlsec_without_intermediates(&self, document: &str) -> bool {
        let path = self.path("under-test.xml");
        std::fs::write(&path, document).unwrap();
        xmlsec_verify(&path, &self.roots, &[], &[])
    }
}

fn first_signature(report: &DocumentReport) -> &SignatureReport {
    report.signatures.first().expect("one signature")
}

fn assert_passed(report: &DocumentReport) {
    assert!(
        report.passed(),
        "{}",
        serde_json::to_string_pretty(report).unwrap()
    );
}

fn assert_sub(report: &DocumentReport, expected: SubIndication) {
    assert_eq!(
        report.sub_indication,
        Some(expected),
        "{}",
        serde_json::to_string_pretty(report).unwrap()
    );
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).unwrap() + open.len();
    let end = start + text[start..].find(close).unwrap();
    &text[start..end]
}

#[test]
fn a_signed_edxml_message_passes_and_says_what_is_covered() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    assert!(fixture.xmlsec(&signed, &[]));
    let handed_over = RefCell::new(Vec::new());
    let nested = |name: &str, data: &[u8]| {
        handed_over
            .borrow_mut()
            .push((name.to_string(), data.len()));
        None
    };
    let detailed = verify_xml_detailed(
        &fixture.ctx,
        &XmlLimits::DEFAULT,
        signed.as_bytes(),
        "m",
        &nested,
    );
    let report = &detailed.document;
    assert_passed(report);
    assert_eq!(report.format, Some(DocumentFormat::Edxml));
    let signature = first_signature(report);
    let signer = signature.signer.as_ref().unwrap();
    assert_eq!(signer.identifiers, vec!["MST:2300100123".to_string()]);
    assert_eq!(signature.chain.len(), 3);
    assert_eq!(signature.trust_list.as_deref(), Some("government"));
    assert_eq!(
        signature.signature_algorithm.as_deref(),
        Some("rsa-pkcs1-sha256")
    );
    assert_eq!(signature.digest_algorithm.as_deref(), Some("sha-256"));
    let covers = signature.covers.join("\n");
    assert!(
        covers.contains("the whole document, except the signature itself"),
        "{covers}"
    );
    assert!(
        covers.contains("header, the body and every attachment are signed"),
        "{covers}"
    );
    assert!(covers.contains("attachment QD-123.zip"), "{covers}");
    // The zipped PDF went to the caller's verifier, the text file did not.
    assert_eq!(handed_over.borrow().len(), 1);
    assert_eq!(handed_over.borrow()[0].0, "QD-123.zip/QD-123.pdf");
    let attachment = &detailed.attachments[0];
    assert_eq!(attachment.entries.len(), 2, "{:?}", attachment.entries);
    assert!(attachment.error.is_none());
}

#[test]
fn a_flipped_byte_in_the_body_is_a_hash_failure() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    let tampered = signed.replacen("<edXML:ContentId>qd-123", "<edXML:ContentId>qd-124", 1);
    assert_ne!(tampered, signed);
    assert!(!fixture.xmlsec(&tampered, &[]));
    assert_sub(&fixture.verify(&tampered), SubIndication::HashFailure);
}

#[test]
fn a_flipped_byte_in_the_signature_value_is_a_crypto_failure() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    let value = between(&signed, "<SignatureValue>", "</SignatureValue>");
    let engine = base64::engine::general_purpose::STANDARD;
    let mut raw = engine.decode(value.replace(['\n', '\r', ' '], "")).unwrap();
    raw[17] ^= 0x01;
    let tampered = signed.replace(value, &engine.encode(raw));
    assert!(!fixture.xmlsec(&tampered, &[]));
    assert_sub(&fixture.verify(&tampered), SubIndication::SigCryptoFailure);
}

#[test]
fn a_swapped_certificate_does_not_verify_the_signature() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    let engine = base64::engine::general_purpose::STANDARD;
    let signer_b64 = engine.encode(fixture.pki.der("so-tnmt"));
    let cert_b64 = between(&signed, "<X509Certificate>", "</X509Certificate>");
    assert_eq!(
        cert_b64.replace(['\n', '\r'], ""),
        signer_b64,
        "xmlsec1 puts the signer first"
    );
    let tampered = signed.replace(cert_b64, &engine.encode(fixture.pki.der("ubnd")));
    assert!(!fixture.xmlsec(&tampered, &[]));
    let report = fixture.verify(&tampered);
    assert_sub(&report, SubIndication::SigCryptoFailure);
}

#[test]
fn a_missing_intermediate_means_no_chain() {
    let fixture = fixture();
    let signed = fixture.sign_as(&template("edxml-template.xml"), "so-tnmt", true, &[]);
    assert_eq!(signed.matches("<X509Certificate>").count(), 1);
    assert!(!fixture.xmlsec_without_intermediates(&signed));
    assert_sub(
        &fixture.verify(&signed),
        SubIndication::NoCertificateChainFound,
    );
}

#[test]
fn an_expired_signer_is_refused() {
    let fixture = fixture();
    let signed = fixture.sign_as(&template("edxml-template.xml"), "expired", false, &[]);
    assert!(!fixture.xmlsec(&signed, &[]));
    assert_sub(&fixture.verify(&signed), SubIndication::Expired);
}

#[test]
fn an_ecdsa_signature_verifies() {
    let fixture = fixture();
    let text = template("edxml-template.xml").replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    );
    let signed = fixture.sign_as(&text, "ecdsa", false, &[]);
    assert!(fixture.xmlsec(&signed, &[]));
    let report = fixture.verify(&signed);
    assert_passed(&report);
    assert_eq!(
        first_signature(&report).signature_algorithm.as_deref(),
        Some("ecdsa-p256-sha256")
    );
}

#[test]
fn sha1_is_refused_under_strict_and_accepted_under_legacy() {
    let mut fixture = fixture();
    let text = template("edxml-template.xml")
        .replace(
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        )
        .replace(
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        );
    let signed = fixture.sign(&text);
    // Stricter than xmlsec1, which accepts SHA-1: Circular 15/2025 requires SHA-2.
    assert!(fixture.xmlsec(&signed, &[]));
    let report = fixture.verify(&signed);
    assert_eq!(report.indication, Indication::Indeterminate);
    assert_sub(&report, SubIndication::CryptoConstraintsFailure);
    fixture.ctx.policy = CryptoPolicy::LEGACY;
    assert_passed(&fixture.verify(&signed));
}

#[test]
fn a_plain_xml_signature_over_an_id_covers_that_element_only() {
    let fixture = fixture();
    let signed = fixture.sign_as(&template("plain-id-template.xml"), "an", false, PLAIN_IDS);
    assert!(fixture.xmlsec(&signed, PLAIN_IDS));
    let report = fixture.verify(&signed);
    assert_passed(&report);
    assert_eq!(report.format, Some(DocumentFormat::Xml));
    assert_eq!(
        first_signature(&report).covers,
        vec!["reference 1 (URI \"#thong-tin\"): element hs:ThongTin Id=thong-tin".to_string()]
    );
    // The unsigned part may change; the signed one may not.
    let outside = signed.replace("Phần này không được ký.", "Đã sửa.");
    assert!(fixture.xmlsec(&outside, PLAIN_IDS));
    assert_passed(&fixture.verify(&outside));
    let inside = signed.replace("Cấp phép xả thải", "Cấp phép xả thải thêm");
    assert!(!fixture.xmlsec(&inside, PLAIN_IDS));
    assert_sub(&fixture.verify(&inside), SubIndication::HashFailure);
}

#[test]
fn a_moved_signed_body_is_signature_wrapping() {
    let fixture = fixture();
    let signed = fixture.sign_as(&edxml_by_id_template(), "so-tnmt", false, EDXML_IDS);
    assert!(fixture.xmlsec(&signed, EDXML_IDS));
    let report = fixture.verify(&signed);
    assert_passed(&report);
    assert_eq!(
        first_signature(&report).covers.len(),
        4 + 1,
        "{:?}",
        first_signature(&report).covers
    );

    // The signed body goes into a ds:Object of the signature; an unsigned body takes
    // its place, where the application reads it.
    let body_start = signed.find("<edXML:edXMLBody Id=\"body\">").unwrap();
    let body_end = signed.find("</edXML:edXMLBody>").unwrap() + "</edXML:edXMLBody>".len();
    let original_body = &signed[body_start..body_end];
    let forged_body = "<edXML:edXMLBody><edXML:edXMLManifest version=\"1.0\"/></edXML:edXMLBody>";
    let wrapped = format!(
        "{}{forged_body}{}",
        &signed[..body_start],
        &signed[body_end..]
    )
    .replacen(
        "</Signature>",
        &format!("<Object>{original_body}</Object></Signature>"),
        1,
    );
    // xmlsec1 accepts it: every reference still finds its (moved) element.
    assert!(fixture.xmlsec(&wrapped, EDXML_IDS));
    let report = fixture.verify(&wrapped);
    assert_eq!(report.indication, Indication::TotalFailed);
    assert_sub(&report, SubIndication::FormatFailure);
    let errors = first_signature(&report).errors.join("\n");
    assert!(errors.contains("does not cover edXMLBody"), "{errors}");
}

#[test]
fn an_edxml_signature_over_the_header_only_is_refused() {
    let fixture = fixture();
    let text = edxml_by_id_template();
    let body_ref = text.find("<Reference URI=\"#body\">").unwrap();
    let end = text[body_ref..].find("<KeyInfo>").unwrap();
    let header_only = format!(
        "{}</SignedInfo><SignatureValue/>{}",
        &text[..body_ref],
        &text[body_ref + end..]
    );
    let signed = fixture.sign_as(&header_only, "so-tnmt", false, EDXML_IDS);
    // xmlsec1 knows nothing of edXML: a valid signature over the header is fine to it.
    assert!(fixture.xmlsec(&signed, EDXML_IDS));
    let report = fixture.verify(&signed);
    assert_sub(&report, SubIndication::FormatFailure);
    let errors = first_signature(&report).errors.join("\n");
    assert!(
        errors.contains("edXMLBody, attachment QD-123.zip"),
        "{errors}"
    );
}

#[test]
fn a_duplicated_id_is_refused() {
    let fixture = fixture();
    let signed = fixture.sign_as(&template("plain-id-template.xml"), "an", false, PLAIN_IDS);
    // A forged element with the signed element's id, before the signed one.
    let forged = "<hs:ThongTin Id=\"thong-tin\"><TieuDe>Giả mạo</TieuDe></hs:ThongTin>";
    let duplicated = signed.replacen("<hs:ThongTin ", &format!("{forged}<hs:ThongTin "), 1);
    // libxml2 refuses to register the second id, and xmlsec1 fails on it.
    assert!(!fixture.xmlsec(&duplicated, PLAIN_IDS));
    let report = fixture.verify(&duplicated);
    assert_sub(&report, SubIndication::FormatFailure);
    assert!(first_signature(&report).errors[0].contains("2 elements have this id"));
}

#[test]
fn comments_are_not_signed_content_unless_the_signed_info_keeps_them() {
    let fixture = fixture();
    // A comment added to the body: same-document references drop comments, so both
    // with and without #WithComments the digest is unchanged.
    for method in ["xml-exc-c14n#", "xml-exc-c14n#WithComments"] {
        let text = template("edxml-template.xml").replace(
            "<Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            &format!("<Transform Algorithm=\"http://www.w3.org/2001/10/{method}\"/>"),
        );
        let signed = fixture.sign(&text);
        let commented = signed.replacen(
            "<edXML:edXMLManifest",
            "<!-- thêm sau khi ký --><edXML:edXMLManifest",
            1,
        );
        assert!(fixture.xmlsec(&commented, &[]), "{method}");
        assert_passed(&fixture.verify(&commented));
    }
    // A comment inside SignedInfo is signed when SignedInfo is canonicalised with
    // comments: removing it breaks the signature; without comments it does not.
    for (method, survives) in [
        ("xml-exc-c14n#WithComments", false),
        ("xml-exc-c14n#", true),
    ] {
        let text = template("edxml-template.xml").replacen(
            "<CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
            &format!("<CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/{method}\"/><!-- ghi chú -->"),
            1,
        );
        let signed = fixture.sign(&text);
        assert!(fixture.xmlsec(&signed, &[]));
        assert_passed(&fixture.verify(&signed));
        let stripped = signed.replace("<!-- ghi chú -->", "");
        assert_eq!(fixture.xmlsec(&stripped, &[]), survives, "{method}");
        assert_eq!(fixture.verify(&stripped).passed(), survives, "{method}");
    }
}

#[test]
fn namespace_tricks_change_the_verdict_exactly_where_xmlsec1_does() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    // A redundant redeclaration of the same prefix: not rendered by exc-c14n.
    let redeclared = signed.replacen(
        "<edXML:edXMLBody>",
        &format!("<edXML:edXMLBody xmlns:edXML=\"{EDXML_NS}\">"),
        1,
    );
    // The same element under another prefix: prefixes are significant in c14n.
    let reprefixed = signed
        .replacen(
            "<edXML:Subject>",
            &format!("<e:Subject xmlns:e=\"{EDXML_NS}\">"),
            1,
        )
        .replacen("</edXML:Subject>", "</e:Subject>", 1);
    // An unused declaration on the document element: exclusive c14n ignores it.
    let unused = signed.replacen("<edXML xmlns=", "<edXML xmlns:z=\"urn:z\" xmlns=", 1);
    for (case, document, expected) in [
        ("redeclared", &redeclared, true),
        ("reprefixed", &reprefixed, false),
        ("unused", &unused, true),
    ] {
        assert_ne!(document, &signed, "{case}");
        assert_eq!(fixture.xmlsec(document, &[]), expected, "xmlsec1 {case}");
        assert_eq!(
            fixture.verify(document).passed(),
            expected,
            "govgate {case}"
        );
    }

    let plain = fixture.sign_as(&template("plain-id-template.xml"), "an", false, PLAIN_IDS);
    // A default namespace change moves an element into another namespace.
    let default_changed = plain.replacen("<TieuDe>", "<TieuDe xmlns=\"urn:govgate:test:khac\">", 1);
    // An unused declaration on the document element is in scope of SignedInfo, which
    // this signature canonicalises inclusively: the signature breaks.
    let inclusive_scope = plain.replacen("<HoSo ", "<HoSo xmlns:z=\"urn:z\" ", 1);
    // An xmlns="" undeclaration on an unsigned sibling changes nothing signed.
    let undeclared_outside = plain.replacen("<GhiChu>", "<GhiChu xmlns=\"\">", 1);
    for (case, document, expected) in [
        ("default namespace", &default_changed, false),
        ("inclusive SignedInfo scope", &inclusive_scope, false),
        ("undeclared outside", &undeclared_outside, true),
    ] {
        assert_ne!(document, &plain, "{case}");
        assert_eq!(
            fixture.xmlsec(document, PLAIN_IDS),
            expected,
            "xmlsec1 {case}"
        );
        assert_eq!(
            fixture.verify(document).passed(),
            expected,
            "govgate {case}"
        );
    }
}

#[test]
fn external_reference_uris_are_refused_and_never_fetched() {
    let fixture = fixture();
    // A validly signed reference to a local file: xmlsec1 reads the file (when signing
    // and when verifying) and accepts; govgate never dereferences outside the document.
    let detached = fixture.path("detached.txt");
    std::fs::write(&detached, "tệp đính kèm tách rời").unwrap();
    let file_reference = format!(
        "<Reference URI=\"file://{}\"><DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><DigestValue/></Reference></SignedInfo>",
        detached.display()
    );
    let text = template("plain-id-template.xml").replacen("</SignedInfo>", &file_reference, 1);
    let signed = fixture.sign_as(&text, "an", false, PLAIN_IDS);
    assert!(fixture.xmlsec(&signed, PLAIN_IDS));
    let report = fixture.verify(&signed);
    assert_eq!(report.indication, Indication::Indeterminate);
    assert_sub(&report, SubIndication::SignedDataNotFound);
    assert!(first_signature(&report).errors[0].contains("never fetched"));

    // An http URI (or a relative one) is refused the same way, without a connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for uri in [
        format!("http://127.0.0.1:{port}/ho-so.xml"),
        "ho-so.xml".to_string(),
    ] {
        let external = signed.replace("URI=\"#thong-tin\"", &format!("URI=\"{uri}\""));
        let report = fixture.verify(&external);
        assert!(!report.passed());
        assert!(
            first_signature(&report).errors[0].contains("never fetched"),
            "{uri}"
        );
    }
    assert!(
        listener.accept().is_err(),
        "govgate connected to the reference URI"
    );
}

#[test]
fn xpath_and_xslt_transforms_are_refused() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    let xpath = signed.replacen(
        "<Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        "<Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><XPath>not(ancestor-or-self::*)</XPath></Transform>",
        1,
    );
    let report = fixture.verify(&xpath);
    assert_sub(&report, SubIndication::FormatFailure);
    assert!(first_signature(&report).errors[0].contains("REC-xpath-19991116 is refused"));
}

#[test]
fn a_dtd_with_entities_is_refused_before_anything_expands() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    let mut dtd = String::from("<!DOCTYPE edXML [\n<!ENTITY lol0 \"lol\">\n");
    for level in 1..10 {
        let previous = format!("&lol{};", level - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{level} \"{previous}\">\n"));
    }
    dtd.push_str("]>\n");
    let laughs = signed
        .replacen("<edXML xmlns=", &format!("{dtd}<edXML xmlns="), 1)
        .replacen("<edXML:SteeringType>0", "<edXML:SteeringType>&lol9;0", 1);
    assert!(!fixture.xmlsec(&laughs, &[]));
    let report = fixture.verify(&laughs);
    assert_sub(&report, SubIndication::FormatFailure);
    assert!(report.errors[0].contains("DTD"), "{:?}", report.errors);
}

#[test]
fn deep_nesting_is_refused() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    let deep = format!("{}{}", "<d>".repeat(5000), "</d>".repeat(5000));
    let nested = signed.replacen(
        "</edXML:edXMLManifest>",
        &format!("{deep}</edXML:edXMLManifest>"),
        1,
    );
    assert!(!fixture.xmlsec(&nested, &[]));
    let report = fixture.verify(&nested);
    assert_sub(&report, SubIndication::FormatFailure);
    assert!(report.errors[0].contains("nested"), "{:?}", report.errors);
}

#[test]
fn a_failing_nested_signature_fails_the_message_and_an_unsigned_one_does_not() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    let failing = |name: &str, _: &[u8]| {
        let mut signature = SignatureReport::new("PDF field Signature1", SystemTime::now());
        signature.fail(govgate::pki::ChainFailure::new(
            SubIndication::HashFailure,
            "changed",
        ));
        Some(DocumentReport::from_signatures(
            name,
            DocumentFormat::Pdf,
            vec![signature],
        ))
    };
    let report = verify_xml(&fixture.ctx, signed.as_bytes(), "m", &failing);
    assert_sub(&report, SubIndication::HashFailure);
    assert!(
        report.errors[0].contains("QD-123.zip/QD-123.pdf"),
        "{:?}",
        report.errors
    );
    let unsigned = |name: &str, _: &[u8]| {
        Some(DocumentReport::from_signatures(
            name,
            DocumentFormat::Pdf,
            Vec::new(),
        ))
    };
    assert_passed(&verify_xml(&fixture.ctx, signed.as_bytes(), "m", &unsigned));
}

#[test]
fn a_zip_bomb_attachment_is_refused() {
    let fixture = fixture();
    let bomb = python_zip_of_zeros(8 * 1024 * 1024);
    let text = template("edxml-template.xml");
    let content = between(
        &text,
        "<ContentTransferEncoded>",
        "</ContentTransferEncoded>",
    );
    let text = text.replace(
        content,
        &base64::engine::general_purpose::STANDARD.encode(bomb),
    );
    let signed = fixture.sign(&text);
    assert!(fixture.xmlsec(&signed, &[]));
    let report = fixture.verify(&signed);
    assert_sub(&report, SubIndication::FormatFailure);
    assert!(report.errors[0].contains("zip bomb"), "{:?}", report.errors);
}

/// A zip with one deflated entry of `size` zero bytes (ratio ≈ 1000:1), by Python's
/// zipfile.
fn python_zip_of_zeros(size: usize) -> Vec<u8> {
    let script = format!(
        "import io,sys,zipfile\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED)\nz.writestr('zeros.pdf',bytes({size}))\nz.close()\nsys.stdout.buffer.write(b.getvalue())"
    );
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(output.status.success());
    output.stdout
}

#[test]
fn looks_like_edxml_reads_only_the_document_element() {
    let fixture = fixture();
    let signed = fixture.sign(&template("edxml-template.xml"));
    assert!(govgate::pki::xml::looks_like_edxml(signed.as_bytes()));
    assert!(!govgate::pki::xml::looks_like_edxml(
        template("plain-id-template.xml").as_bytes()
    ));
    assert!(!govgate::pki::xml::looks_like_edxml(b"%PDF-1.7"));
}

/// Tricky inputs for canonicalization: namespaces declared, redeclared, undeclared
/// and unused; attributes to sort across namespaces; every character c14n escapes;
/// CDATA; PIs and comments around the document element; empty elements.
const C14N_CASES: &[&str] = &[
    "<?xml version=\"1.0\"?>\n<?pi-before data?>\n<!-- before -->\n<doc>\n  <e1   />\n  <e2 b='2' a=\"1\"></e2>\n</doc>\n<!-- after --><?pi-after?>\n",
    "<a:root xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns=\"urn:default\" xmlns:unused=\"urn:unused\"><b:child a:attr=\"1\" attr=\"0\" b:attr=\"2\"><a:grand xmlns:a=\"urn:a\" xmlns=\"\"/><plain xmlns=\"urn:other\"/><x xmlns:b=\"urn:b2\" b:y=\"z\"/></b:child></a:root>",
    "<doc xmlns=\"urn:d\"><in xmlns=\"\"><deeper xmlns=\"urn:d\"/></in></doc>",
    "<doc attr=\"tab&#9;nl&#10;cr&#13;quote&quot;lt&lt;gt&gt;amp&amp;apos'\">text &amp; &lt; &gt; \" ' &#13; cr\r\nlf <![CDATA[cdata <&> ]]> tiếng Việt</doc>",
    "<doc xml:lang=\"vi\" xmlns:p=\"urn:p\"><p:e xml:space=\"preserve\">  </p:e><e p:q=\"1\" xmlns:p=\"urn:p\"/></doc>",
    "<doc>\n<!-- inner comment -->\n<?inner pi?>\n</doc>",
];

fn our_c14n(input: &str, kind: Canonicalization) -> Vec<u8> {
    let document = govgate::pki::xml::parse::parse(input.as_bytes(), &XmlLimits::DEFAULT).unwrap();
    let options = C14nOptions {
        method: C14nMethod {
            kind,
            with_comments: true,
        },
        inclusive_prefixes: &[],
        node_set_has_comments: true,
    };
    let mut out = Vec::new();
    c14n::canonicalize(document.root(), None, &options, &mut out);
    out
}

#[test]
fn canonical_forms_match_xmllint_on_tricky_inputs() {
    let dir = tempfile::tempdir().unwrap();
    for (index, case) in C14N_CASES.iter().enumerate() {
        let path = dir.path().join(format!("case-{index}.xml"));
        std::fs::write(&path, case).unwrap();
        for (ours, theirs) in [
            (Canonicalization::Inclusive, XmllintC14n::Inclusive),
            (Canonicalization::Exclusive, XmllintC14n::Exclusive),
        ] {
            let expected = xmllint_c14n(&path, theirs);
            let actual = our_c14n(case, ours);
            assert_eq!(
                String::from_utf8_lossy(&actual),
                String::from_utf8_lossy(&expected),
                "case {index} {ours:?}"
            );
        }
    }
}
