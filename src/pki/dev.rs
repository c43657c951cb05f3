//! A development and test PKI shaped like the Vietnamese one, made with rcgen:
//!
//! ```text
//! DIR/trust/public/vnrca-test.pem           Vietnam National Root CA (thử nghiệm)
//! DIR/trust/government/rootca-cp-test.pem   RootCA chuyên dùng Chính phủ (thử nghiệm)
//! DIR/intermediates/vnpt-ca-test.pem        VNPT-CA (thử nghiệm), under the public root
//! DIR/intermediates/cpca-test.pem           CA phục vụ các cơ quan Nhà nước (thử nghiệm), under the government root
//! DIR/ca-keys/<ca>.key.pem                  the CA keys (to issue more in tests)
//! DIR/signers/<name>.pem, <name>.key.pem    end entities: certificate, PKCS#8 key
//! DIR/signers/<name>.chain.pem              certificate + its intermediate (for signing tools)
//! DIR/crl/<ca>.crl.pem, <ca>.crl            CRLs, PEM and DER, of every CA (vnpt-ca-test
//!                                           revokes `revoked` and `revoked-later`)
//! ```
//!
//! With [`DevPkiOptions`] base URLs, issued certificates carry cRLDistributionPoints
//! `{crl_base}/crl/<issuer>.crl` (intermediates and end entities) and an AIA OCSP URL
//! `{ocsp_base}/ocsp/<issuer>` (end entities); `ocsp-vnpt` is vnpt-ca-test's delegated
//! OCSP responder (EKU OCSPSigning, id-pkix-ocsp-nocheck). `revoked` was revoked two days
//! before `now`, `revoked-later` three hours before (see [`DevPki::revoked_at`]): a
//! signature proven older than that still stands.
//!
//! `DIR` is itself a trust-store directory ([`super::TrustStore::load`]). Every key is
//! RSA-2048 but `ecdsa`'s (P-256). Nothing here is fit for production: the keys are
//! written unencrypted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, RsaKeySize, SerialNumber,
};
use time::OffsetDateTime;

mod signers;

use signers::{signer_specs, Leaf, LeafKind, Validity};

const DAY: Duration = Duration::from_secs(24 * 3600);
/// userId, for `UID=MST:…` / `UID=CCCD:…`.
const OID_USER_ID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];
/// id-ce-extKeyUsage.
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
/// SEQUENCE { id-kp-timeStamping }: rcgen writes EKU non-critical, RFC 3161 wants it critical.
const TIME_STAMPING_EKU_DER: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
];
/// id-pkix-ocsp-nocheck, whose value is NULL.
const OID_OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];
/// id-pe-authorityInfoAccess.
const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// How long before `now` the two revoked signers were revoked.
const REVOKED_BEFORE_NOW: Duration = Duration::from_secs(2 * 24 * 3600);
const REVOKED_LATER_BEFORE_NOW: Duration = Duration::from_secs(3 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum DevPkiError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("generating {what}: {source}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("encoding {what}: {why}")]
    Encode { what: String, why: String },
}

/// Where the revocation services of the generated PKI are (none by default).
#[derive(Debug, Clone, Default)]
pub struct DevPkiOptions {
    /// `http://host:port`: certificates name `{crl_base_url}/crl/<issuer>.crl`.
    pub crl_base_url: Option<String>,
    /// `http://host:port`: end entities name `{ocsp_base_url}/ocsp/<issuer>`.
    pub ocsp_base_url: Option<String>,
}

impl DevPkiOptions {
    /// CRLs and OCSP under one base URL.
    pub fn with_revocation_base_url(base: &str) -> DevPkiOptions {
        DevPkiOptions {
            crl_base_url: Some(base.to_string()),
            ocsp_base_url: Some(base.to_string()),
        }
    }
}

/// One generated certificate.
#[derive(Debug, Clone)]
pub struct DevCert {
    pub der: Vec<u8>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// The CA that issued it (`None` for roots).
    pub issuer: Option<String>,
}

/// The generated PKI; certificates by name (`vnrca-test`, `vnpt-ca-test`, `an`, ...).
#[derive(Debug)]
pub struct DevPki {
    pub dir: PathBuf,
    pub certs: BTreeMap<String, DevCert>,
    /// Revoked certificates and when their CA revoked them.
    pub revoked: BTreeMap<String, SystemTime>,
}

impl DevPki {
    pub fn cert(&self, name: &str) -> Option<&DevCert> {
        self.certs.get(name)
    }

    /// The DER of `name`, or an empty vector (which validates as FORMAT_FAILURE).
    pub fn der(&self, name: &str) -> Vec<u8> {
        self.cert(name)
            .map(|cert| cert.der.clone())
            .unwrap_or_default()
    }

    /// When `name` was revoked, if it was.
    pub fn revoked_at(&self, name: &str) -> Option<SystemTime> {
        self.revoked.get(name).copied()
    }

    /// The serial number of `name`, upper-case hex as `openssl ocsp`'s index wants it.
    pub fn serial_hex(&self, name: &str) -> Option<String> {
        let cert = self.cert(name)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert.der).ok()?;
        Some(
            parsed
                .raw_serial()
                .iter()
                .map(|byte| format!("{byte:02X}"))
                .collect(),
        )
    }

    /// Writes the PKI into `dir` (created if needed), valid around `now`.
    pub fn generate(dir: &Path, now: SystemTime) -> Result<DevPki, DevPkiError> {
        DevPki::generate_with(dir, now, DevPkiOptions::default())
    }

    /// [`DevPki::generate`], with revocation URLs in the certificates.
    pub fn generate_with(
        dir: &Path,
        now: SystemTime,
        options: DevPkiOptions,
    ) -> Result<DevPki, DevPkiError> {
        let mut builder = Builder {
            dir: dir.to_path_buf(),
            now,
            options,
            certs: BTreeMap::new(),
            keys: BTreeMap::new(),
            params: BTreeMap::new(),
            next_serial: 0x1000,
        };
        builder.build()?;
        let revoked = [
            ("revoked", now - REVOKED_BEFORE_NOW),
            ("revoked-later", now - REVOKED_LATER_BEFORE_NOW),
        ]
        .into_iter()
        .map(|(name, at)| (name.to_string(), at))
        .collect();
        Ok(DevPki {
            dir: builder.dir,
            certs: builder.certs,
            revoked,
        })
    }
}

struct Builder {
    dir: PathBuf,
    now: SystemTime,
    options: DevPkiOptions,
    certs: BTreeMap<String, DevCert>,
    keys: BTreeMap<String, KeyPair>,
    params: BTreeMap<String, CertificateParams>,
    next_serial: u64,
}

impl Builder {
    fn build(&mut self) -> Result<(), DevPkiError> {
        self.root(
            "vnrca-test",
            "Vietnam National Root CA (thử nghiệm)",
            "Trung tâm Chứng thực điện tử quốc gia",
            "trust/public",
        )?;
        self.root(
            "rootca-cp-test",
            "RootCA chuyên dùng Chính phủ (thử nghiệm)",
            "Ban Cơ yếu Chính phủ",
            "trust/government",
        )?;
        self.intermediate(
            "vnpt-ca-test",
            "VNPT-CA (thử nghiệm)",
            "VNPT Group",
            "vnrca-test",
        )?;
        self.intermediate(
            "cpca-test",
            "CA phục vụ các cơ quan Nhà nước (thử nghiệm)",
            "Ban Cơ yếu Chính phủ",
            "rootca-cp-test",
        )?;
        for leaf in signer_specs() {
            self.leaf(&leaf)?;
        }
        let revoked = vec![
            (self.serial_of("revoked"), self.now - REVOKED_BEFORE_NOW),
            (
                self.serial_of("revoked-later"),
                self.now - REVOKED_LATER_BEFORE_NOW,
            ),
        ];
        self.crl("vnpt-ca-test", revoked)?;
        for ca in ["cpca-test", "vnrca-test", "rootca-cp-test"] {
            self.crl(ca, Vec::new())?;
        }
        Ok(())
    }

    fn root(
        &mut self,
        name: &str,
        common_name: &str,
        organisation: &str,
        folder: &str,
    ) -> Result<(), DevPkiError> {
        let mut params = self.base_params(
            common_name,
            organisation,
            "Hà Nội",
            self.now - 365 * DAY,
            self.now + 20 * 365 * DAY,
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = generate_key(name, false)?;
        let cert = params.self_signed(&key).map_err(generating(name))?;
        self.store(
            name,
            None,
            folder,
            cert.pem(),
            cert.der().to_vec(),
            key,
            params,
        )
    }

    fn intermediate(
        &mut self,
        name: &str,
        common_name: &str,
        organisation: &str,
        issuer: &str,
    ) -> Result<(), DevPkiError> {
        let mut params = self.base_params(
            common_name,
            organisation,
            "Hà Nội",
            self.now - 300 * DAY,
            self.now + 10 * 365 * DAY,
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        self.add_revocation_urls(&mut params, issuer, false)?;
        let key = generate_key(name, false)?;
        let cert = self.sign(&params, &key, issuer, name)?;
        self.store(
            name,
            Some(issuer),
            "intermediates",
            cert.0,
            cert.1,
            key,
            params,
        )
    }

    fn leaf(&mut self, leaf: &Leaf) -> Result<(), DevPkiError> {
        let (not_before, not_after) = match leaf.validity {
            Validity::Current => (self.now - 30 * DAY, self.now + 2 * 365 * DAY),
            Validity::Expired => (self.now - 400 * DAY, self.now - 35 * DAY),
            Validity::NotYetValid => (self.now + 30 * DAY, self.now + 400 * DAY),
        };
        let subject = &leaf.subject;
        let mut params = self.base_params(
            &subject.common_name,
            &subject.organisation,
            &subject.locality,
            not_before,
            not_after,
        );
        params.distinguished_name.push(
            DnType::CustomDnType(OID_USER_ID.to_vec()),
            subject.user_id.as_str(),
        );
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = match leaf.kind {
            LeafKind::WrongKeyUsage => vec![KeyUsagePurpose::KeyEncipherment],
            LeafKind::Tsa | LeafKind::Ocsp => vec![KeyUsagePurpose::DigitalSignature],
            _ => vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ],
        };
        match leaf.kind {
            LeafKind::Tsa => {
                let mut eku = CustomExtension::from_oid_content(
                    OID_EXT_KEY_USAGE,
                    TIME_STAMPING_EKU_DER.to_vec(),
                );
                eku.set_criticality(true);
                params.custom_extensions.push(eku);
            }
            LeafKind::Ocsp => {
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        OID_OCSP_NOCHECK,
                        vec![0x05, 0x00],
                    ));
            }
            // As Vietnamese token certificates do: clientAuth + emailProtection.
            _ => {
                params.extended_key_usages = vec![
                    ExtendedKeyUsagePurpose::ClientAuth,
                    ExtendedKeyUsagePurpose::EmailProtection,
                ]
            }
        }
        self.add_revocation_urls(&mut params, leaf.issuer, true)?;
        let key = generate_key(leaf.name, leaf.kind == LeafKind::Ecdsa)?;
        let (pem, der) = self.sign(&params, &key, leaf.issuer, leaf.name)?;
        let chain_pem = format!("{pem}{}", self.pem_of(leaf.issuer)?);
        write(
            &self
                .dir
                .join("signers")
                .join(format!("{}.chain.pem", leaf.name)),
            chain_pem.as_bytes(),
        )?;
        self.store(
            leaf.name,
            Some(leaf.issuer),
            "signers",
            pem,
            der,
            key,
            params,
        )
    }

    fn base_params(
        &mut self,
        common_name: &str,
        organisation: &str,
        locality: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CountryName, "VN");
        params
            .distinguished_name
            .push(DnType::LocalityName, locality);
        params
            .distinguished_name
            .push(DnType::OrganizationName, organisation);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.not_before = OffsetDateTime::from(not_before);
        params.not_after = OffsetDateTime::from(not_after);
        params.serial_number = Some(SerialNumber::from(self.next_serial));
        params.use_authority_key_identifier_extension = true;
        self.next_serial += 1;
        params
    }

    fn sign(
        &self,
        params: &CertificateParams,
        key: &KeyPair,
        issuer: &str,
        name: &str,
    ) -> Result<(String, Vec<u8>), DevPkiError> {
        let issuer = self.issuer(issuer)?;
        let cert = params.signed_by(key, &issuer).map_err(generating(name))?;
        Ok((cert.pem(), cert.der().to_vec()))
    }

    fn issuer(&self, name: &str) -> Result<Issuer<'_, &KeyPair>, DevPkiError> {
        match (self.params.get(name), self.keys.get(name)) {
            (Some(params), Some(key)) => Ok(Issuer::from_params(params, key)),
            _ => Err(DevPkiError::Generate {
                what: name.into(),
                source: rcgen::Error::CouldNotParseCertificate,
            }),
        }
    }

    /// The CRL distribution point (and, for end entities, the OCSP responder) of
    /// certificates issued by `issuer`, when the options name base URLs.
    fn add_revocation_urls(
        &self,
        params: &mut CertificateParams,
        issuer: &str,
        end_entity: bool,
    ) -> Result<(), DevPkiError> {
        if let Some(base) = &self.options.crl_base_url {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![format!("{base}/crl/{issuer}.crl")],
            }];
        }
        if let (Some(base), true) = (&self.options.ocsp_base_url, end_entity) {
            let url = format!("{base}/ocsp/{issuer}");
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    OID_AUTHORITY_INFO_ACCESS,
                    ocsp_access_der(&url)?,
                ));
        }
        Ok(())
    }

    fn crl(&mut self, ca: &str, revoked: Vec<(Vec<u8>, SystemTime)>) -> Result<(), DevPkiError> {
        let revoked_certs = revoked
            .into_iter()
            .map(|(serial, at)| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: OffsetDateTime::from(at),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            // After the latest revocation (`revoked-later`, three hours before now).
            this_update: OffsetDateTime::from(self.now - Duration::from_secs(3600)),
            next_update: OffsetDateTime::from(self.now + 7 * DAY),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.issuer(ca)?)
            .map_err(generating(ca))?;
        let pem = crl.pem().map_err(generating(ca))?;
        write(
            &self.dir.join("crl").join(format!("{ca}.crl.pem")),
            pem.as_bytes(),
        )?;
        write(&self.dir.join("crl").join(format!("{ca}.crl")), crl.der())
    }

    fn serial_of(&self, name: &str) -> Vec<u8> {
        self.params
            .get(name)
            .and_then(|params| params.serial_number.as_ref())
            .map(|serial| serial.to_bytes())
            .unwrap_or_default()
    }

    fn pem_of(&self, name: &str) -> Result<String, DevPkiError> {
        let path = self
            .certs
            .get(name)
            .map(|cert| cert.cert_path.clone())
            .unwrap_or_default();
        std::fs::read_to_string(&path).map_err(|source| DevPkiError::Io { path, source })
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        name: &str,
        issuer: Option<&str>,
        folder: &str,
        pem: String,
        der: Vec<u8>,
        key: KeyPair,
        params: CertificateParams,
    ) -> Result<(), DevPkiError> {
        let cert_path = self.dir.join(folder).join(format!("{name}.pem"));
        let key_folder = match folder {
            "signers" => "signers",
            _ => "ca-keys",
        };
        let key_path = self.dir.join(key_folder).join(format!("{name}.key.pem"));
        write(&cert_path, pem.as_bytes())?;
        write(&key_path, key.serialize_pem().as_bytes())?;
        self.certs.insert(
            name.into(),
            DevCert {
                der,
                cert_path,
                key_path,
                issuer: issuer.map(str::to_string),
            },
        );
        self.keys.insert(name.into(), key);
        self.params.insert(name.into(), params);
        Ok(())
    }
}

/// AuthorityInfoAccessSyntax with one id-ad-ocsp URI.
fn ocsp_access_der(url: &str) -> Result<Vec<u8>, DevPkiError> {
    use der::Encode;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
    let encode = |error: der::Error| DevPkiError::Encode {
        what: format!("AIA {url}"),
        why: error.to_string(),
    };
    let location = der::asn1::Ia5String::new(url).map_err(encode)?;
    AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: const_oid::db::rfc5280::ID_AD_OCSP,
        access_location: GeneralName::UniformResourceIdentifier(location),
    }])
    .to_der()
    .map_err(encode)
}

fn generate_key(name: &str, ecdsa: bool) -> Result<KeyPair, DevPkiError> {
    let key = match ecdsa {
        true => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        false => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
    };
    key.map_err(generating(name))
}

fn generating(what: &str) -> impl Fn(rcgen::Error) -> DevPkiError + '_ {
    move |source| DevPkiError::Generate {
        what: what.to_string(),
        source,
    }
}

fn write(path: &Path, contents: &[u8]) -> Result<(), DevPkiError> {
    let io = |source| DevPkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)
}
