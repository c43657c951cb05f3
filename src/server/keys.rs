//! Keeps the signing keys in force in step with the key directory, so that a key rotated
//! by `govgate keys rotate` or by another instance sharing the directory is published and
//! used within [`KEY_CHECK_INTERVAL`] (at once on SIGHUP), and retired keys are pruned once
//! every token they signed has expired.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::config::Config;
use crate::keys::{KeyError, KeyRing, INDEX_FILE_NAME};

/// How often the key index is checked for changes made by someone else.
pub const KEY_CHECK_INTERVAL: Duration = Duration::from_secs(10);
/// Longest lifetime of the identity assertions sent to upstream apps.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);
/// Longest lifetime of back-channel logout tokens.
const LOGOUT_TOKEN_LIFETIME: Duration = Duration::from_secs(120);
/// Added to the longest token lifetime: verifiers tolerate some clock skew.
const CLOCK_SKEW_MARGIN: Duration = Duration::from_secs(300);

/// How long a retired key stays published and verifying: the longest lifetime of anything
/// the gateway signs under `config` (access and ID tokens, per-client access tokens,
/// identity assertions, logout tokens), plus a clock-skew margin.
pub fn retention(config: &Config) -> Duration {
    let mut longest = ASSERTION_LIFETIME.max(LOGOUT_TOKEN_LIFETIME);
    if let Some(oidc) = &config.oidc {
        longest = longest
            .max(oidc.access_token_lifetime.get())
            .max(oidc.id_token_lifetime.get());
        for client in &oidc.clients {
            if let Some(lifetime) = client.access_token_lifetime {
                longest = longest.max(lifetime.get());
            }
        }
    }
    longest + CLOCK_SKEW_MARGIN
}

/// What identifies one version of `keys.json`: it is replaced by rename, so a change shows
/// in the inode, the modification time or the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    len: u64,
}

fn fingerprint(dir: &Path) -> Option<Fingerprint> {
    let meta = std::fs::metadata(dir.join(INDEX_FILE_NAME)).ok()?;
    Some(Fingerprint {
        dev: meta.dev(),
        ino: meta.ino(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
        len: meta.len(),
    })
}

/// Watches one instance's key directory; see the module documentation.
pub struct KeyWatcher {
    ring: Arc<KeyRing>,
    /// [`retention`] of the configuration in force, in seconds.
    keep_secs: AtomicU64,
    hangup: Notify,
}

impl KeyWatcher {
    /// Starts watching (on the current tokio runtime).
    pub fn start(ring: Arc<KeyRing>, config: &Config) -> Arc<Self> {
        let watcher = Arc::new(Self {
            ring,
            keep_secs: AtomicU64::new(retention(config).as_secs()),
            hangup: Notify::new(),
        });
        tokio::spawn(watcher.clone().run());
        watcher
    }

    /// On SIGHUP, after the configuration was (re)read: adopt its retention and re-read the
    /// key directory now.
    pub fn hangup(&self, config: &Config) {
        self.keep_secs
            .store(retention(config).as_secs(), Ordering::Relaxed);
        self.hangup.notify_one();
    }

    fn keep(&self) -> Duration {
        Duration::from_secs(self.keep_secs.load(Ordering::Relaxed))
    }

    async fn run(self: Arc<Self>) {
        let mut seen = fingerprint(self.ring.dir());
        self.prune_expired();
        loop {
            let forced = tokio::select! {
                () = tokio::time::sleep(KEY_CHECK_INTERVAL) => false,
                () = self.hangup.notified() => true,
            };
            self.check(forced, &mut seen);
        }
    }

    /// Reloads when forced or when the index changed since `seen`, then prunes. The
    /// fingerprint is taken before reading, so a failed read is retried on the next change.
    fn check(&self, forced: bool, seen: &mut Option<Fingerprint>) {
        let now = fingerprint(self.ring.dir());
        if forced || now != *seen {
            *seen = now;
            self.reload(if forced { "sighup" } else { "changed" });
        }
        self.prune_expired();
    }

    fn reload(&self, trigger: &str) {
        match self.ring.reload() {
            Ok(true) => {
                let keys = self.ring.load();
                let kids: Vec<String> = keys.key_infos().into_iter().map(|k| k.kid).collect();
                tracing::info!(trigger, ?kids, "signing keys reloaded");
            }
            Ok(false) => tracing::debug!(trigger, "signing keys unchanged"),
            Err(error) => tracing::error!(
                trigger,
                %error,
                "signing keys not reloaded; the keys in force stay"
            ),
        }
    }

    /// Removes retired keys whose tokens have all expired, when this instance may write the
    /// directory (a read-only one leaves that to an instance or operator who can).
    fn prune_expired(&self) {
        let keep = self.keep();
        let now = SystemTime::now();
        if self.ring.load().expired(keep, now).is_empty() {
            return;
        }
        match crate::keys::prune(self.ring.dir(), keep, now) {
            Ok(removed) => {
                for key in &removed {
                    tracing::info!(kid = %key.kid, alg = %key.alg, "retired signing key removed: every token it signed has expired");
                }
                self.reload("pruned");
            }
            Err(KeyError::Io { source, path }) if is_read_only(&source) => {
                tracing::debug!(path = %path.display(), "key directory not writable here; expired keys left for another instance to prune");
            }
            Err(error) => tracing::warn!(%error, "expired signing keys not pruned"),
        }
    }
}

fn is_read_only(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}
