//! `govgate keys …`: the operator's tools for the signing keys in `<data_dir>/keys`: list
//! them, rotate them, prune the retired ones whose tokens have all expired.
//!
//! Exit statuses: 0 done; 1 on any problem (bad configuration, unreadable or damaged key
//! directory, a key that cannot be written), with the reason on stderr.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand, ValueEnum};

use crate::config::{self, Config, SigningAlg};
use crate::keys::{prune, Algorithm, KeyInfo, SigningKeys, INDEX_FILE_NAME};
use crate::server::keys::{retention, KEY_CHECK_INTERVAL};

/// `println!` that ignores a closed stdout (`govgate keys list | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: kid, algorithm, dates, and state (current signs; retired still
    /// verifies and is published; expired is past its publication and awaits pruning).
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Rotate: retire the current key of each algorithm and generate its successor.
    ///
    /// The retired key stops signing at once, stays published in the JWKS and keeps verifying
    /// until every token it may have signed has expired (the longest token lifetime of the
    /// configuration plus 5 minutes), then is removed by `govgate keys prune`, the next
    /// rotation, or a running gateway. Running gateways pick the new key up within 10 s, or at
    /// once on SIGHUP.
    Rotate {
        #[command(flatten)]
        config: ConfigArg,
        /// Which keys to rotate. Default: RS256 and ES256, and EdDSA when an EdDSA key exists
        /// or a client uses `signing_alg = "EdDSA"`.
        #[arg(long, value_enum, ignore_case = true)]
        alg: Option<RotateAlg>,
    },
    /// Remove the retired keys whose tokens have all expired (index entry and key file).
    Prune {
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// govgate.toml: supplies `data_dir` (keys live in `<data_dir>/keys`) and the token
    /// lifetimes that decide how long retired keys stay published.
    #[arg(
        short,
        long,
        value_name = "FILE",
        env = "GOVGATE_CONFIG",
        default_value = "govgate.toml"
    )]
    config: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RotateAlg {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
    /// RS256, ES256 and EdDSA.
    All,
}

/// The key directory and retention of one configuration.
struct KeyDir {
    dir: PathBuf,
    keep: Duration,
}

impl KeyDir {
    fn from_config(config: &Config) -> Self {
        Self {
            dir: config.data_dir.join("keys"),
            keep: retention(config),
        }
    }
}

pub fn run(command: &KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { config } => list(&load_config(&config.config)?),
        KeysCommand::Rotate { config, alg } => rotate(&load_config(&config.config)?, *alg),
        KeysCommand::Prune { config } => prune_expired(&load_config(&config.config)?),
    }
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    config::load(path).map_err(|e| anyhow!("{e}"))
}

fn list(config: &Config) -> anyhow::Result<()> {
    let keys = KeyDir::from_config(config);
    if !keys.dir.join(INDEX_FILE_NAME).exists() {
        out!(
            "no signing keys in {} yet: the gateway generates them on first start",
            keys.dir.display()
        );
        return Ok(());
    }
    let set = read_keys(&keys.dir)?;
    let now = SystemTime::now();
    out!(
        "{:<43}  {:<5}  {:<20}  {:<20}  {:<20}  STATE",
        "KID",
        "ALG",
        "CREATED",
        "RETIRED",
        "PUBLISHED UNTIL"
    );
    for info in set.key_infos() {
        out!(
            "{:<43}  {:<5}  {:<20}  {:<20}  {:<20}  {}",
            info.kid,
            info.alg.as_str(),
            date(Some(info.created_at)),
            date(info.retired_at),
            date(info.published_until(keys.keep)),
            info.state(keys.keep, now)
        );
    }
    out!(
        "{}: retired keys stay published for {} after retirement",
        keys.dir.display(),
        humantime::format_duration(keys.keep)
    );
    Ok(())
}

fn rotate(config: &Config, alg: Option<RotateAlg>) -> anyhow::Result<()> {
    let keys = KeyDir::from_config(config);
    let algorithms = match alg {
        Some(chosen) => chosen_algorithms(chosen),
        None => default_algorithms(config, &keys.dir)?,
    };
    for alg in algorithms {
        let before = keys
            .dir
            .join(INDEX_FILE_NAME)
            .exists()
            .then(|| read_keys(&keys.dir))
            .transpose()?;
        let previous = before
            .as_ref()
            .and_then(|set| set.current_kid(alg).map(str::to_string));
        let after = SigningKeys::rotate(&keys.dir, alg)
            .with_context(|| format!("cannot rotate the {alg} key in {}", keys.dir.display()))?;
        let new_kid = after.current_kid(alg).unwrap_or("?");
        out!("{alg}: new signing key {new_kid}");
        if let Some(old) = previous.and_then(|kid| find(&after, &kid)) {
            out!(
                "{alg}: previous key {} retired; it stays published and verifying until {}",
                old.kid,
                date(old.published_until(keys.keep))
            );
        }
    }
    report_pruned(&keys)?;
    out!(
        "Running gateways using {} pick the new keys up within {} s; to apply them at once, send SIGHUP (systemctl reload govgate, or kill -HUP <pid>).",
        keys.dir.display(),
        KEY_CHECK_INTERVAL.as_secs()
    );
    Ok(())
}

fn prune_expired(config: &Config) -> anyhow::Result<()> {
    let keys = KeyDir::from_config(config);
    if report_pruned(&keys)? == 0 {
        out!(
            "no expired keys in {} (retired keys stay published for {})",
            keys.dir.display(),
            humantime::format_duration(keys.keep)
        );
    }
    Ok(())
}

/// Prunes, prints one line per key removed, returns how many.
fn report_pruned(keys: &KeyDir) -> anyhow::Result<usize> {
    let removed = prune(&keys.dir, keys.keep, SystemTime::now())
        .with_context(|| format!("cannot prune the keys in {}", keys.dir.display()))?;
    for key in &removed {
        out!(
            "{}: key {} removed (retired {}; every token it signed has expired)",
            key.alg,
            key.kid,
            date(key.retired_at)
        );
    }
    Ok(removed.len())
}

fn chosen_algorithms(chosen: RotateAlg) -> Vec<Algorithm> {
    match chosen {
        RotateAlg::Rs256 => vec![Algorithm::RS256],
        RotateAlg::Es256 => vec![Algorithm::ES256],
        RotateAlg::EdDsa => vec![Algorithm::EdDSA],
        RotateAlg::All => vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
    }
}

/// RS256 and ES256, plus EdDSA when it is in use (a current key, or a client asking for it).
fn default_algorithms(config: &Config, dir: &Path) -> anyhow::Result<Vec<Algorithm>> {
    let mut algorithms = vec![Algorithm::RS256, Algorithm::ES256];
    let configured = config.oidc.as_ref().is_some_and(|oidc| {
        oidc.clients
            .iter()
            .any(|c| c.signing_alg == SigningAlg::EdDSA)
    });
    let existing = dir.join(INDEX_FILE_NAME).exists()
        && read_keys(dir)?.current_kid(Algorithm::EdDSA).is_some();
    if configured || existing {
        algorithms.push(Algorithm::EdDSA);
    }
    Ok(algorithms)
}

fn read_keys(dir: &Path) -> anyhow::Result<SigningKeys> {
    SigningKeys::read(dir).with_context(|| format!("cannot read the keys in {}", dir.display()))
}

fn find(keys: &SigningKeys, kid: &str) -> Option<KeyInfo> {
    keys.key_infos().into_iter().find(|k| k.kid == kid)
}

fn date(time: Option<SystemTime>) -> String {
    time.map_or_else(
        || "-".to_string(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}
