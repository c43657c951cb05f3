//! Chain validation against the development PKI (`pki::dev`), the shipped Vietnamese
//! roots, and `openssl verify` as the independent reference.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use govgate::pki::dev::DevPki;
use govgate::pki::ChainFailure;
use govgate::pki::{ChainRequest, CryptoPolicy, SubIndication, TrustStore, Usage, ValidChain};

struct Fixture {
    _dir: tempfile::TempDir,
    pki: DevPki,
    store: TrustStore,
    now: SystemTime,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    // A little ahead of the clock, so that certificates the tests issue with `openssl`
    // after generation (valid from their own "now") are valid at the validation time.
    let now = SystemTime::now() + Duration::from_secs(120);
    let pki = DevPki::generate(dir.path(), now).unwrap();
    let (store, warnings) = TrustStore::load(dir.path()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    Fixture {
        _dir: dir,
        pki,
        store,
        now,
    }
}

impl Fixture {
    fn validate(
        &self,
        leaf: &[u8],
        usage: Usage,
        policy: &CryptoPolicy,
    ) -> Result<ValidChain, ChainFailure> {
        self.store
            .validate(&ChainRequest::new(leaf, &[], self.now, usage, policy))
    }

    fn signer(&self, name: &str) -> Result<ValidChain, ChainFailure> {
        self.validate(
            &self.pki.der(name),
            Usage::DocumentSigning,
            &CryptoPolicy::default(),
        )
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.pki.dir.join(relative)
    }

    /// `openssl verify -purpose any` at the fixture's time, with the dev roots trusted
    /// and `untrusted` offered as intermediates.
    fn openssl_verify(&self, leaf: &Path, roots: &[&str], untrusted: &[&str]) -> bool {
        let roots_bundle = self.path("openssl-roots.pem");
        let mut pem = String::new();
        for root in roots {
            pem.push_str(&std::fs::read_to_string(self.path(root)).unwrap());
        }
        std::fs::write(&roots_bundle, pem).unwrap();
        let at = self
            .now
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let mut command = Command::new("openssl");
        command
            .args(["verify", "-purpose", "any", "-attime", &at, "-CAfile"])
            .arg(&roots_bundle);
        for intermediate in untrusted {
            command.arg("-untrusted").arg(self.path(intermediate));
        }
        let output = command
            .arg(leaf)
            .output()
            .expect("openssl is installed by scripts/test");
        output.status.success()
    }
}

const PUBLIC_ROOT: &str = "trust/public/vnrca-test.pem";
const GOVERNMENT_ROOT: &str = "trust/government/rootca-cp-test.pem";
const VNPT_CA: &str = "intermediates/vnpt-ca-test.pem";

fn sub_indication(result: Result<ValidChain, ChainFailure>) -> SubIndication {
    match result {
        Ok(chain) => panic!(
            "accepted: {:?}",
            chain
                .certificates
                .iter()
                .map(|c| &c.subject)
                .collect::<Vec<_>>()
        ),
        Err(failure) => failure.sub_indication,
    }
}

fn common_names(chain: &ValidChain) -> Vec<&str> {
    chain
        .certificates
        .iter()
        .map(|certificate| certificate.common_name.as_deref().unwrap_or("-"))
        .collect()
}

#[test]
fn signers_validate_to_the_trust_list_of_their_root() {
    let fixture = fixture();
    let an = fixture.signer("an").unwrap();
    assert_eq!(an.trust_list, "public");
    assert_eq!(
        common_names(&an),
        [
            "Nguyễn Văn An",
            "VNPT-CA (thử nghiệm)",
            "Vietnam National Root CA (thử nghiệm)"
        ]
    );
    assert_eq!(an.certificates[0].identifiers, ["CCCD:027090001234"]);

    let department = fixture.signer("so-tnmt").unwrap();
    assert_eq!(department.trust_list, "government");
    assert_eq!(department.certificates[0].identifiers, ["MST:2300100123"]);
    assert_eq!(
        department.certificates[0].organisation.as_deref(),
        Some("Sở Tài nguyên và Môi trường tỉnh Bắc Ninh")
    );
    assert_eq!(
        common_names(&department)[1],
        "CA phục vụ các cơ quan Nhà nước (thử nghiệm)"
    );
    assert!(fixture.signer("ecdsa").is_ok(), "ECDSA P-256 signer");
}

#[test]
fn expired_and_not_yet_valid_signers_are_refused() {
    let fixture = fixture();
    assert_eq!(
        sub_indication(fixture.signer("expired")),
        SubIndication::Expired
    );
    assert_eq!(
        sub_indication(fixture.signer("not-yet-valid")),
        SubIndication::NotYetValid
    );
}

#[test]
fn a_signer_without_digital_signature_or_non_repudiation_is_refused() {
    let fixture = fixture();
    assert_eq!(
        sub_indication(fixture.signer("wrong-ku")),
        SubIndication::ChainConstraintsFailure
    );
}

#[test]
fn usages_follow_the_extended_key_usage() {
    let fixture = fixture();
    let policy = CryptoPolicy::default();
    assert!(fixture
        .validate(&fixture.pki.der("tsa"), Usage::Timestamping, &policy)
        .is_ok());
    assert!(fixture
        .validate(&fixture.pki.der("ocsp-vnpt"), Usage::OcspSigning, &policy)
        .is_ok());
    // A document signer is not a TSA, and a TSA does not sign documents.
    let an_as_tsa = fixture.validate(&fixture.pki.der("an"), Usage::Timestamping, &policy);
    assert_eq!(
        sub_indication(an_as_tsa),
        SubIndication::ChainConstraintsFailure
    );
    let tsa_as_signer = fixture.validate(&fixture.pki.der("tsa"), Usage::DocumentSigning, &policy);
    assert_eq!(
        sub_indication(tsa_as_signer),
        SubIndication::ChainConstraintsFailure
    );
}

#[test]
fn a_missing_intermediate_means_no_chain_and_a_supplied_one_completes_it() {
    let fixture = fixture();
    let mut anchors_only = TrustStore::empty();
    anchors_only
        .add_anchor("public", fixture.pki.der("vnrca-test"))
        .unwrap();
    let leaf = fixture.pki.der("an");
    let policy = CryptoPolicy::default();
    let bare = ChainRequest::new(&leaf, &[], fixture.now, Usage::DocumentSigning, &policy);
    assert_eq!(
        sub_indication(anchors_only.validate(&bare)),
        SubIndication::NoCertificateChainFound
    );

    let embedded = vec![
        fixture.pki.der("cpca-test"),
        fixture.pki.der("vnpt-ca-test"),
    ];
    let with_intermediates = ChainRequest::new(
        &leaf,
        &embedded,
        fixture.now,
        Usage::DocumentSigning,
        &policy,
    );
    assert_eq!(
        anchors_only
            .validate(&with_intermediates)
            .unwrap()
            .trust_list,
        "public"
    );
}

#[test]
fn a_chain_to_an_untrusted_root_is_refused() {
    let fixture = fixture();
    let mut government_only = TrustStore::empty();
    government_only
        .add_anchor("government", fixture.pki.der("rootca-cp-test"))
        .unwrap();
    let leaf = fixture.pki.der("an");
    let supplied = vec![fixture.pki.der("vnpt-ca-test")];
    let policy = CryptoPolicy::default();
    let request = ChainRequest::new(
        &leaf,
        &supplied,
        fixture.now,
        Usage::DocumentSigning,
        &policy,
    );
    assert_eq!(
        sub_indication(government_only.validate(&request)),
        SubIndication::NoCertificateChainFound
    );
}

#[test]
fn garbage_as_a_leaf_is_a_format_failure() {
    let fixture = fixture();
    let policy = CryptoPolicy::default();
    for garbage in [&b""[..], b"\x30\x03\x02\x01\x01", &[0xff; 64]] {
        let result = fixture.validate(garbage, Usage::DocumentSigning, &policy);
        assert_eq!(sub_indication(result), SubIndication::FormatFailure);
    }
}

/// Issues a certificate under a dev CA with the `openssl` command (which, unlike rcgen,
/// still signs with SHA-1 and makes RSA-1024 keys).
fn openssl_issue(
    fixture: &Fixture,
    name: &str,
    ca: &str,
    key_spec: &str,
    digest: &str,
    extensions: &str,
) -> PathBuf {
    let dir = fixture.path("openssl");
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join(format!("{name}.key.pem"));
    let csr = dir.join(format!("{name}.csr"));
    let cert = dir.join(format!("{name}.pem"));
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(&ext, extensions).unwrap();
    run_openssl(
        &[
            "req",
            "-new",
            "-newkey",
            key_spec,
            "-nodes",
            "-subj",
            &format!("/C=VN/O=Thử nghiệm/CN={name}"),
            "-utf8",
        ],
        &[("-keyout", &key), ("-out", &csr)],
    );
    let ca_cert = fixture.pki.cert(ca).unwrap().cert_path.clone();
    let ca_key = fixture.pki.cert(ca).unwrap().key_path.clone();
    run_openssl(
        &[
            "x509",
            "-req",
            "-days",
            "30",
            "-set_serial",
            "4242",
            &format!("-{digest}"),
        ],
        &[
            ("-in", &csr),
            ("-CA", &ca_cert),
            ("-CAkey", &ca_key),
            ("-extfile", &ext),
            ("-out", &cert),
        ],
    );
    cert
}

fn run_openssl(args: &[&str], paths: &[(&str, &Path)]) {
    let mut command = Command::new("openssl");
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command
        .output()
        .expect("openssl is installed by scripts/test");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const SIGNER_EXTENSIONS: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";
const SUB_CA_EXTENSIONS: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

fn der_of(path: &Path) -> Vec<u8> {
    pem::parse(std::fs::read(path).unwrap())
        .unwrap()
        .into_contents()
}

#[test]
fn sha1_and_rsa_1024_are_crypto_constraints_failures_unless_legacy_is_allowed() {
    let fixture = fixture();
    let sha1 = der_of(&openssl_issue(
        &fixture,
        "sha1-signer",
        "vnpt-ca-test",
        "rsa:2048",
        "sha1",
        SIGNER_EXTENSIONS,
    ));
    let rsa1024 = der_of(&openssl_issue(
        &fixture,
        "rsa1024-signer",
        "vnpt-ca-test",
        "rsa:1024",
        "sha256",
        SIGNER_EXTENSIONS,
    ));
    for leaf in [&sha1, &rsa1024] {
        let strict = fixture.validate(leaf, Usage::DocumentSigning, &CryptoPolicy::default());
        assert_eq!(
            sub_indication(strict),
            SubIndication::CryptoConstraintsFailure
        );
        let legacy = fixture.validate(leaf, Usage::DocumentSigning, &CryptoPolicy::LEGACY);
        assert_eq!(legacy.unwrap().trust_list, "public");
    }
}

#[test]
fn a_path_longer_than_the_intermediate_allows_is_refused() {
    let fixture = fixture();
    // vnpt-ca-test has pathLenConstraint 0: it may not certify another CA.
    let sub_ca = openssl_issue(
        &fixture,
        "sub-ca",
        "vnpt-ca-test",
        "rsa:2048",
        "sha256",
        SUB_CA_EXTENSIONS,
    );
    let sub_ca_key = fixture.path("openssl/sub-ca.key.pem");
    let leaf_key = fixture.path("openssl/deep.key.pem");
    let csr = fixture.path("openssl/deep.csr");
    let leaf = fixture.path("openssl/deep.pem");
    std::fs::write(fixture.path("openssl/deep.ext"), SIGNER_EXTENSIONS).unwrap();
    run_openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/C=VN/CN=deep",
        ],
        &[("-keyout", &leaf_key), ("-out", &csr)],
    );
    run_openssl(
        &[
            "x509",
            "-req",
            "-days",
            "30",
            "-set_serial",
            "77",
            "-sha256",
        ],
        &[
            ("-in", &csr),
            ("-CA", &sub_ca),
            ("-CAkey", &sub_ca_key),
            ("-extfile", &fixture.path("openssl/deep.ext")),
            ("-out", &leaf),
        ],
    );
    let leaf_der = der_of(&leaf);
    let supplied = vec![der_of(&sub_ca)];
    let policy = CryptoPolicy::default();
    let request = ChainRequest::new(
        &leaf_der,
        &supplied,
        fixture.now,
        Usage::DocumentSigning,
        &policy,
    );
    assert_eq!(
        sub_indication(fixture.store.validate(&request)),
        SubIndication::ChainConstraintsFailure
    );
    // openssl agrees.
    let sub_ca_relative = "openssl/sub-ca.pem";
    let untrusted_bundle = fixture.path("openssl/untrusted.pem");
    let bundle = format!(
        "{}{}",
        std::fs::read_to_string(fixture.path(sub_ca_relative)).unwrap(),
        std::fs::read_to_string(fixture.path(VNPT_CA)).unwrap()
    );
    std::fs::write(&untrusted_bundle, bundle).unwrap();
    assert!(!fixture.openssl_verify(&leaf, &[PUBLIC_ROOT], &["openssl/untrusted.pem"]));
}

#[test]
fn verdicts_agree_with_openssl_verify() {
    let fixture = fixture();
    let signer = |name: &str| fixture.path(&format!("signers/{name}.pem"));
    // (leaf, govgate accepts, roots, intermediates offered)
    let cases: [(&str, &[&str], &[&str]); 5] = [
        ("an", &[PUBLIC_ROOT, GOVERNMENT_ROOT], &[VNPT_CA]),
        ("expired", &[PUBLIC_ROOT], &[VNPT_CA]),
        ("not-yet-valid", &[PUBLIC_ROOT], &[VNPT_CA]),
        ("an", &[PUBLIC_ROOT], &[]),            // missing intermediate
        ("an", &[GOVERNMENT_ROOT], &[VNPT_CA]), // untrusted root
    ];
    for (name, roots, untrusted) in cases {
        let mut store = TrustStore::empty();
        for root in roots {
            store
                .add_anchor("list", der_of(&fixture.path(root)))
                .unwrap();
        }
        let leaf = fixture.pki.der(name);
        let supplied: Vec<Vec<u8>> = untrusted
            .iter()
            .map(|path| der_of(&fixture.path(path)))
            .collect();
        let policy = CryptoPolicy::default();
        let request = ChainRequest::new(
            &leaf,
            &supplied,
            fixture.now,
            Usage::DocumentSigning,
            &policy,
        );
        let govgate = store.validate(&request).is_ok();
        let openssl = fixture.openssl_verify(&signer(name), roots, untrusted);
        assert_eq!(
            govgate, openssl,
            "{name} with roots {roots:?} and {untrusted:?}"
        );
    }
    // Deliberately stricter than `openssl verify -purpose any`: a signer whose keyUsage
    // is keyEncipherment only cannot sign documents (openssl's "any" purpose ignores it),
    // and RSA-1024 is below Circular 15/2025's minimum (openssl's security level 1
    // accepts 80-bit keys).
    assert!(fixture.openssl_verify(&signer("wrong-ku"), &[PUBLIC_ROOT], &[VNPT_CA]));
    assert!(fixture.signer("wrong-ku").is_err());
    let rsa1024 = openssl_issue(
        &fixture,
        "rsa1024",
        "vnpt-ca-test",
        "rsa:1024",
        "sha256",
        SIGNER_EXTENSIONS,
    );
    assert!(fixture.openssl_verify(&rsa1024, &[PUBLIC_ROOT], &[VNPT_CA]));
    assert!(fixture
        .validate(
            &der_of(&rsa1024),
            Usage::DocumentSigning,
            &CryptoPolicy::default()
        )
        .is_err());
}

#[test]
fn the_shipped_vietnamese_roots_load_into_two_trust_lists() {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
    let (store, warnings) = TrustStore::load(&certs).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(store.trust_lists(), vec!["government", "public"]);
    let fingerprints: Vec<(&str, &str)> = store
        .anchors()
        .iter()
        .map(|anchor| {
            (
                anchor.list.as_str(),
                anchor.info.sha256_fingerprint.as_str(),
            )
        })
        .collect();
    for expected in [
        ("public", "BA:C8:BF:60:9A:B4:20:A8:EE:17:80:D7:4F:4D:E5:C7:F7:18:49:59:D2:A7:37:5B:0A:75:E4:C2:9F:09:08:E7"),
        ("public", "7B:32:69:E7:D7:9A:EB:BF:AE:50:95:F4:5B:BB:70:74:77:1E:69:0C:B7:DF:02:B4:41:06:2B:12:F7:69:0E:CE"),
        ("public", "CA:91:8D:63:5B:B1:30:BE:C9:76:39:E6:AA:BF:7E:DB:C4:EB:13:10:F8:05:8B:94:19:F4:67:AE:02:30:AD:8C"),
        ("government", "F0:4B:A4:B4:59:A7:C9:A1:B9:71:AD:9B:1C:B8:33:E6:95:A8:0C:79:AE:A6:3B:17:4B:66:A7:0E:DF:E2:FD:B8"),
    ] {
        assert!(fingerprints.contains(&expected), "{expected:?} not in {fingerprints:?}");
    }
    assert_eq!(
        fingerprints.len(),
        4,
        "cpcag2 is an intermediate, not an anchor"
    );
    assert_eq!(store.intermediates().count(), 1);
}

#[test]
fn der_and_p7b_files_load_and_a_bad_file_is_named_without_losing_the_others() {
    let fixture = fixture();
    let dir = fixture.path("store");
    std::fs::create_dir_all(dir.join("trust/mixed")).unwrap();
    std::fs::write(
        dir.join("trust/mixed/public-root.der"),
        fixture.pki.der("vnrca-test"),
    )
    .unwrap();
    run_openssl(
        &["crl2pkcs7", "-nocrl", "-outform", "DER"],
        &[
            ("-certfile", &fixture.path(GOVERNMENT_ROOT)),
            ("-certfile", &fixture.path(VNPT_CA)),
            ("-out", &dir.join("trust/mixed/bundle.p7b")),
        ],
    );
    std::fs::write(
        dir.join("trust/mixed/broken.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let (store, warnings) = TrustStore::load(&dir).unwrap();
    assert_eq!(
        store.anchors().len(),
        3,
        "DER root + two certificates of the .p7b"
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].file.ends_with("broken.pem"), "{warnings:?}");
}
