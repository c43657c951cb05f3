//! RFC 3161 TimeStampTokens: a SignedData whose eContent is a TSTInfo, signed by a
//! time-stamping authority (EKU timeStamping, critical and alone). The token holds when
//! its SignerInfo verifies, the TSA's chain validates (at the run's time: basic
//! validation has no earlier proof for the TSA itself) and the messageImprint is the
//! digest of what it is said to stamp. Only then is genTime a proven time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::DateTime;

use super::signer::{verify_parts, SignerOptions};
use super::structure::parse_content_info;
use super::tlv::Tlv;
use crate::pki::report::{ChainFailure, Indication, SubIndication, TimestampReport};
use crate::pki::{DigestAlgorithm, SignedContent, Usage, VerifyContext};

/// id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4).
const OID_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";

/// What a TSTInfo says (RFC 3161 §2.4.2), as far as verification needs it.
#[derive(Debug)]
struct TstInfo {
    imprint_algorithm: DigestAlgorithm,
    imprint: Vec<u8>,
    gen_time: SystemTime,
}

/// Verifies `token_der` (a DER ContentInfo) as a timestamp over `imprint`. The
/// report's `time` is genTime when the TSTInfo could be read (the UNIX epoch
/// otherwise); it proves something only when `indication` is TOTAL_PASSED.
pub fn verify_timestamp_token(
    ctx: &VerifyContext,
    token_der: &[u8],
    imprint: &mut dyn SignedContent,
) -> TimestampReport {
    let mut report = TimestampReport {
        time: UNIX_EPOCH,
        indication: Indication::TotalPassed,
        sub_indication: None,
        errors: Vec::new(),
        authority: None,
        trust_list: None,
    };
    if let Err(failure) = verify_into(ctx, token_der, imprint, &mut report) {
        fail(&mut report, failure);
    }
    report
}

fn verify_into(
    ctx: &VerifyContext,
    token_der: &[u8],
    imprint: &mut dyn SignedContent,
    report: &mut TimestampReport,
) -> Result<(), ChainFailure> {
    let parts = parse_content_info(token_der)?;
    if parts.econtent_type.to_string() != OID_TST_INFO {
        return Err(format_failure("the token's content is not a TSTInfo"));
    }
    let Some(econtent) = parts.econtent else {
        return Err(format_failure("the token carries no TSTInfo"));
    };
    if parts.signer_infos.len() != 1 {
        return Err(format_failure(
            "a timestamp token must have exactly one SignerInfo",
        ));
    }
    let tst_info = parse_tst_info(econtent)?;
    report.time = tst_info.gen_time;
    let options = SignerOptions {
        usage: Usage::Timestamping,
        timestamps: false,
        require_signing_certificate: true,
        covers: "the TSTInfo".into(),
    };
    let mut signed = econtent;
    let signatures = verify_parts(ctx, &parts, &mut signed, &options)?;
    if let Some(signature) = signatures.into_iter().next() {
        report.authority = signature.signer;
        report.trust_list = signature.trust_list;
        if let Some(sub_indication) = signature.sub_indication {
            report.indication = signature.indication;
            report.sub_indication = Some(sub_indication);
            report.errors.extend(signature.errors);
        }
    }
    let digests = imprint
        .digests(&[tst_info.imprint_algorithm])
        .map_err(|error| format_failure(&format!("reading the stamped data: {error}")))?;
    if digests.first() != Some(&tst_info.imprint) {
        fail(
            report,
            ChainFailure::new(
                SubIndication::HashFailure,
                "the timestamp's messageImprint is not the digest of the stamped data",
            ),
        );
    }
    if tst_info.imprint_algorithm.is_legacy() && !ctx.policy.allow_legacy {
        fail(
            report,
            ChainFailure::new(
                SubIndication::CryptoConstraintsFailure,
                "the timestamp's messageImprint is SHA-1",
            ),
        );
    }
    Ok(())
}

/// Same precedence as [`crate::pki::SignatureReport::fail`].
fn fail(report: &mut TimestampReport, failure: ChainFailure) {
    let replaces = match report.sub_indication {
        None => true,
        Some(current) => {
            current.indication() == Indication::Indeterminate
                && failure.indication() == Indication::TotalFailed
        }
    };
    if replaces {
        report.sub_indication = Some(failure.sub_indication);
        report.indication = failure.indication();
    }
    report.errors.push(failure.detail);
}

/// TSTInfo ::= SEQUENCE { version INTEGER (1), policy OID, messageImprint
/// MessageImprint, serialNumber INTEGER, genTime GeneralizedTime, ... }.
fn parse_tst_info(der: &[u8]) -> Result<TstInfo, ChainFailure> {
    let (tst_info, _) = Tlv::expect(der, 0x30, "TSTInfo")?;
    let (version, rest) = Tlv::expect(tst_info.value, 0x02, "TSTInfo version")?;
    if version.value != [1] {
        return Err(format_failure("TSTInfo version is not 1"));
    }
    let (_policy, rest) = Tlv::expect(rest, 0x06, "TSA policy")?;
    let (message_imprint, rest) = Tlv::expect(rest, 0x30, "messageImprint")?;
    let (_serial, rest) = Tlv::expect(rest, 0x02, "TSTInfo serialNumber")?;
    let (gen_time, _) = Tlv::expect(rest, 0x18, "genTime")?;
    let (algorithm, rest) = Tlv::expect(message_imprint.value, 0x30, "hashAlgorithm")?;
    let (oid, _) = Tlv::expect(algorithm.value, 0x06, "hashAlgorithm OID")?;
    let (hashed, _) = Tlv::expect(rest, 0x04, "hashedMessage")?;
    let oid = der::asn1::ObjectIdentifier::from_bytes(oid.value)
        .map_err(|_| format_failure("messageImprint hash is not an OID"))?;
    let imprint_algorithm = DigestAlgorithm::from_oid(&oid.to_string()).ok_or_else(|| {
        ChainFailure::new(
            SubIndication::CryptoConstraintsFailure,
            format!("messageImprint hash {oid} not supported"),
        )
    })?;
    Ok(TstInfo {
        imprint_algorithm,
        imprint: hashed.value.to_vec(),
        gen_time: generalized_time(gen_time.value)?,
    })
}

/// `YYYYMMDDHHMMSS[.fraction]Z` (RFC 3161 §2.4.2: UTC, fraction without trailing zeros).
fn generalized_time(text: &[u8]) -> Result<SystemTime, ChainFailure> {
    let bad = || format_failure("genTime is not a UTC GeneralizedTime");
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    let text = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(bad());
    }
    let number =
        |range: std::ops::Range<usize>| whole.get(range).and_then(|s| s.parse::<u16>().ok());
    let field = |range| number(range).ok_or_else(bad);
    let as_u8 = |value: u16| u8::try_from(value).map_err(|_| bad());
    let time = DateTime::new(
        field(0..4)?,
        as_u8(field(4..6)?)?,
        as_u8(field(6..8)?)?,
        as_u8(field(8..10)?)?,
        as_u8(field(10..12)?)?,
        as_u8(field(12..14)?)?,
    )
    .map_err(|_| bad())?
    .to_system_time();
    let nanos = match fraction {
        Some(digits)
            if !digits.is_empty()
                && digits.len() <= 9
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{digits:0<9}").parse::<u32>().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
        None => 0,
    };
    Ok(time + Duration::from_nanos(u64::from(nanos)))
}

fn format_failure(why: &str) -> ChainFailure {
    ChainFailure::new(SubIndication::FormatFailure, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen_time_with_and_without_fraction() {
        let plain = generalized_time(b"20261202210000Z").unwrap();
        assert_eq!(
            plain.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_796_245_200
        );
        let fraction = generalized_time(b"20261202210000.5Z").unwrap();
        assert_eq!(fraction.duration_since(plain).unwrap().as_millis(), 500);
        for bad in [
            &b"20261202210000"[..],
            b"2026120221000Z",
            b"20261302210000Z",
            b"20261202210000.Z",
            b"\xff",
        ] {
            assert!(generalized_time(bad).is_err(), "{bad:?}");
        }
    }
}
