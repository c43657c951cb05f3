//! Signed documents through a real gateway process: `POST /api/v1/signatures/verify`
//! (session + the shipped `signature_verify` policy, raw and multipart bodies) and an
//! app's signature guard in front of a real upstream (422 with the report for what does
//! not verify, signer headers that a client cannot forge for what does). Signatures are
//! made by `openssl cms -sign` with the development PKI.

mod support;

use std::path::{Path, PathBuf};

use govgate::demo::{DemoApps, RequestSeen};
use support::browser::{Browser, Page};
use support::cms::CmsFixture;
use support::gateway::Gateway;

const PORTAL: &str = "http://sso.namdinh.gov.vn";
const LIEN_THONG: &str = "http://lienthong.namdinh.gov.vn";
const VERIFY: &str = "/api/v1/signatures/verify";

struct Setup {
    gateway: Gateway,
    /// The development PKI the gateway trusts, and openssl signing with it.
    cms: CmsFixture,
    work: tempfile::TempDir,
    _demo: DemoApps,
}

fn setup() -> Setup {
    govgate::install_crypto_provider();
    let demo = DemoApps::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("examples/users.toml"),
        dir.path().join("users.toml"),
    )
    .unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(policies.join("tests")).unwrap();
    for file in ["schema.cedarschema", "roles.toml", "chu-ky-so.cedar"] {
        std::fs::copy(root.join("policies").join(file), policies.join(file)).unwrap();
    }
    std::fs::write(policies.join("routes.toml"), "").unwrap();
    std::fs::write(policies.join("lien-thong.cedar"), LIEN_THONG_POLICY).unwrap();
    let cms = CmsFixture::new();
    let config = format!(
        r#"
[portal]
public_url = "{PORTAL}"
[directory]
backend = "file"
[directory.file]
path = "users.toml"
[policy]
dir = "policies"
[signatures]
trust_dir = {trust_dir:?}
max_document = "1MiB"

[[apps]]
id = "lien-thong"
name = "Trục liên thông văn bản"
hosts = ["lienthong.namdinh.gov.vn"]
upstreams = ["http://{upstream}"]
access = "public"
[apps.require_signature]
paths = ["/nhan"]
trust_lists = ["public"]
"#,
        upstream = demo.one_stop_shop,
        trust_dir = cms.pki.dir,
    );
    let gateway = Gateway::start_in(dir, &config);
    Setup {
        gateway,
        cms,
        work: tempfile::tempdir().unwrap(),
        _demo: demo,
    }
}

/// Everyone may reach the public exchange app (its guard decides on signatures).
const LIEN_THONG_POLICY: &str = r#"
@id("lien-thong-cong-khai")
permit(principal, action, resource in App::"lien-thong");
"#;

impl Setup {
    fn logged_in(&self, username: &str, password: &str) -> Browser {
        let browser = Browser::new(&self.gateway);
        let page = browser.login(PORTAL, username, password, "");
        assert!(
            page.status == 302 || page.status == 303,
            "login {username}: {}",
            page.status
        );
        browser
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.work.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `openssl cms -sign` by dev signer `signer` over `content`, attached
    /// (`-nodetach`) or detached, DER.
    fn cms_sign(&self, signer: &str, content: &Path, attached: bool) -> PathBuf {
        let out = format!("{signer}-{attached}.p7s");
        let mode: &[&str] = if attached { &["-nodetach"] } else { &[] };
        self.cms.sign(&out, content, &self.cms.signer(signer), mode)
    }
}

fn report(page: &Page) -> serde_json::Value {
    serde_json::from_str(&page.body).unwrap_or_else(|_| panic!("JSON report: {}", page.body))
}

fn audit_records(gateway: &Gateway, event: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(gateway.data_dir().join("audit.log")).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| record["event"] == event)
        .collect()
}

#[test]
fn the_api_wants_a_session_and_the_signature_verify_permission() {
    let setup = setup();
    let document = setup.file("vb.txt", b"Cong van so 12/UBND");
    let signed = setup.cms_sign("an", &document, true);
    let url = format!("{PORTAL}{VERIFY}");

    let anonymous = Browser::new(&setup.gateway).post_file(&url, &signed, &[]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    // dmquan is an IT administrator only: chu-ky-so.cedar does not grant it.
    let administrator = setup.logged_in("dmquan", "QuanTri@2024");
    let refused = administrator.post_file(&url, &signed, &[]);
    assert_eq!(refused.status, 403, "{}", refused.body);

    let clerk = setup.logged_in("lvcuong", "VanThu@2024");
    let wrong_method = clerk.get(&url);
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
}

#[test]
fn the_api_verifies_attached_and_detached_cms_and_reports_tampering() {
    let setup = setup();
    let clerk = setup.logged_in("lvcuong", "VanThu@2024");
    let url = format!("{PORTAL}{VERIFY}");
    let document = setup.file("qd.txt", "Quyết định số 123/QĐ-UBND".as_bytes());

    let attached = setup.cms_sign("an", &document, true);
    let page = clerk.post_file(&url, &attached, &["Content-Type: application/pkcs7-mime"]);
    assert_eq!(page.status, 200, "{}", page.body);
    let verdict = report(&page);
    assert_eq!(verdict["indication"], "TOTAL_PASSED", "{verdict:#}");
    assert_eq!(
        verdict["signatures"][0]["signer"]["common_name"],
        "Nguyễn Văn An"
    );
    assert_eq!(verdict["signatures"][0]["trust_list"], "public");

    let detached = setup.cms_sign("an", &document, false);
    let page = clerk.post_multipart(&url, &[("signature", &detached), ("content", &document)]);
    assert_eq!(report(&page)["indication"], "TOTAL_PASSED", "{}", page.body);

    let altered = setup.file("qd-sua.txt", "Quyết định số 124/QĐ-UBND".as_bytes());
    let page = clerk.post_multipart(&url, &[("signature", &detached), ("content", &altered)]);
    let verdict = report(&page);
    assert_eq!(verdict["indication"], "TOTAL_FAILED", "{verdict:#}");
    assert_eq!(verdict["sub_indication"], "HASH_FAILURE");

    let records = audit_records(&setup.gateway, "signature_checked");
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(records[0]["actor"], "lvcuong");
    assert_eq!(records[2]["outcome"], "failure");
    assert!(
        !std::fs::read_to_string(setup.gateway.data_dir().join("audit.log"))
            .unwrap()
            .contains("Quyết định"),
        "the audit log holds digests, never documents"
    );
}

#[test]
fn the_api_refuses_malformed_forms_and_oversized_bodies_clearly() {
    let setup = setup();
    let clerk = setup.logged_in("lvcuong", "VanThu@2024");
    let url = format!("{PORTAL}{VERIFY}");
    let document = setup.file("x.txt", b"x");
    let page = clerk.post_multipart(&url, &[("signature", &document)]);
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("content part"), "{}", page.body);
    let page = clerk.post_multipart(&url, &[("tep", &document)]);
    assert_eq!(page.status, 400, "{}", page.body);

    let oversized = setup.file("big.bin", &vec![b'x'; 1024 * 1024 + 1]);
    let page = clerk.post_file(&url, &oversized, &[]);
    assert_eq!(page.status, 413, "{}", page.body);

    let garbage = setup.file("garbage.bin", &[0x30, 0x82, 0xff, 0xff, 0x01]);
    let page = clerk.post_file(&url, &garbage, &[]);
    assert_eq!(page.status, 200);
    let verdict = report(&page);
    assert_eq!(verdict["indication"], "TOTAL_FAILED", "{verdict:#}");
    assert_eq!(verdict["sub_indication"], "FORMAT_FAILURE");
}

#[test]
fn the_guard_refuses_what_does_not_verify_before_it_reaches_the_app() {
    let setup = setup();
    let browser = Browser::new(&setup.gateway);
    let unsigned = setup.file("msg.xml", b"<edXMLEnvelope/>");
    let page = browser.post_file(&format!("{LIEN_THONG}/nhan/api/request"), &unsigned, &[]);
    assert_eq!(page.status, 422, "{}", page.body);
    assert_eq!(page.header("x-demo-app"), None, "the app never saw it");
    let body = report(&page);
    assert_eq!(body["error"], "signature_required");
    assert_ne!(body["report"]["indication"], "TOTAL_PASSED");

    // Outside the guarded paths, and for methods it does not cover, requests stream through.
    let open = browser.post_file(&format!("{LIEN_THONG}/tra-cuu/api/request"), &unsigned, &[]);
    assert_eq!(open.status, 200, "{}", open.body);
    let read = browser.get(&format!("{LIEN_THONG}/nhan/api/request"));
    assert_eq!(read.status, 200, "{}", read.body);

    // A signer from the wrong trust list is refused even though the signature holds.
    let document = setup.file("cv.txt", b"Cong van lien thong");
    let government = setup.cms_sign("so-tnmt", &document, true);
    let page = browser.post_file(&format!("{LIEN_THONG}/nhan/api/request"), &government, &[]);
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(
        report(&page)["message"]
            .as_str()
            .unwrap()
            .contains("trust list"),
        "{}",
        page.body
    );
    let records = audit_records(&setup.gateway, "signature_checked");
    assert!(
        records
            .iter()
            .all(|record| record["details"]["via"] == "guard:lien-thong"),
        "{records:#?}"
    );
}

#[test]
fn the_guard_forwards_a_signed_body_with_signer_headers_a_client_cannot_forge() {
    let setup = setup();
    let browser = Browser::new(&setup.gateway);
    let document = setup.file("cv.txt", "Công văn liên thông".as_bytes());
    let attached = setup.cms_sign("an", &document, true);
    let page = browser.post_file(
        &format!("{LIEN_THONG}/nhan/api/request"),
        &attached,
        &[
            "X-Govgate-Signer: Ke Gia Mao",
            "X-Govgate-Signer-Trust-List: government",
        ],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let seen: RequestSeen = serde_json::from_str(&page.body).unwrap();
    let header = |name: &str| -> Vec<&str> {
        seen.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    };
    assert_eq!(header("x-govgate-signer"), ["Nguy%E1%BB%85n V%C4%83n An"]);
    assert_eq!(header("x-govgate-signer-trust-list"), ["public"]);
    assert_eq!(
        header("x-govgate-signer-identifiers"),
        ["CCCD:027090001234"]
    );
    assert_eq!(header("x-govgate-signature-format"), ["cms"]);

    // A detached signature in the header; the body reaches the app byte for byte.
    let detached = setup.cms_sign("an", &document, false);
    let signature = base64_file(&detached);
    let page = browser.post_file(
        &format!("{LIEN_THONG}/nhan/echo"),
        &document,
        &[&format!("X-Detached-Signature: {signature}")],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body, "Công văn liên thông");
    let altered = setup.file("cv2.txt", "Công văn đã sửa".as_bytes());
    let page = browser.post_file(
        &format!("{LIEN_THONG}/nhan/echo"),
        &altered,
        &[&format!("X-Detached-Signature: {signature}")],
    );
    assert_eq!(page.status, 422, "{}", page.body);
}

fn base64_file(path: &Path) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}
