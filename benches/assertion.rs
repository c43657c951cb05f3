//! Cost of the upstream identity assertion, per operation, next to openssl's own RSA and
//! ECDSA signing speed on the same machine in the same run.
//!
//!   cargo bench --bench assertion                 # release profile, 20k ops each
//!   cargo test --bench assertion -- --bench       # dev profile (deps at opt-level 1)
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it only smoke-tests 200 ops.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use govgate::identity::Identity;
use govgate::keys::{
    Algorithm, AssertionCache, AssertionIssuer, KeyRing, SigningKeys, VerifyOptions,
    DEFAULT_ASSERTION_LIFETIME,
};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let operations = if full { 20_000 } else { 200 };
    let temp = tempfile::tempdir().expect("temp dir");
    let all = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
    let ring = Arc::new(KeyRing::new(
        SigningKeys::load_or_generate_with(&temp.path().join("keys"), &all).expect("keys"),
    ));
    let keys = ring.current();
    let issuer = AssertionIssuer::new(
        ring,
        "https://sso.tinh.gov.vn".into(),
        DEFAULT_ASSERTION_LIFETIME,
    );
    let person = identity();
    let app = "mot-cua";
    let claims = claims_like_an_assertion(&issuer, app, &person);

    println!("assertion bench: {operations} operations each");
    let rs256 = measure(
        "RS256 assertion mint (AssertionIssuer::mint)",
        operations,
        || issuer.mint(app, &person).map(drop),
    );
    let es256 = measure("ES256 sign, same claims", operations, || {
        keys.sign(Algorithm::ES256, &claims, "JWT").map(drop)
    });
    measure("EdDSA sign, same claims", operations, || {
        keys.sign(Algorithm::EdDSA, &claims, "JWT").map(drop)
    });
    let token = issuer.mint(app, &person).expect("mint");
    measure("RS256 verify (SigningKeys::verify)", operations, || {
        keys.verify(&token, &VerifyOptions::default()).map(drop)
    });
    let cache = AssertionCache::new(issuer.clone(), 100_000);
    measure(
        "cached assertion (AssertionCache hit)",
        operations * 10,
        || cache.assertion("session-1", app, &person).map(drop),
    );

    if full {
        compare_with_openssl("rsa2048", "2048 bits", rs256);
        compare_with_openssl("ecdsap256", "nistp256", es256);
    }
}

/// Runs `operation` `count` times and prints the mean time per operation.
fn measure<E: std::fmt::Debug>(
    name: &str,
    count: u32,
    mut operation: impl FnMut() -> Result<(), E>,
) -> Duration {
    let started = Instant::now();
    for _ in 0..count {
        operation().expect(name);
    }
    let per_op = started.elapsed() / count;
    println!("  {name:<45} {:>9.2} µs/op", micros(per_op));
    per_op
}

/// Runs `openssl speed` for `algorithm` and prints its signing time next to ours.
fn compare_with_openssl(algorithm: &str, line_marker: &str, ours: Duration) {
    let output = Command::new("openssl")
        .args(["speed", "-seconds", "3", algorithm])
        .output();
    let Ok(output) = output else {
        println!("  openssl not runnable; no {algorithm} comparison");
        return;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    // Columns: times ("0.000437s", sign first), then rates (sign/s first). The time
    // columns are rounded to 4-6 decimals, so derive the time from the sign/s rate.
    let signs_per_second = text
        .lines()
        .find(|line| line.contains(line_marker))
        .and_then(|line| {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let last_time = tokens.iter().rposition(|t| {
                t.strip_suffix('s')
                    .is_some_and(|n| n.parse::<f64>().is_ok())
            })?;
            tokens.get(last_time + 1)?.parse::<f64>().ok()
        });
    let sign_seconds = signs_per_second.filter(|r| *r > 0.0).map(|r| 1.0 / r);
    match sign_seconds {
        Some(seconds) => println!(
            "  openssl speed {algorithm:<10} sign {:>9.2} µs/op   (our full token / openssl raw sign = {:.2}x)",
            seconds * 1e6,
            micros(ours) / (seconds * 1e6)
        ),
        None => println!("  could not read `openssl speed {algorithm}` output:\n{text}"),
    }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn identity() -> Identity {
    Identity {
        subject: "6f1c2a9e-1b7d-4c1e-9a43-0d2b8f3e5a71".into(),
        username: "hang.nt".into(),
        display_name: "Nguyễn Thị Hằng".into(),
        email: Some("hang.nt@tinh.gov.vn".into()),
        department: Some("Văn phòng UBND".into()),
        employee_number: None,
        groups: vec!["can-bo".into(), "lanh-dao".into(), "mot-cua".into()],
        group_dns: Vec::new(),
        source: "ldap".into(),
    }
}

/// The claims of a real assertion, so that the ES256/EdDSA rows sign the same bytes.
fn claims_like_an_assertion(
    issuer: &AssertionIssuer,
    app: &str,
    person: &Identity,
) -> serde_json::Value {
    let token = issuer.mint(app, person).expect("mint");
    issuer
        .verify(&token, app)
        .map(|c| serde_json::to_value(c).expect("claims to JSON"))
        .expect("verify")
}
