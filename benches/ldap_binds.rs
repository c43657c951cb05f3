//! Raw LDAP simple binds per second against a directory, by a direct ldap3 loop: the
//! baseline `scripts/bench-login` compares govgate's logins per second with.
//!
//!   LDAP_URL=ldap://127.0.0.1:3890 \
//!   LDAP_DN_TEMPLATE='uid={user},ou=people,dc=example,dc=org' \
//!   LDAP_USERS=bench001,bench002 LDAP_PASSWORD=secret \
//!   cargo bench --bench ldap_binds
//!
//! Environment:
//!   LDAP_URL          the server (required; without it the bench prints a note and exits 0,
//!                     so `cargo test --all-targets` stays green)
//!   LDAP_DN_TEMPLATE  a user's DN, `{user}` replaced by the user name
//!   LDAP_USERS        comma-separated user names, cycled through
//!   LDAP_PASSWORD     every user's password
//!   CONCURRENCY       concurrent tasks (default 16)
//!   DURATION_SECS     seconds per variant (default 10)
//!   VARIANTS          comma-separated: `fresh` (a new connection per bind, as the gateway
//!                     checks a password) and/or `pooled` (one connection per task, rebound
//!                     for every user) (default `fresh,pooled`)
//!
//! Prints one human line and one `RESULT <variant> <binds/s> <binds> <failures>` line per
//! variant. Exits 1 if any bind failed (a baseline with failures compares nothing).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// Connect, bind, unbind for every bind (what `check_password` does per login).
    Fresh,
    /// One connection per task, rebound as each user in turn.
    Pooled,
}

impl Variant {
    fn parse(name: &str) -> Result<Variant, String> {
        match name.trim() {
            "fresh" => Ok(Variant::Fresh),
            "pooled" => Ok(Variant::Pooled),
            other => Err(format!("unknown variant '{other}' (fresh, pooled)")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Variant::Fresh => "fresh",
            Variant::Pooled => "pooled",
        }
    }
}

struct Settings {
    url: String,
    /// Bind DNs, one per user, cycled through.
    dns: Vec<String>,
    password: String,
    concurrency: usize,
    duration: Duration,
    variants: Vec<Variant>,
}

/// Counters shared by the tasks of one variant run.
#[derive(Default)]
struct Tally {
    next_user: AtomicUsize,
    binds: AtomicU64,
    failures: AtomicU64,
}

fn main() -> ExitCode {
    let settings = match settings_from_env() {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            println!(
                "ldap_binds: LDAP_URL not set; nothing to measure (scripts/bench-login sets it)"
            );
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("ldap_binds: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ldap_binds: cannot start tokio: {error}");
            return ExitCode::from(2);
        }
    };
    let mut clean = true;
    for variant in settings.variants.clone() {
        let (binds, failures, elapsed) = runtime.block_on(run(&settings, variant));
        let rate = binds as f64 / elapsed.as_secs_f64();
        println!(
            "ldap_binds {:<6}: {binds} binds in {:.1} s = {rate:.0} binds/s, {failures} failures ({} tasks, {} users)",
            variant.name(),
            elapsed.as_secs_f64(),
            settings.concurrency,
            settings.dns.len(),
        );
        println!("RESULT {} {rate:.0} {binds} {failures}", variant.name());
        clean &= failures == 0;
    }
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn settings_from_env() -> Result<Option<Settings>, String> {
    let Ok(url) = std::env::var("LDAP_URL") else {
        return Ok(None);
    };
    let template = required("LDAP_DN_TEMPLATE")?;
    if !template.contains("{user}") {
        return Err("LDAP_DN_TEMPLATE must contain {user}".into());
    }
    let dns: Vec<String> = required("LDAP_USERS")?
        .split(',')
        .map(str::trim)
        .filter(|user| !user.is_empty())
        .map(|user| template.replace("{user}", user))
        .collect();
    if dns.is_empty() {
        return Err("LDAP_USERS names no user".into());
    }
    let variants = std::env::var("VARIANTS")
        .unwrap_or_else(|_| "fresh,pooled".into())
        .split(',')
        .map(Variant::parse)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Settings {
        url,
        dns,
        password: required("LDAP_PASSWORD")?,
        concurrency: positive("CONCURRENCY", 16)?,
        duration: Duration::from_secs(positive("DURATION_SECS", 10)? as u64),
        variants,
    }))
}

fn required(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn positive(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.parse::<usize>() {
            Ok(value) if value > 0 => Ok(value),
            _ => Err(format!("{name} must be a positive integer, got '{text}'")),
        },
    }
}

/// Runs `settings.concurrency` tasks of `variant` for the duration; (binds, failures, elapsed).
async fn run(settings: &Settings, variant: Variant) -> (u64, u64, Duration) {
    let tally = Arc::new(Tally::default());
    let dns = Arc::new(settings.dns.clone());
    let started = Instant::now();
    let deadline = started + settings.duration;
    let tasks: Vec<_> = (0..settings.concurrency)
        .map(|_| {
            let job = Job {
                url: settings.url.clone(),
                dns: dns.clone(),
                password: settings.password.clone(),
                tally: tally.clone(),
                deadline,
            };
            tokio::spawn(async move {
                match variant {
                    Variant::Fresh => job.fresh_connection_binds().await,
                    Variant::Pooled => job.pooled_connection_binds().await,
                }
            })
        })
        .collect();
    for task in tasks {
        if let Err(error) = task.await {
            eprintln!("ldap_binds: a task failed: {error}");
            tally.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    let elapsed = started.elapsed();
    (
        tally.binds.load(Ordering::Relaxed),
        tally.failures.load(Ordering::Relaxed),
        elapsed,
    )
}

struct Job {
    url: String,
    dns: Arc<Vec<String>>,
    password: String,
    tally: Arc<Tally>,
    deadline: Instant,
}

impl Job {
    fn next_dn(&self) -> &str {
        let index = self.tally.next_user.fetch_add(1, Ordering::Relaxed);
        &self.dns[index % self.dns.len()]
    }

    fn record(&self, outcome: Result<(), LdapError>) {
        match outcome {
            Ok(()) => self.tally.binds.fetch_add(1, Ordering::Relaxed),
            Err(error) => {
                // Only the first few: a dead server would flood the terminal.
                if self.tally.failures.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("ldap_binds: bind failed: {error}");
                }
                0
            }
        };
    }

    async fn fresh_connection_binds(self) {
        while Instant::now() < self.deadline {
            let dn = self.next_dn().to_owned();
            let outcome = async {
                let mut ldap = connect(&self.url).await?;
                ldap.simple_bind(&dn, &self.password).await?.success()?;
                ldap.unbind().await
            }
            .await;
            self.record(outcome);
        }
    }

    async fn pooled_connection_binds(self) {
        let mut ldap = match connect(&self.url).await {
            Ok(ldap) => ldap,
            Err(error) => return self.record(Err(error)),
        };
        while Instant::now() < self.deadline {
            let dn = self.next_dn().to_owned();
            let outcome = ldap
                .simple_bind(&dn, &self.password)
                .await
                .and_then(|result| result.success())
                .map(drop);
            self.record(outcome);
        }
        let _ = ldap.unbind().await;
    }
}

async fn connect(url: &str) -> Result<Ldap, LdapError> {
    let (connection, ldap) = LdapConnAsync::new(url).await?;
    tokio::spawn(async move {
        // The connection ends when the task unbinds; its error then is expected.
        let _ = connection.drive().await;
    });
    Ok(ldap)
}
