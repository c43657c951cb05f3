//! Signed and unsigned attributes of a SignerInfo (RFC 5652 §5.3, §11; RFC 5035 ESS
//! signing-certificate v1/v2; RFC 3161 appendix A signature timestamps).
//!
//! contentType, messageDigest and signingTime must each occur at most once with exactly
//! one value (RFC 5652 §11): a second messageDigest would let a verifier and a signer
//! disagree on which one counts, so duplicates are a format failure, not a choice.

use std::time::SystemTime;

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::time::Time;

use super::signature::format_failure;
use super::tlv::Tlv;
use crate::pki::report::ChainFailure;
use crate::pki::DigestAlgorithm;

const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const OID_SIGNING_TIME: &str = "1.2.840.113549.1.9.5";
const OID_SIGNING_CERTIFICATE: &str = "1.2.840.113549.1.9.16.2.12";
const OID_SIGNING_CERTIFICATE_V2: &str = "1.2.840.113549.1.9.16.2.47";
/// id-aa-signatureTimeStampToken.
const OID_SIGNATURE_TIMESTAMP: &str = "1.2.840.113549.1.9.16.2.14";

/// What the signed attributes say.
#[derive(Debug)]
pub(crate) struct SignedAttributes {
    pub content_type: ObjectIdentifier,
    pub message_digest: Vec<u8>,
    pub signing_time: Option<SystemTime>,
    /// The first ESSCertID(v2) of a signing-certificate attribute: the signer's.
    pub signing_certificate: Option<CertificateHash>,
    /// The DER of the attributes as a SET OF (tag 0x31, not the IMPLICIT [0] they
    /// are sent under): what the signature is computed over (RFC 5652 §5.4).
    pub der: Vec<u8>,
}

/// A hash of the signer's certificate, from ESS signing-certificate(-v2).
#[derive(Debug, Clone)]
pub(crate) struct CertificateHash {
    pub algorithm: DigestAlgorithm,
    pub hash: Vec<u8>,
    /// `signing-certificate-v2` or `signing-certificate`, for messages.
    pub attribute: &'static str,
}

impl SignedAttributes {
    pub fn read(attributes: &Attributes) -> Result<SignedAttributes, ChainFailure> {
        let der = attributes
            .to_der()
            .map_err(|error| format_failure(format!("signed attributes: {error}")))?;
        let content_type = single_value(attributes, OID_CONTENT_TYPE, "contentType")?
            .ok_or_else(|| format_failure("signed attributes lack contentType".into()))?;
        let content_type = ObjectIdentifier::from_bytes(content_type.value())
            .map_err(|_| format_failure("contentType is not an OID".into()))?;
        let message_digest = single_value(attributes, OID_MESSAGE_DIGEST, "messageDigest")?
            .ok_or_else(|| format_failure("signed attributes lack messageDigest".into()))?;
        if message_digest.tag() != der::Tag::OctetString {
            return Err(format_failure(
                "messageDigest is not an OCTET STRING".into(),
            ));
        }
        let signing_time = single_value(attributes, OID_SIGNING_TIME, "signingTime")?
            .map(|value| {
                value
                    .to_der()
                    .ok()
                    .and_then(|der| Time::from_der(&der).ok())
                    .map(|time| time.to_system_time())
                    .ok_or_else(|| format_failure("signingTime does not parse".into()))
            })
            .transpose()?;
        Ok(SignedAttributes {
            content_type,
            message_digest: message_digest.value().to_vec(),
            signing_time,
            signing_certificate: signing_certificate(attributes)?,
            der,
        })
    }
}

/// The values of every id-aa-signatureTimeStampToken attribute, DER ContentInfos.
pub(crate) fn timestamp_tokens(unsigned: Option<&Attributes>) -> Vec<Vec<u8>> {
    unsigned
        .into_iter()
        .flat_map(|attributes| attributes.iter())
        .filter(|attribute| attribute.oid.to_string() == OID_SIGNATURE_TIMESTAMP)
        .flat_map(|attribute| attribute.values.iter())
        .filter_map(|value| value.to_der().ok())
        .collect()
}

fn occurrences<'a>(
    attributes: &'a Attributes,
    oid: &'a str,
) -> impl Iterator<Item = &'a Attribute> {
    attributes
        .iter()
        .filter(move |attribute| attribute.oid.to_string() == oid)
}

/// The one value of the attribute `oid`; `None` when absent, an error when repeated.
fn single_value<'a>(
    attributes: &'a Attributes,
    oid: &'a str,
    name: &str,
) -> Result<Option<&'a der::Any>, ChainFailure> {
    let mut found = occurrences(attributes, oid);
    let Some(attribute) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(format_failure(format!("{name} occurs more than once")));
    }
    match attribute.values.as_slice() {
        [value] => Ok(Some(value)),
        _ => Err(format_failure(format!(
            "{name} must have exactly one value"
        ))),
    }
}

/// ESS signing-certificate-v2 (preferred) or v1: the first certificate identifier.
fn signing_certificate(attributes: &Attributes) -> Result<Option<CertificateHash>, ChainFailure> {
    let v2 = single_value(
        attributes,
        OID_SIGNING_CERTIFICATE_V2,
        "signing-certificate-v2",
    )?;
    let v1 = single_value(attributes, OID_SIGNING_CERTIFICATE, "signing-certificate")?;
    let (value, v2) = match (v2, v1) {
        (Some(value), _) => (value, true),
        (None, Some(value)) => (value, false),
        (None, None) => return Ok(None),
    };
    let der = value
        .to_der()
        .map_err(|error| format_failure(format!("signing-certificate: {error}")))?;
    first_cert_id(&der, v2)
        .map(Some)
        .map_err(|_| format_failure("signing-certificate attribute does not parse".into()))
}

/// SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), ... };
/// ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash, issuerSerial OPT };
/// ESSCertID ::= SEQUENCE { certHash (SHA-1), issuerSerial OPTIONAL }.
fn first_cert_id(der: &[u8], v2: bool) -> Result<CertificateHash, ChainFailure> {
    let malformed = || format_failure("ESSCertID".into());
    let (outer, _) = Tlv::expect(der, 0x30, "SigningCertificate").map_err(|_| malformed())?;
    let (certs, _) = Tlv::expect(outer.value, 0x30, "certs").map_err(|_| malformed())?;
    let (first, _) = Tlv::expect(certs.value, 0x30, "ESSCertID").map_err(|_| malformed())?;
    let (algorithm, rest) = match (v2, first.value.first()) {
        (true, Some(0x30)) => {
            let (identifier, rest) = Tlv::read(first.value).map_err(|_| malformed())?;
            let identifier =
                AlgorithmIdentifierOwned::from_der(identifier.whole).map_err(|_| malformed())?;
            let algorithm = DigestAlgorithm::from_oid(&identifier.oid.to_string())
                .ok_or_else(|| format_failure(format!("ESSCertIDv2 hash {}", identifier.oid)))?;
            (algorithm, rest)
        }
        (true, _) => (DigestAlgorithm::Sha256, first.value),
        (false, _) => (DigestAlgorithm::Sha1, first.value),
    };
    let (hash, _) = Tlv::expect(rest, 0x04, "certHash").map_err(|_| malformed())?;
    Ok(CertificateHash {
        algorithm,
        hash: hash.value.to_vec(),
        attribute: match v2 {
            true => "signing-certificate-v2",
            false => "signing-certificate",
        },
    })
}
