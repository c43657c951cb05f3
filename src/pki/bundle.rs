//! Certificate files as operators receive them: PEM (one or many certificates, or a
//! `PKCS7` block), DER, and PKCS#7 "certs-only" bundles (`.p7b`), DER or PEM.
//!
//! The PKCS#7 reader is a small bounded DER walk over ContentInfo → SignedData →
//! `certificates [0]`: it extracts certificates and nothing else (no signature of a
//! certs-only bundle is meaningful).

/// Why a file yielded no certificates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("PEM: {0}")]
    Pem(String),
    #[error("neither a DER certificate nor a PKCS#7 bundle")]
    NotACertificate,
    #[error("PKCS#7 bundle: {0}")]
    Pkcs7(&'static str),
    #[error("no certificate in the file")]
    Empty,
    #[error("more than {MAX_CERTIFICATES} certificates in one file")]
    TooMany,
    #[error("certificate #{index} does not parse: {reason}")]
    BadCertificate { index: usize, reason: String },
}

/// A bundle larger than this is not a trust list but a mistake or an attack.
pub const MAX_CERTIFICATES: usize = 1000;

/// id-signedData, 1.2.840.113549.1.7.2, the OID's content octets.
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// Every certificate in `bytes`, DER, each checked to parse as X.509.
pub fn decode_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, BundleError> {
    let certificates = match looks_like_pem(bytes) {
        true => decode_pem(bytes)?,
        false => decode_der(bytes)?,
    };
    if certificates.is_empty() {
        return Err(BundleError::Empty);
    }
    if certificates.len() > MAX_CERTIFICATES {
        return Err(BundleError::TooMany);
    }
    for (index, der) in certificates.iter().enumerate() {
        if let Err(error) = x509_parser::parse_x509_certificate(der) {
            return Err(BundleError::BadCertificate {
                index: index + 1,
                reason: error.to_string(),
            });
        }
    }
    Ok(certificates)
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"-----BEGIN")
}

fn decode_pem(bytes: &[u8]) -> Result<Vec<Vec<u8>>, BundleError> {
    let blocks = pem::parse_many(bytes).map_err(|error| BundleError::Pem(error.to_string()))?;
    let mut certificates = Vec::new();
    for block in blocks {
        match block.tag() {
            "CERTIFICATE" | "X509 CERTIFICATE" => certificates.push(block.into_contents()),
            "PKCS7" => certificates.extend(pkcs7_certificates(block.contents())?),
            // Keys, CRLs and parameters may share a file with certificates.
            _ => {}
        }
        if certificates.len() > MAX_CERTIFICATES {
            return Err(BundleError::TooMany);
        }
    }
    Ok(certificates)
}

fn decode_der(bytes: &[u8]) -> Result<Vec<Vec<u8>>, BundleError> {
    if x509_parser::parse_x509_certificate(bytes).is_ok_and(|(rest, _)| rest.is_empty()) {
        return Ok(vec![bytes.to_vec()]);
    }
    match pkcs7_certificates(bytes) {
        Ok(certificates) => Ok(certificates),
        Err(_) => Err(BundleError::NotACertificate),
    }
}

/// ContentInfo { contentType signedData, [0] EXPLICIT SignedData { version,
/// digestAlgorithms, encapContentInfo, [0] IMPLICIT certificates, ... } }.
fn pkcs7_certificates(der: &[u8]) -> Result<Vec<Vec<u8>>, BundleError> {
    let (content_info, _) = Tlv::expect(der, 0x30)?;
    let (content_type, rest) = Tlv::expect(content_info.value, 0x06)?;
    if content_type.value != OID_SIGNED_DATA {
        return Err(BundleError::Pkcs7("not a SignedData"));
    }
    let (explicit, _) = Tlv::expect(rest, 0xa0)?;
    let (signed_data, _) = Tlv::expect(explicit.value, 0x30)?;
    let (_version, rest) = Tlv::expect(signed_data.value, 0x02)?;
    let (_digest_algorithms, rest) = Tlv::expect(rest, 0x31)?;
    let (_encap_content_info, rest) = Tlv::expect(rest, 0x30)?;
    let certificates = match Tlv::read(rest)? {
        (tlv, _) if tlv.tag == 0xa0 => tlv.value,
        _ => return Ok(Vec::new()),
    };
    let mut found = Vec::new();
    let mut remaining = certificates;
    while !remaining.is_empty() {
        let (certificate, rest) = Tlv::read(remaining)?;
        // Other choices (attribute certificates [1], [2], ...) are not X.509 certificates.
        if certificate.tag == 0x30 {
            found.push(certificate.whole.to_vec());
        }
        if found.len() > MAX_CERTIFICATES {
            return Err(BundleError::TooMany);
        }
        remaining = rest;
    }
    Ok(found)
}

/// One DER tag-length-value. Definite lengths only (DER); at most 4 length octets.
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    whole: &'a [u8],
}

impl<'a> Tlv<'a> {
    fn read(input: &'a [u8]) -> Result<(Tlv<'a>, &'a [u8]), BundleError> {
        let truncated = BundleError::Pkcs7("truncated DER");
        let (&tag, rest) = input.split_first().ok_or(truncated.clone())?;
        if tag & 0x1f == 0x1f {
            return Err(BundleError::Pkcs7("multi-byte tags are not used in PKCS#7"));
        }
        let (&first, rest) = rest.split_first().ok_or(truncated.clone())?;
        let (length, rest) = match first {
            0x00..=0x7f => (usize::from(first), rest),
            0x80 => return Err(BundleError::Pkcs7("indefinite length (BER) is not DER")),
            0x81..=0x84 => {
                let count = usize::from(first & 0x7f);
                if rest.len() < count {
                    return Err(truncated);
                }
                let (octets, rest) = rest.split_at(count);
                let length = octets
                    .iter()
                    .fold(0usize, |length, &octet| (length << 8) | usize::from(octet));
                (length, rest)
            }
            _ => return Err(BundleError::Pkcs7("length too large")),
        };
        if rest.len() < length {
            return Err(truncated);
        }
        let header = input.len() - rest.len();
        let (value, after) = rest.split_at(length);
        let whole = &input[..header + length];
        Ok((Tlv { tag, value, whole }, after))
    }

    fn expect(input: &'a [u8], tag: u8) -> Result<(Tlv<'a>, &'a [u8]), BundleError> {
        let (tlv, rest) = Tlv::read(input)?;
        match tlv.tag == tag {
            true => Ok((tlv, rest)),
            false => Err(BundleError::Pkcs7("unexpected DER structure")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_without_panicking() {
        for input in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x80\x00\x00",
            b"hello",
        ] {
            assert!(decode_certificates(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn a_pem_file_without_certificates_is_empty() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(decode_certificates(pem.as_bytes()), Err(BundleError::Empty));
    }
}
