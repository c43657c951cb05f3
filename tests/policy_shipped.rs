//! The province example shipped in `policies/`: it compiles under strict validation with every
//! policy named, and its own test tables pass — the same checks a hot reload makes.

use std::path::Path;

use govgate::policy::{compile, run_tests, KnownApp, PolicyEngine, PolicySource, Severity};

fn shipped() -> PolicySource {
    PolicySource::read_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
        .expect("policies/ readable")
}

/// The apps of `examples/govgate.toml` and of the demo.
fn apps() -> Vec<KnownApp> {
    ["mot-cua", "qlvb", "mail", "cong-dich-vu-cong", "van-ban"]
        .into_iter()
        .map(|id| KnownApp {
            id: id.into(),
            name: id.into(),
        })
        .collect()
}

#[test]
fn shipped_policies_compile_strictly_without_errors() {
    let set = compile(&shipped(), &apps()).unwrap_or_else(|e| panic!("{e}"));
    assert!(set.policies.len() >= 15, "{} policies", set.policies.len());
    assert!(set.warnings.iter().all(|w| w.severity == Severity::Warning));
    for (_, info) in &set.policies {
        assert!(info.file.ends_with(".cedar"));
    }
}

#[test]
fn shipped_test_tables_pass() {
    let set = compile(&shipped(), &apps()).unwrap_or_else(|e| panic!("{e}"));
    let cases = set.tests.clone();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    assert!(cases
        .iter()
        .any(|c| c.expect == govgate::policy::Expect::Deny));
    let engine = PolicyEngine::new(set);
    let failures: Vec<String> = run_tests(&engine, &cases)
        .into_iter()
        .filter(|o| !o.passed())
        .map(|o| {
            format!(
                "{}:{} {}: {}",
                o.case.file,
                o.case.line,
                o.case.name,
                o.failure.unwrap_or_default()
            )
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}
