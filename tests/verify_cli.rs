//! `govgate verify` as an operator runs it: the real binary on files signed by
//! `openssl cms -sign` with the development PKI. Exit codes (0 only when every file is
//! TOTAL_PASSED, 1 otherwise, 2 when the run cannot start), one JSON report per file in
//! order, the Vietnamese and English text forms, --detached, --trust and --at.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::cms::CmsFixture;

struct Run {
    cms: CmsFixture,
}

impl Run {
    fn new() -> Run {
        govgate::install_crypto_provider();
        Run {
            cms: CmsFixture::new(),
        }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.cms.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn signed(&self, name: &str, content: &[u8], signer: &str) -> PathBuf {
        let content = self.file(&format!("{name}.txt"), content);
        self.cms.sign(
            &format!("{name}.p7s"),
            &content,
            &self.cms.signer(signer),
            &["-nodetach"],
        )
    }

    /// `govgate verify --trust-dir <dev pki> ARGS`.
    fn verify(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_govgate"))
            .arg("verify")
            .arg("--trust-dir")
            .arg(&self.cms.pki.dir)
            .args(args)
            .output()
            .expect("run govgate")
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn exit_zero_only_when_every_file_passes_and_json_has_one_report_per_file_in_order() {
    let run = Run::new();
    let good = run.signed("qd-1", "Quyết định 1".as_bytes(), "an");
    let other = run.signed("qd-2", "Quyết định 2".as_bytes(), "so-tnmt");
    let passed = run.verify(&[path(&good), path(&other)]);
    assert_eq!(passed.status.code(), Some(0), "{}", stdout(&passed));

    let mut tampered = std::fs::read(&good).unwrap();
    let at = tampered
        .windows(4)
        .position(|window| window == "Quyế".as_bytes().get(..4).unwrap())
        .expect("the attached content is inside");
    tampered[at] ^= 0x01;
    let tampered = run.file("qd-1-sua.p7s", &tampered);
    let missing = run.cms.path("khong-co.p7s");
    let output = run.verify(&["--json", path(&good), path(&tampered), path(&missing)]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let reports: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0]["document"], path(&good));
    assert_eq!(reports[0]["indication"], "TOTAL_PASSED");
    assert_eq!(reports[1]["indication"], "TOTAL_FAILED");
    assert_eq!(reports[1]["sub_indication"], "HASH_FAILURE");
    assert_eq!(reports[2]["sub_indication"], "FORMAT_FAILURE");
    assert!(
        reports[2]["errors"][0]
            .as_str()
            .unwrap()
            .contains("cannot read"),
        "{:#}",
        reports[2]
    );
}

#[test]
fn the_text_report_is_vietnamese_by_default_and_english_on_request() {
    let run = Run::new();
    let good = run.signed("cv", b"Cong van", "so-tnmt");
    let vietnamese = stdout(&run.verify(&[path(&good)]));
    assert!(vietnamese.contains("HỢP LỆ (TOTAL_PASSED)"), "{vietnamese}");
    assert!(
        vietnamese.contains("Định danh: MST:2300100123"),
        "{vietnamese}"
    );
    assert!(
        vietnamese.contains("Danh sách tin cậy: government"),
        "{vietnamese}"
    );
    let english = stdout(&run.verify(&["--lang", "en", path(&good)]));
    assert!(english.contains("VALID (TOTAL_PASSED)"), "{english}");
    assert!(english.contains("Trust list: government"), "{english}");
}

#[test]
fn a_detached_signature_is_checked_against_the_streamed_content() {
    let run = Run::new();
    let content = run.file("to-trinh.txt", "Tờ trình số 5".as_bytes());
    let signature = run
        .cms
        .sign("to-trinh.p7s", &content, &run.cms.signer("an"), &[]);
    let output = run.verify(&["--detached", path(&signature), path(&content)]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let altered = run.file("to-trinh-sua.txt", "Tờ trình số 6".as_bytes());
    let output = run.verify(&["--detached", path(&signature), path(&altered)]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("HASH_FAILURE"),
        "{}",
        stdout(&output)
    );
    let two = run.verify(&[
        "--detached",
        path(&signature),
        path(&content),
        path(&altered),
    ]);
    assert_eq!(two.status.code(), Some(2), "--detached takes one FILE");
}

#[test]
fn trust_comes_from_the_store_or_from_trust_and_at_moves_the_validation_time() {
    let run = Run::new();
    let good = run.signed("cv", b"Cong van", "an");
    // Only the government root trusted: the public signer has no chain.
    let government_root = run.cms.path("trust/government/rootca-cp-test.pem");
    let output = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args([
            "verify",
            "--no-trust-dir",
            "--trust",
            path(&government_root),
            "--json",
        ])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let reports: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reports[0]["sub_indication"], "NO_CERTIFICATE_CHAIN_FOUND");

    // Twenty years on, the signer's certificate has expired.
    let output = run.verify(&["--at", "2046-01-01T00:00:00+07:00", "--json", path(&good)]);
    assert_eq!(output.status.code(), Some(1));
    let reports: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reports[0]["indication"], "TOTAL_FAILED", "{:#}", reports[0]);
    assert_eq!(reports[0]["sub_indication"], "EXPIRED");

    let bad_time = run.verify(&["--at", "hôm qua", path(&good)]);
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("RFC 3339"));
    let no_store = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(["verify", "--trust-dir", "/khong/co/thu-muc"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(no_store.status.code(), Some(2));
}

#[test]
fn revocation_is_checked_against_the_trust_stores_crls() {
    let run = Run::new();
    let good = run.signed("cv", b"Cong van", "an");
    let revoked = run.signed("cv-thu-hoi", b"Cong van", "revoked");
    let output = run.verify(&["--offline", "--json", path(&good), path(&revoked)]);
    assert_eq!(output.status.code(), Some(1));
    let reports: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let revocation = &reports[0]["signatures"][0]["revocation"];
    assert_eq!(revocation["status"], "GOOD", "{revocation:#}");
    assert!(revocation["sources"][0]
        .as_str()
        .unwrap()
        .contains("vnpt-ca-test.crl"));
    assert_eq!(reports[1]["indication"], "TOTAL_FAILED", "{:#}", reports[1]);
    assert_eq!(reports[1]["sub_indication"], "REVOKED");
}
