//! govgate's path validation on the x509-limbo cases (vendored in tests/data/limbo/,
//! Apache-2.0), through the `limbo-harness` binary. The score and every difference are
//! explained in docs/pki-conformance.md.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Matches reached when this floor was set (rustls-webpki 0.103.13: 131). Raise it when
/// govgate improves; a drop is a regression. 161 before CRL checking, 169 with it.
const MATCH_FLOOR: usize = 169;

struct Run {
    expected: HashMap<String, String>,
    actual: HashMap<String, (String, String)>,
}

fn run_harness() -> Run {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/limbo/limbo.json");
    let input = std::fs::read(path).expect("vendored limbo.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_limbo-harness"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start limbo-harness");
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "harness error");
    let limbo: Value = serde_json::from_slice(&input).unwrap();
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results["version"], 1);
    let expected = limbo["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            (
                case["id"].as_str().unwrap().to_string(),
                case["expected_result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let actual = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            (
                result["id"].as_str().unwrap().to_string(),
                (
                    result["actual_result"].as_str().unwrap().to_string(),
                    result["context"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect();
    Run { expected, actual }
}

#[test]
fn limbo_score_does_not_regress() {
    let run = run_harness();
    assert_eq!(run.actual.len(), run.expected.len(), "one result per case");
    let matches = run
        .expected
        .iter()
        .filter(|(id, expected)| {
            run.actual
                .get(*id)
                .is_some_and(|(actual, _)| actual == *expected)
        })
        .count();
    eprintln!("limbo: {matches}/{} match", run.expected.len());
    assert!(
        matches >= MATCH_FLOOR,
        "limbo matches fell to {matches} (floor {MATCH_FLOOR})"
    );
}

#[test]
fn limbo_important_cases_give_the_expected_verdict() {
    let run = run_harness();
    let cases = [
        // expired leaf
        ("rfc5280::validity::expired-leaf", "FAILURE", "Expired"),
        (
            "rfc5280::validity::not-yet-valid-1-second",
            "FAILURE",
            "NotYetValid",
        ),
        // wrong issuer: a root whose key did not sign the chain
        ("invalid::invalid-issuer-key", "FAILURE", ""),
        // pathLen violated
        (
            "pathlen::intermediate-violates-pathlen-0",
            "FAILURE",
            "ChainConstraintsFailure",
        ),
        // name constraints violated
        (
            "rfc5280::nc::permitted-dns-mismatch",
            "FAILURE",
            "ChainConstraintsFailure",
        ),
        (
            "rfc5280::nc::excluded-dns-match",
            "FAILURE",
            "ChainConstraintsFailure",
        ),
        // missing intermediate / untrusted root
        (
            "rfc5280::chain-untrusted-root",
            "FAILURE",
            "NoCertificateChainFound",
        ),
        // stricter than webpki on purpose
        ("rfc5280::validity::expired-root", "FAILURE", "Expired"),
        (
            "rfc5280::aki::intermediate-missing-aki",
            "FAILURE",
            "ChainConstraintsFailure",
        ),
        (
            "rfc5280::ski::root-missing-ski",
            "FAILURE",
            "ChainConstraintsFailure",
        ),
        // CRLs (offline, the case's CRLs as local files)
        ("crl::revoked-certificate-with-crl", "FAILURE", "Revoked"),
        ("crl::crlnumber-missing", "FAILURE", "no CRL number"),
        ("crl::crlnumber-critical", "FAILURE", "critical CRL number"),
        ("crl::issuer-missing-crlsign", "FAILURE", "cRLSign"),
        ("crl::certificate-not-on-crl", "SUCCESS", ""),
        (
            "crl::certificate-serial-on-crl-different-issuer",
            "SUCCESS",
            "",
        ),
        ("crl::issuer-no-keyusage-extension", "SUCCESS", ""),
        // good chains still pass
        ("pathlen::ee-with-intermediate-pathlen-0", "SUCCESS", ""),
        ("rfc5280::nc::permitted-dns-match", "SUCCESS", ""),
        (
            "pathological::multiple-chains-expired-intermediate",
            "SUCCESS",
            "",
        ),
    ];
    for (id, verdict, reason) in cases {
        let (actual, context) = run.actual.get(id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(actual, verdict, "{id}: {context}");
        assert!(
            context.contains(reason),
            "{id}: expected {reason} in {context:?}"
        );
    }
}
