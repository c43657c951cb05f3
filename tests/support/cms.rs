//! CMS test kit: the development PKI, `openssl cms -sign` / `-verify`, `openssl ts` as a
//! time-stamping authority, certificates issued with `openssl x509` from the dev CA
//! keys, and a small DER tree for building tampered variants of real signatures.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::pki::{openssl, random_serial};
use govgate::pki::cms::verify_cms;
use govgate::pki::dev::DevPki;
use govgate::pki::{CryptoPolicy, DocumentReport, SubIndication, TrustStore, VerifyContext};

/// A development PKI in a temp dir and a trust store loaded from it.
pub struct CmsFixture {
    pub dir: tempfile::TempDir,
    pub pki: DevPki,
    pub store: Arc<TrustStore>,
    /// The fixture's validation time (a little ahead of the clock, so certificates
    /// issued with openssl after generation are already valid).
    pub now: SystemTime,
}

impl CmsFixture {
    pub fn new() -> CmsFixture {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now() + Duration::from_secs(120);
        let pki = DevPki::generate(dir.path(), now).unwrap();
        let (store, warnings) = TrustStore::load(dir.path()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        CmsFixture {
            dir,
            pki,
            store: Arc::new(store),
            now,
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.pki.dir.join(relative)
    }

    /// A context over the dev trust store at `at` under `policy`.
    pub fn context(&self, policy: CryptoPolicy, at: SystemTime) -> VerifyContext {
        let mut ctx = VerifyContext::new(self.store.clone());
        ctx.policy = policy;
        ctx.at = Some(at);
        ctx
    }

    /// A trust store with the two dev roots and no intermediates.
    pub fn roots_only_context(&self) -> VerifyContext {
        let mut store = TrustStore::empty();
        for (list, file) in [
            ("public", "trust/public/vnrca-test.pem"),
            ("government", "trust/government/rootca-cp-test.pem"),
        ] {
            let pem = std::fs::read(self.path(file)).unwrap();
            let der = pem::parse(pem).unwrap().into_contents();
            store.add_anchor(list, der).unwrap();
        }
        let mut ctx = VerifyContext::new(Arc::new(store));
        ctx.at = Some(self.now);
        ctx
    }

    /// `openssl cms -sign` of `content` (written to a file) as `signer` (a dev signer
    /// name, or a path stem `DIR/x` with `x.pem` / `x.key.pem`), DER out.
    pub fn sign(&self, out: &str, content: &Path, signer: &Path, extra: &[&str]) -> PathBuf {
        let out = self.path(out);
        let cert = with_suffix(signer, ".pem");
        let key = with_suffix(signer, ".key.pem");
        let mut args: Vec<String> = vec!["cms", "-sign", "-binary", "-in"]
            .into_iter()
            .map(String::from)
            .collect();
        args.push(path_string(content));
        args.extend(["-signer".into(), path_string(&cert)]);
        args.extend(["-inkey".into(), path_string(&key)]);
        args.extend([
            "-outform".into(),
            "DER".into(),
            "-out".into(),
            path_string(&out),
        ]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        openssl(&args);
        out
    }

    /// The stem of dev signer `name` (`DIR/signers/name`).
    pub fn signer(&self, name: &str) -> PathBuf {
        self.path(&format!("signers/{name}"))
    }

    /// `openssl cms -verify` at `at`, trusting `ca_files` (roots and intermediates in
    /// one bundle: OpenSSL 3.0's cms has no -untrusted). True when it verifies.
    pub fn openssl_verify(
        &self,
        signature: &Path,
        content: Option<&Path>,
        ca_files: &[&str],
        at: SystemTime,
        extra: &[&str],
    ) -> bool {
        let bundle = self.path("openssl-cafile.pem");
        let mut pem = String::new();
        for file in ca_files {
            pem.push_str(&std::fs::read_to_string(self.path(file)).unwrap());
        }
        std::fs::write(&bundle, pem).unwrap();
        let mut command = Command::new("openssl");
        command
            .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
            .arg(signature)
            .arg("-CAfile")
            .arg(&bundle)
            .args(["-attime", &unix(at).to_string(), "-out", "/dev/null"])
            .args(extra);
        if let Some(content) = content {
            command.arg("-content").arg(content);
        }
        let output = command.stdin(Stdio::null()).output().expect("run openssl");
        output.status.success()
    }

    /// Issues a document-signing certificate for a fresh key (`key_spec`, e.g.
    /// `rsa:1024`, `rsa:2048`) under `ca` (`vnpt-ca-test`), valid `days` days from
    /// now, signed with `md`; returns the stem (`x.pem`, `x.key.pem`).
    pub fn issue(&self, stem: &str, ca: &str, key_spec: &str, days: u32, md: &str) -> PathBuf {
        let stem_path = self.path(stem);
        let key = with_suffix(&stem_path, ".key.pem");
        openssl(&strings(&[
            "req",
            "-new",
            "-newkey",
            key_spec,
            "-nodes",
            "-keyout",
            &path_string(&key),
            "-subj",
            &format!("/C=VN/O=govgate tests/CN={stem}"),
            "-out",
            &path_string(&with_suffix(&stem_path, ".csr")),
        ]));
        self.issue_for_csr(stem, ca, days, md, "digitalSignature,nonRepudiation");
        stem_path
    }

    /// Issues `stem.pem` for the existing `stem.csr` (used to put one key in two
    /// certificates).
    pub fn issue_for_csr(&self, stem: &str, ca: &str, days: u32, md: &str, key_usage: &str) {
        let stem_path = self.path(stem);
        let extensions = with_suffix(&stem_path, ".ext");
        std::fs::write(
            &extensions,
            format!(
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,{key_usage}\n\
                 extendedKeyUsage=clientAuth,emailProtection\nsubjectKeyIdentifier=hash\n\
                 authorityKeyIdentifier=keyid\n"
            ),
        )
        .unwrap();
        openssl(&strings(&[
            "x509",
            "-req",
            "-in",
            &path_string(&with_suffix(&stem_path, ".csr")),
            "-CA",
            &path_string(&self.path(&format!("intermediates/{ca}.pem"))),
            "-CAkey",
            &path_string(&self.path(&format!("ca-keys/{ca}.key.pem"))),
            "-set_serial",
            &random_serial(),
            "-days",
            &days.to_string(),
            &format!("-{md}"),
            "-extfile",
            &path_string(&extensions),
            "-out",
            &path_string(&with_suffix(&stem_path, ".pem")),
        ]));
    }

    /// A TimeStampToken (DER ContentInfo) from `openssl ts -reply` over `data`, signed
    /// by the dev `tsa` with its chain.
    pub fn timestamp_token(&self, data: &[u8]) -> Vec<u8> {
        let stamped = self.path("ts-data.bin");
        std::fs::write(&stamped, data).unwrap();
        let config = self.path("tsa.cnf");
        let serial = self.path("tsa-serial");
        std::fs::write(&serial, "01\n").unwrap();
        std::fs::write(
            &config,
            format!(
                "[ tsa ]\ndefault_tsa = tsa_config\n\n[ tsa_config ]\nserial = {}\n\
                 crypto_device = builtin\nsigner_digest = sha256\ndefault_policy = 1.3.6.1.4.1.99999.1\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\ntsa_name = no\n\
                 ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                serial.display()
            ),
        )
        .unwrap();
        let query = self.path("ts.tsq");
        let token = self.path("ts.token");
        openssl(&strings(&[
            "ts",
            "-query",
            "-data",
            &path_string(&stamped),
            "-sha256",
            "-cert",
            "-out",
            &path_string(&query),
        ]));
        openssl(&strings(&[
            "ts",
            "-reply",
            "-config",
            &path_string(&config),
            "-queryfile",
            &path_string(&query),
            "-signer",
            &path_string(&self.path("signers/tsa.pem")),
            "-inkey",
            &path_string(&self.path("signers/tsa.key.pem")),
            "-chain",
            &path_string(&self.path("intermediates/vnpt-ca-test.pem")),
            "-token_out",
            "-out",
            &path_string(&token),
        ]));
        std::fs::read(token).unwrap()
    }
}

// ---- Signed content and the tamper-matrix runner ---------------------------------

/// A fixture and a content file to sign.
pub struct Signed {
    pub fixture: CmsFixture,
    pub content: PathBuf,
}

pub fn fixture_with_content() -> Signed {
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
    pub fn sign(&self, out: &str, signer: &Path, extra: &[&str]) -> PathBuf {
        let certfile = self.fixture.path("intermediates/vnpt-ca-test.pem");
        let mut args = vec!["-certfile", certfile.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.fixture.sign(out, &self.content, signer, &args)
    }

    pub fn ctx(&self) -> VerifyContext {
        self.fixture.context(CryptoPolicy::STRICT, self.fixture.now)
    }

    pub fn content_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.content).unwrap()
    }

    /// govgate on a detached signature over `content`.
    pub fn verify_detached(
        &self,
        ctx: &VerifyContext,
        signature: &[u8],
        content: &[u8],
    ) -> DocumentReport {
        let mut content = content;
        verify_cms(ctx, signature, Some(&mut content), "test.p7s")
    }
}

/// One row of the tamper matrix.
pub struct Case {
    pub name: &'static str,
    pub signature: Vec<u8>,
    /// Detached content (None: attached).
    pub content: Option<Vec<u8>>,
    pub ctx: VerifyContext,
    pub expected: Option<SubIndication>,
    /// `openssl cms -verify`'s verdict and the CAfile it is given.
    pub openssl_passes: bool,
    pub ca_files: &'static [&'static str],
    /// Why govgate's verdict differs from openssl's, when it does.
    pub stricter_because: Option<&'static str>,
}

pub fn run_matrix(signed: &Signed, cases: Vec<Case>) {
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

/// A DER element as a tree, to take real signatures apart and re-encode them tampered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Der {
    pub tag: u8,
    /// The contents of a primitive element.
    pub value: Vec<u8>,
    /// The elements of a constructed one.
    pub children: Vec<Der>,
}

impl Der {
    pub fn parse(input: &[u8]) -> Der {
        let (der, rest) = Der::parse_one(input);
        assert!(rest.is_empty(), "trailing data after DER");
        der
    }

    fn parse_one(input: &[u8]) -> (Der, &[u8]) {
        let tag = input[0];
        let (length, header) = match input[1] {
            short @ 0..=0x7f => (usize::from(short), 2),
            long => {
                let count = usize::from(long & 0x7f);
                let length = input[2..2 + count]
                    .iter()
                    .fold(0usize, |length, &octet| (length << 8) | usize::from(octet));
                (length, 2 + count)
            }
        };
        let body = &input[header..header + length];
        let rest = &input[header + length..];
        if tag & 0x20 == 0 {
            return (Der::primitive(tag, body), rest);
        }
        let mut children = Vec::new();
        let mut remaining = body;
        while !remaining.is_empty() {
            let (child, after) = Der::parse_one(remaining);
            children.push(child);
            remaining = after;
        }
        (Der::constructed(tag, children), rest)
    }

    pub fn primitive(tag: u8, value: &[u8]) -> Der {
        Der {
            tag,
            value: value.to_vec(),
            children: Vec::new(),
        }
    }

    pub fn constructed(tag: u8, children: Vec<Der>) -> Der {
        Der {
            tag,
            value: Vec::new(),
            children,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let body: Vec<u8> = match self.tag & 0x20 {
            0 => self.value.clone(),
            _ => self.children.iter().flat_map(Der::encode).collect(),
        };
        let mut out = vec![self.tag];
        match body.len() {
            length @ 0..=0x7f => out.push(length as u8),
            length => {
                let octets: Vec<u8> = length
                    .to_be_bytes()
                    .into_iter()
                    .skip_while(|&octet| octet == 0)
                    .collect();
                out.push(0x80 | octets.len() as u8);
                out.extend(octets);
            }
        }
        out.extend(body);
        out
    }

    /// The element at `path` (child indices from here).
    pub fn at(&mut self, path: &[usize]) -> &mut Der {
        path.iter()
            .fold(self, |node, &index| &mut node.children[index])
    }
}

/// Paths in a ContentInfo tree (openssl's layout: certificates present).
pub mod path {
    pub const SIGNED_DATA: [usize; 2] = [1, 0];
    pub const ENCAP: [usize; 3] = [1, 0, 2];
    pub const CERTIFICATES: [usize; 3] = [1, 0, 3];
    /// The SignerInfos SET is the last child of SignedData: use `signer_info()`.
    pub fn signer_info(signed_data_children: usize) -> [usize; 4] {
        [1, 0, signed_data_children - 1, 0]
    }
}

impl Der {
    /// The first SignerInfo of a ContentInfo tree.
    pub fn first_signer_info(&mut self) -> &mut Der {
        let count = self.at(&path::SIGNED_DATA).children.len();
        self.at(&path::signer_info(count))
    }

    /// The index of the first child of `self` with `tag`.
    pub fn child_with_tag(&self, tag: u8) -> Option<usize> {
        self.children.iter().position(|child| child.tag == tag)
    }
}

/// Adds `token` as an id-aa-signatureTimeStampToken unsigned attribute of `signer_info`.
pub fn add_timestamp_attribute(signer_info: &mut Der, token: &[u8]) {
    let oid = Der::primitive(
        0x06,
        &[
            0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x0e,
        ],
    );
    let attribute = Der::constructed(
        0x30,
        vec![oid, Der::constructed(0x31, vec![Der::parse(token)])],
    );
    signer_info
        .children
        .push(Der::constructed(0xa1, vec![attribute]));
}

pub fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| arg.to_string()).collect()
}

fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", stem.display()))
}

fn path_string(path: &Path) -> String {
    path.to_str().expect("temp paths are UTF-8").to_string()
}
