//! The readable form of a [`DocumentReport`], in Vietnamese (the default) or English:
//! what `govgate verify` prints without `--json`. The JSON form is the report itself
//! (serde); this one is for a person at a terminal, so it leads with the verdict in
//! words and keeps the standard's indication beside it for anyone comparing with
//! EU DSS or pyHanko.

use std::fmt::Write;
use std::time::SystemTime;

use super::certificate::CertificateInfo;
use super::report::{standard_code, DocumentReport, Indication, RevocationStatus, SignatureReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportLanguage {
    #[default]
    Vi,
    En,
}

impl ReportLanguage {
    /// `en` (any case) is English; anything else Vietnamese.
    pub fn from_code(code: &str) -> ReportLanguage {
        match code.eq_ignore_ascii_case("en") {
            true => ReportLanguage::En,
            false => ReportLanguage::Vi,
        }
    }

    fn words(self) -> &'static Words {
        match self {
            ReportLanguage::Vi => &VI,
            ReportLanguage::En => &EN,
        }
    }
}

/// Every label the text form uses.
struct Words {
    passed: &'static str,
    failed: &'static str,
    indeterminate: &'static str,
    signature: &'static str,
    no_signature: &'static str,
    signer: &'static str,
    organisation: &'static str,
    identifiers: &'static str,
    claimed_time: &'static str,
    timestamp: &'static str,
    validated_at: &'static str,
    trust_list: &'static str,
    chain: &'static str,
    revocation: &'static str,
    not_checked: &'static str,
    good: &'static str,
    revoked_after: &'static str,
    algorithms: &'static str,
    covers: &'static str,
    errors: &'static str,
    warnings: &'static str,
}

const VI: Words = Words {
    passed: "HỢP LỆ",
    failed: "KHÔNG HỢP LỆ",
    indeterminate: "CHƯA XÁC ĐỊNH",
    signature: "Chữ ký",
    no_signature: "không có chữ ký nào",
    signer: "Người ký",
    organisation: "Cơ quan, tổ chức",
    identifiers: "Định danh",
    claimed_time: "Thời điểm ký (tự khai)",
    timestamp: "Dấu thời gian",
    validated_at: "Kiểm tra tại thời điểm",
    trust_list: "Danh sách tin cậy",
    chain: "Chuỗi chứng thư",
    revocation: "Tình trạng thu hồi",
    not_checked: "không kiểm tra",
    good: "chưa bị thu hồi",
    revoked_after: "bị thu hồi sau thời điểm kiểm tra, lúc",
    algorithms: "Thuật toán",
    covers: "Phạm vi được ký",
    errors: "Lỗi",
    warnings: "Lưu ý",
};

const EN: Words = Words {
    passed: "VALID",
    failed: "INVALID",
    indeterminate: "INDETERMINATE",
    signature: "Signature",
    no_signature: "no signature",
    signer: "Signer",
    organisation: "Organisation",
    identifiers: "Identifiers",
    claimed_time: "Claimed signing time",
    timestamp: "Timestamp",
    validated_at: "Validated at",
    trust_list: "Trust list",
    chain: "Certificate chain",
    revocation: "Revocation",
    not_checked: "not checked",
    good: "not revoked",
    revoked_after: "revoked after the validation time, at",
    algorithms: "Algorithms",
    covers: "Covers",
    errors: "Errors",
    warnings: "Notes",
};

/// The whole report as text, ending with a newline.
pub fn render(report: &DocumentReport, language: ReportLanguage) -> String {
    let words = language.words();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} ({})",
        report.document,
        verdict(words, report.indication),
        indication_code(
            report.indication,
            report.sub_indication.as_ref().map(standard_code).as_deref()
        )
    );
    for error in &report.errors {
        let _ = writeln!(out, "  {}: {error}", words.errors);
    }
    if report.signatures.is_empty() && report.errors.is_empty() {
        let _ = writeln!(out, "  {}", words.no_signature);
    }
    for (index, signature) in report.signatures.iter().enumerate() {
        render_signature(&mut out, words, index + 1, signature);
    }
    out
}

fn render_signature(out: &mut String, words: &Words, number: usize, signature: &SignatureReport) {
    let _ = writeln!(
        out,
        "  {} {number} — {}: {} ({})",
        words.signature,
        signature.label,
        verdict(words, signature.indication),
        indication_code(
            signature.indication,
            signature
                .sub_indication
                .as_ref()
                .map(standard_code)
                .as_deref()
        )
    );
    if let Some(signer) = &signature.signer {
        render_signer(out, words, signer);
    }
    if let Some(time) = signature.claimed_signing_time {
        line(out, words.claimed_time, &time_text(time));
    }
    if let Some(timestamp) = &signature.timestamp {
        let authority = timestamp
            .authority
            .as_ref()
            .and_then(|authority| authority.common_name.clone())
            .unwrap_or_default();
        let value = format!(
            "{} — {authority} ({})",
            time_text(timestamp.time),
            indication_code(
                timestamp.indication,
                timestamp
                    .sub_indication
                    .as_ref()
                    .map(standard_code)
                    .as_deref()
            )
        );
        line(out, words.timestamp, &value);
    }
    line(
        out,
        words.validated_at,
        &time_text(signature.validation_time),
    );
    if let Some(list) = &signature.trust_list {
        line(out, words.trust_list, list);
    }
    if !signature.chain.is_empty() {
        let names: Vec<&str> = signature
            .chain
            .iter()
            .map(|certificate| certificate.common_name.as_deref().unwrap_or("?"))
            .collect();
        line(out, words.chain, &names.join(" → "));
    }
    if let Some(revocation) = &signature.revocation {
        line(out, words.revocation, &revocation_text(words, revocation));
    }
    let algorithms: Vec<&str> = [&signature.digest_algorithm, &signature.signature_algorithm]
        .into_iter()
        .filter_map(|name| name.as_deref())
        .collect();
    if !algorithms.is_empty() {
        line(out, words.algorithms, &algorithms.join(", "));
    }
    for covered in &signature.covers {
        line(out, words.covers, covered);
    }
    for error in &signature.errors {
        line(out, words.errors, error);
    }
    for warning in &signature.warnings {
        line(out, words.warnings, warning);
    }
}

fn render_signer(out: &mut String, words: &Words, signer: &CertificateInfo) {
    line(
        out,
        words.signer,
        signer.common_name.as_deref().unwrap_or(&signer.subject),
    );
    if let Some(organisation) = &signer.organisation {
        line(out, words.organisation, organisation);
    }
    if !signer.identifiers.is_empty() {
        line(out, words.identifiers, &signer.identifiers.join(", "));
    }
}

fn line(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "    {label}: {value}");
}

fn verdict(words: &Words, indication: Indication) -> &'static str {
    match indication {
        Indication::TotalPassed => words.passed,
        Indication::TotalFailed => words.failed,
        Indication::Indeterminate => words.indeterminate,
    }
}

/// `TOTAL_FAILED/HASH_FAILURE`, in the standard's spelling.
fn indication_code(indication: Indication, sub: Option<&str>) -> String {
    let main = standard_code(&indication);
    match sub {
        Some(sub) => format!("{main}/{sub}"),
        None => main,
    }
}

fn revocation_text(words: &Words, status: &RevocationStatus) -> String {
    match status {
        RevocationStatus::NotChecked => words.not_checked.to_string(),
        RevocationStatus::Good { sources } => format!("{} ({})", words.good, sources.join(", ")),
        RevocationStatus::RevokedAfterValidationTime {
            revoked_at,
            sources,
        } => format!(
            "{} {} ({})",
            words.revoked_after,
            time_text(*revoked_at),
            sources.join(", ")
        ),
    }
}

fn time_text(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::report::{ChainFailure, DocumentFormat, SubIndication};

    fn report() -> DocumentReport {
        let mut good = SignatureReport::new("PDF field Signature1", SystemTime::UNIX_EPOCH);
        good.signer = Some(CertificateInfo {
            subject: "CN=Nguyễn Văn An".into(),
            issuer: "CN=VNPT-CA".into(),
            serial_hex: "01".into(),
            not_before: SystemTime::UNIX_EPOCH,
            not_after: SystemTime::UNIX_EPOCH,
            sha256_fingerprint: "AA".into(),
            common_name: Some("Nguyễn Văn An".into()),
            organisation: Some("UBND tỉnh".into()),
            identifiers: vec!["CCCD:027090001234".into()],
        });
        good.digest_algorithm = Some("sha-256".into());
        let mut bad = SignatureReport::new("PDF field Signature2", SystemTime::UNIX_EPOCH);
        bad.fail(ChainFailure::new(
            SubIndication::HashFailure,
            "the content changed",
        ));
        DocumentReport::from_signatures("qd.pdf", DocumentFormat::Pdf, vec![good, bad])
    }

    #[test]
    fn the_text_leads_with_the_verdict_in_words_and_the_standard_code() {
        let text = render(&report(), ReportLanguage::Vi);
        assert!(
            text.starts_with("qd.pdf: KHÔNG HỢP LỆ (TOTAL_FAILED/HASH_FAILURE)\n"),
            "{text}"
        );
        assert!(text.contains("Người ký: Nguyễn Văn An"), "{text}");
        assert!(text.contains("Định danh: CCCD:027090001234"), "{text}");
        assert!(text.contains("Lỗi: the content changed"), "{text}");
    }

    #[test]
    fn english_is_available() {
        let text = render(&report(), ReportLanguage::from_code("EN"));
        assert!(
            text.contains("INVALID (TOTAL_FAILED/HASH_FAILURE)"),
            "{text}"
        );
        assert!(text.contains("Signer: Nguyễn Văn An"), "{text}");
        assert!(text.contains("Signature 1 — PDF field Signature1: VALID (TOTAL_PASSED)"));
    }
}
