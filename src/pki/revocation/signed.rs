//! Signed ASN.1 objects (CRLs, OCSP responses, responder certificates) taken apart as
//! their bytes were sent, and their signatures checked with the issuer's key.
//!
//! The to-be-signed part is sliced out of the original DER, never re-encoded: a
//! re-encoding that differs by one byte would fail a good signature or, worse, pass
//! a different one. The verifiers are the same as path building's
//! ([`crate::pki::algorithms`]), and the [`CryptoPolicy`] judges the algorithm, so a
//! SHA-1 CRL is refused unless the legacy switch is on, exactly like a SHA-1 certificate.

use der::asn1::ObjectIdentifier;
use der::{Decode, Header, Reader, SliceReader, Tag};

use crate::pki::algorithms::VERIFIABLE;
use crate::pki::crypto_policy::{signature_strength, Strength};
use crate::pki::CryptoPolicy;

/// `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING, ... }`, borrowed from the input.
pub(crate) struct SignedParts<'a> {
    /// The whole to-be-signed TLV, as signed.
    pub tbs: &'a [u8],
    /// The body of the signature AlgorithmIdentifier (OID and parameters), the form
    /// rustls-pki-types compares.
    pub algorithm: &'a [u8],
    /// The signature bits.
    pub signature: &'a [u8],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SignatureProblem {
    #[error("not a signed DER structure: {0}")]
    Malformed(String),
    #[error("signature algorithm {0} not supported with the issuer's key")]
    Unsupported(String),
    #[error("signature algorithm {0} not allowed by the crypto policy")]
    NotAllowed(String),
    #[error("SHA-1 signature ({0}); allowed only under the legacy switch")]
    Legacy(String),
    #[error("signature does not verify with the issuer's key")]
    Invalid,
}

fn malformed(error: der::Error) -> SignatureProblem {
    SignatureProblem::Malformed(error.to_string())
}

/// Splits a signed structure. Trailing elements after the signature (an OCSP
/// response's `certs`) are allowed; trailing bytes after the structure are not.
pub(crate) fn split_signed(der: &[u8]) -> Result<SignedParts<'_>, SignatureProblem> {
    let body = sequence_body(der)?;
    let mut reader = SliceReader::new(body).map_err(malformed)?;
    let tbs = reader.tlv_bytes().map_err(malformed)?;
    let algorithm = body_of(reader.tlv_bytes().map_err(malformed)?, Tag::Sequence)?;
    let bits = body_of(reader.tlv_bytes().map_err(malformed)?, Tag::BitString)?;
    match bits.split_first() {
        Some((0, signature)) => Ok(SignedParts {
            tbs,
            algorithm,
            signature,
        }),
        _ => Err(SignatureProblem::Malformed(
            "signature BIT STRING with unused bits".into(),
        )),
    }
}

/// The body of a DER `SEQUENCE` that must span all of `der`.
fn sequence_body(der: &[u8]) -> Result<&[u8], SignatureProblem> {
    let mut reader = SliceReader::new(der).map_err(malformed)?;
    let header = Header::decode(&mut reader).map_err(malformed)?;
    header.tag.assert_eq(Tag::Sequence).map_err(malformed)?;
    let body = reader.read_slice(header.length).map_err(malformed)?;
    reader.finish(body).map_err(malformed)
}

fn body_of(tlv: &[u8], tag: Tag) -> Result<&[u8], SignatureProblem> {
    let mut reader = SliceReader::new(tlv).map_err(malformed)?;
    let header = Header::decode(&mut reader).map_err(malformed)?;
    header.tag.assert_eq(tag).map_err(malformed)?;
    reader.read_slice(header.length).map_err(malformed)
}

/// A SubjectPublicKeyInfo's algorithm body and key bits.
fn split_spki(spki: &[u8]) -> Result<(&[u8], &[u8]), SignatureProblem> {
    let body = sequence_body(spki)?;
    let mut reader = SliceReader::new(body).map_err(malformed)?;
    let algorithm = body_of(reader.tlv_bytes().map_err(malformed)?, Tag::Sequence)?;
    let bits = body_of(reader.tlv_bytes().map_err(malformed)?, Tag::BitString)?;
    match bits.split_first() {
        Some((0, key)) => Ok((algorithm, key)),
        _ => Err(SignatureProblem::Malformed(
            "public key with unused bits".into(),
        )),
    }
}

/// The dotted OID of an AlgorithmIdentifier body.
fn algorithm_oid(algorithm: &[u8]) -> Result<String, SignatureProblem> {
    let mut reader = SliceReader::new(algorithm).map_err(malformed)?;
    let oid = ObjectIdentifier::decode(&mut reader).map_err(malformed)?;
    Ok(oid.to_string())
}

/// Checks `parts` was signed by the key of `issuer_spki` (a SubjectPublicKeyInfo, DER)
/// with an algorithm `policy` allows.
pub(crate) fn verify(
    parts: &SignedParts<'_>,
    issuer_spki: &[u8],
    policy: &CryptoPolicy,
) -> Result<(), SignatureProblem> {
    let oid = algorithm_oid(parts.algorithm)?;
    match signature_strength(&oid) {
        Some(Strength::Current) => {}
        Some(Strength::Legacy) if policy.allow_legacy => {}
        Some(Strength::Legacy) => return Err(SignatureProblem::Legacy(oid)),
        None => return Err(SignatureProblem::NotAllowed(oid)),
    }
    let (key_algorithm, key) = split_spki(issuer_spki)?;
    let verifier = VERIFIABLE.iter().find(|candidate| {
        candidate.public_key_alg_id().as_ref() == key_algorithm
            && candidate.signature_alg_id().as_ref() == parts.algorithm
    });
    match verifier {
        Some(verifier) => verifier
            .verify_signature(key, parts.tbs, parts.signature)
            .map_err(|_| SignatureProblem::Invalid),
        None => Err(SignatureProblem::Unsupported(oid)),
    }
}

/// The subjectPublicKey bits of a SubjectPublicKeyInfo (what OCSP's issuerKeyHash and
/// ResponderID byKey hash).
pub(crate) fn public_key_bits(spki: &[u8]) -> Result<&[u8], SignatureProblem> {
    split_spki(spki).map(|(_, key)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_trailing_input_is_malformed_not_a_panic() {
        for input in [&[][..], &[0x30], &[0x30, 0x05, 0x01], &[0x30, 0x00, 0x00]] {
            assert!(matches!(
                split_signed(input),
                Err(SignatureProblem::Malformed(_))
            ));
        }
    }
}
