//! Fuzzes the CMS entry points: any input must give a report, never a panic, and work
//! stays bounded (`cargo fuzz run cms`).
#![no_main]

use std::sync::{Arc, OnceLock};

use govgate::pki::cms::{verify_cms, verify_signer_infos, verify_timestamp_token};
use govgate::pki::{TrustStore, VerifyContext};
use libfuzzer_sys::fuzz_target;

fn context() -> &'static VerifyContext {
    static CONTEXT: OnceLock<VerifyContext> = OnceLock::new();
    CONTEXT.get_or_init(|| VerifyContext::new(Arc::new(TrustStore::empty())))
}

fuzz_target!(|data: &[u8]| {
    let ctx = context();
    let content: &[u8] = b"fuzzed content";
    let mut detached = content;
    let _ = verify_cms(ctx, data, Some(&mut detached), "fuzz");
    let _ = verify_cms(ctx, data, None, "fuzz");
    let mut detached = content;
    let _ = verify_signer_infos(ctx, data, &mut detached);
    let mut imprint = content;
    let _ = verify_timestamp_token(ctx, data, &mut imprint);
});
