//! `xmlsec1` and `xmllint` as the independent XML-DSig and canonical XML references,
//! and the fixture of `tests/pki_xml.rs`: the dev PKI, the edXML templates and the
//! signing / verifying round trips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

use govgate::pki::dev::DevPki;
use govgate::pki::xml::verify_xml;
use govgate::pki::{DocumentReport, SignatureReport, SubIndication, TrustStore, VerifyContext};

/// Signs `template` (an xmlsec1 signature template) with `key` and the certificates in
/// `certs` (PEM; the first is the signer's, the rest go into KeyInfo too). `id_attrs`
/// are xmlsec1 `--id-attr` registrations (`Id`, `urn:ns:Element`): xmlsec1 resolves
/// `#id` URIs only through attributes it was told are ids.
pub fn xmlsec_sign(
    template: &Path,
    key: &Path,
    certs: &[&Path],
    id_attrs: &[(&str, &str)],
    out: &Path,
) {
    let mut keys = key.display().to_string();
    for cert in certs {
        keys.push(',');
        keys.push_str(&cert.display().to_string());
    }
    let mut command = Command::new("xmlsec1");
    command.arg("--sign");
    for (attribute, node) in id_attrs {
        command.arg(format!("--id-attr:{attribute}")).arg(node);
    }
    let output = command
        .arg("--privkey-pem")
        .arg(keys)
        .arg("--output")
        .arg(out)
        .arg(template)
        .output()
        .expect("xmlsec1 is installed by scripts/test");
    assert!(
        output.status.success(),
        "xmlsec1 --sign {}: {}",
        template.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `xmlsec1 --verify` with `trusted` roots and `untrusted` intermediates; true when it
/// accepts the file.
pub fn xmlsec_verify(
    file: &Path,
    trusted: &[PathBuf],
    untrusted: &[PathBuf],
    id_attrs: &[(&str, &str)],
) -> bool {
    let mut command = Command::new("xmlsec1");
    command.arg("--verify");
    for root in trusted {
        command.arg("--trusted-pem").arg(root);
    }
    for intermediate in untrusted {
        command.arg("--untrusted-pem").arg(intermediate);
    }
    for (attribute, node) in id_attrs {
        command.arg(format!("--id-attr:{attribute}")).arg(node);
    }
    let output = command
        .arg(file)
        .output()
        .expect("xmlsec1 is installed by scripts/test");
    output.status.success()
}

/// Which canonicalization `xmllint` applies (always with comments: that is what its
/// `--c14n` / `--exc-c14n` options produce).
#[derive(Debug, Clone, Copy)]
pub enum XmllintC14n {
    Inclusive,
    Exclusive,
}

/// `xmllint --c14n` / `--exc-c14n` of `file`: the whole document, with comments.
pub fn xmllint_c14n(file: &Path, method: XmllintC14n) -> Vec<u8> {
    let flag = match method {
        XmllintC14n::Inclusive => "--c14n",
        XmllintC14n::Exclusive => "--exc-c14n",
    };
    let output = Command::new("xmllint")
        .arg(flag)
        .arg(file)
        .output()
        .expect("xmllint (libxml2-utils) is installed by scripts/test");
    assert!(
        output.status.success(),
        "xmllint {flag} {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

pub const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
/// xmlsec1 resolves `#id` only through attributes registered as ids.
pub const PLAIN_IDS: &[(&str, &str)] = &[("Id", "urn:govgate:test:hoso:ThongTin")];
pub const EDXML_IDS: &[(&str, &str)] = &[
    ("Id", "http://www.mic.gov.vn/TBT/QCVN_102_2016:edXMLHeader"),
    ("Id", "http://www.mic.gov.vn/TBT/QCVN_102_2016:edXMLBody"),
    (
        "Id",
        "http://www.mic.gov.vn/TBT/QCVN_102_2016:AttachmentEncoded",
    ),
];

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub pki: DevPki,
    pub ctx: VerifyContext,
    pub roots: Vec<PathBuf>,
    pub intermediates: Vec<PathBuf>,
}

/// The dev PKI with only its two roots trusted: intermediates must come from the
/// signature's KeyInfo (so that a missing one is noticed).
pub fn fixture() -> Fixture {
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

pub fn template(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/edxml")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// The edXML template signed with references to the header, the body and the
/// attachments by Id instead of one reference to the whole document.
pub fn edxml_by_id_template() -> String {
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
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// xmlsec1 signs `template_text` as `signer`, with the signer's intermediate in
    /// KeyInfo unless `leaf_only`.
    pub fn sign_as(
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

    pub fn sign(&self, template_text: &str) -> String {
        self.sign_as(template_text, "so-tnmt", false, &[])
    }

    pub fn verify(&self, document: &str) -> DocumentReport {
        verify_xml(&self.ctx, document.as_bytes(), "message.edxml", &|_, _| {
            None
        })
    }

    pub fn xmlsec(&self, document: &str, ids: &[(&str, &str)]) -> bool {
        let path = self.path("under-test.xml");
        std::fs::write(&path, document).unwrap();
        xmlsec_verify(&path, &self.roots, &self.intermediates, ids)
    }

    pub fn xmlsec_without_intermediates(&self, document: &str) -> bool {
        let path = self.path("under-test.xml");
        std::fs::write(&path, document).unwrap();
        xmlsec_verify(&path, &self.roots, &[], &[])
    }
}

pub fn first_signature(report: &DocumentReport) -> &SignatureReport {
    report.signatures.first().expect("one signature")
}

pub fn assert_passed(report: &DocumentReport) {
    assert!(
        report.passed(),
        "{}",
        serde_json::to_string_pretty(report).unwrap()
    );
}

pub fn assert_sub(report: &DocumentReport, expected: SubIndication) {
    assert_eq!(
        report.sub_indication,
        Some(expected),
        "{}",
        serde_json::to_string_pretty(report).unwrap()
    );
}

pub fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).unwrap() + open.len();
    let end = start + text[start..].find(close).unwrap();
    &text[start..end]
}

/// A zip with one deflated entry of `size` zero bytes (ratio ≈ 1000:1), by Python's
/// zipfile.
pub fn python_zip_of_zeros(size: usize) -> Vec<u8> {
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
