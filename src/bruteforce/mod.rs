//! Brute-force regulation of password logins: failure counters per username and per
//! client address in the shared store, so every gateway instance sees the same counts.
//!
//! Call [`LoginGuard::check`] *before* verifying a password (a locked subject gets the
//! same generic failure page as a wrong password), then [`LoginGuard::record_failure`] or
//! [`LoginGuard::record_success`]. Unknown usernames are counted exactly like real ones,
//! so lockouts do not reveal which accounts exist.
//!
//! Store keys: `bf:fail:user:<h>`, `bf:fail:ip:<net>` (counters, TTL = window) and
//! `bf:lock:user:<h>`, `bf:lock:ip:<net>` (lock markers, TTL = lockout), where `<h>` is the
//! hex SHA-256 of the lowercased username (bounded, printable keys whatever is typed) and
//! `<net>` the IPv4 address or the IPv6 /64 network.

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::audit::LockoutSubject;
use crate::config::LoginProtectionConfig;
use crate::store::{SharedStore, StoreError};

/// Runtime settings (from `[session.login_protection]`, or [`Default`]).
#[derive(Debug, Clone)]
pub struct LoginProtectionSettings {
    pub user_max_failures: u32,
    pub user_lockout: Duration,
    pub ip_max_failures: u32,
    pub ip_lockout: Duration,
    pub window: Duration,
}

impl Default for LoginProtectionSettings {
    fn default() -> Self {
        Self::from(&LoginProtectionConfig::default())
    }
}

impl From<&LoginProtectionConfig> for LoginProtectionSettings {
    fn from(config: &LoginProtectionConfig) -> Self {
        Self {
            user_max_failures: config.user_max_failures,
            user_lockout: config.user_lockout.get(),
            ip_max_failures: config.ip_max_failures,
            ip_lockout: config.ip_lockout.get(),
            window: config.window.get(),
        }
    }
}

/// A lockout that a failure just caused (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    pub subject: LockoutSubject,
    /// When it ends (unix seconds).
    pub until: u64,
}

/// The answer of [`LoginGuard::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on and verify the password.
    Allowed,
    /// Refuse without verifying; the username lock is reported when both apply.
    Locked(LockoutSubject),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginGuardError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Failure counting and lockouts over a [`SharedStore`].
pub struct LoginGuard {
    store: SharedStore,
    settings: LoginProtectionSettings,
}

impl LoginGuard {
    pub fn new(store: SharedStore, settings: LoginProtectionSettings) -> Self {
        Self { store, settings }
    }

    /// Whether a login attempt for `username` from `ip` may be checked at all.
    pub async fn check(&self, username: &str, ip: IpAddr) -> Result<Verdict, LoginGuardError> {
        if self
            .store
            .get(&lock_key(&user_subject(username)))
            .await?
            .is_some()
        {
            return Ok(Verdict::Locked(LockoutSubject::User(shown_username(
                username,
            ))));
        }
        let network = ip_subject(ip);
        if self.store.get(&lock_key(&network)).await?.is_some() {
            return Ok(Verdict::Locked(LockoutSubject::Ip(network.value)));
        }
        Ok(Verdict::Allowed)
    }

    /// Counts a failed login; returns the lockouts this failure caused (none, the
    /// username, the address, or both).
    pub async fn record_failure(
        &self,
        username: &str,
        ip: IpAddr,
    ) -> Result<Vec<Lockout>, LoginGuardError> {
        let mut lockouts = Vec::new();
        let user = user_subject(username);
        let limits = [
            (
                user,
                self.settings.user_max_failures,
                self.settings.user_lockout,
            ),
            (
                ip_subject(ip),
                self.settings.ip_max_failures,
                self.settings.ip_lockout,
            ),
        ];
        for (subject, max_failures, lockout) in limits {
            let failures = self
                .store
                .increment(&fail_key(&subject), 1, self.settings.window)
                .await?;
            if failures >= i64::from(max_failures) {
                let until = now_unix().saturating_add(lockout.as_secs());
                self.store
                    .put(
                        &lock_key(&subject),
                        until.to_string().as_bytes(),
                        Some(lockout),
                    )
                    .await?;
                // A fresh count after the lockout ends, not an immediate relock.
                self.store.delete(&fail_key(&subject)).await?;
                let subject = match subject.kind {
                    SubjectKind::User => LockoutSubject::User(shown_username(username)),
                    SubjectKind::Ip => LockoutSubject::Ip(subject.value),
                };
                lockouts.push(Lockout { subject, until });
            }
        }
        Ok(lockouts)
    }

    /// A successful login clears the username's failure count (not the address's: one
    /// good password must not license guessing others from the same address).
    pub async fn record_success(&self, username: &str) -> Result<(), LoginGuardError> {
        let key = fail_key(&user_subject(username));
        // Most logins have no failures to forget: a read is cheap, a delete is a durable write.
        if self.store.get(&key).await?.is_some() {
            self.store.delete(&key).await?;
        }
        Ok(())
    }

    /// Admin: lifts a username lock and clears its count. True if it was locked.
    pub async fn unlock(&self, username: &str) -> Result<bool, LoginGuardError> {
        self.clear(&user_subject(username)).await
    }

    /// Admin: lifts the lock of the address (its /64 for IPv6). True if it was locked.
    pub async fn unlock_ip(&self, ip: IpAddr) -> Result<bool, LoginGuardError> {
        self.clear(&ip_subject(ip)).await
    }

    async fn clear(&self, subject: &Subject) -> Result<bool, LoginGuardError> {
        self.store.delete(&fail_key(subject)).await?;
        Ok(self.store.delete(&lock_key(subject)).await?)
    }
}

#[derive(Clone, Copy)]
enum SubjectKind {
    User,
    Ip,
}

/// The store-key form of a subject.
struct Subject {
    kind: SubjectKind,
    value: String,
}

fn user_subject(username: &str) -> Subject {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        normalise_username(username).as_bytes(),
    );
    let value = digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Subject {
        kind: SubjectKind::User,
        value,
    }
}

/// IPv4 as is (also when IPv4-mapped); IPv6 grouped by /64, the usual end-site size.
fn ip_subject(ip: IpAddr) -> Subject {
    let value = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(network))
            }
        },
    };
    Subject {
        kind: SubjectKind::Ip,
        value,
    }
}

/// Usernames are case-insensitive in directories; surrounding spaces are typos.
pub fn normalise_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Characters of a typed username kept in verdicts and audit records.
const SHOWN_USERNAME_CHARS: usize = 256;

/// The normalised username, cut to a sane length (it is whatever the client typed).
fn shown_username(username: &str) -> String {
    normalise_username(username)
        .chars()
        .take(SHOWN_USERNAME_CHARS)
        .collect()
}

fn kind_name(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::User => "user",
        SubjectKind::Ip => "ip",
    }
}

fn fail_key(subject: &Subject) -> String {
    format!("bf:fail:{}:{}", kind_name(subject.kind), subject.value)
}

fn lock_key(subject: &Subject) -> String {
    format!("bf:lock:{}:{}", kind_name(subject.kind), subject.value)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
