//! OCSP (RFC 6960): one request per certificate, POSTed to the AIA id-ad-ocsp URL.
//!
//! The response is accepted only when: it is `successful` and a basic response; it is
//! signed by the CA itself or by a responder certificate the CA issued for it (EKU
//! id-kp-OCSPSigning, valid now, keyUsage digitalSignature when present — RFC 6960
//! §4.2.2.2; the same rules as `Usage::OcspSigning`); the signature algorithm passes
//! the crypto policy; it answers for our CertID; thisUpdate is not in the future and
//! nextUpdate (or, without one, thisUpdate + max age) has not passed; and, when a nonce
//! was sent, the same nonce comes back (a missing or different nonce is a replay).
//! A delegated responder's own revocation is not checked (id-pkix-ocsp-nocheck is
//! expected on it, and the report source says whether it was there).

use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use const_oid::db::rfc6960::{ID_PKIX_OCSP_BASIC, ID_PKIX_OCSP_NONCE};
use der::asn1::{Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    ResponderId, SingleResponse, TbsRequest, Version,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use super::crl::{rfc3339, RevokedEntry, CLOCK_SKEW};
use super::http::HttpClient;
use super::signed;
use crate::pki::CryptoPolicy;

const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// id-pkix-ocsp-nocheck.
const OID_OCSP_NOCHECK: &str = "1.3.6.1.5.5.7.48.1.5";
/// id-ad-ocsp.
const OID_AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
const NONCE_BYTES: usize = 16;
/// OCSP responses are small; a responder sending more is broken or hostile.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Certificates a response may carry that are examined as its possible signer.
const MAX_RESPONSE_CERTS: usize = 8;

/// The hash of the CertID. Responders differ: RFC 5019 ones know SHA-1 only; SHA-1
/// here only names the certificate, it protects nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OcspHash {
    #[default]
    Sha1,
    Sha256,
}

pub(crate) struct OcspSettings {
    pub hash: OcspHash,
    pub nonce: bool,
    pub max_age: Duration,
    pub policy: CryptoPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OcspStatus {
    Good,
    Revoked(RevokedEntry),
    Unknown,
}

#[derive(Debug)]
pub(crate) struct OcspAnswer {
    pub status: OcspStatus,
    /// `OCSP http://… (responder …)`, for reports.
    pub source: String,
}

/// The http:// URLs of a certificate's AIA id-ad-ocsp entries.
pub(crate) fn responder_urls(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut urls = Vec::new();
    for extension in cert.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(access) = extension.parsed_extension() {
            for description in access.iter() {
                if description.access_method.to_id_string() != OID_AD_OCSP {
                    continue;
                }
                if let x509_parser::extensions::GeneralName::URI(uri) = &description.access_location
                {
                    urls.push(uri.to_string());
                }
            }
        }
    }
    urls
}

/// Asks `url` about `cert`, issued by `issuer`, and checks the answer at `now`.
pub(crate) fn ask(
    http: &HttpClient,
    url: &str,
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    settings: &OcspSettings,
    now: SystemTime,
) -> Result<OcspAnswer, String> {
    let cert_id = cert_id(cert, issuer, settings.hash)?;
    let nonce = match settings.nonce {
        true => Some(nonce_extension_value()?),
        false => None,
    };
    let request = request_der(&cert_id, nonce.as_deref())?;
    let body = http
        .post(
            url,
            "application/ocsp-request",
            &request,
            MAX_RESPONSE_BYTES,
        )
        .map_err(|error| error.to_string())?;
    let basic_der = basic_response(&body)?;
    let basic =
        BasicOcspResponse::from_der(&basic_der).map_err(|e| format!("basic response: {e}"))?;
    let responder = verify_signer(&basic, &basic_der, issuer, settings, now)?;
    check_nonce(&basic, nonce.as_deref())?;
    let single = matching_response(&basic, &cert_id)?;
    check_freshness(single, settings.max_age, now)?;
    let status = match &single.cert_status {
        CertStatus::Good(_) => OcspStatus::Good,
        CertStatus::Unknown(_) => OcspStatus::Unknown,
        CertStatus::Revoked(info) => OcspStatus::Revoked(RevokedEntry {
            at: generalized(&info.revocation_time.0),
            reason: info.revocation_reason.map(|reason| reason as u8),
        }),
    };
    Ok(OcspAnswer {
        status,
        source: format!("OCSP {url} ({responder})"),
    })
}

fn digest_of(hash: OcspHash, bytes: &[u8]) -> Vec<u8> {
    let algorithm = match hash {
        OcspHash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        OcspHash::Sha256 => &digest::SHA256,
    };
    digest::digest(algorithm, bytes).as_ref().to_vec()
}

fn cert_id(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    hash: OcspHash,
) -> Result<CertId, String> {
    let key = signed::public_key_bits(issuer.public_key().raw).map_err(|e| e.to_string())?;
    let octets = |bytes: Vec<u8>| OctetString::new(bytes).map_err(|e| e.to_string());
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: match hash {
                OcspHash::Sha1 => ID_SHA1,
                OcspHash::Sha256 => ID_SHA256,
            },
            parameters: Some(Null.into()),
        },
        issuer_name_hash: octets(digest_of(hash, issuer.subject().as_raw()))?,
        issuer_key_hash: octets(digest_of(hash, key))?,
        serial_number: SerialNumber::new(cert.raw_serial())
            .map_err(|e| format!("serial number: {e}"))?,
    })
}

/// The nonce extension's extnValue: the DER of an OCTET STRING of random bytes
/// (RFC 8954), compared byte for byte with the echo.
fn nonce_extension_value() -> Result<Vec<u8>, String> {
    let mut bytes = [0u8; NONCE_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for the OCSP nonce".to_string())?;
    OctetString::new(bytes.to_vec())
        .and_then(|octets| octets.to_der())
        .map_err(|e| e.to_string())
}

fn request_der(cert_id: &CertId, nonce: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let request_extensions = match nonce {
        Some(value) => Some(vec![Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(value.to_vec()).map_err(|e| e.to_string())?,
        }]),
        None => None,
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id.clone(),
                single_request_extensions: None,
            }],
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| e.to_string())
}

/// The BasicOCSPResponse DER inside a successful OCSPResponse.
fn basic_response(body: &[u8]) -> Result<Vec<u8>, String> {
    let response =
        OcspResponse::from_der(body).map_err(|e| format!("not an OCSP response: {e}"))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(format!("responder answered {:?}", response.response_status));
    }
    let bytes = response
        .response_bytes
        .ok_or("successful response without responseBytes")?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(format!(
            "response type {} is not basic",
            bytes.response_type
        ));
    }
    Ok(bytes.response.as_bytes().to_vec())
}

/// Finds who signed the response, checks they may, and checks the signature. Returns
/// a description of the responder for the report.
fn verify_signer(
    basic: &BasicOcspResponse,
    basic_der: &[u8],
    issuer: &X509Certificate<'_>,
    settings: &OcspSettings,
    now: SystemTime,
) -> Result<String, String> {
    let parts = signed::split_signed(basic_der).map_err(|e| format!("response: {e}"))?;
    let signature_problem = |e: signed::SignatureProblem| format!("response signature: {e}");
    if names_responder(&basic.tbs_response_data.responder_id, issuer) {
        signed::verify(&parts, issuer.public_key().raw, &settings.policy)
            .map_err(signature_problem)?;
        return Ok(format!("signed by the CA {}", issuer.subject()));
    }
    let certs = basic.certs.as_deref().unwrap_or_default();
    let mut refusals = Vec::new();
    for cert in certs.iter().take(MAX_RESPONSE_CERTS) {
        let der = cert.to_der().map_err(|e| e.to_string())?;
        let Ok((_, candidate)) = x509_parser::parse_x509_certificate(&der) else {
            continue;
        };
        if !names_responder(&basic.tbs_response_data.responder_id, &candidate) {
            continue;
        }
        match authorise_delegate(&candidate, &der, issuer, &settings.policy, now) {
            Ok(nocheck) => {
                signed::verify(&parts, candidate.public_key().raw, &settings.policy)
                    .map_err(signature_problem)?;
                let note = match nocheck {
                    true => "ocsp-nocheck",
                    false => "no ocsp-nocheck: its own status was not checked",
                };
                return Ok(format!(
                    "delegated responder {}, {note}",
                    candidate.subject()
                ));
            }
            Err(why) => refusals.push(why),
        }
    }
    match refusals.is_empty() {
        true => Err("signed by neither the CA nor a responder certificate it carries".into()),
        false => Err(format!("responder not authorised: {}", refusals.join("; "))),
    }
}

fn names_responder(id: &ResponderId, cert: &X509Certificate<'_>) -> bool {
    match id {
        ResponderId::ByName(name) => name
            .to_der()
            .is_ok_and(|der| der.as_slice() == cert.subject().as_raw()),
        ResponderId::ByKey(hash) => signed::public_key_bits(cert.public_key().raw)
            .is_ok_and(|key| digest_of(OcspHash::Sha1, key) == hash.as_bytes()),
    }
}

/// RFC 6960 §4.2.2.2: issued by the CA, for OCSP signing, valid now. `Ok(nocheck)`.
fn authorise_delegate(
    responder: &X509Certificate<'_>,
    responder_der: &[u8],
    issuer: &X509Certificate<'_>,
    policy: &CryptoPolicy,
    now: SystemTime,
) -> Result<bool, String> {
    let subject = responder.subject();
    if responder.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!("{subject} is not issued by the CA"));
    }
    let parts = signed::split_signed(responder_der).map_err(|e| e.to_string())?;
    signed::verify(&parts, issuer.public_key().raw, policy)
        .map_err(|e| format!("{subject}: certificate {e}"))?;
    let eku = responder.extended_key_usage().ok().flatten();
    if !eku.is_some_and(|eku| eku.value.ocsp_signing) {
        return Err(format!("{subject} has no id-kp-OCSPSigning"));
    }
    if let Ok(Some(usage)) = responder.key_usage() {
        if !usage.value.digital_signature() {
            return Err(format!("{subject}: keyUsage lacks digitalSignature"));
        }
    }
    let validity = responder.validity();
    let (from, to) = (
        super::crl::system_time(validity.not_before),
        super::crl::system_time(validity.not_after),
    );
    if now < from || now > to {
        return Err(format!("{subject} is not valid now"));
    }
    Ok(responder
        .extensions()
        .iter()
        .any(|extension| extension.oid.to_id_string() == OID_OCSP_NOCHECK))
}

fn check_nonce(basic: &BasicOcspResponse, sent: Option<&[u8]>) -> Result<(), String> {
    let Some(sent) = sent else {
        return Ok(());
    };
    let echoed = basic
        .tbs_response_data
        .response_extensions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|extension| extension.extn_id == ID_PKIX_OCSP_NONCE);
    match echoed {
        None => {
            Err("the response does not echo the nonce (a pre-produced or replayed response)".into())
        }
        Some(extension) if extension.extn_value.as_bytes() != sent => {
            Err("the response carries another nonce (a replayed response)".into())
        }
        Some(_) => Ok(()),
    }
}

fn matching_response<'a>(
    basic: &'a BasicOcspResponse,
    ours: &CertId,
) -> Result<&'a SingleResponse, String> {
    basic
        .tbs_response_data
        .responses
        .iter()
        .find(|single| {
            let theirs = &single.cert_id;
            theirs.hash_algorithm.oid == ours.hash_algorithm.oid
                && theirs.issuer_name_hash == ours.issuer_name_hash
                && theirs.issuer_key_hash == ours.issuer_key_hash
                && theirs.serial_number.as_bytes() == ours.serial_number.as_bytes()
        })
        .ok_or_else(|| "the response does not answer for this certificate".to_string())
}

fn check_freshness(
    single: &SingleResponse,
    max_age: Duration,
    now: SystemTime,
) -> Result<(), String> {
    let this_update = generalized(&single.this_update.0);
    if this_update > now + CLOCK_SKEW {
        return Err(format!(
            "thisUpdate {} is in the future",
            rfc3339(this_update)
        ));
    }
    let good_until = match &single.next_update {
        Some(next) => generalized(&next.0),
        None => this_update + max_age,
    };
    match good_until + CLOCK_SKEW < now {
        true => Err(format!("stale: valid until {}", rfc3339(good_until))),
        false => Ok(()),
    }
}

fn generalized(time: &der::asn1::GeneralizedTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + time.to_unix_duration()
}
