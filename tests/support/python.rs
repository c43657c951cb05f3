//! A Python virtualenv with PyJWT and cryptography: an independent, widely used JWT
//! implementation to check the gateway's tokens against. Created once in
//! `target/test-venv` (pip downloads from PyPI the first time) and reused afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// The packages the venv must provide, as pip spells them.
const REQUIREMENTS: &[&str] = &["pyjwt[crypto]"];
/// Import check that proves the venv is complete.
const IMPORT_CHECK: &str = "import jwt, cryptography";

/// Path of the venv's python, creating the venv on first use (panics with the reason if
/// it cannot: the tests that need it must not silently skip).
pub fn pyjwt_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(create_or_reuse_venv).clone()
}

/// Runs `script` with the venv's python and `args`; returns the raw output.
pub fn run_python(script: &str, args: &[&str]) -> Output {
    Command::new(pyjwt_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run the test venv's python")
}

/// Verifies a token with PyJWT against a JWKS file, choosing the key by kid and allowing
/// only the expected algorithm. Prints `{"header":..,"claims":..}` or `REJECTED <why>`.
const PYJWT_VERIFY: &str = r#"
import json, sys, jwt
jwks_file, token, audience, issuer, algorithm = sys.argv[1:6]
with open(jwks_file) as f:
    keyset = jwt.PyJWKSet.from_dict(json.load(f))
try:
    header = jwt.get_unverified_header(token)
    key = next(k for k in keyset.keys if k.key_id == header["kid"])
    claims = jwt.decode(token, key=key.key, algorithms=[algorithm], audience=audience,
                        issuer=issuer, options={"require": ["exp", "iat", "sub", "jti"]})
except (jwt.PyJWTError, StopIteration, KeyError) as e:
    print("REJECTED", type(e).__name__, e)
    sys.exit(1)
print(json.dumps({"header": header, "claims": claims, "jwks_kids": [k.key_id for k in keyset.keys]}))
"#;

/// Verifies `token` with PyJWT: the key is taken from the JWKS file by the token's kid,
/// only `algorithm` is allowed, `aud`, `iss`, `exp`, `iat`, `sub` and `jti` are required.
/// Returns `{"header":..,"claims":..,"jwks_kids":[..]}`, or PyJWT's reason for rejecting.
pub fn pyjwt_verify(
    jwks_file: &Path,
    token: &str,
    audience: &str,
    issuer: &str,
    algorithm: &str,
) -> Result<Value, String> {
    let jwks_file = jwks_file.to_str().expect("UTF-8 path");
    let output = run_python(
        PYJWT_VERIFY,
        &[jwks_file, token, audience, issuer, algorithm],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() {
        Ok(serde_json::from_str(&stdout).expect("PyJWT script prints JSON"))
    } else {
        Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn venv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("test-venv")
}

fn python_of(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn is_ready(venv: &Path) -> bool {
    Command::new(python_of(venv))
        .args(["-c", IMPORT_CHECK])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn create_or_reuse_venv() -> PathBuf {
    let venv = venv_dir();
    if is_ready(&venv) {
        return python_of(&venv);
    }
    // Build under a private name and rename into place, so concurrent test binaries
    // never see a half-installed venv (the loser of the race discards its copy).
    let staging = venv.with_file_name(format!("test-venv.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    run_checked(Command::new("python3").args(["-m", "venv"]).arg(&staging));
    run_checked(
        Command::new(python_of(&staging))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(REQUIREMENTS),
    );
    if !is_ready(&venv) {
        let _ = std::fs::remove_dir_all(&venv);
        if std::fs::rename(&staging, &venv).is_err() && !is_ready(&venv) {
            panic!("could not move {} to {}", staging.display(), venv.display());
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    assert!(
        is_ready(&venv),
        "{} lacks PyJWT after install",
        venv.display()
    );
    python_of(&venv)
}

fn run_checked(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {command:?}: {e} (is python3 with venv installed?)")
    });
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
