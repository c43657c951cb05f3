//! Revocation with real services: CRLs served over HTTP by the test (counting
//! requests, so caching is seen), an `openssl ocsp` responder on loopback with
//! vnpt-ca-test's delegated responder `ocsp-vnpt`, local CRL files, offline mode.

#[path = "support/revocation.rs"]
mod revocation_support;
mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use govgate::pki::dev::{DevPki, DevPkiOptions};
use govgate::pki::revocation::{OcspHash, RevocationChecker, RevocationConfig};
use govgate::pki::{
    ChainFailure, ChainRequest, CryptoPolicy, RevocationStatus, SubIndication, TrustStore, Usage,
    ValidChain,
};
use revocation_support::{
    record_ocsp_response, write_index, BodyServer, IndexEntry, OcspResponder,
};
use support::free_port;

const DAY: Duration = Duration::from_secs(24 * 3600);

struct Scenario {
    _dir: tempfile::TempDir,
    pki: DevPki,
    store: TrustStore,
    now: SystemTime,
    /// Serves the CRLs (and whatever a test routes) at the certificates' CRL URLs.
    crl_server: BodyServer,
    /// Where the certificates' OCSP URLs point; nothing listens until a test starts a
    /// responder (or a body server) there.
    ocsp_port: u16,
}

impl Scenario {
    /// A PKI whose certificates point at a CRL server (started, serving every CA's
    /// CRL) and at an OCSP port (nothing listening yet).
    fn new() -> Scenario {
        Scenario::with_ocsp_base(None)
    }

    /// OCSP URLs on the CRL server itself (to replay recorded responses).
    fn with_ocsp_on_crl_server() -> Scenario {
        Scenario::with_ocsp_base(Some(()))
    }

    fn with_ocsp_base(on_crl_server: Option<()>) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let crl_port = free_port();
        let ocsp_port = match on_crl_server {
            Some(()) => crl_port,
            None => free_port(),
        };
        let options = DevPkiOptions {
            crl_base_url: Some(format!("http://127.0.0.1:{crl_port}")),
            ocsp_base_url: Some(format!("http://127.0.0.1:{ocsp_port}")),
        };
        let pki = DevPki::generate_with(dir.path(), now, options).unwrap();
        let (store, warnings) = TrustStore::load(dir.path()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let crl_server = BodyServer::start(crl_port);
        crl_server.route_crls(&dir.path().join("crl"));
        Scenario {
            _dir: dir,
            pki,
            store,
            now,
            crl_server,
            ocsp_port,
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.pki.dir.join(relative)
    }

    fn crl_der(&self, ca: &str) -> Vec<u8> {
        std::fs::read(self.path(&format!("crl/{ca}.crl"))).unwrap()
    }

    fn validate(
        &self,
        checker: &RevocationChecker,
        signer: &str,
        at: SystemTime,
    ) -> Result<ValidChain, ChainFailure> {
        let leaf = self.pki.der(signer);
        let policy = CryptoPolicy::STRICT;
        let mut request = ChainRequest::new(&leaf, &[], at, Usage::DocumentSigning, &policy);
        request.revocation = Some(checker);
        self.store.validate(&request)
    }

    /// `openssl ocsp` for vnpt-ca-test on the OCSP port, signing as `signer`, with an
    /// index where `an` is valid and `revoked` revoked (others are unknown to it).
    fn start_responder(&self, signer: &str) -> OcspResponder {
        let index = self.path("ocsp-index.txt");
        let entry = |name: &str, revoked_at| IndexEntry {
            serial_hex: self.pki.serial_hex(name).unwrap(),
            expires: self.now + 365 * DAY,
            revoked_at,
        };
        write_index(
            &index,
            &[
                entry("an", None),
                entry("revoked", self.pki.revoked_at("revoked")),
                entry("revoked-later", self.pki.revoked_at("revoked-later")),
            ],
        );
        let signer = self.pki.cert(signer).unwrap();
        OcspResponder::start(
            self.ocsp_port,
            &index,
            &self.path("intermediates/vnpt-ca-test.pem"),
            &signer.cert_path,
            &signer.key_path,
        )
    }
}

fn online(ocsp_first: bool) -> RevocationConfig {
    RevocationConfig {
        ocsp_first,
        http_timeout: Duration::from_secs(5),
        ..RevocationConfig::default()
    }
}

fn checker(config: RevocationConfig) -> RevocationChecker {
    RevocationChecker::new(config).unwrap()
}

fn sources(chain: &ValidChain) -> Vec<String> {
    match &chain.revocation {
        RevocationStatus::Good { sources } => sources.clone(),
        other => panic!("expected Good, got {other:?}"),
    }
}

fn failure(result: Result<ValidChain, ChainFailure>) -> ChainFailure {
    match result {
        Ok(chain) => panic!("expected a failure, got {:?}", chain.revocation),
        Err(failure) => failure,
    }
}

#[test]
fn good_by_crl_over_http_and_cached_until_next_update() {
    let scenario = Scenario::new();
    let checker = checker(online(false));
    let chain = scenario.validate(&checker, "an", scenario.now).unwrap();
    let sources = sources(&chain);
    let base = scenario.crl_server.base_url();
    assert_eq!(
        sources,
        vec![
            format!("CRL {base}/crl/vnpt-ca-test.crl"),
            format!("CRL {base}/crl/vnrca-test.crl")
        ],
        "the leaf and the intermediate, each by its issuer's CRL"
    );
    assert_eq!(scenario.crl_server.requests(), 2);
    // Again, and another signer of the same CA: no new download.
    scenario.validate(&checker, "an", scenario.now).unwrap();
    scenario.validate(&checker, "ecdsa", scenario.now).unwrap();
    assert_eq!(scenario.crl_server.requests(), 2, "served from the cache");
    assert_eq!(checker.cached_crls(), 2);
}

#[test]
fn revoked_by_crl_fails_totally() {
    let scenario = Scenario::new();
    let checker = checker(online(false));
    let failure = failure(scenario.validate(&checker, "revoked", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::Revoked, "{failure}");
    assert!(
        failure.detail.contains("/crl/vnpt-ca-test.crl"),
        "{failure}"
    );
}

#[test]
fn revoked_after_the_validation_time_passes() {
    let scenario = Scenario::new();
    let checker = checker(online(false));
    // A timestamp proved the signature a day old; the revocation came three hours ago.
    let proven = scenario.now - DAY;
    let chain = scenario
        .validate(&checker, "revoked-later", proven)
        .unwrap();
    let revoked_at = scenario.pki.revoked_at("revoked-later").unwrap();
    match &chain.revocation {
        RevocationStatus::RevokedAfterValidationTime {
            revoked_at: reported,
            sources,
        } => {
            let seconds =
                |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
            assert_eq!(seconds(*reported), seconds(revoked_at));
            assert_eq!(sources.len(), 2);
        }
        other => panic!("expected RevokedAfterValidationTime, got {other:?}"),
    }
    // Validated now, the same certificate is revoked.
    let failure = failure(scenario.validate(&checker, "revoked-later", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::Revoked);
}

#[test]
fn good_and_revoked_by_ocsp_with_the_delegated_responder() {
    let scenario = Scenario::new();
    let responder = scenario.start_responder("ocsp-vnpt");
    for hash in [OcspHash::Sha1, OcspHash::Sha256] {
        let checker = checker(RevocationConfig {
            ocsp_hash: hash,
            ..online(true)
        });
        let chain = scenario.validate(&checker, "an", scenario.now).unwrap();
        let sources = sources(&chain);
        assert!(sources[0].starts_with("OCSP http://"), "{sources:?}");
        assert!(
            sources[0].contains("delegated responder") && sources[0].contains("ocsp-nocheck"),
            "{sources:?}"
        );
        // The intermediate has no OCSP URL: its root's CRL answers.
        assert!(sources[1].starts_with("CRL "), "{sources:?}");
        let failure = failure(scenario.validate(&checker, "revoked", scenario.now));
        assert_eq!(failure.sub_indication, SubIndication::Revoked, "{hash:?}");
        assert!(failure.detail.contains("OCSP http://"), "{failure}");
    }
    assert_eq!(responder.requests(), 4, "one OCSP request per check");
    // Only the intermediate's CRL was downloaded (once; the second checker has its own cache).
    assert_eq!(scenario.crl_server.requests(), 2);
}

#[test]
fn ocsp_revoked_after_the_validation_time_passes() {
    let scenario = Scenario::new();
    let _responder = scenario.start_responder("ocsp-vnpt");
    let checker = checker(online(true));
    let chain = scenario
        .validate(&checker, "revoked-later", scenario.now - DAY)
        .unwrap();
    assert!(
        matches!(&chain.revocation, RevocationStatus::RevokedAfterValidationTime { sources, .. } if sources[0].starts_with("OCSP")),
        "{:?}",
        chain.revocation
    );
}

#[test]
fn ocsp_unknown_falls_back_to_the_crl() {
    let scenario = Scenario::new();
    let _responder = scenario.start_responder("ocsp-vnpt");
    let checker = checker(online(true));
    // `ecdsa` is not in the responder's index.
    let chain = scenario.validate(&checker, "ecdsa", scenario.now).unwrap();
    let sources = sources(&chain);
    assert!(sources[0].ends_with("/crl/vnpt-ca-test.crl"), "{sources:?}");
}

#[test]
fn responder_down_falls_back_to_the_crl() {
    let scenario = Scenario::new();
    let checker = checker(online(true));
    let chain = scenario.validate(&checker, "an", scenario.now).unwrap();
    assert!(sources(&chain)[0].ends_with("/crl/vnpt-ca-test.crl"));
    let failure = failure(scenario.validate(&checker, "revoked", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::Revoked);
}

#[test]
fn ocsp_signed_by_an_unauthorised_certificate_is_rejected() {
    let scenario = Scenario::new();
    // `an` is issued by the same CA but has no id-kp-OCSPSigning.
    let _responder = scenario.start_responder("an");
    // No CRL of vnpt-ca-test to fall back on.
    scenario
        .crl_server
        .route("/crl/vnpt-ca-test.crl", b"gone".to_vec());
    let checker = checker(online(true));
    let failure = failure(scenario.validate(&checker, "an", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::TryLater, "{failure}");
    assert!(failure.detail.contains("no id-kp-OCSPSigning"), "{failure}");
    // Signed by a certificate of another CA: not authorised either.
    drop(_responder);
    let _other = scenario.start_responder("so-tnmt");
    let failure = failure_again(&scenario, &checker);
    assert!(failure.detail.contains("not issued by the CA"), "{failure}");
}

fn failure_again(scenario: &Scenario, checker: &RevocationChecker) -> ChainFailure {
    support::eventually("the new responder answers", Duration::from_secs(10), || {
        scenario
            .validate(checker, "an", scenario.now)
            .is_err_and(|failure| !failure.detail.contains("Connection refused"))
    });
    failure(scenario.validate(checker, "an", scenario.now))
}

#[test]
fn replayed_or_nonceless_ocsp_responses_are_rejected() {
    let scenario = Scenario::with_ocsp_on_crl_server();
    // Record genuine, correctly signed answers from openssl's responder elsewhere.
    let responder_port = free_port();
    let index = scenario.path("ocsp-index.txt");
    write_index(
        &index,
        &[IndexEntry {
            serial_hex: scenario.pki.serial_hex("an").unwrap(),
            expires: scenario.now + 365 * DAY,
            revoked_at: None,
        }],
    );
    let signer = scenario.pki.cert("ocsp-vnpt").unwrap();
    let responder = OcspResponder::start(
        responder_port,
        &index,
        &scenario.path("intermediates/vnpt-ca-test.pem"),
        &signer.cert_path,
        &signer.key_path,
    );
    let issuer = scenario.path("intermediates/vnpt-ca-test.pem");
    let an = scenario.pki.cert("an").unwrap().cert_path.clone();
    let with_nonce = scenario.path("with-nonce.der");
    let without_nonce = scenario.path("without-nonce.der");
    record_ocsp_response(&responder.base_url(), &issuer, &an, &with_nonce, true);
    record_ocsp_response(&responder.base_url(), &issuer, &an, &without_nonce, false);
    drop(responder);
    scenario
        .crl_server
        .route("/crl/vnpt-ca-test.crl", b"gone".to_vec());
    let checker = checker(online(true));
    for (recording, why) in [
        (&with_nonce, "another nonce"),
        (&without_nonce, "does not echo the nonce"),
    ] {
        scenario
            .crl_server
            .route("/ocsp/vnpt-ca-test", std::fs::read(recording).unwrap());
        let failure = failure(scenario.validate(&checker, "an", scenario.now));
        assert_eq!(failure.sub_indication, SubIndication::TryLater, "{failure}");
        assert!(failure.detail.contains(why), "{failure}");
    }
    // The same recording is fine for a checker that sends no nonce: the rejection above
    // is the nonce's doing, not a broken response.
    let no_nonce = RevocationChecker::new(RevocationConfig {
        ocsp_nonce: false,
        ..online(true)
    })
    .unwrap();
    let chain = scenario.validate(&no_nonce, "an", scenario.now).unwrap();
    assert!(sources(&chain)[0].starts_with("OCSP"));
}

#[test]
fn a_tampered_crl_is_not_accepted() {
    let scenario = Scenario::new();
    let mut tampered = scenario.crl_der("vnpt-ca-test");
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    scenario.crl_server.route("/crl/vnpt-ca-test.crl", tampered);
    let checker = checker(online(false));
    let failure = failure(scenario.validate(&checker, "revoked", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::TryLater, "{failure}");
    assert!(
        failure.detail.contains("signature does not verify"),
        "{failure}"
    );
    // A refused CRL is not cached: the next check downloads it again.
    let before = scenario.crl_server.requests();
    assert!(scenario.validate(&checker, "an", scenario.now).is_err());
    assert_eq!(scenario.crl_server.requests(), before + 1);
    assert_eq!(checker.cached_crls(), 0);
}

#[test]
fn a_stale_crl_gives_try_later() {
    let scenario = Scenario::new();
    // The CRLs' nextUpdate is a week after generation: eight days on, they are stale.
    let checker = checker(RevocationConfig {
        now: Some(scenario.now + 8 * DAY),
        ..online(false)
    });
    let failure = failure(scenario.validate(&checker, "an", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::TryLater);
    assert!(failure.detail.contains("stale"), "{failure}");
}

#[test]
fn a_crl_of_another_issuer_is_not_used() {
    let scenario = Scenario::new();
    // cpca-test's (valid, signed) CRL where vnpt-ca-test's should be.
    let other = scenario.crl_der("cpca-test");
    scenario.crl_server.route("/crl/vnpt-ca-test.crl", other);
    let checker = checker(online(false));
    let failure = failure(scenario.validate(&checker, "revoked", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::TryLater);
    assert!(
        failure.detail.contains("not the certificate's issuer"),
        "{failure}"
    );
}

#[test]
fn offline_without_local_crls_is_try_later_and_silent() {
    let scenario = Scenario::new();
    let responder = scenario.start_responder("ocsp-vnpt");
    let checker = checker(RevocationConfig {
        offline: true,
        ..online(true)
    });
    let failure = failure(scenario.validate(&checker, "an", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::TryLater);
    assert_eq!(
        failure.indication(),
        govgate::pki::Indication::Indeterminate
    );
    assert!(failure.detail.contains("offline"), "{failure}");
    assert_eq!(
        scenario.crl_server.requests(),
        0,
        "no network in offline mode"
    );
    assert_eq!(responder.requests(), 0, "no OCSP in offline mode");
}

#[test]
fn offline_with_local_crl_files() {
    let scenario = Scenario::new();
    let checker = checker(RevocationConfig {
        offline: true,
        // PEM for one, DER for the other.
        crl_files: vec![
            scenario.path("crl/vnpt-ca-test.crl.pem"),
            scenario.path("crl/vnrca-test.crl"),
            scenario.path("crl/cpca-test.crl.pem"),
        ],
        ..online(true)
    });
    let chain = scenario.validate(&checker, "an", scenario.now).unwrap();
    let sources = sources(&chain);
    assert!(sources[0].starts_with("CRL file ") && sources[0].ends_with("vnpt-ca-test.crl.pem"));
    assert!(sources[1].ends_with("vnrca-test.crl"), "{sources:?}");
    let failure = failure(scenario.validate(&checker, "revoked", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::Revoked);
    // The government tree has no local CRL of its root: TRY_LATER, not a pass.
    let failure = failure_of(&scenario, &checker, "so-tnmt");
    assert_eq!(failure.sub_indication, SubIndication::TryLater, "{failure}");
    assert_eq!(scenario.crl_server.requests(), 0);
}

fn failure_of(scenario: &Scenario, checker: &RevocationChecker, signer: &str) -> ChainFailure {
    failure(scenario.validate(checker, signer, scenario.now))
}

#[test]
fn a_file_that_is_not_a_crl_is_refused_at_load() {
    let scenario = Scenario::new();
    let result = RevocationChecker::new(RevocationConfig {
        crl_files: vec![scenario.path("intermediates/vnpt-ca-test.pem")],
        ..RevocationConfig::default()
    });
    assert!(result.is_err());
}

#[test]
fn concurrent_checks_download_each_crl_once() {
    let scenario = Scenario::new();
    let checker = checker(online(false));
    std::thread::scope(|scope| {
        for signer in ["an", "ecdsa", "an", "ecdsa"] {
            let (scenario, checker) = (&scenario, &checker);
            scope.spawn(move || scenario.validate(checker, signer, scenario.now).unwrap());
        }
    });
    assert_eq!(
        scenario.crl_server.requests(),
        2,
        "one download per CRL URL, however many checks wanted it at once"
    );
}

#[test]
fn a_crl_over_the_size_limit_is_not_downloaded_whole() {
    let scenario = Scenario::new();
    let checker = checker(RevocationConfig {
        max_crl_bytes: 200,
        ..online(false)
    });
    let failure = failure(scenario.validate(&checker, "an", scenario.now));
    assert_eq!(failure.sub_indication, SubIndication::TryLater);
    assert!(
        failure.detail.contains("larger than 200 bytes"),
        "{failure}"
    );
}

#[test]
fn a_stale_ocsp_response_is_not_used() {
    let scenario = Scenario::new();
    let responder = scenario.start_responder("ocsp-vnpt");
    // The responder's answers say nextUpdate = thisUpdate + 1 day; judged two days on
    // they are stale, and the (week-long) CRL answers instead.
    let checker = checker(RevocationConfig {
        now: Some(scenario.now + 2 * DAY),
        ..online(true)
    });
    let chain = scenario.validate(&checker, "an", scenario.now).unwrap();
    let sources = sources(&chain);
    assert!(sources[0].ends_with("/crl/vnpt-ca-test.crl"), "{sources:?}");
    assert_eq!(responder.requests(), 1, "the responder was asked");
}
