//! The fields of a certificate that a validation report shows, read with x509-parser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::report::rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::x509::X509Name;

/// userId (RFC 4519), which Vietnamese CAs use for `MST:<tax code>`,
/// `CCCD:<citizen id>`, `CMND:<old id card>` in subject DNs.
const OID_USER_ID: &str = "0.9.2342.19200300.100.1.1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    /// Lower-case hex, no separators, as `openssl x509 -serial` prints it (but lower).
    pub serial_hex: String,
    #[serde(serialize_with = "rfc3339")]
    pub not_before: SystemTime,
    #[serde(serialize_with = "rfc3339")]
    pub not_after: SystemTime,
    /// Upper-case hex with colons, as `openssl x509 -fingerprint -sha256` prints it.
    pub sha256_fingerprint: String,
    pub common_name: Option<String>,
    pub organisation: Option<String>,
    /// The `UID` values of the subject (`MST:0100109106`, `CCCD:001099001234`, ...).
    pub identifiers: Vec<String>,
}

impl CertificateInfo {
    pub(crate) fn from_parsed(der: &[u8], cert: &X509Certificate<'_>) -> CertificateInfo {
        let validity = cert.validity();
        CertificateInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial_hex: hex_lower(cert.raw_serial()),
            not_before: system_time(validity.not_before.timestamp()),
            not_after: system_time(validity.not_after.timestamp()),
            sha256_fingerprint: sha256_fingerprint(der),
            common_name: first_string(cert.subject().iter_common_name()),
            organisation: first_string(cert.subject().iter_organization()),
            identifiers: user_ids(cert.subject()),
        }
    }

    /// Parses `der`; `None` if it is not a certificate.
    pub fn from_der(der: &[u8]) -> Option<CertificateInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        Some(CertificateInfo::from_parsed(der, &cert))
    }
}

/// SHA-256 of the DER, `AB:CD:...`.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Certificate times before 1970 are legal (and used in test suites).
fn system_time(unix_seconds: i64) -> SystemTime {
    let offset = Duration::from_secs(unix_seconds.unsigned_abs());
    let time = match unix_seconds >= 0 {
        true => UNIX_EPOCH.checked_add(offset),
        false => UNIX_EPOCH.checked_sub(offset),
    };
    time.unwrap_or(UNIX_EPOCH)
}

fn first_string<'a>(
    mut values: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
) -> Option<String> {
    values
        .next()
        .and_then(|value| value.as_str().ok().map(str::to_string))
}

fn user_ids(name: &X509Name<'_>) -> Vec<String> {
    name.iter_attributes()
        .filter(|attribute| attribute.attr_type().to_id_string() == OID_USER_ID)
        .filter_map(|attribute| attribute.as_str().ok().map(str::to_string))
        .collect()
}
