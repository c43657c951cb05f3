//! Fuzzes the PDF signature verifier: parsing, xref chains, byte-range checks and the
//! change analysis must never panic, loop or blow up on any input. The CMS and
//! timestamp checks are stand-ins that hash the content (so the byte ranges are
//! streamed) and fail; the structure code under test is the real one.
#![no_main]

use std::sync::{Arc, OnceLock};

use govgate::pki::pdf::verify_pdf;
use govgate::pki::report::{Indication, SignatureReport, TimestampReport};
use govgate::pki::{DigestAlgorithm, SignedContent, TrustStore, VerifyContext};
use libfuzzer_sys::fuzz_target;

fn context() -> &'static VerifyContext {
    static CONTEXT: OnceLock<VerifyContext> = OnceLock::new();
    CONTEXT.get_or_init(|| VerifyContext::new(Arc::new(TrustStore::empty())))
}

fuzz_target!(|data: &[u8]| {
    let cms = |_: &[u8], content: &mut dyn SignedContent| {
        let _ = content.digests(&[DigestAlgorithm::Sha256]);
        SignatureReport::new("fuzz", std::time::SystemTime::UNIX_EPOCH)
    };
    let timestamp = |_: &[u8], content: &mut dyn SignedContent| {
        let _ = content.digests(&[DigestAlgorithm::Sha256]);
        TimestampReport {
            time: std::time::SystemTime::UNIX_EPOCH,
            indication: Indication::TotalFailed,
            sub_indication: None,
            errors: Vec::new(),
            authority: None,
            trust_list: None,
        }
    };
    let _ = verify_pdf(context(), data, "fuzz.pdf", &cms, &timestamp);
});
