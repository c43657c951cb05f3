//! `govgate check`: validate a configuration and everything it references.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Config, StoreBackend};

/// Exit status when the configuration has problems (1 is left for unexpected failures).
const EXIT_PROBLEMS: u8 = 2;

/// Loads `config`; prints a one-line summary and exits 0 when it is good, otherwise
/// prints one `file:line:column: key: message` line per problem to stderr and exits 2.
pub fn run(config: &Path) -> ExitCode {
    match config::load(config) {
        Ok(loaded) => {
            println!("{}: OK — {}", config.display(), summary(&loaded));
            for note in config::advisories(&loaded) {
                eprintln!("{}: warning: {note}", config.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            for problem in &error.problems {
                eprintln!("{problem}");
            }
            ExitCode::from(EXIT_PROBLEMS)
        }
    }
}

/// e.g. `3 apps, HTTP on 127.0.0.1:8080, HTTPS on 0.0.0.0:8443 with 2 certificates, store redb`.
fn summary(config: &Config) -> String {
    let mut parts = vec![plural(config.apps.len(), "app")];
    if let Some(http) = config.server.http_listen {
        parts.push(format!("HTTP on {http}"));
    }
    if let Some(https) = config.server.https_listen {
        let certificates = config.tls.as_ref().map_or(0, |tls| tls.certificates.len());
        parts.push(format!(
            "HTTPS on {https} with {}",
            plural(certificates, "certificate")
        ));
    }
    parts.push(match config.store.backend {
        StoreBackend::Redb => "store redb".to_string(),
        StoreBackend::Redis => "store redis".to_string(),
    });
    parts.join(", ")
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
