//! PDF test kit: a minimal PDF writer (base documents and hand-made incremental
//! updates), pyHanko in a venv (signing with the DevPki keys, and `pyhanko sign
//! validate` as the reference verdict), and a test-only CMS check that lets
//! `openssl cms -verify` decide the signature over the byte ranges.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use govgate::pki::report::{ChainFailure, SignatureReport, SubIndication};
use govgate::pki::{DigestAlgorithm, SignedContent};

/// pip names of what the venv must hold.
const REQUIREMENTS: &[&str] = &[
    "pyHanko==0.38.0",
    "pyhanko-certvalidator==0.33.0",
    "pyhanko-cli==0.6.0",
];
const IMPORT_CHECK: &str = "import pyhanko.sign, pyhanko_certvalidator, pyhanko.cli";

// ---------------------------------------------------------------- minimal writer

/// A PDF with `pages` pages of text, written by hand (classic xref table). Objects:
/// 1 catalog, 2 page tree, 3 font, 4 an unused "shadow" content stream (the payload
/// of a hide-and-replace attack), then page `i` (0-based) is `5 + 2i` with content
/// `6 + 2i`.
pub fn minimal_pdf(pages: usize) -> Vec<u8> {
    let mut objects: Vec<(u32, String)> = Vec::new();
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", page_obj(i))).collect();
    objects.push((1, "<< /Type /Catalog /Pages 2 0 R >>".into()));
    objects.push((
        2,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        ),
    ));
    objects.push((
        3,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ));
    objects.push((
        4,
        stream("BT /F1 24 Tf 72 700 Td (Approved: 1 000 000 000 VND) Tj ET"),
    ));
    for i in 0..pages {
        objects.push((page_obj(i), page_dict(i, content_obj(i), "")));
        objects.push((
            content_obj(i),
            stream(&format!(
                "BT /F1 18 Tf 72 720 Td (Quyet dinh so 123/QD-UBND - trang {}) Tj ET",
                i + 1
            )),
        ));
    }
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = vec![0usize; objects.len() + 1];
    for (num, body) in &objects {
        offsets[*num as usize] = out.len();
        out.extend_from_slice(format!("{num} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in &offsets[1..] {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

/// The document `minimal_pdf` writes, as PDF 1.5 writers do: catalog, page tree, font
/// and page dictionaries in one object stream, and a cross-reference stream
/// (FlateDecode, PNG Up predictor) instead of a table. Same object numbers; the object
/// stream is `5 + 2 * pages`, the xref stream the next one.
pub fn compressed_pdf(pages: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", page_obj(i))).collect();
    let mut packed: Vec<(u32, String)> = vec![
        (1, "<< /Type /Catalog /Pages 2 0 R >>".into()),
        (
            2,
            format!(
                "<< /Type /Pages /Kids [{}] /Count {pages} >>",
                kids.join(" ")
            ),
        ),
        (
            3,
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
        ),
    ];
    packed.extend((0..pages).map(|i| (page_obj(i), page_dict(i, content_obj(i), ""))));
    let object_stream = 5 + 2 * pages as u32;
    let xref_stream = object_stream + 1;
    let (mut header, mut body) = (String::new(), String::new());
    for (num, text) in &packed {
        let _ = write!(header, "{num} {} ", body.len());
        body.push_str(text);
        body.push('\n');
    }
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    // Row per object: type (1 byte), offset or object stream (4), generation or index (2).
    let mut rows: Vec<[u8; 7]> = vec![[0; 7]; xref_stream as usize + 1];
    rows[0] = [0, 0, 0, 0, 0, 0xff, 0xff];
    let in_file = |out: &mut Vec<u8>, rows: &mut Vec<[u8; 7]>, num: u32, body: &[u8]| {
        let offset = (out.len() as u32).to_be_bytes();
        rows[num as usize] = [1, offset[0], offset[1], offset[2], offset[3], 0, 0];
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    in_file(
        &mut out,
        &mut rows,
        4,
        stream("BT /F1 24 Tf 72 700 Td (Approved: 1 000 000 000 VND) Tj ET").as_bytes(),
    );
    for i in 0..pages {
        let text = format!(
            "BT /F1 18 Tf 72 720 Td (Quyet dinh so 123/QD-UBND - trang {}) Tj ET",
            i + 1
        );
        in_file(
            &mut out,
            &mut rows,
            content_obj(i),
            stream(&text).as_bytes(),
        );
    }
    for (index, (num, _)) in packed.iter().enumerate() {
        let stream = object_stream.to_be_bytes();
        let index = (index as u16).to_be_bytes();
        rows[*num as usize] = [
            2, stream[0], stream[1], stream[2], stream[3], index[0], index[1],
        ];
    }
    let data = format!("{header}{body}");
    let compressed = zlib(data.as_bytes());
    let mut objstm = format!(
        "<< /Type /ObjStm /N {} /First {} /Filter /FlateDecode /Length {} >>\nstream\n",
        packed.len(),
        header.len(),
        compressed.len()
    )
    .into_bytes();
    objstm.extend_from_slice(&compressed);
    objstm.extend_from_slice(b"\nendstream");
    in_file(&mut out, &mut rows, object_stream, &objstm);
    let xref_offset = out.len();
    let offset = (xref_offset as u32).to_be_bytes();
    rows[xref_stream as usize] = [1, offset[0], offset[1], offset[2], offset[3], 0, 0];
    // PNG Up predictor: each row is the difference to the one before, tagged 2.
    let mut predicted = Vec::new();
    let mut previous = [0u8; 7];
    for row in &rows {
        predicted.push(2);
        predicted.extend(row.iter().zip(previous).map(|(b, p)| b.wrapping_sub(p)));
        previous = *row;
    }
    let compressed = zlib(&predicted);
    let mut xref = format!(
        "{xref_stream} 0 obj\n<< /Type /XRef /Size {} /W [1 4 2] /Root 1 0 R /Filter /FlateDecode \
         /DecodeParms << /Predictor 12 /Columns 7 >> /Length {} >>\nstream\n",
        rows.len(),
        compressed.len()
    )
    .into_bytes();
    xref.extend_from_slice(&compressed);
    xref.extend_from_slice(
        format!("\nendstream\nendobj\nstartxref\n{xref_offset}\n%%EOF\n").as_bytes(),
    );
    out.extend_from_slice(&xref);
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("deflate");
    encoder.finish().expect("deflate")
}

pub fn page_obj(index: usize) -> u32 {
    5 + 2 * index as u32
}

pub fn content_obj(index: usize) -> u32 {
    6 + 2 * index as u32
}

/// The page dictionary `minimal_pdf` writes, with `extra` entries appended.
pub fn page_dict(_index: usize, content: u32, extra: &str) -> String {
    format!(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R {extra}>>"
    )
}

pub fn stream(data: &str) -> String {
    format!("<< /Length {} >>\nstream\n{data}\nendstream", data.len())
}

/// Appends an incremental update that (re)defines `objects`, with a classic xref
/// table whose `/Prev` is the file's last `startxref`.
pub fn append_update(pdf: &[u8], objects: &[(u32, String)]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pdf);
    let prev = last_number_after(&text, "startxref").expect("a startxref");
    let old_size = last_number_after(&text, "/Size").expect("a /Size");
    let root = last_reference_after(&text, "/Root").unwrap_or_else(|| "1 0 R".into());
    let mut out = pdf.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut table = String::from("xref\n");
    let mut size = old_size;
    for (num, body) in objects {
        let offset = out.len();
        out.extend_from_slice(format!("{num} 0 obj\n{body}\nendobj\n").as_bytes());
        let _ = writeln!(table, "{num} 1\n{offset:010} 00000 n ");
        size = size.max(u64::from(*num) + 1);
    }
    let xref = out.len();
    let _ = write!(
        table,
        "trailer\n<< /Size {size} /Root {root} /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n"
    );
    out.extend_from_slice(table.as_bytes());
    out
}

/// The next free object number after the file's last `/Size`.
pub fn next_object_number(pdf: &[u8]) -> u32 {
    last_number_after(&String::from_utf8_lossy(pdf), "/Size").expect("a /Size") as u32
}

fn last_number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.rfind(key)? + key.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn last_reference_after(text: &str, key: &str) -> Option<String> {
    let at = text.rfind(key)? + key.len();
    let rest = text[at..].trim_start();
    let end = rest.find('R')?;
    Some(rest[..=end].to_string())
}

// ---------------------------------------------------------------- byte range editing

/// The `/ByteRange [a b c d]` of the `n`-th signature (in file order), and where its
/// array (with the spaces pyHanko pads it with) lies in the file.
pub fn byte_range(pdf: &[u8], n: usize) -> ([usize; 4], std::ops::Range<usize>) {
    let at = find_all(pdf, b"/ByteRange").nth(n).expect("a /ByteRange");
    byte_range_at(pdf, at).expect("a well-formed /ByteRange")
}

fn byte_range_at(pdf: &[u8], at: usize) -> Option<([usize; 4], std::ops::Range<usize>)> {
    let open = at + pdf[at..].iter().position(|b| *b == b'[')?;
    let close = open + pdf[open..].iter().position(|b| *b == b']')?;
    let values: Vec<usize> = std::str::from_utf8(&pdf[open + 1..close])
        .ok()?
        .split_whitespace()
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let padding = pdf[close + 1..].iter().take_while(|b| **b == b' ').count();
    Some((values.try_into().ok()?, open..close + 1 + padding))
}

/// Offsets of every occurrence of `needle` in `haystack`.
pub fn find_all<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, window)| *window == needle)
        .map(|(at, _)| at)
}

/// Rewrites the `n`-th `/ByteRange` in place (same width, padded with spaces).
pub fn set_byte_range(pdf: &[u8], n: usize, values: [usize; 4]) -> Vec<u8> {
    let (_, span) = byte_range(pdf, n);
    let mut text = format!("[{} {} {} {}]", values[0], values[1], values[2], values[3]);
    assert!(
        text.len() <= span.len(),
        "the new /ByteRange is wider than the old"
    );
    while text.len() < span.len() {
        text.push(' ');
    }
    let mut out = pdf.to_vec();
    out[span].copy_from_slice(text.as_bytes());
    out
}

// ---------------------------------------------------------------- pyHanko

fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("pdf-venv")
}

fn is_ready(venv: &Path) -> bool {
    Command::new(venv.join("bin").join("python"))
        .args(["-c", IMPORT_CHECK])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The venv's bin directory, creating the venv on first use (pip downloads from PyPI
/// the first time; concurrent test binaries race to a rename, the loser discards).
pub fn pyhanko_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let venv = venv_dir();
        if !is_ready(&venv) {
            let staging = venv.with_file_name(format!("pdf-venv.{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            run(Command::new("python3").args(["-m", "venv"]).arg(&staging));
            run(Command::new(staging.join("bin").join("python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(REQUIREMENTS));
            if !is_ready(&venv) {
                let _ = std::fs::remove_dir_all(&venv);
                let _ = std::fs::rename(&staging, &venv);
            }
            let _ = std::fs::remove_dir_all(&staging);
            assert!(
                is_ready(&venv),
                "{} lacks pyHanko after install",
                venv.display()
            );
        }
        venv.join("bin")
    })
    .clone()
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Signs with pyHanko's API (a new invisible field `field`, SHA-256, PAdES
/// CAdES-detached); `certify` = Some(P) makes it a certification signature.
const SIGN: &str = r#"
import sys
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
inp, out, key, cert, chain, field, certify = sys.argv[1:8]
signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(chain,))
p = int(certify)
meta = signers.PdfSignatureMetadata(
    field_name=field, md_algorithm='sha256', subfilter=SigSeedSubFilter.PADES,
    certify=p > 0, docmdp_permissions=MDPPerm(p) if p else MDPPerm.FILL_FORMS)
with open(inp, 'rb') as f:
    w = IncrementalPdfFileWriter(f)
    with open(out, 'wb') as o:
        signers.sign_pdf(w, meta, signer=signer, output=o)
"#;

/// A document timestamp by pyHanko's in-process TSA (a real RFC 3161 token signed
/// with the DevPki `tsa` key; no HTTP).
const TIMESTAMP: &str = r#"
import sys
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
inp, out, key, cert, field = sys.argv[1:6]
tsa = DummyTimeStamper(tsa_cert=load_cert_from_pemder(cert),
                       tsa_key=load_private_key_from_pemder(key, passphrase=None))
with open(inp, 'rb') as f:
    w = IncrementalPdfFileWriter(f)
    with open(out, 'wb') as o:
        signers.PdfTimeStamper(tsa, field_name=field).timestamp_pdf(w, 'sha256', output=o)
"#;

fn python(script: &str, args: &[&str]) -> String {
    run(Command::new(pyhanko_bin().join("python"))
        .arg("-c")
        .arg(script)
        .args(args))
}

/// Signs `pdf` as DevPki signer `signer` into a new field; returns the signed file.
pub fn pyhanko_sign(
    pki_dir: &Path,
    pdf: &[u8],
    signer: &str,
    field: &str,
    certify: Option<u8>,
) -> Vec<u8> {
    let work = tempfile(pki_dir, "sign-in.pdf", pdf);
    let out = pki_dir.join("sign-out.pdf");
    let signers = pki_dir.join("signers");
    python(
        SIGN,
        &[
            s(&work),
            s(&out),
            s(&signers.join(format!("{signer}.key.pem"))),
            s(&signers.join(format!("{signer}.pem"))),
            s(&signers.join(format!("{signer}.chain.pem"))),
            field,
            &certify.unwrap_or(0).to_string(),
        ],
    );
    std::fs::read(out).expect("pyHanko's output")
}

pub fn pyhanko_timestamp(pki_dir: &Path, pdf: &[u8], field: &str) -> Vec<u8> {
    let work = tempfile(pki_dir, "ts-in.pdf", pdf);
    let out = pki_dir.join("ts-out.pdf");
    let signers = pki_dir.join("signers");
    python(
        TIMESTAMP,
        &[
            s(&work),
            s(&out),
            s(&signers.join("tsa.key.pem")),
            s(&signers.join("tsa.pem")),
            field,
        ],
    );
    std::fs::read(out).expect("pyHanko's output")
}

/// `pyhanko sign validate --executive-summary` on `pdf`, trusting the DevPki roots:
/// `(exit code 0, its output)`. pyHanko validates every signature and fails the run
/// when one fails.
pub fn pyhanko_validate(pki_dir: &Path, pdf: &[u8]) -> (bool, String) {
    let file = tempfile(pki_dir, "validate.pdf", pdf);
    // `python -m pyhanko`, not the `pyhanko` script: the venv is built under a staging
    // name and renamed, and a console script's shebang keeps the staging path.
    let output = Command::new(pyhanko_bin().join("python"))
        .args([
            "-m",
            "pyhanko",
            "sign",
            "validate",
            "--executive-summary",
            "--no-revocation-check",
            "--trust-replace",
        ])
        .arg("--trust")
        .arg(pki_dir.join("trust/public/vnrca-test.pem"))
        .arg("--trust")
        .arg(pki_dir.join("trust/government/rootca-cp-test.pem"))
        .arg("--other-certs")
        .arg(pki_dir.join("intermediates/vnpt-ca-test.pem"))
        .arg("--other-certs")
        .arg(pki_dir.join("intermediates/cpca-test.pem"))
        .arg(&file)
        .output()
        .expect("run pyhanko");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn tempfile(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a temp file");
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

// ---------------------------------------------------------------- openssl CMS check

/// A test-only CMS check until the real CMS verifier lands: `openssl cms -verify
/// -binary -inform DER -content <ranges> -noverify` decides the signature (hash and
/// signature value; no chain). The ranges file is cut from `pdf` by the test itself
/// (from the signature dictionary's own `/ByteRange`, found next to the DER in the
/// file), and the digest govgate streamed is compared with it, so the check also
/// proves that govgate hashed exactly those bytes.
pub fn openssl_cms_check(
    pdf: &[u8],
    dir: &Path,
    der: &[u8],
    content: &mut dyn SignedContent,
) -> SignatureReport {
    let mut report = SignatureReport::new("cms", std::time::SystemTime::now());
    let Some(ranges) = ranges_next_to(pdf, der) else {
        report.fail(ChainFailure::new(
            SubIndication::FormatFailure,
            "the test check found no /ByteRange",
        ));
        return report;
    };
    let streamed = content
        .digests(&[DigestAlgorithm::Sha256])
        .expect("digests");
    if streamed[0] != DigestAlgorithm::Sha256.digest(&ranges) {
        report.fail(ChainFailure::new(
            SubIndication::HashFailure,
            "govgate streamed other bytes than the /ByteRange names",
        ));
        return report;
    }
    let der_file = tempfile(dir, "check.p7s", der);
    let content_file = tempfile(dir, "check.content", &ranges);
    let output = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-noverify",
            "-out",
            "/dev/null",
            "-in",
        ])
        .arg(&der_file)
        .arg("-content")
        .arg(&content_file)
        .output()
        .expect("run openssl");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let sub = if stderr.contains("digest failure") || stderr.contains("content verify error") {
            SubIndication::HashFailure
        } else {
            SubIndication::SigCryptoFailure
        };
        report.fail(ChainFailure::new(
            sub,
            format!("openssl cms -verify: {}", stderr.trim()),
        ));
    }
    report
}

/// The bytes the `/ByteRange` of the signature whose `/Contents` holds `der` names.
pub fn ranges_next_to(pdf: &[u8], der: &[u8]) -> Option<Vec<u8>> {
    let upper: String = der.iter().map(|b| format!("{b:02X}")).collect();
    let lower = upper.to_lowercase();
    let at = find_all(pdf, upper.as_bytes())
        .next()
        .or_else(|| find_all(pdf, lower.as_bytes()).next())?;
    // The dictionary's /ByteRange follows /Contents closely (pyHanko) or precedes it.
    let string_end = at + pdf[at..].iter().position(|b| *b == b'>')?;
    let after = find_all(&pdf[string_end..], b"/ByteRange")
        .next()
        .filter(|p| *p < 512)
        .map(|p| string_end + p);
    let window_start = at.saturating_sub(4096);
    let before = find_all(&pdf[window_start..at], b"/ByteRange")
        .last()
        .map(|p| window_start + p);
    let ([a, b, c, d], _) = byte_range_at(pdf, after.or(before)?)?;
    let mut out = pdf.get(a..a.checked_add(b)?)?.to_vec();
    out.extend_from_slice(pdf.get(c..c.checked_add(d)?)?);
    Some(out)
}
