//! The layout of a ContentInfo / SignedData (RFC 5652 §5.1), read with the bounded
//! [`Tlv`] walker before anything is decoded by the `cms` crate: every SET that crate
//! would sort is counted first, and certificates and SignerInfos come back as the raw
//! slices the signer sent.

use ::cms::signed_data::SignerInfo;
use der::asn1::ObjectIdentifier;
use der::Decode;

use super::tlv::{single, Tlv};
use super::{CmsFormatError, MAX_CERTIFICATES, MAX_SIGNER_INFOS};

/// id-signedData (1.2.840.113549.1.7.2), content octets.
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// More digest algorithms than SignerInfos make no sense; a little slack for junk.
const MAX_DIGEST_ALGORITHMS: usize = 2 * MAX_SIGNER_INFOS;
/// CRLs / OCSP responses carried in `crls [1]`: counted only (they are not used yet).
const MAX_REVOCATION_ENTRIES: usize = 64;
/// Attributes in one signed or unsigned attribute set.
const MAX_ATTRIBUTES: usize = 64;
/// Values of one attribute.
const MAX_ATTRIBUTE_VALUES: usize = 16;
/// A SignerIdentifier is an issuer name and a serial, or a key identifier.
const MAX_SIGNER_ID_BYTES: usize = 8 * 1024;

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_CONTEXT_0: u8 = 0xa0;
const TAG_CONTEXT_1: u8 = 0xa1;
/// subjectKeyIdentifier [0] IMPLICIT OCTET STRING (primitive).
const TAG_SID_KEY_ID: u8 = 0x80;

/// A SignedData, taken apart.
#[derive(Debug)]
pub(crate) struct SignedDataParts<'a> {
    pub econtent_type: ObjectIdentifier,
    /// The contents of the eContent OCTET STRING: `None` for a detached signature.
    pub econtent: Option<&'a [u8]>,
    /// The embedded certificates, DER, in the order they were sent.
    pub certificates: Vec<&'a [u8]>,
    pub signer_infos: Vec<SignerInfoParts<'a>>,
}

/// One SignerInfo: decoded by the `cms` crate (after its sets were counted), plus the
/// raw signer identifier, compared byte for byte with the certificates.
#[derive(Debug)]
pub(crate) struct SignerInfoParts<'a> {
    pub decoded: SignerInfo,
    pub signer_id: SignerId<'a>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum SignerId<'a> {
    IssuerAndSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyIdentifier(&'a [u8]),
}

/// Takes apart a DER ContentInfo carrying a SignedData (trailing zero octets allowed).
pub(crate) fn parse_content_info(der: &[u8]) -> Result<SignedDataParts<'_>, CmsFormatError> {
    let content_info = single(der, TAG_SEQUENCE, "ContentInfo")?;
    let (content_type, rest) = Tlv::expect(content_info.value, TAG_OID, "contentType")?;
    if content_type.value != OID_SIGNED_DATA {
        return Err(CmsFormatError::NotSignedData);
    }
    let (explicit, rest) = Tlv::expect(rest, TAG_CONTEXT_0, "content [0]")?;
    no_more(rest, "ContentInfo")?;
    let signed_data = single(explicit.value, TAG_SEQUENCE, "SignedData")?;
    parse_signed_data(signed_data.value)
}

fn parse_signed_data(body: &[u8]) -> Result<SignedDataParts<'_>, CmsFormatError> {
    let (_version, rest) = Tlv::expect(body, TAG_INTEGER, "SignedData version")?;
    let (digest_algorithms, rest) = Tlv::expect(rest, TAG_SET, "digestAlgorithms")?;
    digest_algorithms.children(MAX_DIGEST_ALGORITHMS, "digest algorithms")?;
    let (encapsulated, rest) = Tlv::expect(rest, TAG_SEQUENCE, "encapContentInfo")?;
    let (econtent_type, econtent) = parse_encapsulated(encapsulated.value)?;
    let (certificates, rest) = Tlv::optional(rest, TAG_CONTEXT_0)?;
    let certificates = match certificates {
        Some(set) => embedded_certificates(&set)?,
        None => Vec::new(),
    };
    let (crls, rest) = Tlv::optional(rest, TAG_CONTEXT_1)?;
    if let Some(crls) = crls {
        crls.children(MAX_REVOCATION_ENTRIES, "revocation entries")?;
    }
    let (signer_infos, rest) = Tlv::expect(rest, TAG_SET, "signerInfos")?;
    no_more(rest, "SignedData")?;
    let signer_infos = signer_infos
        .children(MAX_SIGNER_INFOS, "SignerInfos")?
        .iter()
        .map(parse_signer_info)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SignedDataParts {
        econtent_type,
        econtent,
        certificates,
        signer_infos,
    })
}

fn parse_encapsulated(body: &[u8]) -> Result<(ObjectIdentifier, Option<&[u8]>), CmsFormatError> {
    let (oid, rest) = Tlv::expect(body, TAG_OID, "eContentType")?;
    let econtent_type = ObjectIdentifier::from_bytes(oid.value)
        .map_err(|_| CmsFormatError::Malformed("eContentType is not an OID"))?;
    let (explicit, rest) = Tlv::optional(rest, TAG_CONTEXT_0)?;
    no_more(rest, "encapContentInfo")?;
    let econtent = match explicit {
        // A constructed OCTET STRING (0x24) is BER, refused by `expect`.
        Some(explicit) => Some(single(explicit.value, TAG_OCTET_STRING, "eContent")?.value),
        None => None,
    };
    Ok((econtent_type, econtent))
}

fn embedded_certificates<'a>(set: &Tlv<'a>) -> Result<Vec<&'a [u8]>, CmsFormatError> {
    Ok(set
        .children(MAX_CERTIFICATES, "certificates")?
        .into_iter()
        // Other CertificateChoices (attribute certificates, [3] other) are not X.509.
        .filter(|choice| choice.tag == TAG_SEQUENCE)
        .map(|certificate| certificate.whole)
        .collect())
}

fn parse_signer_info<'a>(signer_info: &Tlv<'a>) -> Result<SignerInfoParts<'a>, CmsFormatError> {
    if signer_info.tag != TAG_SEQUENCE {
        return Err(CmsFormatError::Unexpected("SignerInfo"));
    }
    let (_version, rest) = Tlv::expect(signer_info.value, TAG_INTEGER, "SignerInfo version")?;
    let (sid, rest) = Tlv::read(rest)?;
    let signer_id = parse_signer_id(&sid)?;
    let (_digest_algorithm, rest) = Tlv::expect(rest, TAG_SEQUENCE, "digestAlgorithm")?;
    let (signed_attributes, rest) = Tlv::optional(rest, TAG_CONTEXT_0)?;
    let (_signature_algorithm, rest) = Tlv::expect(rest, TAG_SEQUENCE, "signatureAlgorithm")?;
    let (_signature, rest) = Tlv::expect(rest, TAG_OCTET_STRING, "signature")?;
    let (unsigned_attributes, rest) = Tlv::optional(rest, TAG_CONTEXT_1)?;
    no_more(rest, "SignerInfo")?;
    for attributes in [signed_attributes, unsigned_attributes]
        .into_iter()
        .flatten()
    {
        count_attribute_values(&attributes)?;
    }
    let decoded = SignerInfo::from_der(signer_info.whole).map_err(CmsFormatError::Der)?;
    Ok(SignerInfoParts { decoded, signer_id })
}

fn parse_signer_id<'a>(sid: &Tlv<'a>) -> Result<SignerId<'a>, CmsFormatError> {
    if sid.whole.len() > MAX_SIGNER_ID_BYTES {
        return Err(CmsFormatError::Malformed("signer identifier too large"));
    }
    match sid.tag {
        TAG_SEQUENCE => {
            let (issuer, rest) = Tlv::expect(sid.value, TAG_SEQUENCE, "issuer name")?;
            let (serial, rest) = Tlv::expect(rest, TAG_INTEGER, "serial number")?;
            no_more(rest, "IssuerAndSerialNumber")?;
            Ok(SignerId::IssuerAndSerial {
                issuer: issuer.whole,
                serial: serial.value,
            })
        }
        TAG_SID_KEY_ID => Ok(SignerId::KeyIdentifier(sid.value)),
        _ => Err(CmsFormatError::Unexpected("SignerIdentifier")),
    }
}

/// Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY }: counts both sets.
fn count_attribute_values(attributes: &Tlv<'_>) -> Result<(), CmsFormatError> {
    for attribute in attributes.children(MAX_ATTRIBUTES, "attributes")? {
        let (_oid, rest) = Tlv::expect(attribute.value, TAG_OID, "attribute type")?;
        let (values, _) = Tlv::expect(rest, TAG_SET, "attribute values")?;
        values.children(MAX_ATTRIBUTE_VALUES, "attribute values")?;
    }
    Ok(())
}

fn no_more(rest: &[u8], what: &'static str) -> Result<(), CmsFormatError> {
    match rest.is_empty() {
        true => Ok(()),
        false => Err(CmsFormatError::Unexpected(what)),
    }
}
