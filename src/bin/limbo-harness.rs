//! x509-limbo harness for govgate's path validation: reads a limbo test-case file on
//! stdin and writes the harness results (protocol: `tests/data/limbo/README.md`) on
//! stdout. SERVER cases use `Usage::TlsServer` (serverAuth EKU and the peer name),
//! CLIENT cases the document-signing rules; path building is the same code as for
//! document signatures. A case's CRLs go to govgate's revocation checker as local CRLs,
//! offline, with the case's validation time as the clock: exactly what
//! `govgate verify --offline --crl FILE --at TIME` does.

use std::io::Read;
use std::process::ExitCode;
use std::time::SystemTime;

use govgate::pki::revocation::{RevocationChecker, RevocationConfig};
use govgate::pki::{ChainRequest, CryptoPolicy, TrustStore, Usage};
use serde_json::{json, Value};

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("limbo-harness: reading stdin: {error}");
        return ExitCode::FAILURE;
    }
    let limbo: Value = match serde_json::from_str(&input) {
        Ok(value) => value,
        Err(error) => {
            eprintln!("limbo-harness: not JSON: {error}");
            return ExitCode::FAILURE;
        }
    };
    let cases = limbo["testcases"].as_array().cloned().unwrap_or_default();
    let results: Vec<Value> = cases.iter().map(run_case).collect();
    let output = json!({"version": 1, "harness": "govgate", "results": results});
    println!("{output}");
    ExitCode::SUCCESS
}

fn run_case(case: &Value) -> Value {
    let id = case["id"].as_str().unwrap_or("?");
    let (actual, context) = match verdict(case) {
        Verdict::Success => ("SUCCESS", String::new()),
        Verdict::Failure(why) => ("FAILURE", why),
        Verdict::Skipped(why) => ("SKIPPED", why),
    };
    json!({"id": id, "actual_result": actual, "context": context})
}

enum Verdict {
    Success,
    Failure(String),
    Skipped(String),
}

fn verdict(case: &Value) -> Verdict {
    let usage = match usage(case) {
        Ok(usage) => usage,
        Err(why) => return Verdict::Skipped(why),
    };
    let at = match case["validation_time"].as_str() {
        Some(time) => match humantime::parse_rfc3339_weak(time.trim_end_matches('Z')) {
            Ok(time) => time,
            Err(error) => return Verdict::Skipped(format!("validation_time: {error}")),
        },
        None => SystemTime::now(),
    };
    let mut store = TrustStore::empty();
    for pem in strings(&case["trusted_certs"]) {
        match der_of(pem) {
            Some(der) => {
                if let Err(error) = store.add_anchor("limbo", der) {
                    return Verdict::Failure(format!("trust anchor refused: {error}"));
                }
            }
            None => return Verdict::Failure("trust anchor is not PEM".into()),
        }
    }
    let intermediates: Vec<Vec<u8>> = strings(&case["untrusted_intermediates"])
        .into_iter()
        .filter_map(der_of)
        .collect();
    let Some(leaf) = case["peer_certificate"].as_str().and_then(der_of) else {
        return Verdict::Failure("peer certificate is not PEM".into());
    };
    let policy = CryptoPolicy::default();
    let checker = match revocation_checker(case, at, policy) {
        Ok(checker) => checker,
        Err(why) => return Verdict::Failure(why),
    };
    let mut request = ChainRequest::new(&leaf, &intermediates, at, usage, &policy);
    request.revocation = checker
        .as_ref()
        .map(|checker| checker as &dyn govgate::pki::RevocationCheck);
    match store.validate(&request) {
        Ok(chain) => check_depth(case, chain.certificates.len()),
        Err(failure) => Verdict::Failure(failure.to_string()),
    }
}

/// The case's CRLs in an offline checker, or `None` when it has none (no revocation
/// checking, as limbo expects for cases without CRLs). A CRL govgate refuses outright
/// (no CRL number, a critical one, ...) fails the case: a validator given a CRL it
/// cannot use cannot say the certificate is not revoked.
fn revocation_checker(
    case: &Value,
    at: SystemTime,
    policy: CryptoPolicy,
) -> Result<Option<RevocationChecker>, String> {
    let crls = strings(&case["crls"]);
    if crls.is_empty() {
        return Ok(None);
    }
    let config = RevocationConfig {
        offline: true,
        now: Some(at),
        policy,
        ..RevocationConfig::default()
    };
    let mut checker =
        RevocationChecker::new(config).map_err(|error| format!("revocation: {error}"))?;
    for (index, pem) in crls.into_iter().enumerate() {
        let der = der_of(pem).ok_or("a CRL is not PEM")?;
        checker
            .add_crl(der, &format!("CRL {}", index + 1))
            .map_err(|error| format!("CRL refused: {error}"))?;
    }
    Ok(Some(checker))
}

/// limbo's max_chain_depth counts the intermediates between leaf and anchor.
fn check_depth(case: &Value, certificates: usize) -> Verdict {
    match case["max_chain_depth"].as_u64() {
        Some(max) if (certificates.saturating_sub(2)) as u64 > max => Verdict::Failure(format!(
            "chain of {certificates} exceeds max_chain_depth {max}"
        )),
        _ => Verdict::Success,
    }
}

fn usage(case: &Value) -> Result<Usage, String> {
    match case["validation_kind"].as_str() {
        Some("SERVER") => {
            let peer = &case["expected_peer_name"];
            match (peer["kind"].as_str(), peer["value"].as_str()) {
                (Some("DNS") | Some("IP"), Some(name)) => Ok(Usage::TlsServer {
                    name: name.to_string(),
                }),
                (None, _) => Err("SERVER case without a peer name".into()),
                (Some(kind), _) => Err(format!("peer name kind {kind} not supported")),
            }
        }
        Some("CLIENT") => Ok(Usage::DocumentSigning),
        other => Err(format!("validation kind {other:?}")),
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn der_of(pem_text: &str) -> Option<Vec<u8>> {
    pem::parse(pem_text).ok().map(|block| block.into_contents())
}
